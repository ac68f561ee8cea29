//! Verify a hand-derived Fisher matrix of a density written as text.
//!
//! A [`SymbolicFamily`] is a log-density parsed by [`fisherlab_symbolic`] on one of
//! five supports. It is a [`Family`] like the built-in ones, so its Fisher information comes
//! from the same independent routes: [`exact_expectation`] (adaptive quadrature, or summation
//! over counts) and [`monte_carlo`] in both the score and the negative-Hessian forms, with
//! samples drawn by inverting its numerically tabulated distribution function. [`verify`]
//! compares a claimed matrix — entries are expressions in the parameters — entry by entry at
//! each point, after checking that the density normalises.
//!
//! # Examples
//! ```
//! use fisherlab_symbolic::{parse, Symbols};
//! use fisherlab_fisher::verify::{parse_claim, verify, SymSupport, SymbolicFamily, VerifyOptions};
//! let names = Symbols::new("x", &["rate"]).unwrap();
//! let logpdf = parse("log(rate) - rate*x", &names).unwrap();
//! let family = SymbolicFamily::new(names.clone(), logpdf, SymSupport::Positive, &[2.0]).unwrap();
//! let points = [family.at(&[0.7]).unwrap(), family];
//! let claim = parse_claim("[[1/rate^2]]", &names).unwrap();
//! let report = verify(&points, &claim, &VerifyOptions::default()).unwrap();
//! assert!(report.iter().all(|p| p.pass()));
//! // a wrong claim fails
//! let wrong = parse_claim("[[2/rate^2]]", &names).unwrap();
//! let report = verify(&points[..1], &wrong, &VerifyOptions::default()).unwrap();
//! assert!(!report[0].pass());
//! ```
//!
//! One file per part: `support` (where the data variable lives), `family` (the log-density as
//! a [`Family`]), `sampler` (its tabulated distribution function), `claim` (the claimed matrix)
//! and `report` (the checks, entry by entry).

mod claim;
mod family;
mod report;
mod sampler;
mod support;

pub use claim::parse_claim;
pub use family::SymbolicFamily;
pub use report::{EntryCheck, PointCheck, VerifyMethod, VerifyOptions, describe_point, verify};
pub use support::SymSupport;

use crate::{
    Error, ExactReport, McForm, MonteCarloOptions, QuadratureOptions, Result, exact_expectation,
    monte_carlo,
};
use fisherlab_distributions::{DualNum, Family, FisherRng, LogDensity, Support};
use fisherlab_symbolic::{Expr, Func, Symbols};
use nalgebra::DMatrix;
use rand::RngExt;
use sampler::Sampler;
