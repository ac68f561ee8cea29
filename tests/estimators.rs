//! The three routes to a distribution's Fisher matrix must agree: the closed form, the exact
//! expectation by quadrature (an independent computation from the log-density alone) and Monte
//! Carlo in both forms. Property tests over random valid parameters, with fixed seeds.

use fisherlab::distributions::continuous::*;
use fisherlab::distributions::discrete::*;
use fisherlab::distributions::multivariate::*;
use fisherlab::distributions::parameterizations::*;
use fisherlab::distributions::{
    DualNum, Family, FisherRng, LogDensity, ParamMap, Reparameterized, ScoreFn, Support,
};
use fisherlab::fisher::{
    Error, McForm, MonteCarloOptions, QuadratureOptions, exact_expectation, monte_carlo,
};
use nalgebra::DMatrix;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// Tolerances, in one place.
mod tol {
    /// analytic vs exact expectation, relative to √(F_ii F_jj) (the issue asks for 1e-8)
    pub const QUADRATURE: f64 = 1e-8;
    /// |∫p − 1|
    pub const MASS: f64 = 1e-9;
    /// |E[sᵢ]| / √F_ii
    pub const SCORE_MEAN: f64 = 1e-8;
    /// Monte Carlo: standard errors
    pub const MC_SE: f64 = 4.0;
    /// Monte-Carlo sample count in property tests
    pub const MC_SAMPLES: usize = 4000;
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x00F1_5E4E),
        failure_persistence: None,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    }
}

/// Largest |A − B|ᵢⱼ / √(AᵢᵢAⱼⱼ).
fn scaled_gap(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let mut w = 0.0f64;
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            let s = (a[(i, i)] * a[(j, j)]).abs().sqrt();
            w = w.max((a[(i, j)] - b[(i, j)]).abs() / s);
        }
    }
    w
}

/// F symmetric and positive semi-definite (eigenvalues ≥ −1e-10·max).
fn assert_spsd(f: &DMatrix<f64>, label: &str) {
    assert!(
        f.iter().all(|v| v.is_finite()),
        "{label}: non-finite Fisher {f}"
    );
    assert!(
        (f - f.transpose()).abs().max() <= 1e-14 * f.abs().max(),
        "{label}: asymmetric"
    );
    let eig = f.clone().symmetric_eigenvalues();
    let top = eig.abs().max();
    assert!(
        eig.iter().all(|&e| e >= -1e-10 * top),
        "{label}: not PSD, eigenvalues {eig}"
    );
}

/// The full battery for one family at one parameter value.
fn check_all_routes(f: &dyn ScoreFn, seed: u64) {
    let label = format!("{:?}", f);
    let a = f.fisher();
    assert_spsd(&a, &label);
    let q = exact_expectation(f, &QuadratureOptions::default())
        .unwrap_or_else(|e| panic!("{label}: quadrature failed: {e}"));
    let gap = scaled_gap(&a, &q.fisher.matrix);
    assert!(
        gap <= tol::QUADRATURE,
        "{label}: analytic vs quadrature gap {gap:e}\n{a}\n{}",
        q.fisher.matrix
    );
    assert!(
        (q.mass - 1.0).abs() <= tol::MASS,
        "{label}: mass {}",
        q.mass
    );
    for (i, m) in q.score_mean.iter().enumerate() {
        assert!(
            m.abs() <= tol::SCORE_MEAN * a[(i, i)].sqrt(),
            "{label}: E[s{i}] = {m}"
        );
    }
    let mut forms = vec![McForm::Score];
    if f.hessian_identity_holds() {
        forms.push(McForm::NegativeHessian);
    }
    for form in forms {
        let mc = monte_carlo(
            f,
            &MonteCarloOptions {
                samples: tol::MC_SAMPLES,
                seed,
                form,
            },
        )
        .unwrap();
        let se = mc.std_error.as_ref().unwrap();
        for i in 0..a.nrows() {
            for j in 0..a.ncols() {
                let floor = 1e-12 * (a[(i, i)] * a[(j, j)]).sqrt();
                let z = (mc.matrix[(i, j)] - a[(i, j)]).abs() / se[(i, j)].max(floor);
                assert!(
                    z <= tol::MC_SE,
                    "{label} {form:?} ({i},{j}): {} vs {} ({z:.2} SE)",
                    mc.matrix[(i, j)],
                    a[(i, j)]
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(cfg(64))]

    #[test]
    fn normal(mu in -5.0..5.0f64, sigma in 0.1..10.0f64, seed in 0..1000u64) {
        check_all_routes(&Normal::new(mu, sigma).unwrap(), seed);
    }
    #[test]
    fn lognormal(mu in -2.0..2.0f64, sigma in 0.1..2.0f64, seed in 0..1000u64) {
        check_all_routes(&LogNormal::new(mu, sigma).unwrap(), seed);
    }
    #[test]
    fn exponential(rate in 0.05..20.0f64, seed in 0..1000u64) {
        check_all_routes(&Exponential::new(rate).unwrap(), seed);
    }
    #[test]
    fn gamma(shape in 0.3..50.0f64, rate in 0.1..10.0f64, seed in 0..1000u64) {
        check_all_routes(&Gamma::new(shape, rate).unwrap(), seed);
    }
    #[test]
    fn beta(a in 1.0..30.0f64, b in 1.0..30.0f64, seed in 0..1000u64) {
        check_all_routes(&Beta::new(a, b).unwrap(), seed);
    }
    #[test]
    fn laplace(loc in -5.0..5.0f64, scale in 0.1..10.0f64, seed in 0..1000u64) {
        check_all_routes(&Laplace::new(loc, scale).unwrap(), seed);
    }
    #[test]
    fn cauchy(loc in -5.0..5.0f64, scale in 0.1..10.0f64, seed in 0..1000u64) {
        check_all_routes(&Cauchy::new(loc, scale).unwrap(), seed);
    }
    #[test]
    fn student_t(loc in -5.0..5.0f64, scale in 0.1..10.0f64, df in 0.5..30.0f64, seed in 0..1000u64) {
        check_all_routes(&StudentT::new(loc, scale, df).unwrap(), seed);
    }
    #[test]
    fn logistic(loc in -5.0..5.0f64, scale in 0.1..10.0f64, seed in 0..1000u64) {
        check_all_routes(&Logistic::new(loc, scale).unwrap(), seed);
    }
    #[test]
    fn gumbel(loc in -5.0..5.0f64, scale in 0.1..10.0f64, seed in 0..1000u64) {
        check_all_routes(&Gumbel::new(loc, scale).unwrap(), seed);
    }
    #[test]
    fn weibull(shape in 0.3..10.0f64, scale in 0.1..10.0f64, seed in 0..1000u64) {
        check_all_routes(&Weibull::new(shape, scale).unwrap(), seed);
    }
    #[test]
    fn von_mises(mu in -3.0..3.0f64, kappa in 0.01..200.0f64, seed in 0..1000u64) {
        check_all_routes(&VonMises::new(mu, kappa).unwrap(), seed);
    }
    #[test]
    fn poisson(rate in 0.05..200.0f64, seed in 0..1000u64) {
        check_all_routes(&Poisson::new(rate).unwrap(), seed);
    }
    #[test]
    fn bernoulli(p in 0.01..0.99f64, seed in 0..1000u64) {
        check_all_routes(&Bernoulli::new(p).unwrap(), seed);
    }
    #[test]
    fn binomial(p in 0.01..0.99f64, n in 1..200u64, seed in 0..1000u64) {
        check_all_routes(&Binomial::new(p, n).unwrap(), seed);
    }
    #[test]
    fn geometric(p in 0.02..0.98f64, seed in 0..1000u64) {
        check_all_routes(&Geometric::new(p).unwrap(), seed);
    }
    #[test]
    fn negative_binomial(p in 0.05..0.95f64, r in 0.3..20.0f64, seed in 0..1000u64) {
        check_all_routes(&NegativeBinomial::new(p, r).unwrap(), seed);
    }
    #[test]
    fn categorical(w in proptest::collection::vec(0.05..1.0f64, 2..7), seed in 0..1000u64) {
        let s: f64 = w.iter().sum();
        check_all_routes(&Categorical::new(w.iter().map(|x| x / s).collect()).unwrap(), seed);
    }
    #[test]
    fn multivariate_normal(d in 1..4usize, a in proptest::collection::vec(-1.0..1.0f64, 9), m in proptest::collection::vec(-3.0..3.0f64, 3), seed in 0..1000u64) {
        // Σ = A Aᵀ + 0.2 I: symmetric positive definite
        let am = DMatrix::from_fn(d, d, |i, j| a[i * 3 + j]);
        let cov = &am * am.transpose() + DMatrix::identity(d, d) * 0.2;
        check_all_routes(&MultivariateNormal::new(m[..d].to_vec(), cov).unwrap(), seed);
    }
}

proptest! {
    // nested quadrature over the simplex is the slowest route: fewer cases
    #![proptest_config(cfg(12))]

    #[test]
    fn dirichlet(alpha in proptest::collection::vec(0.8..10.0f64, 2..4), seed in 0..1000u64) {
        check_all_routes(&Dirichlet::new(alpha).unwrap(), seed);
    }
}

/// A named parameterisation: its own closed form equals the autodiff pull-back `Jᵀ F_θ J`, and the
/// exact expectation computed in φ coordinates agrees with both.
fn check_parameterization<F, M>(base: &F, map: M, seed: u64)
where
    F: LogDensity + Clone + 'static,
    M: ParamMap<F> + 'static,
{
    let r = Reparameterized::at_base(base, map).unwrap();
    let closed = r
        .fisher_closed_form()
        .expect("named parameterisations state a closed form");
    let pull = r.fisher_pullback();
    let gap = (&closed - &pull).abs().max() / closed.abs().max();
    assert!(
        gap <= 1e-12,
        "{:?}: closed form vs pull-back {gap:e}\n{closed}\n{pull}",
        &r as &dyn ScoreFn
    );
    check_all_routes(&r, seed);
}

proptest! {
    #![proptest_config(cfg(32))]

    #[test]
    fn normal_parameterizations(mu in -3.0..3.0f64, sigma in 0.2..5.0f64, seed in 0..1000u64) {
        let n = Normal::new(mu, sigma).unwrap();
        check_parameterization(&n, MuLogSigma, seed);
        check_parameterization(&n, MuVariance, seed);
        check_parameterization(&n, Natural, seed);
    }
    #[test]
    fn other_parameterizations(x in 0.05..0.95f64, y in 0.2..8.0f64, n in 1..50u64, seed in 0..1000u64) {
        check_parameterization(&LogNormal::new(x, y / 4.0).unwrap(), MuLogSigma, seed);
        check_parameterization(&Exponential::new(y).unwrap(), Scale, seed);
        check_parameterization(&Gamma::new(y, x * 4.0).unwrap(), ShapeScale, seed);
        check_parameterization(&Bernoulli::new(x).unwrap(), Logit, seed);
        check_parameterization(&Binomial::new(x, n).unwrap(), Logit, seed);
        check_parameterization(&Poisson::new(y).unwrap(), LogRate, seed);
    }
    #[test]
    fn categorical_logits_rank_deficient(w in proptest::collection::vec(0.05..1.0f64, 2..7), seed in 0..1000u64) {
        let s: f64 = w.iter().sum();
        let c = Categorical::new(w.iter().map(|x| x / s).collect()).unwrap();
        check_parameterization(&c, Logits, seed);
        // rank K−1: the all-ones direction (a common shift of the logits) is the null space
        let f = Reparameterized::at_base(&c, Logits).unwrap().fisher();
        let k = f.nrows();
        let ones = nalgebra::DVector::from_element(k, 1.0);
        prop_assert!((&f * &ones).abs().max() <= 1e-14);
        let eig = f.symmetric_eigenvalues();
        let nonzero = eig.iter().filter(|e| **e > 1e-12).count();
        prop_assert_eq!(nonzero, k - 1);
    }
}

/// A user-written map with no closed form: σ = softplus(ψ). The pull-back must agree with the
/// exact expectation of the score of the reparameterised log-density.
#[derive(Clone)]
struct SoftplusScale;
impl ParamMap<Normal> for SoftplusScale {
    fn name(&self) -> &'static str {
        "mu_softplus"
    }
    fn names(&self, _: &Normal) -> Vec<String> {
        vec!["mu".into(), "psi".into()]
    }
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
        theta.push(phi[0] * phi[1].exp()); // μ = m·e^ψ couples the coordinates
        theta.push((phi[1].exp() + 1.0).ln());
    }
}

#[test]
fn general_reparameterization_pulls_back_correctly() {
    let template = Normal::new(0.0, 1.0).unwrap();
    for (m, psi) in [(0.3, -1.0), (-1.2, 0.4), (2.0, 2.5)] {
        let r = Reparameterized::new(&template, SoftplusScale, vec![m, psi]).unwrap();
        assert!(r.fisher_closed_form().is_none());
        let q = exact_expectation(&r, &QuadratureOptions::default()).unwrap();
        let gap = scaled_gap(&r.fisher(), &q.fisher.matrix);
        assert!(gap <= tol::QUADRATURE, "gap {gap:e}");
        // hand-derived: J = [[e^ψ, m e^ψ], [0, σ'(ψ)]], F_θ = diag(1/σ², 2/σ²)
        let (s, ds) = ((psi.exp() + 1.0f64).ln(), 1.0 / (1.0 + (-psi).exp()));
        let e = psi.exp();
        let f00 = e * e / (s * s);
        let f01 = e * m * e / (s * s);
        let f11 = (m * e).powi(2) / (s * s) + 2.0 * ds * ds / (s * s);
        let expect = nalgebra::dmatrix![f00, f01; f01, f11];
        assert!(scaled_gap(&expect, &r.fisher()) < 1e-13);
    }
}

#[test]
fn extreme_but_valid_values_are_finite_and_accurate() {
    let cases: Vec<Box<dyn ScoreFn>> = vec![
        Box::new(Bernoulli::new(1e-12).unwrap()),
        Box::new(Binomial::new(1e-12, 5).unwrap()),
        Box::new(Normal::new(3.0, 1e-8).unwrap()),
        Box::new(Gamma::new(1e6, 2.0).unwrap()),
        Box::new(VonMises::new(1.0, 500.0).unwrap()),
        Box::new(Poisson::new(1e-12).unwrap()),
        Box::new(Poisson::new(1e5).unwrap()),
        Box::new(Categorical::new(vec![1e-12, 0.5, 0.5 - 1e-12]).unwrap()),
        Box::new(Beta::new(1e3, 2e3).unwrap()),
        Box::new(StudentT::new(0.0, 1.0, 1e6).unwrap()),
    ];
    for f in &cases {
        let a = f.fisher();
        assert_spsd(&a, &format!("{f:?}"));
        let q = exact_expectation(f.as_ref(), &QuadratureOptions::default())
            .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        let gap = scaled_gap(&a, &q.fisher.matrix);
        assert!(
            gap <= tol::QUADRATURE,
            "{f:?}: gap {gap:e}\n{a}\n{}",
            q.fisher.matrix
        );
    }
    // where sampling can see the distribution's shape, Monte Carlo agrees too
    for f in &cases[2..5] {
        check_mc_only(f.as_ref(), 50_000);
    }
}

fn check_mc_only(f: &dyn ScoreFn, samples: usize) {
    let a = f.fisher();
    let mc = monte_carlo(
        f,
        &MonteCarloOptions {
            samples,
            seed: 11,
            form: McForm::Score,
        },
    )
    .unwrap();
    let se = mc.std_error.unwrap();
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            let z = (mc.matrix[(i, j)] - a[(i, j)]).abs() / se[(i, j)];
            assert!(z <= tol::MC_SE, "{f:?} ({i},{j}) {z:.2} SE");
        }
    }
}

#[test]
fn unrepresentable_mass_is_a_typed_error_not_a_wrong_number() {
    // Beta(0.05, 0.05) puts ~16% of its mass within 1e-16 of the endpoints, where f64
    // observations cannot go: quadrature must refuse, never return a silently wrong matrix.
    let b = Beta::new(0.05, 0.05).unwrap();
    match exact_expectation(&b, &QuadratureOptions::default()) {
        Err(Error::NotNormalized { .. })
        | Err(Error::NotConverged { .. })
        | Err(Error::NonFinite { .. }) => {}
        Ok(r) => {
            let gap = scaled_gap(&b.fisher(), &r.fisher.matrix);
            assert!(gap <= tol::QUADRATURE, "silently wrong: gap {gap:e}");
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

/// A normal density with its normaliser forgotten: the commonest derivation mistake.
#[derive(Clone)]
struct Unnormalised(Normal);
impl Family for Unnormalised {
    fn name(&self) -> &'static str {
        "unnormalised"
    }
    fn param_names(&self) -> Vec<String> {
        self.0.param_names()
    }
    fn params(&self) -> Vec<f64> {
        self.0.params()
    }
    fn support(&self) -> Support {
        Support::Real
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        self.0.sample_into(rng, out)
    }
    fn fisher(&self) -> DMatrix<f64> {
        self.0.fisher()
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        self.0.quadrature_hint()
    }
}
impl LogDensity for Unnormalised {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let z = (-t[0] + x[0]) / t[1];
        -(z * z) * 0.5 // missing −ln σ − ½ ln 2π
    }
    fn with_params(&self, theta: &[f64]) -> fisherlab::distributions::Result<Self> {
        Ok(Unnormalised(self.0.with_params(theta)?))
    }
}

#[test]
fn an_unnormalised_density_is_reported() {
    let f = Unnormalised(Normal::new(0.0, 2.0).unwrap());
    let e = exact_expectation(&f, &QuadratureOptions::default()).unwrap_err();
    // ∫ exp(−z²/2) dx = σ√(2π) = 5.013…
    match e {
        Error::NotNormalized { mass, .. } => {
            assert!((mass - 2.0 * (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-9)
        }
        other => panic!("expected NotNormalized, got {other}"),
    }
}

#[test]
fn laplace_has_no_hessian_form() {
    let l = Laplace::new(0.0, 1.0).unwrap();
    let opts = MonteCarloOptions {
        samples: 100,
        seed: 0,
        form: McForm::NegativeHessian,
    };
    assert!(matches!(
        monte_carlo(&l, &opts),
        Err(Error::HessianFormInvalid { .. })
    ));
}

#[test]
fn monte_carlo_is_identical_for_any_thread_count() {
    let g = Gamma::new(2.5, 1.5).unwrap();
    let opts = MonteCarloOptions {
        samples: 70_000,
        seed: 42,
        form: McForm::Score,
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| monte_carlo(&g, &opts).unwrap())
    };
    let one = run(1);
    for t in [2, 3, 5] {
        let other = run(t);
        // bit-for-bit
        assert!(
            one.matrix
                .iter()
                .zip(other.matrix.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{t} threads"
        );
        let (s1, s2) = (
            one.std_error.as_ref().unwrap(),
            other.std_error.as_ref().unwrap(),
        );
        assert!(
            s1.iter()
                .zip(s2.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
    // and a different seed gives a different estimate
    let other_seed = monte_carlo(
        &g,
        &MonteCarloOptions {
            seed: 43,
            ..opts.clone()
        },
    )
    .unwrap();
    assert!(other_seed.matrix != one.matrix);
}

#[test]
fn monte_carlo_error_shrinks_like_one_over_root_n() {
    // the reported standard error of F_σσ for N(0, 1): Var(s_σ²)/M with s_σ = z² − 1,
    // Var((z²−1)²) = E[(z²−1)⁴] − 4 = 60 − 4 = 56 (moments of χ²₁) ⇒ SE = √(56/M)
    let n = Normal::new(0.0, 1.0).unwrap();
    for m in [10_000usize, 160_000] {
        let mc = monte_carlo(
            &n,
            &MonteCarloOptions {
                samples: m,
                seed: 3,
                form: McForm::Score,
            },
        )
        .unwrap();
        let se = mc.std_error.unwrap()[(1, 1)];
        let theory = (56.0 / m as f64).sqrt();
        assert!(
            (se / theory - 1.0).abs() < 0.15,
            "M = {m}: SE {se} vs theory {theory}"
        );
    }
}
