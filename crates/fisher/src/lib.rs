//! Fisher information estimators.
//!
//! For a single distribution, three independent routes to the same matrix:
//! 1. [`analytic`] — the family's closed form;
//! 2. [`exact_expectation`] — `E[s sᵀ]` by adaptive quadrature over the support (or certified
//!    summation for counts), with the density's normalisation and `E[s] = 0` checked on the way;
//! 3. [`monte_carlo`] — seeded sampling, in the score outer-product form `E[s sᵀ]` or the
//!    negative-Hessian form `−E[∇² log p]`, with a per-entry standard error.
//!
//! Scores and Hessians always come from forward-mode autodiff of the family's log-density.
//!
//! # Examples
//!
//! ```
//! use fisherlab_distributions::continuous::Gamma;
//! use fisherlab_fisher::{analytic, monte_carlo, McForm, MonteCarloOptions};
//!
//! let g = Gamma::new(2.0, 3.0).unwrap();
//! let exact = analytic(&g);
//! let mc = monte_carlo(&g, &MonteCarloOptions { samples: 100_000, seed: 7, form: McForm::Score }).unwrap();
//! let se = mc.std_error.as_ref().unwrap();
//! for i in 0..2 {
//!     for j in 0..2 {
//!         assert!((mc.matrix[(i, j)] - exact.matrix[(i, j)]).abs() < 5.0 * se[(i, j)]);
//!     }
//! }
//! ```
#![warn(missing_docs)]

pub mod curvature;
mod exact;
pub mod heap;
pub mod metrics;
pub mod model;
mod monte_carlo;
pub mod quadrature;
mod rows;
mod seeds;
pub mod verify;

pub use exact::{ExactReport, QuadratureOptions, exact_expectation};
use fisherlab_distributions::ScoreFn;
pub use monte_carlo::{McForm, MonteCarloOptions, monte_carlo};
use nalgebra::DMatrix;
use thiserror::Error;

/// Errors of the Fisher estimators.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An error of the distribution itself.
    #[error(transparent)]
    Distribution(#[from] fisherlab_distributions::Error),
    /// Adaptive integration could not meet its tolerance.
    #[error(
        "quadrature did not converge: estimated relative error {error:e} exceeds tolerance {tolerance:e} after {evaluations} evaluations"
    )]
    NotConverged {
        /// Estimated relative error reached.
        error: f64,
        /// Tolerance requested.
        tolerance: f64,
        /// Integrand evaluations spent.
        evaluations: usize,
    },
    /// The density does not integrate to 1 over its support.
    #[error(
        "{family}: the density integrates to {mass} over its support, not 1 (wrong normaliser, or mass beyond what f64 observations can represent)"
    )]
    NotNormalized {
        /// Family name.
        family: &'static str,
        /// `∫ p`.
        mass: f64,
    },
    /// A computed expectation that is not finite.
    #[error("{family}: numerical failure: {what}")]
    NonFiniteResult {
        /// Family name.
        family: &'static str,
        /// Which entry, and its value.
        what: String,
    },
    /// The density's integral over its support diverges: it cannot be normalised.
    #[error("{family}: the density is not normalisable on its support: {evidence}")]
    NotNormalizable {
        /// Family name.
        family: &'static str,
        /// What was measured: log-density values far out in the tail that does not fall off.
        evidence: String,
    },
    /// A symmetric eigendecomposition of faer did not converge.
    #[error("numerical failure: the eigendecomposition of {what} did not converge ({detail})")]
    EigenFailed {
        /// The matrix.
        what: &'static str,
        /// faer's report.
        detail: String,
    },
    /// A non-finite score or density at a point of positive density.
    #[error("{family}: non-finite value at x = {x:?}: {what}")]
    NonFinite {
        /// Family name.
        family: &'static str,
        /// The observation.
        x: Vec<f64>,
        /// What was not finite.
        what: String,
    },
    /// The negative-Hessian form `F = −E[∇² log p]` does not apply to this family.
    #[error(
        "{family}: the negative-Hessian form does not apply (log-density not twice differentiable in the parameters for every x); use the score form"
    )]
    HessianFormInvalid {
        /// Family name.
        family: &'static str,
    },
    /// The tail of a discrete sum could not be bounded.
    #[error("{family}: cannot certify the tail of the count sum: {why}")]
    TailNotCertified {
        /// Family name.
        family: &'static str,
        /// Why.
        why: String,
    },
    /// The method cannot handle this family or size.
    #[error("{family}: {what}")]
    Unsupported {
        /// Family name.
        family: &'static str,
        /// What is out of reach.
        what: String,
    },
    /// An error of a curvature operator.
    #[error(transparent)]
    Linalg(#[from] fisherlab_linalg::Error),
    /// Parameters or data that do not fit the model.
    #[error("{what}")]
    InvalidInput {
        /// What is wrong, naming the value.
        what: String,
    },
    /// An option value breaks its rule.
    #[error("invalid option {name} = {value}: {rule}")]
    InvalidOption {
        /// Option name.
        name: &'static str,
        /// Value given.
        value: String,
        /// Rule broken.
        rule: &'static str,
    },
}

/// Result alias of the fisher crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// True when the caller's input breaks a rule (a command line exits 2), false for a
    /// numerical failure or divergence (exit 1).
    pub fn is_input(&self) -> bool {
        match self {
            Error::Distribution(_)
            | Error::HessianFormInvalid { .. }
            | Error::Unsupported { .. }
            | Error::InvalidInput { .. }
            | Error::InvalidOption { .. } => true,
            Error::Linalg(e) => e.is_input(),
            Error::NotConverged { .. }
            | Error::NotNormalized { .. }
            | Error::NotNormalizable { .. }
            | Error::EigenFailed { .. }
            | Error::NonFinite { .. }
            | Error::NonFiniteResult { .. }
            | Error::TailNotCertified { .. } => false,
        }
    }
}

/// How a Fisher matrix was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Closed form.
    Analytic,
    /// Exact expectation by quadrature, or certified summation for counts (`quadrature`).
    Quadrature,
    /// Monte Carlo, score outer-product form.
    MonteCarloScore,
    /// Monte Carlo, negative-Hessian form.
    MonteCarloHessian,
}

impl Method {
    /// Name as printed and written to JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Analytic => "analytic",
            Method::Quadrature => "quadrature",
            Method::MonteCarloScore => "monte-carlo (score)",
            Method::MonteCarloHessian => "monte-carlo (hessian)",
        }
    }
}

/// A Fisher matrix with its provenance; rows and columns follow `param_names`.
#[derive(Debug, Clone)]
pub struct FisherEstimate {
    /// How it was computed.
    pub method: Method,
    /// Coordinate names (rows and columns).
    pub param_names: Vec<String>,
    /// The matrix (one observation).
    pub matrix: DMatrix<f64>,
    /// Per-entry standard error (Monte Carlo only).
    pub std_error: Option<DMatrix<f64>>,
}

/// The family's closed-form Fisher information.
///
/// # Examples
/// ```
/// use fisherlab_distributions::discrete::Poisson;
/// let f = fisherlab_fisher::analytic(&Poisson::new(4.0).unwrap());
/// assert!((f.matrix[(0, 0)] - 0.25).abs() < 1e-15);
/// ```
pub fn analytic(family: &dyn ScoreFn) -> FisherEstimate {
    FisherEstimate {
        method: Method::Analytic,
        param_names: family.param_names(),
        matrix: family.fisher(),
        std_error: None,
    }
}
