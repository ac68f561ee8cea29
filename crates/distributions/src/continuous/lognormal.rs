use super::{check_loc_scale, sampler};
use crate::{DualNum, Family, FisherRng, LN_2PI, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Log-normal distribution `lognormal(mu, sigma)`: `ln X ~ N(μ, σ²)`.
///
/// # Formula
/// Fisher information: `diag(1/σ², 2/σ²)` — the same as the normal, since `x ↦ ln x` does not
/// involve the parameters (Fisher information is invariant under a parameter-free bijection of the
/// data).
#[derive(Debug, Clone)]
pub struct LogNormal {
    mu: f64,
    sigma: f64,
    sampler: rand_distr::LogNormal<f64>,
}

impl LogNormal {
    /// `LogNormal(mu, sigma)`.
    ///
    /// # Errors
    /// `mu` not finite, `sigma ≤ 0` or not finite.
    pub fn new(mu: f64, sigma: f64) -> Result<Self> {
        check_loc_scale("lognormal", ["mu", "sigma"], mu, sigma)?;
        let sampler = sampler("lognormal", rand_distr::LogNormal::new(mu, sigma))?;
        Ok(Self { mu, sigma, sampler })
    }
}

impl Family for LogNormal {
    fn name(&self) -> &'static str {
        "lognormal"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["mu".into(), "sigma".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.mu, self.sigma]
    }
    fn support(&self) -> Support {
        Support::Positive
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let s2 = self.sigma * self.sigma;
        DMatrix::from_diagonal(&nalgebra::dvector![1.0 / s2, 2.0 / s2])
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.mu, self.sigma)]
    }
}

impl LogDensity for LogNormal {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let lx = x[0].ln();
        let z = (-t[0] + lx) / t[1];
        -(z * z) * 0.5 - t[1].ln() - (lx + 0.5 * LN_2PI)
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("lognormal", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
