//! `nn.Linear(in_features, out_features, bias)`: `y = W x + b` on the last axis, weight
//! `(out, in)` row-major then bias. On per-sample vectors it has one location (R = 1): its taps
//! are the bias-folded input `[x, 1]` and the output gradient, so its per-sample gradient is the
//! rank-one `g ⊗ ā`. On inputs with leading axes, `(T, d)` or `(T₁, T₂, d)` (a transformer's
//! tokens), the same weight acts at each of the `R = T₁·T₂` positions, which are its shared
//! locations, as the output pixels of a convolution are.

use super::{
    Cache, TapKind, TapShape, fold_bias, folded_affine, from_positions, tapped, to_positions,
    weight,
};
use crate::DualNum;
use crate::batch::gemm;
use faer::{Accum, Mat, MatRef};

/// `nn.Linear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Linear {
    /// A dense layer.
    pub fn new(in_features: usize, out_features: usize, bias: bool) -> Self {
        Self {
            in_features,
            out_features,
            bias,
        }
    }
    pub(crate) fn bind(&self, input: &[usize]) -> Result<LinearAt, String> {
        if self.in_features == 0 || self.out_features == 0 {
            return Err("in_features and out_features must be >= 1".into());
        }
        if input.last() != Some(&self.in_features) {
            return Err(format!(
                "takes inputs of shape ({},) or (…, {}) per sample, got {input:?}{}",
                self.in_features,
                self.in_features,
                if input.len() > 1 {
                    " (add a Flatten before it)"
                } else {
                    ""
                }
            ));
        }
        let lead = &input[..input.len() - 1];
        let mut out_shape = lead.to_vec();
        out_shape.push(self.out_features);
        Ok(LinearAt {
            t: TapShape {
                out: self.out_features,
                inp: self.in_features,
                bias: self.bias,
                locations: lead.iter().product(),
                kind: TapKind::Kronecker,
            },
            out_shape,
        })
    }
}

/// A dense layer at its input width.
#[derive(Debug, Clone)]
pub(crate) struct LinearAt {
    t: TapShape,
    out_shape: Vec<usize>,
}

impl LinearAt {
    pub fn tap_shape(&self) -> TapShape {
        self.t
    }
    pub fn out_shape(&self) -> Vec<usize> {
        self.out_shape.clone()
    }
    /// Output gradients of stacked seeds, one row per (seed, sample, position).
    pub fn tap_grads(&self, g: MatRef<'_, f64>) -> Mat<f64> {
        if self.t.locations == 1 {
            g.to_owned()
        } else {
            to_positions(g, self.t.locations, 0, false)
        }
    }
    pub fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut v = vec![("weight", vec![self.t.out, self.t.inp])];
        if self.t.bias {
            v.push(("bias", vec![self.t.out]));
        }
        v
    }
    pub fn forward(&self, p: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        let r = self.t.locations;
        if r == 1 {
            let abar = fold_bias(x, self.t.bias);
            let y = folded_affine(abar.as_ref(), p, self.t);
            return (y, Cache::Tapped(abar));
        }
        let mut abar = to_positions(x, r, usize::from(self.t.bias), false);
        if self.t.bias {
            abar.as_mut().col_mut(self.t.inp).fill(1.0);
        }
        // one GEMM per position on its block of columns: no reordering of the output
        let (o, i) = (self.t.out, self.t.inp);
        let w = weight(p, self.t);
        let b = super::bias(p, self.t);
        let mut y = Mat::<f64>::zeros(x.nrows(), r * o);
        for pos in 0..r {
            let mut yt = y.as_mut().subcols_mut(pos * o, o);
            gemm(
                yt.as_mut(),
                Accum::Replace,
                x.subcols(pos * i, i),
                w.transpose(),
                1.0,
            );
            for (c, bc) in b.iter().enumerate() {
                for v in yt.as_mut().col_mut(c).iter_mut() {
                    *v += bc;
                }
            }
        }
        (y, Cache::Tapped(abar))
    }
    pub fn backward(&self, p: &[f64], _: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        let (r, o, i) = (self.t.locations, self.t.out, self.t.inp);
        // one GEMM per position on its block of columns (for R = 1 the whole matrix)
        let mut out = Mat::<f64>::zeros(g.nrows(), r * i);
        for pos in 0..r {
            gemm(
                out.as_mut().subcols_mut(pos * i, i),
                Accum::Replace,
                g.subcols(pos * o, o),
                weight(p, self.t),
                1.0,
            );
        }
        out
    }
    pub fn jvp(
        &self,
        p: &[f64],
        v: &[f64],
        cache: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        let r = self.t.locations;
        let mut s = folded_affine(tapped(cache).as_ref(), v, self.t);
        if let Some(xd) = xdot {
            let xd = if r == 1 {
                xd.to_owned()
            } else {
                to_positions(xd, r, 0, false)
            };
            gemm(
                s.as_mut(),
                Accum::Add,
                xd.as_ref(),
                weight(p, self.t).transpose(),
                1.0,
            );
        }
        Some(if r == 1 {
            s
        } else {
            from_positions(s.as_ref(), r, false)
        })
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, p: &[D], x: &[D]) -> Vec<D> {
        let TapShape {
            out,
            inp,
            locations,
            ..
        } = self.t;
        let mut y = Vec::with_capacity(out * locations);
        for t in 0..locations {
            let xt = &x[t * inp..(t + 1) * inp];
            for r in 0..out {
                let mut acc = if self.t.bias {
                    p[out * inp + r]
                } else {
                    D::from(0.0)
                };
                for c in 0..inp {
                    acc += p[r * inp + c] * xt[c];
                }
                y.push(acc);
            }
        }
        y
    }
}
