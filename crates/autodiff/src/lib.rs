//! Forward-mode automatic differentiation for fisherlab.
//!
//! A function is written **once**, generically over [`num_dual::DualNum`], by implementing
//! [`ScalarFn`] (ℝⁿ → ℝ) or [`VectorFn`] (ℝⁿ → ℝᵐ). The same code then yields its value (with
//! `f64`), its gradient, its Hessian and its Jacobian, for a parameter count known only at run
//! time. Nothing in the workspace writes a score or a Hessian of a log-density by hand: they come
//! from here.
//!
//! Dual-number-aware special functions (`lgamma`, `digamma`, `ln I₀`, …) live in [`special`].
//!
//! # Examples
//!
//! The score and Hessian of a normal log-density in `(mu, sigma)`:
//!
//! ```
//! use fisherlab_autodiff::{gradient, hessian, ScalarFn, DualNum};
//!
//! struct NormalLogPdf { x: f64 }
//! impl ScalarFn for NormalLogPdf {
//!     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D]) -> D {
//!         let z = (t[0] - self.x) / t[1];
//!         -(z * z) * 0.5 - t[1].ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
//!     }
//! }
//! let f = NormalLogPdf { x: 1.5 };
//! let (_, g) = gradient(&f, &[1.0, 2.0]);
//! // ∂/∂μ = (x − μ)/σ² = 0.125 ; ∂/∂σ = −1/σ + (x − μ)²/σ³ = −0.46875
//! assert!((g[0] - 0.125).abs() < 1e-15 && (g[1] + 0.46875).abs() < 1e-15);
//! let (_, _, h) = hessian(&f, &[1.0, 2.0]);
//! assert!((h[(0, 0)] + 0.25).abs() < 1e-15); // −1/σ²
//! ```
#![warn(missing_docs)]

pub mod batch;
pub mod layers;
pub mod network;
#[cfg(test)]
mod reverse;
pub mod special;

/// The errors of this crate: network specifications and unsupported operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unknown activation name.
    #[error(
        "unknown activation `{0}` (known: identity, tanh, relu, sigmoid, softplus, gelu, silu, leaky_relu)"
    )]
    UnknownActivation(String),
    /// An architecture string that does not parse, or a width of 0.
    #[error("invalid architecture `{arch}`: {rule}")]
    InvalidArchitecture {
        /// The string given.
        arch: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A layer whose input shape does not fit it, or a network that cannot be built.
    #[error("module {module}: {rule}")]
    Model {
        /// The module (`(3) Linear`), or `input` / `output`.
        module: String,
        /// The rule it breaks.
        rule: String,
    },
    /// Model text (PyTorch's `print(model)`) that cannot be read or asks for something not
    /// supported.
    #[error("model line {line} `{text}`: {rule}")]
    ModelText {
        /// 1-based line number.
        line: usize,
        /// The line (trimmed, at most 120 characters).
        text: String,
        /// What is wrong, and what is supported.
        rule: String,
    },
    /// An operation that cannot be carried out here (a GELU network in reverse mode, a
    /// polygamma of too high an order for the requested derivatives).
    #[error("{0}")]
    Unsupported(String),
    /// A network whose parameters and activations would not fit the memory budget; nothing
    /// was allocated.
    #[error(transparent)]
    Memory(#[from] fisherlab_linalg::memory::MemoryError),
}

use nalgebra::{Const, DMatrix, U1};
use num_dual::{Dual2SVec64, DualSVec64, HyperDualSVec64};
pub use num_dual::{Dual64, DualNum};

/// A scalar function ℝⁿ → ℝ written once for every scalar type `D` (plain `f64` or any dual
/// number), so that values and derivatives share one code path.
pub trait ScalarFn {
    /// Evaluate the function at `x` (length n).
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D;
}

/// A vector function ℝⁿ → ℝᵐ written once for every scalar type `D`.
pub trait VectorFn {
    /// Evaluate the function at `x` (length n), writing the m outputs to `out`.
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut Vec<D>);
}

impl<F: ScalarFn + ?Sized> ScalarFn for &F {
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
        (**self).eval(x)
    }
}

/// Largest parameter count handled with stack buffers in the hot paths.
const STACK: usize = 16;

/// Run `body` with a slice of `n` lifted values of type `D`, on the stack when `n` is small.
#[inline]
fn with_lifted<D: DualNum<Primitive = f64> + Copy, R>(
    x: &[f64],
    lift: impl Fn(usize, f64) -> D,
    body: impl FnOnce(&[D]) -> R,
) -> R {
    if x.len() <= STACK {
        let mut buf = [D::from(0.0); STACK];
        for (i, (b, &v)) in buf.iter_mut().zip(x).enumerate() {
            *b = lift(i, v);
        }
        body(&buf[..x.len()])
    } else {
        let buf: Vec<D> = x.iter().enumerate().map(|(i, &v)| lift(i, v)).collect();
        body(&buf)
    }
}

/// Value of `f` at `x` (plain `f64` evaluation of the generic code).
pub fn value<F: ScalarFn + ?Sized>(f: &F, x: &[f64]) -> f64 {
    f.eval(x)
}

/// Gradient of `f` at `x`, written into `grad` (length n); returns `f(x)`.
///
/// Uses vector dual numbers carrying `B` directions per pass (`B` = 1, 2, 4 or 8 chosen from n),
/// so a gradient costs ⌈n/8⌉ evaluations for large n.
///
/// # Panics
/// If `grad.len() != x.len()` (a caller bug, not user input).
#[track_caller]
pub fn gradient_into<F: ScalarFn + ?Sized>(f: &F, x: &[f64], grad: &mut [f64]) -> f64 {
    assert_eq!(grad.len(), x.len(), "gradient buffer length");
    match x.len() {
        0 => f.eval(x),
        1 => gradient_chunked::<F, 1>(f, x, grad),
        2 => gradient_chunked::<F, 2>(f, x, grad),
        3 | 4 => gradient_chunked::<F, 4>(f, x, grad),
        _ => gradient_chunked::<F, 8>(f, x, grad),
    }
}

fn gradient_chunked<F: ScalarFn + ?Sized, const B: usize>(
    f: &F,
    x: &[f64],
    grad: &mut [f64],
) -> f64 {
    let n = x.len();
    let mut value = 0.0;
    for start in (0..n).step_by(B) {
        let end = (start + B).min(n);
        let y = with_lifted(
            x,
            |i, v| {
                let d = DualSVec64::<B>::from_re(v);
                if (start..end).contains(&i) {
                    d.derivative(i - start)
                } else {
                    d
                }
            },
            |xs| f.eval(xs),
        );
        value = y.re;
        let eps = y.eps.unwrap_generic(Const::<B>, U1);
        grad[start..end].copy_from_slice(&eps.as_slice()[..end - start]);
    }
    value
}

/// Value and gradient of `f` at `x`.
pub fn gradient<F: ScalarFn + ?Sized>(f: &F, x: &[f64]) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; x.len()];
    let v = gradient_into(f, x, &mut g);
    (v, g)
}

/// Gradient and Hessian of `f` at `x`, written into `grad` (n) and `hess` (n × n, row-major,
/// symmetric); returns `f(x)`.
///
/// For n ≤ 8 one pass with second-order vector duals; beyond, 4 × 4 blocks of hyper-dual numbers
/// (⌈n/4⌉(⌈n/4⌉+1)/2 passes).
///
/// # Panics
/// If the buffer lengths do not match `x` (a caller bug, not user input).
#[track_caller]
pub fn hessian_into<F: ScalarFn + ?Sized>(
    f: &F,
    x: &[f64],
    grad: &mut [f64],
    hess: &mut [f64],
) -> f64 {
    let n = x.len();
    assert_eq!(grad.len(), n, "gradient buffer length");
    assert_eq!(hess.len(), n * n, "Hessian buffer length");
    match n {
        0 => f.eval(x),
        1 => hessian_single::<F, 1>(f, x, grad, hess),
        2 => hessian_single::<F, 2>(f, x, grad, hess),
        3 => hessian_single::<F, 3>(f, x, grad, hess),
        4 => hessian_single::<F, 4>(f, x, grad, hess),
        5..=8 => hessian_single::<F, 8>(f, x, grad, hess),
        _ => hessian_blocked(f, x, grad, hess),
    }
}

fn hessian_single<F: ScalarFn + ?Sized, const N: usize>(
    f: &F,
    x: &[f64],
    grad: &mut [f64],
    hess: &mut [f64],
) -> f64 {
    let n = x.len();
    let y = with_lifted(
        x,
        |i, v| Dual2SVec64::<N>::from_re(v).derivative(i),
        |xs| f.eval(xs),
    );
    let g = y.v1.unwrap_generic(U1, Const::<N>);
    let h = y.v2.unwrap_generic(Const::<N>, Const::<N>);
    for i in 0..n {
        grad[i] = g[i];
        for j in 0..n {
            hess[i * n + j] = h[(i, j)];
        }
    }
    y.re
}

fn hessian_blocked<F: ScalarFn + ?Sized>(
    f: &F,
    x: &[f64],
    grad: &mut [f64],
    hess: &mut [f64],
) -> f64 {
    const B: usize = 4;
    let n = x.len();
    let mut value = 0.0;
    for bi in (0..n).step_by(B) {
        for bj in (bi..n).step_by(B) {
            let (ei, ej) = ((bi + B).min(n), (bj + B).min(n));
            let y = with_lifted(
                x,
                |k, v| {
                    let mut d = HyperDualSVec64::<B, B>::from_re(v);
                    if (bi..ei).contains(&k) {
                        d = d.derivative1(k - bi);
                    }
                    if (bj..ej).contains(&k) {
                        d = d.derivative2(k - bj);
                    }
                    d
                },
                |xs| f.eval(xs),
            );
            value = y.re;
            if bi == bj {
                let g = y.eps1.unwrap_generic(Const::<B>, U1);
                grad[bi..ei].copy_from_slice(&g.as_slice()[..ei - bi]);
            }
            let h = y.eps1eps2.unwrap_generic(Const::<B>, Const::<B>);
            for i in bi..ei {
                for j in bj..ej {
                    hess[i * n + j] = h[(i - bi, j - bj)];
                    hess[j * n + i] = h[(i - bi, j - bj)];
                }
            }
        }
    }
    value
}

/// Value, gradient and Hessian of `f` at `x`.
pub fn hessian<F: ScalarFn + ?Sized>(f: &F, x: &[f64]) -> (f64, Vec<f64>, DMatrix<f64>) {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n * n];
    let v = hessian_into(f, x, &mut g, &mut h);
    (v, g, DMatrix::from_row_slice(n, n, &h))
}

/// Value and Jacobian (m × n, `J[(i, j)] = ∂fᵢ/∂xⱼ`) of a vector function at `x`.
pub fn jacobian<F: VectorFn + ?Sized>(f: &F, x: &[f64]) -> (Vec<f64>, DMatrix<f64>) {
    let n = x.len();
    let mut values: Vec<f64> = Vec::new();
    f.eval(x, &mut values);
    let m = values.len();
    let mut jac = DMatrix::zeros(m, n);
    let mut out: Vec<DualSVec64<4>> = Vec::with_capacity(m);
    for start in (0..n).step_by(4) {
        let end = (start + 4).min(n);
        let xs: Vec<DualSVec64<4>> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let d = DualSVec64::<4>::from_re(v);
                if (start..end).contains(&i) {
                    d.derivative(i - start)
                } else {
                    d
                }
            })
            .collect();
        out.clear();
        f.eval(&xs, &mut out);
        for (i, yi) in out.iter().enumerate() {
            let eps = yi.eps.unwrap_generic(Const::<4>, U1);
            for j in start..end {
                jac[(i, j)] = eps[j - start];
            }
        }
    }
    (values, jac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = Σᵢ (i+1) xᵢ³ + x₀ Πᵢ xᵢ — gradient and Hessian known in closed form.
    struct Poly;
    impl ScalarFn for Poly {
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
            let mut s = D::from(0.0);
            let mut prod = D::from(1.0);
            for (i, &xi) in x.iter().enumerate() {
                s += xi.powi(3) * (i as f64 + 1.0);
                prod *= xi;
            }
            s + x[0] * prod
        }
    }

    fn poly_reference(x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        // hand-derived with q = x₀·Π xᵢ = x₀²·Π_{i≥1} xᵢ: ∂q/∂x_k = (1 + δ_{k0}) q/x_k (no zeros)
        let n = x.len();
        let p: f64 = x[0] * x.iter().product::<f64>(); // q = x₀·Π xᵢ
        let mut g = vec![0.0; n];
        let mut h = vec![0.0; n * n];
        for k in 0..n {
            let extra = if k == 0 { 2.0 } else { 1.0 };
            g[k] = 3.0 * (k as f64 + 1.0) * x[k] * x[k] + extra * p / x[k];
            for l in 0..n {
                let mut v = if k == l {
                    6.0 * (k as f64 + 1.0) * x[k]
                } else {
                    0.0
                };
                // second derivative of x₀·Π xᵢ = x₀² Π_{i≥1} xᵢ
                let e_k = if k == 0 { 2 } else { 1 };
                let e_l = if l == 0 { 2 } else { 1 };
                if k == l {
                    if e_k == 2 {
                        v += 2.0 * p / (x[k] * x[k]);
                    }
                } else {
                    v += (e_k * e_l) as f64 * p / (x[k] * x[l]);
                }
                h[k * n + l] = v;
            }
        }
        (g, h)
    }

    #[test]
    fn gradient_and_hessian_match_hand_derivation_for_all_sizes() {
        for n in [1usize, 2, 3, 4, 5, 7, 8, 9, 13, 17] {
            let x: Vec<f64> = (0..n).map(|i| 0.3 + 0.17 * i as f64).collect();
            let (g_ref, h_ref) = poly_reference(&x);
            let (_, g) = gradient(&Poly, &x);
            let (v, g2, h) = hessian(&Poly, &x);
            assert!((v - Poly.eval(&x)).abs() < 1e-14);
            for k in 0..n {
                assert!(
                    (g[k] - g_ref[k]).abs() < 1e-12 * (1.0 + g_ref[k].abs()),
                    "n={n} k={k}"
                );
                assert!((g2[k] - g_ref[k]).abs() < 1e-12 * (1.0 + g_ref[k].abs()));
                for l in 0..n {
                    let r = h_ref[k * n + l];
                    assert!(
                        (h[(k, l)] - r).abs() < 1e-12 * (1.0 + r.abs()),
                        "n={n} ({k},{l})"
                    );
                }
            }
        }
    }

    struct Polar;
    impl VectorFn for Polar {
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut Vec<D>) {
            out.push(x[0] * x[1].cos());
            out.push(x[0] * x[1].sin());
            out.push(x[0] * x[0]);
        }
    }

    #[test]
    fn jacobian_of_polar_map() {
        let (v, j) = jacobian(&Polar, &[2.0, 0.5]);
        assert_eq!(v.len(), 3);
        // ∂(r cos t, r sin t, r²)/∂(r, t)
        let expect = [
            [0.5f64.cos(), -2.0 * 0.5f64.sin()],
            [0.5f64.sin(), 2.0 * 0.5f64.cos()],
            [4.0, 0.0],
        ];
        for i in 0..3 {
            for k in 0..2 {
                assert!((j[(i, k)] - expect[i][k]).abs() < 1e-14);
            }
        }
    }
}
