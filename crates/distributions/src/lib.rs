//! Parametric families for fisherlab.
//!
//! Every family knows its log-density **generically over [`DualNum`]** (so its score and Hessian
//! come from forward-mode autodiff, never from hand-written derivatives), samples with a seeded
//! generator, validates its parameters at construction, and states its Fisher information in
//! closed form in its canonical parameterisation. Families are named and ordered as in the
//! workspace conventions: `normal(mu, sigma)`, `gamma(shape, rate)`, …, `multivariate_normal(mean,
//! cov)`; see [`registry::FAMILIES`].
//!
//! Three traits split the work:
//! - [`Family`]: object-safe description — names, values, support, sampling, closed-form Fisher;
//! - [`LogDensity`]: the log-density written once for every scalar type;
//! - [`ScoreFn`]: object-safe score and Hessian, implemented for every `LogDensity` by autodiff.
//!
//! Alternative coordinates go through [`Reparameterized`]: any smooth map φ ↦ θ written over
//! `DualNum` ([`ParamMap`]) gives `F_φ = Jᵀ F_θ J` with `J` from autodiff; the named
//! parameterisations in [`parameterizations`] also state their own closed forms, which the tests
//! hold against that pull-back.
//!
//! # Examples
//!
//! ```
//! use fisherlab_distributions::{continuous::Normal, Family, ScoreFn};
//!
//! let n = Normal::new(1.0, 2.0).unwrap();
//! let f = n.fisher(); // diag(1/σ², 2/σ²)
//! assert!((f[(0, 0)] - 0.25).abs() < 1e-15 && (f[(1, 1)] - 0.5).abs() < 1e-15);
//! let mut s = [0.0; 2];
//! n.score_into(&[3.0], &mut s); // ((x−μ)/σ², −1/σ + (x−μ)²/σ³)
//! assert!((s[0] - 0.5).abs() < 1e-15 && s[1].abs() < 1e-15);
//! assert!(Normal::new(0.0, -1.0).is_err());
//! ```
#![warn(missing_docs)]

pub mod continuous;
pub mod discrete;
mod error;
pub mod heads;
pub mod multivariate;
pub mod parameterizations;
pub mod registry;
mod reparam;

pub use error::{Error, Result};
pub use fisherlab_autodiff::DualNum;
use nalgebra::DMatrix;
pub use reparam::{ParamMap, Reparameterized};

/// The seeded generator used by every sampler: xoshiro256++ (rand 0.10), chosen for speed and a
/// fixed, documented bit stream.
pub type FisherRng = rand::rngs::Xoshiro256PlusPlus;

/// A `FisherRng` from a 64-bit seed.
pub fn rng_from_seed(seed: u64) -> FisherRng {
    <FisherRng as rand::SeedableRng>::seed_from_u64(seed)
}

/// Where observations live, and so how an expectation over them is computed.
///
/// Observations are passed as `&[f64]` of length [`Family::obs_dim`]: counts and category
/// indices (0-based) are stored as exact integers in `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Support {
    /// The real line.
    Real,
    /// `(0, ∞)`.
    Positive,
    /// `(0, 1)`.
    UnitInterval,
    /// One period `[center − π, center + π)` of a circular variable.
    Circle,
    /// Integers `lower, lower+1, …, upper` (`upper = None`: unbounded).
    Counts {
        /// Smallest value.
        lower: u64,
        /// Largest value, if bounded.
        upper: Option<u64>,
    },
    /// Category indices `0..K`.
    Categories(usize),
    /// The probability simplex in ℝᴷ (all K components given, summing to 1).
    Simplex(usize),
    /// ℝᵈ.
    RealVector(usize),
}

impl Support {
    /// Short human-readable description.
    pub fn describe(&self) -> String {
        match self {
            Support::Real => "real line".into(),
            Support::Positive => "(0, inf)".into(),
            Support::UnitInterval => "(0, 1)".into(),
            Support::Circle => "circle (one period of 2*pi)".into(),
            Support::Counts {
                lower,
                upper: Some(u),
            } => format!("integers {lower}..={u}"),
            Support::Counts { lower, upper: None } => {
                format!("integers {lower}, {}, ...", lower + 1)
            }
            Support::Categories(k) => format!("categories 0..{k}"),
            Support::Simplex(k) => format!("simplex in R^{k}"),
            Support::RealVector(d) => format!("R^{d}"),
        }
    }
}

/// Object-safe description of a family at a parameter value.
///
/// Coordinates (the rows of the Fisher matrix) follow the workspace conventions; fixed
/// parameters (`df`, `n`, `r`) are inputs, not coordinates.
pub trait Family: Send + Sync {
    /// Lower-case family name, e.g. `"normal"`.
    fn name(&self) -> &'static str;
    /// Name of the coordinate system; `"canonical"` for the family's own parameters.
    fn parameterization(&self) -> &'static str {
        "canonical"
    }
    /// Coordinate names, in Fisher row order.
    fn param_names(&self) -> Vec<String>;
    /// Coordinate values, in Fisher row order.
    fn params(&self) -> Vec<f64>;
    /// Fixed (non-coordinate) parameters.
    fn fixed(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Number of `f64` values in one observation.
    fn obs_dim(&self) -> usize {
        1
    }
    /// Where observations live.
    fn support(&self) -> Support;
    /// Draw one observation into `out` (length [`obs_dim`](Family::obs_dim)).
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]);
    /// Fisher information of one observation, in closed form, in these coordinates.
    fn fisher(&self) -> DMatrix<f64>;
    /// Whether `log p` is twice continuously differentiable in the coordinates for almost every
    /// observation *and* differentiation passes under the integral, so that
    /// `F = −E[∇² log p]` holds. `false` for e.g. the Laplace location (a kink at `x = loc`).
    fn hessian_identity_holds(&self) -> bool {
        true
    }
    /// Centre and spread of each integration variable, for quadrature:
    /// `x` on [`Support::Real`] and [`Support::Circle`], `ln x` on [`Support::Positive`],
    /// `logit x` on [`Support::UnitInterval`], `logit` of the stick-breaking fractions on
    /// [`Support::Simplex`], the count itself on [`Support::Counts`].
    fn quadrature_hint(&self) -> Vec<(f64, f64)>;
    /// For unbounded counts: an upper bound on `p(k+1)/p(k)` valid for **every** `k ≥ k0`
    /// (used to certify the tail of a summation). `None` if the family cannot bound it at `k0`.
    fn pmf_ratio_bound(&self, _k0: u64) -> Option<f64> {
        None
    }
    /// For families on ℝᵈ: a Gaussian `(mean, covariance)` close to the density, used as the
    /// reference measure of Gauss–Hermite cubature.
    fn gaussian_reference(&self) -> Option<(Vec<f64>, DMatrix<f64>)> {
        None
    }
}

/// The log-density, written once for every scalar type.
pub trait LogDensity: Family {
    /// `log p(x | θ)` at coordinates `theta` (length = number of coordinates). Fixed parameters
    /// come from `self`; the coordinates stored in `self` are not used.
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, theta: &[D], x: &[f64]) -> D;

    /// The same family at other coordinates, validated.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (or another variant) when `theta` breaks a rule.
    fn with_params(&self, theta: &[f64]) -> Result<Self>
    where
        Self: Sized;
}

/// Object-safe derivatives of the log-density with respect to the coordinates, from autodiff.
pub trait ScoreFn: Family {
    /// `log p(x)` at the stored coordinates.
    fn log_prob_at(&self, x: &[f64]) -> f64;
    /// Score `∇_θ log p(x)` into `score`; returns `log p(x)`.
    fn score_into(&self, x: &[f64], score: &mut [f64]) -> f64;
    /// Score into `score` and Hessian `∇²_θ log p(x)` (row-major) into `hess`; returns `log p(x)`.
    fn hessian_into(&self, x: &[f64], score: &mut [f64], hess: &mut [f64]) -> f64;
}

impl std::fmt::Debug for dyn ScoreFn + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<String> = self
            .param_names()
            .iter()
            .zip(self.params())
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        write!(
            f,
            "{}[{}]({})",
            self.name(),
            self.parameterization(),
            pairs.join(", ")
        )
    }
}

/// Adapter: `log p(x | ·)` as a [`fisherlab_autodiff::ScalarFn`] of the coordinates.
struct AtObservation<'a, F: ?Sized> {
    family: &'a F,
    x: &'a [f64],
}

impl<F: LogDensity> fisherlab_autodiff::ScalarFn for AtObservation<'_, F> {
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, theta: &[D]) -> D {
        self.family.log_prob(theta, self.x)
    }
}

impl<F: LogDensity> ScoreFn for F {
    fn log_prob_at(&self, x: &[f64]) -> f64 {
        self.log_prob(&self.params(), x)
    }
    fn score_into(&self, x: &[f64], score: &mut [f64]) -> f64 {
        let theta = self.params();
        fisherlab_autodiff::gradient_into(&AtObservation { family: self, x }, &theta, score)
    }
    fn hessian_into(&self, x: &[f64], score: &mut [f64], hess: &mut [f64]) -> f64 {
        let theta = self.params();
        fisherlab_autodiff::hessian_into(&AtObservation { family: self, x }, &theta, score, hess)
    }
}

/// Check one scalar parameter against a rule; the error names the value and the rule.
pub(crate) fn check(
    family: &'static str,
    name: &str,
    value: f64,
    ok: bool,
    rule: &'static str,
) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            family,
            name: name.to_string(),
            value,
            rule: if value.is_finite() {
                rule
            } else {
                "must be finite"
            },
        })
    }
}

/// Check that a coordinate vector has the expected length.
pub(crate) fn check_len(family: &'static str, theta: &[f64], expected: usize) -> Result<()> {
    if theta.len() == expected {
        Ok(())
    } else {
        Err(Error::WrongLength {
            family,
            expected,
            got: theta.len(),
        })
    }
}

/// `ln(2π)`.
pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_3;
/// Euler–Mascheroni constant γ.
pub const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
