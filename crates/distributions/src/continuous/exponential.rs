use super::sampler;
use crate::{
    DualNum, EULER_GAMMA, Family, FisherRng, LogDensity, Result, Support, check, check_len,
};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Exponential distribution `exponential(rate)`: `p(x) = λ e^{−λx}`, `x > 0`.
///
/// # Formula
/// Fisher information: `1/λ²` (Casella & Berger, *Statistical Inference*, Example 7.3.11).
#[derive(Debug, Clone)]
pub struct Exponential {
    rate: f64,
    sampler: rand_distr::Exp<f64>,
}

impl Exponential {
    /// `Exp(rate)`.
    ///
    /// # Errors
    /// `rate ≤ 0` or not finite.
    pub fn new(rate: f64) -> Result<Self> {
        check("exponential", "rate", rate, rate > 0.0, "must be > 0")?;
        let sampler = sampler("exponential", rand_distr::Exp::new(rate))?;
        Ok(Self { rate, sampler })
    }
}

impl Family for Exponential {
    fn name(&self) -> &'static str {
        "exponential"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["rate".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.rate]
    }
    fn support(&self) -> Support {
        Support::Positive
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        DMatrix::from_element(1, 1, 1.0 / (self.rate * self.rate))
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        // ln X = −ln λ + ln E, E ~ Exp(1): mean −γ, sd π/√6
        vec![(-EULER_GAMMA - self.rate.ln(), 1.282_549_830_161_864)]
    }
}

impl LogDensity for Exponential {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        t[0].ln() - t[0] * x[0]
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("exponential", theta, 1)?;
        Self::new(theta[0])
    }
}
