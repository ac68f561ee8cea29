use super::loc_scale::{LocScale, Standard};
use super::sampler;
use crate::{DualNum, Result};

/// Cauchy distribution `cauchy(loc, scale)`: `p(x) = 1 / (πγ (1 + ((x−x₀)/γ)²))`.
///
/// # Formula
/// Fisher information: `diag(1/(2γ²), 1/(2γ²))` (Lehmann & Casella, Table 2.6.1).
pub type Cauchy = LocScale<StandardCauchy>;

/// The standard Cauchy density `1/(π(1 + z²))`; `C = I/2`.
#[derive(Debug, Clone)]
pub struct StandardCauchy;

impl Standard for StandardCauchy {
    const NAME: &'static str = "cauchy";
    const PARAMS: [&'static str; 2] = ["loc", "scale"];
    type Sampler = rand_distr::Cauchy<f64>;
    fn sampler(loc: f64, scale: f64) -> Result<Self::Sampler> {
        sampler("cauchy", rand_distr::Cauchy::new(loc, scale))
    }
    #[inline]
    fn log_density<D: DualNum<Primitive = f64> + Copy>(z: D, scale: D, _: f64) -> D {
        -(scale * std::f64::consts::PI).ln() - (z * z).ln_1p()
    }
    fn standard_fisher() -> [f64; 3] {
        [0.5, 0.0, 0.5]
    }
}
