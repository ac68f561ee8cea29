//! `nn.AvgPool1d` / `nn.AvgPool2d` (kernel size, stride, padding; PyTorch's defaults
//! `ceil_mode=False`, `count_include_pad=True`, which its `print` does not show) and
//! `nn.AdaptiveAvgPool1d` / `nn.AdaptiveAvgPool2d` (PyTorch's windows
//! `[⌊i·L/out⌋, ⌈(i+1)·L/out⌉)`). Both are fixed linear maps: each output is a weighted sum
//! of a window of inputs, so one bound type serves both.

use super::{Cache, PAD, numel, spatial, windows};
use crate::DualNum;
use faer::{Mat, MatRef};

/// `nn.AvgPool1d` (`dims = 1`) or `nn.AvgPool2d` (`dims = 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool {
    dims: usize,
    /// Window size (height 1 for one axis).
    pub kernel: [usize; 2],
    /// Stride (PyTorch's default: the kernel size).
    pub stride: [usize; 2],
    /// Zero padding on both sides, counted in the divisor (at most half the kernel).
    pub padding: [usize; 2],
}

/// `nn.AdaptiveAvgPool1d` (`dims = 1`) or `nn.AdaptiveAvgPool2d` (`dims = 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveAvgPool {
    dims: usize,
    /// Output size (height 1 for one axis).
    pub output: [usize; 2],
}

impl AvgPool {
    /// `nn.AvgPool1d(kernel)`.
    pub fn pool1d(kernel: usize) -> Self {
        Self {
            dims: 1,
            kernel: [1, kernel],
            stride: [1, kernel],
            padding: [0, 0],
        }
    }
    /// `nn.AvgPool2d((kh, kw))`.
    pub fn pool2d(kernel: [usize; 2]) -> Self {
        Self {
            dims: 2,
            kernel,
            stride: kernel,
            padding: [0, 0],
        }
    }
    /// Spatial axes: 1 or 2.
    pub fn dims(&self) -> usize {
        self.dims
    }
    /// The same with this stride.
    pub fn with_stride(mut self, s: [usize; 2]) -> Self {
        self.stride = s;
        self
    }
    /// The same with this padding.
    pub fn with_padding(mut self, p: [usize; 2]) -> Self {
        self.padding = p;
        self
    }
    pub(crate) fn bind(&self, input: &[usize]) -> Result<AverageAt, String> {
        let (c, h, w) = spatial(input, self.dims, "this pooling layer")?;
        if self.kernel.contains(&0) || self.stride.contains(&0) {
            return Err("kernel_size and stride must be >= 1".into());
        }
        if (0..2).any(|a| 2 * self.padding[a] > self.kernel[a]) {
            return Err(
                "padding must be at most half the kernel size (as PyTorch requires)".into(),
            );
        }
        let (ho, wo, table) = windows((c, h, w), self.kernel, self.stride, self.padding, [1, 1])?;
        let kk = self.kernel[0] * self.kernel[1];
        // count_include_pad: every window divides by the kernel size
        let terms = table
            .chunks(kk)
            .map(|win| {
                win.iter()
                    .filter(|&&i| i != PAD)
                    .map(|&i| (i, 1.0 / kk as f64))
                    .collect()
            })
            .collect();
        Ok(AverageAt::new(
            c * h * w,
            shape(self.dims, c, ho, wo),
            terms,
        ))
    }
}

fn shape(dims: usize, c: usize, h: usize, w: usize) -> Vec<usize> {
    if dims == 1 { vec![c, w] } else { vec![c, h, w] }
}

impl AdaptiveAvgPool {
    /// `nn.AdaptiveAvgPool1d(out)`.
    pub fn pool1d(out: usize) -> Self {
        Self {
            dims: 1,
            output: [1, out],
        }
    }
    /// `nn.AdaptiveAvgPool2d((oh, ow))`.
    pub fn pool2d(out: [usize; 2]) -> Self {
        Self {
            dims: 2,
            output: out,
        }
    }
    /// Spatial axes: 1 or 2.
    pub fn dims(&self) -> usize {
        self.dims
    }
    pub(crate) fn bind(&self, input: &[usize]) -> Result<AverageAt, String> {
        let (c, h, w) = spatial(input, self.dims, "this pooling layer")?;
        let [oh, ow] = self.output;
        if oh == 0 || ow == 0 {
            return Err("output_size must be >= 1".into());
        }
        let range =
            |i: usize, len: usize, out: usize| (i * len / out, ((i + 1) * len).div_ceil(out));
        let mut terms = Vec::with_capacity(c * oh * ow);
        for ci in 0..c {
            for oi in 0..oh {
                let (h0, h1) = range(oi, h, oh);
                for oj in 0..ow {
                    let (w0, w1) = range(oj, w, ow);
                    let count = ((h1 - h0) * (w1 - w0)) as f64;
                    let mut t = Vec::new();
                    for ii in h0..h1 {
                        for jj in w0..w1 {
                            t.push(((ci * h * w + ii * w + jj) as u32, 1.0 / count));
                        }
                    }
                    terms.push(t);
                }
            }
        }
        Ok(AverageAt::new(
            c * h * w,
            shape(self.dims, c, oh, ow),
            terms,
        ))
    }
}

/// The mean over one per-sample axis, `x.mean(dim)` (dims counted as PyTorch does, 0 being the
/// batch axis): not a PyTorch module, but printed `MeanPool(dim=1)` by the small module shown in
/// `docs/layers.md`, e.g. to average a sequence of tokens before a classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeanPool {
    /// The averaged axis (≥ 1, or negative from the end).
    pub dim: isize,
}

impl MeanPool {
    pub(crate) fn bind(&self, input: &[usize]) -> Result<AverageAt, String> {
        let rank = input.len() as isize + 1;
        let a = if self.dim < 0 {
            self.dim + rank
        } else {
            self.dim
        };
        if input.len() < 2 || a < 1 || a >= rank {
            return Err(format!(
                "dim={} must name one of the per-sample axes 1..{} of an input of shape {input:?} with at least two axes",
                self.dim,
                rank - 1
            ));
        }
        let a = a as usize - 1;
        let (outer, len, inner) = (
            input[..a].iter().product::<usize>(),
            input[a],
            input[a + 1..].iter().product::<usize>(),
        );
        let mut terms = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                terms.push(
                    (0..len)
                        .map(|k| (((o * len + k) * inner + i) as u32, 1.0 / len as f64))
                        .collect(),
                );
            }
        }
        let mut out_shape = input.to_vec();
        out_shape.remove(a);
        Ok(AverageAt::new(numel(input), out_shape, terms))
    }
}

/// A fixed linear pooling map: output j is `Σ weight · input` over its terms.
#[derive(Debug, Clone)]
pub(crate) struct AverageAt {
    in_len: usize,
    out_shape: Vec<usize>,
    terms: Vec<Vec<(u32, f64)>>,
}

impl AverageAt {
    fn new(in_len: usize, out_shape: Vec<usize>, terms: Vec<Vec<(u32, f64)>>) -> Self {
        Self {
            in_len,
            out_shape,
            terms,
        }
    }
    pub fn out_shape(&self) -> Vec<usize> {
        self.out_shape.clone()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut y = Mat::<f64>::zeros(x.nrows(), numel(&self.out_shape));
        for (j, t) in self.terms.iter().enumerate() {
            let mut dst = y.as_mut().col_mut(j);
            for &(i, w) in t {
                let src = x.col(i as usize);
                for row in 0..x.nrows() {
                    dst[row] += w * src[row];
                }
            }
        }
        y
    }
    pub fn forward(&self, _: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        (self.apply(x), Cache::Nothing)
    }
    pub fn backward(&self, _: &[f64], _: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        let mut dx = Mat::<f64>::zeros(g.nrows(), self.in_len);
        for (j, t) in self.terms.iter().enumerate() {
            let src = g.col(j);
            for &(i, w) in t {
                let mut dst = dx.as_mut().col_mut(i as usize);
                for row in 0..g.nrows() {
                    dst[row] += w * src[row];
                }
            }
        }
        dx
    }
    pub fn jvp(
        &self,
        _: &[f64],
        _: &[f64],
        _: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        xdot.map(|xd| self.apply(xd))
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, _: &[D], x: &[D]) -> Vec<D> {
        self.terms
            .iter()
            .map(|t| {
                let mut acc = D::from(0.0);
                for &(i, w) in t {
                    acc += x[i as usize] * w;
                }
                acc
            })
            .collect()
    }
}
