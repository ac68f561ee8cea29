use super::check_loc_scale;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::RngExt;

/// Logistic distribution `logistic(loc, scale)`: `p(x) = e^{−z} / (s (1 + e^{−z})²)`,
/// `z = (x−μ)/s`.
///
/// # Formula
/// Fisher information: `diag(1/(3s²), (π² + 3)/(9s²))` (Johnson, Kotz & Balakrishnan vol. 2,
/// §23.4).
///
/// Sampling by inversion, `μ + s·ln(u/(1−u))` (no maintained sampler exists in rand_distr or
/// statrs).
#[derive(Debug, Clone)]
pub struct Logistic {
    loc: f64,
    scale: f64,
}

impl Logistic {
    /// `Logistic(loc, scale)`.
    ///
    /// # Errors
    /// `loc` not finite, `scale ≤ 0` or not finite.
    pub fn new(loc: f64, scale: f64) -> Result<Self> {
        check_loc_scale("logistic", ["loc", "scale"], loc, scale)?;
        Ok(Self { loc, scale })
    }
}

impl Family for Logistic {
    fn name(&self) -> &'static str {
        "logistic"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["loc".into(), "scale".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.loc, self.scale]
    }
    fn support(&self) -> Support {
        Support::Real
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        // u uniform in the open interval (0, 1)
        let u: f64 = rng.sample(rand::distr::Open01);
        out[0] = self.loc + self.scale * (u / (1.0 - u)).ln();
    }
    fn fisher(&self) -> DMatrix<f64> {
        let s2 = self.scale * self.scale;
        let pi2 = std::f64::consts::PI.powi(2);
        DMatrix::from_diagonal(&nalgebra::dvector![
            1.0 / (3.0 * s2),
            (pi2 + 3.0) / (9.0 * s2)
        ])
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.loc, self.scale)]
    }
}

impl LogDensity for Logistic {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let z = (-t[0] + x[0]) / t[1];
        // log p = −z − ln s − 2 ln(1 + e^{−z}) = −|z| − ln s − 2 ln(1 + e^{−|z|}) (symmetric)
        let az = z.abs();
        -az - t[1].ln() - (-az).exp().ln_1p() * 2.0
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("logistic", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
