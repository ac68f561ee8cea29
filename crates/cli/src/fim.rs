//! `fisherlab fim` and `fisherlab families`.

use crate::{CliError, choice, format};
use clap::Args;
use fisherlab_app::fim::{FimRequest, FormArg, MethodArg, pairs};
use fisherlab_distributions::ScoreFn;
use fisherlab_distributions::registry::FAMILIES;
use fisherlab_fisher::FisherEstimate;
use serde_json::{Value, json};

pub const EXAMPLES: &str = "Examples:
  fisherlab fim normal --param mu=0 --param sigma=2
  fisherlab fim gamma --param shape=2.5 --param rate=1.5 --method all
  fisherlab fim student_t --param loc=0 --param scale=1 --fixed df=4 --method quadrature
  fisherlab fim normal --parameterization natural --param eta1=0.5 --param eta2=-0.125
  fisherlab fim categorical --parameterization logits --param logit1=0 --param logit2=1 --param logit3=-1
  fisherlab fim poisson --param rate=3 --method monte-carlo --samples 1000000 --seed 7 --json";

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
    #[arg(long, default_value = FimRequest::PARAMETERIZATION)]
    parameterization: String,
    /// How to compute the matrix.
    #[arg(long, value_parser = choice::<MethodArg>(), default_value_t = FimRequest::METHOD)]
    method: MethodArg,
    /// Monte-Carlo sample count.
    #[arg(long, default_value_t = FimRequest::SAMPLES)]
    samples: usize,
    /// Monte-Carlo seed (same seed, same bits, whatever the thread count).
    #[arg(long, default_value_t = FimRequest::SEED)]
    seed: u64,
    /// Monte-Carlo identity.
    #[arg(long, value_parser = choice::<FormArg>(), default_value_t = FimRequest::FORM)]
    form: FormArg,
    /// Relative tolerance of the quadrature, against sqrt(F_ii F_jj).
    #[arg(long, default_value_t = FimRequest::TOL)]
    tol: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
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

impl FimArgs {
    /// The request these arguments make (`--param` and `--fixed` values together).
    pub fn request(&self) -> Result<FimRequest, CliError> {
        let mut values = pairs(&self.params, "--param")?;
        values.extend(pairs(&self.fixed, "--fixed")?);
        Ok(FimRequest {
            family: self.family.clone(),
            values,
            parameterization: self.parameterization.clone(),
            method: self.method,
            samples: self.samples,
            seed: self.seed,
            form: self.form,
            tol: self.tol,
        })
    }
}

pub fn run(args: &FimArgs) -> Result<String, CliError> {
    let (f, list) = args.request()?.estimate()?;
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
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&fisherlab_app::fim::families()).expect("JSON of strings")
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
