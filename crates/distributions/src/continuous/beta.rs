use super::sampler;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::{digamma_f64, lgamma, trigamma};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Beta distribution `beta(alpha, beta)`: `p(x) = x^{α−1}(1−x)^{β−1} / B(α, β)` on `(0, 1)`.
///
/// # Formula
/// Fisher information: `[[ψ₁(α) − ψ₁(α+β), −ψ₁(α+β)], [−ψ₁(α+β), ψ₁(β) − ψ₁(α+β)]]`
/// (Johnson, Kotz & Balakrishnan vol. 2, §25.4; Aryal & Nadarajah 2004).
#[derive(Debug, Clone)]
pub struct Beta {
    alpha: f64,
    beta: f64,
    sampler: rand_distr::Beta<f64>,
}

impl Beta {
    /// `Beta(alpha, beta)`.
    ///
    /// # Errors
    /// `alpha ≤ 0`, `beta ≤ 0`, or either not finite.
    pub fn new(alpha: f64, beta: f64) -> Result<Self> {
        check("beta", "alpha", alpha, alpha > 0.0, "must be > 0")?;
        check("beta", "beta", beta, beta > 0.0, "must be > 0")?;
        let sampler = sampler("beta", rand_distr::Beta::new(alpha, beta))?;
        Ok(Self {
            alpha,
            beta,
            sampler,
        })
    }
}

impl Family for Beta {
    fn name(&self) -> &'static str {
        "beta"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["alpha".into(), "beta".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.alpha, self.beta]
    }
    fn support(&self) -> Support {
        Support::UnitInterval
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let (a, b) = (self.alpha, self.beta);
        let t = trigamma(a + b);
        nalgebra::dmatrix![trigamma(a) - t, -t; -t, trigamma(b) - t]
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        // logit X = ln G_a − ln G_b: mean ψ(α) − ψ(β), variance ψ₁(α) + ψ₁(β)
        let (a, b) = (self.alpha, self.beta);
        vec![(
            digamma_f64(a) - digamma_f64(b),
            (trigamma(a) + trigamma(b)).sqrt(),
        )]
    }
}

impl LogDensity for Beta {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let (a, b) = (t[0], t[1]);
        lgamma(a + b) - lgamma(a) - lgamma(b) + (a - 1.0) * x[0].ln() + (b - 1.0) * (-x[0]).ln_1p()
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("beta", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
