//! `fisherlab train`: one or several optimizers on the same data and initialisation, with a
//! per-step JSONL log, saved weights and a comparison table.

use crate::curvature::{KfacApproxArg, NormBlockArg};
use crate::net::NetArgs;
use crate::{CliError, checks, choice, data, format, io};
use clap::Args;
use faer::MatRef;
pub use fisherlab_app::optimizers::{OptimizerArg, OptimizerOptions, record_json};
use fisherlab_fisher::curvature::Labels;
use fisherlab_fisher::model::Model;
use fisherlab_optim::{StepRecord, TrainOptions, train};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const EXAMPLES: &str = "Examples:
  fisherlab train --dataset digits --arch 64,64,64,10 --likelihood categorical --optimizer sgd,adam,kfac --steps 200 --batch 256
  fisherlab train --inputs X.npy --targets y.npy --arch 8,32,1 --likelihood bernoulli --optimizer ngd --damping 1e-3 --save w.safetensors
  fisherlab train --dataset digits --arch 64,64,64,10 --likelihood categorical --optimizer kfac --kl-clip 1e-3 --log run.jsonl --json";

/// Hyper-parameters of the optimizers, shared by `train` and `compare`: the flags of
/// [`OptimizerOptions`], with its defaults.
#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct OptimizerFlags {
    /// Learning rate (default per optimizer: sgd 0.3, adam 1e-2, diag, kfac and ekfac 0.1,
    /// ngd, smw and hf 1).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Damping λ of the natural-gradient optimizers: where each one's own rule starts. By
    /// default ngd and smw adapt λ every step from 1 (Levenberg–Marquardt, halving on good
    /// steps, so full-batch NGD becomes Fisher scoring), hf likewise with ω = 2/3; kfac and
    /// ekfac keep λ = 1e-2 fixed, diag 0.1.
    #[arg(long)]
    pub damping: Option<f64>,
    /// Keep λ fixed at --damping (or 1) for every optimizer.
    #[arg(long)]
    fixed_damping: bool,
    /// Levenberg–Marquardt every 5 steps (Martens & Grosse), from --damping or 1, for every
    /// optimizer.
    #[arg(long)]
    adaptive_damping: bool,
    /// SGD momentum.
    #[arg(long, default_value_t = OptimizerOptions::DEFAULT.momentum)]
    momentum: f64,
    /// SGD Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Weight decay (L2 for SGD, decoupled for Adam, which becomes AdamW).
    #[arg(long, default_value_t = OptimizerOptions::DEFAULT.weight_decay)]
    weight_decay: f64,
    /// Which Fisher K-FAC, EKFAC and diag approximate (mc: one label per input drawn from the
    /// model, fresh every step).
    #[arg(long, default_value = OptimizerOptions::DEFAULT.kfac_type.name(), value_parser = crate::curvature::labels_arg())]
    kfac_type: Labels,
    /// K-FAC and EKFAC factors of convolutions and Linear layers over positions: expand or
    /// reduce (the same for dense layers).
    #[arg(long, value_parser = choice::<KfacApproxArg>(), default_value_t = OptimizerOptions::DEFAULT.kfac_approx)]
    pub kfac_approx: KfacApproxArg,
    /// K-FAC and EKFAC block of normalisation layers' scale and shift: its exact diagonal or
    /// the exact dense block.
    #[arg(long, value_parser = choice::<NormBlockArg>(), default_value_t = OptimizerOptions::DEFAULT.norm_block)]
    pub norm_block: NormBlockArg,
    /// Decay of the running curvature averages.
    #[arg(long, default_value_t = OptimizerOptions::DEFAULT.decay)]
    decay: f64,
    /// K-FAC: steps between factor updates.
    #[arg(long, default_value_t = OptimizerOptions::DEFAULT.factor_period)]
    factor_period: usize,
    /// K-FAC: steps between inverse (eigendecomposition) updates; EKFAC: between eigenbasis refreshes.
    #[arg(long, default_value_t = OptimizerOptions::DEFAULT.inverse_period)]
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
    #[arg(long, default_value_t = OptimizerOptions::DEFAULT.max_cg)]
    max_cg: usize,
}

impl OptimizerFlags {
    /// The options these flags give.
    pub fn options(&self) -> OptimizerOptions {
        OptimizerOptions {
            lr: self.lr,
            damping: self.damping,
            fixed_damping: self.fixed_damping,
            adaptive_damping: self.adaptive_damping,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            kfac_type: self.kfac_type,
            kfac_approx: self.kfac_approx,
            norm_block: self.norm_block,
            decay: self.decay,
            factor_period: self.factor_period,
            inverse_period: self.inverse_period,
            factored_damping: self.factored_damping,
            kl_clip: self.kl_clip,
            auto_lr: self.auto_lr,
            max_cg: self.max_cg,
        }
    }
}

#[derive(Args, Debug, serde::Serialize)]
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
    #[arg(long, value_parser = choice::<OptimizerArg>(), value_delimiter = ',', required = true)]
    optimizer: Vec<OptimizerArg>,
    #[command(flatten)]
    hyper: OptimizerFlags,
    /// Optimizer steps.
    #[arg(long, default_value_t = fisherlab_app::optimizers::STEPS)]
    steps: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = fisherlab_app::optimizers::BATCH)]
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
    #[arg(long, default_value_t = fisherlab_app::optimizers::EVAL_EVERY)]
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
    /// Tune each optimizer first (DeepOBS protocol): every point of a small grid of learning
    /// rates (and dampings for the natural-gradient ones) on the first seed, the one with the
    /// lowest final full-data loss kept and rerun on --seeds seeds; the table gives the chosen
    /// setting and the median [min, max] over seeds.
    #[arg(long)]
    tune: bool,
    /// With --tune: the learning rates of the grid (default per optimizer, in half decades:
    /// sgd 0.01–3, adam 1e-4–0.1, the natural-gradient ones 0.03–1).
    #[arg(long, value_delimiter = ',', requires = "tune")]
    tune_lr: Vec<f64>,
    /// With --tune: the dampings of the grid for the natural-gradient optimizers (default
    /// 1e-4, 1e-3, 1e-2, 0.1, 1), each the λ the optimizer's own damping rule starts from.
    #[arg(long, value_delimiter = ',', requires = "tune")]
    tune_damping: Vec<f64>,
    /// With --tune: seeds of the final runs (mini-batch order and, without --weights, the
    /// initialisation: --seed + k and --init-seed + k).
    #[arg(long, default_value_t = 3, requires = "tune")]
    seeds: usize,
    /// With --tune: write tuning.svg and tuning.png (median over seeds and min–max band,
    /// against steps and against seconds) and tuning.json in this folder.
    #[arg(long, value_name = "DIR", requires = "tune")]
    figures: Option<PathBuf>,
}

/// One optimizer's run: its records, its final (or last good) parameters, its error.
pub struct Outcome {
    pub name: &'static str,
    pub records: Vec<StepRecord>,
    pub theta: Vec<f64>,
    pub error: Option<String>,
    /// The optimizer's hyper-parameters in effect (see [`crate::provenance::settings`]).
    pub settings: Value,
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
        let mut opt = hyper.build(which)?;
        let settings = crate::provenance::settings(&opt.settings());
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
                settings,
            },
            Err(f) => Outcome {
                name: which.name(),
                error: Some(f.to_string()),
                records: f.records,
                theta: f.theta,
                settings,
            },
        });
    }
    Ok(outcomes)
}

/// Run the command.
pub fn run(args: &TrainArgs) -> Result<String, CliError> {
    let hyper = args.hyper.options();
    hyper.check()?;
    for (flag, path) in [("log", &args.log), ("save", &args.save)] {
        if let Some(path) = path {
            io::check_output_file(path, flag)?;
        }
    }
    checks::at_least(
        1,
        &[
            ("steps", args.steps),
            ("batch", args.batch),
            ("eval-every", args.eval_every),
        ],
    )?;
    let head = fisherlab_app::head(&args.likelihood, args.sigma)?;
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
    if args.tune {
        let init = |k: u64| match &args.weights {
            Some(_) => theta0.clone(),
            None => io::default_init(&net, args.init_seed + k),
        };
        return run_tune(args, &model, x.as_ref(), y.as_ref(), &init, opts);
    }
    let outcomes = train_all(
        &model,
        &theta0,
        x.as_ref(),
        y.as_ref(),
        &args.optimizer,
        &hyper,
        &opts,
        args.quiet,
    )?;
    let mut provenance = crate::provenance::record("train", args);
    provenance["optimizers"] = optimizer_settings(&outcomes);
    if let Some(path) = &args.log {
        io::write_atomic(path, |w| write_log(w, &provenance, &outcomes))?;
    }
    if let Some(base) = &args.save {
        for o in &outcomes {
            let path = save_path(base, o.name, outcomes.len() > 1);
            let mut p = provenance.clone();
            p["optimizer"] = Value::from(o.name);
            io::save_weights(&path, &net, &o.theta, Some(&p))?;
        }
    }
    let rows = summary(&outcomes, args.target_loss);
    let text = if args.json {
        serde_json::to_string_pretty(&json!({ "provenance": provenance, "runs": rows }))
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

fn run_tune(
    args: &TrainArgs,
    model: &Model,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    init: &dyn Fn(u64) -> Vec<f64>,
    opts: TrainOptions,
) -> Result<String, CliError> {
    checks::at_least(1, &[("seeds", args.seeds)])?;
    for (flag, v) in args
        .tune_lr
        .iter()
        .map(|v| ("tune-lr", *v))
        .chain(args.tune_damping.iter().map(|v| ("tune-damping", *v)))
    {
        checks::positive(&[(flag, Some(v))])?;
    }
    if args.log.is_some() || args.save.is_some() {
        return Err(CliError::Input(
            "--tune writes its runs with --figures DIR (tuning.json); --log and --save are for \
             single runs"
                .into(),
        ));
    }
    if let Some(dir) = &args.figures {
        io::check_output_folder(dir, "tuning.json")?;
    }
    let problem = crate::tune::Problem {
        model,
        x,
        y,
        theta0: init,
        opts,
        seeds: args.seeds,
    };
    let mut tuned = Vec::new();
    for &which in &args.optimizer {
        let settings = crate::tune::grid(which, &args.tune_lr, &args.tune_damping);
        tuned.push(crate::tune::tune(
            &problem,
            &args.hyper.options(),
            which,
            &settings,
            args.quiet,
        )?);
    }
    let rows: Vec<Value> = tuned
        .iter()
        .map(|t| crate::tune::report(t, args.target_loss))
        .collect();
    let report = json!({
        "provenance": crate::provenance::record("train", args),
        "protocol": "DeepOBS: grid on seed 0 chosen by the final full-data training loss, rerun on every seed",
        "dataset": args.dataset,
        "arch": args.net.arch,
        "activation": args.net.activation,
        "model": args.net.model.as_ref().map(|p| p.display().to_string()),
        "likelihood": args.likelihood,
        "sigma": args.sigma,
        "eval_every": args.eval_every,
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "init_seed": args.init_seed,
        "target_loss": args.target_loss,
        "optimizers": rows,
    });
    if let Some(dir) = &args.figures {
        let initial: Vec<f64> = (0..args.seeds as u64)
            .map(|k| fisherlab_fisher::model::mean_nll(model, &init(k), x, y))
            .collect::<Result<_, _>>()?;
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Failed(e.to_string()))?;
        io::write_folder(dir, "tuning.json", |tmp| {
            std::fs::write(tmp.join("tuning.json"), text + "\n")
                .map_err(|e| CliError::Failed(format!("cannot write tuning.json: {e}")))?;
            crate::tune::figures(
                tmp,
                &tuned,
                &initial,
                &format!(
                    "Tuned optimizers: median over {} seeds, band from min to max",
                    args.seeds
                ),
            )
        })?;
    }
    let untuned: Vec<&str> = tuned
        .iter()
        .filter(|t| t.chosen.is_none())
        .map(|t| t.which.name())
        .collect();
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| CliError::Failed(e.to_string()))? + "\n"
    } else {
        crate::tune::table(&rows)
    };
    if untuned.is_empty() {
        Ok(text)
    } else {
        print!("{text}");
        Err(CliError::Failed(format!(
            "no grid point trained without failing for: {}",
            untuned.join(", ")
        )))
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

/// Each run's optimizer and its hyper-parameters in effect, in run order.
pub fn optimizer_settings(outcomes: &[Outcome]) -> Value {
    outcomes
        .iter()
        .map(|o| json!({ "optimizer": o.name, "settings": o.settings }))
        .collect()
}

/// The provenance as the first line (`{"provenance": …}`), then every step of every run as
/// one JSON line.
pub fn write_log(
    w: &mut dyn Write,
    provenance: &Value,
    outcomes: &[Outcome],
) -> std::io::Result<()> {
    writeln!(w, "{}", json!({ "provenance": provenance }))?;
    for o in outcomes {
        for r in &o.records {
            writeln!(w, "{}", record_json(o.name, r))?;
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
            let to_target = target
                .and_then(|t| crate::tune::to_target(&o.records, t))
                .map_or((Value::Null, Value::Null), |(steps, secs)| {
                    (Value::from(steps), Value::from(secs))
                });
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
