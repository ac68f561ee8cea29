//! `nn.MaxPool1d` / `nn.MaxPool2d` (kernel size, stride, padding, dilation; `ceil_mode=False`).
//! The forward pass records, per sample and output, which input holds the maximum (the first
//! one in window order, as PyTorch; padding reads −∞), and gradients flow to that input only.

use super::{Cache, PAD, numel, spatial, transposed, windows};
use crate::DualNum;
use faer::{Mat, MatRef};

/// `nn.MaxPool1d` (`dims = 1`) or `nn.MaxPool2d` (`dims = 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool {
    dims: usize,
    /// Window size (height, width; height 1 for one axis).
    pub kernel: [usize; 2],
    /// Stride (PyTorch's default: the kernel size).
    pub stride: [usize; 2],
    /// Implicit −∞ padding on both sides (at most half the kernel).
    pub padding: [usize; 2],
    /// Dilation.
    pub dilation: [usize; 2],
}

impl MaxPool {
    /// `nn.MaxPool1d(kernel)` (stride = kernel, no padding).
    pub fn pool1d(kernel: usize) -> Self {
        Self {
            dims: 1,
            kernel: [1, kernel],
            stride: [1, kernel],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }
    /// `nn.MaxPool2d((kh, kw))` (stride = kernel, no padding).
    pub fn pool2d(kernel: [usize; 2]) -> Self {
        Self {
            dims: 2,
            kernel,
            stride: kernel,
            padding: [0, 0],
            dilation: [1, 1],
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
    /// The same with this dilation.
    pub fn with_dilation(mut self, d: [usize; 2]) -> Self {
        self.dilation = d;
        self
    }
    pub(crate) fn bind(&self, input: &[usize]) -> Result<MaxPoolAt, String> {
        let (c, h, w) = spatial(input, self.dims, "this pooling layer")?;
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err("kernel_size, stride and dilation must be >= 1".into());
        }
        if (0..2).any(|a| 2 * self.padding[a] > self.kernel[a]) {
            return Err(
                "padding must be at most half the kernel size (as PyTorch requires)".into(),
            );
        }
        let (ho, wo, table) = windows(
            (c, h, w),
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )?;
        Ok(MaxPoolAt {
            out_shape: if self.dims == 1 {
                vec![c, wo]
            } else {
                vec![c, ho, wo]
            },
            kk: self.kernel[0] * self.kernel[1],
            in_len: c * h * w,
            table,
        })
    }
}

/// A max-pool bound to its input shape.
#[derive(Debug, Clone)]
pub(crate) struct MaxPoolAt {
    out_shape: Vec<usize>,
    kk: usize,
    in_len: usize,
    table: Vec<u32>,
}

impl MaxPoolAt {
    pub fn out_shape(&self) -> Vec<usize> {
        self.out_shape.clone()
    }
    fn argmax(&self, j: usize, value: impl Fn(usize) -> f64) -> u32 {
        let mut best = PAD;
        let mut best_v = f64::NEG_INFINITY;
        for &i in &self.table[j * self.kk..(j + 1) * self.kk] {
            if i != PAD {
                let v = value(i as usize);
                if best == PAD || v > best_v {
                    best = i;
                    best_v = v;
                }
            }
        }
        best
    }
    pub fn forward(&self, _: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        let (n, out) = (x.nrows(), numel(&self.out_shape));
        // one sample per contiguous column while its windows are scanned
        let xt = transposed(x);
        let mut arg = vec![0u32; n * out];
        let mut yt = Mat::<f64>::zeros(out, n);
        for s in 0..n {
            let xs = xt.col(s).try_as_col_major().expect("contiguous").as_slice();
            for j in 0..out {
                let a = self.argmax(j, |i| xs[i]);
                arg[s * out + j] = a;
                yt[(j, s)] = xs[a as usize];
            }
        }
        (transposed(yt.as_ref()), Cache::ArgMax(arg))
    }
    fn gather(
        cache: &Cache,
        out: usize,
        g: MatRef<'_, f64>,
        in_len: usize,
        scatter: bool,
    ) -> Mat<f64> {
        let Cache::ArgMax(arg) = cache else {
            unreachable!("a max-pool records its arguments")
        };
        let n = arg.len() / out;
        let m = g.nrows();
        let gt = transposed(g);
        let width = if scatter { in_len } else { out };
        let mut rt = Mat::<f64>::zeros(width, m);
        for row in 0..m {
            let args = &arg[(row % n) * out..(row % n + 1) * out];
            let src = gt
                .col(row)
                .try_as_col_major()
                .expect("contiguous")
                .as_slice();
            let dst = rt
                .as_mut()
                .col_mut(row)
                .try_as_col_major_mut()
                .expect("contiguous");
            let dst = dst.as_slice_mut();
            if scatter {
                for (&a, &v) in args.iter().zip(src) {
                    dst[a as usize] += v;
                }
            } else {
                for (d, &a) in dst.iter_mut().zip(args) {
                    *d = src[a as usize];
                }
            }
        }
        transposed(rt.as_ref())
    }
    pub fn backward(&self, _: &[f64], cache: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        Self::gather(cache, numel(&self.out_shape), g, self.in_len, true)
    }
    pub fn jvp(
        &self,
        _: &[f64],
        _: &[f64],
        cache: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        xdot.map(|xd| Self::gather(cache, numel(&self.out_shape), xd, 0, false))
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, _: &[D], x: &[D]) -> Vec<D> {
        (0..numel(&self.out_shape))
            .map(|j| x[self.argmax(j, |i| x[i].re()) as usize])
            .collect()
    }
}
