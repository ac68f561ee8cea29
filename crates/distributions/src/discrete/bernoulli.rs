use super::{check_probability, ln_one_minus};
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::RngExt;

/// Bernoulli distribution `bernoulli(p)` on `{0, 1}`.
///
/// # Formula
/// Fisher information: `1/(p(1−p))` (Casella & Berger, Example 7.3.5).
#[derive(Debug, Clone)]
pub struct Bernoulli {
    p: f64,
}

impl Bernoulli {
    /// `Bernoulli(p)`.
    ///
    /// # Errors
    /// `p ∉ (0, 1)`.
    pub fn new(p: f64) -> Result<Self> {
        check_probability("bernoulli", "p", p)?;
        Ok(Self { p })
    }
    /// Success probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Family for Bernoulli {
    fn name(&self) -> &'static str {
        "bernoulli"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["p".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.p]
    }
    fn support(&self) -> Support {
        Support::Counts {
            lower: 0,
            upper: Some(1),
        }
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let u: f64 = rng.random();
        out[0] = if u < self.p { 1.0 } else { 0.0 };
    }
    fn fisher(&self) -> DMatrix<f64> {
        DMatrix::from_element(1, 1, 1.0 / (self.p * (1.0 - self.p)))
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.p, 0.5)]
    }
}

impl LogDensity for Bernoulli {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        if x[0] > 0.5 {
            t[0].ln()
        } else {
            ln_one_minus(t[0])
        }
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("bernoulli", theta, 1)?;
        Self::new(theta[0])
    }
}
