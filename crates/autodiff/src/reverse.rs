//! Reverse mode for networks through `dfdx`: one forward and one backward pass over a whole batch
//! give, for every sample, the layer inputs `a` and the back-propagated vectors `g̃ = ∂(wᵀz)/∂s`
//! at each layer's pre-activation `s` for a seed `w` (per sample). With the seeds `wₙ = Lₙ[:, k]`
//! these are the pieces of the per-sample rows `Lₙᵀ Jₙ` (each a Kronecker product `g̃ ⊗ ā` per
//! dense layer) and of the K-FAC factors.
//!
//! The taps work as in `dfdx`'s own examples: a zero tensor is added to every pre-activation and
//! its gradient read after `backward()` on a leaky tape.
//!
//! GELU is refused: `dfdx` 0.13's `accurate_gelu` differentiates `erf(x/√2)` as if it were
//! `erf(x)` (its derivative lacks the factor `1/√2`), which the cross-check against forward mode
//! exposes; `dfdx` is no longer maintained, so the fix cannot come from upstream. Networks with
//! GELU use the forward-mode route.

use crate::Error;
use crate::network::{Activation, Mlp};

/// `(weight offset, bias offset, out, in)` of dense layer `l` of `net`.
fn layer_offsets(net: &Mlp, l: usize) -> (usize, usize, usize, usize) {
    let w = net.widths();
    let off: usize = (0..l).map(|k| w[k + 1] * (w[k] + 1)).sum();
    (off, off + w[l + 1] * w[l], w[l + 1], w[l])
}
use dfdx::prelude::*;
use faer::{Mat, MatRef};

type T2 = Tensor<(usize, usize), f64, Cpu>;
type T1 = Tensor<(usize,), f64, Cpu>;

/// What one backward pass per seed records.
#[derive(Debug, Clone)]
pub struct Taps {
    /// Network outputs z (N × C).
    pub outputs: Mat<f64>,
    /// Inputs of each layer (N × inₗ): the data, then the hidden activations.
    pub inputs: Vec<Mat<f64>>,
    /// `grads[k][l]`: for seed k, `∂(Σₙ wₙₖᵀ zₙ)/∂sₙₗ` per sample (N × outₗ).
    pub grads: Vec<Vec<Mat<f64>>>,
}

fn activate<Tp: Tape<f64, Cpu>>(
    act: Activation,
    s: Tensor<(usize, usize), f64, Cpu, Tp>,
) -> Tensor<(usize, usize), f64, Cpu, Tp> {
    match act {
        Activation::Identity => s,
        Activation::Tanh => s.tanh(),
        Activation::Relu => s.relu(),
        Activation::Sigmoid => s.sigmoid(),
        // ln(1 + eˣ) = −ln σ(−x): one chain of ops (a tape must not be split in two branches),
        // finite for x up to ~700
        Activation::Softplus => -((-s).sigmoid().ln()),
        // refused in backward_taps (wrong derivative upstream); kept for the forward values
        Activation::Gelu => s.accurate_gelu(),
        // not covered by this cross-check (callers pass the five activations above)
        Activation::Silu | Activation::LeakyRelu(_) => s,
    }
}

fn to_mat(v: &[f64], n: usize, m: usize) -> Mat<f64> {
    Mat::from_fn(n, m, |i, j| v[i * m + j])
}

fn row_major(x: MatRef<'_, f64>) -> Vec<f64> {
    let mut v = Vec::with_capacity(x.nrows() * x.ncols());
    for i in 0..x.nrows() {
        for j in 0..x.ncols() {
            v.push(x[(i, j)]);
        }
    }
    v
}

/// Forward and backward passes of `net` at `theta` over the inputs `x` (N × d): one forward pass
/// records the layer inputs and the outputs z; `seeds(z)` then gives the per-sample seeds (each
/// N × C, so they may depend on the outputs, e.g. the columns of `L(z)`), and one backward pass
/// per seed records the back-propagated vectors.
///
/// # Errors
/// [`Error::Unsupported`] for GELU networks (see the module documentation).
///
/// # Panics
/// If shapes do not match the network (the caller validates user data first).
#[track_caller]
pub fn backward_taps(
    net: &Mlp,
    theta: &[f64],
    x: MatRef<'_, f64>,
    seeds: impl FnOnce(&Mat<f64>) -> Vec<Mat<f64>>,
) -> Result<Taps, Error> {
    if !matches!(
        net.activation(),
        Activation::Identity
            | Activation::Tanh
            | Activation::Relu
            | Activation::Sigmoid
            | Activation::Softplus
    ) {
        return Err(Error::Unsupported(
            "reverse mode through dfdx 0.13 is wrong for GELU (its accurate_gelu derivative lacks a factor 1/sqrt(2)); use the forward-mode route"
                .into(),
        ));
    }
    assert_eq!(
        theta.len(),
        net.network().num_params(),
        "parameter vector length"
    );
    assert_eq!(x.ncols(), net.widths()[0], "input width");
    let n = x.nrows();
    let c = *net.widths().last().unwrap_or(&0);
    let dev: Cpu = Default::default();
    let xt: T2 = dev.tensor_from_vec(row_major(x), (n, net.widths()[0]));
    let layers: Vec<(T2, T1)> = (0..(net.widths().len() - 1))
        .map(|l| {
            let (w, b, o, i) = layer_offsets(net, l);
            (
                dev.tensor_from_vec(theta[w..w + o * i].to_vec(), (o, i)),
                dev.tensor_from_vec(theta[b..b + o].to_vec(), (o,)),
            )
        })
        .collect();
    // one layer: s = h Wᵀ + b (+ the tap e), then the activation on hidden layers
    let layer = |l: usize, h: Tensor<(usize, usize), f64, Cpu, OwnedTape<f64, Cpu>>, e: &T2| {
        let (w, b) = &layers[l];
        let o = w.shape().0;
        let s = h.matmul(w.clone().permute::<_, Axes2<1, 0>>())
            + b.clone().broadcast_like::<_, Axis<0>>(&(n, o))
            + e.clone();
        if l + 1 < (net.widths().len() - 1) {
            activate(net.activation(), s)
        } else {
            s
        }
    };
    let zero_taps = || -> Vec<T2> {
        layers
            .iter()
            .map(|(w, _)| dev.zeros_like(&(n, w.shape().0)))
            .collect()
    };
    // forward: layer inputs and outputs
    let mut inputs = Vec::with_capacity(net.widths().len() - 1);
    let taps = zero_taps();
    let mut h = xt.leaky_trace();
    for (l, e) in taps.iter().enumerate() {
        inputs.push(to_mat(&h.as_vec(), n, h.shape().1));
        h = layer(l, h, e);
    }
    let outputs = to_mat(&h.as_vec(), n, c);
    // backward: one pass per seed
    let seeds = seeds(&outputs);
    let mut grads = Vec::with_capacity(seeds.len());
    for seed in &seeds {
        assert_eq!((seed.nrows(), seed.ncols()), (n, c), "seed shape");
        let taps = zero_taps();
        let mut h = xt.leaky_trace();
        for (l, e) in taps.iter().enumerate() {
            h = layer(l, h, e);
        }
        let wt: T2 = dev.tensor_from_vec(row_major(seed.as_ref()), (n, c));
        let g = (h * wt).sum::<Rank0, _>().backward();
        grads.push(
            taps.iter()
                .map(|e| {
                    let (rows, cols) = *e.shape();
                    to_mat(&g.get(e).as_vec(), rows, cols)
                })
                .collect(),
        );
    }
    Ok(Taps {
        outputs,
        inputs,
        grads,
    })
}

/// Per-sample gradient rows `∂(wₙᵀ zₙ)/∂θ` (one row per sample, P columns, public parameter
/// order) for seed `k` of `taps`: in layer l, weight `(r, c)` gets `g̃ᵣ aₙ꜀` and bias `r` gets `g̃ᵣ`.
pub fn gradient_rows(net: &Mlp, taps: &Taps, k: usize, rows: std::ops::Range<usize>) -> Mat<f64> {
    let p = net.network().num_params();
    let mut out = Mat::zeros(rows.len(), p);
    for l in 0..(net.widths().len() - 1) {
        let (w, b, o, i) = layer_offsets(net, l);
        let a = &taps.inputs[l];
        let g = &taps.grads[k][l];
        for (row, n) in rows.clone().enumerate() {
            for r in 0..o {
                let gr = g[(n, r)];
                out[(row, b + r)] = gr;
                for cidx in 0..i {
                    out[(row, w + r * i + cidx)] = gr * a[(n, cidx)];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dfdx_gelu_derivative_is_off_by_one_over_root_two_and_refused() {
        // the upstream bug this module guards against: d/dx accurate_gelu(x) at x = 1
        use dfdx::prelude::*;
        let dev: Cpu = Default::default();
        let x: Tensor<Rank1<1>, f64, Cpu> = dev.tensor([1.0]);
        let g = x.leaky_trace().accurate_gelu().sum::<Rank0, _>().backward();
        let dfdx_slope = g.get(&x).array()[0];
        // exact: Φ(1) + φ(1) = 0.8413447460685429 + 0.24197072451914337
        let exact = 0.841_344_746_068_542_9 + 0.241_970_724_519_143_37;
        assert!(
            (dfdx_slope - exact).abs() > 0.05,
            "dfdx fixed its GELU: {dfdx_slope}"
        );
        let net = super::Mlp::parse("2,2,1", "gelu").unwrap();
        let x = faer::Mat::<f64>::zeros(1, 2);
        assert!(super::backward_taps(&net, &[0.0; 9], x.as_ref(), |_| Vec::new()).is_err());
    }

    use super::*;
    use crate::jacobian;
    use crate::network::AtInput;

    #[test]
    fn reverse_rows_equal_forward_mode_jacobians() {
        for act in ["identity", "tanh", "relu", "sigmoid", "softplus"] {
            let net = Mlp::parse("3,4,3,2", act).unwrap();
            let p = net.network().num_params();
            let theta: Vec<f64> = (0..p).map(|k| ((k * 29 % 13) as f64 - 6.0) / 9.0).collect();
            let n = 5;
            let x = Mat::from_fn(n, 3, |i, j| {
                ((i * 3 + j * 7) % 5) as f64 / 2.0 - 1.0 + 0.01 * j as f64
            });
            // seeds: unit vectors e_c for every sample, so row n of seed c is ∂z_nc/∂θ
            let seeds: Vec<Mat<f64>> = (0..2)
                .map(|c| Mat::from_fn(n, 2, |_, j| if j == c { 1.0 } else { 0.0 }))
                .collect();
            let taps = backward_taps(&net, &theta, x.as_ref(), |_| seeds.clone()).unwrap();
            for s in 0..n {
                let xi: Vec<f64> = (0..3).map(|j| x[(s, j)]).collect();
                let (z, jac) = jacobian(
                    &AtInput {
                        net: &net.network(),
                        x: &xi,
                    },
                    &theta,
                );
                for cc in 0..2 {
                    assert!((taps.outputs[(s, cc)] - z[cc]).abs() < 1e-14);
                    let rows = gradient_rows(&net, &taps, cc, s..s + 1);
                    for q in 0..p {
                        assert!(
                            (rows[(0, q)] - jac[(cc, q)]).abs()
                                < 1e-12 * (1.0 + jac[(cc, q)].abs()),
                            "{act} sample {s} output {cc} param {q}: {} vs {}",
                            rows[(0, q)],
                            jac[(cc, q)]
                        );
                    }
                }
            }
        }
    }
}
