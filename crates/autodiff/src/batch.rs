//! Batched passes of an [`Mlp`] written directly on `faer` matrices: the forward pass (recording
//! the layer inputs and the activation slopes), backward passes for per-sample seeds, the
//! forward-mode directional derivative `J v` over the batch, and the parameter gradient
//! `Σₙ Jₙᵀ uₙ` from back-propagated vectors.
//!
//! These are the building blocks of the structure-exploiting Fisher routes (the Kronecker fast
//! path, K-FAC, EKFAC, the exact diagonal, matrix-free Fisher-vector products). The activation
//! slopes `σ'(s)` come from forward-mode autodiff of [`Activation::apply`], so every activation is
//! supported, GELU included. Tests hold these passes to the `dfdx` reverse mode of
//! [`crate::reverse`] and to forward-mode Jacobians.
//!
//! All matrices are N × width with one sample per row; every product is a `faer` GEMM, whose
//! parallel split is over output blocks only, so results do not depend on the thread count.

use crate::network::{Activation, Mlp};
use crate::reverse::Taps;
use faer::{Accum, Mat, MatRef};
pub use fisherlab_linalg::{clear_upper_simd_state, gemm};
use num_dual::Dual64;

/// What the forward pass over a batch records.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Network outputs z (N × C).
    pub outputs: Mat<f64>,
    /// Inputs of each layer (N × inₗ): the data, then the hidden activations.
    pub inputs: Vec<Mat<f64>>,
    /// `σ'(sₗ)` at each hidden layer's pre-activation (N × outₗ; one fewer than the layers).
    pub slopes: Vec<Mat<f64>>,
}

/// Weight (outₗ × inₗ, row-major in θ) and bias of layer `l`.
fn layer_params<'a>(net: &Mlp, theta: &'a [f64], l: usize) -> (MatRef<'a, f64>, &'a [f64]) {
    let (w, b, o, i) = net.layer_offsets(l);
    (
        MatRef::from_row_major_slice(&theta[w..w + o * i], o, i),
        &theta[b..b + o],
    )
}

/// `a Wᵀ + 1 bᵀ`.
fn affine(a: MatRef<'_, f64>, w: MatRef<'_, f64>, b: &[f64]) -> Mat<f64> {
    let mut s = Mat::from_fn(a.nrows(), w.nrows(), |_, r| b[r]);
    gemm(s.as_mut(), Accum::Add, a, w.transpose(), 1.0);
    s
}

/// Value and slope of the activation at `s`: closed forms from the value where one exists
/// (one transcendental call per element), forward mode otherwise. Tests hold both to
/// forward-mode Jacobians of [`Activation::apply`].
fn value_and_slope(act: Activation, s: f64) -> (f64, f64) {
    match act {
        Activation::Identity => (s, 1.0),
        Activation::Tanh => {
            let t = s.tanh();
            (t, 1.0 - t * t)
        }
        Activation::Relu => {
            if s > 0.0 {
                (s, 1.0)
            } else {
                (0.0, 0.0)
            }
        }
        Activation::Sigmoid => {
            let v = 1.0 / (1.0 + (-s).exp());
            (v, v * (1.0 - v))
        }
        Activation::Softplus | Activation::Gelu => {
            let d = act.apply(Dual64::new(s, 1.0));
            (d.re, d.eps)
        }
    }
}

/// The forward pass of `net` at `theta` over the inputs `x` (N × d).
///
/// # Panics
/// If `theta` or `x` does not fit the network (callers validate user data first).
#[track_caller]
pub fn forward(net: &Mlp, theta: &[f64], x: MatRef<'_, f64>) -> Forward {
    assert_eq!(theta.len(), net.num_params(), "parameter vector length");
    assert_eq!(x.ncols(), net.input_dim(), "input width");
    let layers = net.num_layers();
    let mut inputs = Vec::with_capacity(layers);
    let mut slopes = Vec::with_capacity(layers.saturating_sub(1));
    let mut a = x.to_owned();
    for l in 0..layers {
        let (w, b) = layer_params(net, theta, l);
        let mut s = affine(a.as_ref(), w, b);
        if l + 1 < layers {
            let mut slope = Mat::zeros(s.nrows(), s.ncols());
            for j in 0..s.ncols() {
                for i in 0..s.nrows() {
                    let (v, d) = value_and_slope(net.activation(), s[(i, j)]);
                    s[(i, j)] = v;
                    slope[(i, j)] = d;
                }
            }
            slopes.push(slope);
        }
        inputs.push(std::mem::replace(&mut a, s));
    }
    Forward {
        outputs: a,
        inputs,
        slopes,
    }
}

/// Back-propagate per-sample seeds `w` (N × C) through the recorded pass: for each layer the
/// vectors `g̃ₙₗ = ∂(Σₙ wₙᵀ zₙ)/∂sₙₗ` (N × outₗ).
///
/// # Panics
/// If the seed's shape does not match the recorded pass.
#[track_caller]
pub fn backward(net: &Mlp, theta: &[f64], fwd: &Forward, seed: MatRef<'_, f64>) -> Vec<Mat<f64>> {
    assert_eq!(
        (seed.nrows(), seed.ncols()),
        (fwd.outputs.nrows(), fwd.outputs.ncols()),
        "seed shape"
    );
    let layers = net.num_layers();
    let mut grads = vec![Mat::<f64>::zeros(0, 0); layers];
    let mut g = seed.to_owned();
    for l in (0..layers).rev() {
        if l > 0 {
            let (w, _) = layer_params(net, theta, l);
            let mut prev = Mat::zeros(g.nrows(), w.ncols());
            gemm(prev.as_mut(), Accum::Replace, g.as_ref(), w, 1.0);
            let slope = &fwd.slopes[l - 1];
            for j in 0..prev.ncols() {
                for i in 0..prev.nrows() {
                    prev[(i, j)] *= slope[(i, j)];
                }
            }
            grads[l] = std::mem::replace(&mut g, prev);
        } else {
            grads[0] = std::mem::replace(&mut g, Mat::zeros(0, 0));
        }
    }
    grads
}

/// [`backward`] for several seeds at once: the seeds are stacked so that each layer takes one
/// GEMM of K·N rows instead of K GEMMs of N rows. `result[k][l]` is seed k at layer l.
///
/// # Panics
/// If a seed's shape does not match the recorded pass.
#[track_caller]
pub fn backward_many(
    net: &Mlp,
    theta: &[f64],
    fwd: &Forward,
    seeds: &[Mat<f64>],
) -> Vec<Vec<Mat<f64>>> {
    let (n, c) = (fwd.outputs.nrows(), fwd.outputs.ncols());
    let k = seeds.len();
    if k <= 1 {
        return seeds
            .iter()
            .map(|s| backward(net, theta, fwd, s.as_ref()))
            .collect();
    }
    let mut g = Mat::zeros(k * n, c);
    for (j, s) in seeds.iter().enumerate() {
        assert_eq!((s.nrows(), s.ncols()), (n, c), "seed shape");
        g.as_mut().subrows_mut(j * n, n).copy_from(s);
    }
    let layers = net.num_layers();
    let mut stacked = vec![Mat::<f64>::zeros(0, 0); layers];
    for l in (0..layers).rev() {
        if l > 0 {
            let (w, _) = layer_params(net, theta, l);
            let mut prev = Mat::zeros(k * n, w.ncols());
            gemm(prev.as_mut(), Accum::Replace, g.as_ref(), w, 1.0);
            let slope = &fwd.slopes[l - 1];
            for col in 0..prev.ncols() {
                let sc = slope.col(col);
                let mut pc = prev.as_mut().col_mut(col);
                for j in 0..k {
                    for s in 0..n {
                        pc[j * n + s] *= sc[s];
                    }
                }
            }
            stacked[l] = std::mem::replace(&mut g, prev);
        } else {
            stacked[0] = std::mem::replace(&mut g, Mat::zeros(0, 0));
        }
    }
    (0..k)
        .map(|j| {
            stacked
                .iter()
                .map(|m| m.as_ref().subrows(j * n, n).to_owned())
                .collect()
        })
        .collect()
}

/// The taps of [`crate::reverse::backward_taps`] by these passes: one forward pass, then one
/// backward pass per seed returned by `seeds(z)`. Unlike the `dfdx` route it supports GELU.
///
/// # Panics
/// As [`forward`] and [`backward`].
#[track_caller]
pub fn taps(
    net: &Mlp,
    theta: &[f64],
    x: MatRef<'_, f64>,
    seeds: impl FnOnce(&Mat<f64>) -> Vec<Mat<f64>>,
) -> Taps {
    let fwd = forward(net, theta, x);
    let seeds = seeds(&fwd.outputs);
    let grads = backward_many(net, theta, &fwd, &seeds);
    Taps {
        outputs: fwd.outputs,
        inputs: fwd.inputs,
        grads,
    }
}

/// Forward-mode directional derivatives `żₙ = Jₙ v` for every sample (N × C), from the recorded
/// pass: `ṡₗ = ȧₗ Wₗᵀ + aₗ Vₗᵀ + 1 v_bₗᵀ`, `ȧₗ₊₁ = σ'(sₗ) ⊙ ṡₗ`.
///
/// # Panics
/// If `v` does not have P entries.
#[track_caller]
pub fn jvp(net: &Mlp, theta: &[f64], fwd: &Forward, v: &[f64]) -> Mat<f64> {
    assert_eq!(v.len(), net.num_params(), "direction length");
    let layers = net.num_layers();
    let n = fwd.outputs.nrows();
    let mut adot: Option<Mat<f64>> = None;
    for l in 0..layers {
        let (w, _) = layer_params(net, theta, l);
        let (vw, vb) = layer_params(net, v, l);
        let mut sdot = affine(fwd.inputs[l].as_ref(), vw, vb);
        if let Some(ad) = &adot {
            gemm(sdot.as_mut(), Accum::Add, ad.as_ref(), w.transpose(), 1.0);
        }
        if l + 1 < layers {
            let slope = &fwd.slopes[l];
            for j in 0..sdot.ncols() {
                for i in 0..n {
                    sdot[(i, j)] *= slope[(i, j)];
                }
            }
        }
        adot = Some(sdot);
    }
    adot.unwrap_or_else(|| Mat::zeros(n, net.output_dim()))
}

/// The parameter gradient `Σₙ ∂(wₙᵀ zₙ)/∂θ` in the public order from the back-propagated
/// vectors of one seed: weight block `Gₗᵀ Aₗ`, bias `Σₙ g̃ₙₗ`.
///
/// # Panics
/// If the shapes do not match the network.
#[track_caller]
pub fn param_gradient(net: &Mlp, inputs: &[Mat<f64>], grads: &[Mat<f64>]) -> Vec<f64> {
    let mut out = vec![0.0; net.num_params()];
    for l in 0..net.num_layers() {
        let (w, b, o, i) = net.layer_offsets(l);
        let g = &grads[l];
        let a = &inputs[l];
        let mut gw = Mat::zeros(o, i);
        gemm(gw.as_mut(), Accum::Replace, g.transpose(), a.as_ref(), 1.0);
        for r in 0..o {
            for c in 0..i {
                out[w + r * i + c] = gw[(r, c)];
            }
            out[b + r] = (0..g.nrows()).map(|n| g[(n, r)]).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jacobian;
    use crate::network::{ACTIVATIONS, AtInput};
    use crate::reverse::{backward_taps, gradient_rows};

    fn setup(act: &str) -> (Mlp, Vec<f64>, Mat<f64>) {
        let net = Mlp::parse("3,4,3,2", act).unwrap();
        let p = net.num_params();
        let theta: Vec<f64> = (0..p).map(|k| ((k * 29 % 13) as f64 - 6.0) / 9.0).collect();
        let x = Mat::from_fn(5, 3, |i, j| {
            ((i * 3 + j * 7) % 5) as f64 / 2.0 - 1.0 + 0.01 * j as f64
        });
        (net, theta, x)
    }

    #[test]
    fn taps_equal_forward_mode_jacobians_for_every_activation() {
        for act in ACTIVATIONS {
            let (net, theta, x) = setup(act);
            let p = net.num_params();
            let seeds: Vec<Mat<f64>> = (0..2)
                .map(|c| Mat::from_fn(5, 2, |_, j| if j == c { 1.0 } else { 0.0 }))
                .collect();
            let t = taps(&net, &theta, x.as_ref(), |_| seeds.clone());
            for s in 0..5 {
                let xi: Vec<f64> = (0..3).map(|j| x[(s, j)]).collect();
                // reference: forward-mode Jacobian of the network written over DualNum
                let (z, jac) = jacobian(&AtInput { net: &net, x: &xi }, &theta);
                for c in 0..2 {
                    assert!((t.outputs[(s, c)] - z[c]).abs() < 1e-14);
                    let rows = gradient_rows(&net, &t, c, s..s + 1);
                    for q in 0..p {
                        assert!(
                            (rows[(0, q)] - jac[(c, q)]).abs() < 1e-12 * (1.0 + jac[(c, q)].abs()),
                            "{act}: sample {s} output {c} param {q}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn taps_equal_dfdx_reverse_mode() {
        for act in ACTIVATIONS.iter().filter(|a| **a != "gelu") {
            let (net, theta, x) = setup(act);
            let seed = Mat::from_fn(5, 2, |i, j| (i as f64 - 2.0) * 0.3 + j as f64);
            let ours = taps(&net, &theta, x.as_ref(), |_| vec![seed.clone()]);
            let theirs = backward_taps(&net, &theta, x.as_ref(), |_| vec![seed.clone()]).unwrap();
            for l in 0..net.num_layers() {
                let (a, b) = (&ours.grads[0][l], &theirs.grads[0][l]);
                assert!((a - b).norm_max() < 1e-13, "{act} layer {l}");
                assert!((&ours.inputs[l] - &theirs.inputs[l]).norm_max() < 1e-14);
            }
        }
    }

    #[test]
    fn jvp_and_gradient_are_the_jacobian_products() {
        for act in ACTIVATIONS {
            let (net, theta, x) = setup(act);
            let p = net.num_params();
            let v: Vec<f64> = (0..p).map(|k| ((k * 7 % 11) as f64 - 5.0) / 4.0).collect();
            let u = Mat::from_fn(5, 2, |i, j| 0.5 - (i + 2 * j) as f64 * 0.2);
            let fwd = forward(&net, &theta, x.as_ref());
            let zdot = jvp(&net, &theta, &fwd, &v);
            let g = backward(&net, &theta, &fwd, u.as_ref());
            let grad = param_gradient(&net, &fwd.inputs, &g);
            // references: the forward-mode Jacobian times v, and Σₙ Jₙᵀ uₙ
            let mut grad_ref = vec![0.0; p];
            for s in 0..5 {
                let xi: Vec<f64> = (0..3).map(|j| x[(s, j)]).collect();
                let (_, jac) = jacobian(&AtInput { net: &net, x: &xi }, &theta);
                for c in 0..2 {
                    let jv: f64 = (0..p).map(|q| jac[(c, q)] * v[q]).sum();
                    assert!(
                        (zdot[(s, c)] - jv).abs() < 1e-12 * (1.0 + jv.abs()),
                        "{act}"
                    );
                    for q in 0..p {
                        grad_ref[q] += jac[(c, q)] * u[(s, c)];
                    }
                }
            }
            for q in 0..p {
                assert!((grad[q] - grad_ref[q]).abs() < 1e-12 * (1.0 + grad_ref[q].abs()));
            }
        }
    }

    #[test]
    fn jvp_matches_central_differences() {
        // an independent check with no autodiff at all
        let (net, theta, x) = setup("softplus");
        let p = net.num_params();
        let v: Vec<f64> = (0..p).map(|k| (k as f64 * 0.37).sin()).collect();
        let zdot = jvp(&net, &theta, &forward(&net, &theta, x.as_ref()), &v);
        let h = 1e-6;
        let shifted = |sign: f64| {
            let t: Vec<f64> = theta
                .iter()
                .zip(&v)
                .map(|(a, b)| a + sign * h * b)
                .collect();
            forward(&net, &t, x.as_ref()).outputs
        };
        let fd = (shifted(1.0) - shifted(-1.0)) * faer::Scale(0.5 / h);
        assert!((zdot - fd).norm_max() < 1e-8);
    }
}
