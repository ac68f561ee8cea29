//! The matrix-free metrics against the dense ones on a model whose Fisher fits in memory: each
//! estimate within its stated uncertainty of the dense value (computed from the P × P matrices
//! by `metrics::compare`), standard errors that fall like 1/√(probes), the same bits for a seed
//! whatever the thread count, and an iteration that did not converge reported as such.

use faer::Mat;
use fisherlab_autodiff::network::Mlp;
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::curvature::{
    Approximation, BlockDiagonalFisher, DenseFisher, DiagonalFisher, Ekfac, GramFisher, Kfac,
    Labels, MatrixFreeFisher, Problem,
};
use fisherlab_fisher::metrics::{CompareOptions, MatrixFreeOptions, MatrixFreeReference, compare};
use fisherlab_fisher::model::{Model, mean_nll_gradient};

struct Setup {
    model: Model,
    theta: Vec<f64>,
    x: Mat<f64>,
    y: Mat<f64>,
}

/// A 6-12-4 tanh MLP (P = 136) on 50 inputs with labels.
fn setup() -> Setup {
    faer::set_global_parallelism(faer::Par::rayon(2));
    let model = Model::new(Mlp::parse("6,12,4", "tanh").unwrap(), Head::Categorical).unwrap();
    let theta: Vec<f64> = (0..model.num_params())
        .map(|k| 0.6 * ((k as f64) * 1.37).sin())
        .collect();
    let x = Mat::from_fn(50, 6, |i, j| ((i * 7 + j * 3) as f64 * 0.61).cos() * 1.5);
    let y = Mat::from_fn(50, 1, |i, _| (i % 4) as f64);
    Setup { model, theta, x, y }
}

fn options(s: &Setup, lambda: f64) -> MatrixFreeOptions {
    let g = mean_nll_gradient(&s.model, &s.theta, s.x.as_ref(), s.y.as_ref())
        .unwrap()
        .1;
    MatrixFreeOptions {
        lambda,
        gradient: Some(g),
        ..MatrixFreeOptions::default()
    }
}

#[test]
fn every_estimate_lies_within_its_uncertainty_of_the_dense_metric() {
    let s = setup();
    let problem = Problem::new(&s.model, &s.theta, s.x.as_ref()).unwrap();
    let dense = DenseFisher::new(Labels::Type2).build(&problem).unwrap();
    let free = MatrixFreeFisher.build(&problem).unwrap();
    let lambda = 1e-3;
    let opts = options(&s, lambda);
    let reference = MatrixFreeReference::new(free.as_ref(), &opts).unwrap();
    let approximations: Vec<Box<dyn Approximation>> = vec![
        Box::new(Kfac::new(Labels::Type2)),
        Box::new(Ekfac::new(Labels::Type2)),
        Box::new(DiagonalFisher::new(Labels::Type2)),
    ];
    for a in approximations {
        let approx = a.build(&problem).unwrap();
        let exact = compare(
            dense.as_ref(),
            approx.as_ref(),
            &CompareOptions {
                lambda,
                gradient: opts.gradient.clone(),
                random_directions: opts.random_directions,
                seed: opts.seed,
                spectrum: Some(opts.spectrum),
            },
        )
        .unwrap();
        let est = reference.compare(approx.as_ref()).unwrap();
        let name = a.name();
        let within = |what: &str, e: &fisherlab_fisher::metrics::Estimate, truth: f64, k: f64| {
            assert!(e.failure.is_none(), "{name} {what}: {:?}", e.failure);
            assert!(
                (e.value - truth).abs() <= k * e.uncertainty + 1e-9 * truth.abs(),
                "{name} {what}: {} ± {} against {truth}",
                e.value,
                e.uncertainty
            );
            assert!(e.uncertainty.is_finite() && e.products > 0, "{name} {what}");
        };
        // stochastic estimates: within 4 standard errors
        within(
            "rel Frobenius",
            &est.rel_frobenius,
            exact.rel_frobenius,
            4.0,
        );
        within(
            "log-det",
            &est.logdet_difference,
            exact.logdet_difference,
            4.0,
        );
        // bounds
        within("rel spectral", &est.rel_spectral, exact.rel_spectral, 1.0);
        let cos = est.ngd_cosine.as_ref().unwrap();
        within("NGD cosine", cos, exact.ngd_cosine.unwrap(), 1.0);
        let err = est.ngd_rel_error.as_ref().unwrap();
        within("NGD rel error", err, exact.ngd_rel_error.unwrap(), 1.0);
        // exact from products: the same directions as the dense reference
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        assert!(
            rel(
                est.quad_ratio_gradient.unwrap(),
                exact.quad_ratio_gradient.unwrap()
            ) < 1e-10
        );
        assert_eq!(est.quad_ratio_random.count, exact.quad_ratio_random.count);
        assert!(rel(est.quad_ratio_random.mean, exact.quad_ratio_random.mean) < 1e-10);
        // top-k spectra by Lanczos, to its tolerance
        for (u, v) in est.spectrum_exact.iter().zip(&exact.spectrum_exact) {
            assert!(
                (u - v).abs() <= 1e-5 * exact.spectrum_exact.last().unwrap(),
                "{name}"
            );
        }
        for (u, v) in est.spectrum_approx.iter().zip(&exact.spectrum_approx) {
            assert!(
                (u - v).abs() <= 1e-9 * exact.spectrum_approx.last().unwrap(),
                "{name}"
            );
        }
    }
}

#[test]
fn standard_errors_fall_like_one_over_root_probes() {
    let s = setup();
    let problem = Problem::new(&s.model, &s.theta, s.x.as_ref()).unwrap();
    let free = MatrixFreeFisher.build(&problem).unwrap();
    let approx = DiagonalFisher::new(Labels::Type2).build(&problem).unwrap();
    let run = |probes: usize, seed: u64| {
        let opts = MatrixFreeOptions {
            frobenius_probes: probes,
            slq_probes: probes,
            seed,
            ..options(&s, 1e-2)
        };
        let c = MatrixFreeReference::new(free.as_ref(), &opts)
            .unwrap()
            .compare(approx.as_ref())
            .unwrap();
        (c.rel_frobenius.uncertainty, c.logdet_difference.uncertainty)
    };
    // 16 times the probes: a quarter of the standard error (the ratio of two estimated standard
    // errors, averaged over three seeds so that their own noise, ~18% at 16 probes, averages out)
    let (mut fro, mut ld) = (0.0, 0.0);
    for seed in 0..3 {
        let (f16, l16) = run(16, seed);
        let (f256, l256) = run(256, seed);
        fro += f256 / f16 / 3.0;
        ld += l256 / l16 / 3.0;
    }
    assert!((0.15..0.4).contains(&fro), "Frobenius: {fro}");
    assert!((0.15..0.4).contains(&ld), "log-det: {ld}");
}

#[test]
fn the_same_bits_for_a_seed_whatever_the_thread_count() {
    let s = setup();
    let problem = Problem::new(&s.model, &s.theta, s.x.as_ref()).unwrap();
    let opts = options(&s, 1e-3);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let free = MatrixFreeFisher.build(&problem).unwrap();
            let approx = Kfac::new(Labels::Type2).build(&problem).unwrap();
            MatrixFreeReference::new(free.as_ref(), &opts)
                .unwrap()
                .compare(approx.as_ref())
                .unwrap()
        })
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(1));
}

#[test]
fn an_iteration_that_did_not_converge_gives_no_number() {
    let s = setup();
    let problem = Problem::new(&s.model, &s.theta, s.x.as_ref()).unwrap();
    let free = MatrixFreeFisher.build(&problem).unwrap();
    let approx = Kfac::new(Labels::Type2).build(&problem).unwrap();
    let mut opts = options(&s, 1e-6);
    opts.cg.max_iter = 2;
    opts.lanczos.max_steps = 3;
    opts.spectrum = 2;
    let c = MatrixFreeReference::new(free.as_ref(), &opts)
        .unwrap()
        .compare(approx.as_ref())
        .unwrap();
    let cos = c.ngd_cosine.unwrap();
    assert!(cos.converged().is_none());
    assert!(
        cos.failure
            .unwrap()
            .contains("did not converge in 2 iterations")
    );
    assert!(c.rel_spectral.converged().is_none());
    assert!(c.spectrum_exact.is_empty() && c.spectrum_failure.is_some());
    assert!(c.rel_frobenius.converged().is_some());
}

#[test]
fn compared_together_each_approximation_gets_what_it_gets_alone() {
    // compare_many batches the products with the exact operator (one block per step) over
    // every approximation; the iterations are the same, so the metrics are too, to rounding
    let s = setup();
    let problem = Problem::new(&s.model, &s.theta, s.x.as_ref()).unwrap();
    let free = GramFisher.build(&problem).unwrap();
    let opts = options(&s, 1e-2);
    let reference = MatrixFreeReference::new(free.as_ref(), &opts).unwrap();
    let ops: Vec<Box<dyn fisherlab_linalg::CurvatureOperator>> = vec![
        Kfac::new(Labels::Type2).build(&problem).unwrap(),
        DiagonalFisher::new(Labels::Type2).build(&problem).unwrap(),
        Ekfac::new(Labels::Type2).build(&problem).unwrap(),
    ];
    let refs: Vec<&dyn fisherlab_linalg::CurvatureOperator> =
        ops.iter().map(|o| o.as_ref()).collect();
    let together = reference.compare_many(&refs).unwrap();
    for (op, t) in refs.iter().zip(&together) {
        let alone = reference.compare(*op).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
        assert!(close(t.rel_frobenius.value, alone.rel_frobenius.value));
        assert!(close(t.rel_spectral.value, alone.rel_spectral.value));
        assert!(close(
            t.ngd_cosine.as_ref().unwrap().value,
            alone.ngd_cosine.as_ref().unwrap().value
        ));
        assert!(close(
            t.logdet_difference.value,
            alone.logdet_difference.value
        ));
        assert_eq!(t.rel_spectral.products, alone.rel_spectral.products);
    }
}

#[test]
fn the_gram_factor_and_one_layer_block_are_the_dense_fishers() {
    // GramFisher's products and BlockDiagonalFisher::block against the dense exact Fisher
    let s = setup();
    let problem = Problem::new(&s.model, &s.theta, s.x.as_ref()).unwrap();
    let dense = DenseFisher::new(Labels::Type2)
        .build(&problem)
        .unwrap()
        .to_dense()
        .unwrap();
    let gram = GramFisher.build(&problem).unwrap().to_dense().unwrap();
    assert!((&gram - &dense).norm_max() <= 1e-13 * dense.norm_max());
    let taps = s.model.net().taps();
    for (l, t) in taps.iter().enumerate() {
        let r = t.range();
        let b = BlockDiagonalFisher::new(Labels::Type2)
            .block(&problem, l)
            .unwrap();
        let d = dense.as_ref().submatrix(r.start, r.start, r.len(), r.len());
        assert!((&b - d).norm_max() <= 1e-13 * dense.norm_max(), "layer {l}");
    }
    assert!(
        BlockDiagonalFisher::new(Labels::Type2)
            .block(&problem, taps.len())
            .is_err()
    );
}
