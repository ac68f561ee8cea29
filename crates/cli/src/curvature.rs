//! `fisherlab curvature`: the Fisher matrix of a network with a likelihood head, exact, estimated
//! or approximated, written as a dense `.npy` matrix in the public parameter order and/or
//! summarised as JSON.

use crate::net::NetArgs;
use crate::{CliError, checks, choice, data, io};
use clap::Args;
use faer::Mat;
pub use fisherlab_app::routes::{KfacApproxArg, KindArg, NormBlockArg, Route};
use fisherlab_fisher::curvature::{
    Approximation, DenseFisher, KfacApprox, KindLabels, Labels, Problem, ScaleShiftBlock,
};
use fisherlab_fisher::metrics::{CompareOptions, compare};
use fisherlab_fisher::model::{Model, hessian_of_mean_nll, mean_nll_gradient};
use fisherlab_linalg::CurvatureOperator;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

pub const EXAMPLES: &str = "Examples:
  fisherlab curvature --arch 4,16,3 --activation tanh --inputs X.npy --likelihood categorical --kind exact --out F.npy
  fisherlab curvature --arch 64,64,10 --weights model.safetensors --inputs X.npy --targets y.npy \\
      --likelihood categorical --kind kfac --kfac-type empirical --json
  fisherlab curvature --arch 8,1 --inputs X.npy --likelihood gaussian --sigma 0.5 --kind low-rank --rank 4 --compare --json
  fisherlab curvature --model cnn.txt --weights cnn.safetensors --dataset digits --likelihood categorical \
      --kind kfac --kfac-approx reduce --json";

/// `--kind`: the registry's kinds and `hessian`, each with its one-line help.
pub fn kind_arg() -> impl clap::builder::TypedValueParser<Value = KindArg> {
    use clap::builder::{PossibleValue, TypedValueParser as _};
    let values = KindArg::names().into_iter().map(|name| {
        let about = KindArg::from_name(name).map_or("", |k| k.about());
        PossibleValue::new(name).help(about)
    });
    clap::builder::PossibleValuesParser::new(values)
        .try_map(|name: String| KindArg::from_name(&name))
}

/// `--kfac-type`: which Fisher a structured approximation approximates, by its one name
/// ([`Labels::NAMES`]: type2, mc, empirical); `--mc-samples` and `--seed` complete `mc`.
pub fn labels_arg() -> impl clap::builder::TypedValueParser<Value = Labels> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Labels::NAMES)
        .try_map(|name: String| fisherlab_app::routes::labels(&name, 1, 0))
}

#[derive(Args, Debug, serde::Serialize)]
pub struct CurvatureArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Weights (safetensors, PyTorch state_dict names 0.weight, 0.bias, 2.weight, …);
    /// without it, PyTorch's default initialisation seeded by --init-seed.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Seed of the default initialisation when no --weights are given.
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// An embedded dataset instead of --inputs/--targets (see `fisherlab datasets`).
    #[arg(long, conflicts_with_all = ["inputs", "targets"])]
    dataset: Option<String>,
    /// Inputs, N × d float64 .npy.
    #[arg(long, value_name = "FILE", required_unless_present = "dataset")]
    inputs: Option<PathBuf>,
    /// Targets, .npy: int64 labels (N) for categorical/bernoulli, counts for poisson, N × C
    /// float64 for gaussian. Needed by empirical, hessian and --kfac-type empirical.
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Likelihood head: gaussian, bernoulli, categorical, poisson.
    #[arg(long)]
    likelihood: String,
    /// Standard deviation of the gaussian head.
    #[arg(long)]
    sigma: Option<f64>,
    /// Which matrix.
    #[arg(long, value_parser = kind_arg())]
    kind: KindArg,
    /// Which Fisher diag, block-diag, kfac and ekfac approximate: type2 (the expectation over
    /// the model's labels, C backward passes per input), mc (--mc-samples labels per input drawn
    /// from the model, seeded by --seed) or empirical (the observed --targets).
    #[arg(long, default_value = Route::KFAC_TYPE, value_parser = labels_arg())]
    kfac_type: Labels,
    /// K-FAC and EKFAC factors of convolutions and Linear layers over positions: expand or
    /// reduce (the same for dense layers).
    #[arg(long, value_parser = choice::<KfacApproxArg>(), default_value_t = Route::KFAC_APPROX)]
    kfac_approx: KfacApproxArg,
    /// K-FAC and EKFAC block of normalisation layers' scale and shift: its exact diagonal or
    /// the exact dense block.
    #[arg(long, value_parser = choice::<NormBlockArg>(), default_value_t = Route::NORM_BLOCK)]
    norm_block: NormBlockArg,
    /// Labels sampled per input by mc and --kfac-type mc.
    #[arg(long, default_value_t = Route::MC_SAMPLES)]
    mc_samples: usize,
    /// Seed of the Monte-Carlo labels and of the randomized low-rank variant.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rank of low-rank (default: 10, or P when the network has fewer parameters).
    #[arg(long)]
    rank: Option<usize>,
    /// Randomized low-rank (Fisher-vector products only) instead of the dense top-k.
    #[arg(long)]
    randomized: bool,
    /// Write the dense P × P matrix (float64 .npy, PyTorch parameter order) here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print summary statistics as JSON.
    #[arg(long)]
    json: bool,
    /// Add metrics against the exact Fisher to the summary (needs the dense exact matrix).
    #[arg(long)]
    compare: bool,
    /// Damping λ of the comparison's natural-gradient directions and log-determinants.
    #[arg(long, default_value_t = 1e-3)]
    lambda: f64,
    /// With --compare: eigenvalues kept of each spectrum, the K largest or `all`.
    #[arg(long, default_value = "100", value_parser = crate::checks::spectrum_arg)]
    spectrum: crate::checks::Spectrum,
}

impl CurvatureArgs {
    fn route(&self) -> Route {
        Route {
            kind: self.kind,
            labels: self.kfac_type.with_samples(self.mc_samples, self.seed),
            kfac_approx: self.kfac_approx,
            norm_block: self.norm_block,
            mc_samples: self.mc_samples,
            seed: self.seed,
            rank: self.rank,
            randomized: self.randomized,
        }
    }
}

/// Run the command: compute, then write the matrix (if asked) and return the text to print.
pub fn run(args: &CurvatureArgs) -> Result<String, CliError> {
    if args.out.is_none() && !args.json {
        return Err(CliError::Input(
            "nothing to do: give --out FILE.npy, --json, or both".into(),
        ));
    }
    checks::at_least(1, &[("mc-samples", args.mc_samples)])?;
    if let Some(path) = &args.out {
        io::check_output_file(path, "out")?;
    }
    let head = fisherlab_app::head(&args.likelihood, args.sigma)?;
    let (x, y, shape) = match (&args.dataset, &args.inputs) {
        (Some(name), _) => {
            let (x, y) = data::load(name)?;
            (x, Some(y), data::dataset(name)?.shape.to_vec())
        }
        (None, Some(path)) => {
            let (x, shape) = io::read_inputs(path)?;
            let y = args
                .targets
                .as_ref()
                .map(|p| io::read_matrix(p, "targets"))
                .transpose()?;
            (x, y, shape)
        }
        (None, None) => {
            return Err(CliError::Input(
                "no data: give --dataset NAME or --inputs X.npy".into(),
            ));
        }
    };
    let built = args.net.build(&shape, None)?;
    let mut net = built.net;
    let theta = match &args.weights {
        Some(path) => io::load_weights(path, &mut net)?,
        None => io::default_init(&net, args.init_seed),
    };
    let model = Model::new(net.clone(), head)?;
    let mut problem = Problem::new(&model, &theta, x.as_ref())?;
    if let Some(y) = &y {
        problem = problem.with_targets(y.as_ref())?;
    }
    let route = args.route();
    if route.needs_targets() && y.is_none() {
        return Err(route.missing_targets());
    }

    let start = Instant::now();
    let (op, hessian): (Option<Box<dyn CurvatureOperator>>, Option<Mat<f64>>) =
        match route.approximation(model.num_params()) {
            Some(a) => (
                Some(
                    a.build(&problem)
                        .map_err(|e| crate::budget::explain(e, &problem))?,
                ),
                None,
            ),
            None => {
                let y = y
                    .as_ref()
                    .ok_or_else(|| CliError::Input("no targets".into()))?;
                (
                    None,
                    Some(
                        hessian_of_mean_nll(&model, &theta, x.as_ref(), y.as_ref())
                            .map_err(|e| crate::budget::explain(e, &problem))?,
                    ),
                )
            }
        };
    let seconds = start.elapsed().as_secs_f64();
    // the matrix to write: the operator's own storage when it is dense (no P × P copy)
    let dense = match &op {
        Some(op) if args.out.is_some() && op.as_dense().is_none() => {
            Some(op.to_dense().map_err(|e| match e {
                fisherlab_linalg::Error::TooLarge(m) => CliError::Input(format!(
                    "{m}: --out writes the dense P × P matrix; without --out, --json summarises --kind {} (trace, norms, diagonal, top eigenvalues) within the budget",
                    args.kind.name()
                )),
                e => e.into(),
            })?)
        }
        _ => None,
    };

    let clock = Instant::now();
    if let Some(path) = &args.out {
        // a dense operator's matrix is exactly symmetric: its columns are its rows
        let (m, symmetric) = match (&hessian, &op, &dense) {
            (Some(h), _, _) => (h.as_ref(), false),
            (_, _, Some(d)) => (d.as_ref(), false),
            (_, Some(op), None) => (
                op.as_dense()
                    .ok_or_else(|| CliError::Failed("no matrix to write".into()))?,
                true,
            ),
            _ => return Err(CliError::Failed("no matrix to write".into())),
        };
        io::write_matrix(path, m, symmetric)?;
    }
    let write_seconds = clock.elapsed().as_secs_f64();

    let mut text = String::new();
    if args.json {
        let clock = Instant::now();
        let mut summary = json!({
            "kind": args.kind.name(),
            "variant": match args.kind.fisher() {
                Some(k) if k.labels == KindLabels::Chosen => Value::from(route.labels().name()),
                _ => Value::Null,
            },
            "likelihood": head.name(),
            "arch": built.arch,
            "activation": built.arch.as_ref().map(|_| args.net.activation.clone()),
            "model": args.net.model.as_ref().map(|p| p.display().to_string()),
            "network": net.to_string(),
            "input_shape": net.input_shape(),
            "kfac_approx": match args.kind.fisher() {
                Some(k) if k.shared_layer_options => Value::from(KfacApprox::from(args.kfac_approx).name()),
                _ => Value::Null,
            },
            "norm_block": match args.kind.fisher() {
                Some(k) if k.shared_layer_options => Value::from(ScaleShiftBlock::from(args.norm_block).name()),
                _ => Value::Null,
            },
            "parameters": net.num_params(),
            "inputs": x.nrows(),
            "seconds": seconds,
            "write_seconds": args.out.as_ref().map(|_| write_seconds),
        });
        let stats = match (&op, &hessian) {
            (Some(op), _) => operator_stats(op.as_ref())?,
            (_, Some(h)) => hessian_stats(h)?,
            _ => Value::Null,
        };
        merge(&mut summary, stats);
        if args.compare {
            let exact = DenseFisher::new(Labels::Type2).build(&problem)?;
            let approx: &dyn CurvatureOperator = match (&op, &hessian) {
                (Some(op), _) => op.as_ref(),
                (_, Some(h)) => {
                    return Err(CliError::Input(format!(
                        "--compare needs a PSD approximation; the Hessian is not one (its smallest eigenvalue is {})",
                        min_eigenvalue(h)?
                    )));
                }
                _ => return Err(CliError::Input("nothing to compare".into())),
            };
            let gradient = match &y {
                Some(y) => Some(mean_nll_gradient(&model, &theta, x.as_ref(), y.as_ref())?.1),
                None => None,
            };
            let c = compare(
                exact.as_ref(),
                approx,
                &CompareOptions {
                    lambda: args.lambda,
                    gradient,
                    random_directions: 16,
                    seed: args.seed,
                    spectrum: args.spectrum.0,
                },
            )?;
            summary["comparison"] = json!({
                "lambda": args.lambda,
                "rel_frobenius": c.rel_frobenius,
                "rel_spectral": c.rel_spectral,
                "ngd_cosine": c.ngd_cosine,
                "ngd_rel_error": c.ngd_rel_error,
                "quad_ratio_gradient": c.quad_ratio_gradient,
                "quad_ratio_random": {
                    "mean": c.quad_ratio_random.mean,
                    "min": c.quad_ratio_random.min,
                    "max": c.quad_ratio_random.max,
                    "count": c.quad_ratio_random.count,
                },
                "logdet_difference": c.logdet_difference,
                "spectrum_exact": c.spectrum_exact,
                "spectrum_approx": c.spectrum_approx,
            });
        }
        if args.kind.fisher().is_some_and(|k| k.rank_options) {
            summary["rank"] = Value::from(route.rank(model.num_params()));
        }
        summary["provenance"] = crate::provenance::record("curvature", args);
        summary["output"] = args
            .out
            .as_ref()
            .map_or(Value::Null, |p| Value::from(p.display().to_string()));
        summary["summary_seconds"] = json!(clock.elapsed().as_secs_f64());
        text = serde_json::to_string_pretty(&summary)
            .map_err(|e| CliError::Failed(e.to_string()))?
            + "\n";
    }
    Ok(text)
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn diag_summary(d: &[f64]) -> Value {
    let n = d.len().max(1) as f64;
    json!({
        "min": d.iter().copied().fold(f64::INFINITY, f64::min),
        "max": d.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "mean": d.iter().sum::<f64>() / n,
    })
}

/// The summary of an operator. A quantity the operator cannot give exactly without P products
/// (a matrix-free one's trace, norm and diagonal) is `null`, its reason under `unavailable`.
fn operator_stats(op: &dyn CurvatureOperator) -> Result<Value, CliError> {
    let top = op
        .top_eigenvalues(10.min(op.dim()))
        .map_err(CliError::from)?;
    let mut unavailable = serde_json::Map::new();
    let mut exact = |what: &str, r: fisherlab_linalg::Result<Value>| match r {
        Ok(v) => Ok(v),
        Err(e @ fisherlab_linalg::Error::NotAvailable { .. }) => {
            unavailable.insert(what.into(), Value::from(e.to_string()));
            Ok(Value::Null)
        }
        Err(e) => Err(CliError::from(e)),
    };
    let trace = exact("trace", op.trace().map(Value::from))?;
    let frobenius = exact("frobenius_norm", op.frobenius_norm().map(Value::from))?;
    let diagonal = exact("diagonal", op.diagonal().map(|d| diag_summary(&d)))?;
    let mut stats = json!({
        "structure": op.kind(),
        "dim": op.dim(),
        "trace": trace,
        "frobenius_norm": frobenius,
        "diagonal": diagonal,
        "top_eigenvalues": top,
    });
    if !unavailable.is_empty() {
        stats["unavailable"] = Value::Object(unavailable);
    }
    Ok(stats)
}

fn hessian_stats(h: &Mat<f64>) -> Result<Value, CliError> {
    let p = h.nrows();
    let d: Vec<f64> = (0..p).map(|i| h[(i, i)]).collect();
    // by Lanczos at both ends for P ≥ 1 000, never a full eigendecomposition of a large P
    let (eig, min) =
        fisherlab_linalg::extreme_eigenvalues(h.as_ref(), 10.min(p), &Default::default())
            .map_err(CliError::from)?;
    Ok(json!({
        "structure": "dense (symmetric, indefinite in general)",
        "dim": p,
        "trace": d.iter().sum::<f64>(),
        "frobenius_norm": h.norm_l2(),
        "diagonal": diag_summary(&d),
        "top_eigenvalues": eig,
        "min_eigenvalue": min,
    }))
}

fn eigenvalues(h: &Mat<f64>) -> Result<Vec<f64>, CliError> {
    fisherlab_linalg::symmetric_eigenvalues(
        fisherlab_linalg::symmetrize(h.as_ref()).as_ref(),
        "the Hessian",
    )
    .map_err(CliError::from)
}

fn min_eigenvalue(h: &Mat<f64>) -> Result<f64, CliError> {
    Ok(eigenvalues(h)?.first().copied().unwrap_or(0.0))
}
