//! `nn.Conv1d` / `nn.Conv2d` (kernel size, stride, padding, dilation; `groups = 1`; bias on or
//! off) by unfolding: each output location r of a sample reads a patch of `C_in · k` inputs, so
//! the layer is a dense layer shared over the `R` output locations. Its taps are the
//! bias-folded patches `āₙᵣ` and the output gradients `gₙᵣ` at every location; the per-sample
//! weight gradient is `Σᵣ gₙᵣ ⊗ āₙᵣ`.
//!
//! A one-dimensional convolution is the two-dimensional one with a height of 1, so the code is
//! written once. Patch columns run over `(c_in, kᵢ, kⱼ)` in that order, which is PyTorch's
//! weight layout `(out, in, kh, kw)` flattened row-major.

use super::{
    Cache, PAD, TapKind, TapShape, folded_affine, spatial, tapped, transpose_into, transposed,
    weight, windows,
};
use crate::DualNum;
use crate::batch::gemm;
use faer::{Accum, Mat, MatRef};

/// `nn.Conv1d` (`dims = 1`) or `nn.Conv2d` (`dims = 2`). For one spatial axis the first entry
/// of each pair is 1 (kernel, stride, dilation) or 0 (padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    dims: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size (height, width).
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Zero padding on both sides.
    pub padding: [usize; 2],
    /// Dilation.
    pub dilation: [usize; 2],
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Conv {
    /// `nn.Conv1d(in, out, kernel)` with stride 1, no padding, dilation 1, bias.
    pub fn conv1d(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Self {
            dims: 1,
            in_channels,
            out_channels,
            kernel: [1, kernel],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            bias: true,
        }
    }
    /// `nn.Conv2d(in, out, (kh, kw))` with stride 1, no padding, dilation 1, bias.
    pub fn conv2d(in_channels: usize, out_channels: usize, kernel: [usize; 2]) -> Self {
        Self {
            dims: 2,
            kernel,
            ..Self::conv1d(in_channels, out_channels, 1)
        }
    }
    /// Spatial axes: 1 or 2.
    pub fn dims(&self) -> usize {
        self.dims
    }
    /// The same with this stride (one value per spatial axis).
    pub fn with_stride(mut self, s: &[usize]) -> Self {
        self.stride = self.pair(s, 1);
        self
    }
    /// The same with this padding.
    pub fn with_padding(mut self, p: &[usize]) -> Self {
        self.padding = self.pair(p, 0);
        self
    }
    /// The same with this dilation.
    pub fn with_dilation(mut self, d: &[usize]) -> Self {
        self.dilation = self.pair(d, 1);
        self
    }
    /// The same with or without bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    fn pair(&self, v: &[usize], unit: usize) -> [usize; 2] {
        match (self.dims, v) {
            (1, [a]) => [unit, *a],
            (2, [a]) => [*a, *a],
            (2, [a, b]) => [*a, *b],
            _ => [unit, v.first().copied().unwrap_or(unit)],
        }
    }
    pub(crate) fn bind(&self, input: &[usize]) -> Result<ConvAt, String> {
        let (c, h, w) = spatial(input, self.dims, "this convolution")?;
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err("in_channels and out_channels must be >= 1".into());
        }
        if c != self.in_channels {
            let plural = |k: usize| if k == 1 { "" } else { "s" };
            return Err(format!(
                "expects {} input channel{}, its input has {c} (shape {input:?})",
                self.in_channels,
                plural(self.in_channels)
            ));
        }
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err("kernel_size, stride and dilation must be >= 1".into());
        }
        let (ho, wo, win) = windows(
            (c, h, w),
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )?;
        let [kh, kw] = self.kernel;
        let (kk, r) = (kh * kw, ho * wo);
        let ck = c * kk;
        // table[col · R + loc]: input index read by patch column col = (cᵢ, kᵢ, kⱼ) at output
        // location loc — the windows reordered so that each patch column is contiguous
        let mut table = vec![PAD; ck * r];
        for ci in 0..c {
            for k in 0..kk {
                for loc in 0..r {
                    table[(ci * kk + k) * r + loc] = win[(ci * r + loc) * kk + k];
                }
            }
        }
        Ok(ConvAt {
            t: TapShape {
                out: self.out_channels,
                inp: ck,
                bias: self.bias,
                locations: r,
                kind: TapKind::Kronecker,
            },
            in_len: c * h * w,
            out_shape: if self.dims == 1 {
                vec![self.out_channels, wo]
            } else {
                vec![self.out_channels, ho, wo]
            },
            kernel: [self.in_channels, kh, kw],
            table,
        })
    }
}

/// A convolution bound to its input shape, with its unfolding table.
#[derive(Debug, Clone)]
pub(crate) struct ConvAt {
    t: TapShape,
    in_len: usize,
    out_shape: Vec<usize>,
    kernel: [usize; 3],
    table: Vec<u32>,
}

/// Rows of unfolded patches handled at once in the backward pass (bounds its temporary).
const PATCH_BLOCK: usize = 1 << 21;

impl ConvAt {
    pub fn tap_shape(&self) -> TapShape {
        self.t
    }
    pub fn out_shape(&self) -> Vec<usize> {
        self.out_shape.clone()
    }
    pub fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        let [c, kh, kw] = self.kernel;
        let mut shape = vec![self.t.out, c];
        if self.out_shape.len() == 3 {
            shape.push(kh);
        }
        shape.push(kw);
        let mut v = vec![("weight", shape)];
        if self.t.bias {
            v.push(("bias", vec![self.t.out]));
        }
        v
    }
    /// Unfold `x` (N × C·H·W) into patches ((N·R) × (C·k + extra)), zero beyond `C·k`.
    fn unfold(&self, x: MatRef<'_, f64>, extra: usize) -> Mat<f64> {
        let (n, r, ck) = (x.nrows(), self.t.locations, self.t.inp);
        // each sample contiguous, so that a patch reads one small block of memory
        let xt = transposed(x);
        let mut u = Mat::<f64>::zeros(n * r, ck + extra);
        for col in 0..ck {
            let idx = &self.table[col * r..(col + 1) * r];
            let dst = u
                .as_mut()
                .col_mut(col)
                .try_as_col_major_mut()
                .expect("contiguous");
            let dst = dst.as_slice_mut();
            for s in 0..n {
                let xs = xt.col(s).try_as_col_major().expect("contiguous").as_slice();
                for (d, &i) in dst[s * r..(s + 1) * r].iter_mut().zip(idx) {
                    if i != PAD {
                        *d = xs[i as usize];
                    }
                }
            }
        }
        u
    }
    /// `(M·R) × O` location rows into `M × (O·R)` sample rows (channel-major, as PyTorch).
    fn fold_locations(&self, s: &Mat<f64>) -> Mat<f64> {
        let r = self.t.locations;
        let m = s.nrows() / r;
        let mut y = Mat::<f64>::zeros(m, self.t.out * r);
        for o in 0..self.t.out {
            // column o holds, per sample, its R locations: an R × M block
            let src = s.col(o).try_as_col_major().expect("contiguous").as_slice();
            let block = MatRef::from_column_major_slice(src, r, m);
            transpose_into(y.as_mut().subcols_mut(o * r, r), block);
        }
        y
    }
    pub fn forward(&self, p: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        debug_assert_eq!(x.ncols(), self.in_len);
        let mut u = self.unfold(x, usize::from(self.t.bias));
        if self.t.bias {
            u.as_mut().col_mut(self.t.inp).fill(1.0);
        }
        let s = folded_affine(u.as_ref(), p, self.t);
        (self.fold_locations(&s), Cache::Tapped(u))
    }
    pub fn tap_grads(&self, g: MatRef<'_, f64>) -> Mat<f64> {
        let r = self.t.locations;
        let m = g.nrows();
        let mut gs = Mat::<f64>::zeros(m * r, self.t.out);
        for o in 0..self.t.out {
            let dst = gs
                .as_mut()
                .col_mut(o)
                .try_as_col_major_mut()
                .expect("contiguous");
            let block = faer::MatMut::from_column_major_slice_mut(dst.as_slice_mut(), r, m);
            transpose_into(block, g.subcols(o * r, r));
        }
        gs
    }
    pub fn backward(&self, p: &[f64], _: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        let (r, ck) = (self.t.locations, self.t.inp);
        let m = g.nrows();
        let w = weight(p, self.t);
        let mut dx = Mat::<f64>::zeros(m, self.in_len);
        let block = (PATCH_BLOCK / (r * ck).max(1)).clamp(1, m.max(1));
        // buffers reused by every block: fresh pages would cost more than the arithmetic
        let mut du_buf = Mat::<f64>::zeros(block * r, ck);
        let mut dxt_buf = Mat::<f64>::zeros(self.in_len, block);
        for m0 in (0..m).step_by(block) {
            let mb = block.min(m - m0);
            let gs = self.tap_grads(g.subrows(m0, mb));
            let mut du = du_buf.as_mut().subrows_mut(0, mb * r);
            gemm(du.as_mut(), Accum::Replace, gs.as_ref(), w, 1.0);
            let du = du.as_ref();
            // fold the patches back, one sample (a contiguous column of dxt) at a time
            let mut dxt = dxt_buf.as_mut().subcols_mut(0, mb);
            dxt.fill(0.0);
            for col in 0..ck {
                let idx = &self.table[col * r..(col + 1) * r];
                let src = du
                    .col(col)
                    .try_as_col_major()
                    .expect("contiguous")
                    .as_slice();
                for row in 0..mb {
                    let dst = dxt
                        .as_mut()
                        .col_mut(row)
                        .try_as_col_major_mut()
                        .expect("contiguous");
                    let dst = dst.as_slice_mut();
                    for (&v, &i) in src[row * r..(row + 1) * r].iter().zip(idx) {
                        if i != PAD {
                            dst[i as usize] += v;
                        }
                    }
                }
            }
            transpose_into(dx.as_mut().subrows_mut(m0, mb), dxt.as_ref());
        }
        dx
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
            let ud = self.unfold(xd, 0);
            gemm(
                s.as_mut(),
                Accum::Add,
                ud.as_ref(),
                weight(p, self.t).transpose(),
                1.0,
            );
        }
        Some(self.fold_locations(&s))
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, p: &[D], x: &[D]) -> Vec<D> {
        let TapShape {
            out,
            inp,
            locations: r,
            ..
        } = self.t;
        let mut y = vec![D::from(0.0); out * r];
        for o in 0..out {
            for loc in 0..r {
                let mut acc = if self.t.bias {
                    p[out * inp + o]
                } else {
                    D::from(0.0)
                };
                for col in 0..inp {
                    let i = self.table[col * r + loc];
                    if i != PAD {
                        acc += p[o * inp + col] * x[i as usize];
                    }
                }
                y[o * r + loc] = acc;
            }
        }
        y
    }
}
