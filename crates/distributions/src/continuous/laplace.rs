use super::{check_loc_scale, sampler};
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Laplace distribution `laplace(loc, scale)`: `p(x) = e^{−|x−μ|/b} / (2b)`.
///
/// # Formula
/// Fisher information: `diag(1/b², 1/b²)` (Kotz, Kozubowski & Podgórski, *The Laplace
/// Distribution and Generalizations*, §2.6). The log-density has a kink at `x = μ`, so the
/// negative-Hessian identity does not hold for the location: `E[−∂²_μ log p] = 0 ≠ 1/b²`
/// ([`Family::hessian_identity_holds`] is `false`).
#[derive(Debug, Clone)]
pub struct Laplace {
    loc: f64,
    scale: f64,
    sampler: statrs::distribution::Laplace,
}

impl Laplace {
    /// `Laplace(loc, scale)`.
    ///
    /// # Errors
    /// `loc` not finite, `scale ≤ 0` or not finite.
    pub fn new(loc: f64, scale: f64) -> Result<Self> {
        check_loc_scale("laplace", ["loc", "scale"], loc, scale)?;
        let sampler = sampler("laplace", statrs::distribution::Laplace::new(loc, scale))?;
        Ok(Self {
            loc,
            scale,
            sampler,
        })
    }
}

impl Family for Laplace {
    fn name(&self) -> &'static str {
        "laplace"
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
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let v = 1.0 / (self.scale * self.scale);
        DMatrix::from_diagonal(&nalgebra::dvector![v, v])
    }
    fn hessian_identity_holds(&self) -> bool {
        false
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.loc, self.scale)]
    }
}

impl LogDensity for Laplace {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        -((-t[0] + x[0]).abs() / t[1]) - (t[1] * 2.0).ln()
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("laplace", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
