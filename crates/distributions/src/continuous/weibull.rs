use super::sampler;
use crate::{
    DualNum, EULER_GAMMA, Family, FisherRng, LogDensity, Result, Support, check, check_len,
};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Weibull distribution `weibull(shape, scale)`:
/// `p(x) = (k/λ)(x/λ)^{k−1} exp(−(x/λ)ᵏ)`, `x > 0`.
///
/// # Formula
/// Fisher information in `(k, λ)`:
/// `[[((1−γ)² + π²/6)/k², −(1−γ)/λ], [−(1−γ)/λ, k²/λ²]]`
/// (Johnson, Kotz & Balakrishnan vol. 1, §21.4; Gupta & Kundu 2006).
#[derive(Debug, Clone)]
pub struct Weibull {
    shape: f64,
    scale: f64,
    sampler: rand_distr::Weibull<f64>,
}

impl Weibull {
    /// `Weibull(shape, scale)`.
    ///
    /// # Errors
    /// `shape ≤ 0`, `scale ≤ 0`, or either not finite.
    pub fn new(shape: f64, scale: f64) -> Result<Self> {
        check("weibull", "shape", shape, shape > 0.0, "must be > 0")?;
        check("weibull", "scale", scale, scale > 0.0, "must be > 0")?;
        // rand_distr takes (scale, shape)
        let sampler = sampler("weibull", rand_distr::Weibull::new(scale, shape))?;
        Ok(Self {
            shape,
            scale,
            sampler,
        })
    }
}

impl Family for Weibull {
    fn name(&self) -> &'static str {
        "weibull"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["shape".into(), "scale".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.shape, self.scale]
    }
    fn support(&self) -> Support {
        Support::Positive
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let (k, l) = (self.shape, self.scale);
        let g = EULER_GAMMA;
        let pi2 = std::f64::consts::PI.powi(2);
        let kk = ((1.0 - g).powi(2) + pi2 / 6.0) / (k * k);
        let kl = -(1.0 - g) / l;
        nalgebra::dmatrix![kk, kl; kl, k * k / (l * l)]
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        // ln X = ln λ + (1/k) ln E, E ~ Exp(1)
        vec![(
            self.scale.ln() - EULER_GAMMA / self.shape,
            1.282_549_830_161_864 / self.shape,
        )]
    }
}

impl LogDensity for Weibull {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let (k, l) = (t[0], t[1]);
        let lz = -l.ln() + x[0].ln(); // ln(x/λ)
        k.ln() - l.ln() + (k - 1.0) * lz - (k * lz).exp()
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("weibull", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
