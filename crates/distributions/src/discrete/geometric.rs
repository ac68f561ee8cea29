use super::{check_probability, ln_one_minus};
use crate::continuous::sampler;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Geometric distribution `geometric(p)` on `{1, 2, …}` (trials up to and including the first
/// success): `p(k) = (1−p)^{k−1} p`.
///
/// # Formula
/// Fisher information: `1/(p²(1−p))` (Casella & Berger, Exercise 7.40 form).
#[derive(Debug, Clone)]
pub struct Geometric {
    p: f64,
    sampler: rand_distr::Geometric,
}

impl Geometric {
    /// `Geometric(p)`, support starting at 1.
    ///
    /// # Errors
    /// `p ∉ (0, 1)`.
    pub fn new(p: f64) -> Result<Self> {
        check_probability("geometric", "p", p)?;
        let sampler = sampler("geometric", rand_distr::Geometric::new(p))?;
        Ok(Self { p, sampler })
    }
}

impl Family for Geometric {
    fn name(&self) -> &'static str {
        "geometric"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["p".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.p]
    }
    fn support(&self) -> Support {
        Support::Counts {
            lower: 1,
            upper: None,
        }
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        // rand_distr counts failures before the first success (support 0, 1, …)
        out[0] = self.sampler.sample(rng) as f64 + 1.0;
    }
    fn fisher(&self) -> DMatrix<f64> {
        let p = self.p;
        DMatrix::from_element(1, 1, 1.0 / (p * p * (1.0 - p)))
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(1.0 / self.p, (1.0 - self.p).sqrt() / self.p)]
    }
    fn pmf_ratio_bound(&self, _k0: u64) -> Option<f64> {
        Some(1.0 - self.p)
    }
}

impl LogDensity for Geometric {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        ln_one_minus(t[0]) * (x[0] - 1.0) + t[0].ln()
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("geometric", theta, 1)?;
        Self::new(theta[0])
    }
}
