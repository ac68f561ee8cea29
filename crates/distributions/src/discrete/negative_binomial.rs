use super::{check_probability, ln_one_minus};
use crate::continuous::sampler;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::lgamma_f64;
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Negative binomial `negative_binomial(p; r)`: failures before the r-th success, r fixed (any
/// real r > 0): `p(k) = Γ(k+r)/(Γ(r) k!) pʳ (1−p)ᵏ`, `k = 0, 1, …`.
///
/// # Formula
/// Fisher information: `r/(p²(1−p))` (Johnson, Kemp & Kotz, *Univariate Discrete
/// Distributions*, §5.8).
#[derive(Debug, Clone)]
pub struct NegativeBinomial {
    p: f64,
    r: f64,
    ln_gamma_r: f64,
    sampler: statrs::distribution::NegativeBinomial,
}

impl NegativeBinomial {
    /// `NB(r, p)` counting failures.
    ///
    /// # Errors
    /// `p ∉ (0, 1)`, `r ≤ 0` or not finite.
    pub fn new(p: f64, r: f64) -> Result<Self> {
        check_probability("negative_binomial", "p", p)?;
        check("negative_binomial", "r", r, r > 0.0, "must be > 0")?;
        let sampler = sampler(
            "negative_binomial",
            statrs::distribution::NegativeBinomial::new(r, p),
        )?;
        Ok(Self {
            p,
            r,
            ln_gamma_r: lgamma_f64(r),
            sampler,
        })
    }
}

impl Family for NegativeBinomial {
    fn name(&self) -> &'static str {
        "negative_binomial"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["p".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.p]
    }
    fn fixed(&self) -> Vec<(&'static str, f64)> {
        vec![("r", self.r)]
    }
    fn support(&self) -> Support {
        Support::Counts {
            lower: 0,
            upper: None,
        }
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let k: u64 = self.sampler.sample(rng);
        out[0] = k as f64;
    }
    fn fisher(&self) -> DMatrix<f64> {
        let p = self.p;
        DMatrix::from_element(1, 1, self.r / (p * p * (1.0 - p)))
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        let q = 1.0 - self.p;
        let mean = self.r * q / self.p;
        vec![(mean, (mean / self.p).sqrt())]
    }
    fn pmf_ratio_bound(&self, k0: u64) -> Option<f64> {
        // p(k+1)/p(k) = (1−p)(k+r)/(k+1): decreasing in k when r ≥ 1, increasing to (1−p) when r < 1
        let k = k0 as f64;
        Some((1.0 - self.p) * ((k + self.r) / (k + 1.0)).max(1.0))
    }
}

impl LogDensity for NegativeBinomial {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let k = x[0];
        let c = lgamma_f64(k + self.r) - self.ln_gamma_r - lgamma_f64(k + 1.0);
        t[0].ln() * self.r + ln_one_minus(t[0]) * k + c
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("negative_binomial", theta, 1)?;
        Self::new(theta[0], self.r)
    }
}
