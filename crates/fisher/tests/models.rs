//! The exact Fisher of a model against closed forms (GLMs), against a brute-force expectation
//! over labels (small MLPs), and against the Hessian of the mean negative log-likelihood (linear
//! models with canonical heads). The expected values are computed here from the formulas, not by
//! the code under test.

mod common;
use common::{assert_same_bits_for_any_thread_count, data, max_rel, theta_for};

use faer::{Mat, MatRef};
use fisherlab_autodiff::network::{ACTIVATIONS, Mlp};
use fisherlab_autodiff::{gradient, hessian};
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::curvature::{ExactFisherOptions, JacobianRoute, exact_fisher};
use fisherlab_fisher::model::Model;
use fisherlab_linalg::CurvatureOperator;

fn fisher_of(model: &Model, theta: &[f64], x: MatRef<'_, f64>) -> Mat<f64> {
    exact_fisher(model, theta, x, &ExactFisherOptions::default())
        .unwrap()
        .to_dense()
        .unwrap()
}

/// x̄ = [x, 1] and the linear predictor of a single-output GLM.
fn glm_parts(theta: &[f64], x: MatRef<'_, f64>, i: usize) -> (Vec<f64>, f64) {
    let d = x.ncols();
    let mut xb: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
    xb.push(1.0);
    let eta = (0..=d).map(|j| theta[j] * xb[j]).sum();
    (xb, eta)
}

#[test]
fn single_output_glms_match_their_closed_forms() {
    let (n, d) = (7, 3);
    let x = data(n, d);
    let net = Mlp::parse("3,1", "identity").unwrap();
    let theta = theta_for(&net, 1);
    // weight w(η) in (1/N) X̄ᵀ diag(w) X̄: logistic p(1−p), Poisson λ = e^η, Gaussian 1/σ²
    type Weight = fn(f64) -> f64;
    let cases: [(Head, Weight); 3] = [
        (Head::Bernoulli, |eta| {
            let p = 1.0 / (1.0 + (-eta).exp());
            p * (1.0 - p)
        }),
        (Head::Poisson, |eta| eta.exp()),
        (Head::Gaussian { sigma: 0.5 }, |_| 4.0),
    ];
    for (head, w) in cases {
        let model = Model::new(net.clone(), head).unwrap();
        let mut want = Mat::<f64>::zeros(d + 1, d + 1);
        for i in 0..n {
            let (xb, eta) = glm_parts(&theta, x.as_ref(), i);
            for a in 0..=d {
                for b in 0..=d {
                    want[(a, b)] += w(eta) * xb[a] * xb[b] / n as f64;
                }
            }
        }
        let got = fisher_of(&model, &theta, x.as_ref());
        assert!(
            max_rel(&got, &want) < 1e-13,
            "{head:?}: {:e}",
            max_rel(&got, &want)
        );
    }
}

#[test]
fn softmax_regression_in_pytorch_parameter_order() {
    // F[(c,j),(c',j')] = (1/N) Σ (diag p − ppᵀ)[c,c'] x̄ⱼ x̄ⱼ'; weights row-major at c·d + j, then
    // the C biases at C·d + c
    let (n, d, c) = (7, 3, 4);
    let x = data(n, d);
    let net = Mlp::parse("3,4", "identity").unwrap();
    let theta = theta_for(&net, 2);
    let model = Model::new(net, Head::Categorical).unwrap();
    let idx = |cls: usize, j: usize| if j < d { cls * d + j } else { c * d + cls };
    let p_total = c * (d + 1);
    let mut want = Mat::<f64>::zeros(p_total, p_total);
    for i in 0..n {
        let mut xb: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
        xb.push(1.0);
        let z: Vec<f64> = (0..c)
            .map(|k| (0..d).map(|j| theta[k * d + j] * xb[j]).sum::<f64>() + theta[c * d + k])
            .collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / s).collect();
        for a in 0..c {
            for b in 0..c {
                let h = if a == b {
                    p[a] - p[a] * p[b]
                } else {
                    -p[a] * p[b]
                };
                for ja in 0..=d {
                    for jb in 0..=d {
                        want[(idx(a, ja), idx(b, jb))] += h * xb[ja] * xb[jb] / n as f64;
                    }
                }
            }
        }
    }
    let got = fisher_of(&model, &theta, x.as_ref());
    assert!(max_rel(&got, &want) < 1e-13, "{:e}", max_rel(&got, &want));
}

#[test]
fn mlp_fisher_equals_brute_force_expectation_over_labels() {
    // (1/N) Σₙ Σ_y p(y|xₙ) s sᵀ with s = ∇_θ log p(y|xₙ; θ) from autodiff of the whole model: an
    // independent route (no Jacobian, no output Fisher)
    let (n, d) = (5, 3);
    let x = data(n, d);
    for act in ACTIVATIONS {
        for (arch, head) in [("3,4,3", Head::Categorical), ("3,2,2,1", Head::Bernoulli)] {
            let net = Mlp::parse(arch, act).unwrap().network();
            let theta = theta_for(&net, 3);
            let model = Model::new(net.clone(), head).unwrap();
            let p = net.num_params();
            let mut want = Mat::<f64>::zeros(p, p);
            let labels = if head == Head::Bernoulli {
                2
            } else {
                net.output_dim()
            };
            for i in 0..n {
                let xi: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
                let mut mass = 0.0;
                for yv in 0..labels {
                    let y = [yv as f64];
                    let (lp, s) = gradient(&model.log_likelihood_fn(&xi, &y), &theta);
                    let w = lp.exp() / n as f64;
                    mass += lp.exp();
                    for a in 0..p {
                        for b in 0..p {
                            want[(a, b)] += w * s[a] * s[b];
                        }
                    }
                }
                assert!((mass - 1.0).abs() < 1e-13);
            }
            let got = fisher_of(&model, &theta, x.as_ref());
            assert!(
                max_rel(&got, &want) < 1e-12,
                "{arch} {act}: {:e}",
                max_rel(&got, &want)
            );
        }
    }
}

#[test]
fn linear_model_with_canonical_head_fisher_equals_hessian() {
    // for a linear predictor and a canonical link the Hessian of the mean NLL does not depend on y
    // and equals F
    let (n, d) = (6, 2);
    let x = data(n, d);
    let net = Mlp::parse("2,3", "identity").unwrap().network();
    let theta = theta_for(&net, 4);
    for head in [
        Head::Categorical,
        Head::Poisson,
        Head::Gaussian { sigma: 1.3 },
    ] {
        let model = Model::new(net.clone(), head).unwrap();
        let p = net.num_params();
        let mut h = Mat::<f64>::zeros(p, p);
        for i in 0..n {
            let xi: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
            let y: Vec<f64> = match head {
                Head::Categorical => vec![(i % 3) as f64],
                Head::Poisson => vec![(i % 4) as f64, 1.0, 0.0],
                _ => vec![0.5, -1.0, i as f64],
            };
            let (_, _, hi) = hessian(&model.log_likelihood_fn(&xi, &y), &theta);
            for a in 0..p {
                for b in 0..p {
                    h[(a, b)] -= hi[(a, b)] / n as f64;
                }
            }
        }
        let got = fisher_of(&model, &theta, x.as_ref());
        assert!(
            max_rel(&got, &h) < 1e-12,
            "{head:?}: {:e}",
            max_rel(&got, &h)
        );
    }
}

#[test]
fn streaming_chunk_size_does_not_change_the_result() {
    let x = data(9, 3);
    let net = Mlp::parse("3,4,2", "tanh").unwrap();
    let theta = theta_for(&net, 5);
    let model = Model::new(net, Head::Categorical).unwrap();
    let reference = fisher_of(&model, &theta, x.as_ref());
    for chunk in [1, 2, 4, 9, 100] {
        let f = exact_fisher(
            &model,
            &theta,
            x.as_ref(),
            &ExactFisherOptions {
                chunk,
                ..Default::default()
            },
        )
        .unwrap()
        .to_dense()
        .unwrap();
        assert!(max_rel(&f, &reference) < 1e-14, "chunk {chunk}");
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let net = Mlp::parse("3,2", "tanh").unwrap();
    assert!(Model::new(net.clone(), Head::Bernoulli).is_err());
    let model = Model::new(net, Head::Categorical).unwrap();
    let theta = vec![0.1; 8];
    let mut x = data(4, 3);
    assert!(exact_fisher(&model, &theta[..7], x.as_ref(), &Default::default()).is_err());
    assert!(exact_fisher(&model, &theta, data(4, 2).as_ref(), &Default::default()).is_err());
    x[(2, 1)] = f64::NAN;
    let e = exact_fisher(&model, &theta, x.as_ref(), &Default::default()).unwrap_err();
    assert!(e.to_string().contains("input (2, 1) is NaN"), "{e}");
    let x = data(4, 3);
    assert!(
        exact_fisher(
            &model,
            &theta,
            x.as_ref(),
            &ExactFisherOptions {
                chunk: 0,
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn monte_carlo_fisher_converges_to_the_exact_one() {
    use fisherlab_fisher::model::{ModelMcOptions, monte_carlo_fisher};
    let x = data(6, 3);
    let net = Mlp::parse("3,3,3", "tanh").unwrap();
    let theta = theta_for(&net, 6);
    let model = Model::new(net, Head::Categorical).unwrap();
    let exact = fisher_of(&model, &theta, x.as_ref());
    let opts = ModelMcOptions {
        samples_per_input: 400,
        seed: 1,
    };
    let (mc, se) = monte_carlo_fisher(&model, &theta, x.as_ref(), &opts).unwrap();
    let mc = mc.to_dense().unwrap();
    let p = exact.nrows();
    // the sampled labels make the estimate a mean of N·M terms whose expectation is exact F
    let mut z2 = 0.0;
    let mut count = 0.0;
    for i in 0..p {
        for j in 0..=i {
            if se[(i, j)] > 1e-12 {
                let z = (mc[(i, j)] - exact[(i, j)]) / se[(i, j)];
                assert!(z.abs() < 5.0, "({i},{j}) {z}");
                z2 += z * z;
                count += 1.0;
            }
        }
    }
    // entries share samples, so only a loose check of the average squared z
    assert!(z2 / count < 2.0, "mean z² {}", z2 / count);
    // same seed, same bits
    let (again, _) = monte_carlo_fisher(&model, &theta, x.as_ref(), &opts).unwrap();
    assert!((again.to_dense().unwrap() - &mc).norm_max() == 0.0);
}

#[test]
fn empirical_fisher_of_linear_gaussian_regression() {
    use fisherlab_fisher::model::empirical_fisher;
    // s = (r/σ²) x̄ with residual r = y − θᵀx̄: (1/N) Σ r²/σ⁴ x̄ x̄ᵀ
    let (n, d, sigma) = (5, 2, 0.7);
    let x = data(n, d);
    let net = Mlp::parse("2,1", "identity").unwrap();
    let theta = theta_for(&net, 7);
    let model = Model::new(net, Head::Gaussian { sigma }).unwrap();
    let y = Mat::from_fn(n, 1, |i, _| (i as f64 * 0.9).sin());
    let mut want = Mat::<f64>::zeros(d + 1, d + 1);
    for i in 0..n {
        let (xb, eta) = glm_parts(&theta, x.as_ref(), i);
        let r = y[(i, 0)] - eta;
        for a in 0..=d {
            for b in 0..=d {
                want[(a, b)] += r * r / sigma.powi(4) * xb[a] * xb[b] / n as f64;
            }
        }
    }
    let got = empirical_fisher(&model, &theta, x.as_ref(), y.as_ref())
        .unwrap()
        .to_dense()
        .unwrap();
    assert!(max_rel(&got, &want) < 1e-13);
    // a label out of range names its row
    let cat = Model::new(Mlp::parse("2,3", "identity").unwrap(), Head::Categorical).unwrap();
    let bad = Mat::from_fn(n, 1, |i, _| if i == 3 { 5.0 } else { 0.0 });
    let e = empirical_fisher(&cat, &[0.0; 9], x.as_ref(), bad.as_ref()).unwrap_err();
    assert!(e.to_string().contains("target row 3"), "{e}");
}

#[test]
fn reverse_and_forward_routes_agree() {
    let x = data(11, 3);
    for act in ACTIVATIONS {
        for (arch, head) in [
            ("3,5,4", Head::Categorical),
            ("3,4,1", Head::Bernoulli),
            ("3,3,2", Head::Poisson),
            ("3,2,3,2", Head::Gaussian { sigma: 0.8 }),
        ] {
            let net = Mlp::parse(arch, act).unwrap().network();
            let theta = theta_for(&net, 8);
            let model = Model::new(net, head).unwrap();
            let run = |route| {
                exact_fisher(
                    &model,
                    &theta,
                    x.as_ref(),
                    &ExactFisherOptions { chunk: 4, route },
                )
                .unwrap()
                .to_dense()
                .unwrap()
            };
            let (rev, fwd) = (run(JacobianRoute::Reverse), run(JacobianRoute::Forward));
            assert!(
                max_rel(&rev, &fwd) < 1e-12,
                "{arch} {act} {head:?}: {:e}",
                max_rel(&rev, &fwd)
            );
        }
    }
}

#[test]
fn exact_fisher_is_identical_for_any_thread_count() {
    let x = data(40, 8);
    let net = Mlp::parse("8,24,16,5", "tanh").unwrap();
    let theta = theta_for(&net, 9);
    let model = Model::new(net, Head::Categorical).unwrap();
    assert_same_bits_for_any_thread_count(|| {
        exact_fisher(
            &model,
            &theta,
            x.as_ref(),
            &ExactFisherOptions {
                chunk: 16,
                ..Default::default()
            },
        )
        .unwrap()
        .to_dense()
        .unwrap()
    });
}

#[test]
fn hessian_of_the_mean_nll_against_finite_differences_of_the_gradient() {
    use fisherlab_fisher::model::hessian_of_mean_nll;
    let (n, d) = (4, 2);
    let x = data(n, d);
    let net = Mlp::parse("2,3,2", "tanh").unwrap();
    let theta = theta_for(&net, 10);
    let model = Model::new(net, Head::Categorical).unwrap();
    let y = Mat::from_fn(n, 1, |i, _| (i % 2) as f64);
    let h = hessian_of_mean_nll(&model, &theta, x.as_ref(), y.as_ref()).unwrap();
    // central differences of the autodiff gradient of the mean NLL
    let grad = |t: &[f64]| {
        let mut g = vec![0.0; t.len()];
        for i in 0..n {
            let xi: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
            let (_, gi) = gradient(&model.log_likelihood_fn(&xi, &[y[(i, 0)]]), t);
            for (a, b) in g.iter_mut().zip(gi) {
                *a -= b / n as f64;
            }
        }
        g
    };
    let eps = 1e-6;
    for k in 0..theta.len() {
        let (mut tp, mut tm) = (theta.clone(), theta.clone());
        tp[k] += eps;
        tm[k] -= eps;
        let (gp, gm) = (grad(&tp), grad(&tm));
        for i in 0..theta.len() {
            let fd = (gp[i] - gm[i]) / (2.0 * eps);
            assert!(
                (h[(i, k)] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                "({i},{k}) {} vs {fd}",
                h[(i, k)]
            );
        }
    }
    // away from a linear model the Hessian differs from the Fisher (here: a tanh hidden layer)
    let f = fisher_of(&model, &theta, x.as_ref());
    assert!((&h - &f).norm_max() > 1e-3);
}

/// The four GLM closed forms as rounded, human-readable snapshots on the fixed dataset (values
/// reviewed against the closed forms asserted in the tests above).
#[test]
fn glm_fisher_snapshots() {
    let x = data(7, 3);
    let mut out = String::new();
    for (arch, head, name) in [
        (
            "3,1",
            Head::Bernoulli,
            "logistic regression: (1/N) X̄ᵀ diag(p(1−p)) X̄",
        ),
        (
            "3,1",
            Head::Poisson,
            "Poisson regression: (1/N) X̄ᵀ diag(λ) X̄",
        ),
        (
            "3,1",
            Head::Gaussian { sigma: 0.5 },
            "linear-Gaussian: (1/N) X̄ᵀX̄ / σ², σ = 0.5",
        ),
        (
            "3,2",
            Head::Categorical,
            "softmax regression, 2 classes, weights row-major then biases",
        ),
    ] {
        let net = Mlp::parse(arch, "identity").unwrap();
        let theta = theta_for(&net, 1);
        let model = Model::new(net, head).unwrap();
        let f = fisher_of(&model, &theta, x.as_ref());
        out += &format!("{name}\n");
        for i in 0..f.nrows() {
            let row: Vec<String> = (0..f.ncols())
                .map(|j| format!("{:>10.6}", f[(i, j)] + 0.0))
                .collect();
            out += &format!("{}\n", row.join(" "));
        }
        out += "\n";
    }
    insta::assert_snapshot!(out);
}
