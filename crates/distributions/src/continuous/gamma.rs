use super::sampler;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::{digamma_f64, lgamma, trigamma};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Gamma distribution `gamma(shape, rate)`: `p(x) = βᵅ x^{α−1} e^{−βx} / Γ(α)`.
///
/// # Formula
/// Fisher information in `(α, β)`: `[[ψ₁(α), −1/β], [−1/β, α/β²]]`, ψ₁ the trigamma function
/// (Casella & Berger, Exercise 7.9; Johnson, Kotz & Balakrishnan vol. 1, §17.7).
///
/// # Examples
/// ```
/// use fisherlab_distributions::{continuous::Gamma, Family};
/// let f = Gamma::new(1.0, 2.0).unwrap().fisher();
/// // ψ₁(1) = π²/6
/// assert!((f[(0, 0)] - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-15);
/// assert!((f[(0, 1)] + 0.5).abs() < 1e-15 && (f[(1, 1)] - 0.25).abs() < 1e-15);
/// ```
#[derive(Debug, Clone)]
pub struct Gamma {
    shape: f64,
    rate: f64,
    sampler: rand_distr::Gamma<f64>,
}

impl Gamma {
    /// `Gamma(shape, rate)` (rate, not scale).
    ///
    /// # Errors
    /// `shape ≤ 0`, `rate ≤ 0`, or either not finite.
    pub fn new(shape: f64, rate: f64) -> Result<Self> {
        check("gamma", "shape", shape, shape > 0.0, "must be > 0")?;
        check("gamma", "rate", rate, rate > 0.0, "must be > 0")?;
        let sampler = sampler("gamma", rand_distr::Gamma::new(shape, 1.0 / rate))?;
        Ok(Self {
            shape,
            rate,
            sampler,
        })
    }
}

impl Family for Gamma {
    fn name(&self) -> &'static str {
        "gamma"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["shape".into(), "rate".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.shape, self.rate]
    }
    fn support(&self) -> Support {
        Support::Positive
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let (a, b) = (self.shape, self.rate);
        nalgebra::dmatrix![trigamma(a), -1.0 / b; -1.0 / b, a / (b * b)]
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        // ln X: mean ψ(α) − ln β, variance ψ₁(α)
        vec![(
            digamma_f64(self.shape) - self.rate.ln(),
            trigamma(self.shape).sqrt(),
        )]
    }
}

impl LogDensity for Gamma {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let (a, b) = (t[0], t[1]);
        a * b.ln() - lgamma(a) + (a - 1.0) * x[0].ln() - b * x[0]
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("gamma", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
