//! `fim`: the Fisher information of one family at one point, by its closed form, exact
//! expectation or Monte Carlo (`fisherlab fim`, Python's `fisherlab.fim`).

use crate::{Error, choice};
use fisherlab_distributions::ScoreFn;
use fisherlab_distributions::registry::{FAMILIES, build};
use fisherlab_fisher::{
    FisherEstimate, McForm, MonteCarloOptions, QuadratureOptions, analytic, exact_expectation,
    monte_carlo,
};
use serde_json::{Value, json};

choice! {
    /// Which route computes the matrix.
    pub enum MethodArg ("method") {
        Analytic = "analytic": "Closed form.",
        Quadrature = "quadrature": "Exact expectation: adaptive quadrature, or certified summation for counts.",
        MonteCarlo = "monte-carlo": "Monte Carlo with standard errors (see --form).",
        All = "all": "All of the above, with their agreement.",
    }
}

choice! {
    /// Monte-Carlo identity.
    pub enum FormArg ("form") {
        Score = "score": "E[s s^T], the score outer product.",
        Hessian = "hessian": "-E[Hessian of log p].",
    }
}

/// A request for the Fisher matrix of one family at one point.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FimRequest {
    /// Family name (see [`families`]).
    pub family: String,
    /// Every value by name: the coordinates and the fixed parameters (df, n, r).
    pub values: Vec<(String, f64)>,
    /// `canonical` or a named parameterisation.
    pub parameterization: String,
    /// How to compute the matrix.
    pub method: MethodArg,
    /// Monte-Carlo sample count (≥ 2).
    pub samples: usize,
    /// Monte-Carlo seed (same seed, same bits, whatever the thread count).
    pub seed: u64,
    /// Monte-Carlo identity.
    pub form: FormArg,
    /// Relative tolerance of the quadrature, against √(F_ii F_jj).
    pub tol: f64,
}

impl FimRequest {
    /// Default parameterisation.
    pub const PARAMETERIZATION: &'static str = "canonical";
    /// Default method.
    pub const METHOD: MethodArg = MethodArg::Analytic;
    /// Default Monte-Carlo sample count.
    pub const SAMPLES: usize = 1_000_000;
    /// Default seed.
    pub const SEED: u64 = 0;
    /// Default Monte-Carlo identity.
    pub const FORM: FormArg = FormArg::Score;
    /// Default quadrature tolerance.
    pub const TOL: f64 = 1e-11;

    /// `family` at `values`, every other setting its default.
    pub fn new(family: &str, values: &[(&str, f64)]) -> Self {
        FimRequest {
            family: family.to_string(),
            values: values.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            parameterization: Self::PARAMETERIZATION.to_string(),
            method: Self::METHOD,
            samples: Self::SAMPLES,
            seed: Self::SEED,
            form: Self::FORM,
            tol: Self::TOL,
        }
    }

    /// The family at its values, and its Fisher matrix by each method asked for (analytic first
    /// when several).
    ///
    /// # Errors
    /// [`Error::Input`] for a bad name or value, [`Error::Failed`] for a numerical failure
    /// (an entry that overflows float64, a quadrature that does not converge).
    pub fn estimate(&self) -> Result<(Box<dyn ScoreFn>, Vec<FisherEstimate>), Error> {
        let f = build(
            &self.family,
            Some(self.parameterization.as_str()),
            &self.values,
        )?;
        if self.samples < 2 && matches!(self.method, MethodArg::MonteCarlo | MethodArg::All) {
            return Err(Error::Input(format!(
                "invalid --samples {}: must be >= 2",
                self.samples
            )));
        }
        let list = estimates(f.as_ref(), self)?;
        Ok((f, list))
    }

    /// The matrices with the family's names and values.
    ///
    /// # Errors
    /// As [`FimRequest::estimate`].
    pub fn compute(&self) -> Result<Fim, Error> {
        let (f, estimates) = self.estimate()?;
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
}

/// The Fisher matrices of one family at one point.
pub struct Fim {
    /// The family's name.
    pub family: String,
    /// Its coordinates: `canonical` or a named parameterisation.
    pub parameterization: String,
    /// The coordinate names: the rows and columns of every matrix.
    pub parameters: Vec<String>,
    /// Every value, the coordinates' then the fixed parameters'.
    pub values: Vec<(String, f64)>,
    /// One estimate per method asked for (the closed form first with [`MethodArg::All`]).
    pub estimates: Vec<FisherEstimate>,
}

/// `NAME=VALUE` texts (of `flag`, for messages) as pairs.
///
/// # Errors
/// A text that is not `NAME=VALUE` with a number.
pub fn pairs(texts: &[String], flag: &str) -> Result<Vec<(String, f64)>, Error> {
    texts
        .iter()
        .map(|a| {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                Error::Input(format!("invalid {flag} `{a}`: expected NAME=VALUE"))
            })?;
            let k = k.trim();
            if k.is_empty() {
                return Err(Error::Input(format!("invalid {flag} `{a}`: empty name")));
            }
            let x: f64 = v.trim().parse().map_err(|_| {
                Error::Input(format!("invalid {flag} `{a}`: value `{v}` is not a number"))
            })?;
            Ok((k.to_string(), x))
        })
        .collect()
}

fn estimates(f: &dyn ScoreFn, args: &FimRequest) -> Result<Vec<FisherEstimate>, Error> {
    let quad = || -> Result<FisherEstimate, Error> {
        let opts = QuadratureOptions {
            rel_tol: args.tol,
            ..QuadratureOptions::default()
        };
        Ok(exact_expectation(f, &opts)?.fisher)
    };
    let mc = |form: McForm| -> Result<FisherEstimate, Error> {
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
    let finite = |e: FisherEstimate| -> Result<FisherEstimate, Error> {
        let m = &e.matrix;
        for j in 0..m.ncols() {
            for i in 0..m.nrows() {
                if !m[(i, j)].is_finite() {
                    return Err(Error::Failed(format!(
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

/// Every family with its coordinates, fixed parameters, parameterisations and an example
/// point (`fisherlab families --json`).
pub fn families() -> Value {
    Value::Array(
        FAMILIES
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
            .collect(),
    )
}
