use super::loc_scale::{LocScale, Standard};
use crate::{DualNum, Result};
use rand::RngExt;
use rand::distr::Distribution;

/// Logistic distribution `logistic(loc, scale)`: `p(x) = e^{−z} / (s (1 + e^{−z})²)`,
/// `z = (x−μ)/s`.
///
/// # Formula
/// Fisher information: `diag(1/(3s²), (π² + 3)/(9s²))` (Johnson, Kotz & Balakrishnan vol. 2,
/// §23.4).
///
/// Sampling by inversion, `μ + s·ln(u/(1−u))` (no maintained sampler exists in rand_distr or
/// statrs).
pub type Logistic = LocScale<StandardLogistic>;

/// Draws of `logistic(loc, scale)` by inversion.
#[derive(Debug, Clone)]
pub struct LogisticSampler {
    loc: f64,
    scale: f64,
}

impl Distribution<f64> for LogisticSampler {
    fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        // u uniform in the open interval (0, 1)
        let u: f64 = rng.sample(rand::distr::Open01);
        self.loc + self.scale * (u / (1.0 - u)).ln()
    }
}

/// The standard logistic density; `C = diag(1/3, (π² + 3)/9)`.
#[derive(Debug, Clone)]
pub struct StandardLogistic;

impl Standard for StandardLogistic {
    const NAME: &'static str = "logistic";
    const PARAMS: [&'static str; 2] = ["loc", "scale"];
    type Sampler = LogisticSampler;
    fn sampler(loc: f64, scale: f64) -> Result<LogisticSampler> {
        Ok(LogisticSampler { loc, scale })
    }
    #[inline]
    fn log_density<D: DualNum<Primitive = f64> + Copy>(z: D, scale: D, _: f64) -> D {
        // log p = −z − ln s − 2 ln(1 + e^{−z}) = −|z| − ln s − 2 ln(1 + e^{−|z|}) (symmetric)
        let az = z.abs();
        -az - scale.ln() - (-az).exp().ln_1p() * 2.0
    }
    fn standard_fisher() -> [f64; 3] {
        [1.0 / 3.0, 0.0, (std::f64::consts::PI.powi(2) + 3.0) / 9.0]
    }
}
