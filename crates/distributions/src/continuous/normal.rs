use super::{check_loc_scale, sampler};
use crate::{DualNum, Family, FisherRng, LN_2PI, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Normal distribution `normal(mu, sigma)`: `p(x) = exp(−(x−μ)²/(2σ²)) / (σ√(2π))`.
///
/// # Formula
/// Fisher information (one observation): `diag(1/σ², 2/σ²)`
/// (Lehmann & Casella, *Theory of Point Estimation*, 2nd ed., Example 2.6.2).
///
/// # Examples
/// ```
/// use fisherlab_distributions::{continuous::Normal, Family};
/// let f = Normal::new(0.0, 0.5).unwrap().fisher();
/// assert!((f[(0, 0)] - 4.0).abs() < 1e-14 && (f[(1, 1)] - 8.0).abs() < 1e-14);
/// ```
#[derive(Debug, Clone)]
pub struct Normal {
    mu: f64,
    sigma: f64,
    sampler: rand_distr::Normal<f64>,
}

impl Normal {
    /// `N(mu, sigma²)`.
    ///
    /// # Errors
    /// `mu` not finite, `sigma ≤ 0` or not finite.
    pub fn new(mu: f64, sigma: f64) -> Result<Self> {
        check_loc_scale("normal", ["mu", "sigma"], mu, sigma)?;
        let sampler = sampler("normal", rand_distr::Normal::new(mu, sigma))?;
        Ok(Self { mu, sigma, sampler })
    }
    /// Mean μ.
    pub fn mu(&self) -> f64 {
        self.mu
    }
    /// Standard deviation σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
}

impl Family for Normal {
    fn name(&self) -> &'static str {
        "normal"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["mu".into(), "sigma".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.mu, self.sigma]
    }
    fn support(&self) -> Support {
        Support::Real
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

impl LogDensity for Normal {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let z = (-t[0] + x[0]) / t[1];
        -(z * z) * 0.5 - t[1].ln() - 0.5 * LN_2PI
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("normal", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
