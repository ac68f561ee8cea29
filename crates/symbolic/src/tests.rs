//! The tests of every stage.

use super::*;
use fisherlab_autodiff::{ScalarFn, hessian};
use proptest::prelude::*;

fn sym() -> Symbols {
    Symbols::new("x", &["mu", "sigma"]).unwrap()
}

fn text(s: &str) -> String {
    let n = sym();
    parse(s, &n).unwrap().to_text(&n)
}

#[test]
fn simplification_reads_like_a_textbook() {
    assert_eq!(text("x*1 + 0"), "x");
    assert_eq!(text("2*3*x - x"), "5*x");
    assert_eq!(text("x^2*x/x^3"), "1");
    assert_eq!(text("(mu*sigma)^2"), "mu^2*sigma^2");
    assert_eq!(text("exp(log(sigma))"), "sigma");
    assert_eq!(text("sigma^-1"), "1/sigma");
    assert_eq!(text("-(x - mu)"), "-(x - mu)");
    assert_eq!(text("sqrt(2*pi)"), "sqrt(2*pi)");
    assert_eq!(text("2^3 + 4^0.5"), "10");
    assert_eq!(text("e^x"), "exp(x)");
    assert_eq!(text("exp(mu)^2/exp(mu)"), "exp(mu)");
    assert_eq!(text("exp(-x)^2"), "exp(-2*x)");
    // multiplied out only when that shortens the sum
    assert_eq!(text("1/sigma + (mu - 1)/sigma"), "mu/sigma");
    assert_eq!(
        text("(x - mu)^2/sigma^3 - 1/sigma"),
        "(x - mu)^2/sigma^3 - 1/sigma"
    );
    // small fractions print as fractions; a positive term leads
    assert_eq!(text("0.5*log(2*pi)"), "log(2*pi)/2");
    assert_eq!(text("pi^2/6 - x/3"), "pi^2/6 - x/3");
    assert_eq!(text("-x + 1"), "1 - x");
    assert_eq!(text("-(x - mu)^2/(2*sigma^2)"), "-(x - mu)^2/(2*sigma^2)");
}

#[test]
fn derivatives_of_the_normal_log_density() {
    // log N(x | mu, sigma): score (x−mu)/σ², −1/σ + (x−mu)²/σ³; Hessian entries by hand
    let n = sym();
    let lp = parse("-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)", &n).unwrap();
    let (score, h) = score_and_hessian(&lp, &n).unwrap();
    assert_eq!(score[0].to_text(&n), "(x - mu)/sigma^2");
    assert_eq!(score[1].to_text(&n), "(x - mu)^2/sigma^3 - 1/sigma");
    assert_eq!(h[0][0].to_text(&n), "-1/sigma^2");
    assert_eq!(h[1][1].to_text(&n), "1/sigma^2 - 3*(x - mu)^2/sigma^4");
    assert_eq!(h[0][1], h[1][0]);
    assert_eq!(
        score[1].to_latex(&n),
        "\\frac{{\\left(x - \\mu\\right)}^{2}}{{\\sigma}^{3}} - \\frac{1}{\\sigma}"
    );
}

#[test]
fn special_function_derivatives() {
    let n = Symbols::new("x", &["a"]).unwrap();
    let d = |s: &str| parse(s, &n).unwrap().derivative(1).to_text(&n);
    assert_eq!(d("lgamma(a)"), "digamma(a)");
    assert_eq!(d("digamma(a)"), "trigamma(a)");
    assert_eq!(d("trigamma(2*a)"), "2*polygamma2(2*a)");
    assert_eq!(d("erf(a)"), "2*exp(-a^2)/sqrt(pi)");
    assert_eq!(d("abs(a)"), "sign(a)");
    assert_eq!(d("sin(a)*cos(a)"), "cos(a)^2 - sin(a)^2");
    assert_eq!(d("a^a"), "a^a*(log(a) + 1)");
}

#[test]
fn errors_name_the_column() {
    let n = sym();
    let err = |s: &str| parse(s, &n).unwrap_err().to_string();
    assert_eq!(
        err("x + * mu"),
        "column 5: expected a number, a name or `(`, found `*`"
    );
    assert!(err("log(x").starts_with("column 6: expected `)`"));
    assert!(err("gamma(x)").starts_with("column 1: unknown function `gamma`"));
    assert!(err("x + nu").starts_with("column 5: unknown variable `nu`"));
    assert!(err("2 x").starts_with("column 3: unexpected `x`"));
    assert!(err("x $ 2").starts_with("column 3: unexpected character `$`"));
    assert!(err("exp").contains("is a function"));
    assert!(err("").starts_with("column 1: empty"));
    assert!(Symbols::new("x", &["mu", "mu"]).is_err());
    assert!(Symbols::new("x", &["exp"]).is_err());
    assert!(Symbols::new("x", &["2a"]).is_err());
}

#[test]
fn printing_round_trips_through_the_parser() {
    let n = sym();
    for s in [
        "-(x - mu)^2/(2*sigma^2) - log(sigma)",
        "lgamma(mu + sigma) - lgamma(mu)*x^(sigma - 1)",
        "exp(-x/sigma)/sigma^2 + erf(mu*sqrt(2))",
        "x*log(mu) - mu - lgamma(x + 1)",
    ] {
        let e = parse(s, &n).unwrap();
        let again = parse(&e.to_text(&n), &n).unwrap();
        assert_eq!(again, e, "{s} -> {}", e.to_text(&n));
    }
}

struct AsFn<'a>(&'a Expr, f64);
impl ScalarFn for AsFn<'_> {
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D]) -> D {
        self.0.eval(&[D::from(self.1), t[0], t[1]]).unwrap()
    }
}

/// Random expressions in x, mu, sigma whose every sub-expression is defined for all real
/// arguments (logs and gamma functions of 1 + u², powers of integers).
fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (-3i32..=3).prop_map(|k| Expr::Num(f64::from(k) / 2.0)),
        Just(Expr::Var(0)),
        Just(Expr::Var(1)),
        Just(Expr::Var(2)),
        Just(Expr::Pi),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let positive = |u: Expr| {
            Expr::Sum(vec![
                Expr::Num(1.0),
                Expr::Pow(Box::new(u), Box::new(Expr::Num(2.0))),
            ])
        };
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Sum),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Prod),
            (inner.clone(), 0i32..4)
                .prop_map(|(u, k)| Expr::Pow(Box::new(u), Box::new(Expr::Num(f64::from(k))))),
            inner
                .clone()
                .prop_map(|u| Expr::Call(Func::Sin, Box::new(u))),
            inner
                .clone()
                .prop_map(|u| Expr::Call(Func::Cos, Box::new(u))),
            inner
                .clone()
                .prop_map(|u| Expr::Call(Func::Erf, Box::new(u))),
            inner
                .clone()
                .prop_map(move |u| Expr::Call(Func::Log, Box::new(positive(u)))),
            inner
                .clone()
                .prop_map(move |u| Expr::Call(Func::Lgamma, Box::new(positive(u)))),
            inner
                .clone()
                .prop_map(move |u| Expr::Call(Func::Polygamma(0), Box::new(positive(u)))),
            inner.prop_map(|u| Expr::Call(Func::Exp, Box::new(Expr::Call(Func::Sin, Box::new(u))))),
        ]
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-8 * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Symbolic score and Hessian equal num-dual's automatic ones at random points; the
    /// simplified expression has the value of the unsimplified one.
    #[test]
    fn symbolic_derivatives_equal_dual_numbers(
        e in expr(),
        x in -1.5f64..1.5,
        mu in -1.5f64..1.5,
        sigma in -1.5f64..1.5,
    ) {
        let vals = [x, mu, sigma];
        let raw: f64 = e.eval(&vals).unwrap();
        let simple = e.simplify();
        prop_assert!(close(simple.eval(&vals).unwrap(), raw));
        let (v, g, h) = hessian(&AsFn(&e, x), &[mu, sigma]);
        prop_assert!(close(v, raw));
        for i in 0..2 {
            let di = e.derivative(i + 1);
            prop_assert!(close(di.eval(&vals).unwrap(), g[i]), "d{}: {} vs {}", i, di.eval(&vals).unwrap(), g[i]);
            for j in 0..2 {
                let dij = di.derivative(j + 1);
                prop_assert!(close(dij.eval(&vals).unwrap(), h[(i, j)]), "d{}{}", i, j);
            }
        }
    }
}
