//! `fisherlab verify`: is my Fisher matrix right? A log-density and a claimed matrix, written
//! as text, checked entry by entry against exact expectation and Monte Carlo, with the symbolic
//! score and Hessian printed.

use crate::{CliError, choice};
use clap::Args;
use fisherlab_app::verify::{MethodArg, Outcome, VerifyRequest, point, range};

pub const EXAMPLES: &str = "Examples:
  fisherlab verify --logpdf \"-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)\" --support real \\
      --params mu,sigma --claim \"[[1/sigma^2, 0], [0, 2/sigma^2]]\" --at mu=0.3,sigma=2
  fisherlab verify --logpdf \"shape*log(rate) - lgamma(shape) + (shape - 1)*log(x) - rate*x\" \\
      --support positive --params shape,rate \\
      --claim \"[[trigamma(shape), -1/rate], [-1/rate, shape/rate^2]]\" --random 5 --seed 1 --latex
  fisherlab verify --logpdf \"x*eta - log(1 + exp(eta))\" --support int:0..1 --params eta \\
      --exp-family \"log(1 + exp(eta))\" --range eta=-3..3";

#[derive(Args, Debug, serde::Serialize)]
pub struct VerifyArgs {
    /// The log-density log p(x | θ) as an expression in the data variable and the parameters.
    #[arg(long, allow_hyphen_values = true)]
    logpdf: String,
    /// Name of the data variable.
    #[arg(long, default_value = VerifyRequest::VAR)]
    var: String,
    /// Where the data variable lives: real, positive, unit, nonneg-int, int:A..B (A ≤ B).
    #[arg(long)]
    support: String,
    /// Parameter names, comma-separated, in the order of the claim's rows.
    #[arg(long, value_delimiter = ',', required = true)]
    params: Vec<String>,
    /// The claimed Fisher matrix, [[e11, e12, …], [e21, …], …], entries in the parameters.
    #[arg(
        long,
        allow_hyphen_values = true,
        required_unless_present = "exp_family"
    )]
    claim: Option<String>,
    /// Exponential-family mode: the log-partition A(η) in the (natural) parameters; prints the
    /// Fisher ∇²A(η) symbolically and checks it (and --claim, if given).
    #[arg(long, allow_hyphen_values = true)]
    exp_family: Option<String>,
    /// A point, e.g. mu=0.3,sigma=2 (repeat for several).
    #[arg(long, value_name = "NAME=VALUE,…")]
    at: Vec<String>,
    /// Check at this many random valid points (default 3 when no --at is given); draws where
    /// the log-density or the claim is not finite are replaced.
    #[arg(long)]
    random: Option<usize>,
    /// Seed of the random points and of Monte Carlo.
    #[arg(long, default_value_t = VerifyRequest::SEED)]
    seed: u64,
    /// Range of a parameter's random values, e.g. p=0.1..0.9 (default 0.5..3 for every
    /// parameter).
    #[arg(long, value_name = "NAME=LO..HI", allow_hyphen_values = true)]
    range: Vec<String>,
    /// Which route decides pass or fail.
    #[arg(long, value_parser = choice::<MethodArg>(), default_value_t = VerifyRequest::METHOD)]
    method: MethodArg,
    /// Monte-Carlo samples per form.
    #[arg(long, default_value_t = VerifyRequest::SAMPLES)]
    samples: usize,
    /// Pass threshold of the exact route: |claimed − computed| ≤ TOL · √(F_ii F_jj).
    #[arg(long, default_value_t = VerifyRequest::TOL)]
    tol: f64,
    /// Pass threshold of --method monte-carlo, in standard errors.
    #[arg(long, default_value_t = VerifyRequest::Z_TOL)]
    z_tol: f64,
    /// Print the symbolic score, Hessian and Fisher in LaTeX.
    #[arg(long)]
    latex: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl VerifyArgs {
    /// The request these arguments make (`--at` and `--range` texts read).
    pub fn request(&self) -> Result<VerifyRequest, CliError> {
        Ok(VerifyRequest {
            logpdf: self.logpdf.clone(),
            var: self.var.clone(),
            support: self.support.clone(),
            params: self.params.clone(),
            claim: self.claim.clone(),
            exp_family: self.exp_family.clone(),
            at: self.at.iter().map(|t| point(t)).collect::<Result<_, _>>()?,
            random: self.random,
            seed: self.seed,
            range: self
                .range
                .iter()
                .map(|t| range(t))
                .collect::<Result<_, _>>()?,
            method: self.method,
            samples: self.samples,
            tol: self.tol,
            z_tol: self.z_tol,
            latex: self.latex,
        })
    }
}

/// Run the command; a wrong claim prints the report and is `Err(Failed)` with its one line
/// (exit 1).
pub fn run(args: &VerifyArgs) -> Result<String, CliError> {
    let outcome: Outcome = args.request()?.check()?;
    let text = if args.json {
        serde_json::to_string_pretty(&outcome.json).map_err(|e| CliError::Failed(e.to_string()))?
            + "\n"
    } else {
        outcome.text
    };
    match outcome.failure {
        None => Ok(text),
        Some(line) => {
            print!("{text}");
            Err(CliError::Failed(line))
        }
    }
}
