//! `fisherlab verify` end to end: closed forms from the literature pass (exit 0), planted
//! mistakes fail naming the entry (exit 1), bad input is one line and exit 2.

mod common;
use common::{fisherlab, run_bad, run_ok};

use serde_json::Value;

const NORMAL: &str = "-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)";
const GAMMA: &str = "shape*log(rate) - lgamma(shape) + (shape - 1)*log(x) - rate*x";

fn args(logpdf: &str, support: &str, params: &str, claim: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "verify",
        "--logpdf",
        logpdf,
        "--support",
        support,
        "--params",
        params,
        "--claim",
        claim,
        "--samples",
        "20000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Exit code 1, the report on stdout, one line on stderr containing `needle`.
fn run_wrong(args: &[String], needle: &str) -> String {
    let out = fisherlab().args(args).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "`{err}` lacks `{needle}`");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_correct_claim_passes_with_the_symbolic_derivatives_printed() {
    // the normal's Fisher in (mu, sigma) is diag(1/σ², 2/σ²) (Casella & Berger, ex. 7.39)
    let text = run_ok(&args(
        NORMAL,
        "real",
        "mu,sigma",
        "[[1/sigma^2, 0], [0, 2/sigma^2]]",
        &["--at", "mu=0.3,sigma=2", "--random", "2", "--seed", "4"],
    ));
    assert!(text.contains("d/dmu     (x - mu)/sigma^2"), "{text}");
    assert!(
        text.contains("(sigma, sigma)  1/sigma^2 - 3*(x - mu)^2/sigma^4"),
        "{text}"
    );
    assert!(
        text.contains("verdict: the claim holds — 3 of 3 points pass"),
        "{text}"
    );
    // JSON: every entry of every point, with both Monte-Carlo forms near the claim
    let json: Value = serde_json::from_str(&run_ok(&args(
        GAMMA,
        "positive",
        "shape,rate",
        "[[trigamma(shape), -1/rate], [-1/rate, shape/rate^2]]",
        &["--random", "2", "--seed", "1", "--json"],
    )))
    .unwrap();
    assert_eq!(json["pass"], true);
    assert_eq!(
        json["score"][0]["text"],
        "log(x) + log(rate) - digamma(shape)"
    );
    assert_eq!(
        json["hessian"][0][0]["latex"],
        "-\\psi^{(1)}\\left(\\mathrm{shape}\\right)"
    );
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for p in points {
        assert!((p["mass"].as_f64().unwrap() - 1.0).abs() < 1e-9);
        for e in p["entries"].as_array().unwrap() {
            let c = e["claimed"].as_f64().unwrap();
            let z =
                (e["mc_score"].as_f64().unwrap() - c).abs() / e["mc_score_se"].as_f64().unwrap();
            assert!(z < 5.0, "{e}");
        }
    }
}

#[test]
fn planted_mistakes_fail_and_name_the_entry() {
    // a missing factor 2 in the normal's σ entry
    let out = run_wrong(
        &args(
            NORMAL,
            "real",
            "mu,sigma",
            "[[1/sigma^2, 0], [0, 1/sigma^2]]",
            &["--random", "2"],
        ),
        "the claim is wrong: entry (sigma, sigma)",
    );
    assert!(out.contains("the claim is WRONG — 0 of 2 points pass"));
    // a wrong sign on the gamma's off-diagonal
    run_wrong(
        &args(
            GAMMA,
            "positive",
            "shape,rate",
            "[[trigamma(shape), 1/rate], [1/rate, shape/rate^2]]",
            &["--at", "shape=2.5,rate=1.5"],
        ),
        "entries (shape, rate), (rate, shape)",
    );
    // an unnormalised density: the normal without 1/√(2π) integrates to √(2π)
    run_wrong(
        &args(
            "-log(sigma) - (x - mu)^2/(2*sigma^2)",
            "real",
            "mu,sigma",
            "[[1/sigma^2, 0], [0, 2/sigma^2]]",
            &["--at", "mu=0,sigma=1"],
        ),
        "integrates to 2.5066",
    );
    // Monte Carlo alone also catches the factor 2
    run_wrong(
        &args(
            NORMAL,
            "real",
            "mu,sigma",
            "[[1/sigma^2, 0], [0, 1/sigma^2]]",
            &["--at", "mu=0,sigma=1", "--method", "monte-carlo"],
        ),
        "entry (sigma, sigma)",
    );
}

#[test]
fn discrete_supports_and_the_exponential_family_mode() {
    // random points are drawn valid: σ from −1..2 keeps only σ > 0 (the density is NaN for σ < 0)
    let text = run_ok(&args(
        NORMAL,
        "real",
        "mu,sigma",
        "[[1/sigma^2, 0], [0, 2/sigma^2]]",
        &["--random", "4", "--range", "sigma=-1..2"],
    ));
    assert!(text.contains("4 of 4 points pass"), "{text}");
    // Poisson(λ): 1/λ; binomial(10, p): 10/(p(1−p))
    run_ok(&args(
        "x*log(rate) - rate - lgamma(x + 1)",
        "nonneg-int",
        "rate",
        "[[1/rate]]",
        &["--random", "2", "--range", "rate=0.5..30"],
    ));
    run_ok(&args(
        "lgamma(11) - lgamma(x + 1) - lgamma(11 - x) + x*log(p) + (10 - x)*log(1 - p)",
        "int:0..10",
        "p",
        "[[10/(p*(1 - p))]]",
        &["--random", "3", "--range", "p=0.05..0.95"],
    ));
    // Bernoulli in its natural parameter: A(η) = log(1 + e^η), Fisher ∇²A = σ(η)(1 − σ(η))
    let text = run_ok(&[
        "verify",
        "--logpdf",
        "x*eta - log(1 + exp(eta))",
        "--support",
        "int:0..1",
        "--params",
        "eta",
        "--exp-family",
        "log(1 + exp(eta))",
        "--range",
        "eta=-3..3",
    ]);
    assert!(text.contains("Fisher in natural parameters, ∇²A"), "{text}");
    assert!(text.contains("the claim holds"), "{text}");
    // and a claim checked alongside ∇²A
    run_ok(&[
        "verify",
        "--logpdf",
        "x*eta - log(1 + exp(eta))",
        "--support",
        "int:0..1",
        "--params",
        "eta",
        "--exp-family",
        "log(1 + exp(eta))",
        "--claim",
        "[[exp(eta)/(1 + exp(eta))^2]]",
        "--latex",
    ]);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let claim = "[[1/sigma^2, 0], [0, 2/sigma^2]]";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            args("-log(sigma) - (x - mu^2", "real", "mu,sigma", claim, &[]),
            "--logpdf: column 24: expected `)`",
        ),
        (
            args("gamma(x) + mu", "real", "mu,sigma", claim, &[]),
            "--logpdf: column 1: unknown function `gamma`",
        ),
        (
            args("x*nu", "real", "mu,sigma", claim, &[]),
            "unknown variable `nu`",
        ),
        (args("2 x", "real", "mu,sigma", claim, &[]), "column 3"),
        (args(NORMAL, "complex", "mu,sigma", claim, &[]), "support"),
        (args(NORMAL, "int:3..1", "mu,sigma", claim, &[]), "A <= B"),
        (args(NORMAL, "real", "mu,mu", claim, &[]), "declared twice"),
        (
            args(NORMAL, "real", "mu,sigma", "[[1, x], [x, 1]]", &[]),
            "uses the data variable x",
        ),
        (
            args(NORMAL, "real", "mu,sigma", "[[1, 0]]", &[]),
            "1 rows for 2 parameters",
        ),
        (
            args(NORMAL, "real", "mu,sigma", claim, &["--at", "mu=1"]),
            "no value for sigma",
        ),
        (
            args(NORMAL, "real", "mu,sigma", claim, &["--at", "mu=1,tau=2"]),
            "unknown parameter `tau`",
        ),
        (
            args(
                NORMAL,
                "real",
                "mu,sigma",
                claim,
                &["--range", "sigma=3..1"],
            ),
            "--range sigma=3..1",
        ),
        (
            {
                let mut a = args(NORMAL, "real", "mu,sigma", claim, &[]);
                let k = a.iter().position(|x| x == "--samples").unwrap();
                a[k + 1] = "1".into();
                a
            },
            "--samples 1",
        ),
        // the density does not live on the support: log x is NaN for x < 0
        (
            args(
                "log(rate) + log(x) - rate*x",
                "real",
                "rate",
                "[[1/rate^2]]",
                &[],
            ),
            "does the density live on this support",
        ),
        // a parameter outside its domain makes the density NaN
        (
            args(
                NORMAL,
                "real",
                "mu,sigma",
                claim,
                &["--at", "mu=0,sigma=-1"],
            ),
            "sigma=-1",
        ),
        // a range entirely outside the domain has no valid point
        (
            args(
                NORMAL,
                "real",
                "mu,sigma",
                claim,
                &["--range", "sigma=-3..-1"],
            ),
            "no valid point in the --range values",
        ),
    ];
    for (a, needle) in cases {
        run_bad(&a, needle);
    }
}

/// The output shown in docs/validate-a-closed-form.md is what the command shown there prints.
#[test]
fn the_how_to_shows_real_output() {
    let page = include_str!("../../../docs/validate-a-closed-form.md");
    let shown = page
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let out = run_ok(&[
        "verify",
        "--logpdf",
        GAMMA,
        "--support",
        "positive",
        "--params",
        "shape,rate",
        "--claim",
        "[[trigamma(shape), -1/rate], [-1/rate, shape/rate^2]]",
        "--random",
        "5",
        "--seed",
        "1",
    ]);
    for line in shown.lines().filter(|l| *l != "…") {
        assert!(
            out.lines().any(|o| o == line),
            "the page shows `{line}`, the command does not print it:\n{out}"
        );
    }
    assert!(page.contains(&format!("--logpdf \"{GAMMA}\"")));
}
