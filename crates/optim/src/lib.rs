//! Optimizers that use curvature, and the baselines they are compared with, behind one trait.
//!
//! | optimizer | direction | curvature |
//! |---|---|---|
//! | [`Sgd`] | gradient, momentum / Nesterov, weight decay | none |
//! | [`Adam`] | Adam or AdamW | running second moments |
//! | [`ExactNgd`] | `(F + λI)⁻¹ g` | dense exact Fisher of the mini-batch |
//! | [`DiagonalNgd`] | `g / (d + λ)` | running diagonal Fisher (exact or MC) |
//! | [`KfacOptimizer`] | `(G ⊗ A + λI)⁻¹ g` per layer | running K-FAC factors |
//! | [`EkfacOptimizer`] | same, with refitted eigenvalues | K-FAC eigenbasis + running scalings |
//! | [`SmwNgd`] | `(F + λI)⁻¹ g` by Woodbury | the mini-batch's rows `Lᵀ J` (an NC × NC solve) |
//! | [`HessianFree`] | truncated CG on `(F + λI) d = g` | Fisher-vector products |
//!
//! Every curvature comes from `fisherlab-fisher` as a [`CurvatureOperator`]. The natural-gradient
//! optimizers are one type, [`NaturalGradient`], over a [`Preconditioner`] (what makes each one
//! different: how the curvature is built and solved); they share the step size, KL-clipping, the
//! automatic learning rate and momentum, and Levenberg–Marquardt damping ([`Damping`]) driven by
//! the reduction ratio of the quadratic model, evaluated with the exact Fisher of the mini-batch.
//! Their options are checked once, by [`Builder::build`]. The defaults are in [`defaults`].
//! [`train`] runs any optimizer over seeded mini-batches.
//!
//! # Examples
//! ```
//! use faer::Mat;
//! use fisherlab_autodiff::network::Mlp;
//! use fisherlab_distributions::heads::Head;
//! use fisherlab_fisher::model::Model;
//! use fisherlab_optim::{Exact, ExactNgd, TrainOptions, train};
//! // logistic regression on four points
//! let model = Model::new(Mlp::parse("2,1", "identity").unwrap(), Head::Bernoulli).unwrap();
//! let x = Mat::from_fn(4, 2, |i, j| [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 0.5]][i][j]);
//! let y = Mat::from_fn(4, 1, |i, _| [0.0, 1.0, 1.0, 0.0][i]);
//! // the defaults: lr = 1, Levenberg–Marquardt damping that turns into Fisher scoring
//! let mut opt = ExactNgd::builder(Exact).build().unwrap();
//! let opts = TrainOptions { steps: 20, batch: 4, seed: 0, eval_every: None };
//! let run = train(&model, &[0.0; 3], x.as_ref(), y.as_ref(), &mut opt, &opts, |_| {}).unwrap();
//! assert!(run.records.last().unwrap().loss < run.records[0].loss);
//! ```
#![warn(missing_docs)]

mod adam;
mod damping;
pub mod defaults;
mod diagonal;
mod ekfac;
mod exact;
mod hessian_free;
mod kfac;
mod natural;
mod sgd;
mod smw;
mod train;

pub use adam::Adam;
pub use damping::{Damping, DampingRule};
pub use diagonal::{Diagonal, DiagonalNgd};
pub use ekfac::{Ekfac, EkfacOptimizer};
pub use exact::{Exact, ExactNgd};
pub use hessian_free::{ConjugateGradient, HessianFree};
pub use kfac::{Kfac, KfacOptimizer};
pub use natural::{Builder, Direction, NaturalGradient, Preconditioner};
pub use sgd::Sgd;
pub use smw::{SmwNgd, Woodbury};
pub use train::{StepRecord, TrainFailure, TrainOptions, TrainRun, train};

use faer::MatRef;
use fisherlab_autodiff::batch::Forward;
use fisherlab_fisher::curvature::{Labels, Problem};
use fisherlab_fisher::model::Model;
use fisherlab_linalg::CurvatureOperator;
use thiserror::Error;

/// Errors of the optimizers and the training loop.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An error computing a Fisher matrix or a loss.
    #[error(transparent)]
    Fisher(#[from] fisherlab_fisher::Error),
    /// An error of the linear algebra.
    #[error(transparent)]
    Linalg(#[from] fisherlab_linalg::Error),
    /// An option that breaks its rule.
    #[error("invalid option {name} = {value}: {rule}")]
    InvalidOption {
        /// Option name.
        name: &'static str,
        /// Value given.
        value: String,
        /// Rule broken.
        rule: &'static str,
    },
    /// A matrix that must be positive definite could not be Cholesky-factorised.
    #[error(
        "numerical failure at step {step}: {what} with damping λ = {lambda:e} is not positive definite; raise the damping"
    )]
    NotPositiveDefinite {
        /// The matrix.
        what: &'static str,
        /// The damping in effect.
        lambda: f64,
        /// The step (0-based).
        step: usize,
    },
    /// A non-finite loss, gradient or update.
    #[error("{what} is not finite at step {step}")]
    NonFinite {
        /// What was not finite.
        what: &'static str,
        /// The step (0-based).
        step: usize,
    },
}

/// Result alias of the optimizers.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// True when the caller's input breaks a rule (a command line exits 2), false for a
    /// numerical failure or divergence (exit 1).
    pub fn is_input(&self) -> bool {
        match self {
            Error::Fisher(e) => e.is_input(),
            Error::Linalg(e) => e.is_input(),
            Error::InvalidOption { .. } => true,
            Error::NotPositiveDefinite { .. } | Error::NonFinite { .. } => false,
        }
    }
}

/// What an optimizer sees at one step.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// The model.
    pub model: &'a Model,
    /// Mini-batch inputs (B × d).
    pub x: MatRef<'a, f64>,
    /// Mini-batch targets.
    pub y: MatRef<'a, f64>,
    /// Mean negative log-likelihood of the mini-batch at θ.
    pub loss: f64,
    /// Its gradient at θ.
    pub gradient: &'a [f64],
    /// Step number, from 0.
    pub step: usize,
    /// Seed of this run (optimizers that sample labels derive their streams from it and the
    /// step, so runs are reproducible).
    pub seed: u64,
    /// The forward pass of the mini-batch at θ that gave the loss and gradient, if recorded:
    /// curvature routes reuse it instead of running their own.
    pub forward: Option<&'a Forward>,
}

impl StepInput<'_> {
    /// The labels of this step for a curvature route asked for `labels`: [`Labels::Mc`]'s seed is
    /// mixed with the step's own (from the run's seed and the step number), so every step draws
    /// fresh labels (a seed of 0: the run's streams alone); the others are returned as they are.
    pub fn labels(&self, labels: Labels) -> Labels {
        match labels {
            Labels::Mc { per_input, seed } => Labels::Mc {
                per_input,
                seed: seed
                    ^ (self.seed ^ (self.step as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)),
            },
            other => other,
        }
    }
}

/// What an optimizer reports about one step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepReport {
    /// Damping λ used.
    pub damping: Option<f64>,
    /// Reduction ratio ρ of the quadratic model, where computed.
    pub rho: Option<f64>,
    /// Step size used (after any clipping or automatic choice).
    pub learning_rate: f64,
    /// Conjugate-gradient iterations (Hessian-free).
    pub cg_iterations: Option<usize>,
}

/// An optimizer: updates θ in place from the mini-batch, its loss and gradient.
pub trait Optimizer {
    /// Short name, as on the command line.
    fn name(&self) -> &'static str;
    /// One step. On error θ is left unchanged.
    ///
    /// # Errors
    /// Curvature that cannot be computed or inverted; non-finite values.
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport>;
    /// The hyper-parameters in effect, each a name and its value (numbers printed so that they
    /// parse back to the same `f64`), for the record a run keeps of how it was made; empty for
    /// an optimizer that lists none.
    fn settings(&self) -> Settings {
        Vec::new()
    }
}

/// Hyper-parameters as name–value pairs (see [`Optimizer::settings`]).
pub type Settings = Vec<(&'static str, String)>;

pub(crate) use fisherlab_linalg::dot;

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Check `value > 0` and finite.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            name,
            value: value.to_string(),
            rule: "must be finite and > 0",
        })
    }
}

/// Check a count `value ≥ 1`.
pub(crate) fn at_least_one(name: &'static str, value: usize) -> Result<()> {
    if value >= 1 {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            name,
            value: value.to_string(),
            rule: "must be >= 1",
        })
    }
}

/// Check `0 ≤ value < 1`.
pub(crate) fn unit(name: &'static str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            name,
            value: value.to_string(),
            rule: "must be in [0, 1)",
        })
    }
}

/// The mini-batch as a curvature problem at θ (the parameters before the step), reusing the
/// recorded forward pass when there is one.
pub(crate) fn batch_problem<'a>(input: &StepInput<'a>, theta: &'a [f64]) -> Result<Problem<'a>> {
    let problem = Problem::new(input.model, theta, input.x)?;
    Ok(match input.forward {
        Some(f) => problem.with_forward(f)?,
        None => problem,
    })
}

/// `(C + λI)⁻¹ g` for an operator.
pub(crate) fn solve(op: &dyn CurvatureOperator, lambda: f64, g: &[f64]) -> Result<Vec<f64>> {
    let rhs = MatRef::from_column_major_slice(g, g.len(), 1);
    Ok(op.solve_damped(lambda, rhs)?.col_as_slice(0).to_vec())
}

/// θ ← θ − lr·d, failing (θ untouched) if the result is not finite.
pub(crate) fn apply_step(theta: &mut [f64], d: &[f64], lr: f64, step: usize) -> Result<()> {
    if d.iter().any(|v| !(lr * v).is_finite()) {
        return Err(Error::NonFinite {
            what: "update",
            step,
        });
    }
    for (t, v) in theta.iter_mut().zip(d) {
        *t -= lr * v;
    }
    Ok(())
}
