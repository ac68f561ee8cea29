//! `fisherlab train`: one or several optimizers on the same data and initialisation, with a
//! per-step JSONL log, saved weights and a comparison table.

use crate::curvature::{KfacApproxArg, KfacTypeArg, NormBlockArg};
use crate::net::NetArgs;
use crate::{CliError, checks, data, format, io};
use clap::{Args, ValueEnum};
use faer::MatRef;
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::model::Model;
use fisherlab_linalg::KroneckerDamping;
use fisherlab_optim::{
    Adam, Damping, DiagonalNgd, EkfacOptimizer, ExactNgd, FactorLabels, HessianFree, KfacOptimizer,
    Optimizer, Sgd, SmwNgd, StepRecord, TrainOptions, train,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const EXAMPLES: &str = "Examples:
  fisherlab train --dataset digits --arch 64,64,64,10 --likelihood categorical --optimizer sgd,adam,kfac --steps 200 --batch 256
  fisherlab train --inputs X.npy --targets y.npy --arch 8,32,1 --likelihood bernoulli --optimizer ngd --damping 1e-3 --save w.safetensors
  fisherlab train --dataset digits --arch 64,64,64,10 --likelihood categorical --optimizer kfac --kl-clip 1e-3 --log run.jsonl --json";

/// An optimizer name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// SGD (with --momentum, --nesterov, --weight-decay).
    Sgd,
    /// Adam (AdamW with --weight-decay).
    Adam,
    /// Exact natural gradient (dense Fisher of the mini-batch).
    Ngd,
    /// Diagonal natural gradient (running diagonal Fisher).
    Diag,
    /// K-FAC.
    Kfac,
    /// EKFAC.
    Ekfac,
    /// Exact natural gradient on the mini-batch by Sherman–Morrison–Woodbury.
    Smw,
    /// Hessian-free (truncated CG on Fisher-vector products).
    Hf,
}

impl OptimizerArg {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerArg::Sgd => "sgd",
            OptimizerArg::Adam => "adam",
            OptimizerArg::Ngd => "ngd",
            OptimizerArg::Diag => "diag",
            OptimizerArg::Kfac => "kfac",
            OptimizerArg::Ekfac => "ekfac",
            OptimizerArg::Smw => "smw",
            OptimizerArg::Hf => "hf",
        }
    }
    /// Default learning rate.
    fn lr(self) -> f64 {
        match self {
            OptimizerArg::Sgd => 0.1,
            OptimizerArg::Adam => 1e-3,
            OptimizerArg::Diag
            | OptimizerArg::Kfac
            | OptimizerArg::Ekfac
            | OptimizerArg::Ngd
            | OptimizerArg::Smw
            | OptimizerArg::Hf => 1.0,
        }
    }
}

/// Hyper-parameters of the optimizers, shared by `train` and `compare`.
#[derive(Args, Debug, Clone)]
pub struct OptimizerOptions {
    /// Learning rate (default per optimizer: sgd 0.1, adam 1e-3, the natural-gradient ones 1).
    #[arg(long)]
    lr: Option<f64>,
    /// Damping λ of the natural-gradient optimizers (initial λ with --adaptive-damping).
    #[arg(long, default_value_t = 1.0)]
    damping: f64,
    /// Levenberg–Marquardt adaptive damping every 5 steps (hf: always, every step).
    #[arg(long)]
    adaptive_damping: bool,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// SGD Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Weight decay (L2 for SGD, decoupled for Adam, which becomes AdamW).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Statistics of K-FAC and EKFAC (and diag: mc samples one label per input, type2 is exact).
    #[arg(long, value_enum, default_value_t = KfacTypeArg::Mc)]
    kfac_type: KfacTypeArg,
    /// K-FAC and EKFAC factors of convolutions and Linear layers over positions: expand or
    /// reduce (the same for dense layers).
    #[arg(long, value_enum, default_value_t = KfacApproxArg::Expand)]
    pub kfac_approx: KfacApproxArg,
    /// K-FAC and EKFAC block of normalisation layers' scale and shift: its exact diagonal or
    /// the exact dense block.
    #[arg(long, value_enum, default_value_t = NormBlockArg::Diagonal)]
    pub norm_block: NormBlockArg,
    /// Decay of the running curvature averages.
    #[arg(long, default_value_t = 0.95)]
    decay: f64,
    /// K-FAC: steps between factor updates.
    #[arg(long, default_value_t = 1)]
    factor_period: usize,
    /// K-FAC: steps between inverse (eigendecomposition) updates; EKFAC: between eigenbasis refreshes.
    #[arg(long, default_value_t = 10)]
    inverse_period: usize,
    /// K-FAC: factored (π) damping instead of exact damping.
    #[arg(long)]
    factored_damping: bool,
    /// K-FAC: KL-clipping bound κ.
    #[arg(long)]
    kl_clip: Option<f64>,
    /// K-FAC: automatic learning rate and momentum from the quadratic model.
    #[arg(long)]
    auto_lr: bool,
    /// Hessian-free: CG iterations per step.
    #[arg(long, default_value_t = 50)]
    max_cg: usize,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// An embedded dataset: digits (classification), diabetes (regression); see `fisherlab datasets`.
    #[arg(long, conflicts_with_all = ["inputs", "targets"])]
    dataset: Option<String>,
    /// Inputs, N × d .npy (with --targets).
    #[arg(long, value_name = "FILE", requires = "targets")]
    inputs: Option<PathBuf>,
    /// Targets, .npy (labels int64, counts, or N × C floats for gaussian).
    #[arg(long, value_name = "FILE", requires = "inputs")]
    targets: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
    /// Likelihood head: gaussian, bernoulli, categorical, poisson.
    #[arg(long)]
    likelihood: String,
    /// Standard deviation of the gaussian head.
    #[arg(long)]
    sigma: Option<f64>,
    /// Optimizers (comma-separated or repeated): sgd, adam, ngd, diag, kfac, ekfac, smw, hf.
    #[arg(long, value_enum, value_delimiter = ',', required = true)]
    optimizer: Vec<OptimizerArg>,
    #[command(flatten)]
    hyper: OptimizerOptions,
    /// Optimizer steps.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Seed of the mini-batch order and of sampled labels.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Initial weights (safetensors, nn.Sequential names); default: PyTorch's init seeded by --init-seed.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Seed of the default initialisation.
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// Evaluate the loss on all the data every this many steps (and after the last).
    #[arg(long, default_value_t = 10)]
    eval_every: usize,
    /// Full-data loss whose first crossing the table reports (steps and seconds).
    #[arg(long)]
    target_loss: Option<f64>,
    /// Write every step as one JSON line here.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Write the final weights here (FILE.NAME.safetensors per optimizer when there are several).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// The optimizer `which` with these hyper-parameters.
pub fn build(args: &OptimizerOptions, which: OptimizerArg) -> Box<dyn Optimizer> {
    let lr = args.lr.unwrap_or(which.lr());
    let damping = if which == OptimizerArg::Hf {
        Damping::every_step(args.damping)
    } else if args.adaptive_damping {
        Damping::adaptive(args.damping)
    } else {
        Damping::fixed(args.damping)
    };
    let labels = match args.kfac_type {
        KfacTypeArg::Type2 => FactorLabels::Type2,
        KfacTypeArg::Mc => FactorLabels::MonteCarlo,
        KfacTypeArg::Empirical => FactorLabels::Empirical,
    };
    match which {
        OptimizerArg::Sgd => Box::new(
            Sgd::new(lr)
                .with_momentum(args.momentum, args.nesterov)
                .with_weight_decay(args.weight_decay),
        ),
        OptimizerArg::Adam if args.weight_decay > 0.0 => {
            Box::new(Adam::adamw(lr, args.weight_decay))
        }
        OptimizerArg::Adam => Box::new(Adam::new(lr)),
        OptimizerArg::Ngd => Box::new(ExactNgd::new(lr, args.damping).with_damping(damping)),
        OptimizerArg::Diag => {
            let d = DiagonalNgd::new(lr, args.damping)
                .with_decay(args.decay)
                .with_damping(damping);
            Box::new(if labels == FactorLabels::MonteCarlo {
                d.sampled()
            } else {
                d
            })
        }
        OptimizerArg::Kfac => {
            let mut k = KfacOptimizer::new(lr, args.damping)
                .with_damping(damping)
                .with_factor_labels(labels)
                .with_approx(args.kfac_approx.into())
                .with_norm_block(args.norm_block.into())
                .with_decay(args.decay)
                .with_periods(args.factor_period, args.inverse_period)
                .with_kronecker_damping(if args.factored_damping {
                    KroneckerDamping::Factored
                } else {
                    KroneckerDamping::Exact
                });
            if let Some(kappa) = args.kl_clip {
                k = k.with_kl_clip(kappa);
            }
            if args.auto_lr {
                k = k.with_auto_lr_momentum();
            }
            Box::new(k)
        }
        OptimizerArg::Ekfac => Box::new(
            EkfacOptimizer::new(lr, args.damping)
                .with_damping(damping)
                .with_factor_labels(labels)
                .with_approx(args.kfac_approx.into())
                .with_norm_block(args.norm_block.into())
                .with_eigen_period(args.inverse_period),
        ),
        OptimizerArg::Smw => Box::new(SmwNgd::new(lr, args.damping).with_damping(damping)),
        OptimizerArg::Hf => Box::new(
            HessianFree::new(lr, args.damping)
                .with_damping(damping)
                .with_max_cg(args.max_cg),
        ),
    }
}

/// One optimizer's run: its records, its final (or last good) parameters, its error.
pub struct Outcome {
    pub name: &'static str,
    pub records: Vec<StepRecord>,
    pub theta: Vec<f64>,
    pub error: Option<String>,
}

fn save_path(base: &Path, name: &str, several: bool) -> PathBuf {
    if !several {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map_or("weights".into(), |s| s.to_string_lossy().to_string());
    let ext = base
        .extension()
        .map_or("safetensors".into(), |s| s.to_string_lossy().to_string());
    base.with_file_name(format!("{stem}.{name}.{ext}"))
}

/// A progress bar on a terminal (hidden otherwise, and with `quiet`).
pub fn progress(len: usize, prefix: &str, quiet: bool) -> Result<ProgressBar, CliError> {
    if quiet {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .map_err(|e| CliError::Failed(e.to_string()))?
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    Ok(bar)
}

/// Train each optimizer from `theta0` on the same mini-batches.
#[allow(clippy::too_many_arguments)]
pub fn train_all(
    model: &Model,
    theta0: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    optimizers: &[OptimizerArg],
    hyper: &OptimizerOptions,
    opts: &TrainOptions,
    quiet: bool,
) -> Result<Vec<Outcome>, CliError> {
    let mut outcomes = Vec::new();
    for &which in optimizers {
        let mut opt = build(hyper, which);
        let bar = progress(opts.steps, which.name(), quiet)?;
        let result = train(model, theta0, x, y, opt.as_mut(), opts, |r| {
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", r.loss));
        });
        bar.finish_and_clear();
        outcomes.push(match result {
            Ok(run) => Outcome {
                name: which.name(),
                records: run.records,
                theta: run.theta,
                error: None,
            },
            Err(f) => Outcome {
                name: which.name(),
                error: Some(f.to_string()),
                records: f.records,
                theta: f.theta,
            },
        });
    }
    Ok(outcomes)
}

/// Run the command.
pub fn run(args: &TrainArgs) -> Result<String, CliError> {
    check_options(&args.hyper)?;
    checks::at_least(
        1,
        &[
            ("steps", args.steps),
            ("batch", args.batch),
            ("eval-every", args.eval_every),
        ],
    )?;
    checks::positive(&[("sigma", args.sigma)])?;
    let head = Head::from_name(&args.likelihood, args.sigma)?;
    let (x, y, shape) = match (&args.dataset, &args.inputs, &args.targets) {
        (Some(name), _, _) => {
            let (x, y) = data::load(name)?;
            (x, y, data::dataset(name)?.shape.to_vec())
        }
        (None, Some(xp), Some(yp)) => {
            let (x, shape) = io::read_inputs(xp)?;
            (x, io::read_matrix(yp, "targets")?, shape)
        }
        _ => {
            return Err(CliError::Input(
                "no data: give --dataset NAME, or --inputs X.npy with --targets y.npy".into(),
            ));
        }
    };
    let mut net = args.net.build(&shape, None)?.net;
    let theta0 = match &args.weights {
        Some(p) => io::load_weights(p, &mut net)?,
        None => io::default_init(&net, args.init_seed),
    };
    let model = Model::new(net.clone(), head)?;
    // validate data and targets once, as an input error
    fisherlab_fisher::curvature::Problem::new(&model, &theta0, x.as_ref())?
        .with_targets(y.as_ref())?;
    let opts = TrainOptions {
        steps: args.steps,
        batch: args.batch,
        seed: args.seed,
        eval_every: Some(args.eval_every),
    };
    let outcomes = train_all(
        &model,
        &theta0,
        x.as_ref(),
        y.as_ref(),
        &args.optimizer,
        &args.hyper,
        &opts,
        args.quiet,
    )?;
    if let Some(path) = &args.log {
        io::write_atomic(path, |w| write_log(w, &outcomes))?;
    }
    if let Some(base) = &args.save {
        for o in &outcomes {
            let path = save_path(base, o.name, outcomes.len() > 1);
            io::save_weights(&path, &net, &o.theta)?;
        }
    }
    let rows = summary(&outcomes, args.target_loss);
    let text = if args.json {
        serde_json::to_string_pretty(&Value::Array(rows.clone()))
            .map_err(|e| CliError::Failed(e.to_string()))?
            + "\n"
    } else {
        table(&rows)
    };
    let failures = failures(&outcomes);
    if failures.is_empty() {
        Ok(text)
    } else {
        print!("{text}");
        Err(CliError::Failed(failures))
    }
}

/// The failed runs, one `name: error` each, `; `-separated (empty when none failed).
pub fn failures(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .filter_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.name)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every numeric hyper-parameter against its rule, before any work: one line naming the first
/// bad one.
pub fn check_options(args: &OptimizerOptions) -> Result<(), CliError> {
    checks::at_least(
        1,
        &[
            ("factor-period", args.factor_period),
            ("inverse-period", args.inverse_period),
            ("max-cg", args.max_cg),
        ],
    )?;
    checks::positive(&[
        ("lr", args.lr),
        ("damping", Some(args.damping)),
        ("kl-clip", args.kl_clip),
    ])?;
    for (flag, v) in [("momentum", args.momentum), ("decay", args.decay)] {
        if !(0.0..1.0).contains(&v) {
            return Err(checks::bad(flag, v, "must be in [0, 1)"));
        }
    }
    if !(args.weight_decay.is_finite() && args.weight_decay >= 0.0) {
        return Err(checks::bad(
            "weight-decay",
            args.weight_decay,
            "must be finite and >= 0",
        ));
    }
    Ok(())
}

/// Every step of every run as one JSON line.
pub fn write_log(w: &mut dyn Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    for o in outcomes {
        for r in &o.records {
            let line = json!({
                "optimizer": o.name,
                "step": r.step,
                "loss": r.loss,
                "grad_norm": r.grad_norm,
                "seconds": r.seconds,
                "eval_loss": r.eval_loss,
                "damping": r.report.damping,
                "rho": r.report.rho,
                "learning_rate": r.report.learning_rate,
                "cg_iterations": r.report.cg_iterations,
            });
            writeln!(w, "{line}")?;
        }
    }
    Ok(())
}

/// One summary row per run.
pub fn summary(outcomes: &[Outcome], target: Option<f64>) -> Vec<Value> {
    let per_step = |o: &Outcome| {
        let total: f64 = o.records.iter().map(|r| r.seconds).sum();
        (total, total / o.records.len().max(1) as f64)
    };
    let sgd = outcomes
        .iter()
        .find(|o| o.name == "sgd" && !o.records.is_empty())
        .map(|o| per_step(o).1);
    outcomes
        .iter()
        .map(|o| {
            let (total, step_s) = per_step(o);
            let final_eval = o.records.iter().rev().find_map(|r| r.eval_loss);
            let mut to_target = (Value::Null, Value::Null);
            if let Some(t) = target {
                let mut elapsed = 0.0;
                for r in &o.records {
                    elapsed += r.seconds;
                    if r.eval_loss.is_some_and(|l| l <= t) {
                        to_target = (Value::from(r.step + 1), Value::from(elapsed));
                        break;
                    }
                }
            }
            json!({
                "optimizer": o.name,
                "steps": o.records.len(),
                "final_batch_loss": o.records.last().map(|r| r.loss),
                "final_loss": final_eval,
                "steps_to_target": to_target.0,
                "seconds_to_target": to_target.1,
                "seconds": total,
                "seconds_per_step": step_s,
                "time_per_step_vs_sgd": sgd.map(|s| step_s / s),
                "error": o.error,
            })
        })
        .collect()
}

/// The summary rows as an aligned table.
pub fn table(rows: &[Value]) -> String {
    let cols = [
        ("optimizer", "optimizer"),
        ("steps", "steps"),
        ("final loss", "final_loss"),
        ("steps to target", "steps_to_target"),
        ("s to target", "seconds_to_target"),
        ("s/step", "seconds_per_step"),
        ("× sgd", "time_per_step_vs_sgd"),
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut v: Vec<String> = cols.iter().map(|(_, k)| format::cell(&r[*k])).collect();
            if !r["error"].is_null() {
                v[0].push_str(" (failed)");
            }
            v
        })
        .collect();
    format::table(&cols.map(|(h, _)| h), &body)
}
