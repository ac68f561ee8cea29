//! The command line's rules as functions, for front ends that must answer exactly as the
//! `fisherlab` command does — the Python package first among them.
//!
//! Each function takes the arguments a subcommand would take (as the strings of its command
//! line, parsed by the same `clap` definitions, so the defaults, the checks and the one-line
//! messages are the command's own) and returns the computed values rather than printed text. The
//! numerical work happens in the library crates, exactly as for the command.
//!
//! # Examples
//! ```
//! let fim = fisherlab_cli::api::fim(&["gamma", "--param", "shape=2.5", "--param", "rate=1.5"])
//!     .unwrap();
//! assert_eq!(fim.parameters, ["shape", "rate"]);
//! // F = [[ψ'(α), −1/β], [−1/β, α/β²]]
//! assert!((fim.estimates[0].matrix[(0, 1)] + 1.0 / 1.5).abs() < 1e-15);
//! let bad = fisherlab_cli::api::fim(&["gamma", "--param", "shape=-1", "--param", "rate=1"]);
//! assert!(matches!(bad, Err(fisherlab_cli::CliError::Input(_))));
//! ```

use crate::curvature::{KindArg, Route};
use crate::train::{OptimizerArg, OptimizerOptions};
use crate::{CliError, PARALLEL_SPLIT};
use clap::{Args, Parser, ValueEnum};
use faer::Mat;
use fisherlab_autodiff::layers::{Network, parse_model};
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::FisherEstimate;
use fisherlab_fisher::curvature::{Approximation, Labels};
use fisherlab_optim::Optimizer;
use serde_json::Value;

pub use crate::train::record_json;
pub use crate::verify::Outcome as VerifyOutcome;

/// Set what the command sets before any work: faer's parallel routines get a fixed split (so
/// the results have the same bits for any thread count) and freed memory is kept for reuse.
pub fn init() {
    faer::set_global_parallelism(faer::Par::rayon(PARALLEL_SPLIT));
    fisherlab_linalg::retain_freed_memory();
}

/// Set the memory budget (`None`: the memory available), as `--max-memory` does.
pub fn set_memory_budget(bytes: Option<u64>) {
    fisherlab_linalg::memory::set_budget(bytes);
}

/// The parser of one subcommand's arguments `T`, with no program name.
#[derive(Parser, Debug)]
#[command(name = "fisherlab", no_binary_name = true)]
struct Parsed<T: Args> {
    #[command(flatten)]
    inner: T,
}

/// `argv` parsed by the rules of `T`; a bad argument is the command's one line, without its
/// `error: ` prefix.
fn parse<T: Args>(argv: &[&str]) -> Result<T, CliError> {
    Parsed::<T>::try_parse_from(argv)
        .map(|p| p.inner)
        .map_err(|e| {
            let line = crate::clap_error_line(&e.render().to_string());
            CliError::Input(line.strip_prefix("error: ").unwrap_or(&line).to_string())
        })
}

/// The Fisher matrices of one family at one point (`fisherlab fim`).
pub struct Fim {
    /// The family's name.
    pub family: String,
    /// Its coordinates: `canonical` or a named parameterisation.
    pub parameterization: String,
    /// The coordinate names: the rows and columns of every matrix.
    pub parameters: Vec<String>,
    /// Every value, the coordinates' then the fixed parameters'.
    pub values: Vec<(String, f64)>,
    /// One estimate per method asked for (the closed form first with `--method all`).
    pub estimates: Vec<FisherEstimate>,
}

/// `fisherlab fim ARGS` without the printing: e.g. `["gamma", "--param", "shape=2.5",
/// "--param", "rate=1.5", "--method", "quadrature"]`.
///
/// # Errors
/// The command's: [`CliError::Input`] for a bad name or value, [`CliError::Failed`] for a
/// numerical failure.
pub fn fim(argv: &[&str]) -> Result<Fim, CliError> {
    let args: crate::fim::FimArgs = parse(argv)?;
    let (f, estimates) = crate::fim::compute(&args)?;
    let values = f
        .param_names()
        .into_iter()
        .zip(f.params())
        .chain(f.fixed().into_iter().map(|(n, v)| (n.to_string(), v)))
        .collect();
    Ok(Fim {
        family: f.name().to_string(),
        parameterization: f.parameterization().to_string(),
        parameters: f.param_names(),
        values,
        estimates,
    })
}

/// `fisherlab families --json` as a JSON value.
pub fn families() -> Result<Value, CliError> {
    json(&crate::fim::families(true)?)
}

/// `fisherlab datasets --json` as a JSON value.
pub fn datasets() -> Result<Value, CliError> {
    json(&crate::data::list(true)?)
}

/// The one registry of approximations as JSON: every `kind` (`fisherlab curvature --kind`,
/// Python's `kind=`) with its labels and the options that qualify it, and every entry of
/// `fisherlab compare`'s catalogue with its kind and command line.
pub fn approximations() -> Value {
    use fisherlab_fisher::curvature::{CatalogueOptions, KindLabels, catalogue, kinds};
    let kinds: Vec<Value> = kinds()
        .iter()
        .map(|k| {
            serde_json::json!({
                "name": k.name,
                "about": k.about,
                "labels": match k.labels {
                    KindLabels::Fixed(name) => name,
                    KindLabels::Chosen => "kfac_type",
                    KindLabels::Exact => "none (exact products)",
                },
                "options": k.options(),
            })
        })
        .collect();
    let entries: Vec<Value> = catalogue(&CatalogueOptions::default())
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "about": e.about,
                "kind": e.kind.name,
                "command_line": e.kind.command_line(e.spec),
                "scales": e.scales,
                "shared_layers_only": e.shared_layers_only,
            })
        })
        .collect();
    serde_json::json!({ "kinds": kinds, "catalogue": entries })
}

fn json(text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text).map_err(|e| CliError::Failed(e.to_string()))
}

/// An embedded dataset: inputs (N × d), targets (N × C) and the natural per-sample shape.
pub type Dataset = (Mat<f64>, Mat<f64>, Vec<usize>);

/// The embedded dataset `name` (see [`datasets`]).
///
/// # Errors
/// An unknown name.
pub fn dataset(name: &str) -> Result<Dataset, CliError> {
    let (x, y) = crate::data::load(name)?;
    Ok((x, y, crate::data::dataset(name)?.shape.to_vec()))
}

/// `fisherlab verify ARGS`: the reports and the verdict (a wrong claim is an outcome, not an
/// error).
///
/// # Errors
/// The command's, for bad input or a density that is not normalisable.
pub fn verify(argv: &[&str]) -> Result<VerifyOutcome, CliError> {
    crate::verify::check(&parse(argv)?)
}

/// The network a model text describes (PyTorch's `print(model)` of an `nn.Sequential`), bound
/// to the per-sample input `shape`.
///
/// # Errors
/// A text that does not parse, or a network that does not fit the shape.
pub fn network(text: &str, shape: &[usize]) -> Result<Network, CliError> {
    if text.len() as u64 > crate::net::MAX_MODEL_TEXT {
        return Err(CliError::Input(format!(
            "model text: {} bytes is not a printed model (at most {})",
            text.len(),
            crate::net::MAX_MODEL_TEXT
        )));
    }
    let seq = parse_model(text).map_err(|e| CliError::Input(format!("model text: {e}")))?;
    let net = seq
        .build(shape)
        .map_err(|e| CliError::Input(format!("model text: {e} (input shape {shape:?})")))?;
    // refused before the caller allocates its parameters (a `MemoryError` is bad input)
    net.check_memory()
        .map_err(|e| CliError::Input(e.to_string()))?;
    Ok(net)
}

/// The likelihood head `name` (`--likelihood`), with `sigma` for the gaussian one only.
///
/// # Errors
/// An unknown name, a bad σ, or σ given to another head.
pub fn head(name: &str, sigma: Option<f64>) -> Result<Head, CliError> {
    let head = Head::from_name(name, sigma)?;
    if sigma.is_some() && !matches!(head, Head::Gaussian { .. }) {
        return Err(CliError::Input(format!(
            "sigma applies to the gaussian likelihood only, not {name}"
        )));
    }
    Ok(head)
}

/// The optimizer `name` (as `train --optimizer` names it) with the hyper-parameters of
/// `options` (as `train` takes them: `["--lr", "0.1", "--damping", "1e-3"]`), checked, and its
/// hyper-parameters in effect.
///
/// # Errors
/// An unknown name or a hyper-parameter that breaks its rule.
pub fn optimizer(name: &str, options: &[&str]) -> Result<(Box<dyn Optimizer>, Value), CliError> {
    let which = OptimizerArg::from_str(name, false).map_err(|_| {
        let known: Vec<&str> = OptimizerArg::value_variants()
            .iter()
            .map(|o| o.name())
            .collect();
        CliError::Input(format!(
            "unknown optimizer `{name}`: one of {}",
            known.join(", ")
        ))
    })?;
    let hyper: OptimizerOptions = parse(options)?;
    crate::train::check_options(&hyper)?;
    let opt = crate::train::build(&hyper, which)?;
    let settings = crate::provenance::settings(&opt.settings());
    Ok((opt, settings))
}

/// The provenance record every citable output carries (version, commit, options in effect,
/// threads, CPU, memory budget), for a run of `what` with `options`.
pub fn provenance(what: &str, options: &Value) -> Value {
    crate::provenance::record(what, options)
}

/// One of the values of `--flag`, by its command-line name.
fn value<T: ValueEnum>(flag: &str, text: &str) -> Result<T, CliError> {
    T::from_str(text, false).map_err(|_| {
        let known: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        CliError::Input(format!(
            "invalid value '{text}' for {flag}: one of {}",
            known.join(", ")
        ))
    })
}

/// The settings of one curvature route, by their command-line names (`fisherlab curvature
/// --kind … --kfac-type … --kfac-approx … --norm-block …`).
pub struct RouteSpec<'a> {
    /// `--kind`: `hessian` or a kind of the registry ([`fisherlab_fisher::curvature::kinds`]).
    pub kind: &'a str,
    /// `--kfac-type`: type2, mc, empirical.
    pub kfac_type: &'a str,
    /// `--kfac-approx`: expand, reduce.
    pub kfac_approx: &'a str,
    /// `--norm-block`: diagonal, dense.
    pub norm_block: &'a str,
    /// `--mc-samples` (≥ 1).
    pub mc_samples: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--rank` (default min(10, P)).
    pub rank: Option<usize>,
    /// `--randomized`.
    pub randomized: bool,
}

/// A curvature route: `Some` approximation, or `None` for the Hessian of the mean negative
/// log-likelihood (no Fisher route; see [`fisherlab_fisher::model::hessian_of_mean_nll`]), and
/// whether it needs observed targets (the error to give when they are missing).
///
/// # Errors
/// A name that is not one of the flag's values, `mc_samples` = 0.
#[allow(clippy::type_complexity)]
pub fn route(
    spec: &RouteSpec<'_>,
    p: usize,
) -> Result<(Option<Box<dyn Approximation>>, Option<CliError>), CliError> {
    crate::checks::at_least(1, &[("mc-samples", spec.mc_samples)])?;
    let route = Route {
        kind: KindArg::from_name(spec.kind).ok_or_else(|| {
            CliError::Input(format!(
                "invalid value '{}' for kind: one of {}",
                spec.kind,
                KindArg::names().join(", ")
            ))
        })?,
        labels: Labels::from_name(spec.kfac_type, spec.mc_samples, spec.seed).map_err(|_| {
            CliError::Input(format!(
                "invalid value '{}' for kfac_type: one of {}",
                spec.kfac_type,
                Labels::NAMES.join(", ")
            ))
        })?,
        kfac_approx: value("kfac_approx", spec.kfac_approx)?,
        norm_block: value("norm_block", spec.norm_block)?,
        mc_samples: spec.mc_samples,
        seed: spec.seed,
        rank: spec.rank,
        randomized: spec.randomized,
    };
    let missing = route.needs_targets().then(|| route.missing_targets());
    Ok((route.approximation(p), missing))
}
