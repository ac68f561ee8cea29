//! `fisherlab compare`: on real data, the exact Fisher of a (briefly trained) network next to
//! every approximation of the catalogue — how close, how fast, how much memory — and what the
//! optimizers built on them do, as a table and as an output folder of JSON, CSV, figures and a
//! self-contained `index.html`.

use crate::checks::Spectrum;
use crate::net::NetArgs;
use crate::train::{self, OptimizerArg, OptimizerFlags, OptimizerOptions, Outcome};
use crate::{CliError, checks, data, format, io, plots};
use base64::Engine;
use clap::Args;
use faer::{Mat, MatRef};
use fisherlab_app::compare::{Probes, ReferenceArg};
use fisherlab_fisher::curvature::{
    Approximation, BlockDiagonalFisher, CatalogueEntry, CatalogueOptions, DenseFisher, GramFisher,
    Labels, MatrixFreeFisher, Problem, catalogue,
};
use fisherlab_fisher::heap::{Usage, measure};
use fisherlab_fisher::metrics::{CompareOptions, MatrixFreeReference, Reference};
use fisherlab_fisher::model::{Model, mean_nll, mean_nll_gradient};
use fisherlab_linalg::CurvatureOperator;
use fisherlab_optim::TrainOptions;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod figure;
mod measure;
mod page;
mod report;
use figure::*;
use measure::*;
use page::*;
use report::*;

pub const EXAMPLES: &str = "Examples:
  fisherlab compare                                    # digits, MLP 64-32-10, every approximation
  fisherlab compare --dataset diabetes --out diabetes-out
  fisherlab compare --approximations kfac,ekfac,diag --optimizers sgd,kfac --steps 300
  fisherlab compare --dataset mnist1d --model cnn1d.txt   # P = 58 442: matrix-free reference
  fisherlab compare --inputs X.npy --targets y.npy --arch 20,64,3 --likelihood categorical \\
      --weights model.safetensors --quiet";

/// The files every run writes into the output folder.
pub const FILES: [&str; 12] = [
    "index.html",
    "comparison.json",
    "comparison.csv",
    "training.jsonl",
    "heatmaps.svg",
    "heatmaps.png",
    "spectra.svg",
    "spectra.png",
    "error_vs_cost.svg",
    "error_vs_cost.png",
    "training_loss.svg",
    "training_loss.png",
];

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct CompareArgs {
    /// Embedded dataset (see `fisherlab datasets`); digits unless --inputs is given.
    #[arg(long, conflicts_with_all = ["inputs", "targets"])]
    dataset: Option<String>,
    /// Inputs, N × d .npy (with --targets, --arch and --likelihood).
    #[arg(long, value_name = "FILE", requires_all = ["targets", "likelihood"])]
    inputs: Option<PathBuf>,
    /// Targets, .npy (labels int64, counts, or N × C floats for gaussian).
    #[arg(long, value_name = "FILE", requires = "inputs")]
    targets: Option<PathBuf>,
    /// The network: --arch (default for a dataset: an MLP small enough for the dense exact
    /// Fisher, e.g. 64,32,10 for digits) or --model.
    #[command(flatten)]
    net: NetArgs,
    /// Likelihood head (default for a dataset: the one that fits its targets).
    #[arg(long)]
    likelihood: Option<String>,
    /// Standard deviation of the gaussian head.
    #[arg(long)]
    sigma: Option<f64>,
    /// Weights to evaluate the Fisher at (safetensors, nn.Sequential names); the optimizers
    /// also start from them. Default: PyTorch's initialisation seeded by --init-seed, trained
    /// by the --fisher-at optimizer.
    #[arg(long, value_name = "FILE", conflicts_with = "fisher_at")]
    weights: Option<PathBuf>,
    /// Seed of the default initialisation.
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// Optimizers to train and plot (comma-separated): sgd, adam, ngd, diag, kfac, ekfac, smw, hf.
    /// Default: sgd,adam,diag,kfac,ekfac,hf with a dense reference; adam alone with a
    /// matrix-free one (its network is large: the panel's full-data evaluations would take
    /// longer than the comparison).
    #[arg(long, value_parser = crate::choice::<OptimizerArg>(), value_delimiter = ',')]
    optimizers: Option<Vec<OptimizerArg>>,
    /// Whose trained weights the Fisher is evaluated at (default: the first of --optimizers).
    #[arg(long, value_parser = crate::choice::<OptimizerArg>())]
    fisher_at: Option<OptimizerArg>,
    /// Training steps per optimizer.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Full-data loss every this many steps (the training figure's points).
    #[arg(long, default_value_t = 5)]
    eval_every: usize,
    /// Seed of the mini-batches, sampled labels, random directions and randomized low rank.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Approximations to compare (comma-separated; default: all that apply — the -reduce
    /// variants only for networks with layers shared over locations, and with a matrix-free
    /// reference only those that scale; each skipped, and listed, when it does not fit the
    /// memory budget): mc, empirical, matrix-free, diag, diag-mc, block-diag, kfac,
    /// kfac-reduce, kfac-mc, kfac-mc-reduce, kfac-empirical, ekfac, low-rank,
    /// low-rank-randomized, layer-isotropic.
    #[arg(long, value_delimiter = ',')]
    approximations: Option<Vec<String>>,
    /// Rank of the low-rank approximations.
    #[arg(long, default_value_t = 20)]
    rank: usize,
    /// Damping λ of the natural-gradient directions, solves and log-determinants.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    lambda: f64,
    /// Eigenvalues kept of each spectrum: the K largest (Lanczos for large dense matrices), or
    /// `all` (a full eigendecomposition of every dense matrix, O(P³) each).
    #[arg(long, default_value = "100", value_parser = crate::checks::spectrum_arg)]
    spectrum: Spectrum,
    /// The exact Fisher the approximations are measured against: dense (formed: every metric
    /// exact), matrix-free (Fisher-vector products only: every metric estimated, with its
    /// standard error or bound), or auto: dense when it fits the memory budget.
    #[arg(long, value_parser = crate::choice::<ReferenceArg>(), default_value_t = ReferenceArg::Auto)]
    reference: ReferenceArg,
    /// Inputs the exact Fisher and every approximation are evaluated on: a random subset of
    /// this many, drawn with --seed (default: all of them with a dense reference, 256 with a
    /// matrix-free one). Training and the gradient use all the inputs.
    #[arg(long, value_name = "N")]
    fisher_inputs: Option<usize>,
    /// Matrix-free reference: Rademacher probes of the Frobenius estimate.
    #[arg(long, default_value_t = Probes::DEFAULT.probes)]
    probes: usize,
    /// Matrix-free reference: probes of the log-determinant's stochastic Lanczos quadrature.
    #[arg(long, default_value_t = Probes::DEFAULT.slq_probes)]
    slq_probes: usize,
    /// Matrix-free reference: Lanczos steps per quadrature probe.
    #[arg(long, default_value_t = Probes::DEFAULT.slq_steps)]
    slq_steps: usize,
    /// Matrix-free reference: most Lanczos steps of a spectral norm or spectrum, and most CG
    /// iterations of the natural-gradient direction.
    #[arg(long, default_value_t = Probes::DEFAULT.krylov_steps)]
    krylov_steps: usize,
    /// Layer whose Fisher block the heatmaps show (0-based; default: the last layer with a
    /// dense reference, the smallest with a matrix-free one).
    #[arg(long)]
    block: Option<usize>,
    /// Output folder (replaced as a whole when it holds an earlier comparison).
    #[arg(long, value_name = "DIR", default_value = "fisherlab-out")]
    out: PathBuf,
    /// Print the comparison as JSON instead of the tables.
    #[arg(long)]
    json: bool,
    /// No progress bars and no tables (with --json, the JSON only).
    #[arg(long)]
    quiet: bool,
    /// Tune each optimizer of the training panel here (train --tune's grid, one seed) instead
    /// of using the settings shipped for the default problem or the per-optimizer defaults.
    #[arg(long)]
    tune: bool,
    #[command(flatten)]
    hyper: OptimizerFlags,
}

impl CompareArgs {
    /// The matrix-free reference's probes and iterations.
    fn probes(&self) -> Probes {
        Probes {
            probes: self.probes,
            slq_probes: self.slq_probes,
            slq_steps: self.slq_steps,
            krylov_steps: self.krylov_steps,
        }
    }
}

/// The training panel without --optimizers, with a dense reference.
const DENSE_OPTIMIZERS: [OptimizerArg; 6] = [
    OptimizerArg::Sgd,
    OptimizerArg::Adam,
    OptimizerArg::Diag,
    OptimizerArg::Kfac,
    OptimizerArg::Ekfac,
    OptimizerArg::Hf,
];

/// Inputs of the matrix-free reference's Fisher without --fisher-inputs.
const MATRIX_FREE_INPUTS: usize = 256;

/// Settings tuned by `fisherlab train --tune` (the DeepOBS protocol, 3 seeds) for the default
/// problem of each embedded dataset, written by the command recorded in each file: the training
/// panel uses them when the comparison is that problem. `tests/compare.rs` re-runs the tuning
/// and checks the chosen settings are these.
const SHIPPED: [(&str, &str); 1] = [(
    "data/tuned/digits.json",
    include_str!("../../data/tuned/digits.json"),
)];

/// Where the training panel's learning rate and damping came from.
struct Settings {
    per_optimizer: Vec<(OptimizerArg, OptimizerOptions)>,
    source: Vec<String>,
}

/// The shipped tuning of this problem, if there is one: same dataset, network, head, steps,
/// batch, seeds, initialisation, and every other optimizer option at its default.
fn shipped_for(
    args: &CompareArgs,
    dataset: Option<&str>,
    arch: Option<&str>,
) -> Option<(&'static str, Value)> {
    if args.weights.is_some()
        || args.net.model.is_some()
        || args.sigma.is_some()
        || args.hyper.options() != OptimizerOptions::default()
    {
        return None;
    }
    SHIPPED.iter().find_map(|(path, text)| {
        let t: Value = serde_json::from_str(text).ok()?;
        let same = t["dataset"].as_str() == dataset
            && t["arch"].as_str() == arch
            && t["activation"].as_str() == Some(args.net.activation.as_str())
            && args
                .likelihood
                .as_deref()
                .is_none_or(|l| t["likelihood"].as_str() == Some(l))
            && t["steps"].as_u64() == Some(args.steps as u64)
            && t["batch"].as_u64() == Some(args.batch as u64)
            && t["seed"].as_u64() == Some(args.seed)
            && t["init_seed"].as_u64() == Some(args.init_seed);
        same.then_some((*path, t))
    })
}

/// The options each optimizer of the panel trains with.
fn panel_settings(
    args: &CompareArgs,
    dataset: Option<&str>,
    arch: Option<&str>,
    tuning: Option<&crate::tune::Problem<'_>>,
) -> Result<Settings, CliError> {
    let mut per_optimizer = Vec::new();
    let mut source = Vec::new();
    let shipped = shipped_for(args, dataset, arch);
    let hyper = args.hyper.options();
    for &which in args.optimizers.as_deref().unwrap_or(&DENSE_OPTIMIZERS) {
        let mut h = hyper.clone();
        let chosen = if let Some(problem) = tuning {
            let settings = crate::tune::grid(which, &[], &[]);
            let t = crate::tune::tune(problem, &hyper, which, &settings, args.quiet)?;
            t.chosen.map(|c| {
                (
                    c.lr,
                    c.damping,
                    "tuned here (train --tune grid, 1 seed)".to_string(),
                )
            })
        } else {
            shipped.as_ref().and_then(|(path, t)| {
                let row = t["optimizers"]
                    .as_array()?
                    .iter()
                    .find(|r| r["optimizer"] == which.name())?;
                let lr = row["chosen"]["lr"].as_f64()?;
                Some((
                    lr,
                    row["chosen"]["damping"].as_f64(),
                    format!("tuned (shipped, {path})"),
                ))
            })
        };
        let src = match chosen {
            Some((lr, damping, src)) => {
                h.lr = Some(lr);
                if damping.is_some() {
                    h.damping = damping;
                }
                src
            }
            None if args.hyper.lr.is_some() || args.hyper.damping.is_some() => "given".into(),
            None => "defaults".into(),
        };
        per_optimizer.push((which, h));
        source.push(src);
    }
    Ok(Settings {
        per_optimizer,
        source,
    })
}

/// Run the command.
pub fn run(args: &CompareArgs) -> Result<String, CliError> {
    let started = Instant::now();
    let mut args = args.clone();
    args.hyper.options().check()?;
    checks::at_least(
        1,
        &[
            ("steps", args.steps),
            ("batch", args.batch),
            ("eval-every", args.eval_every),
            ("rank", args.rank),
            ("fisher-inputs", args.fisher_inputs.unwrap_or(1)),
        ],
    )?;
    args.probes().check()?;
    checks::positive(&[("lambda", Some(args.lambda)), ("sigma", args.sigma)])?;
    io::check_output_folder(&args.out, "comparison.json")?;

    // data and model
    let (dataset, x, y, shape) = match (&args.dataset, &args.inputs, &args.targets) {
        (_, Some(xp), Some(yp)) => {
            let (x, shape) = io::read_inputs(xp)?;
            (None, x, io::read_matrix(yp, "targets")?, shape)
        }
        (name, _, _) => {
            let name = name.as_deref().unwrap_or("digits");
            let (x, y) = data::load(name)?;
            let d = data::dataset(name)?;
            (Some(d), x, y, d.shape.to_vec())
        }
    };
    let built = args.net.build(&shape, dataset.map(|d| d.compare_arch))?;
    let mut net = built.net;
    let theta0 = match &args.weights {
        Some(p) => io::load_weights(p, &mut net)?,
        None => io::default_init(&net, args.init_seed),
    };
    let likelihood = args
        .likelihood
        .clone()
        .or(dataset.map(|d| d.likelihood.to_string()))
        .ok_or_else(|| CliError::Input("--likelihood is required with --inputs".into()))?;
    let head = fisherlab_app::head(&likelihood, args.sigma)?;
    let model = Model::new(net.clone(), head)?;
    let layers = net.taps().len();
    if let Some(b) = args.block.filter(|&b| b >= layers) {
        return Err(CliError::Input(format!(
            "--block {b} is invalid: the network has parameterised layers 0..={}",
            layers - 1
        )));
    }
    if let Some(n) = args.fisher_inputs.filter(|&n| n > x.nrows()) {
        return Err(CliError::Input(format!(
            "--fisher-inputs {n} is invalid: the data have {} inputs",
            x.nrows()
        )));
    }
    Problem::new(&model, &theta0, x.as_ref())?.with_targets(y.as_ref())?;

    // which reference: before training, does the dense comparison fit the memory budget?
    let shared = net.taps().iter().any(|t| t.locations() > 1);
    let dense_inputs = args.fisher_inputs.unwrap_or(x.nrows());
    let (xd, yd) = subset(x.as_ref(), y.as_ref(), dense_inputs, args.seed);
    let dense_plan = |entries: &[CatalogueEntry]| {
        memory_plan(
            entries,
            &Problem::new(&model, &theta0, xd.as_ref())?.with_targets(yd.as_ref())?,
        )
    };
    let matrix_free = match args.reference {
        ReferenceArg::Dense => {
            dense_plan(&selected(&args, shared, false)?)?;
            false
        }
        ReferenceArg::MatrixFree => true,
        ReferenceArg::Auto => dense_plan(&selected(&args, shared, false)?).is_err(),
    };
    if matrix_free && args.spectrum.0.is_none() {
        return Err(CliError::Input(
            "--spectrum all is invalid with a matrix-free reference: give a count (Lanczos)".into(),
        ));
    }
    let entries = selected(&args, shared, matrix_free)?;
    if args.optimizers.is_none() {
        args.optimizers = Some(if matrix_free {
            vec![OptimizerArg::Adam]
        } else {
            DENSE_OPTIMIZERS.to_vec()
        });
    }
    let optimizers = args.optimizers.clone().unwrap_or_default();
    let fisher_at = args.fisher_at.unwrap_or(optimizers[0]);
    if args.weights.is_none() && !optimizers.contains(&fisher_at) {
        return Err(CliError::Input(format!(
            "--fisher-at {} is invalid: it must be one of --optimizers",
            fisher_at.name()
        )));
    }
    let fisher_inputs = args.fisher_inputs.unwrap_or(if matrix_free {
        MATRIX_FREE_INPUTS.min(x.nrows())
    } else {
        x.nrows()
    });
    let (xf, yf) = subset(x.as_ref(), y.as_ref(), fisher_inputs, args.seed);
    let block_layer = args.block.unwrap_or_else(|| {
        if matrix_free {
            // the smallest layer: its block is materialised on its own
            (0..layers)
                .min_by_key(|&l| net.taps()[l].num_params())
                .unwrap_or(0)
        } else {
            layers - 1
        }
    });

    // 1. training curves, and the weights the Fisher is evaluated at
    let clock = Instant::now();
    let opts = TrainOptions {
        steps: args.steps,
        batch: args.batch,
        seed: args.seed,
        eval_every: Some(args.eval_every),
    };
    let init = |_: u64| theta0.clone();
    let tuning = crate::tune::Problem {
        model: &model,
        x: x.as_ref(),
        y: y.as_ref(),
        theta0: &init,
        opts,
        seeds: 1,
    };
    let settings = panel_settings(
        &args,
        dataset.map(|d| d.name),
        built.arch.as_deref(),
        args.tune.then_some(&tuning),
    )?;
    let mut outcomes = Vec::new();
    for (which, h) in &settings.per_optimizer {
        outcomes.extend(train::train_all(
            &model,
            &theta0,
            x.as_ref(),
            y.as_ref(),
            &[*which],
            h,
            &opts,
            args.quiet,
        )?);
    }
    let theta = match &args.weights {
        Some(_) => theta0.clone(),
        None => {
            let o = outcomes
                .iter()
                .find(|o| o.name == fisher_at.name())
                .ok_or_else(|| CliError::Failed("no run to evaluate the Fisher at".into()))?;
            if let Some(e) = &o.error {
                return Err(CliError::Failed(format!(
                    "training with {} (--fisher-at) failed: {e}",
                    o.name
                )));
            }
            o.theta.clone()
        }
    };
    let initial_loss = mean_nll(&model, &theta0, x.as_ref(), y.as_ref())?;
    let training_seconds = clock.elapsed().as_secs_f64();

    // 2. exact Fisher and every approximation at θ, on the Fisher's inputs
    let problem = Problem::new(&model, &theta, xf.as_ref())?.with_targets(yf.as_ref())?;
    let (loss, gradient) = mean_nll_gradient(&model, &theta, x.as_ref(), y.as_ref())?;
    let setting = Setting {
        problem: &problem,
        gradient: &gradient,
        entries: &entries,
        block_layer,
        args: &args,
    };
    let measured = if matrix_free {
        compare_matrix_free(&setting)?
    } else {
        compare_dense(&setting)?
    };
    let Measured {
        rows,
        spectra,
        blocks,
        metrics_seconds,
        reference,
    } = measured;

    let block_range = net.taps()[block_layer].range();
    let (w_off, block_size) = (block_range.start, block_range.len());
    let summary = json!({
        "dataset": dataset.map(|d| d.name),
        "inputs": x.nrows(),
        "fisher_inputs": fisher_inputs,
        "arch": built.arch,
        "activation": built.arch.as_ref().map(|_| args.net.activation.clone()),
        "model": args.net.model.as_ref().map(|p| p.display().to_string()),
        "network": net.to_string(),
        "input_shape": net.input_shape(),
        "likelihood": head.name(),
        "parameters": net.num_params(),
        "weights": args.weights.as_ref().map(|p| p.display().to_string()),
        "fisher_at": if args.weights.is_some() { Value::Null } else { Value::from(fisher_at.name()) },
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "init_seed": args.init_seed,
        "training_settings": settings.per_optimizer.iter().zip(&settings.source).map(|((w, h), src)| json!({
            "optimizer": w.name(),
            "lr": h.lr.unwrap_or(w.lr()),
            "damping": h.damping,
            "source": src,
        })).collect::<Vec<_>>(),
        "lambda": args.lambda,
        "rank": args.rank,
        "loss": loss,
        "gradient_norm": gradient.iter().map(|v| v * v).sum::<f64>().sqrt(),
        "reference": reference,
        "block": {
            "layer": block_layer,
            "first_parameter": w_off,
            "size": block_size,
        },
    });
    let tap = &net.taps()[block_layer];
    let (o, i) = (tap.out(), tap.inp());
    let block_title = format!(
        "Fisher block of layer {block_layer} (module {}: {o}×{i} weights row-major{}: {block_size} parameters) of {}, signed log colour scale",
        tap.name,
        if tap.bias() {
            format!(", then {o} biases")
        } else {
            String::new()
        },
        net
    );
    let results = Results {
        summary,
        rows,
        outcomes,
        initial_loss,
        spectra,
        blocks,
        block_title,
    };
    let mut report = report_json(&results);
    report["provenance"] = crate::provenance::record("compare", &args);
    report["provenance"]["optimizers"] = train::optimizer_settings(&results.outcomes);
    report["seconds"] = json!({
        "training": training_seconds,
        "builds": results.rows.iter().map(|r| r.build_seconds).sum::<f64>(),
        "solves": results.rows.iter().map(|r| r.solve_seconds).filter(|t| t.is_finite()).sum::<f64>(),
        "metrics": metrics_seconds,
    });
    io::write_folder(&args.out, "comparison.json", |dir| {
        write_outputs(dir, &results, &mut report, started)
    })?;
    let failures = train::failures(&results.outcomes);
    let done = |text: String| {
        if failures.is_empty() {
            Ok(text)
        } else {
            print!("{text}");
            Err(CliError::Failed(failures.clone()))
        }
    };
    if args.json {
        return done(
            serde_json::to_string_pretty(&report)
                .map(|s| s + "\n")
                .map_err(|e| CliError::Failed(e.to_string()))?,
        );
    }
    if args.quiet {
        return done(String::new());
    }
    let mut text =
        format!(
            "{} inputs, {}, P = {}, Fisher at {} (loss {}), λ = {}\n",
            x.nrows(),
            describe(&results.summary),
            net.num_params(),
            results.summary["fisher_at"].as_str().map_or(
                "the given weights".to_string(),
                |n| format!("{n} after {} steps", args.steps)
            ),
            format::short(loss),
            args.lambda,
        );
    text += &reference_line(&results.summary);
    text.push('\n');
    text += &comparison_table(&results.rows);
    text += &estimator_notes(&results);
    text.push('\n');
    let (headers, body) = training_rows(&results.outcomes, &results.summary);
    text += &format::table(&headers, &body);
    let _ = writeln!(
        text,
        "\nwrote {}/ ({})",
        args.out.display(),
        FILES.join(", ")
    );
    done(text)
}

/// The catalogue entries asked for by --approximations, in catalogue order; by default those
/// that apply: the -reduce variants only for a network with layers `shared` over locations,
/// and with a `matrix_free` reference only those that scale.
fn selected(
    args: &CompareArgs,
    shared: bool,
    matrix_free: bool,
) -> Result<Vec<CatalogueEntry>, CliError> {
    let all = catalogue(&CatalogueOptions {
        rank: args.rank,
        seed: args.seed,
    });
    let Some(names) = &args.approximations else {
        return Ok(all
            .into_iter()
            .filter(|e| (shared || !e.shared_layers_only) && (e.scales || !matrix_free))
            .collect());
    };
    for n in names {
        if !all.iter().any(|e| e.name == n) {
            return Err(CliError::Input(format!(
                "unknown approximation `{n}` (known: {})",
                all.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|e| names.iter().any(|n| n == e.name))
        .collect())
}

/// Refuse, before anything is trained or built, a comparison whose peak does not fit the
/// memory budget: the dense exact Fisher and its spectrum's workspace (2 P²) held while the
/// largest approximation is built and densified for the metrics (P² more).
fn memory_plan(entries: &[CatalogueEntry], problem: &Problem<'_>) -> Result<(), CliError> {
    use fisherlab_linalg::memory::{dense_copies_bytes, reserve};
    let p = problem.model().num_params();
    let dense = dense_copies_bytes(3, p, p);
    let largest = entries
        .iter()
        .map(|e| e.approximation.memory_bytes(problem))
        .try_fold(0u64, |m, b| Some(m.max(b?)));
    let need = DenseFisher::new(Labels::Type2)
        .memory_bytes(problem)
        .zip(dense)
        .and_then(|(exact, d)| exact.checked_add(d)?.checked_add(largest?));
    reserve(
        format!("compare at P = {p} (the dense exact Fisher, its spectrum and the largest approximation at once)"),
        need,
    )
    .map_err(|m| crate::budget::compare_refusal("", &m, problem))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: CompareArgs,
    }

    #[test]
    fn the_help_lists_exactly_the_catalogue() {
        let cmd = Wrapper::command();
        let help = cmd
            .get_arguments()
            .find(|a| a.get_id() == "approximations")
            .and_then(|a| a.get_help())
            .map(|h| h.to_string())
            .unwrap();
        let listed: Vec<String> = help
            .rsplit_once("): ")
            .unwrap()
            .1
            .trim_end_matches('.')
            .split(", ")
            .map(|s| s.trim().to_string())
            .collect();
        let names: Vec<String> = catalogue(&CatalogueOptions::default())
            .iter()
            .map(|e| e.name.to_string())
            .collect();
        assert_eq!(listed, names);
    }

    #[test]
    fn the_csv_quotes_text_and_leaves_missing_values_empty() {
        let row = Row {
            name: "exact".into(),
            about: "the \"reference\", dense".into(),
            build_seconds: 0.5,
            solve_seconds: 0.25,
            memory: Usage {
                peak: 2_000_000,
                kept: 1_000_000,
            },
            metrics: None,
            estimated: false,
        };
        let text = csv(&[row]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("approximation,about,build_seconds,solve_seconds,peak_memory_mb")
        );
        assert!(
            lines[1].starts_with("\"exact\",\"the \"\"reference\"\", dense\",0.5,0.25,2.0,1.0,")
        );
        assert!(lines[1].ends_with(",,,"));
    }
}
