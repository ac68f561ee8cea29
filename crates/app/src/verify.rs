//! `verify`: is my Fisher matrix right? A log-density and a claimed matrix, written as text,
//! checked entry by entry against exact expectation and Monte Carlo, with the symbolic score and
//! Hessian reported (`fisherlab verify`, Python's `fisherlab.verify`).

use crate::{Error, checks, choice, format};
use fisherlab_fisher::verify::{
    PointCheck, SymSupport, SymbolicFamily, VerifyMethod, VerifyOptions, describe_point,
    parse_claim, verify,
};
use fisherlab_symbolic::{Expr, Symbols, parse, score_and_hessian};
use rand::RngExt;
use serde_json::{Value, json};
use std::fmt::Write as _;

choice! {
    /// Which route decides.
    pub enum MethodArg ("method") {
        Quadrature = "quadrature": "Exact expectation: adaptive quadrature, or summation over counts (Monte Carlo shown too).",
        MonteCarlo = "monte-carlo": "Monte Carlo in the score form decides (within --z-tol standard errors); both forms shown.",
    }
}

/// A point: a value for every parameter, by name.
pub type Point = Vec<(String, f64)>;

/// A request to check a claimed Fisher matrix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyRequest {
    /// The log-density log p(x | θ) as an expression in the data variable and the parameters.
    pub logpdf: String,
    /// Name of the data variable.
    pub var: String,
    /// Where the data variable lives: real, positive, unit, nonneg-int, int:A..B (A ≤ B).
    pub support: String,
    /// Parameter names, in the order of the claim's rows.
    pub params: Vec<String>,
    /// The claimed Fisher matrix, `[[e11, e12, …], [e21, …], …]`, entries in the parameters.
    pub claim: Option<String>,
    /// Exponential-family mode: the log-partition A(η) in the (natural) parameters.
    pub exp_family: Option<String>,
    /// Points to check at.
    pub at: Vec<Point>,
    /// Random valid points to check at (default 3 when `at` is empty).
    pub random: Option<usize>,
    /// Seed of the random points and of Monte Carlo.
    pub seed: u64,
    /// Ranges of parameters' random values, `(name, lo, hi)` (default 0.5..3 each).
    pub range: Vec<(String, f64, f64)>,
    /// Which route decides pass or fail.
    pub method: MethodArg,
    /// Monte-Carlo samples per form (≥ 2).
    pub samples: usize,
    /// Pass threshold of the exact route: |claimed − computed| ≤ tol · √(F_ii F_jj).
    pub tol: f64,
    /// Pass threshold of the Monte-Carlo route, in standard errors.
    pub z_tol: f64,
    /// Report the symbolic score, Hessian and Fisher in LaTeX.
    pub latex: bool,
}

impl VerifyRequest {
    /// Default data variable.
    pub const VAR: &'static str = "x";
    /// Default seed.
    pub const SEED: u64 = 0;
    /// Default method.
    pub const METHOD: MethodArg = MethodArg::Quadrature;
    /// Default Monte-Carlo samples.
    pub const SAMPLES: usize = 100_000;
    /// Default tolerance of the exact route.
    pub const TOL: f64 = 1e-6;
    /// Default tolerance of the Monte-Carlo route.
    pub const Z_TOL: f64 = 5.0;

    /// `logpdf` on `support` in `params`, every other setting its default (give `claim` or
    /// `exp_family`, and points, before [`VerifyRequest::check`]).
    pub fn new(logpdf: &str, support: &str, params: &[&str]) -> Self {
        VerifyRequest {
            logpdf: logpdf.to_string(),
            var: Self::VAR.to_string(),
            support: support.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
            claim: None,
            exp_family: None,
            at: Vec::new(),
            random: None,
            seed: Self::SEED,
            range: Vec::new(),
            method: Self::METHOD,
            samples: Self::SAMPLES,
            tol: Self::TOL,
            z_tol: Self::Z_TOL,
            latex: false,
        }
    }

    /// Check the claim at every point: the symbolic score and Hessian, then exact expectation
    /// or Monte Carlo per entry, with both reports built. A wrong claim is an [`Outcome`], not
    /// an error.
    ///
    /// # Errors
    /// Bad input, or a density that is not normalisable.
    pub fn check(&self) -> Result<Outcome, Error> {
        check(self)
    }
}

fn input(flag: &str, e: impl std::fmt::Display) -> Error {
    Error::Input(format!("--{flag}: {e}"))
}

/// A point's text, `mu=0.3,sigma=2`, as a [`Point`].
///
/// # Errors
/// A part that is not `NAME=VALUE` with a number.
pub fn point(text: &str) -> Result<Point, Error> {
    text.split(',')
        .map(|part| {
            let bad = |rule: String| Error::Input(format!("--at {text} is invalid: {rule}"));
            let (name, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not NAME=VALUE")))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{}` is not a number", v.trim())))?;
            Ok((name.trim().to_string(), v))
        })
        .collect()
}

/// A range's text, `p=0.1..0.9`, as `(name, lo, hi)`.
///
/// # Errors
/// A text that is not `NAME=LO..HI` with numbers.
pub fn range(text: &str) -> Result<(String, f64, f64), Error> {
    let bad = |rule: &str| Error::Input(format!("--range {text} is invalid: {rule}"));
    let (name, r) = text
        .split_once('=')
        .ok_or_else(|| bad("write NAME=LO..HI"))?;
    let (lo, hi) = r.split_once("..").ok_or_else(|| bad("write NAME=LO..HI"))?;
    let lo: f64 = lo.trim().parse().map_err(|_| bad("LO is not a number"))?;
    let hi: f64 = hi.trim().parse().map_err(|_| bad("HI is not a number"))?;
    Ok((name.trim().to_string(), lo, hi))
}

/// The parameter `name`'s index among the coordinates.
fn parameter(symbols: &Symbols, name: &str) -> Option<usize> {
    symbols.index(name).filter(|&k| k > 0).map(|k| k - 1)
}

/// A range's index and bounds, checked.
fn check_range(
    (name, lo, hi): &(String, f64, f64),
    symbols: &Symbols,
) -> Result<(usize, f64, f64), Error> {
    let bad = |rule: &str| Error::Input(format!("--range {name}={lo}..{hi} is invalid: {rule}"));
    let k = parameter(symbols, name).ok_or_else(|| bad("unknown parameter"))?;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(bad("needs finite LO < HI"));
    }
    Ok((k, *lo, *hi))
}

/// A point as a full parameter vector, checked.
fn check_point(point: &Point, symbols: &Symbols) -> Result<Vec<f64>, Error> {
    let text = point
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let bad = |rule: String| Error::Input(format!("--at {text} is invalid: {rule}"));
    let mut theta = vec![f64::NAN; symbols.num_params()];
    for (name, v) in point {
        let k =
            parameter(symbols, name).ok_or_else(|| bad(format!("unknown parameter `{name}`")))?;
        if !v.is_finite() {
            return Err(bad(format!("{name} must be finite")));
        }
        theta[k] = *v;
    }
    if let Some(k) = theta.iter().position(|v| v.is_nan()) {
        return Err(bad(format!("no value for {}", symbols.names()[k + 1])));
    }
    Ok(theta)
}

/// What one `verify` run found: both reports, the verdict, and the one-line reason of a failure.
pub struct Outcome {
    /// The report as the command prints it.
    pub text: String,
    /// The report as `--json` prints it.
    pub json: Value,
    /// Whether every entry at every point passed.
    pub passed: bool,
    /// The one line the command prints on failure (`None` when it passed).
    pub failure: Option<String>,
}

/// Check the claim at every point: the symbolic score and Hessian, then exact expectation or
/// Monte Carlo per entry, with both reports built.
fn check(args: &VerifyRequest) -> Result<Outcome, Error> {
    let params: Vec<&str> = args.params.iter().map(|s| s.trim()).collect();
    let symbols = Symbols::new(args.var.trim(), &params).map_err(|e| input("params", e))?;
    let logpdf = parse(&args.logpdf, &symbols).map_err(|e| input("logpdf", e))?;
    let support = SymSupport::parse(&args.support).map_err(|e| Error::Input(e.to_string()))?;
    // the symbolic score and Hessian first: a log-density too large to differentiate is refused
    // before any numerical work
    let (score, hessian) = score_and_hessian(&logpdf, &symbols).map_err(|e| input("logpdf", e))?;
    checks::at_least(2, &[("samples", args.samples)])?;
    checks::positive(&[("tol", Some(args.tol)), ("z-tol", Some(args.z_tol))])?;
    let fisher_a = match &args.exp_family {
        Some(text) => {
            let a = parse(text, &symbols).map_err(|e| input("exp-family", e))?;
            if a.depends_on(0) {
                return Err(Error::Input(format!(
                    "--exp-family: the log-partition may not use the data variable {}",
                    args.var
                )));
            }
            // ∇²A(η)
            let p = symbols.num_params();
            Some(
                (1..=p)
                    .map(|i| {
                        let di = a.try_derivative(i)?;
                        (1..=p).map(|j| di.try_derivative(j)).collect()
                    })
                    .collect::<Result<Vec<Vec<Expr>>, _>>()
                    .map_err(|e| input("exp-family", e))?,
            )
        }
        None => None,
    };
    let claim = match (&args.claim, &fisher_a) {
        (Some(text), _) => parse_claim(text, &symbols).map_err(|e| Error::Input(e.to_string()))?,
        (None, Some(h)) => h.clone(),
        (None, None) => return Err(Error::Input("give --claim or --exp-family".into())),
    };

    // the density at each point
    let at = |theta: &[f64]| SymbolicFamily::new(symbols.clone(), logpdf.clone(), support, theta);
    let mut points = Vec::new();
    for p in &args.at {
        points.push(at(&check_point(p, &symbols)?).map_err(Error::from)?);
    }
    let mut ranges = vec![(0.5, 3.0); symbols.num_params()];
    for r in &args.range {
        let (k, lo, hi) = check_range(r, &symbols)?;
        ranges[k] = (lo, hi);
    }
    let random = args
        .random
        .unwrap_or(if args.at.is_empty() { 3 } else { 0 });
    // random points must be valid: the log-density finite on the support and the claim finite;
    // invalid draws (a range reaching outside a parameter's domain) are drawn again
    let mut rng = fisherlab_distributions::rng_from_seed(args.seed);
    // a density that is not normalisable is reported at once, not drawn again: each try can
    // cost a full tail search
    let valid = |theta: &[f64]| -> Result<Result<SymbolicFamily, String>, Error> {
        let family = match at(theta) {
            Ok(f) => f,
            Err(e @ fisherlab_fisher::Error::NotNormalizable { .. }) => {
                return Err(Error::Failed(format!(
                    "at {}: {e}",
                    describe_point(&symbols, theta)
                )));
            }
            Err(e) => return Ok(Err(e.to_string())),
        };
        let vals: Vec<f64> = std::iter::once(0.0).chain(theta.iter().copied()).collect();
        for e in claim.iter().flatten() {
            match e.eval(&vals) {
                Ok(v) if v.is_finite() => {}
                Ok(v) => {
                    return Ok(Err(format!(
                        "the claim is {v} at {}",
                        describe_point(&symbols, theta)
                    )));
                }
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
        Ok(Ok(family))
    };
    const DRAWS: usize = 1000;
    for _ in 0..random {
        let mut why = String::new();
        let mut found = None;
        for _ in 0..DRAWS {
            let theta: Vec<f64> = ranges
                .iter()
                .map(|(lo, hi)| lo + (hi - lo) * rng.random::<f64>())
                .collect();
            match valid(&theta)? {
                Ok(family) => {
                    found = Some(family);
                    break;
                }
                Err(e) => why = e,
            }
        }
        match found {
            Some(family) => points.push(family),
            None => {
                return Err(Error::Input(format!(
                    "no valid point in the --range values after {DRAWS} draws; the last: {why}"
                )));
            }
        }
    }
    if points.is_empty() {
        return Err(Error::Input(
            "no points: give --at NAME=VALUE,… or --random K".into(),
        ));
    }
    let opts = VerifyOptions {
        method: match args.method {
            MethodArg::Quadrature => VerifyMethod::Quadrature,
            MethodArg::MonteCarlo => VerifyMethod::MonteCarlo,
        },
        samples: args.samples,
        seed: args.seed,
        rel_tol: args.tol,
        z_tol: args.z_tol,
        ..VerifyOptions::default()
    };
    let checks = verify(&points, &claim, &opts)?;
    let pass = checks.iter().all(PointCheck::pass);
    let report = Report {
        args,
        symbols: &symbols,
        logpdf: &logpdf,
        score: &score,
        hessian: &hessian,
        claim: &claim,
        fisher_a: fisher_a.as_deref(),
        checks: &checks,
    };
    Ok(Outcome {
        text: report_text(&report),
        json: report_json(&report),
        passed: pass,
        failure: (!pass).then(|| failure_line(&symbols, &checks)),
    })
}

fn entry_name(symbols: &Symbols, (i, j): (usize, usize)) -> String {
    format!("({}, {})", symbols.names()[i + 1], symbols.names()[j + 1])
}

fn failure_line(symbols: &Symbols, checks: &[PointCheck]) -> String {
    if let Some(c) = checks.iter().find(|c| c.not_normalised.is_some()) {
        return format!(
            "the density is not normalised at {}: {}",
            describe_point(symbols, &c.theta),
            c.not_normalised.as_deref().unwrap_or("")
        );
    }
    let mut wrong: Vec<(usize, usize)> = Vec::new();
    for c in checks {
        for e in c.entries.iter().filter(|e| !e.pass) {
            if !wrong.contains(&e.index) {
                wrong.push(e.index);
            }
        }
    }
    let first = checks
        .iter()
        .find_map(|c| c.entries.iter().find(|e| !e.pass).map(|e| (c, e)));
    let names: Vec<String> = wrong.iter().map(|&ij| entry_name(symbols, ij)).collect();
    match first {
        Some((c, e)) => format!(
            "the claim is wrong: entr{} {} (at {}: claimed {}, computed {})",
            if names.len() == 1 { "y" } else { "ies" },
            names.join(", "),
            describe_point(symbols, &c.theta),
            format::number(e.claimed),
            format::number(e.quadrature.unwrap_or(e.mc_score.0))
        ),
        None => "the claim is wrong".into(),
    }
}

fn sym_text(e: &Expr, symbols: &Symbols, latex: bool) -> String {
    if latex {
        e.to_latex(symbols)
    } else {
        e.to_text(symbols)
    }
}

/// Everything one run found, for the text and JSON reports.
struct Report<'a> {
    args: &'a VerifyRequest,
    symbols: &'a Symbols,
    logpdf: &'a Expr,
    score: &'a [Expr],
    hessian: &'a [Vec<Expr>],
    claim: &'a [Vec<Expr>],
    fisher_a: Option<&'a [Vec<Expr>]>,
    checks: &'a [PointCheck],
}

fn report_text(r: &Report<'_>) -> String {
    let Report {
        args,
        symbols,
        logpdf,
        score,
        hessian,
        claim,
        fisher_a,
        checks,
    } = *r;
    let latex = args.latex;
    let names = &symbols.names()[1..];
    let mut out = String::new();
    let _ = writeln!(out, "log-density  {}", sym_text(logpdf, symbols, latex));
    let _ = writeln!(out, "support      {} on {}\n", args.var, args.support);
    let _ = writeln!(out, "score");
    let w = names.iter().map(|n| n.len()).max().unwrap_or(1);
    for (n, s) in names.iter().zip(score) {
        let _ = writeln!(out, "  d/d{n:<w$}  {}", sym_text(s, symbols, latex));
    }
    let pair_w = 2 * w + 4;
    let mut matrix = |title: &str, m: &[Vec<Expr>], upper: bool| {
        let _ = writeln!(out, "{title}");
        for (i, row) in m.iter().enumerate() {
            for (j, e) in row.iter().enumerate().skip(if upper { i } else { 0 }) {
                let _ = writeln!(
                    out,
                    "  {:<pair_w$}  {}",
                    entry_name(symbols, (i, j)),
                    sym_text(e, symbols, latex)
                );
            }
        }
    };
    matrix("Hessian of the log-density", hessian, true);
    if let Some(fa) = fisher_a {
        matrix("Fisher in natural parameters, ∇²A", fa, true);
    }
    matrix("claim", claim, false);
    let headers = [
        "entry",
        "claimed",
        "computed",
        "abs err",
        "rel err",
        "MC score ± SE",
        "MC −Hessian ± SE",
        "verdict",
    ];
    for c in checks {
        let _ = write!(out, "\nat {}", describe_point(symbols, &c.theta));
        if let Some(why) = &c.not_normalised {
            let _ = writeln!(out, ": NOT NORMALISED — {why}");
            continue;
        }
        match (c.mass, &c.score_mean) {
            (Some(m), Some(s)) => {
                let s: Vec<String> = s.iter().map(|v| format!("{v:.1e}")).collect();
                let _ = writeln!(
                    out,
                    ": ∫p = {}, E[score] = [{}]",
                    format::number(m),
                    s.join(", ")
                );
            }
            _ => out.push('\n'),
        }
        let body: Vec<Vec<String>> = c
            .entries
            .iter()
            .map(|e| {
                let pm =
                    |(m, se): (f64, f64)| format!("{} ± {}", format::short(m), format::short(se));
                vec![
                    entry_name(symbols, e.index),
                    format::number(e.claimed),
                    e.quadrature.map_or("—".into(), format::number),
                    format::short(e.abs_error),
                    if e.quadrature.is_some() {
                        format::short(e.rel_error)
                    } else {
                        format!("{} SE", format::short(e.rel_error))
                    },
                    pm(e.mc_score),
                    e.mc_hessian.map_or("—".into(), pm),
                    if e.pass { "pass".into() } else { "FAIL".into() },
                ]
            })
            .collect();
        out += &format::table(&headers, &body);
    }
    let rule = match args.method {
        MethodArg::Quadrature => format!(
            "|claimed − computed| ≤ {:e} · √(F_ii F_jj), computed by {}",
            args.tol,
            if matches!(args.support.as_str(), "nonneg-int") {
                "summation (tail bounded numerically)"
            } else if args.support.starts_with("int:") {
                "exact summation"
            } else {
                "adaptive quadrature"
            }
        ),
        MethodArg::MonteCarlo => format!(
            "|claimed − MC score| ≤ {} standard errors, {} samples",
            args.z_tol, args.samples
        ),
    };
    let passed = checks.iter().filter(|c| c.pass()).count();
    let _ = writeln!(
        out,
        "\nverdict: {} — {passed} of {} points pass ({rule})",
        if passed == checks.len() {
            "the claim holds"
        } else {
            "the claim is WRONG"
        },
        checks.len()
    );
    out
}

fn report_json(r: &Report<'_>) -> Value {
    let Report {
        args,
        symbols,
        logpdf,
        score,
        hessian,
        claim,
        fisher_a,
        checks,
    } = *r;
    let both = |e: &Expr| json!({"text": e.to_text(symbols), "latex": e.to_latex(symbols)});
    let matrix = |m: &[Vec<Expr>]| -> Value {
        Value::Array(
            m.iter()
                .map(|r| Value::Array(r.iter().map(both).collect()))
                .collect(),
        )
    };
    let names = &symbols.names()[1..];
    json!({
        "logpdf": both(logpdf),
        "variable": args.var,
        "support": args.support,
        "params": names,
        "score": Value::Array(score.iter().map(both).collect()),
        "hessian": matrix(hessian),
        "exp_family_fisher": fisher_a.map(matrix),
        "claim": matrix(claim),
        "method": match args.method { MethodArg::Quadrature => "quadrature", MethodArg::MonteCarlo => "monte-carlo" },
        "tolerance": if args.method == MethodArg::Quadrature { args.tol } else { args.z_tol },
        "points": checks.iter().map(|c| json!({
            "at": names.iter().cloned().zip(c.theta.iter().map(|v| json!(v))).collect::<serde_json::Map<String, Value>>(),
            "mass": c.mass,
            "score_mean": c.score_mean,
            "not_normalised": c.not_normalised,
            "pass": c.pass(),
            "entries": c.entries.iter().map(|e| json!({
                "row": names[e.index.0],
                "col": names[e.index.1],
                "claimed": e.claimed,
                "computed": e.quadrature,
                "mc_score": e.mc_score.0,
                "mc_score_se": e.mc_score.1,
                "mc_hessian": e.mc_hessian.map(|h| h.0),
                "mc_hessian_se": e.mc_hessian.map(|h| h.1),
                "abs_error": e.abs_error,
                "rel_error": e.rel_error,
                "pass": e.pass,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "pass": checks.iter().all(PointCheck::pass),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_ranges_are_read_then_checked_against_the_parameters() {
        assert_eq!(
            point("mu=0.3, sigma=2").unwrap(),
            [("mu".to_string(), 0.3), ("sigma".to_string(), 2.0)]
        );
        let msg = |r: Result<Point, Error>| r.unwrap_err().to_string();
        assert_eq!(
            msg(point("mu=0.3,sigma")),
            "--at mu=0.3,sigma is invalid: `sigma` is not NAME=VALUE"
        );
        assert_eq!(
            msg(point("mu=a")),
            "--at mu=a is invalid: `a` is not a number"
        );
        assert_eq!(range("p=0.1..0.9").unwrap(), ("p".to_string(), 0.1, 0.9));
        assert!(range("p=0.1-0.9").is_err());
        let symbols = Symbols::new("x", &["mu", "sigma"]).unwrap();
        let at = |p: &str| check_point(&point(p).unwrap(), &symbols);
        assert_eq!(at("sigma=2,mu=0.5").unwrap(), [0.5, 2.0]);
        assert_eq!(
            at("mu=0.5").unwrap_err().to_string(),
            "--at mu=0.5 is invalid: no value for sigma"
        );
        assert_eq!(
            at("mu=0.5,tau=1").unwrap_err().to_string(),
            "--at mu=0.5,tau=1 is invalid: unknown parameter `tau`"
        );
        assert!(at("mu=inf,sigma=1").is_err());
        assert_eq!(
            check_range(&range("sigma=3..1").unwrap(), &symbols)
                .unwrap_err()
                .to_string(),
            "--range sigma=3..1 is invalid: needs finite LO < HI"
        );
        assert_eq!(
            check_range(&range("sigma=1..3").unwrap(), &symbols).unwrap(),
            (1, 1.0, 3.0)
        );
    }
}
