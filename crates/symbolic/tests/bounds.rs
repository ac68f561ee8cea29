//! The expression parser's and the calculus' bounds: nesting and sizes beyond them are refused
//! with a message naming the bound, just below them accepted, so hostile text can neither
//! exhaust the stack nor make a derivative grow without bound.

use fisherlab_symbolic::{MAX_NESTING, Symbols, parse};

fn symbols() -> Symbols {
    Symbols::new("x", &["mu"]).unwrap()
}

#[test]
fn expressions_nest_at_most_max_nesting_levels() {
    let s = symbols();
    // each parenthesis, sign or power is one level; the innermost `x` needs one more
    let nested = |k: usize| format!("{}x{}", "(".repeat(k), ")".repeat(k));
    let e = parse(&nested(MAX_NESTING - 1), &s).unwrap();
    let v: f64 = e.eval(&[2.5, 0.0]).unwrap();
    assert!((v - 2.5).abs() < 1e-15);
    for text in [
        nested(MAX_NESTING + 1),
        format!("{}x", "-".repeat(MAX_NESTING + 1)),
        vec!["x"; MAX_NESTING + 2].join("^"),
        format!(
            "{}x{}",
            "exp(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        ),
    ] {
        let err = parse(&text, &s).unwrap_err().to_string();
        assert!(err.contains("nests deeper than 200"), "{err}");
    }
    // a long flat sum is not deep: 20 000 terms parse
    let flat = vec!["x"; 20_000].join(" + ");
    let sum: f64 = parse(&flat, &s).unwrap().eval(&[1.0, 0.0]).unwrap();
    assert!((sum - 20_000.0).abs() < 1e-9);
    let long = "x + ".repeat(30_000) + "mu";
    assert!(
        parse(&long, &s)
            .unwrap_err()
            .to_string()
            .contains("at most 100000")
    );
}

#[test]
fn derivatives_that_would_explode_are_refused_before_they_are_built() {
    use fisherlab_symbolic::{MAX_DERIVATIVE_NODES, score_and_hessian};
    let s = symbols();
    // a product of n distinct factors in mu: its second derivative has n(n−1) terms of n
    // factors each, ~n³ nodes — 8·10⁶ for n = 200, far past the bound; 10 factors stay small
    let product = |n: usize| {
        let text = (1..=n)
            .map(|k| format!("sin(mu + {k})"))
            .collect::<Vec<_>>()
            .join("*");
        parse(&text, &s).unwrap()
    };
    let (score, hessian) = score_and_hessian(&product(10), &s).unwrap();
    assert_eq!((score.len(), hessian.len()), (1, 1));
    let start = std::time::Instant::now();
    let err = score_and_hessian(&product(200), &s)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("at most {MAX_DERIVATIVE_NODES}")),
        "{err}"
    );
    assert!(start.elapsed().as_secs_f64() < 10.0);
}
