use super::{check_loc_scale, sampler};
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Cauchy distribution `cauchy(loc, scale)`: `p(x) = 1 / (πγ (1 + ((x−x₀)/γ)²))`.
///
/// # Formula
/// Fisher information: `diag(1/(2γ²), 1/(2γ²))` (Lehmann & Casella, Table 2.6.1).
#[derive(Debug, Clone)]
pub struct Cauchy {
    loc: f64,
    scale: f64,
    sampler: rand_distr::Cauchy<f64>,
}

impl Cauchy {
    /// `Cauchy(loc, scale)`.
    ///
    /// # Errors
    /// `loc` not finite, `scale ≤ 0` or not finite.
    pub fn new(loc: f64, scale: f64) -> Result<Self> {
        check_loc_scale("cauchy", ["loc", "scale"], loc, scale)?;
        let sampler = sampler("cauchy", rand_distr::Cauchy::new(loc, scale))?;
        Ok(Self {
            loc,
            scale,
            sampler,
        })
    }
}

impl Family for Cauchy {
    fn name(&self) -> &'static str {
        "cauchy"
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
        let v = 0.5 / (self.scale * self.scale);
        DMatrix::from_diagonal(&nalgebra::dvector![v, v])
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.loc, self.scale)]
    }
}

impl LogDensity for Cauchy {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let z = (-t[0] + x[0]) / t[1];
        -(t[1] * std::f64::consts::PI).ln() - (z * z).ln_1p()
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("cauchy", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
