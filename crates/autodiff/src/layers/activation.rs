//! Element-wise activations: `Identity`, `Tanh`, `ReLU`, `Sigmoid`, `Softplus`, `GELU`, `SiLU`,
//! `LeakyReLU(negative_slope)`. Each is written once over [`DualNum`] ([`Activation::apply`]);
//! the batched passes use a closed-form slope where one exists and forward mode otherwise, and
//! tests hold both to forward-mode derivatives.

use super::{Cache, numel};
use crate::special::lift;
use crate::{DualNum, Error};
use faer::{Mat, MatRef};
use num_dual::Dual64;

/// An element-wise activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// `x`
    Identity,
    /// `tanh x`
    Tanh,
    /// `max(x, 0)` (derivative 0 at 0, as PyTorch)
    Relu,
    /// `1/(1 + e^{−x})`
    Sigmoid,
    /// `ln(1 + eˣ)` (PyTorch's `Softplus(beta=1.0, threshold=20.0)` switches to `x` above 20,
    /// a difference below 2.1e-9)
    Softplus,
    /// `x Φ(x) = ½x(1 + erf(x/√2))` (PyTorch's exact GELU)
    Gelu,
    /// `x σ(x)` (SiLU, "swish")
    Silu,
    /// `x` for `x > 0`, `a x` otherwise (slope `a` at 0, as PyTorch)
    LeakyRelu(f64),
}

/// Activation names accepted by [`Activation::from_name`] (`leaky_relu` has slope 0.01).
pub const ACTIVATIONS: [&str; 8] = [
    "identity",
    "tanh",
    "relu",
    "sigmoid",
    "softplus",
    "gelu",
    "silu",
    "leaky_relu",
];

impl Activation {
    /// An activation by name (as on the command line).
    ///
    /// # Errors
    /// [`Error::UnknownActivation`].
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "identity" => Activation::Identity,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "softplus" => Activation::Softplus,
            "gelu" => Activation::Gelu,
            "silu" => Activation::Silu,
            "leaky_relu" => Activation::LeakyRelu(0.01),
            _ => return Err(Error::UnknownActivation(name.to_string())),
        })
    }
    /// Name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::LeakyRelu(_) => "leaky_relu",
        }
    }
    /// The PyTorch module name.
    pub fn class_name(&self) -> &'static str {
        match self {
            Activation::Identity => "Identity",
            Activation::Tanh => "Tanh",
            Activation::Relu => "ReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Softplus => "Softplus",
            Activation::Gelu => "GELU",
            Activation::Silu => "SiLU",
            Activation::LeakyRelu(_) => "LeakyReLU",
        }
    }
    /// Apply to any scalar type.
    pub fn apply<D: DualNum<Primitive = f64> + Copy>(&self, x: D) -> D {
        match *self {
            Activation::Identity => x,
            Activation::Tanh => x.tanh(),
            Activation::Relu => {
                if x.re() > 0.0 {
                    x
                } else {
                    x * 0.0
                }
            }
            Activation::Sigmoid => ((-x).exp() + 1.0).recip(),
            Activation::Softplus => crate::special::softplus(x),
            Activation::Gelu => x * normal_cdf(x),
            Activation::Silu => x * ((-x).exp() + 1.0).recip(),
            Activation::LeakyRelu(a) => {
                if x.re() > 0.0 {
                    x
                } else {
                    x * a
                }
            }
        }
    }
    /// Value and slope at `s`: closed forms from the value where one exists (one
    /// transcendental call per element), forward mode otherwise.
    pub fn value_and_slope(&self, s: f64) -> (f64, f64) {
        match *self {
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
            Activation::LeakyRelu(a) => {
                if s > 0.0 {
                    (s, 1.0)
                } else {
                    (a * s, a)
                }
            }
            Activation::Sigmoid => {
                let v = 1.0 / (1.0 + (-s).exp());
                (v, v * (1.0 - v))
            }
            Activation::Silu => {
                let v = 1.0 / (1.0 + (-s).exp());
                (s * v, v + s * v * (1.0 - v))
            }
            Activation::Gelu => {
                // x Φ(x) and Φ(x) + x φ(x)
                let cdf = 0.5 * (1.0 + libm::erf(s * std::f64::consts::FRAC_1_SQRT_2));
                let pdf = (-0.5 * s * s).exp() * INV_SQRT_2PI;
                (s * cdf, cdf + s * pdf)
            }
            Activation::Softplus => {
                let d = self.apply(Dual64::new(s, 1.0));
                (d.re, d.eps)
            }
        }
    }
    pub(crate) fn bind(&self, input: &[usize]) -> ActivationAt {
        ActivationAt {
            act: *self,
            shape: input.to_vec(),
        }
    }
}

/// `1/√(2π)`.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Standard normal CDF `Φ(x) = ½(1 + erf(x/√2))` for any scalar type (erf from `libm`, within
/// 1 ulp).
pub fn normal_cdf<D: DualNum<Primitive = f64> + Copy>(x: D) -> D {
    let x0 = x.re();
    let pdf = (-0.5 * x0 * x0).exp() * INV_SQRT_2PI;
    lift(x, |k| match k {
        0 => 0.5 * (1.0 + libm::erf(x0 * std::f64::consts::FRAC_1_SQRT_2)),
        1 => pdf,
        2 => -x0 * pdf,
        _ => (x0 * x0 - 1.0) * pdf,
    })
}

/// An activation at an input shape.
#[derive(Debug, Clone)]
pub(crate) struct ActivationAt {
    act: Activation,
    shape: Vec<usize>,
}

impl ActivationAt {
    pub fn out_shape(&self) -> Vec<usize> {
        self.shape.clone()
    }
    pub fn forward(&self, _: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        debug_assert_eq!(x.ncols(), numel(&self.shape));
        let mut y = Mat::<f64>::zeros(x.nrows(), x.ncols());
        let mut slope = Mat::<f64>::zeros(x.nrows(), x.ncols());
        for j in 0..x.ncols() {
            for i in 0..x.nrows() {
                let (v, d) = self.act.value_and_slope(x[(i, j)]);
                y[(i, j)] = v;
                slope[(i, j)] = d;
            }
        }
        (y, Cache::Slopes(slope))
    }
    pub fn backward(&self, _: &[f64], cache: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = g.to_owned();
        Self::scale_by_slopes(cache, &mut out);
        out
    }
    /// `g ⊙ σ'(s)` in place, for stacked seeds (row m belongs to sample m mod N).
    pub fn scale_by_slopes(cache: &Cache, g: &mut Mat<f64>) {
        let Cache::Slopes(slope) = cache else {
            unreachable!("an activation records its slopes")
        };
        let n = slope.nrows();
        for j in 0..g.ncols() {
            let sc = slope
                .col(j)
                .try_as_col_major()
                .expect("contiguous")
                .as_slice();
            let col = g
                .as_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("contiguous");
            for block in col.as_slice_mut().chunks_mut(n) {
                for (v, s) in block.iter_mut().zip(sc) {
                    *v *= s;
                }
            }
        }
    }
    pub fn jvp(
        &self,
        p: &[f64],
        _: &[f64],
        cache: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        xdot.map(|xd| self.backward(p, cache, xd))
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, _: &[D], x: &[D]) -> Vec<D> {
        x.iter().map(|&v| self.act.apply(v)).collect()
    }
}
