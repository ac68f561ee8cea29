//! Closed-form Fisher matrices at fixed points, each held against the textbook formula evaluated
//! by hand (the `expected` matrices below, with their sources) and pinned as an `insta` snapshot
//! rounded to 10 decimals.

use fisherlab_distributions::ScoreFn;
use fisherlab_distributions::registry::build;
use serde::Serialize;

const PI2_6: f64 = 1.644_934_066_848_226_4; // ψ₁(1) = π²/6
const EULER: f64 = 0.577_215_664_901_532_9;

#[derive(Serialize)]
struct Snapshot {
    family: &'static str,
    parameterization: &'static str,
    parameters: Vec<String>,
    values: Vec<f64>,
    fisher: Vec<Vec<f64>>,
}

fn case(
    family: &str,
    param: Option<&str>,
    values: &[(&str, f64)],
    expected: &[&[f64]],
) -> Box<dyn ScoreFn> {
    let vals: Vec<(String, f64)> = values.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let f = build(family, param, &vals).unwrap();
    let m = f.fisher();
    let n = expected.len();
    assert_eq!((m.nrows(), m.ncols()), (n, n), "{family}");
    for i in 0..n {
        for j in 0..n {
            let e = expected[i][j];
            assert!(
                (m[(i, j)] - e).abs() <= 1e-13 * (1.0 + e.abs()),
                "{family} {param:?} ({i},{j}): {} vs hand-derived {e}",
                m[(i, j)]
            );
        }
    }
    f
}

fn snap(name: &str, f: &dyn ScoreFn) {
    let m = f.fisher();
    let s = Snapshot {
        family: f.name(),
        parameterization: f.parameterization(),
        parameters: f.param_names(),
        values: f.params(),
        fisher: (0..m.nrows())
            .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect())
            .collect(),
    };
    insta::with_settings!({ snapshot_suffix => name }, {
        insta::assert_yaml_snapshot!(s, { ".fisher[][]" => insta::rounded_redaction(10), ".values[]" => insta::rounded_redaction(10) });
    });
}

#[test]
fn normal_family_in_four_parameterizations() {
    // Lehmann & Casella Ex. 2.6.2: diag(1/σ², 2/σ²) at σ = 2
    snap(
        "normal",
        case(
            "normal",
            None,
            &[("mu", 1.0), ("sigma", 2.0)],
            &[&[0.25, 0.0], &[0.0, 0.5]],
        )
        .as_ref(),
    );
    // (mu, log σ): diag(1/σ², 2)
    snap(
        "normal_mu_log_sigma",
        case(
            "normal",
            Some("mu_log_sigma"),
            &[("mu", 1.0), ("log_sigma", 2f64.ln())],
            &[&[0.25, 0.0], &[0.0, 2.0]],
        )
        .as_ref(),
    );
    // (mu, v): diag(1/v, 1/(2v²)) at v = 4
    snap(
        "normal_mu_variance",
        case(
            "normal",
            Some("mu_variance"),
            &[("mu", 1.0), ("variance", 4.0)],
            &[&[0.25, 0.0], &[0.0, 1.0 / 32.0]],
        )
        .as_ref(),
    );
    // natural η = (μ/σ², −1/(2σ²)) = (0.25, −0.125) ⇒ μ = 1, σ² = 4; ∇²A = Cov(x, x²) =
    // [[σ², 2μσ²], [2μσ², 2σ⁴ + 4μ²σ²]] = [[4, 8], [8, 48]]
    snap(
        "normal_natural",
        case(
            "normal",
            Some("natural"),
            &[("eta1", 0.25), ("eta2", -0.125)],
            &[&[4.0, 8.0], &[8.0, 48.0]],
        )
        .as_ref(),
    );
}

#[test]
fn lognormal_exponential_gamma_beta() {
    // lognormal: same as the normal of ln x, diag(1/σ², 2/σ²) at σ = 0.5
    snap(
        "lognormal",
        case(
            "lognormal",
            None,
            &[("mu", 0.0), ("sigma", 0.5)],
            &[&[4.0, 0.0], &[0.0, 8.0]],
        )
        .as_ref(),
    );
    snap(
        "lognormal_mu_log_sigma",
        case(
            "lognormal",
            Some("mu_log_sigma"),
            &[("mu", 0.0), ("log_sigma", 0.5f64.ln())],
            &[&[4.0, 0.0], &[0.0, 2.0]],
        )
        .as_ref(),
    );
    // exponential: 1/λ² (Casella & Berger Ex. 7.3.11); scale θ = 1/λ: 1/θ²
    snap(
        "exponential",
        case("exponential", None, &[("rate", 2.0)], &[&[0.25]]).as_ref(),
    );
    snap(
        "exponential_scale",
        case("exponential", Some("scale"), &[("scale", 0.5)], &[&[4.0]]).as_ref(),
    );
    // gamma(α=2, β=3): [[ψ₁(2), −1/β], [−1/β, α/β²]], ψ₁(2) = π²/6 − 1
    let t2 = PI2_6 - 1.0;
    snap(
        "gamma",
        case(
            "gamma",
            None,
            &[("shape", 2.0), ("rate", 3.0)],
            &[&[t2, -1.0 / 3.0], &[-1.0 / 3.0, 2.0 / 9.0]],
        )
        .as_ref(),
    );
    // shape-scale, θ = 0.5: [[ψ₁(α), 1/θ], [1/θ, α/θ²]] = [[ψ₁(2), 2], [2, 8]]
    snap(
        "gamma_shape_scale",
        case(
            "gamma",
            Some("shape_scale"),
            &[("shape", 2.0), ("scale", 0.5)],
            &[&[t2, 2.0], &[2.0, 8.0]],
        )
        .as_ref(),
    );
    // beta(2, 3): ψ₁(2) − ψ₁(5) = 1/4 + 1/9 + 1/16 = 61/144; ψ₁(5) = π²/6 − 1 − 1/4 − 1/9 − 1/16;
    // ψ₁(3) − ψ₁(5) = 1/9 + 1/16 = 25/144
    let t5 = PI2_6 - 1.0 - 0.25 - 1.0 / 9.0 - 1.0 / 16.0;
    snap(
        "beta",
        case(
            "beta",
            None,
            &[("alpha", 2.0), ("beta", 3.0)],
            &[&[61.0 / 144.0, -t5], &[-t5, 25.0 / 144.0]],
        )
        .as_ref(),
    );
}

#[test]
fn location_scale_families() {
    // Laplace: diag(1/b², 1/b²) (Kotz, Kozubowski & Podgórski §2.6)
    snap(
        "laplace",
        case(
            "laplace",
            None,
            &[("loc", 0.0), ("scale", 2.0)],
            &[&[0.25, 0.0], &[0.0, 0.25]],
        )
        .as_ref(),
    );
    // Cauchy: diag(1/(2γ²), 1/(2γ²))
    snap(
        "cauchy",
        case(
            "cauchy",
            None,
            &[("loc", 0.0), ("scale", 2.0)],
            &[&[0.125, 0.0], &[0.0, 0.125]],
        )
        .as_ref(),
    );
    // Student t, ν = 4, σ = 2: diag((ν+1)/((ν+3)σ²), 2ν/((ν+3)σ²)) = diag(5/28, 8/28)
    snap(
        "student_t",
        case(
            "student_t",
            None,
            &[("loc", 0.0), ("scale", 2.0), ("df", 4.0)],
            &[&[5.0 / 28.0, 0.0], &[0.0, 8.0 / 28.0]],
        )
        .as_ref(),
    );
    // logistic, s = 1: diag(1/3, (π² + 3)/9)
    let pi2 = std::f64::consts::PI.powi(2);
    snap(
        "logistic",
        case(
            "logistic",
            None,
            &[("loc", 0.0), ("scale", 1.0)],
            &[&[1.0 / 3.0, 0.0], &[0.0, (pi2 + 3.0) / 9.0]],
        )
        .as_ref(),
    );
    // Gumbel, β = 1: [[1, γ − 1], [γ − 1, π²/6 + (1 − γ)²]]
    let g = EULER;
    snap(
        "gumbel",
        case(
            "gumbel",
            None,
            &[("loc", 0.0), ("scale", 1.0)],
            &[&[1.0, g - 1.0], &[g - 1.0, PI2_6 + (1.0 - g).powi(2)]],
        )
        .as_ref(),
    );
    // Weibull k = 2, λ = 1: [[((1−γ)² + π²/6)/k², −(1−γ)/λ], [−(1−γ)/λ, k²/λ²]]
    let kk = ((1.0 - g).powi(2) + PI2_6) / 4.0;
    snap(
        "weibull",
        case(
            "weibull",
            None,
            &[("shape", 2.0), ("scale", 1.0)],
            &[&[kk, g - 1.0], &[g - 1.0, 4.0]],
        )
        .as_ref(),
    );
    // von Mises κ = 1: A(1) = I₁(1)/I₀(1) = 0.5651591039924851/1.2660658777520082 (A&S 9.8),
    // diag(κA, 1 − A/κ − A²)
    let a = 0.565_159_103_992_485_1 / 1.266_065_877_752_008_2;
    snap(
        "von_mises",
        case(
            "von_mises",
            None,
            &[("mu", 0.0), ("kappa", 1.0)],
            &[&[a, 0.0], &[0.0, 1.0 - a - a * a]],
        )
        .as_ref(),
    );
}

#[test]
fn discrete_families() {
    // Poisson 1/λ; log-rate η = ln λ: λ
    snap(
        "poisson",
        case("poisson", None, &[("rate", 3.0)], &[&[1.0 / 3.0]]).as_ref(),
    );
    snap(
        "poisson_log_rate",
        case(
            "poisson",
            Some("log_rate"),
            &[("log_rate", 3f64.ln())],
            &[&[3.0]],
        )
        .as_ref(),
    );
    // Bernoulli 1/(p(1−p)) at p = 1/4: 16/3; logit: p(1−p) = 3/16
    snap(
        "bernoulli",
        case("bernoulli", None, &[("p", 0.25)], &[&[16.0 / 3.0]]).as_ref(),
    );
    snap(
        "bernoulli_logit",
        case(
            "bernoulli",
            Some("logit"),
            &[("logit", (1.0f64 / 3.0).ln())],
            &[&[3.0 / 16.0]],
        )
        .as_ref(),
    );
    // binomial n = 10: n/(p(1−p)) = 160/3; logit: n p(1−p) = 30/16
    snap(
        "binomial",
        case(
            "binomial",
            None,
            &[("p", 0.25), ("n", 10.0)],
            &[&[160.0 / 3.0]],
        )
        .as_ref(),
    );
    snap(
        "binomial_logit",
        case(
            "binomial",
            Some("logit"),
            &[("logit", (1.0f64 / 3.0).ln()), ("n", 10.0)],
            &[&[30.0 / 16.0]],
        )
        .as_ref(),
    );
    // geometric on {1, 2, …}: 1/(p²(1−p)) at p = 1/2: 8
    snap(
        "geometric",
        case("geometric", None, &[("p", 0.5)], &[&[8.0]]).as_ref(),
    );
    // negative binomial (failures), r = 3: r/(p²(1−p)) = 24
    snap(
        "negative_binomial",
        case(
            "negative_binomial",
            None,
            &[("p", 0.5), ("r", 3.0)],
            &[&[24.0]],
        )
        .as_ref(),
    );
    // categorical (0.2, 0.3, 0.5), coordinates p1, p2: δᵢⱼ/pᵢ + 1/p₃
    snap(
        "categorical",
        case(
            "categorical",
            None,
            &[("p1", 0.2), ("p2", 0.3), ("p3", 0.5)],
            &[&[7.0, 2.0], &[2.0, 1.0 / 0.3 + 2.0]],
        )
        .as_ref(),
    );
    // logits: diag(p) − ppᵀ
    let l = |p: f64| p.ln();
    snap(
        "categorical_logits",
        case(
            "categorical",
            Some("logits"),
            &[("logit1", l(0.2)), ("logit2", l(0.3)), ("logit3", l(0.5))],
            &[
                &[0.16, -0.06, -0.10],
                &[-0.06, 0.21, -0.15],
                &[-0.10, -0.15, 0.25],
            ],
        )
        .as_ref(),
    );
}

#[test]
fn multivariate_families() {
    // Dirichlet (1, 2, 3): ψ₁(αᵢ)δᵢⱼ − ψ₁(6); ψ₁(1) = π²/6, ψ₁(2) = π²/6 − 1, ψ₁(3) = π²/6 − 5/4,
    // ψ₁(6) = π²/6 − (1 + 1/4 + 1/9 + 1/16 + 1/25)
    let t6 = PI2_6 - (1.0 + 0.25 + 1.0 / 9.0 + 1.0 / 16.0 + 1.0 / 25.0);
    let (t1, t2, t3) = (PI2_6, PI2_6 - 1.0, PI2_6 - 1.25);
    snap(
        "dirichlet",
        case(
            "dirichlet",
            None,
            &[("alpha1", 1.0), ("alpha2", 2.0), ("alpha3", 3.0)],
            &[
                &[t1 - t6, -t6, -t6],
                &[-t6, t2 - t6, -t6],
                &[-t6, -t6, t3 - t6],
            ],
        )
        .as_ref(),
    );
    // N(0, Σ), Σ = [[1, ½], [½, 2]]: S = Σ⁻¹ = [[8/7, −2/7], [−2/7, 4/7]]; mean block S; covariance
    // block ½ tr(S Eₐ S E_b) by hand: (11,11) S₁₁²/2 = 32/49, (11,12) S₁₁S₁₂ = −16/49,
    // (11,22) S₁₂²/2 = 2/49, (12,12) S₁₁S₂₂ + S₁₂² = 36/49, (12,22) S₁₂S₂₂ = −8/49, (22,22) 8/49
    let z = 0.0;
    snap(
        "multivariate_normal",
        case(
            "multivariate_normal",
            None,
            &[
                ("mean1", 0.0),
                ("mean2", 0.0),
                ("cov11", 1.0),
                ("cov12", 0.5),
                ("cov22", 2.0),
            ],
            &[
                &[8.0 / 7.0, -2.0 / 7.0, z, z, z],
                &[-2.0 / 7.0, 4.0 / 7.0, z, z, z],
                &[z, z, 32.0 / 49.0, -16.0 / 49.0, 2.0 / 49.0],
                &[z, z, -16.0 / 49.0, 36.0 / 49.0, -8.0 / 49.0],
                &[z, z, 2.0 / 49.0, -8.0 / 49.0, 8.0 / 49.0],
            ],
        )
        .as_ref(),
    );
}
