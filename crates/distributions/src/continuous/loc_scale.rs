//! Location–scale families from one generic: `p(x) = p₀((g(x) − μ)/s) / s · |g′(x)|` over a
//! standard density `p₀` and a parameter-free transform `g` of the data (the identity, or `ln`
//! for the log-normal). Their Fisher information is `F(μ, s) = C / s²` with `C` the standard
//! density's (μ = 0, s = 1): the transform involves no parameter, so it leaves `C` unchanged.

use super::check_loc_scale;
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::distr::Distribution;
use std::marker::PhantomData;

/// A standard density `p₀` on ℝ, from which [`LocScale`] builds a family.
pub trait Standard: std::fmt::Debug + Clone + Send + Sync + 'static {
    /// The family's name (`normal`).
    const NAME: &'static str;
    /// Its parameters' names: location, then scale (`mu`, `sigma`).
    const PARAMS: [&'static str; 2];
    /// Where the data live (ℝ, or (0, ∞) for a log transform).
    const SUPPORT: Support = Support::Real;
    /// Whether `−E[∇² log p] = F` holds (false when the log-density has a kink).
    const HESSIAN_IDENTITY: bool = true;
    /// The sampler of the family at `(loc, scale)` (a maintained one where it exists).
    type Sampler: Distribution<f64> + std::fmt::Debug + Clone + Send + Sync;

    /// The sampler at `(loc, scale)`.
    ///
    /// # Errors
    /// The sampler's own refusal (unreachable after the parameters are checked).
    fn sampler(loc: f64, scale: f64) -> Result<Self::Sampler>;
    /// `ln p(x)` from `z = (g(x) − μ)/s`, the scale `s` and `ln |g′(x)|` (written per family so
    /// that it keeps its numerically careful form).
    fn log_density<D: DualNum<Primitive = f64> + Copy>(z: D, scale: D, ln_jacobian: f64) -> D;
    /// The standard Fisher `C` as `[C_μμ, C_μs, C_ss]`.
    fn standard_fisher() -> [f64; 3];
    /// The transform of the data, `g(x)`, and `ln |g′(x)|` (the identity by default).
    #[inline]
    fn transform(x: f64) -> (f64, f64) {
        (x, 0.0)
    }
    /// Centre and spread of `g(X)` for the standard family (quadrature hint; `(0, 1)` by
    /// default).
    fn standard_hint() -> (f64, f64) {
        (0.0, 1.0)
    }
}

/// The location–scale family of a [`Standard`] density.
#[derive(Debug, Clone)]
pub struct LocScale<S: Standard> {
    loc: f64,
    scale: f64,
    sampler: S::Sampler,
    standard: PhantomData<S>,
}

impl<S: Standard> LocScale<S> {
    /// The family at location `loc` and scale `scale`.
    ///
    /// # Errors
    /// `loc` not finite, `scale ≤ 0` or not finite (naming the family's parameters).
    pub fn new(loc: f64, scale: f64) -> Result<Self> {
        check_loc_scale(S::NAME, S::PARAMS, loc, scale)?;
        Ok(Self {
            loc,
            scale,
            sampler: S::sampler(loc, scale)?,
            standard: PhantomData,
        })
    }
    /// The location.
    pub fn loc(&self) -> f64 {
        self.loc
    }
    /// The scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl<S: Standard> Family for LocScale<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn param_names(&self) -> Vec<String> {
        S::PARAMS.iter().map(|p| p.to_string()).collect()
    }
    fn params(&self) -> Vec<f64> {
        vec![self.loc, self.scale]
    }
    fn support(&self) -> Support {
        S::SUPPORT
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let s2 = self.scale * self.scale;
        let [mm, ms, ss] = S::standard_fisher();
        nalgebra::dmatrix![mm / s2, ms / s2; ms / s2, ss / s2]
    }
    fn hessian_identity_holds(&self) -> bool {
        S::HESSIAN_IDENTITY
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        let (centre, spread) = S::standard_hint();
        vec![(self.loc + centre * self.scale, self.scale * spread)]
    }
}

impl<S: Standard> LogDensity for LocScale<S> {
    #[inline]
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let (y, ln_jacobian) = S::transform(x[0]);
        S::log_density((-t[0] + y) / t[1], t[1], ln_jacobian)
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len(S::NAME, theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
