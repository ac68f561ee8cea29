use super::loc_scale::{LocScale, Standard};
use super::sampler;
use crate::{DualNum, LN_2PI, Result};

/// Normal distribution `normal(mu, sigma)`: `p(x) = exp(−(x−μ)²/(2σ²)) / (σ√(2π))`.
///
/// # Formula
/// Fisher information (one observation): `diag(1/σ², 2/σ²)`
/// (Lehmann & Casella, *Theory of Point Estimation*, 2nd ed., Example 2.6.2).
///
/// # Examples
/// ```
/// use fisherlab_distributions::{continuous::Normal, Family};
/// let f = Normal::new(0.0, 0.5).unwrap().fisher();
/// assert!((f[(0, 0)] - 4.0).abs() < 1e-14 && (f[(1, 1)] - 8.0).abs() < 1e-14);
/// ```
pub type Normal = LocScale<StandardNormal>;

/// The standard normal density, `ln p₀(z) = −z²/2 − ln √(2π)`; `C = diag(1, 2)`.
#[derive(Debug, Clone)]
pub struct StandardNormal;

impl Standard for StandardNormal {
    const NAME: &'static str = "normal";
    const PARAMS: [&'static str; 2] = ["mu", "sigma"];
    type Sampler = rand_distr::Normal<f64>;
    fn sampler(loc: f64, scale: f64) -> Result<Self::Sampler> {
        sampler("normal", rand_distr::Normal::new(loc, scale))
    }
    #[inline]
    fn log_density<D: DualNum<Primitive = f64> + Copy>(z: D, scale: D, _: f64) -> D {
        -(z * z) * 0.5 - scale.ln() - 0.5 * LN_2PI
    }
    fn standard_fisher() -> [f64; 3] {
        [1.0, 0.0, 2.0]
    }
}
