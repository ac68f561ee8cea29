//! Every curvature route on networks built from convolutions, pools, normalisation layers,
//! residual blocks and layers shared over sequence positions, against independent references:
//! - the exact Fisher against brute force over the labels (scores from forward-mode autodiff of
//!   the whole model) and against the generic `Lᵀ J` route with forward-mode Jacobians;
//! - Monte-Carlo and empirical dense matrices against the per-sample-score routes;
//! - matrix-free products, diagonal and block-diagonal against the dense matrix;
//! - K-FAC where the literature proves it exact: a convolution with one output location is the
//!   dense layer; the reduce setting on a deep linear network with global average pooling or a
//!   mean over positions, the expand setting when the loss sees every position;
//! - K-FAC's and EKFAC's blocks of normalisation layers' scale and shift: the exact diagonal or
//!   the exact dense block;
//! - EKFAC at least as close as K-FAC (its refit is Frobenius-optimal in the basis);
//! - the Hessian of the mean NLL against central differences of the batched gradient;
//! - bit-identical results for 1, 2 and 3 threads.

mod common;
use common::{assert_same_bits_for_any_thread_count, max_rel};

use faer::Mat;
use fisherlab_autodiff::layers::{
    Activation, AdaptiveAvgPool, AvgPool, BatchNorm, Conv, Flatten, LayerNorm, Linear, MaxPool,
    MeanPool, Network, Residual, Sequential,
};
use fisherlab_autodiff::{ScalarFn, gradient};
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::curvature::{
    Approximation, BlockDiagonalFisher, DenseFisher, DiagonalFisher, Ekfac, Kfac, KfacApprox,
    Labels, MatrixFreeFisher, Problem, ScaleShiftBlock,
};
use fisherlab_fisher::curvature::{ExactFisherOptions, JacobianRoute, exact_fisher};
use fisherlab_fisher::model::{
    Model, ModelMcOptions, empirical_fisher, hessian_of_mean_nll, mean_nll_gradient,
    monte_carlo_fisher,
};
use fisherlab_linalg::CurvatureOperator;

fn dense(a: &dyn Approximation, p: &Problem<'_>) -> Mat<f64> {
    a.build(p).unwrap().to_dense().unwrap()
}

/// Inputs without exact ties (a max-pool is not differentiable at a tie, where the batched and
/// the forward-mode passes may pick different maxima after different rounding).
fn images(n: usize, d: usize) -> Mat<f64> {
    Mat::from_fn(n, d, |i, j| 1.5 * ((i * d + j) as f64 * 0.737 + 0.3).sin())
}

/// Parameters without exact ties, varied by `seed`.
fn theta_for(net: &Network, seed: usize) -> Vec<f64> {
    (0..net.num_params())
        .map(|k| 0.6 * ((k as f64) * 1.31 + seed as f64 * 0.7).sin())
        .collect()
}

/// Conv2d (padding, bias) → tanh → max pool → Conv2d (stride, no bias) → average pool →
/// Linear: two layers shared over locations, one dense.
fn cnn() -> Network {
    Sequential::new()
        .push(Conv::conv2d(1, 2, [3, 3]).with_padding(&[1]))
        .push(Activation::Tanh)
        .push(MaxPool::pool2d([2, 2]).with_stride([1, 1]))
        .push(
            Conv::conv2d(2, 2, [2, 2])
                .with_stride(&[1])
                .with_bias(false),
        )
        .push(Activation::Softplus)
        .push(AvgPool::pool2d([2, 2]))
        .push(Flatten::default())
        .push(Linear::new(2, 3, true))
        .build(&[1, 5, 5])
        .unwrap()
}

/// A Conv1d network with a Gaussian head.
fn cnn1d() -> Network {
    Sequential::new()
        .push(Conv::conv1d(2, 3, 3).with_dilation(&[2]))
        .push(Activation::Gelu)
        .push(AdaptiveAvgPool::pool1d(2))
        .push(Flatten::default())
        .push(Linear::new(6, 2, true))
        .build(&[2, 8])
        .unwrap()
}

/// A residual MLP with LayerNorm: Linear → Residual(LayerNorm → Linear → tanh → Linear) →
/// LayerNorm without shift → Linear.
fn residual_mlp() -> Network {
    Sequential::new()
        .push(Linear::new(4, 3, true))
        .push(Residual::new(
            Sequential::new()
                .push(LayerNorm::new(&[3]))
                .push(Linear::new(3, 4, true))
                .push(Activation::Tanh)
                .push(Linear::new(4, 3, true)),
        ))
        .push(LayerNorm::new(&[3]).with_affine(true, false))
        .push(Linear::new(3, 3, true))
        .build(&[4])
        .unwrap()
}

/// A CNN with BatchNorm2d (running statistics not the defaults) and a residual block holding a
/// convolution and a second BatchNorm.
fn bn_cnn() -> Network {
    let mut net = Sequential::new()
        .push(Conv::conv2d(1, 2, [2, 2]))
        .push(BatchNorm::norm2d(2))
        .push(Activation::Relu)
        .push(Residual::new(
            Sequential::new()
                .push(
                    Conv::conv2d(2, 2, [3, 3])
                        .with_padding(&[1])
                        .with_bias(false),
                )
                .push(BatchNorm::norm2d(2))
                .push(Activation::Tanh),
        ))
        .push(AvgPool::pool2d([2, 2]))
        .push(Flatten::default())
        .push(Linear::new(2, 3, true))
        .build(&[1, 3, 3])
        .unwrap();
    for (name, values) in net.buffers() {
        let v: Vec<f64> = (0..values.len())
            .map(|c| {
                if name.ends_with("var") {
                    0.5 + 0.4 * c as f64
                } else {
                    0.1 - 0.2 * c as f64
                }
            })
            .collect();
        net.set_buffer(&name, &v).unwrap();
    }
    net
}

/// A pre-norm transformer-style block on tokens (T = 3, d = 2): a Linear shared over the
/// positions, Residual(LayerNorm → Linear → GELU → Linear), the mean over positions, Linear.
fn sequence_model() -> Network {
    Sequential::new()
        .push(Linear::new(2, 3, true))
        .push(Residual::new(
            Sequential::new()
                .push(LayerNorm::new(&[3]))
                .push(Linear::new(3, 4, true))
                .push(Activation::Gelu)
                .push(Linear::new(4, 3, true)),
        ))
        .push(MeanPool { dim: 1 })
        .push(Linear::new(3, 2, true))
        .build(&[3, 2])
        .unwrap()
}

/// A model, its parameters, inputs and targets.
type Case = (Model, Vec<f64>, Mat<f64>, Mat<f64>);

fn cases() -> Vec<Case> {
    let x2 = images(6, 25);
    let y2 = Mat::from_fn(6, 1, |i, _| (i % 3) as f64);
    let x1 = images(5, 16);
    let y1 = Mat::from_fn(5, 2, |i, j| (i as f64 - j as f64) * 0.4);
    vec![
        (
            Model::new(cnn(), Head::Categorical).unwrap(),
            theta_for(&cnn(), 1),
            x2,
            y2,
        ),
        (
            Model::new(cnn1d(), Head::Gaussian { sigma: 0.8 }).unwrap(),
            theta_for(&cnn1d(), 2),
            x1,
            y1,
        ),
        (
            Model::new(residual_mlp(), Head::Categorical).unwrap(),
            theta_for(&residual_mlp(), 3),
            images(6, 4),
            Mat::from_fn(6, 1, |i, _| ((i + 1) % 3) as f64),
        ),
        (
            Model::new(bn_cnn(), Head::Categorical).unwrap(),
            theta_for(&bn_cnn(), 4),
            images(5, 9),
            Mat::from_fn(5, 1, |i, _| (i % 3) as f64),
        ),
        (
            Model::new(sequence_model(), Head::Gaussian { sigma: 0.6 }).unwrap(),
            theta_for(&sequence_model(), 5),
            images(6, 6),
            Mat::from_fn(6, 2, |i, j| 0.3 * i as f64 - 0.5 * j as f64),
        ),
    ]
}

struct LogLik<'a> {
    model: &'a Model,
    x: &'a [f64],
    y: &'a [f64],
}

impl ScalarFn for LogLik<'_> {
    fn eval<D: fisherlab_autodiff::DualNum<Primitive = f64> + Copy>(&self, theta: &[D]) -> D {
        let mut z = Vec::new();
        self.model.net().forward(theta, self.x, &mut z);
        self.model.head().log_likelihood(&z, self.y)
    }
}

#[test]
fn exact_fisher_of_a_cnn_is_the_expectation_over_labels() {
    // (1/N) Σₙ Σ_y p(y|xₙ) s sᵀ, s = ∇_θ log p(y|xₙ; θ) by forward mode of the whole model:
    // no Jacobian, no output Fisher, no taps
    for (model, theta, x, _) in cases() {
        if model.head() != Head::Categorical {
            continue;
        }
        expectation_over_labels(&model, &theta, &x);
    }
}

fn expectation_over_labels(model: &Model, theta: &[f64], x: &Mat<f64>) {
    let p = model.num_params();
    let mut want = Mat::<f64>::zeros(p, p);
    for i in 0..x.nrows() {
        let xi: Vec<f64> = (0..x.ncols()).map(|j| x[(i, j)]).collect();
        let mut z = Vec::new();
        model.net().forward(theta, &xi, &mut z);
        for label in 0..3 {
            let y = [label as f64];
            let lp = model.head().log_likelihood(&z, &y);
            let (_, s) = gradient(
                &LogLik {
                    model,
                    x: &xi,
                    y: &y,
                },
                theta,
            );
            for a in 0..p {
                for b in 0..p {
                    want[(a, b)] += lp.exp() * s[a] * s[b] / x.nrows() as f64;
                }
            }
        }
    }
    let problem = Problem::new(model, theta, x.as_ref()).unwrap();
    let got = dense(&DenseFisher::new(Labels::Type2), &problem);
    assert!(
        max_rel(&got, &want) < 1e-12,
        "{}: {:e}",
        model.net(),
        max_rel(&got, &want)
    );
}

#[test]
fn every_route_agrees_with_its_reference_on_convolutional_networks() {
    for (model, theta, x, y) in cases() {
        let problem = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_targets(y.as_ref())
            .unwrap();
        let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
        // the generic route with forward-mode Jacobians, in chunks of 2
        for route in [JacobianRoute::Forward, JacobianRoute::Reverse] {
            let generic = exact_fisher(
                &model,
                &theta,
                x.as_ref(),
                &ExactFisherOptions { chunk: 2, route },
            )
            .unwrap()
            .to_dense()
            .unwrap();
            assert!(
                max_rel(&exact, &generic) < 1e-12,
                "{} {route:?}",
                model.net()
            );
        }
        // Monte Carlo and empirical against per-sample forward-mode scores with the same labels
        let mc = dense(
            &DenseFisher::new(Labels::Mc {
                per_input: 3,
                seed: 5,
            }),
            &problem,
        );
        let (mc_ref, _) = monte_carlo_fisher(
            &model,
            &theta,
            x.as_ref(),
            &ModelMcOptions {
                samples_per_input: 3,
                seed: 5,
            },
        )
        .unwrap();
        assert!(max_rel(&mc, &mc_ref.to_dense().unwrap()) < 1e-12);
        let emp = dense(&DenseFisher::new(Labels::Empirical), &problem);
        let emp_ref = empirical_fisher(&model, &theta, x.as_ref(), y.as_ref())
            .unwrap()
            .to_dense()
            .unwrap();
        assert!(max_rel(&emp, &emp_ref) < 1e-12);
        // matrix-free products, diagonal and blocks against the dense matrix
        let mf = dense(&MatrixFreeFisher, &problem);
        assert!(max_rel(&mf, &exact) < 1e-12);
        let taps = model.net().taps();
        for labels in [Labels::Type2, Labels::Empirical] {
            let full = dense(&DenseFisher::new(labels), &problem);
            let diag = DiagonalFisher::new(labels).entries(&problem).unwrap();
            for (i, d) in diag.iter().enumerate() {
                assert!((d - full[(i, i)]).abs() <= 1e-13 * full.norm_max());
            }
            let blocks = dense(&BlockDiagonalFisher::new(labels), &problem);
            let layer = |q: usize| taps.iter().position(|t| t.range().contains(&q));
            for i in 0..full.nrows() {
                for j in 0..full.nrows() {
                    let want = if layer(i) == layer(j) {
                        full[(i, j)]
                    } else {
                        0.0
                    };
                    assert!((blocks[(i, j)] - want).abs() <= 1e-13 * full.norm_max());
                }
            }
        }
        // EKFAC is at least as close as K-FAC in Frobenius distance, for both settings
        for approx in [KfacApprox::Expand, KfacApprox::Reduce] {
            let kfac = dense(&Kfac::new(Labels::Type2).with_approx(approx), &problem);
            let ekfac = dense(&Ekfac::new(Labels::Type2).with_approx(approx), &problem);
            let fro = |a: &Mat<f64>| (a - &exact).norm_l2();
            assert!(fro(&ekfac) <= fro(&kfac) * (1.0 + 1e-12), "{approx:?}");
            // and EKFAC keeps the exact diagonal's trace per layer (its refit is exact)
            let diag = DiagonalFisher::new(Labels::Type2)
                .entries(&problem)
                .unwrap();
            for t in taps {
                let tr: f64 = t.range().map(|q| ekfac[(q, q)]).sum();
                let want: f64 = diag[t.range()].iter().sum();
                assert!((tr - want).abs() < 1e-12 * want.abs().max(1.0));
            }
        }
    }
}

#[test]
fn monte_carlo_routes_are_the_empirical_ones_at_the_sampled_labels() {
    // with one label per input, every Monte-Carlo route is its empirical variant at the labels
    // the sampler drew: K-FAC (expand and reduce), EKFAC, the diagonal and the dense matrix
    for (model, theta, x, _) in cases() {
        let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
        let labels = problem.sampled_labels(1, 11).unwrap();
        let at = problem.with_targets(labels[0].as_ref()).unwrap();
        let mc = Labels::Mc {
            per_input: 1,
            seed: 11,
        };
        let pairs: Vec<(Box<dyn Approximation>, Box<dyn Approximation>)> = vec![
            (
                Box::new(Kfac::new(mc)),
                Box::new(Kfac::new(Labels::Empirical)),
            ),
            (
                Box::new(Kfac::new(mc).with_approx(KfacApprox::Reduce)),
                Box::new(Kfac::new(Labels::Empirical).with_approx(KfacApprox::Reduce)),
            ),
            (
                Box::new(Ekfac::new(mc)),
                Box::new(Ekfac::new(Labels::Empirical)),
            ),
            (
                Box::new(DiagonalFisher::new(mc)),
                Box::new(DiagonalFisher::new(Labels::Empirical)),
            ),
            (
                Box::new(DenseFisher::new(mc)),
                Box::new(DenseFisher::new(Labels::Empirical)),
            ),
        ];
        for (a, b) in &pairs {
            let (da, db) = (dense(a.as_ref(), &at), dense(b.as_ref(), &at));
            assert!(max_rel(&da, &db) < 1e-14, "{}", a.name());
        }
    }
}

/// K-FAC-reduce equals the exact Fisher on the blocks of both layers, and expand does not on
/// the first one (a layer shared over locations).
fn assert_reduce_is_exact_and_expand_is_not(problem: &Problem<'_>, exact: &Mat<f64>) {
    let taps = problem.model().net().taps();
    let block = |m: &Mat<f64>, t: usize| {
        let r = taps[t].range();
        m.as_ref()
            .submatrix(r.start, r.start, r.len(), r.len())
            .to_owned()
    };
    let reduce = dense(
        &Kfac::new(Labels::Type2).with_approx(KfacApprox::Reduce),
        problem,
    );
    let expand = dense(
        &Kfac::new(Labels::Type2).with_approx(KfacApprox::Expand),
        problem,
    );
    for t in 0..2 {
        let err = max_rel(&block(&reduce, t), &block(exact, t));
        assert!(err < 1e-12, "reduce, layer {t}: {err:e}");
    }
    assert!(max_rel(&block(&expand, 0), &block(exact, 0)) > 1e-2);
}

#[test]
fn kfac_is_exact_where_the_literature_proves_it() {
    // (1) a convolution whose kernel covers the whole input has one output location: it is the
    // dense layer with the same weights (PyTorch's (out, in, kh, kw) flattened row-major), and
    // its K-FAC, expand and reduce alike, is the dense layer's K-FAC
    let conv = Sequential::new()
        .push(Conv::conv2d(2, 3, [2, 3]))
        .push(Activation::Tanh)
        .push(Flatten::default())
        .push(Linear::new(3, 2, true))
        .build(&[2, 2, 3])
        .unwrap();
    let lin = Sequential::new()
        .push(Linear::new(12, 3, true))
        .push(Activation::Tanh)
        .push(Linear::new(3, 2, true))
        .build(&[12])
        .unwrap();
    let theta = theta_for(&conv, 3);
    let x = images(7, 12);
    let (mc, ml) = (
        Model::new(conv, Head::Categorical).unwrap(),
        Model::new(lin, Head::Categorical).unwrap(),
    );
    let pc = Problem::new(&mc, &theta, x.as_ref()).unwrap();
    let pl = Problem::new(&ml, &theta, x.as_ref()).unwrap();
    let dense_l = dense(&Kfac::new(Labels::Type2), &pl);
    for approx in [KfacApprox::Expand, KfacApprox::Reduce] {
        let k = dense(&Kfac::new(Labels::Type2).with_approx(approx), &pc);
        assert!(max_rel(&k, &dense_l) < 1e-14, "{approx:?}");
    }
    let fc = dense(&DenseFisher::new(Labels::Type2), &pc);
    let fl = dense(&DenseFisher::new(Labels::Type2), &pl);
    assert!(max_rel(&fc, &fl) < 1e-14);

    // (2) a deep linear network, conv → global average pool → Linear, with a Gaussian head: the
    // back-propagated gradient is the same at every location, so K-FAC-reduce is exact on both
    // layers' blocks (Eschenhagen et al. 2023), and expand is not on the convolution
    let net = Sequential::new()
        .push(Conv::conv2d(2, 3, [2, 2]).with_padding(&[1]))
        .push(AdaptiveAvgPool::pool2d([1, 1]))
        .push(Flatten::default())
        .push(Linear::new(3, 2, true))
        .build(&[2, 3, 3])
        .unwrap();
    let theta = theta_for(&net, 6);
    let model = Model::new(net, Head::Gaussian { sigma: 1.5 }).unwrap();
    let x = images(9, 18);
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
    assert_reduce_is_exact_and_expand_is_not(&problem, &exact);

    // (3) the same for a Linear layer shared over sequence positions followed by the mean over
    // them (Eschenhagen et al. 2023's reduce setting), with every other route against dense
    let net = Sequential::new()
        .push(Linear::new(3, 4, true))
        .push(MeanPool { dim: 1 })
        .push(Linear::new(4, 2, true))
        .build(&[5, 3])
        .unwrap();
    let theta = theta_for(&net, 7);
    let model = Model::new(net, Head::Gaussian { sigma: 0.7 }).unwrap();
    let x = images(8, 15);
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
    let generic = exact_fisher(
        &model,
        &theta,
        x.as_ref(),
        &ExactFisherOptions {
            chunk: 3,
            route: JacobianRoute::Forward,
        },
    )
    .unwrap()
    .to_dense()
    .unwrap();
    assert!(max_rel(&exact, &generic) < 1e-12);
    assert!(max_rel(&dense(&MatrixFreeFisher, &problem), &exact) < 1e-12);
    assert_reduce_is_exact_and_expand_is_not(&problem, &exact);
}

#[test]
fn hessian_of_a_cnn_equals_central_differences_of_its_gradient() {
    let (model, theta, x, y) = cases().swap_remove(1);
    let h = hessian_of_mean_nll(&model, &theta, x.as_ref(), y.as_ref()).unwrap();
    let p = theta.len();
    let step = 1e-5;
    for j in 0..p {
        let at = |s: f64| {
            let mut t = theta.clone();
            t[j] += s * step;
            mean_nll_gradient(&model, &t, x.as_ref(), y.as_ref())
                .unwrap()
                .1
        };
        let (gp, gm) = (at(1.0), at(-1.0));
        for i in 0..p {
            let fd = (gp[i] - gm[i]) / (2.0 * step);
            assert!(
                (h[(i, j)] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "H[{i},{j}]"
            );
        }
    }
}

#[test]
fn convolutional_routes_are_identical_for_any_thread_count() {
    // a CNN, and one with BatchNorm and a residual block
    for (model, theta, x, _) in [cases().swap_remove(0), cases().swap_remove(3)] {
        routes_are_identical_for_any_thread_count(&model, &theta, &x);
    }
}

fn routes_are_identical_for_any_thread_count(model: &Model, theta: &[f64], x: &Mat<f64>) {
    let problem = Problem::new(model, theta, x.as_ref()).unwrap();
    let routes: Vec<Box<dyn Approximation>> = vec![
        Box::new(DenseFisher::new(Labels::Type2)),
        Box::new(Kfac::new(Labels::Mc {
            per_input: 2,
            seed: 1,
        })),
        Box::new(Kfac::new(Labels::Type2).with_approx(KfacApprox::Reduce)),
        Box::new(Ekfac::new(Labels::Type2)),
        Box::new(DiagonalFisher::new(Labels::Type2)),
    ];
    for r in &routes {
        assert_same_bits_for_any_thread_count(|| dense(r.as_ref(), &problem));
    }
}

#[test]
fn kfac_is_exact_for_expand_when_the_loss_sees_every_position() {
    // a deep linear network with weight sharing, Linear(3, 4) → Linear(4, 2) at each of T = 4
    // positions, all T·2 outputs under a Gaussian head: the output gradient of either layer at
    // position t for output (t′, c) is δ_tt′ times a constant, so the exact block is
    // Σₜ B Bᵀ ⊗ aₜ aₜᵀ, which K-FAC-expand reproduces (Eschenhagen et al. 2023) and reduce
    // (mean of the inputs, sum of the gradients) does not
    let net = Sequential::new()
        .push(Linear::new(3, 4, true))
        .push(Linear::new(4, 2, true))
        .push(Flatten::default())
        .build(&[4, 3])
        .unwrap();
    let theta = theta_for(&net, 8);
    let model = Model::new(net, Head::Gaussian { sigma: 0.9 }).unwrap();
    let x = images(7, 12);
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    let exact = dense(&DenseFisher::new(Labels::Type2), &problem);
    let taps = model.net().taps();
    let block = |m: &Mat<f64>, t: usize| {
        let r = taps[t].range();
        m.as_ref()
            .submatrix(r.start, r.start, r.len(), r.len())
            .to_owned()
    };
    let expand = dense(&Kfac::new(Labels::Type2), &problem);
    let reduce = dense(
        &Kfac::new(Labels::Type2).with_approx(KfacApprox::Reduce),
        &problem,
    );
    for t in 0..2 {
        let err = max_rel(&block(&expand, t), &block(&exact, t));
        assert!(err < 1e-12, "expand, layer {t}: {err:e}");
        assert!(
            max_rel(&block(&reduce, t), &block(&exact, t)) > 1e-2,
            "reduce, layer {t}"
        );
    }
}

#[test]
fn normalisation_blocks_are_the_exact_diagonal_or_the_exact_dense_block() {
    // K-FAC keeps a scale-and-shift block exactly, from the same labels as its other factors:
    // its diagonal by default, the dense block on request; EKFAC with the dense block is that
    // block (its eigenbasis, refitted to the same labels: the eigenvalues)
    for (model, theta, x, y) in cases().into_iter().skip(2) {
        let problem = Problem::new(&model, &theta, x.as_ref())
            .unwrap()
            .with_targets(y.as_ref())
            .unwrap();
        let taps = model.net().taps();
        assert!(taps.iter().any(|t| t.is_scale_shift()));
        let mc = Labels::Mc {
            per_input: 2,
            seed: 3,
        };
        for labels in [Labels::Type2, mc, Labels::Empirical] {
            let full = dense(&DenseFisher::new(labels), &problem);
            let diag = dense(&Kfac::new(labels), &problem);
            let blocks = dense(
                &Kfac::new(labels).with_norm_block(ScaleShiftBlock::Dense),
                &problem,
            );
            let ekfac = dense(
                &Ekfac::new(labels).with_norm_block(ScaleShiftBlock::Dense),
                &problem,
            );
            let scale = full.norm_max();
            for t in taps.iter().filter(|t| t.is_scale_shift()) {
                for i in t.range() {
                    for j in t.range() {
                        let want_diag = if i == j { full[(i, j)] } else { 0.0 };
                        assert!((diag[(i, j)] - want_diag).abs() <= 1e-13 * scale);
                        assert!((blocks[(i, j)] - full[(i, j)]).abs() <= 1e-13 * scale);
                        assert!(
                            (ekfac[(i, j)] - full[(i, j)]).abs() <= 1e-12 * scale,
                            "{} {}: ekfac [{i},{j}]",
                            model.net(),
                            labels.name()
                        );
                    }
                }
                // no coupling to any other parameter
                for i in t.range() {
                    for j in (0..model.num_params()).filter(|j| !t.range().contains(j)) {
                        assert!(blocks[(i, j)] == 0.0, "coupled [{i},{j}]");
                    }
                }
            }
        }
    }
}

#[test]
fn hessian_of_a_residual_layer_norm_network_equals_central_differences() {
    let (model, theta, x, y) = cases().swap_remove(2);
    let h = hessian_of_mean_nll(&model, &theta, x.as_ref(), y.as_ref()).unwrap();
    let step = 1e-5;
    for j in 0..theta.len() {
        let at = |s: f64| {
            let mut t = theta.clone();
            t[j] += s * step;
            mean_nll_gradient(&model, &t, x.as_ref(), y.as_ref())
                .unwrap()
                .1
        };
        let (gp, gm) = (at(1.0), at(-1.0));
        for i in 0..theta.len() {
            let fd = (gp[i] - gm[i]) / (2.0 * step);
            assert!(
                (h[(i, j)] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "H[{i},{j}]"
            );
        }
    }
}
