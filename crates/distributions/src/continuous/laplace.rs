use super::loc_scale::{LocScale, Standard};
use super::sampler;
use crate::{DualNum, Result};

/// Laplace distribution `laplace(loc, scale)`: `p(x) = e^{−|x−μ|/b} / (2b)`.
///
/// # Formula
/// Fisher information: `diag(1/b², 1/b²)` (Kotz, Kozubowski & Podgórski, *The Laplace
/// Distribution and Generalizations*, §2.6). The log-density has a kink at `x = μ`, so the
/// negative-Hessian identity does not hold for the location: `E[−∂²_μ log p] = 0 ≠ 1/b²`
/// ([`crate::Family::hessian_identity_holds`] is `false`).
pub type Laplace = LocScale<StandardLaplace>;

/// The standard Laplace density `e^{−|z|}/2`; `C = I`.
#[derive(Debug, Clone)]
pub struct StandardLaplace;

impl Standard for StandardLaplace {
    const NAME: &'static str = "laplace";
    const PARAMS: [&'static str; 2] = ["loc", "scale"];
    const HESSIAN_IDENTITY: bool = false;
    type Sampler = statrs::distribution::Laplace;
    fn sampler(loc: f64, scale: f64) -> Result<Self::Sampler> {
        sampler("laplace", statrs::distribution::Laplace::new(loc, scale))
    }
    #[inline]
    fn log_density<D: DualNum<Primitive = f64> + Copy>(z: D, scale: D, _: f64) -> D {
        -z.abs() - (scale * 2.0).ln()
    }
    fn standard_fisher() -> [f64; 3] {
        [1.0, 0.0, 1.0]
    }
}
