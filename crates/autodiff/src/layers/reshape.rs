//! Layers that leave every value as it is: `nn.Flatten(start_dim, end_dim)` (rows are already
//! the C-order flattening of each sample, so only the declared shape changes) and `nn.Dropout`
//! (the identity in evaluation mode, where the Fisher is taken).

use super::Cache;
use crate::DualNum;
use faer::{Mat, MatRef};

/// `nn.Flatten(start_dim, end_dim)`: dims counted as PyTorch does, 0 being the batch axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten {
    /// First merged axis (≥ 1; PyTorch's default 1).
    pub start_dim: isize,
    /// Last merged axis (negative counts from the end; PyTorch's default −1).
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Self {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

/// `nn.Dropout(p)`: the identity (evaluation mode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// The drop probability (unused in evaluation mode).
    pub p: f64,
}

impl Flatten {
    pub(crate) fn bind(&self, input: &[usize]) -> Result<ReshapeAt, String> {
        let rank = input.len() as isize + 1; // with the batch axis
        let axis = |d: isize| if d < 0 { d + rank } else { d };
        let (s, e) = (axis(self.start_dim), axis(self.end_dim));
        if s < 1 || e >= rank || s > e {
            return Err(format!(
                "start_dim={} and end_dim={} do not select axes of a per-sample shape {input:?} (the batch axis 0 stays)",
                self.start_dim, self.end_dim
            ));
        }
        let (s, e) = (s as usize - 1, e as usize - 1);
        let mut out = input[..s].to_vec();
        out.push(input[s..=e].iter().product());
        out.extend_from_slice(&input[e + 1..]);
        Ok(ReshapeAt { out_shape: out })
    }
}

impl Dropout {
    pub(crate) fn bind(&self, input: &[usize]) -> Result<ReshapeAt, String> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(format!("p={} must be in [0, 1)", self.p));
        }
        Ok(ReshapeAt {
            out_shape: input.to_vec(),
        })
    }
}

/// A layer that passes its values on unchanged, under a new declared shape (also where a
/// residual block begins or ends: the batched passes keep the stack of remembered values).
#[derive(Debug, Clone)]
pub(crate) struct ReshapeAt {
    out_shape: Vec<usize>,
}

impl ReshapeAt {
    /// The identity on values of this shape.
    pub fn identity(shape: &[usize]) -> Self {
        Self {
            out_shape: shape.to_vec(),
        }
    }
    pub fn out_shape(&self) -> Vec<usize> {
        self.out_shape.clone()
    }
    pub fn forward(&self, _: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        (x.to_owned(), Cache::Nothing)
    }
    pub fn backward(&self, _: &[f64], _: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        g.to_owned()
    }
    pub fn jvp(
        &self,
        _: &[f64],
        _: &[f64],
        _: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        xdot.map(|xd| xd.to_owned())
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, _: &[D], x: &[D]) -> Vec<D> {
        x.to_vec()
    }
}
