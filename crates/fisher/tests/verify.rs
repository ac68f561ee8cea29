//! The derivation checker on textbook closed forms. Each log-density and its Fisher matrix are
//! written as strings from the literature (Casella & Berger; Johnson, Kotz & Balakrishnan), not
//! from fisherlab's own families; the checker must pass them at random points, and fail planted
//! mistakes at the entry that is wrong.

use fisherlab_distributions::{FisherRng, rng_from_seed};
use fisherlab_fisher::verify::{
    PointCheck, SymSupport, SymbolicFamily, VerifyMethod, VerifyOptions, parse_claim, verify,
};
use fisherlab_symbolic::{Symbols, parse};
use rand::RngExt;

struct Case {
    name: &'static str,
    params: &'static [&'static str],
    support: &'static str,
    logpdf: &'static str,
    claim: &'static str,
    /// Range of each parameter for random points.
    ranges: &'static [(f64, f64)],
}

const CASES: [Case; 15] = [
    Case {
        name: "normal",
        params: &["mu", "sigma"],
        support: "real",
        logpdf: "-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)",
        claim: "[[1/sigma^2, 0], [0, 2/sigma^2]]",
        ranges: &[(-2.0, 2.0), (0.3, 3.0)],
    },
    Case {
        name: "lognormal",
        params: &["mu", "sigma"],
        support: "positive",
        logpdf: "-log(x) - log(sigma) - 0.5*log(2*pi) - (log(x) - mu)^2/(2*sigma^2)",
        claim: "[[1/sigma^2, 0], [0, 2/sigma^2]]",
        ranges: &[(-1.0, 1.0), (0.3, 1.5)],
    },
    Case {
        name: "exponential",
        params: &["rate"],
        support: "positive",
        logpdf: "log(rate) - rate*x",
        claim: "[[1/rate^2]]",
        ranges: &[(0.2, 5.0)],
    },
    Case {
        name: "gamma",
        params: &["shape", "rate"],
        support: "positive",
        logpdf: "shape*log(rate) - lgamma(shape) + (shape - 1)*log(x) - rate*x",
        claim: "[[trigamma(shape), -1/rate], [-1/rate, shape/rate^2]]",
        ranges: &[(0.7, 6.0), (0.3, 4.0)],
    },
    Case {
        name: "beta",
        params: &["a", "b"],
        support: "unit",
        logpdf: "lgamma(a + b) - lgamma(a) - lgamma(b) + (a - 1)*log(x) + (b - 1)*log(1 - x)",
        claim: "[[trigamma(a) - trigamma(a + b), -trigamma(a + b)], [-trigamma(a + b), trigamma(b) - trigamma(a + b)]]",
        ranges: &[(0.8, 5.0), (0.8, 5.0)],
    },
    Case {
        name: "weibull",
        params: &["k", "lambda"],
        support: "positive",
        logpdf: "log(k) - log(lambda) + (k - 1)*(log(x) - log(lambda)) - (x/lambda)^k",
        // γ = 0.5772156649015329 (Euler–Mascheroni)
        claim: "[[((1 - 0.5772156649015329)^2 + pi^2/6)/k^2, -(1 - 0.5772156649015329)/lambda], [-(1 - 0.5772156649015329)/lambda, k^2/lambda^2]]",
        ranges: &[(0.8, 4.0), (0.5, 3.0)],
    },
    Case {
        name: "logistic",
        params: &["m", "s"],
        support: "real",
        logpdf: "-(x - m)/s - log(s) - 2*log(1 + exp(-(x - m)/s))",
        claim: "[[1/(3*s^2), 0], [0, (pi^2 + 3)/(9*s^2)]]",
        ranges: &[(-2.0, 2.0), (0.3, 3.0)],
    },
    Case {
        name: "rayleigh",
        params: &["sigma"],
        support: "positive",
        logpdf: "log(x) - 2*log(sigma) - x^2/(2*sigma^2)",
        claim: "[[4/sigma^2]]",
        ranges: &[(0.3, 3.0)],
    },
    Case {
        name: "poisson",
        params: &["rate"],
        support: "nonneg-int",
        logpdf: "x*log(rate) - rate - lgamma(x + 1)",
        claim: "[[1/rate]]",
        ranges: &[(0.3, 20.0)],
    },
    Case {
        name: "geometric",
        params: &["p"],
        support: "nonneg-int",
        logpdf: "x*log(1 - p) + log(p)",
        claim: "[[1/(p^2*(1 - p))]]",
        ranges: &[(0.1, 0.9)],
    },
    Case {
        name: "binomial",
        params: &["p"],
        support: "int:0..10",
        logpdf: "lgamma(11) - lgamma(x + 1) - lgamma(11 - x) + x*log(p) + (10 - x)*log(1 - p)",
        claim: "[[10/(p*(1 - p))]]",
        ranges: &[(0.05, 0.95)],
    },
    Case {
        name: "cauchy",
        params: &["m", "s"],
        support: "real",
        logpdf: "-log(pi) - log(s) - log(1 + ((x - m)/s)^2)",
        claim: "[[1/(2*s^2), 0], [0, 1/(2*s^2)]]",
        ranges: &[(-2.0, 2.0), (0.3, 3.0)],
    },
    Case {
        // a kink at x = m: the negative-Hessian form does not apply, the score form does
        name: "laplace",
        params: &["m", "b"],
        support: "real",
        logpdf: "-log(2*b) - abs(x - m)/b",
        claim: "[[1/b^2, 0], [0, 1/b^2]]",
        ranges: &[(-2.0, 2.0), (0.3, 3.0)],
    },
    Case {
        name: "gumbel",
        params: &["m", "b"],
        support: "real",
        logpdf: "-log(b) - (x - m)/b - exp(-(x - m)/b)",
        // γ = 0.5772156649015329
        claim: "[[1/b^2, (0.5772156649015329 - 1)/b^2], [(0.5772156649015329 - 1)/b^2, (pi^2/6 + (1 - 0.5772156649015329)^2)/b^2]]",
        ranges: &[(-2.0, 2.0), (0.3, 3.0)],
    },
    Case {
        // a symmetric three-point law on −1, 0, 1: p(±1) = q/2, p(0) = 1 − q; I(q) = 1/(q(1 − q))
        name: "three-point",
        params: &["q"],
        support: "int:-1..1",
        logpdf: "x^2*log(q/2) + (1 - x^2)*log(1 - q)",
        claim: "[[1/(q*(1 - q))]]",
        ranges: &[(0.1, 0.9)],
    },
];

fn family(c: &Case, theta: &[f64]) -> (Symbols, SymbolicFamily) {
    let s = Symbols::new("x", c.params).unwrap();
    let lp = parse(c.logpdf, &s).unwrap();
    let f =
        SymbolicFamily::new(s.clone(), lp, SymSupport::parse(c.support).unwrap(), theta).unwrap();
    (s, f)
}

fn random_points(c: &Case, k: usize, rng: &mut FisherRng) -> Vec<Vec<f64>> {
    (0..k)
        .map(|_| {
            c.ranges
                .iter()
                .map(|(a, b)| a + (b - a) * rng.random::<f64>())
                .collect()
        })
        .collect()
}

fn opts() -> VerifyOptions {
    VerifyOptions {
        samples: 20_000,
        ..VerifyOptions::default()
    }
}

fn check(c: &Case, claim: &str, points: &[Vec<f64>]) -> Vec<PointCheck> {
    let (s, f) = family(c, &points[0]);
    let claim = parse_claim(claim, &s).unwrap();
    let points: Vec<SymbolicFamily> = points.iter().map(|t| f.at(t).unwrap()).collect();
    verify(&points, &claim, &opts()).unwrap()
}

#[test]
fn textbook_closed_forms_pass_at_random_points() {
    let mut rng = rng_from_seed(2026);
    for c in &CASES {
        let points = random_points(c, 3, &mut rng);
        for p in check(c, c.claim, &points) {
            assert!(p.pass(), "{}: {:?}", c.name, p);
            assert!(
                (p.mass.unwrap() - 1.0).abs() < 1e-8,
                "{}: mass {:?}",
                c.name,
                p.mass
            );
            for e in &p.entries {
                // both Monte-Carlo forms agree with the claim within 5 standard errors
                let (m, se) = e.mc_score;
                assert!(
                    (m - e.claimed).abs() <= 5.0 * se + 1e-12,
                    "{} score {:?}",
                    c.name,
                    e
                );
                if let Some((m, se)) = e.mc_hessian {
                    assert!(
                        (m - e.claimed).abs() <= 5.0 * se + 1e-9,
                        "{} hessian {:?}",
                        c.name,
                        e
                    );
                }
            }
        }
    }
}

/// A wrong entry fails, at that entry only.
fn fails_only_at(c: &Case, claim: &str, wrong: &[(usize, usize)]) {
    let mut rng = rng_from_seed(7);
    let points = random_points(c, 2, &mut rng);
    for p in check(c, claim, &points) {
        assert!(!p.pass(), "{}: {claim} passed", c.name);
        for e in &p.entries {
            assert_eq!(!e.pass, wrong.contains(&e.index), "{}: {:?}", c.name, e);
        }
    }
}

#[test]
fn planted_mistakes_fail_and_name_the_wrong_entry() {
    // the classic slip: the σ entry of the normal without its factor 2
    fails_only_at(&CASES[0], "[[1/sigma^2, 0], [0, 1/sigma^2]]", &[(1, 1)]);
    // a wrong sign on the gamma's off-diagonal
    fails_only_at(
        &CASES[3],
        "[[trigamma(shape), 1/rate], [1/rate, shape/rate^2]]",
        &[(0, 1), (1, 0)],
    );
    // the Poisson's 1/λ² instead of 1/λ
    fails_only_at(&CASES[8], "[[1/rate^2]]", &[(0, 0)]);
}

#[test]
fn an_unnormalised_density_is_reported_as_such() {
    // the normal without its 1/√(2π)
    let c = Case {
        logpdf: "-log(sigma) - (x - mu)^2/(2*sigma^2)",
        ..CASES[0]
    };
    let p = &check(&c, c.claim, &[vec![0.3, 2.0]])[0];
    assert!(!p.pass());
    let why = p.not_normalised.as_ref().unwrap();
    // ∫ = √(2π)
    assert!(why.contains("integrates to 2.5066"), "{why}");
    assert!(p.entries.is_empty());
}

#[test]
fn monte_carlo_alone_decides_within_standard_errors() {
    let c = &CASES[3];
    let (s, f) = family(c, &[2.5, 1.5]);
    let mc = VerifyOptions {
        method: VerifyMethod::MonteCarlo,
        ..opts()
    };
    let point = std::slice::from_ref(&f);
    let good = verify(point, &parse_claim(c.claim, &s).unwrap(), &mc).unwrap();
    assert!(good[0].pass() && good[0].entries[0].quadrature.is_none());
    let bad = parse_claim("[[trigamma(shape), 1/rate], [1/rate, shape/rate^2]]", &s).unwrap();
    let bad = verify(point, &bad, &mc).unwrap();
    assert!(!bad[0].pass());
}

#[test]
fn a_support_the_density_does_not_live_on_is_an_error() {
    // log x on the whole real line: NaN for x < 0
    let s = Symbols::new("x", &["rate"]).unwrap();
    let lp = parse("log(rate) + log(x) - rate*x", &s).unwrap();
    let err = SymbolicFamily::new(s, lp, SymSupport::Real, &[1.0])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does the density live on this support"),
        "{err}"
    );
    // bad supports and claims
    assert!(SymSupport::parse("int:5..2").is_err());
    assert_eq!(
        SymSupport::parse("int:-3..4").unwrap(),
        SymSupport::Int(-3, 4)
    );
    assert!(SymSupport::parse("complex").is_err());
    let s = Symbols::new("x", &["mu", "sigma"]).unwrap();
    for (claim, needle) in [
        ("[[1, 0], [0]]", "row 2 has 1 entries"),
        ("[[1, 0]]", "1 rows for 2 parameters"),
        ("[[1, x], [x, 1]]", "uses the data variable x"),
        ("[[1, 0], [0, gamma(mu)]]", "unknown function `gamma`"),
        ("[1, 0], [0, 1]", "between rows"),
        ("(1, 0)", "must look like"),
    ] {
        let err = parse_claim(claim, &s).unwrap_err().to_string();
        assert!(err.contains(needle), "{claim}: {err}");
    }
}

#[test]
fn divergent_integrals_are_not_normalisable_and_heavy_tails_are_not_mistaken_for_them() {
    use fisherlab_fisher::Error;
    let build = |text: &str, support: SymSupport, theta: &[f64]| {
        let s = Symbols::new("x", &["mu"]).unwrap();
        let lp = parse(text, &s).unwrap();
        SymbolicFamily::new(s, lp, support, theta)
    };
    // ∫ (1 + x²)^(−1/2) dx = 2 asinh(X) → ∞; e^{x²} grows; ∫₀¹ dx/x = ∞; Σ 1/(k+1) = ∞;
    // Σ e^{k/2} = ∞ (the textbook divergent integrals and series)
    for (text, support, theta) in [
        ("-mu*log(1 + x^2)", SymSupport::Real, 0.5),
        ("x^2 - abs(x - mu)", SymSupport::Real, 0.0),
        ("-mu*log(x)", SymSupport::Unit, 1.0),
        ("-log(x + 1) + 0*mu", SymSupport::NonNegInt, 1.0),
        ("x*mu", SymSupport::NonNegInt, 0.5),
    ] {
        let start = std::time::Instant::now();
        let err = build(text, support, &[theta]).unwrap_err();
        assert!(
            matches!(err, Error::NotNormalizable { .. }),
            "{text}: {err}"
        );
        assert!(!err.is_input(), "{text}: a divergence is not bad input");
        assert!(err.to_string().contains("not normalisable"), "{err}");
        // loose bound (the detection takes milliseconds)
        assert!(start.elapsed().as_secs_f64() < 10.0, "{text}");
    }
    // integrable heavy tails: Cauchy (|x|⁻²), Student t with ν = 1/2 (|x|^−1.5), Lomax with
    // shape 0.2 (x^−1.2), Beta(0.05, 1) near 0 (x^−0.95) — densities from Johnson, Kotz &
    // Balakrishnan, normalised
    for (text, support, theta) in [
        ("-log(pi) - log(1 + (x - mu)^2)", SymSupport::Real, 0.3),
        (
            "lgamma(0.75) - lgamma(0.25) - 0.5*log(0.5*pi) - 0.75*log(1 + 2*x^2) + 0*mu",
            SymSupport::Real,
            1.0,
        ),
        ("log(mu) - (mu + 1)*log(1 + x)", SymSupport::Positive, 0.2),
        ("log(mu) + (mu - 1)*log(x)", SymSupport::Unit, 0.05),
    ] {
        if let Err(e) = build(text, support, &[theta]) {
            panic!("{text}: {e}");
        }
    }
}

#[test]
fn a_count_range_too_wide_to_sum_is_refused_up_front() {
    let s = Symbols::new("x", &["mu"]).unwrap();
    let lp = parse("-mu + 0*x", &s).unwrap();
    let err = SymbolicFamily::new(s, lp, SymSupport::Int(0, 100_000_000), &[1.0]).unwrap_err();
    assert!(err.is_input());
    assert!(
        err.to_string().contains("spans more than 10000000 counts"),
        "{err}"
    );
}
