use crate::{Error, Optimizer, StepInput, StepReport, norm};
use faer::{Mat, MatRef};
use fisherlab_fisher::model::{Model, mean_nll, mean_nll_gradient_and_pass};
use rand::seq::SliceRandom;
use std::time::Instant;

/// Options of [`train`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainOptions {
    /// Optimizer steps.
    pub steps: usize,
    /// Mini-batch size (capped at N).
    pub batch: usize,
    /// Seed of the mini-batch order (a fresh permutation every epoch) and of sampled labels.
    pub seed: u64,
    /// Evaluate the mean loss on all the data every this many steps (and after the last).
    pub eval_every: Option<usize>,
}

/// One step of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    /// Step number, from 0.
    pub step: usize,
    /// Mini-batch mean loss before the step.
    pub loss: f64,
    /// Norm of its gradient.
    pub grad_norm: f64,
    /// Wall-clock seconds of the step (gradient and update).
    pub seconds: f64,
    /// Mean loss on all the data after the step, when evaluated.
    pub eval_loss: Option<f64>,
    /// What the optimizer reported.
    pub report: StepReport,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct TrainRun {
    /// Final parameters.
    pub theta: Vec<f64>,
    /// One record per step.
    pub records: Vec<StepRecord>,
}

/// A run that stopped on an error: the error, and the last parameters and records that were
/// good (never a half-updated or non-finite θ).
#[derive(Debug, Clone)]
pub struct TrainFailure {
    /// What went wrong.
    pub error: Error,
    /// The parameters before the failing step.
    pub theta: Vec<f64>,
    /// The records of the completed steps.
    pub records: Vec<StepRecord>,
}

impl std::fmt::Display for TrainFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "training stopped after {} steps: {}",
            self.records.len(),
            self.error
        )
    }
}

impl std::error::Error for TrainFailure {}

/// Train `model` from `theta0` on `(x, y)` with `optimizer`: seeded mini-batches (a new
/// permutation of the rows every epoch), the mini-batch loss and gradient by one forward and one
/// backward pass, one optimizer step; `on_step` sees every record as it is made (for progress
/// bars and logs).
///
/// A non-finite loss, gradient or update stops the run with a [`TrainFailure`] holding the last
/// good parameters. For a given seed the run is identical whatever the thread count.
///
/// # Errors
/// Invalid options or data (before any step), or a failure during training.
pub fn train(
    model: &Model,
    theta0: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    optimizer: &mut dyn Optimizer,
    opts: &TrainOptions,
    mut on_step: impl FnMut(&StepRecord),
) -> std::result::Result<TrainRun, Box<TrainFailure>> {
    let fail = |error: Error, theta: Vec<f64>, records: Vec<StepRecord>| {
        Box::new(TrainFailure {
            error,
            theta,
            records,
        })
    };
    let mut theta = theta0.to_vec();
    let mut records = Vec::with_capacity(opts.steps);
    if opts.batch == 0 {
        let e = Error::InvalidOption {
            name: "batch",
            value: "0".into(),
            rule: "must be >= 1",
        };
        return Err(fail(e, theta, records));
    }
    // validates θ, x and y once, before any step
    if let Err(e) = mean_nll(model, &theta, x, y) {
        return Err(fail(e.into(), theta, records));
    }
    let n = x.nrows();
    let b = opts.batch.min(n);
    let mut rng = fisherlab_distributions::rng_from_seed(opts.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut cursor = n; // forces a shuffle before the first batch
    for step in 0..opts.steps {
        if cursor + b > n {
            order.shuffle(&mut rng);
            cursor = 0;
        }
        let rows = &order[cursor..cursor + b];
        cursor += b;
        let xb = Mat::from_fn(b, x.ncols(), |i, j| x[(rows[i], j)]);
        let yb = Mat::from_fn(b, y.ncols(), |i, j| y[(rows[i], j)]);
        let start = Instant::now();
        let (loss, gradient, forward) =
            match mean_nll_gradient_and_pass(model, &theta, xb.as_ref(), yb.as_ref()) {
                Ok(v) => v,
                Err(e) => return Err(fail(e.into(), theta, records)),
            };
        if !loss.is_finite() {
            return Err(fail(
                Error::NonFinite { what: "loss", step },
                theta,
                records,
            ));
        }
        if gradient.iter().any(|g| !g.is_finite()) {
            return Err(fail(
                Error::NonFinite {
                    what: "gradient",
                    step,
                },
                theta,
                records,
            ));
        }
        let input = StepInput {
            model,
            x: xb.as_ref(),
            y: yb.as_ref(),
            loss,
            gradient: &gradient,
            step,
            seed: opts.seed,
            forward: Some(&forward),
        };
        let good = theta.clone();
        let report = match optimizer.step(&input, &mut theta) {
            Ok(r) => r,
            Err(e) => return Err(fail(e, good, records)),
        };
        if theta.iter().any(|t| !t.is_finite()) {
            let e = Error::NonFinite {
                what: "parameters after the update",
                step,
            };
            return Err(fail(e, good, records));
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval_loss = match opts.eval_every {
            Some(k) if k > 0 && ((step + 1) % k == 0 || step + 1 == opts.steps) => {
                match mean_nll(model, &theta, x, y) {
                    Ok(v) => Some(v),
                    Err(e) => return Err(fail(e.into(), theta, records)),
                }
            }
            _ => None,
        };
        let record = StepRecord {
            step,
            loss,
            grad_norm: norm(&gradient),
            seconds,
            eval_loss,
            report,
        };
        on_step(&record);
        records.push(record);
    }
    Ok(TrainRun { theta, records })
}
