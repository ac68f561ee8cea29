use super::loc_scale::{LocScale, Standard};
use super::sampler;
use crate::{DualNum, EULER_GAMMA, Result};

/// Gumbel (maximum) distribution `gumbel(loc, scale)`:
/// `p(x) = (1/β) exp(−(z + e^{−z}))`, `z = (x−μ)/β`.
///
/// # Formula
/// Fisher information: `(1/β²) [[1, γ−1], [γ−1, π²/6 + (1−γ)²]]`, γ the Euler–Mascheroni
/// constant (Johnson, Kotz & Balakrishnan vol. 2, §22.7).
pub type Gumbel = LocScale<StandardGumbel>;

/// The standard Gumbel density `exp(−(z + e^{−z}))`: mean γ, standard deviation π/√6.
#[derive(Debug, Clone)]
pub struct StandardGumbel;

impl Standard for StandardGumbel {
    const NAME: &'static str = "gumbel";
    const PARAMS: [&'static str; 2] = ["loc", "scale"];
    type Sampler = rand_distr::Gumbel<f64>;
    fn sampler(loc: f64, scale: f64) -> Result<Self::Sampler> {
        sampler("gumbel", rand_distr::Gumbel::new(loc, scale))
    }
    #[inline]
    fn log_density<D: DualNum<Primitive = f64> + Copy>(z: D, scale: D, _: f64) -> D {
        -scale.ln() - z - (-z).exp()
    }
    fn standard_fisher() -> [f64; 3] {
        let g = EULER_GAMMA;
        let pi2 = std::f64::consts::PI.powi(2);
        [1.0, g - 1.0, pi2 / 6.0 + (1.0 - g).powi(2)]
    }
    fn standard_hint() -> (f64, f64) {
        (EULER_GAMMA, 1.282_549_830_161_864)
    }
}
