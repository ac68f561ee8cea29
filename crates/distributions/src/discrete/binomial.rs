use super::{check_probability, ln_one_minus};
use crate::continuous::sampler;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::lgamma_f64;
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Binomial distribution `binomial(p; n)`, number of trials n fixed:
/// `p(k) = C(n, k) pᵏ (1−p)^{n−k}`, `k = 0, …, n`.
///
/// # Formula
/// Fisher information: `n/(p(1−p))` (Casella & Berger, Example 7.3.5 with n trials).
#[derive(Debug, Clone)]
pub struct Binomial {
    p: f64,
    n: u64,
    ln_n_fact: f64,
    sampler: rand_distr::Binomial,
}

impl Binomial {
    /// `Binomial(n, p)`.
    ///
    /// # Errors
    /// `p ∉ (0, 1)`.
    pub fn new(p: f64, n: u64) -> Result<Self> {
        check_probability("binomial", "p", p)?;
        check("binomial", "n", n as f64, n >= 1, "must be an integer >= 1")?;
        let sampler = sampler("binomial", rand_distr::Binomial::new(n, p))?;
        Ok(Self {
            p,
            n,
            ln_n_fact: lgamma_f64(n as f64 + 1.0),
            sampler,
        })
    }
    /// Number of trials.
    pub fn n(&self) -> u64 {
        self.n
    }
}

impl Family for Binomial {
    fn name(&self) -> &'static str {
        "binomial"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["p".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.p]
    }
    fn fixed(&self) -> Vec<(&'static str, f64)> {
        vec![("n", self.n as f64)]
    }
    fn support(&self) -> Support {
        Support::Counts {
            lower: 0,
            upper: Some(self.n),
        }
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng) as f64;
    }
    fn fisher(&self) -> DMatrix<f64> {
        DMatrix::from_element(1, 1, self.n as f64 / (self.p * (1.0 - self.p)))
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        let n = self.n as f64;
        vec![(n * self.p, (n * self.p * (1.0 - self.p)).sqrt())]
    }
}

impl LogDensity for Binomial {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let (k, n) = (x[0], self.n as f64);
        let lchoose = self.ln_n_fact - lgamma_f64(k + 1.0) - lgamma_f64(n - k + 1.0);
        t[0].ln() * k + ln_one_minus(t[0]) * (n - k) + lchoose
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("binomial", theta, 1)?;
        Self::new(theta[0], self.n)
    }
}
