//! Batched passes of a [`Network`] on `faer` matrices: the forward pass (recording what each
//! layer's backward pass and taps need), backward passes for stacked per-sample seeds, the
//! forward-mode directional derivative `J v` over the batch, and the parameter gradient
//! `Σₙ Jₙᵀ uₙ` from back-propagated vectors.
//!
//! These are the building blocks of every structure-exploiting Fisher route (the Kronecker fast
//! path, K-FAC, EKFAC, the exact diagonal, matrix-free Fisher-vector products). Each layer's part
//! is written once in its file under [`crate::layers`]; tests hold the passes to forward-mode
//! Jacobians of [`Network::forward`] over dual numbers and to central differences.
//!
//! All matrices hold one sample per row (the C-order flattening of its shape); every product is
//! a `faer` GEMM, whose parallel split is over output blocks only, so results do not depend on
//! the thread count.

use crate::layers::{Bound, Cache, Network, TapInfo, TapKind, tapped};
use faer::{Mat, MatRef};
pub use fisherlab_linalg::{clear_upper_simd_state, gemm};

/// What the forward pass over a batch records.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Network outputs z (N × C).
    pub outputs: Mat<f64>,
    caches: Vec<Cache>,
}

impl Forward {
    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.outputs.nrows()
    }
    /// Always false for a recorded pass of at least one sample.
    pub fn is_empty(&self) -> bool {
        self.outputs.nrows() == 0
    }
    /// Whether this pass was recorded by a network of `net`'s structure (one record per layer,
    /// the tapped layers' inputs of their shapes).
    pub fn fits(&self, net: &Network) -> bool {
        self.caches.len() == net.nodes.len()
            && self.outputs.ncols() == net.output_dim()
            && net
                .nodes
                .iter()
                .zip(&self.caches)
                .all(|(node, cache)| match node.tap {
                    Some(t) => {
                        let info = &net.taps()[t];
                        matches!(cache, Cache::Tapped(_) | Cache::Normalized { .. })
                            && tapped(cache).ncols() == info.widths().0
                            && tapped(cache).nrows() == self.outputs.nrows() * info.locations()
                    }
                    None => !matches!(cache, Cache::Tapped(_)),
                })
    }
    /// The bias-folded inputs `ā` of tapped layer `t` ((N·R) × (I + bias), sample-major rows:
    /// row `n·R + r` is sample n at location r); for a scale-and-shift tap the normalised
    /// inputs `x̂` ((N·R) × d).
    ///
    /// # Panics
    /// If `t` is not a tap of the network that recorded the pass.
    pub fn tap_inputs<'a>(&'a self, net: &Network, t: usize) -> MatRef<'a, f64> {
        let node = net
            .nodes
            .iter()
            .position(|n| n.tap == Some(t))
            .expect("tap index of this network");
        tapped(&self.caches[node]).as_ref()
    }
}

/// The forward pass of `net` at `theta` over the inputs `x` (N × input width).
///
/// # Panics
/// If `theta` or `x` does not fit the network (callers validate user data first).
#[track_caller]
pub fn forward(net: &Network, theta: &[f64], x: MatRef<'_, f64>) -> Forward {
    assert_eq!(theta.len(), net.num_params(), "parameter vector length");
    assert_eq!(x.ncols(), net.input_dim(), "input width");
    let mut caches = Vec::with_capacity(net.nodes.len());
    let mut a: Option<Mat<f64>> = None;
    let mut saved: Vec<Mat<f64>> = Vec::new();
    for node in &net.nodes {
        let p = &theta[node.offset..node.offset + node.count];
        let input = a.as_ref().map_or(x, |m| m.as_ref());
        match node.bound {
            Bound::Fork(_) => {
                saved.push(input.to_owned());
                caches.push(Cache::Nothing);
                continue;
            }
            Bound::Join(_) => {
                let skip = saved.pop().expect("a join closes a fork");
                a = Some(input + skip);
                caches.push(Cache::Nothing);
                continue;
            }
            _ => {}
        }
        if matches!(node.bound, Bound::Reshape(_)) {
            // values pass on unchanged: no copy
            caches.push(Cache::Nothing);
            if a.is_none() {
                a = Some(x.to_owned());
            }
            continue;
        }
        let (y, cache) = node.bound.forward(p, input);
        caches.push(cache);
        a = Some(y);
    }
    Forward {
        outputs: a.unwrap_or_else(|| x.to_owned()),
        caches,
    }
}

/// Back-propagate stacked seeds (each N × C) through the recorded pass: for every tapped layer
/// the output gradients `gₙₖᵣ = ∂(Σₙ wₙₖᵀ zₙ)/∂sₙᵣ` of every seed k at its locations. The seeds
/// are stacked so that each layer takes one GEMM of K·N rows; `result[t]` is tap t for all seeds,
/// ((K·N·R) × O): rows `(k·N + n)·R + r`, so seed k is the block of rows `k·N·R .. (k+1)·N·R`
/// laid out like [`Forward::tap_inputs`].
///
/// # Panics
/// If a seed's shape does not match the recorded pass.
#[track_caller]
pub fn backward_many(
    net: &Network,
    theta: &[f64],
    fwd: &Forward,
    seeds: &[Mat<f64>],
) -> Vec<Mat<f64>> {
    let (n, c) = (fwd.outputs.nrows(), fwd.outputs.ncols());
    let k = seeds.len();
    let mut out: Vec<Mat<f64>> = vec![Mat::zeros(0, 0); net.taps().len()];
    if k == 0 {
        return out;
    }
    let mut g = Mat::<f64>::zeros(k * n, c);
    for (j, s) in seeds.iter().enumerate() {
        assert_eq!((s.nrows(), s.ncols()), (n, c), "seed shape");
        g.as_mut().subrows_mut(j * n, n).copy_from(s);
    }
    // nothing before the first tapped layer needs a gradient
    let first = net
        .nodes
        .iter()
        .position(|nd| nd.tap.is_some())
        .unwrap_or(0);
    // gradients reaching the end of a residual block, waiting for its start
    let mut pending: Vec<Mat<f64>> = Vec::new();
    for (i, node) in net.nodes.iter().enumerate().rev() {
        if i < first {
            break;
        }
        match node.bound {
            Bound::Join(_) => {
                pending.push(g.clone());
                continue;
            }
            Bound::Fork(_) => {
                g += pending.pop().expect("a fork opens a join");
                continue;
            }
            _ => {}
        }
        let p = &theta[node.offset..node.offset + node.count];
        if let Some(t) = node.tap {
            out[t] = node.bound.tap_grads(g.as_ref());
        }
        if i > first {
            g = node.bound.backward_owned(p, &fwd.caches[i], g);
        }
    }
    out
}

/// [`backward_many`] for one seed: `result[t]` ((N·R) × O) for every tapped layer t.
///
/// # Panics
/// If the seed's shape does not match the recorded pass.
#[track_caller]
pub fn backward(
    net: &Network,
    theta: &[f64],
    fwd: &Forward,
    seed: MatRef<'_, f64>,
) -> Vec<Mat<f64>> {
    backward_many(net, theta, fwd, &[seed.to_owned()])
}

/// Forward-mode directional derivatives `żₙ = Jₙ v` for every sample (N × C), from the recorded
/// pass.
///
/// # Panics
/// If `v` does not have P entries.
#[track_caller]
pub fn jvp(net: &Network, theta: &[f64], fwd: &Forward, v: &[f64]) -> Mat<f64> {
    assert_eq!(v.len(), net.num_params(), "direction length");
    let mut xdot: Option<Mat<f64>> = None;
    let mut saved: Vec<Option<Mat<f64>>> = Vec::new();
    for (i, node) in net.nodes.iter().enumerate() {
        let r = node.offset..node.offset + node.count;
        match node.bound {
            Bound::Reshape(_) => continue,
            Bound::Fork(_) => {
                saved.push(xdot.clone());
                continue;
            }
            Bound::Join(_) => {
                xdot = match (xdot, saved.pop().flatten()) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                continue;
            }
            _ => {}
        }
        xdot = node.bound.jvp(
            &theta[r.clone()],
            &v[r],
            &fwd.caches[i],
            xdot.as_ref().map(|m| m.as_ref()),
        );
    }
    xdot.unwrap_or_else(|| Mat::zeros(fwd.len(), net.output_dim()))
}

/// A tapped layer's folded gradient (O × (I + bias), e.g. `Σ gᵀ ā`) written into `out` in the
/// public order (weight row-major, then bias); for a scale-and-shift tap a column of its
/// parameters in the public order.
pub fn scatter_folded(tap: &TapInfo, folded: MatRef<'_, f64>, out: &mut [f64]) {
    for r in 0..tap.out() {
        for c in 0..tap.folded_inp() {
            out[tap.public_index(r, c)] = folded[(r, c)];
        }
    }
}

/// The parameter gradient `Σₙ ∂(wₙᵀ zₙ)/∂θ` in the public order from the back-propagated
/// vectors of one seed ([`backward`]): for every tapped layer `Σₙᵣ gₙᵣ āₙᵣᵀ`, for a
/// scale-and-shift `(Σₙᵣ gₙᵣ ⊙ x̂ₙᵣ, Σₙᵣ gₙᵣ)`.
///
/// # Panics
/// If the shapes do not match the network.
#[track_caller]
pub fn param_gradient(net: &Network, fwd: &Forward, grads: &[Mat<f64>]) -> Vec<f64> {
    let mut out = vec![0.0; net.num_params()];
    for (t, tap) in net.taps().iter().enumerate() {
        let a = fwd.tap_inputs(net, t);
        if let TapKind::ScaleShift { width, bias } = tap.kind() {
            let dst = &mut out[tap.range()];
            let g = &grads[t];
            for j in 0..width {
                let (gc, ac) = (g.col(j), a.col(j));
                dst[j] = (0..g.nrows()).map(|s| gc[s] * ac[s % a.nrows()]).sum();
                if bias {
                    dst[width + j] = gc.iter().sum();
                }
            }
            continue;
        }
        let mut gw = Mat::zeros(tap.out(), tap.folded_inp());
        gemm(
            gw.as_mut(),
            faer::Accum::Replace,
            grads[t].transpose(),
            a,
            1.0,
        );
        scatter_folded(tap, gw.as_ref(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jacobian;
    use crate::network::{ACTIVATIONS, AtInput, Mlp};
    use crate::reverse::backward_taps;

    fn setup(act: &str) -> (Network, Vec<f64>, Mat<f64>) {
        let net = Mlp::parse("3,4,3,2", act).unwrap().network();
        let p = net.num_params();
        let theta: Vec<f64> = (0..p).map(|k| ((k * 29 % 13) as f64 - 6.0) / 9.0).collect();
        let x = Mat::from_fn(5, 3, |i, j| {
            ((i * 3 + j * 7) % 5) as f64 / 2.0 - 1.0 + 0.01 * j as f64
        });
        (net, theta, x)
    }

    #[test]
    fn taps_equal_dfdx_reverse_mode() {
        // dfdx covers dense layers and five of the activations (its GELU derivative is wrong)
        for act in ["identity", "tanh", "relu", "sigmoid", "softplus"] {
            let mlp = Mlp::parse("3,4,3,2", act).unwrap();
            let (net, theta, x) = setup(act);
            let seed = Mat::from_fn(5, 2, |i, j| (i as f64 - 2.0) * 0.3 + j as f64);
            let fwd = forward(&net, &theta, x.as_ref());
            let ours = backward(&net, &theta, &fwd, seed.as_ref());
            let theirs = backward_taps(&mlp, &theta, x.as_ref(), |_| vec![seed.clone()]).unwrap();
            for (l, a) in ours.iter().enumerate() {
                let b = &theirs.grads[0][l];
                assert!((a - b).norm_max() < 1e-13, "{act} layer {l}");
                let ours_in = fwd.tap_inputs(&net, l).subcols(0, theirs.inputs[l].ncols());
                assert!((ours_in - &theirs.inputs[l]).norm_max() < 1e-14);
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
            let grad = param_gradient(&net, &fwd, &g);
            // references: the forward-mode Jacobian times v, and Σₙ Jₙᵀ uₙ
            let mut grad_ref = vec![0.0; p];
            for s in 0..5 {
                let xi: Vec<f64> = (0..3).map(|j| x[(s, j)]).collect();
                let (z, jac) = jacobian(&AtInput { net: &net, x: &xi }, &theta);
                for c in 0..2 {
                    assert!((fwd.outputs[(s, c)] - z[c]).abs() < 1e-14);
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
