//! fisherlab: Fisher information matrices and natural gradients, each verified against an
//! independent reference.
//!
//! This facade re-exports the workspace crates:
//! [`autodiff`] (forward-mode derivatives over `num-dual`), [`distributions`] (families with
//! closed-form Fisher matrices and reparameterisations), [`fisher`] (analytic, exact-expectation
//! and Monte-Carlo estimators; the Fisher of models and its approximations), [`linalg`] (curvature
//! operators on faer), [`optim`] (natural-gradient optimizers and training) and [`symbolic`]
//! (log-densities written as text: parsed, differentiated exactly, simplified, printed).
//!
//! # Examples
//!
//! ```
//! use fisherlab::distributions::{continuous::Gamma, Family};
//! use fisherlab::fisher::{exact_expectation, QuadratureOptions};
//!
//! let g = Gamma::new(2.5, 1.5).unwrap();
//! let analytic = g.fisher();
//! let quad = exact_expectation(&g, &QuadratureOptions::default()).unwrap();
//! assert!((quad.fisher.matrix - analytic).abs().max() < 1e-9);
//! ```
#![warn(missing_docs)]

pub use fisherlab_autodiff as autodiff;
pub use fisherlab_distributions as distributions;
pub use fisherlab_fisher as fisher;
pub use fisherlab_linalg as linalg;
pub use fisherlab_optim as optim;
pub use fisherlab_symbolic as symbolic;
