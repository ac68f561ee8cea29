use super::{check_loc_scale, sampler};
use crate::{DualNum, EULER_GAMMA, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Gumbel (maximum) distribution `gumbel(loc, scale)`:
/// `p(x) = (1/β) exp(−(z + e^{−z}))`, `z = (x−μ)/β`.
///
/// # Formula
/// Fisher information: `(1/β²) [[1, γ−1], [γ−1, π²/6 + (1−γ)²]]`, γ the Euler–Mascheroni
/// constant (Johnson, Kotz & Balakrishnan vol. 2, §22.7).
#[derive(Debug, Clone)]
pub struct Gumbel {
    loc: f64,
    scale: f64,
    sampler: rand_distr::Gumbel<f64>,
}

impl Gumbel {
    /// `Gumbel(loc, scale)`.
    ///
    /// # Errors
    /// `loc` not finite, `scale ≤ 0` or not finite.
    pub fn new(loc: f64, scale: f64) -> Result<Self> {
        check_loc_scale("gumbel", ["loc", "scale"], loc, scale)?;
        let sampler = sampler("gumbel", rand_distr::Gumbel::new(loc, scale))?;
        Ok(Self {
            loc,
            scale,
            sampler,
        })
    }
}

impl Family for Gumbel {
    fn name(&self) -> &'static str {
        "gumbel"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["loc".into(), "scale".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.loc, self.scale]
    }
    fn support(&self) -> Support {
        Support::Real
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let b2 = self.scale * self.scale;
        let g = EULER_GAMMA;
        let pi2 = std::f64::consts::PI.powi(2);
        nalgebra::dmatrix![1.0 / b2, (g - 1.0) / b2; (g - 1.0) / b2, (pi2 / 6.0 + (1.0 - g).powi(2)) / b2]
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(
            self.loc + EULER_GAMMA * self.scale,
            self.scale * 1.282_549_830_161_864,
        )]
    }
}

impl LogDensity for Gumbel {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let z = (-t[0] + x[0]) / t[1];
        -t[1].ln() - z - (-z).exp()
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("gumbel", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
