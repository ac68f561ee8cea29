//! `fisherlab fim` and `fisherlab families`.

use crate::{CliError, format};
use clap::{Args, ValueEnum};
use fisherlab_distributions::ScoreFn;
use fisherlab_distributions::registry::{FAMILIES, build};
use fisherlab_fisher::{
    FisherEstimate, McForm, MonteCarloOptions, QuadratureOptions, analytic, exact_expectation,
    monte_carlo,
};
use serde_json::{Value, json};

pub const EXAMPLES: &str = "Examples:
  fisherlab fim normal --param mu=0 --param sigma=2
  fisherlab fim gamma --param shape=2.5 --param rate=1.5 --method all
  fisherlab fim student_t --param loc=0 --param scale=1 --fixed df=4 --method quadrature
  fisherlab fim normal --parameterization natural --param eta1=0.5 --param eta2=-0.125
  fisherlab fim categorical --parameterization logits --param logit1=0 --param logit2=1 --param logit3=-1
  fisherlab fim poisson --param rate=3 --method monte-carlo --samples 1000000 --seed 7 --json";

/// Which route computes the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodArg {
    /// Closed form.
    Analytic,
    /// Exact expectation: adaptive quadrature, or certified summation for counts.
    Quadrature,
    /// Monte Carlo with standard errors (see --form).
    MonteCarlo,
    /// All of the above, with their agreement.
    All,
}

/// Monte-Carlo identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormArg {
    /// E[s s^T], the score outer product.
    Score,
    /// -E[Hessian of log p].
    Hessian,
}

#[derive(Args, Debug, serde::Serialize)]
pub struct FimArgs {
    /// Family name (see `fisherlab families`).
    family: String,
    /// A parameter, NAME=VALUE (repeatable); fixed parameters (df, n, r) may be given here too.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// A fixed parameter, NAME=VALUE (df of student_t, n of binomial, r of negative_binomial).
    #[arg(long = "fixed", value_name = "NAME=VALUE")]
    fixed: Vec<String>,
    /// Coordinates of the matrix: canonical, or a named alternative (see `fisherlab families`).
    #[arg(long, default_value = "canonical")]
    parameterization: String,
    /// How to compute the matrix.
    #[arg(long, value_enum, default_value_t = MethodArg::Analytic)]
    method: MethodArg,
    /// Monte-Carlo sample count.
    #[arg(long, default_value_t = 1_000_000)]
    samples: usize,
    /// Monte-Carlo seed (same seed, same bits, whatever the thread count).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Monte-Carlo identity.
    #[arg(long, value_enum, default_value_t = FormArg::Score)]
    form: FormArg,
    /// Relative tolerance of the quadrature, against sqrt(F_ii F_jj).
    #[arg(long, default_value_t = 1e-11)]
    tol: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_pairs(args: &[String], flag: &str) -> Result<Vec<(String, f64)>, CliError> {
    args.iter()
        .map(|a| {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                CliError::Input(format!("invalid {flag} `{a}`: expected NAME=VALUE"))
            })?;
            let k = k.trim();
            if k.is_empty() {
                return Err(CliError::Input(format!("invalid {flag} `{a}`: empty name")));
            }
            let x: f64 = v.trim().parse().map_err(|_| {
                CliError::Input(format!("invalid {flag} `{a}`: value `{v}` is not a number"))
            })?;
            Ok((k.to_string(), x))
        })
        .collect()
}

fn estimates(f: &dyn ScoreFn, args: &FimArgs) -> Result<Vec<FisherEstimate>, CliError> {
    let quad = || -> Result<FisherEstimate, CliError> {
        let opts = QuadratureOptions {
            rel_tol: args.tol,
            ..QuadratureOptions::default()
        };
        Ok(exact_expectation(f, &opts)?.fisher)
    };
    let mc = |form: McForm| -> Result<FisherEstimate, CliError> {
        let opts = MonteCarloOptions {
            samples: args.samples,
            seed: args.seed,
            form,
        };
        Ok(monte_carlo(f, &opts)?)
    };
    let form = match args.form {
        FormArg::Score => McForm::Score,
        FormArg::Hessian => McForm::NegativeHessian,
    };
    let finite = |e: FisherEstimate| -> Result<FisherEstimate, CliError> {
        let m = &e.matrix;
        for j in 0..m.ncols() {
            for i in 0..m.nrows() {
                if !m[(i, j)].is_finite() {
                    return Err(CliError::Failed(format!(
                        "{}: the {} Fisher has entry ({}, {}) = {}: float64 overflows at these parameters",
                        f.name(),
                        e.method.as_str(),
                        e.param_names[i],
                        e.param_names[j],
                        m[(i, j)]
                    )));
                }
            }
        }
        Ok(e)
    };
    let all = match args.method {
        MethodArg::Analytic => vec![analytic(f)],
        MethodArg::Quadrature => vec![quad()?],
        MethodArg::MonteCarlo => vec![mc(form)?],
        MethodArg::All => {
            let mut v = vec![analytic(f), quad()?, mc(McForm::Score)?];
            if f.hessian_identity_holds() {
                v.push(mc(McForm::NegativeHessian)?);
            }
            v
        }
    };
    all.into_iter().map(finite).collect()
}

fn json_of(f: &dyn ScoreFn, e: &FisherEstimate) -> Value {
    let rows = |m: &nalgebra::DMatrix<f64>| -> Value {
        (0..m.nrows())
            .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect::<Vec<f64>>())
            .collect::<Vec<_>>()
            .into()
    };
    let mut values = serde_json::Map::new();
    for (n, v) in f.param_names().iter().zip(f.params()) {
        values.insert(n.clone(), json!(v));
    }
    for (n, v) in f.fixed() {
        values.insert(n.to_string(), json!(v));
    }
    json!({
        "family": f.name(),
        "parameterization": f.parameterization(),
        "parameters": f.param_names(),
        "values": values,
        "method": e.method.as_str(),
        "fisher": rows(&e.matrix),
        "std_error": e.std_error.as_ref().map(rows),
    })
}

/// Largest `|A − B|ᵢⱼ / √(Aᵢᵢ Aⱼⱼ)`.
fn scaled_gap(a: &nalgebra::DMatrix<f64>, b: &nalgebra::DMatrix<f64>) -> f64 {
    let mut worst = 0.0f64;
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            let s = (a[(i, i)] * a[(j, j)]).abs().sqrt().max(1e-300);
            worst = worst.max((a[(i, j)] - b[(i, j)]).abs() / s);
        }
    }
    worst
}

/// Largest `|A − B|ᵢⱼ / SEᵢⱼ`.
fn z_score(a: &nalgebra::DMatrix<f64>, e: &FisherEstimate) -> f64 {
    let Some(se) = &e.std_error else { return 0.0 };
    let mut worst = 0.0f64;
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            let d = (a[(i, j)] - e.matrix[(i, j)]).abs();
            // floor the standard error at rounding level: an entry constant across samples
            // (e.g. a Hessian that does not depend on x) must match to rounding
            let floor = 1e-12 * (a[(i, i)] * a[(j, j)]).abs().sqrt();
            worst = worst.max(d / se[(i, j)].max(floor).max(f64::MIN_POSITIVE));
        }
    }
    worst
}

/// The family the arguments name, at their values, and its Fisher matrix by each method asked
/// for (analytic first when several).
pub fn compute(args: &FimArgs) -> Result<(Box<dyn ScoreFn>, Vec<FisherEstimate>), CliError> {
    let mut values = parse_pairs(&args.params, "--param")?;
    values.extend(parse_pairs(&args.fixed, "--fixed")?);
    let f = build(&args.family, Some(args.parameterization.as_str()), &values)?;
    if args.method != MethodArg::Analytic
        && args.samples < 2
        && matches!(args.method, MethodArg::MonteCarlo | MethodArg::All)
    {
        return Err(CliError::Input(format!(
            "invalid --samples {}: must be >= 2",
            args.samples
        )));
    }
    let list = estimates(f.as_ref(), args)?;
    Ok((f, list))
}

pub fn run(args: &FimArgs) -> Result<String, CliError> {
    let (f, list) = compute(args)?;
    if args.json {
        let v: Vec<Value> = list.iter().map(|e| json_of(f.as_ref(), e)).collect();
        let out = if v.len() == 1 {
            v[0].clone()
        } else {
            Value::Array(v)
        };
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&out).expect("JSON of numbers")
        ));
    }
    let names = f.param_names();
    let mut out = format!("{} ({})\n", f.name(), f.parameterization());
    let vals: Vec<String> = names
        .iter()
        .zip(f.params())
        .map(|(n, v)| format!("{n} = {}", format::number(v)))
        .chain(
            f.fixed()
                .into_iter()
                .map(|(n, v)| format!("{n} = {} (fixed)", format::number(v))),
        )
        .collect();
    out += &format!("  {}\n", vals.join(", "));
    for e in &list {
        out += &format!("\nFisher information, {}:\n", e.method.as_str());
        out += &format::matrix(&names, &e.matrix);
        if let Some(se) = &e.std_error {
            out += &format!(
                "standard error ({} samples, seed {}):\n",
                args.samples, args.seed
            );
            out += &format::matrix(&names, se);
        }
    }
    if list.len() > 1 {
        let a = &list[0].matrix;
        out += "\nAgreement with the closed form:\n";
        for e in &list[1..] {
            if e.std_error.is_some() {
                out += &format!(
                    "  {:<22} within {:.2} standard errors\n",
                    e.method.as_str(),
                    z_score(a, e)
                );
            } else {
                out += &format!(
                    "  {:<22} max |difference| / sqrt(F_ii F_jj) = {:.1e}\n",
                    e.method.as_str(),
                    scaled_gap(a, &e.matrix)
                );
            }
        }
    }
    Ok(out)
}

pub fn families(json: bool) -> Result<String, CliError> {
    if json {
        let v: Vec<Value> = FAMILIES
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "parameters": e.params,
                    "fixed": e.fixed,
                    "parameterizations": e.parameterizations,
                    "example": e.example,
                })
            })
            .collect();
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON of strings")
        ));
    }
    let mut out = String::new();
    for e in FAMILIES {
        out += &format!("{}\n  parameters: {}\n", e.name, e.params);
        if !e.fixed.is_empty() {
            out += &format!("  fixed: {}\n", e.fixed);
        }
        if !e.parameterizations.is_empty() {
            out += &format!(
                "  parameterizations: canonical, {}\n",
                e.parameterizations.join(", ")
            );
        }
        let ex: Vec<String> = e
            .example
            .split_whitespace()
            .map(|kv| format!("--param {kv}"))
            .collect();
        out += &format!("  example: fisherlab fim {} {}\n", e.name, ex.join(" "));
    }
    Ok(out)
}
