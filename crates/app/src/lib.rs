//! fisherlab's application layer: what the `fisherlab` command and the Python package both do,
//! as typed requests that check themselves, with no command-line parsing in it.
//!
//! Each front end fills a request — [`fim::FimRequest`], [`verify::VerifyRequest`],
//! [`routes::Route`] (`curvature --kind`), [`optimizers::OptimizerOptions`] with an
//! [`optimizers::OptimizerArg`] — from its own arguments (clap's structs, Python's keyword
//! arguments) and gets back the computed values or one [`Error`]: the same defaults, the same
//! checks and the same one-line messages, whichever front end asked. Closed sets of names (a
//! method, an optimizer, a K-FAC variant) are [`Choice`]s, listed with their help once for both.
//!
//! # Examples
//! ```
//! use fisherlab_app::fim::FimRequest;
//! let fim = FimRequest::new("gamma", &[("shape", 2.5), ("rate", 1.5)]).compute().unwrap();
//! assert_eq!(fim.parameters, ["shape", "rate"]);
//! // F = [[ψ'(α), −1/β], [−1/β, α/β²]]
//! assert!((fim.estimates[0].matrix[(0, 1)] + 1.0 / 1.5).abs() < 1e-15);
//! let bad = FimRequest::new("gamma", &[("shape", -1.0), ("rate", 1.0)]).compute();
//! assert!(matches!(bad, Err(fisherlab_app::Error::Input(_))));
//! ```

pub mod checks;
pub mod compare;
pub mod fim;
pub mod format;
pub mod optimizers;
pub mod provenance;
pub mod routes;
pub mod verify;

use fisherlab_autodiff::layers::{Network, parse_model};
use fisherlab_distributions::heads::Head;
use serde_json::Value;

/// An error of a request: bad input (the command exits 2, Python raises `ValueError`) or a
/// computation that failed (exit 1, `RuntimeError`). Either is one line naming the bad value
/// and the rule it breaks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input.
    #[error("{0}")]
    Input(String),
    /// The computation itself failed.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// Bad input when `input`, else a failed computation, with `e`'s message.
    pub fn classified(input: bool, e: impl std::fmt::Display) -> Self {
        if input {
            Error::Input(e.to_string())
        } else {
            Error::Failed(e.to_string())
        }
    }
}

impl From<fisherlab_io::Error> for Error {
    fn from(e: fisherlab_io::Error) -> Self {
        match e {
            fisherlab_io::Error::Input(m) => Error::Input(m),
            fisherlab_io::Error::Failed(m) => Error::Failed(m),
        }
    }
}

impl From<fisherlab_distributions::Error> for Error {
    fn from(e: fisherlab_distributions::Error) -> Self {
        Error::Input(e.to_string())
    }
}

impl From<fisherlab_fisher::Error> for Error {
    fn from(e: fisherlab_fisher::Error) -> Self {
        Error::classified(e.is_input(), e)
    }
}

impl From<fisherlab_optim::Error> for Error {
    fn from(e: fisherlab_optim::Error) -> Self {
        Error::classified(e.is_input(), e)
    }
}

impl From<fisherlab_linalg::Error> for Error {
    fn from(e: fisherlab_linalg::Error) -> Self {
        Error::classified(e.is_input(), e)
    }
}

/// A closed set of named values that a flag or a keyword argument takes (`--method analytic`,
/// `method="analytic"`): every value with its name and its one-line help, listed once for the
/// command's `--help`, its parser and Python's checks.
///
/// # Examples
/// ```
/// use fisherlab_app::Choice;
/// use fisherlab_app::optimizers::OptimizerArg;
/// assert_eq!(OptimizerArg::from_name("kfac").unwrap(), OptimizerArg::Kfac);
/// assert_eq!(
///     OptimizerArg::from_name("lbfgs").unwrap_err().to_string(),
///     "unknown optimizer `lbfgs`: one of sgd, adam, ngd, diag, kfac, ekfac, smw, hf"
/// );
/// ```
pub trait Choice: Copy + PartialEq + Send + Sync + 'static {
    /// What the value chooses, as messages name it (`optimizer`, `method`).
    const WHAT: &'static str;
    /// Every value: itself, its name, its one-line help.
    const ALL: &'static [(Self, &'static str, &'static str)];

    /// Its name.
    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or("", |(_, n, _)| n)
    }

    /// Every name, in order.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, n, _)| *n).collect()
    }

    /// The value called `name`.
    ///
    /// # Errors
    /// An unknown name: `unknown WHAT `name`: one of …`.
    fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(v, _, _)| *v)
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown {} `{name}`: one of {}",
                    Self::WHAT,
                    Self::names().join(", ")
                ))
            })
    }
}

/// A [`Choice`] enum: its variants with their names and help, `Display` and `Serialize` as the
/// name.
macro_rules! choice {
    ($(#[$meta:meta])* pub enum $name:ident ($what:literal) {
        $($variant:ident = $text:literal : $help:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $(#[doc = $help] $variant),+
        }
        impl $crate::Choice for $name {
            const WHAT: &'static str = $what;
            const ALL: &'static [(Self, &'static str, &'static str)] =
                &[$(($name::$variant, $text, $help)),+];
        }
        impl $name {
            /// Its name.
            pub fn name(self) -> &'static str {
                <Self as $crate::Choice>::name(self)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::Choice::name(*self))
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::Choice::name(*self))
            }
        }
    };
}
pub(crate) use choice;

/// Parallel tasks of every faer routine, whatever the number of threads in the pool: a fixed
/// split makes the parallel Cholesky and eigendecompositions (not only the products) give the
/// same bits for any `RAYON_NUM_THREADS`.
pub const PARALLEL_SPLIT: usize = 2;

/// What every front end sets before any work: faer's parallel routines get a fixed split (so
/// the results have the same bits for any thread count) and freed memory is kept for reuse.
pub fn init() {
    faer::set_global_parallelism(faer::Par::rayon(PARALLEL_SPLIT));
    fisherlab_linalg::retain_freed_memory();
}

/// Set the memory budget (`None`: the memory available), as `--max-memory` does.
pub fn set_memory_budget(bytes: Option<u64>) {
    fisherlab_linalg::memory::set_budget(bytes);
}

/// Largest model text read (a printed nn.Sequential is a few kB).
pub const MAX_MODEL_TEXT: u64 = 1 << 20;

/// The network a model text describes (PyTorch's `print(model)` of an `nn.Sequential`), bound
/// to the per-sample input `shape`, refused against the memory budget before its parameters
/// are allocated.
///
/// # Errors
/// A text that does not parse, a network that does not fit the shape, or one over the budget.
pub fn network(text: &str, shape: &[usize]) -> Result<Network, Error> {
    if text.len() as u64 > MAX_MODEL_TEXT {
        return Err(Error::Input(format!(
            "model text: {} bytes is not a printed model (at most {MAX_MODEL_TEXT})",
            text.len()
        )));
    }
    let seq = parse_model(text).map_err(|e| Error::Input(format!("model text: {e}")))?;
    let net = seq
        .build(shape)
        .map_err(|e| Error::Input(format!("model text: {e} (input shape {shape:?})")))?;
    net.check_memory()
        .map_err(|e| Error::Input(e.to_string()))?;
    Ok(net)
}

/// The likelihood head `name` (`--likelihood`), with `sigma` for the gaussian one only.
///
/// # Errors
/// An unknown name, a bad σ, or σ given to another head.
pub fn head(name: &str, sigma: Option<f64>) -> Result<Head, Error> {
    checks::positive(&[("sigma", sigma)])?;
    let head = Head::from_name(name, sigma)?;
    if sigma.is_some() && !matches!(head, Head::Gaussian { .. }) {
        return Err(Error::Input(format!(
            "--sigma applies to the gaussian likelihood only, not {name}"
        )));
    }
    Ok(head)
}

/// `fisherlab datasets --json` as a JSON value.
///
/// # Errors
/// None in practice (the list is embedded).
pub fn datasets() -> Result<Value, Error> {
    json(&fisherlab_io::data::list(true)?)
}

fn json(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::Failed(e.to_string()))
}

/// An embedded dataset: inputs (N × d), targets (N × C) and the natural per-sample shape.
pub type Dataset = (faer::Mat<f64>, faer::Mat<f64>, Vec<usize>);

/// The embedded dataset `name` (see [`datasets`]).
///
/// # Errors
/// An unknown name.
pub fn dataset(name: &str) -> Result<Dataset, Error> {
    let (x, y) = fisherlab_io::data::load(name)?;
    Ok((x, y, fisherlab_io::data::dataset(name)?.shape.to_vec()))
}

/// Every request's defaults by the names its front ends give them (Python's keyword
/// arguments; the flags' names with underscores), so that no front end writes its own.
///
/// # Examples
/// ```
/// let d = fisherlab_app::defaults();
/// assert_eq!(d["fim"]["samples"], 1_000_000);
/// assert_eq!(d["optimizer"]["decay"], 0.95);
/// ```
pub fn defaults() -> Value {
    use fim::FimRequest;
    use routes::Route;
    use verify::VerifyRequest;
    let optimizer =
        serde_json::to_value(optimizers::OptimizerOptions::DEFAULT).unwrap_or(Value::Null);
    serde_json::json!({
        "fim": {
            "parameterization": FimRequest::PARAMETERIZATION,
            "method": FimRequest::METHOD,
            "samples": FimRequest::SAMPLES,
            "seed": FimRequest::SEED,
            "form": FimRequest::FORM,
            "tol": FimRequest::TOL,
        },
        "verify": {
            "var": VerifyRequest::VAR,
            "seed": VerifyRequest::SEED,
            "method": VerifyRequest::METHOD,
            "samples": VerifyRequest::SAMPLES,
            "tol": VerifyRequest::TOL,
            "z_tol": VerifyRequest::Z_TOL,
        },
        "curvature": {
            "kfac_type": Route::KFAC_TYPE,
            "kfac_approx": Route::KFAC_APPROX,
            "norm_block": Route::NORM_BLOCK,
            "mc_samples": Route::MC_SAMPLES,
        },
        "compare": {
            "reference": compare::ReferenceArg::Auto,
            "probes": compare::Probes::DEFAULT.probes,
            "slq_probes": compare::Probes::DEFAULT.slq_probes,
            "slq_steps": compare::Probes::DEFAULT.slq_steps,
            "krylov_steps": compare::Probes::DEFAULT.krylov_steps,
        },
        "optimizer": optimizer,
        "train": {
            "steps": optimizers::STEPS,
            "batch": optimizers::BATCH,
            "eval_every": optimizers::EVAL_EVERY,
        },
    })
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
