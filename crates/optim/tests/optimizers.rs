//! The optimizers against what the theory says, with references computed here independently:
//! reparameterisation invariance of exact NGD (and its failure for SGD), one-step least squares,
//! convergence of every optimizer to a Newton solve of logistic regression, K-FAC = exact NGD
//! where K-FAC is exact, SMW = dense NGD, and failures that keep the last good weights.

use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};
use fisherlab_autodiff::network::Mlp;
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::curvature::Labels;
use fisherlab_fisher::model::{Model, mean_nll, mean_nll_gradient};
use fisherlab_optim::{
    Adam, ConjugateGradient, Damping, Diagonal, DiagonalNgd, Ekfac, EkfacOptimizer, Error, Exact,
    ExactNgd, HessianFree, Kfac, KfacOptimizer, Optimizer, Sgd, SmwNgd, StepInput, TrainOptions,
    Woodbury, train,
};

/// A fixed, non-separable binary dataset in 2-D (labels flip near the boundary).
fn logistic_data() -> (Mat<f64>, Mat<f64>) {
    let n = 40;
    let x = Mat::from_fn(n, 2, |i, j| {
        let t = i as f64 * 0.7;
        if j == 0 {
            t.sin() * 2.0
        } else {
            (t * 1.3).cos() * 1.5
        }
    });
    let y = Mat::from_fn(n, 1, |i, _| {
        let s = 1.2 * x[(i, 0)] - 0.8 * x[(i, 1)] + 0.3;
        // every fifth label flipped: no separating line
        let label = if s > 0.0 { 1.0 } else { 0.0 };
        if i % 5 == 0 { 1.0 - label } else { label }
    });
    (x, y)
}

/// Newton's method on the logistic log-likelihood, written here from the closed forms
/// gradient `X̄ᵀ(p − y)/N` and Hessian `X̄ᵀ diag(p(1−p)) X̄ / N` (θ = [w₁ … w_d, b]).
fn newton_optimum(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Vec<f64> {
    let (n, d) = (x.nrows(), x.ncols());
    let xb = Mat::from_fn(n, d + 1, |i, j| if j < d { x[(i, j)] } else { 1.0 });
    let mut theta = Mat::<f64>::zeros(d + 1, 1);
    for _ in 0..50 {
        let eta = &xb * &theta;
        let p: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + (-eta[(i, 0)]).exp())).collect();
        let g = xb.transpose() * Mat::from_fn(n, 1, |i, _| (p[i] - y[(i, 0)]) / n as f64);
        let w = Mat::from_fn(n, d + 1, |i, j| xb[(i, j)] * p[i] * (1.0 - p[i]) / n as f64);
        let h = xb.transpose() * w;
        let step = h.llt(Side::Lower).unwrap().solve(&g);
        theta -= &step;
        if step.norm_max() < 1e-15 {
            break;
        }
    }
    (0..=d).map(|i| theta[(i, 0)]).collect()
}

/// A well-conditioned logistic regression with 4 features (5 parameters): 200 inputs with
/// near-uncorrelated unit-scale features, labels from a logistic model with a fixed
/// low-discrepancy stream (so the data are not separable).
fn glm_data() -> (Mat<f64>, Mat<f64>) {
    let n = 200;
    let x = Mat::from_fn(n, 4, |i, j| {
        let t = i as f64 + 0.5;
        ((t * [0.37, 1.13, 2.71, 0.59][j]).sin() + (t * [1.7, 0.23, 0.91, 3.1][j]).cos()) * 0.9
    });
    let y = Mat::from_fn(n, 1, |i, _| {
        let eta = 0.8 * x[(i, 0)] - 0.5 * x[(i, 1)] + 0.3 * x[(i, 2)] + 0.6 * x[(i, 3)] - 0.2;
        let p = 1.0 / (1.0 + (-eta).exp());
        let u = (i as f64 * 0.618_033_988_749_895).fract();
        if u < p { 1.0 } else { 0.0 }
    });
    (x, y)
}

fn full_batch(steps: usize, n: usize) -> TrainOptions {
    TrainOptions {
        steps,
        batch: n,
        seed: 5,
        eval_every: None,
    }
}

/// The defaults promise (docs/optimizers.md): exact NGD and Woodbury NGD with no options at all
/// are Fisher scoring after a few steps of their Levenberg–Marquardt schedule, and reach the
/// Newton optimum of a well-conditioned 5-parameter logistic regression in ≤ 10 full-batch
/// steps, as Fisher scoring does (the reference is the Newton solve written above).
#[test]
fn exact_ngd_with_default_settings_is_fisher_scoring_on_a_glm() {
    let (x, y) = glm_data();
    let model = Model::new(Mlp::parse("4,1", "identity").unwrap(), Head::Bernoulli).unwrap();
    let star = newton_optimum(x.as_ref(), y.as_ref());
    let scale = 1.0 + star.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let cases: Vec<Box<dyn Optimizer>> = vec![
        Box::new(ExactNgd::builder(Exact).build().unwrap()),
        Box::new(SmwNgd::builder(Woodbury).build().unwrap()),
    ];
    for mut opt in cases {
        let run = train(
            &model,
            &[0.0; 5],
            x.as_ref(),
            y.as_ref(),
            opt.as_mut(),
            &full_batch(10, 200),
            |_| {},
        )
        .unwrap();
        let dist = run
            .theta
            .iter()
            .zip(&star)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            dist < 1e-6 * scale,
            "{}: distance to the Newton optimum {dist:e} after 10 steps",
            opt.name()
        );
    }
    // and a fixed λ = 1 (the old default) does not get there in 10 steps: the schedule matters
    let mut fixed = ExactNgd::new(Exact, 1.0, 1.0).unwrap();
    let run = train(
        &model,
        &[0.0; 5],
        x.as_ref(),
        y.as_ref(),
        &mut fixed,
        &full_batch(10, 200),
        |_| {},
    )
    .unwrap();
    let dist = run
        .theta
        .iter()
        .zip(&star)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(dist > 1e-3 * scale, "fixed λ = 1: {dist:e}");
}

/// Every option is checked once, when the optimizer is built: no invalid optimizer exists.
#[test]
fn builders_refuse_invalid_options() {
    let bad: Vec<(&str, fisherlab_optim::Result<()>)> = vec![
        ("lr", ExactNgd::new(Exact, 0.0, 1.0).map(|_| ())),
        ("damping", ExactNgd::new(Exact, 1.0, -1.0).map(|_| ())),
        (
            "decay",
            KfacOptimizer::new(Kfac::new().with_decay(1.0), 1.0, 1.0).map(|_| ()),
        ),
        (
            "factor-period",
            KfacOptimizer::new(Kfac::new().with_periods(0, 1), 1.0, 1.0).map(|_| ()),
        ),
        (
            "eigen-period",
            EkfacOptimizer::new(Ekfac::new().with_eigen_period(0), 1.0, 1.0).map(|_| ()),
        ),
        (
            "max-cg",
            HessianFree::new(ConjugateGradient::new().with_max_cg(0), 1.0, 1.0).map(|_| ()),
        ),
        (
            "kl-clip",
            KfacOptimizer::builder(Kfac::new())
                .kl_clip(-1.0)
                .build()
                .map(|_| ()),
        ),
        (
            "kl-clip",
            KfacOptimizer::builder(Kfac::new())
                .kl_clip(1e-3)
                .auto_lr_momentum()
                .build()
                .map(|_| ()),
        ),
    ];
    for (name, r) in bad {
        match r {
            Err(Error::InvalidOption { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn every_optimizer_converges_to_the_newton_optimum_of_logistic_regression() {
    let (x, y) = logistic_data();
    let model = Model::new(Mlp::parse("2,1", "identity").unwrap(), Head::Bernoulli).unwrap();
    let star = newton_optimum(x.as_ref(), y.as_ref());
    let best = mean_nll(&model, &star, x.as_ref(), y.as_ref()).unwrap();
    // (optimizer, step budget); full batch, so every run is deterministic
    let cases: Vec<(Box<dyn Optimizer>, usize)> = vec![
        (Box::new(Sgd::new(2.0).with_momentum(0.9, true)), 600),
        (Box::new(Adam::new(0.05)), 3000),
        (Box::new(ExactNgd::new(Exact, 1.0, 1e-8).unwrap()), 15),
        (
            Box::new(
                ExactNgd::builder(Exact)
                    .damping(Damping::adaptive(1.0))
                    .build()
                    .unwrap(),
            ),
            60,
        ),
        (
            Box::new(DiagonalNgd::new(Diagonal::new().with_decay(0.0), 0.5, 1e-4).unwrap()),
            400,
        ),
        (
            Box::new(
                KfacOptimizer::new(Kfac::new().with_decay(0.0).with_periods(1, 1), 1.0, 1e-6)
                    .unwrap(),
            ),
            40,
        ),
        (
            Box::new(
                KfacOptimizer::builder(Kfac::new())
                    .damping(Damping::fixed(1e-3))
                    .auto_lr_momentum()
                    .build()
                    .unwrap(),
            ),
            60,
        ),
        (
            Box::new(EkfacOptimizer::new(Ekfac::new().with_eigen_period(1), 1.0, 1e-6).unwrap()),
            60,
        ),
        (Box::new(SmwNgd::new(Woodbury, 1.0, 1e-6).unwrap()), 15),
        (
            Box::new(
                HessianFree::builder(ConjugateGradient::new())
                    .damping(Damping::every_step(1e-3))
                    .build()
                    .unwrap(),
            ),
            30,
        ),
    ];
    for (mut opt, steps) in cases {
        let run = train(
            &model,
            &[0.0; 3],
            x.as_ref(),
            y.as_ref(),
            opt.as_mut(),
            &full_batch(steps, 40),
            |_| {},
        )
        .unwrap();
        let loss = mean_nll(&model, &run.theta, x.as_ref(), y.as_ref()).unwrap();
        let dist = run
            .theta
            .iter()
            .zip(&star)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            loss - best < 1e-8 && dist < 1e-3,
            "{}: loss gap {:e}, parameter distance {dist:e} after {steps} steps",
            opt.name(),
            loss - best
        );
    }
}

#[test]
fn exact_ngd_solves_linear_gaussian_regression_in_one_step() {
    // Fisher = Hessian of the mean squared error / 2σ²: one Newton step from anywhere
    let n = 12;
    let x = Mat::from_fn(n, 3, |i, j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
    let y = Mat::from_fn(n, 1, |i, _| (i as f64 * 0.9).sin() + 0.1 * i as f64);
    let model = Model::new(
        Mlp::parse("3,1", "identity").unwrap(),
        Head::Gaussian { sigma: 1.0 },
    )
    .unwrap();
    // reference: the normal equations X̄ᵀX̄ θ = X̄ᵀy, solved by faer's Cholesky
    let xb = Mat::from_fn(n, 4, |i, j| if j < 3 { x[(i, j)] } else { 1.0 });
    let want = (xb.transpose() * &xb)
        .llt(Side::Lower)
        .unwrap()
        .solve(xb.transpose() * &y);
    let run = train(
        &model,
        &[0.3, -0.2, 0.5, 1.0],
        x.as_ref(),
        y.as_ref(),
        &mut ExactNgd::new(Exact, 1.0, 1e-12).unwrap(),
        &full_batch(1, n),
        |_| {},
    )
    .unwrap();
    for q in 0..4 {
        assert!((run.theta[q] - want[(q, 0)]).abs() < 1e-9, "parameter {q}");
    }
}

#[test]
fn exact_ngd_is_invariant_to_a_linear_reparameterisation_and_sgd_is_not() {
    // model 1: logistic regression on x with weights w; model 2: the same on x̃ = Bᵀx with
    // weights v, w = B v. Both describe the same functions; NGD steps map onto each other.
    let (x, y) = logistic_data();
    let bmat = [[2.0, 0.5], [-0.3, 0.4]];
    let xt = Mat::from_fn(x.nrows(), 2, |i, j| {
        bmat[0][j] * x[(i, 0)] + bmat[1][j] * x[(i, 1)]
    });
    let model = Model::new(Mlp::parse("2,1", "identity").unwrap(), Head::Bernoulli).unwrap();
    // the same starting function: w0 = B v0
    let v0 = [0.2, -0.1, 0.05];
    let w0 = [
        bmat[0][0] * v0[0] + bmat[0][1] * v0[1],
        bmat[1][0] * v0[0] + bmat[1][1] * v0[1],
        v0[2],
    ];
    let logits = |theta: &[f64], inputs: &Mat<f64>| -> Vec<f64> {
        (0..inputs.nrows())
            .map(|i| theta[0] * inputs[(i, 0)] + theta[1] * inputs[(i, 1)] + theta[2])
            .collect()
    };
    let gap = |opt1: &mut dyn Optimizer, opt2: &mut dyn Optimizer| {
        let opts = full_batch(10, 40);
        let r1 = train(&model, &w0, x.as_ref(), y.as_ref(), opt1, &opts, |_| {}).unwrap();
        let r2 = train(&model, &v0, xt.as_ref(), y.as_ref(), opt2, &opts, |_| {}).unwrap();
        logits(&r1.theta, &x)
            .iter()
            .zip(logits(&r2.theta, &xt))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    };
    let ngd = gap(
        &mut ExactNgd::new(Exact, 0.1, 1e-10).unwrap(),
        &mut ExactNgd::new(Exact, 0.1, 1e-10).unwrap(),
    );
    let sgd = gap(&mut Sgd::new(0.1), &mut Sgd::new(0.1));
    assert!(ngd < 1e-7, "NGD function-space gap {ngd:e}");
    assert!(sgd > 1e-2, "SGD function-space gap {sgd:e}");
}

fn one_step(
    opt: &mut dyn Optimizer,
    model: &Model,
    theta: &[f64],
    x: &Mat<f64>,
    y: &Mat<f64>,
) -> Vec<f64> {
    let (loss, gradient) = mean_nll_gradient(model, theta, x.as_ref(), y.as_ref()).unwrap();
    let mut t = theta.to_vec();
    opt.step(
        &StepInput {
            model,
            x: x.as_ref(),
            y: y.as_ref(),
            loss,
            gradient: &gradient,
            step: 0,
            seed: 0,
            forward: None,
        },
        &mut t,
    )
    .unwrap();
    t
}

#[test]
fn kfac_equals_exact_ngd_on_one_datum_and_smw_equals_dense_ngd() {
    // one dense layer, Gaussian head, one datum: F = G ⊗ A exactly
    let model = Model::new(
        Mlp::parse("3,2", "identity").unwrap(),
        Head::Gaussian { sigma: 0.5 },
    )
    .unwrap();
    let x = Mat::from_fn(1, 3, |_, j| j as f64 - 0.5);
    let y = Mat::from_fn(1, 2, |_, j| j as f64 + 0.25);
    let theta: Vec<f64> = (0..8).map(|k| (k as f64 * 0.9).sin() * 0.3).collect();
    let lambda = 1e-2;
    let a = one_step(
        &mut KfacOptimizer::new(Kfac::new(), 0.7, lambda).unwrap(),
        &model,
        &theta,
        &x,
        &y,
    );
    let b = one_step(
        &mut ExactNgd::new(Exact, 0.7, lambda).unwrap(),
        &model,
        &theta,
        &x,
        &y,
    );
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() < 1e-10, "{u} vs {v}");
    }
    // SMW on a mini-batch of an MLP with B·C < P
    let model = Model::new(Mlp::parse("4,6,3", "tanh").unwrap(), Head::Categorical).unwrap();
    let x = Mat::from_fn(5, 4, |i, j| ((i * 3 + j) % 7) as f64 / 3.0 - 1.0);
    let y = Mat::from_fn(5, 1, |i, _| (i % 3) as f64);
    let theta: Vec<f64> = (0..model.num_params())
        .map(|k| (k as f64 * 0.37).cos() * 0.4)
        .collect();
    let a = one_step(
        &mut SmwNgd::new(Woodbury, 1.0, 1e-3).unwrap(),
        &model,
        &theta,
        &x,
        &y,
    );
    let b = one_step(
        &mut ExactNgd::new(Exact, 1.0, 1e-3).unwrap(),
        &model,
        &theta,
        &x,
        &y,
    );
    let scale = b
        .iter()
        .zip(&theta)
        .map(|(u, t)| (u - t).abs())
        .fold(0.0, f64::max);
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() < 1e-10 * scale.max(1.0), "{u} vs {v}");
    }
}

#[test]
fn failures_keep_the_last_good_weights() {
    let (x, y) = logistic_data();
    let model = Model::new(Mlp::parse("2,1", "identity").unwrap(), Head::Bernoulli).unwrap();
    // a NaN in the data: refused before any step, the initial weights kept
    let mut bad = x.clone();
    bad[(7, 1)] = f64::NAN;
    let theta0 = [0.1, 0.2, 0.3];
    let f = train(
        &model,
        &theta0,
        bad.as_ref(),
        y.as_ref(),
        &mut Sgd::new(0.1),
        &full_batch(5, 40),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(f.theta, theta0.to_vec());
    assert!(f.records.is_empty() && f.to_string().contains("NaN"), "{f}");
    // a step size that overflows a squared-error loss: the run stops at the first non-finite
    // value and returns the parameters before it, all finite
    let gauss = Model::new(
        Mlp::parse("2,1", "identity").unwrap(),
        Head::Gaussian { sigma: 1.0 },
    )
    .unwrap();
    let f = train(
        &gauss,
        &theta0,
        x.as_ref(),
        y.as_ref(),
        &mut Sgd::new(1e200),
        &full_batch(50, 40),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(f.error, Error::NonFinite { .. }), "{}", f.error);
    assert!(f.theta.iter().all(|t| t.is_finite()));
    assert!(!f.records.is_empty() && f.records.len() < 50);
    // invalid options are typed errors
    let f = train(
        &model,
        &theta0,
        x.as_ref(),
        y.as_ref(),
        &mut Sgd::new(-1.0),
        &full_batch(1, 40),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(f.error, Error::InvalidOption { name: "lr", .. }));
}

#[test]
fn runs_are_identical_for_any_thread_count_and_mini_batches_cover_the_data() {
    let model = Model::new(Mlp::parse("4,8,3", "tanh").unwrap(), Head::Categorical).unwrap();
    let x = Mat::from_fn(30, 4, |i, j| ((i * 5 + j * 3) % 9) as f64 / 4.0 - 1.0);
    let y = Mat::from_fn(30, 1, |i, _| (i % 3) as f64);
    let theta0: Vec<f64> = (0..model.num_params())
        .map(|k| (k as f64 * 0.61).sin() * 0.3)
        .collect();
    let opts = TrainOptions {
        steps: 12,
        batch: 8,
        seed: 11,
        eval_every: Some(4),
    };
    let prev = faer::get_global_parallelism();
    let mut thetas = Vec::new();
    for threads in [1, 2, 3] {
        faer::set_global_parallelism(if threads == 1 {
            faer::Par::Seq
        } else {
            faer::Par::rayon(threads)
        });
        let mut opt = KfacOptimizer::new(
            Kfac::new()
                .with_labels(Labels::Mc {
                    per_input: 1,
                    seed: 0,
                })
                .with_periods(1, 3),
            0.5,
            1e-2,
        )
        .unwrap();
        let run = train(
            &model,
            &theta0,
            x.as_ref(),
            y.as_ref(),
            &mut opt,
            &opts,
            |_| {},
        )
        .unwrap();
        assert_eq!(run.records.len(), 12);
        assert_eq!(
            run.records.iter().filter(|r| r.eval_loss.is_some()).count(),
            3
        );
        thetas.push(run.theta);
    }
    faer::set_global_parallelism(prev);
    for t in &thetas[1..] {
        assert!(
            t.iter()
                .zip(&thetas[0])
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
}

#[test]
fn the_labels_of_an_optimizer_are_recorded_in_its_settings() {
    use fisherlab_optim::Preconditioner;
    // the one vocabulary: the settings name the labels as `--kfac-type` does, and Monte-Carlo
    // settings other than the default (one label per input, no seed offset) are recorded
    let get =
        |s: &[(&str, String)], k: &str| s.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let default = Kfac::new().settings();
    assert_eq!(get(&default, "factor_labels").as_deref(), Some("type2"));
    assert_eq!(get(&default, "mc_samples"), None);
    let one = Kfac::new()
        .with_labels(Labels::Mc {
            per_input: 1,
            seed: 0,
        })
        .settings();
    assert_eq!(get(&one, "factor_labels").as_deref(), Some("mc"));
    assert_eq!(get(&one, "mc_samples"), None);
    let three = Diagonal::new()
        .with_labels(Labels::Mc {
            per_input: 3,
            seed: 5,
        })
        .settings();
    assert_eq!(get(&three, "mc_samples").as_deref(), Some("3"));
    assert_eq!(get(&three, "mc_seed_offset").as_deref(), Some("5"));
    assert!(Ekfac::new().with_labels(Labels::Empirical).needs_targets());
    assert!(!Ekfac::new().needs_targets());
}
