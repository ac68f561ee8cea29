use crate::continuous::sampler;
use crate::{DualNum, Error, Family, FisherRng, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::{digamma_f64, lgamma, trigamma};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Dirichlet distribution `dirichlet(alpha1..alphaK)` on the K-simplex:
/// `p(x) = Γ(α₀)/Πᵢ Γ(αᵢ) · Πᵢ xᵢ^{αᵢ−1}`, `α₀ = Σ αᵢ`. Observations carry all K components.
///
/// # Formula
/// Fisher information: `F_ij = ψ₁(αᵢ) δ_ij − ψ₁(α₀)` (Ng, Tian & Tang, *Dirichlet and Related
/// Distributions*, §2.5; the Dirichlet is an exponential family with sufficient statistics
/// `ln xᵢ` and log-partition `Σ ln Γ(αᵢ) − ln Γ(α₀)`).
#[derive(Debug, Clone)]
pub struct Dirichlet {
    alpha: Vec<f64>,
    samplers: Vec<rand_distr::Gamma<f64>>,
}

impl Dirichlet {
    /// `Dir(alpha)`, K ≥ 2.
    ///
    /// # Errors
    /// Fewer than 2 components, any `αᵢ ≤ 0` or not finite.
    pub fn new(alpha: Vec<f64>) -> Result<Self> {
        if alpha.len() < 2 {
            return Err(Error::InvalidStructure {
                family: "dirichlet",
                what: format!("needs at least 2 components, got {}", alpha.len()),
            });
        }
        let mut samplers = Vec::with_capacity(alpha.len());
        for (i, &a) in alpha.iter().enumerate() {
            check(
                "dirichlet",
                &format!("alpha{}", i + 1),
                a,
                a > 0.0,
                "must be > 0",
            )?;
            samplers.push(sampler("dirichlet", rand_distr::Gamma::new(a, 1.0))?);
        }
        Ok(Self { alpha, samplers })
    }
    /// Concentrations.
    pub fn alpha(&self) -> &[f64] {
        &self.alpha
    }
}

impl Family for Dirichlet {
    fn name(&self) -> &'static str {
        "dirichlet"
    }
    fn param_names(&self) -> Vec<String> {
        (1..=self.alpha.len())
            .map(|i| format!("alpha{i}"))
            .collect()
    }
    fn params(&self) -> Vec<f64> {
        self.alpha.clone()
    }
    fn obs_dim(&self) -> usize {
        self.alpha.len()
    }
    fn support(&self) -> Support {
        Support::Simplex(self.alpha.len())
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let mut sum = 0.0;
        for (o, g) in out.iter_mut().zip(&self.samplers) {
            *o = g.sample(rng);
            sum += *o;
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    }
    fn fisher(&self) -> DMatrix<f64> {
        let k = self.alpha.len();
        let t0 = trigamma(self.alpha.iter().sum());
        DMatrix::from_fn(k, k, |i, j| {
            if i == j {
                trigamma(self.alpha[i]) - t0
            } else {
                -t0
            }
        })
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        // stick-breaking: vᵢ = xᵢ/(1 − Σ_{j<i} xⱼ) ~ Beta(αᵢ, Σ_{j>i} αⱼ), independent
        let k = self.alpha.len();
        (0..k - 1)
            .map(|i| {
                let a = self.alpha[i];
                let b: f64 = self.alpha[i + 1..].iter().sum();
                (
                    digamma_f64(a) - digamma_f64(b),
                    (trigamma(a) + trigamma(b)).sqrt(),
                )
            })
            .collect()
    }
}

impl LogDensity for Dirichlet {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let mut a0 = D::from(0.0);
        let mut acc = D::from(0.0);
        for (&a, &xi) in t.iter().zip(x) {
            a0 += a;
            acc += (a - 1.0) * xi.ln() - lgamma(a);
        }
        acc + lgamma(a0)
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("dirichlet", theta, self.alpha.len())?;
        Self::new(theta.to_vec())
    }
}
