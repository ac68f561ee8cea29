use crate::continuous::sampler;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::lgamma_f64;
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Poisson distribution `poisson(rate)`: `p(k) = λᵏ e^{−λ} / k!`, `k = 0, 1, …`.
///
/// # Formula
/// Fisher information: `1/λ` (Casella & Berger, Example 7.3.12).
#[derive(Debug, Clone)]
pub struct Poisson {
    rate: f64,
    sampler: rand_distr::Poisson<f64>,
}

impl Poisson {
    /// `Poisson(rate)`.
    ///
    /// # Errors
    /// `rate ≤ 0` or not finite.
    pub fn new(rate: f64) -> Result<Self> {
        check("poisson", "rate", rate, rate > 0.0, "must be > 0")?;
        let sampler = sampler("poisson", rand_distr::Poisson::new(rate))?;
        Ok(Self { rate, sampler })
    }
}

impl Family for Poisson {
    fn name(&self) -> &'static str {
        "poisson"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["rate".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.rate]
    }
    fn support(&self) -> Support {
        Support::Counts {
            lower: 0,
            upper: None,
        }
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        DMatrix::from_element(1, 1, 1.0 / self.rate)
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.rate, self.rate.sqrt())]
    }
    fn pmf_ratio_bound(&self, k0: u64) -> Option<f64> {
        // p(k+1)/p(k) = λ/(k+1), decreasing in k
        Some(self.rate / (k0 as f64 + 1.0))
    }
}

impl LogDensity for Poisson {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        t[0].ln() * x[0] - t[0] - lgamma_f64(x[0] + 1.0)
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("poisson", theta, 1)?;
        Self::new(theta[0])
    }
}
