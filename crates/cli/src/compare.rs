//! `fisherlab compare`: on real data, the exact Fisher of a (briefly trained) network next to
//! every approximation of the catalogue — how close, how fast, how much memory — and what the
//! optimizers built on them do, as a table and as an output folder of JSON, CSV, figures and a
//! self-contained `index.html`.

use crate::checks::Spectrum;
use crate::net::NetArgs;
use crate::train::{self, OptimizerArg, OptimizerOptions, Outcome};
use crate::{CliError, checks, data, format, io, plots};
use base64::Engine;
use clap::Args;
use faer::{Mat, MatRef};
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::curvature::{
    Approximation, BlockDiagonalFisher, CatalogueEntry, CatalogueOptions, DenseFisher, GramFisher,
    Labels, MatrixFreeFisher, Problem, catalogue,
};
use fisherlab_fisher::heap::{Usage, measure};
use fisherlab_fisher::metrics::{
    CompareOptions, Comparison, Estimate, MatrixFreeComparison, MatrixFreeOptions,
    MatrixFreeReference, Reference,
};
use fisherlab_fisher::model::{Model, mean_nll, mean_nll_gradient};
use fisherlab_linalg::CurvatureOperator;
use fisherlab_optim::TrainOptions;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const EXAMPLES: &str = "Examples:
  fisherlab compare                                    # digits, MLP 64-32-10, every approximation
  fisherlab compare --dataset diabetes --out diabetes-out
  fisherlab compare --approximations kfac,ekfac,diag --optimizers sgd,kfac --steps 300
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
    #[arg(long, value_enum, value_delimiter = ',')]
    optimizers: Option<Vec<OptimizerArg>>,
    /// Whose trained weights the Fisher is evaluated at (default: the first of --optimizers).
    #[arg(long, value_enum)]
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
    #[arg(long, value_enum, default_value = "auto")]
    reference: ReferenceArg,
    /// Inputs the exact Fisher and every approximation are evaluated on: a random subset of
    /// this many, drawn with --seed (default: all of them with a dense reference, 256 with a
    /// matrix-free one). Training and the gradient use all the inputs.
    #[arg(long, value_name = "N")]
    fisher_inputs: Option<usize>,
    /// Matrix-free reference: Rademacher probes of the Frobenius estimate.
    #[arg(long, default_value_t = 32)]
    probes: usize,
    /// Matrix-free reference: probes of the log-determinant's stochastic Lanczos quadrature.
    #[arg(long, default_value_t = 16)]
    slq_probes: usize,
    /// Matrix-free reference: Lanczos steps per quadrature probe.
    #[arg(long, default_value_t = 30)]
    slq_steps: usize,
    /// Matrix-free reference: most Lanczos steps of a spectral norm or spectrum, and most CG
    /// iterations of the natural-gradient direction.
    #[arg(long, default_value_t = 300)]
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
    hyper: OptimizerOptions,
}

/// Which exact Fisher `compare` measures against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceArg {
    /// Dense when it fits the memory budget, matrix-free otherwise.
    Auto,
    /// The dense exact Fisher.
    Dense,
    /// Exact Fisher-vector products only.
    MatrixFree,
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

/// Relative tolerance of the matrix-free reference's Lanczos runs (Ritz residuals) and CG
/// (residual): what each estimate's bound is made of.
const KRYLOV_TOL: f64 = 1e-4;

/// Inputs of the matrix-free reference's Fisher without --fisher-inputs.
const MATRIX_FREE_INPUTS: usize = 256;

/// Settings tuned by `fisherlab train --tune` (the DeepOBS protocol, 3 seeds) for the default
/// problem of each embedded dataset, written by the command recorded in each file: the training
/// panel uses them when the comparison is that problem. `tests/compare.rs` re-runs the tuning
/// and checks the chosen settings are these.
const SHIPPED: [(&str, &str); 1] = [(
    "data/tuned/digits.json",
    include_str!("../data/tuned/digits.json"),
)];

/// Where the training panel's learning rate and damping came from.
struct Settings {
    per_optimizer: Vec<(OptimizerArg, OptimizerOptions)>,
    source: Vec<String>,
}

/// The hyper-parameters as clap gives them when no flag is set.
fn default_hyper() -> Option<OptimizerOptions> {
    #[derive(clap::Parser)]
    struct Only {
        #[command(flatten)]
        hyper: OptimizerOptions,
    }
    <Only as clap::Parser>::try_parse_from(["compare"])
        .ok()
        .map(|o| o.hyper)
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
        || default_hyper().is_none_or(|d| format!("{:?}", args.hyper) != format!("{d:?}"))
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
    for &which in args.optimizers.as_deref().unwrap_or(&DENSE_OPTIMIZERS) {
        let mut h = args.hyper.clone();
        let chosen = if let Some(problem) = tuning {
            let settings = crate::tune::grid(which, &[], &[]);
            let t = crate::tune::tune(problem, &args.hyper, which, &settings, args.quiet)?;
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

/// What one approximation was measured to be: exactly against the dense Fisher, or estimated
/// from products.
enum Metrics {
    Dense(Comparison),
    Free(Box<MatrixFreeComparison>),
}

/// The metrics that a matrix-free reference estimates, with their JSON keys.
const ESTIMATED: [&str; 5] = [
    "rel_frobenius",
    "rel_spectral",
    "ngd_cosine",
    "ngd_rel_error",
    "logdet_difference",
];

/// One row of the comparison: an approximation (or the exact reference) with its costs and
/// its metrics.
struct Row {
    name: String,
    about: String,
    build_seconds: f64,
    solve_seconds: f64,
    memory: Usage,
    metrics: Option<Metrics>,
    /// Whether the metrics are estimates (a matrix-free reference): the JSON then carries each
    /// one's uncertainty, estimator, products and failure.
    estimated: bool,
}

impl Row {
    fn json(&self) -> Value {
        let mb = |b: usize| b as f64 / 1e6;
        let mut j = json!({
            "approximation": self.name,
            "about": self.about,
            "build_seconds": self.build_seconds,
            "solve_seconds": self.solve_seconds,
            "peak_memory_mb": mb(self.memory.peak),
            "kept_memory_mb": mb(self.memory.kept),
        });
        let (values, estimates): (Vec<Option<f64>>, Vec<Option<&Estimate>>) = match &self.metrics {
            None => (vec![None; 9], vec![None; 5]),
            Some(Metrics::Dense(c)) => (
                vec![
                    Some(c.rel_frobenius),
                    Some(c.rel_spectral),
                    c.ngd_cosine,
                    c.ngd_rel_error,
                    c.quad_ratio_gradient,
                    Some(c.quad_ratio_random.mean),
                    Some(c.quad_ratio_random.min),
                    Some(c.quad_ratio_random.max),
                    Some(c.logdet_difference),
                ],
                vec![None; 5],
            ),
            Some(Metrics::Free(c)) => (
                vec![
                    c.rel_frobenius.converged(),
                    c.rel_spectral.converged(),
                    c.ngd_cosine.as_ref().and_then(Estimate::converged),
                    c.ngd_rel_error.as_ref().and_then(Estimate::converged),
                    c.quad_ratio_gradient,
                    Some(c.quad_ratio_random.mean),
                    Some(c.quad_ratio_random.min),
                    Some(c.quad_ratio_random.max),
                    c.logdet_difference.converged(),
                ],
                vec![
                    Some(&c.rel_frobenius),
                    Some(&c.rel_spectral),
                    c.ngd_cosine.as_ref(),
                    c.ngd_rel_error.as_ref(),
                    Some(&c.logdet_difference),
                ],
            ),
        };
        let keys = [
            "rel_frobenius",
            "rel_spectral",
            "ngd_cosine",
            "ngd_rel_error",
            "quad_ratio_gradient",
            "quad_ratio_random_mean",
            "quad_ratio_random_min",
            "quad_ratio_random_max",
            "logdet_difference",
        ];
        for (k, v) in keys.iter().zip(values) {
            j[*k] = json!(v);
        }
        if self.estimated {
            for (k, e) in ESTIMATED.iter().zip(estimates) {
                j[format!("{k}_uncertainty")] =
                    json!(e.and_then(|e| e.converged().map(|_| e.uncertainty)));
                j[format!("{k}_estimator")] = json!(e.map(|e| e.estimator.clone()));
                j[format!("{k}_products")] = json!(e.map(|e| e.products));
                j[format!("{k}_failure")] = json!(e.and_then(|e| e.failure.clone()));
            }
            j["products"] = json!(match &self.metrics {
                Some(Metrics::Free(c)) => Some(c.products),
                _ => None,
            });
        }
        j
    }

    /// A table cell: the value, with `± uncertainty` when it is an estimate, or why it is
    /// missing.
    fn cell(j: &Value, key: &str) -> String {
        let value = format::cell(&j[key]);
        if let Some(u) = j[format!("{key}_uncertainty")].as_f64() {
            return format!("{value} ± {}", format::short(u));
        }
        if j[format!("{key}_failure")].is_string() {
            return "no convergence".into();
        }
        value
    }
}

/// The columns of the printed and HTML tables: header and JSON key.
const COLUMNS: [(&str, &str); 11] = [
    ("approximation", "approximation"),
    ("build s", "build_seconds"),
    ("solve s", "solve_seconds"),
    ("peak MB", "peak_memory_mb"),
    ("kept MB", "kept_memory_mb"),
    ("rel Frob", "rel_frobenius"),
    ("rel spec", "rel_spectral"),
    ("NGD cos", "ngd_cosine"),
    ("NGD rel err", "ngd_rel_error"),
    ("quad ratio g", "quad_ratio_gradient"),
    ("Δ logdet", "logdet_difference"),
];

/// A relative error below this is rounding, not approximation: the route is exact, and the
/// error-against-cost figure marks it on its bottom edge instead of stretching its axis to it.
const EXACT_ERROR: f64 = 1e-9;

/// The approximations shown next to the exact block in the heatmaps, with their titles.
const HEATMAPS: [(&str, &str); 3] = [
    ("kfac", "K-FAC (type-2)"),
    ("ekfac", "EKFAC"),
    ("diag", "diagonal"),
];

/// Everything the command computed, before anything is written.
struct Results {
    summary: Value,
    rows: Vec<Row>,
    outcomes: Vec<Outcome>,
    initial_loss: f64,
    spectra: Vec<(String, Vec<f64>)>,
    blocks: Vec<(String, Mat<f64>)>,
    block_title: String,
}

/// Run the command.
pub fn run(args: &CompareArgs) -> Result<String, CliError> {
    let started = Instant::now();
    let mut args = args.clone();
    train::check_options(&args.hyper)?;
    checks::at_least(
        1,
        &[
            ("steps", args.steps),
            ("batch", args.batch),
            ("eval-every", args.eval_every),
            ("rank", args.rank),
            ("slq-steps", args.slq_steps),
            ("krylov-steps", args.krylov_steps),
            ("fisher-inputs", args.fisher_inputs.unwrap_or(1)),
        ],
    )?;
    checks::at_least(
        2,
        &[("probes", args.probes), ("slq-probes", args.slq_probes)],
    )?;
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
    let head = Head::from_name(&likelihood, args.sigma)?;
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

/// What the second phase needs: the problem on the Fisher's inputs, the full-data gradient,
/// the approximations, and the options.
struct Setting<'a> {
    problem: &'a Problem<'a>,
    gradient: &'a [f64],
    entries: &'a [CatalogueEntry],
    block_layer: usize,
    args: &'a CompareArgs,
}

/// What the second phase measured.
struct Measured {
    rows: Vec<Row>,
    spectra: Vec<(String, Vec<f64>)>,
    blocks: Vec<(String, Mat<f64>)>,
    metrics_seconds: f64,
    /// How the reference was made (route, products, options, skipped approximations).
    reference: Value,
}

/// The heatmaps' blocks: the exact one first, then those of [`HEATMAPS`] that were built.
fn heatmap_blocks(exact: Mat<f64>, heat: [Option<Mat<f64>>; 3]) -> Vec<(String, Mat<f64>)> {
    std::iter::once(("exact".to_string(), exact))
        .chain(
            HEATMAPS
                .iter()
                .zip(heat)
                .filter_map(|((_, title), b)| b.map(|b| (title.to_string(), b))),
        )
        .collect()
}

/// Against the dense exact Fisher: every metric exact.
fn compare_dense(s: &Setting<'_>) -> Result<Measured, CliError> {
    let (problem, args) = (s.problem, s.args);
    let g = Mat::from_fn(s.gradient.len(), 1, |i, _| s.gradient[i]);
    let bar = train::progress(s.entries.len() + 1, "fisher", args.quiet)?;
    bar.set_message("exact");
    let exact_route = DenseFisher::new(Labels::Expected);
    let (exact, exact_row) = timed_build(
        "exact",
        "the exact Fisher (reference)",
        &exact_route,
        problem,
        args.lambda,
        g.as_ref(),
        None,
    )?;
    let mut metrics_seconds = 0.0;
    let clock = Instant::now();
    let reference = Reference::new(
        exact.as_ref(),
        &CompareOptions {
            lambda: args.lambda,
            gradient: Some(s.gradient.to_vec()),
            random_directions: 16,
            seed: args.seed,
            spectrum: args.spectrum.0,
        },
    )?;
    metrics_seconds += clock.elapsed().as_secs_f64();
    bar.inc(1);
    let block_range = problem.model().net().taps()[s.block_layer].range();
    let (w_off, block_size) = (block_range.start, block_range.len());
    let mut heat: [Option<Mat<f64>>; 3] = [None, None, None];
    let exact_block = block(exact.as_ref(), w_off, block_size)?;
    let mut spectra = vec![("exact".to_string(), descending(reference.spectrum()))];
    let mut rows = vec![exact_row];
    for entry in s.entries {
        bar.set_message(entry.name);
        let (op, mut row) = timed_build(
            entry.name,
            entry.about,
            entry.approximation.as_ref(),
            problem,
            args.lambda,
            g.as_ref(),
            None,
        )?;
        let clock = Instant::now();
        let c = reference.compare(op.as_ref())?;
        metrics_seconds += clock.elapsed().as_secs_f64();
        spectra.push((entry.name.to_string(), descending(&c.spectrum_approx)));
        row.metrics = Some(Metrics::Dense(c));
        if let Some(k) = HEATMAPS.iter().position(|(n, _)| *n == entry.name) {
            heat[k] = Some(block(op.as_ref(), w_off, block_size)?);
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Measured {
        rows,
        spectra,
        blocks: heatmap_blocks(exact_block, heat),
        metrics_seconds,
        reference: json!({
            "route": "dense",
            "about": "the exact Fisher formed (Kronecker fast path); every metric exact",
            "skipped": [],
        }),
    })
}

/// Against exact Fisher-vector products only: every metric estimated, with its uncertainty.
/// The products go through the Gram factor when it fits the memory budget, else through
/// forward-mode and backward passes; an approximation that does not fit is skipped and listed.
fn compare_matrix_free(s: &Setting<'_>) -> Result<Measured, CliError> {
    use fisherlab_linalg::memory::reserve;
    let (problem, args) = (s.problem, s.args);
    let p = problem.model().num_params();
    let g = Mat::from_fn(p, 1, |i, _| s.gradient[i]);
    let bar = train::progress(s.entries.len() + 1, "fisher", args.quiet)?;
    bar.set_message("exact products");
    let gram = reserve("the Gram factor", GramFisher.memory_bytes(problem)).is_ok();
    let (route, route_about): (&dyn Approximation, &str) = if gram {
        (
            &GramFisher,
            "exact Fisher-vector products through the Gram factor F = UᵀU/N of the rows Lₙᵀ Jₙ (N·C × P)",
        )
    } else {
        (
            &MatrixFreeFisher,
            "exact Fisher-vector products by forward-mode and backward passes (the Gram factor does not fit the memory budget)",
        )
    };
    let start = Instant::now();
    let (exact, memory) = measure(|| route.build(problem));
    let build_seconds = start.elapsed().as_secs_f64();
    let exact = exact.map_err(|e| crate::budget::explain(e, problem))?;
    let exact_row = Row {
        name: "exact".into(),
        about: "the exact Fisher as products (reference), solves by CG: the matrix-free approximation itself".into(),
        build_seconds,
        // its CG runs beside the other iterations of the reference: see `reference`
        solve_seconds: f64::NAN,
        memory,
        metrics: None,
        estimated: true,
    };
    let options = MatrixFreeOptions {
        lambda: args.lambda,
        gradient: Some(s.gradient.to_vec()),
        random_directions: 16,
        seed: args.seed,
        frobenius_probes: args.probes,
        slq_probes: args.slq_probes,
        slq_steps: args.slq_steps,
        lanczos: fisherlab_linalg::LanczosOptions {
            tol: KRYLOV_TOL,
            max_steps: args.krylov_steps,
            scale: 0.0,
        },
        spectrum: args.spectrum.0.unwrap_or(1).min(p),
        cg: fisherlab_linalg::CgOptions {
            tol: KRYLOV_TOL,
            max_iter: args.krylov_steps,
            truncated: true,
        },
    };
    let clock = Instant::now();
    let (reference, reference_memory) =
        measure(|| MatrixFreeReference::new(exact.as_ref(), &options));
    let reference = reference?;
    let reference_seconds = clock.elapsed().as_secs_f64();
    bar.inc(1);

    let layer = s.block_layer;
    let block_range = problem.model().net().taps()[layer].range();
    let (w_off, block_size) = (block_range.start, block_range.len());
    let clock = Instant::now();
    let exact_block = BlockDiagonalFisher::new(Labels::Expected)
        .block(problem, layer)
        .map_err(|e| crate::budget::explain(e, problem))?;
    let block_seconds = clock.elapsed().as_secs_f64();

    // every approximation that fits, built; then all compared at once (their products with
    // the exact Fisher batched)
    let mut built: Vec<(Box<dyn CurvatureOperator>, Row)> = Vec::new();
    let mut skipped = Vec::new();
    for entry in s.entries {
        bar.set_message(entry.name);
        if entry.name == "matrix-free" {
            skipped.push(json!({"approximation": entry.name, "reason": "the reference itself (exact products, CG solves): its row is `exact`"}));
            bar.inc(1);
            continue;
        }
        let need = entry.approximation.memory_bytes(problem);
        if let Err(e) = reserve(format!("{} at P = {p}", entry.name), need) {
            skipped.push(json!({"approximation": entry.name, "reason": e.to_string()}));
            bar.inc(1);
            continue;
        }
        // the exact products at hand serve the routes that need some (randomized low rank)
        built.push(timed_build(
            entry.name,
            entry.about,
            entry.approximation.as_ref(),
            problem,
            args.lambda,
            g.as_ref(),
            Some(exact.as_ref()),
        )?);
        bar.inc(1);
    }
    bar.set_message("metrics");
    let clock = Instant::now();
    let ops: Vec<&dyn CurvatureOperator> = built.iter().map(|(op, _)| op.as_ref()).collect();
    let compared = reference.compare_many(&ops)?;
    let compare_seconds = clock.elapsed().as_secs_f64();
    let metrics_seconds = reference_seconds + compare_seconds;
    let mut heat: [Option<Mat<f64>>; 3] = [None, None, None];
    let mut spectra = vec![("exact".to_string(), descending(reference.spectrum()))];
    let mut rows = vec![exact_row];
    for ((op, mut row), c) in built.into_iter().zip(compared) {
        spectra.push((row.name.clone(), descending(&c.spectrum_approx)));
        if let Some(k) = HEATMAPS.iter().position(|(n, _)| *n == row.name) {
            heat[k] = Some(block(op.as_ref(), w_off, block_size)?);
        }
        row.metrics = Some(Metrics::Free(Box::new(c)));
        row.estimated = true;
        rows.push(row);
    }
    bar.finish_and_clear();
    let reference = json!({
        "route": "matrix-free",
        "products": if gram { "gram" } else { "forward-mode" },
        "about": route_about,
        "fisher_inputs": problem.len(),
        "seconds": reference_seconds,
        "compare_seconds": compare_seconds,
        "peak_memory_mb": reference_memory.peak as f64 / 1e6,
        "exact_products": reference.products(),
        "natural_gradient_cg": reference.cg_summary(),
        "block_seconds": block_seconds,
        "options": {
            "probes": args.probes,
            "slq_probes": args.slq_probes,
            "slq_steps": args.slq_steps,
            "krylov_steps": args.krylov_steps,
            "lanczos_tol": options.lanczos.tol,
            "cg_tol": options.cg.tol,
            "random_directions": options.random_directions,
            "spectrum": options.spectrum,
        },
        "spectrum_failure": reference.spectrum_failure(),
        "skipped": skipped,
    });
    Ok(Measured {
        rows,
        spectra,
        blocks: heatmap_blocks(exact_block, heat),
        metrics_seconds,
        reference,
    })
}

/// `n` of the rows of `x` and `y`, drawn without replacement with `seed` and kept in their
/// order (all of them when `n` is their count).
fn subset(x: MatRef<'_, f64>, y: MatRef<'_, f64>, n: usize, seed: u64) -> (Mat<f64>, Mat<f64>) {
    let total = x.nrows();
    if n >= total {
        return (x.to_owned(), y.to_owned());
    }
    let mut rng = fisherlab_distributions::rng_from_seed(seed ^ SUBSET_STREAM);
    let mut idx = rand::seq::index::sample(&mut rng, total, n).into_vec();
    idx.sort_unstable();
    (
        Mat::from_fn(n, x.ncols(), |i, j| x[(idx[i], j)]),
        Mat::from_fn(n, y.ncols(), |i, j| y[(idx[i], j)]),
    )
}

/// Mixed into --seed for the Fisher's subset of inputs.
const SUBSET_STREAM: u64 = 0x005e_ed0f_f15e;

/// One line saying which reference the table measures against.
fn reference_line(summary: &Value) -> String {
    let r = &summary["reference"];
    let of = |n: &Value| {
        if summary["fisher_inputs"] == summary["inputs"] {
            String::new()
        } else {
            format!(
                ", on {} of the {} inputs (--fisher-inputs, drawn with --seed)",
                n, summary["inputs"]
            )
        }
    };
    match r["route"].as_str() {
        Some("matrix-free") => format!(
            "reference: matrix-free — {}{}; every metric estimated (± one standard error, or a bound)\n",
            r["about"].as_str().unwrap_or(""),
            of(&summary["fisher_inputs"])
        ),
        _ => format!(
            "reference: dense — {}{}\n",
            r["about"].as_str().unwrap_or(""),
            of(&summary["fisher_inputs"])
        ),
    }
}

/// Under a matrix-free table: each metric's estimator (as the first approximation used it),
/// the metrics that did not converge, and the approximations skipped.
fn estimator_notes(r: &Results) -> String {
    let mut out = String::new();
    let rows: Vec<Value> = r.rows.iter().skip(1).map(Row::json).collect();
    if let Some(first) = rows
        .first()
        .filter(|j| j["rel_frobenius_estimator"].is_string())
    {
        out.push_str("estimators:\n");
        for (key, header) in
            ESTIMATED
                .iter()
                .zip(["rel Frob", "rel spec", "NGD cos", "NGD rel err", "Δ logdet"])
        {
            if let Some(e) = first[format!("{key}_estimator")].as_str() {
                let _ = writeln!(out, "  {header}: {e}");
            }
        }
    }
    for j in &rows {
        for key in ESTIMATED {
            if let Some(f) = j[format!("{key}_failure")].as_str() {
                let _ = writeln!(
                    out,
                    "{} {key}: not reported: {f}",
                    j["approximation"].as_str().unwrap_or("")
                );
            }
        }
    }
    if let Some(skipped) = r.summary["reference"]["skipped"].as_array() {
        for s in skipped {
            let _ = writeln!(
                out,
                "skipped {}: {}",
                s["approximation"].as_str().unwrap_or(""),
                s["reason"].as_str().unwrap_or("")
            );
        }
    }
    out
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
    let need = DenseFisher::new(Labels::Expected)
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

/// Build with time and memory, then time one damped solve of the gradient.
fn timed_build(
    name: &str,
    about: &str,
    approximation: &dyn Approximation,
    problem: &Problem<'_>,
    lambda: f64,
    g: MatRef<'_, f64>,
    products: Option<&dyn CurvatureOperator>,
) -> Result<(Box<dyn CurvatureOperator>, Row), CliError> {
    let start = Instant::now();
    let (op, memory) = measure(|| match products {
        Some(f) => approximation.build_with_products(problem, f),
        None => approximation.build(problem),
    });
    let build_seconds = start.elapsed().as_secs_f64();
    let op = op.map_err(|e| match crate::budget::memory_error(&e) {
        Some(m) => crate::budget::compare_refusal(
            &format!("compare needs {name} ({about}) densely: "),
            m,
            problem,
        ),
        None => e.into(),
    })?;
    let start = Instant::now();
    op.solve_damped(lambda, g)
        .map_err(|e| CliError::Failed(format!("{name}: damped solve failed: {e}")))?;
    let solve_seconds = start.elapsed().as_secs_f64();
    Ok((
        op,
        Row {
            name: name.to_string(),
            about: about.to_string(),
            build_seconds,
            solve_seconds,
            memory,
            metrics: None,
            estimated: false,
        },
    ))
}

/// The `size × size` diagonal block starting at parameter `start`, from products with unit
/// vectors (no dense P × P copy).
fn block(op: &dyn CurvatureOperator, start: usize, size: usize) -> Result<Mat<f64>, CliError> {
    let e = Mat::from_fn(
        op.dim(),
        size,
        |i, j| if i == start + j { 1.0 } else { 0.0 },
    );
    let cols = op
        .apply(e.as_ref())
        .map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(cols.as_ref().subrows(start, size).to_owned())
}

fn descending(ascending: &[f64]) -> Vec<f64> {
    ascending.iter().rev().copied().collect()
}

fn comparison_table(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let j = r.json();
            COLUMNS.iter().map(|(_, k)| Row::cell(&j, k)).collect()
        })
        .collect();
    format::table(&COLUMNS.map(|(h, _)| h), &body)
}

fn report_json(r: &Results) -> Value {
    let mut report = r.summary.clone();
    report["approximations"] = Value::Array(r.rows.iter().map(Row::json).collect());
    report["training"] = Value::Array(train::summary(&r.outcomes, None));
    report["spectra"] = Value::Object(
        r.spectra
            .iter()
            .map(|(n, s)| (n.clone(), json!(s)))
            .collect(),
    );
    report["files"] = json!(FILES);
    report
}

fn csv(rows: &[Row]) -> String {
    let jsons: Vec<Value> = rows.iter().map(Row::json).collect();
    let keys: Vec<String> = jsons
        .first()
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = keys.join(",") + "\n";
    for j in &jsons {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| match &j[k] {
                Value::Null => String::new(),
                Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
                v => v.to_string(),
            })
            .collect();
        out += &(cells.join(",") + "\n");
    }
    out
}

/// Every output file; the figures first, so that `comparison.json` records their seconds.
fn write_outputs(
    dir: &Path,
    r: &Results,
    report: &mut Value,
    started: Instant,
) -> Result<(), CliError> {
    let file = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| CliError::Failed(format!("cannot write {name}: {e}")))
    };
    let clock = Instant::now();
    figures(dir, r)?;
    file("index.html", &html(dir, r)?)?;
    report["seconds"]["figures"] = json!(clock.elapsed().as_secs_f64());
    report["seconds"]["total"] = json!(started.elapsed().as_secs_f64());
    file(
        "comparison.json",
        &(serde_json::to_string_pretty(report).map_err(|e| CliError::Failed(e.to_string()))?
            + "\n"),
    )?;
    file("comparison.csv", &csv(&r.rows))?;
    let mut log = Vec::new();
    train::write_log(&mut log, &report["provenance"], &r.outcomes)
        .map_err(|e| CliError::Failed(format!("training log: {e}")))?;
    std::fs::write(dir.join("training.jsonl"), log)
        .map_err(|e| CliError::Failed(format!("cannot write training.jsonl: {e}")))
}

fn figures(dir: &Path, r: &Results) -> Result<(), CliError> {
    use plots::{Figure, Panel};
    let blocks = &r.blocks;
    plots::render(
        dir,
        "heatmaps",
        (440 * blocks.len() as u32 + 150, 560),
        &Figure {
            title: &r.block_title,
            panels: vec![Panel::Heatmaps {
                blocks,
                svg_cells: 80,
            }],
            columns: 0,
        },
    )?;

    // spectra as small multiples: each approximation against the exact spectrum, in the same
    // two colours and on one shared scale
    let top = r
        .spectra
        .first()
        .and_then(|(_, s)| s.first().copied())
        .unwrap_or(1.0);
    let series = |s: &[f64], name: &str, colour, width| plots::Series {
        name: name.to_string(),
        colour,
        width,
        points: s
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1) as f64, *v))
            .collect(),
        band: Vec::new(),
    };
    let black = plotters::style::RGBColor(0, 0, 0);
    let red = plotters::style::RGBColor(214, 39, 40);
    if let Some(((_, exact), rest)) = r.spectra.split_first() {
        let pairs: Vec<(String, [plots::Series; 2])> = rest
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    [series(exact, "exact", black, 3), series(s, name, red, 2)],
                )
            })
            .collect();
        let all: Vec<plots::Series> = r
            .spectra
            .iter()
            .map(|(n, s)| series(s, n, black, 1))
            .collect();
        let y_range = plots::y_range_of(&all, top * 1e-10);
        let columns = 4;
        let rows = pairs.len().div_ceil(columns).max(1);
        plots::render(
            dir,
            "spectra",
            (1600, 330 * rows as u32 + 40),
            &Figure {
                title: "Eigenvalues, largest first: the exact Fisher (black) and each approximation (red); below 1e-10 × the largest drawn at that floor",
                panels: pairs
                    .iter()
                    .map(|(name, pair)| Panel::Lines {
                        caption: name,
                        x_desc: "index k",
                        y_desc: "eigenvalue",
                        log_x: true,
                        series: pair,
                        y_floor: top * 1e-10,
                        legend: false,
                        y_range: Some(y_range),
                    })
                    .collect(),
                columns,
            },
        )?;
    }

    let approx = &r.rows[1..];
    let points = |cost: &dyn Fn(&Row) -> f64, key: &str| {
        approx
            .iter()
            .enumerate()
            .map(|(k, row)| {
                let y = row.json()[key].as_f64().unwrap_or(f64::NAN);
                plots::Point {
                    name: row.name.clone(),
                    colour: plots::colour(k),
                    x: cost(row),
                    y,
                    // an exact route (matrix-free): rounding error only
                    exact: y < EXACT_ERROR,
                }
            })
            .collect::<Vec<_>>()
    };
    let left = points(&|row| row.build_seconds, "rel_frobenius");
    let right = points(
        &|row| row.build_seconds + row.solve_seconds,
        "ngd_rel_error",
    );
    let cost_caption = format!(
        "Error against cost (the exact Fisher builds in {} s)",
        format::short(r.rows[0].build_seconds)
    );
    plots::render(
        dir,
        "error_vs_cost",
        (1400, 620),
        &Figure {
            title: &cost_caption,
            panels: vec![
                Panel::Scatter {
                    caption: "Matrix A against the exact F: ‖A − F‖_F / ‖F‖_F",
                    x_desc: "build time (s)",
                    y_desc: "relative Frobenius error",
                    points: &left,
                },
                Panel::Scatter {
                    caption: "Natural gradient: ‖dA − dF‖ / ‖dF‖",
                    x_desc: "build + damped solve time (s)",
                    y_desc: "relative error of dA = (A + λI)⁻¹g",
                    points: &right,
                },
            ],
            columns: 0,
        },
    )?;

    let curves = |by_seconds: bool| -> Vec<plots::Series> {
        r.outcomes
            .iter()
            .enumerate()
            .map(|(k, o)| {
                // one run's curve: its bands collapse to the line
                let points = crate::tune::bands(std::slice::from_ref(o), &[r.initial_loss])
                    .iter()
                    .map(|p| (if by_seconds { p.1 } else { p.0 }, p.2))
                    .collect();
                plots::Series {
                    name: o.name.to_string(),
                    colour: plots::colour(k),
                    width: 2,
                    points,
                    band: Vec::new(),
                }
            })
            .collect()
    };
    let (by_step, by_time) = (curves(false), curves(true));
    plots::loss_figure(
        dir,
        "training_loss",
        "Training loss on all the data, same initialisation and mini-batches",
        &by_step,
        &by_time,
    )
}

/// The optimizers' summary: headers and cells.
fn training_rows(outcomes: &[Outcome], summary: &Value) -> ([&'static str; 9], Vec<Vec<String>>) {
    let cols = [
        ("optimizer", "optimizer"),
        ("steps", "steps"),
        ("final loss", "final_loss"),
        ("seconds", "seconds"),
        ("s/step", "seconds_per_step"),
        ("× sgd", "time_per_step_vs_sgd"),
    ];
    let settings = summary["training_settings"].as_array();
    let body = train::summary(outcomes, None)
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut cells: Vec<String> = cols.iter().map(|(_, k)| format::cell(&row[*k])).collect();
            if !row["error"].is_null() {
                cells[0].push_str(" (failed)");
            }
            let s = settings.and_then(|v| v.get(i));
            let plain = matches!(row["optimizer"].as_str(), Some("sgd" | "adam"));
            let num = |k: &str| match s.and_then(|s| s[k].as_f64()) {
                Some(v) => format::short(v),
                None if plain && k == "damping" => "-".into(),
                None => "default".into(),
            };
            cells.push(num("lr"));
            cells.push(num("damping"));
            cells.push(
                s.and_then(|s| s["source"].as_str())
                    .unwrap_or("")
                    .to_string(),
            );
            cells
        })
        .collect();
    let headers = [
        cols[0].0, cols[1].0, cols[2].0, cols[3].0, cols[4].0, cols[5].0, "lr", "λ", "settings",
    ];
    (headers, body)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html_table(headers: &[&str], body: &[Vec<String>]) -> String {
    let mut t = String::from("<table>\n<tr>");
    for h in headers {
        let _ = write!(t, "<th>{}</th>", escape(h));
    }
    t.push_str("</tr>\n");
    for row in body {
        t.push_str("<tr>");
        for c in row {
            let _ = write!(t, "<td>{}</td>", escape(c));
        }
        t.push_str("</tr>\n");
    }
    t + "</table>\n"
}

/// `MLP 64-32-10 (tanh, categorical)` or `network Conv2d-ReLU-…-Linear (categorical)`.
fn describe(s: &Value) -> String {
    let head = s["likelihood"].as_str().unwrap_or("");
    match (s["arch"].as_str(), s["activation"].as_str()) {
        (Some(arch), Some(act)) => format!("MLP {} ({act}, {head})", arch.replace(',', "-")),
        _ => format!("network {} ({head})", s["network"].as_str().unwrap_or("")),
    }
}

fn html(dir: &Path, r: &Results) -> Result<String, CliError> {
    let png = |stem: &str| -> Result<String, CliError> {
        let bytes = std::fs::read(dir.join(format!("{stem}.png")))
            .map_err(|e| CliError::Failed(format!("cannot read back {stem}.png: {e}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let s = &r.summary;
    let title = format!(
        "Exact and approximate Fisher: {}, {}, P = {}",
        s["dataset"].as_str().unwrap_or("user data"),
        describe(s),
        s["parameters"]
    );
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1450px; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; margin: 1em 0; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: right; }}
th {{ background: #eee; }}
td:first-child, th:first-child {{ text-align: left; }}
figure {{ margin: 2em 0; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
dt {{ font-weight: bold; }}
</style>
</head>
<body>
<h1>{title}</h1>
"#,
        title = escape(&title)
    );
    let at = match (s["fisher_at"].as_str(), s["weights"].as_str()) {
        (Some(o), _) => format!(
            "the weights after {} steps of {o} (batch {})",
            s["steps"], s["batch"]
        ),
        (None, Some(w)) => format!("the weights in {w}"),
        _ => "the given weights".into(),
    };
    let _ = writeln!(
        h,
        "<p>{} inputs. Fisher evaluated at {}, where the mean loss is {} and the gradient norm {}. Damping λ = {}; low rank k = {}; seed {}.</p>",
        s["inputs"],
        escape(&at),
        format::short(s["loss"].as_f64().unwrap_or(f64::NAN)),
        format::short(s["gradient_norm"].as_f64().unwrap_or(f64::NAN)),
        s["lambda"],
        s["rank"],
        s["seed"]
    );
    h.push_str("<h2>Approximations against the exact Fisher</h2>\n");
    let body: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            let j = row.json();
            COLUMNS.iter().map(|(_, k)| Row::cell(&j, k)).collect()
        })
        .collect();
    h += &html_table(&COLUMNS.map(|(c, _)| c), &body);
    let notes = estimator_notes(r);
    if !notes.is_empty() {
        let _ = writeln!(h, "<pre>{}</pre>", escape(&notes));
    }
    h.push_str(
        "<dl>\n<dt>build s, solve s</dt><dd>seconds to build the operator from the data, and for one damped solve (A + λI)⁻¹g with the full-data gradient g, for an approximation A of the exact Fisher F.</dd>\n\
<dt>peak MB, kept MB</dt><dd>heap above the starting level during the build, and what the operator keeps.</dd>\n\
<dt>rel Frob, rel spec</dt><dd>‖A − F‖ / ‖F‖ in the Frobenius and spectral norms.</dd>\n\
<dt>NGD cos, NGD rel err</dt><dd>cosine and relative error between the damped natural-gradient directions (A + λI)⁻¹g and (F + λI)⁻¹g.</dd>\n\
<dt>quad ratio g</dt><dd>gᵀAg / gᵀFg: how much curvature the approximation sees along the gradient (1 is exact; the JSON also has the ratio on 16 random directions).</dd>\n\
<dt>Δ logdet</dt><dd>ln det(A + λI) − ln det(F + λI).</dd>\n</dl>\n",
    );
    let mut about = String::from("<ul>\n");
    for row in &r.rows {
        let _ = writeln!(
            about,
            "<li><b>{}</b>: {}</li>",
            escape(&row.name),
            escape(&row.about)
        );
    }
    h += &about;
    h.push_str("</ul>\n");
    for (stem, caption) in [
        ("heatmaps", r.block_title.as_str()),
        (
            "spectra",
            "Eigenvalue spectra of the exact Fisher and of each approximation, log-log.",
        ),
        (
            "error_vs_cost",
            "Each approximation's error against its cost: the matrix (left) and the natural-gradient direction it gives (right).",
        ),
        (
            "training_loss",
            "Full-data training loss of each optimizer from the same initialisation.",
        ),
    ] {
        let _ = writeln!(
            h,
            "<figure><img alt=\"{stem}\" src=\"data:image/png;base64,{}\"><figcaption>{} (<a href=\"{stem}.svg\">SVG</a>)</figcaption></figure>",
            png(stem)?,
            escape(caption)
        );
    }
    h.push_str("<h2>Optimizers</h2>\n");
    let (headers, body) = training_rows(&r.outcomes, &r.summary);
    h += &html_table(&headers, &body);
    h.push_str("<p>Data: <a href=\"comparison.json\">comparison.json</a> (everything, with the spectra), <a href=\"comparison.csv\">comparison.csv</a>, <a href=\"training.jsonl\">training.jsonl</a> (every step).</p>\n</body>\n</html>\n");
    Ok(h)
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
            .rsplit_once("all): ")
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
