use super::loc_scale::{LocScale, Standard};
use super::normal::StandardNormal;
use super::sampler;
use crate::{DualNum, LN_2PI, Result, Support};

/// Log-normal distribution `lognormal(mu, sigma)`: `ln X ~ N(μ, σ²)`.
///
/// # Formula
/// Fisher information: `diag(1/σ², 2/σ²)` — the same as the normal, since `x ↦ ln x` does not
/// involve the parameters (Fisher information is invariant under a parameter-free bijection of the
/// data).
pub type LogNormal = LocScale<StandardLogNormal>;

/// The standard normal density of `ln x`: the log-normal's [`Standard`], the transform `ln`.
#[derive(Debug, Clone)]
pub struct StandardLogNormal;

impl Standard for StandardLogNormal {
    const NAME: &'static str = "lognormal";
    const PARAMS: [&'static str; 2] = ["mu", "sigma"];
    const SUPPORT: Support = Support::Positive;
    type Sampler = rand_distr::LogNormal<f64>;
    fn sampler(loc: f64, scale: f64) -> Result<Self::Sampler> {
        sampler("lognormal", rand_distr::LogNormal::new(loc, scale))
    }
    /// The normal's, less `ln x` (`ln_jacobian = −ln x`).
    #[inline]
    fn log_density<D: DualNum<Primitive = f64> + Copy>(z: D, scale: D, ln_jacobian: f64) -> D {
        -(z * z) * 0.5 - scale.ln() - (-ln_jacobian + 0.5 * LN_2PI)
    }
    fn standard_fisher() -> [f64; 3] {
        StandardNormal::standard_fisher()
    }
    /// `g(x) = ln x`, `ln |g′(x)| = −ln x`.
    #[inline]
    fn transform(x: f64) -> (f64, f64) {
        let lx = x.ln();
        (lx, -lx)
    }
}
