//! `nn.Linear(in_features, out_features, bias)` on per-sample vectors: `y = W x + b`, weight
//! `(out, in)` row-major then bias. One shared location (R = 1): its taps are the bias-folded
//! input `[x, 1]` and the output gradient, so its per-sample gradient is the rank-one `g ⊗ ā`.

use super::{Cache, TapShape, fold_bias, folded_affine, tapped, weight};
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
        if input != [self.in_features] {
            return Err(format!(
                "takes inputs of shape ({},) per sample, got {input:?}{}",
                self.in_features,
                if input.len() > 1 {
                    " (add a Flatten before it)"
                } else {
                    ""
                }
            ));
        }
        Ok(LinearAt {
            t: TapShape {
                out: self.out_features,
                inp: self.in_features,
                bias: self.bias,
                locations: 1,
            },
        })
    }
}

/// A dense layer at its input width.
#[derive(Debug, Clone)]
pub(crate) struct LinearAt {
    t: TapShape,
}

impl LinearAt {
    pub fn tap_shape(&self) -> TapShape {
        self.t
    }
    pub fn out_shape(&self) -> Vec<usize> {
        vec![self.t.out]
    }
    pub fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut v = vec![("weight", vec![self.t.out, self.t.inp])];
        if self.t.bias {
            v.push(("bias", vec![self.t.out]));
        }
        v
    }
    pub fn forward(&self, p: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        let abar = fold_bias(x, self.t.bias);
        let y = folded_affine(abar.as_ref(), p, self.t);
        (y, Cache::Tapped(abar))
    }
    pub fn backward(&self, p: &[f64], _: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::<f64>::zeros(g.nrows(), self.t.inp);
        gemm(out.as_mut(), Accum::Replace, g, weight(p, self.t), 1.0);
        out
    }
    pub fn jvp(
        &self,
        p: &[f64],
        v: &[f64],
        cache: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        let mut s = folded_affine(tapped(cache).as_ref(), v, self.t);
        if let Some(xd) = xdot {
            gemm(
                s.as_mut(),
                Accum::Add,
                xd,
                weight(p, self.t).transpose(),
                1.0,
            );
        }
        Some(s)
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, p: &[D], x: &[D]) -> Vec<D> {
        let TapShape { out, inp, .. } = self.t;
        (0..out)
            .map(|r| {
                let mut acc = if self.t.bias {
                    p[out * inp + r]
                } else {
                    D::from(0.0)
                };
                for c in 0..inp {
                    acc += p[r * inp + c] * x[c];
                }
                acc
            })
            .collect()
    }
}
