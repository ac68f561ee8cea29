//! Every route and approximation of `curvature` against an independent reference:
//! - the dense fast path against the generic `Lᵀ J` route of `curvature::exact_fisher` (forward-mode
//!   Jacobians), `model::monte_carlo_fisher` and `model::empirical_fisher` (per-sample
//!   forward-mode scores);
//! - the diagonal and block-diagonal against the entries of that dense matrix;
//! - K-FAC against the exact blocks where it is exact (one input; deep linear networks with a
//!   Gaussian head);
//! - EKFAC against K-FAC in Frobenius distance to the exact Fisher (its refit is optimal in the
//!   basis);
//! - the matrix-free products against the dense matrix;
//! - low rank against faer's eigendecomposition of the dense matrix.

mod common;
use common::{assert_same_bits_for_any_thread_count, data, max_rel, theta_for};

use faer::Mat;
use fisherlab_autodiff::network::{ACTIVATIONS, Mlp};
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::curvature::{
    Approximation, BlockDiagonalFisher, DenseFisher, DiagonalFisher, Ekfac, Kfac, Labels, LowRank,
    MatrixFreeFisher, Problem,
};
use fisherlab_fisher::curvature::{ExactFisherOptions, JacobianRoute, exact_fisher};
use fisherlab_fisher::model::{Model, ModelMcOptions, empirical_fisher, monte_carlo_fisher};
use fisherlab_linalg::CurvatureOperator;

fn dense(a: &dyn Approximation, p: &Problem<'_>) -> Mat<f64> {
    a.build(p).unwrap().to_dense().unwrap()
}

/// Targets of the head's kind for N inputs (class indices, 0/1, counts, reals).
fn targets(head: Head, n: usize, c: usize) -> Mat<f64> {
    match head {
        Head::Categorical => Mat::from_fn(n, 1, |i, _| (i % c) as f64),
        Head::Bernoulli => Mat::from_fn(n, 1, |i, _| (i % 2) as f64),
        Head::Poisson => Mat::from_fn(n, c, |i, j| ((i + 2 * j) % 4) as f64),
        Head::Gaussian { .. } => Mat::from_fn(n, c, |i, j| (i as f64 - 2.0 * j as f64) * 0.3),
    }
}

fn cases() -> Vec<(Model, Vec<f64>)> {
    let mut v = Vec::new();
    for (k, act) in ACTIVATIONS.iter().enumerate() {
        let net = Mlp::parse("3,4,3", act).unwrap();
        let theta = theta_for(&net, k);
        v.push((Model::new(net, Head::Categorical).unwrap(), theta));
    }
    for (k, head) in [
        Head::Bernoulli,
        Head::Poisson,
        Head::Gaussian { sigma: 0.7 },
    ]
    .into_iter()
    .enumerate()
    {
        let c = if head == Head::Bernoulli { 1 } else { 2 };
        let net = Mlp::parse(&format!("3,5,4,{c}"), "tanh").unwrap();
        let theta = theta_for(&net, 10 + k);
        v.push((Model::new(net, head).unwrap(), theta));
    }
    v
}

#[test]
fn dense_fast_path_equals_the_generic_route_for_every_activation_and_head() {
    let x = data(7, 3);
    for (model, theta) in cases() {
        // chunks of 3 over 7 inputs: a partial last chunk
        let problem = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_chunk(3)
            .unwrap();
        let got = dense(&DenseFisher::new(Labels::Type2).with_min_chunk(1), &problem);
        let reference = exact_fisher(
            &model,
            &theta,
            x.as_ref(),
            &ExactFisherOptions {
                chunk: 64,
                route: JacobianRoute::Forward,
            },
        )
        .unwrap()
        .to_dense()
        .unwrap();
        let err = max_rel(&got, &reference);
        assert!(err < 1e-13, "{}: {err:e}", model.net());
    }
}

#[test]
fn monte_carlo_and_empirical_variants_equal_the_per_sample_score_routes() {
    let x = data(6, 3);
    for (model, theta) in cases() {
        let c = model.net().output_dim();
        let y = targets(model.head(), 6, c);
        let problem = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_targets(y.as_ref())
            .unwrap()
            .with_chunk(4)
            .unwrap();
        // same seed → the same sampled labels as model::monte_carlo_fisher
        let labels = Labels::Mc {
            per_input: 3,
            seed: 42,
        };
        let mc = dense(&DenseFisher::new(labels).with_min_chunk(1), &problem);
        let (mc_ref, _) = monte_carlo_fisher(
            &model,
            &theta,
            x.as_ref(),
            &ModelMcOptions {
                samples_per_input: 3,
                seed: 42,
            },
        )
        .unwrap();
        assert!(
            max_rel(&mc, &mc_ref.to_dense().unwrap()) < 1e-12,
            "{}",
            model.net()
        );
        let emp = dense(&DenseFisher::new(Labels::Empirical), &problem);
        let emp_ref = empirical_fisher(&model, &theta, x.as_ref(), y.as_ref())
            .unwrap()
            .to_dense()
            .unwrap();
        assert!(max_rel(&emp, &emp_ref) < 1e-12, "{}", model.net());
    }
}

#[test]
fn diagonal_and_block_diagonal_are_the_entries_of_the_dense_matrix() {
    let x = data(5, 3);
    for (model, theta) in cases() {
        let c = model.net().output_dim();
        let y = targets(model.head(), 5, c);
        let problem = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_targets(y.as_ref())
            .unwrap();
        for labels in [
            Labels::Type2,
            Labels::Empirical,
            Labels::Mc {
                per_input: 2,
                seed: 3,
            },
        ] {
            let full = dense(&DenseFisher::new(labels), &problem);
            let diag = DiagonalFisher::new(labels).entries(&problem).unwrap();
            for (i, d) in diag.iter().enumerate() {
                assert!((d - full[(i, i)]).abs() <= 1e-13 * full.norm_max());
            }
            let blocks = dense(&BlockDiagonalFisher::new(labels), &problem);
            let net = model.net();
            let layer_of = |q: usize| {
                net.taps()
                    .iter()
                    .position(|t| t.range().contains(&q))
                    .unwrap()
            };
            let p = net.num_params();
            for i in 0..p {
                for j in 0..p {
                    let want = if layer_of(i) == layer_of(j) {
                        full[(i, j)]
                    } else {
                        0.0
                    };
                    assert!((blocks[(i, j)] - want).abs() <= 1e-13 * full.norm_max());
                }
            }
        }
    }
}

/// Max relative deviation of `approx` from `exact` on the diagonal (per-layer) blocks.
fn block_error(model: &Model, approx: &Mat<f64>, exact: &Mat<f64>) -> f64 {
    let net = model.net();
    let mut err: f64 = 0.0;
    for t in net.taps() {
        let (w, n) = (t.offset, t.num_params());
        let a = approx.as_ref().submatrix(w, w, n, n);
        let e = exact.as_ref().submatrix(w, w, n, n);
        err = err.max((a - e).norm_max() / e.norm_max());
    }
    err
}

#[test]
fn type2_kfac_is_exact_on_the_blocks_for_one_input() {
    // one input: F_ll = Σₖ (g̃ₖ g̃ₖᵀ) ⊗ (ā āᵀ) = G ⊗ A exactly
    let x = data(4, 3);
    for (model, theta) in cases() {
        let one = x.as_ref().subrows(2, 1);
        let problem = Problem::new(&model, &theta, one).unwrap();
        let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
        let kfac = dense(&Kfac::new(Labels::Type2), &problem);
        let err = block_error(&model, &kfac, &exact);
        assert!(err < 1e-12, "{}: {err:e}", model.net());
        // and EKFAC, whose refit is optimal in the same basis, too
        let ekfac = dense(&Ekfac::new(Labels::Type2), &problem);
        assert!(block_error(&model, &ekfac, &exact) < 1e-10);
        // empirical K-FAC of one input is the empirical block
        let c = model.net().output_dim();
        let y = targets(model.head(), 1, c);
        let problem = problem.with_targets(y.as_ref()).unwrap();
        let emp = dense(&DenseFisher::new(Labels::Empirical), &problem);
        let kemp = dense(&Kfac::new(Labels::Empirical), &problem);
        assert!(block_error(&model, &kemp, &emp) < 1e-12);
    }
}

#[test]
fn type2_kfac_is_exact_on_the_blocks_of_deep_linear_gaussian_networks() {
    // deep linear + Gaussian: g̃ₙₖₗ = (W_L ⋯ W_{l+1})ᵀ eₖ / σ does not depend on n, so
    // F_ll = H ⊗ (1/N) Σ ā āᵀ = G ⊗ A
    let net = Mlp::parse("3,4,5,2", "identity").unwrap();
    let theta = theta_for(&net, 5);
    let model = Model::new(net, Head::Gaussian { sigma: 0.5 }).unwrap();
    let x = data(9, 3);
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
    let kfac = dense(&Kfac::new(Labels::Type2), &problem);
    assert!(block_error(&model, &kfac, &exact) < 1e-12);
    // but not for a nonlinear network (the test can fail)
    let tanh = Model::new(Mlp::parse("3,4,5,2", "tanh").unwrap(), model.head()).unwrap();
    let problem = Problem::new(&tanh, &theta, x.as_ref()).unwrap();
    let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
    let kfac = dense(&Kfac::new(Labels::Type2), &problem);
    assert!(block_error(&tanh, &kfac, &exact) > 1e-3);
}

#[test]
fn ekfac_is_at_least_as_close_to_the_exact_fisher_as_kfac() {
    let x = data(12, 3);
    for (model, theta) in cases() {
        let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
        let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
        let kfac = dense(&Kfac::new(Labels::Type2), &problem);
        let ekfac = dense(&Ekfac::new(Labels::Type2), &problem);
        let (ek, ee) = ((&kfac - &exact).norm_l2(), (&ekfac - &exact).norm_l2());
        assert!(ee <= ek * (1.0 + 1e-12), "{}: {ee} > {ek}", model.net());
        // the refit keeps the trace of each block: tr(EKFAC) = tr(F_blocks)
        let tr = |m: &Mat<f64>| (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>();
        assert!((tr(&ekfac) - tr(&exact)).abs() < 1e-12 * tr(&exact));
    }
}

#[test]
fn matrix_free_products_equal_the_dense_matrix() {
    let x = data(7, 3);
    for (model, theta) in cases() {
        let problem = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_chunk(3)
            .unwrap();
        let f = dense(&DenseFisher::new(Labels::Type2), &problem);
        let op = MatrixFreeFisher.build(&problem).unwrap();
        let p = f.nrows();
        let v = Mat::from_fn(p, 2, |i, j| ((i * 7 + j * 3) % 5) as f64 - 2.0);
        let got = op.apply(v.as_ref()).unwrap();
        let want = &f * &v;
        assert!(max_rel(&got, &want) < 1e-12, "{}", model.net());
        // built on a recorded forward pass of the same θ, the products are the same
        let fwd = fisherlab_autodiff::batch::forward(model.net(), &theta, x.as_ref());
        let recorded = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_forward(&fwd)
            .unwrap();
        let again = MatrixFreeFisher.build(&recorded).unwrap();
        assert!(max_rel(&again.apply(v.as_ref()).unwrap(), &want) < 1e-12);
    }
    // a pass recorded by a network of another structure is refused, not trusted
    let (model, theta) = &cases()[0];
    let other = Mlp::parse("3,6,3", "tanh").unwrap().network();
    let x = data(4, 3);
    let fwd = fisherlab_autodiff::batch::forward(&other, &theta_for(&other, 1), x.as_ref());
    let problem = Problem::new(model, theta, x.as_ref()).unwrap();
    assert!(problem.with_forward(&fwd).is_err());
}

#[test]
fn low_rank_top_k_and_randomized_against_the_dense_eigendecomposition() {
    let x = data(6, 3);
    let net = Mlp::parse("3,5,3", "tanh").unwrap();
    let theta = theta_for(&net, 2);
    let model = Model::new(net, Head::Categorical).unwrap();
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    let f = dense(&DenseFisher::new(Labels::Type2), &problem);
    let p = f.nrows();
    // reference: the best rank-k approximation F_k from faer's eigendecomposition of F
    let k = 4;
    let evd = f.self_adjoint_eigen(faer::Side::Lower).unwrap();
    let fk = Mat::from_fn(p, p, |i, j| {
        (p - k..p)
            .map(|e| evd.S()[e] * evd.U()[(i, e)] * evd.U()[(j, e)])
            .sum::<f64>()
    });
    for approx in [LowRank::top_k(k), LowRank::randomized(k, 7)] {
        let d = dense(&approx, &problem);
        // F̃ = U S Uᵀ + D: off the diagonal it is F_k; on it, max(F_ii, (F_k)_ii)
        for i in 0..p {
            for j in 0..p {
                let want = if i == j {
                    f[(i, i)].max(fk[(i, i)])
                } else {
                    fk[(i, j)]
                };
                assert!(
                    (d[(i, j)] - want).abs() < 1e-9 * f.norm_max(),
                    "{approx:?} ({i},{j}): {} vs {want}",
                    d[(i, j)]
                );
            }
        }
    }
    // F has rank ≤ N(C−1) = 12 < P = 38: rank 12 reproduces F
    let full = dense(&LowRank::top_k(12), &problem);
    assert!(max_rel(&full, &f) < 1e-10);
    assert!(LowRank::top_k(0).build(&problem).is_err());
    assert!(LowRank::top_k(p + 1).build(&problem).is_err());
}

#[test]
fn results_do_not_depend_on_the_chunk_size_or_thread_count() {
    let net = Mlp::parse("4,6,5,3", "softplus").unwrap();
    let theta = theta_for(&net, 4);
    let model = Model::new(net, Head::Categorical).unwrap();
    let x = data(11, 4);
    let at = |chunk: usize| {
        let problem = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_chunk(chunk)
            .unwrap();
        dense(&DenseFisher::new(Labels::Type2).with_min_chunk(1), &problem)
    };
    let base = at(11);
    for chunk in [1, 4] {
        assert!(max_rel(&at(chunk), &base) < 1e-14);
    }
    // bit-identical for any thread count at a fixed chunk size
    assert_same_bits_for_any_thread_count(|| at(4));
}

#[test]
fn bad_options_are_typed_errors() {
    let net = Mlp::parse("3,2", "identity").unwrap();
    let theta = theta_for(&net, 0);
    let model = Model::new(net, Head::Categorical).unwrap();
    let x = data(3, 3);
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    // empirical without targets
    assert!(DenseFisher::new(Labels::Empirical).build(&problem).is_err());
    assert!(
        Kfac::new(Labels::Mc {
            per_input: 0,
            seed: 1
        })
        .build(&problem)
        .is_err()
    );
    assert!(problem.with_chunk(0).is_err());
    // a label out of range names its row
    let y = Mat::from_fn(3, 1, |i, _| if i == 1 { 2.0 } else { 0.0 });
    let err = problem.with_targets(y.as_ref()).unwrap_err().to_string();
    assert!(err.contains("row 1"), "{err}");
    let nan = Mat::from_fn(3, 3, |i, j| if (i, j) == (2, 1) { f64::NAN } else { 0.0 });
    assert!(Problem::new(&model, &theta, nan.as_ref()).is_err());
}

#[test]
fn mean_nll_gradient_equals_forward_mode_gradients() {
    use fisherlab_fisher::model::mean_nll_gradient;
    let x = data(6, 3);
    for (model, theta) in cases() {
        let c = model.net().output_dim();
        let y = targets(model.head(), 6, c);
        let (loss, g) = mean_nll_gradient(&model, &theta, x.as_ref(), y.as_ref()).unwrap();
        // reference: forward-mode gradient of each example's log-likelihood, averaged
        let (mut want_loss, mut want) = (0.0, vec![0.0; theta.len()]);
        for i in 0..6 {
            let xi: Vec<f64> = (0..3).map(|j| x[(i, j)]).collect();
            let yi: Vec<f64> = (0..y.ncols()).map(|j| y[(i, j)]).collect();
            let (v, gi) = fisherlab_autodiff::gradient(&model.log_likelihood_fn(&xi, &yi), &theta);
            want_loss -= v / 6.0;
            for (w, gq) in want.iter_mut().zip(gi) {
                *w -= gq / 6.0;
            }
        }
        assert!((loss - want_loss).abs() < 1e-13 * want_loss.abs().max(1.0));
        for (a, b) in g.iter().zip(&want) {
            assert!((a - b).abs() < 1e-13 * (1.0 + b.abs()), "{}", model.net());
        }
    }
}
