//! Networks as layers: each layer type is written once, in its own file, and says everything the
//! routes above it need (DESIGN, "Networks are layers").
//!
//! A layer is first a *description* ([`Linear`], [`Conv`], [`MaxPool`], [`AvgPool`],
//! [`AdaptiveAvgPool`], [`Flatten`], [`Dropout`], [`Activation`]) and is then *bound* to the
//! per-sample shape of its input when a [`Sequential`] is built into a [`Network`]. A bound
//! layer knows
//!
//! - its parameters: PyTorch `state_dict` names and shapes, in `parameters()` order (weight,
//!   then bias);
//! - a batched forward pass on `faer` (one sample per row, each row the C-order flattening of
//!   the sample's shape, as `torch.flatten` gives) recording what the backward pass needs;
//! - a batched backward pass (vector–Jacobian products for a block of stacked output seeds);
//! - a batched Jacobian–vector product;
//! - the same forward map over any [`DualNum`], for the forward-mode oracle in tests;
//! - its **curvature taps**: a layer linear in its weights (Linear, Conv1d, Conv2d) exposes per
//!   sample and per shared location r = 1..R its input `āₙᵣ` (patches for a convolution, bias
//!   folded in as a trailing 1) and the output gradient `gₙᵣ`. The per-sample gradient of such a
//!   layer is `Σᵣ gₙᵣ ⊗ āₙᵣ`.
//!
//! Nothing above this module knows a layer's type: the curvature routes see parameter ranges
//! ([`TapInfo`]) and taps.

mod activation;
mod avgpool;
mod conv;
mod linear;
mod maxpool;
mod norm;
mod parse;
mod reshape;
mod residual;
mod sequential;

pub use activation::{ACTIVATIONS, Activation, normal_cdf};
pub use avgpool::{AdaptiveAvgPool, AvgPool, MeanPool};
pub use conv::Conv;
pub use linear::Linear;
pub use maxpool::MaxPool;
pub use norm::{BatchNorm, LayerNorm};
pub use parse::parse_model;
pub use reshape::{Dropout, Flatten};
pub use residual::Residual;
pub use sequential::{Network, Sequential, TapInfo};

use crate::DualNum;
use faer::{Mat, MatRef};

/// A layer description: what PyTorch's `print(model)` shows of one module.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// `nn.Linear`.
    Linear(Linear),
    /// `nn.Conv1d` / `nn.Conv2d`.
    Conv(Conv),
    /// `nn.MaxPool1d` / `nn.MaxPool2d`.
    MaxPool(MaxPool),
    /// `nn.AvgPool1d` / `nn.AvgPool2d`.
    AvgPool(AvgPool),
    /// `nn.AdaptiveAvgPool1d` / `nn.AdaptiveAvgPool2d`.
    AdaptiveAvgPool(AdaptiveAvgPool),
    /// The mean over one axis (a small module, see [`MeanPool`]).
    MeanPool(MeanPool),
    /// `nn.Flatten`.
    Flatten(Flatten),
    /// `nn.Dropout` (the identity: the Fisher is taken in evaluation mode).
    Dropout(Dropout),
    /// An element-wise activation module.
    Activation(Activation),
    /// `nn.LayerNorm`.
    LayerNorm(LayerNorm),
    /// `nn.BatchNorm1d` / `nn.BatchNorm2d` (evaluation mode).
    BatchNorm(BatchNorm),
    /// A residual block `x + body(x)` (a small module, see [`Residual`]).
    Residual(Residual),
    /// A nested `nn.Sequential`.
    Sequential(Sequential),
}

macro_rules! layer_from {
    ($($t:ident),*) => {$(
        impl From<$t> for Layer {
            fn from(l: $t) -> Self {
                Layer::$t(l)
            }
        }
    )*};
}
layer_from!(
    Linear,
    Conv,
    MaxPool,
    AvgPool,
    AdaptiveAvgPool,
    MeanPool,
    Flatten,
    Dropout,
    Activation,
    LayerNorm,
    BatchNorm,
    Residual,
    Sequential
);

impl Layer {
    /// The PyTorch class name (`Conv2d`, `ReLU`, …).
    pub fn class_name(&self) -> String {
        match self {
            Layer::Linear(_) => "Linear".into(),
            Layer::Conv(c) => format!("Conv{}d", c.dims()),
            Layer::MaxPool(p) => format!("MaxPool{}d", p.dims()),
            Layer::AvgPool(p) => format!("AvgPool{}d", p.dims()),
            Layer::AdaptiveAvgPool(p) => format!("AdaptiveAvgPool{}d", p.dims()),
            Layer::MeanPool(_) => "MeanPool".into(),
            Layer::Flatten(_) => "Flatten".into(),
            Layer::Dropout(_) => "Dropout".into(),
            Layer::Activation(a) => a.class_name().into(),
            Layer::LayerNorm(_) => "LayerNorm".into(),
            Layer::BatchNorm(b) => format!("BatchNorm{}d", b.dims()),
            Layer::Residual(_) => "Residual".into(),
            Layer::Sequential(_) => "Sequential".into(),
        }
    }
    /// Bind a leaf layer to its input shape.
    pub(crate) fn bind(&self, input: &[usize]) -> Result<Bound, String> {
        Ok(match self {
            Layer::Linear(l) => Bound::Linear(l.bind(input)?),
            Layer::Conv(c) => Bound::Conv(c.bind(input)?),
            Layer::MaxPool(p) => Bound::MaxPool(p.bind(input)?),
            Layer::AvgPool(p) => Bound::Average(p.bind(input)?),
            Layer::AdaptiveAvgPool(p) => Bound::Average(p.bind(input)?),
            Layer::MeanPool(p) => Bound::Average(p.bind(input)?),
            Layer::Flatten(f) => Bound::Reshape(f.bind(input)?),
            Layer::Dropout(d) => Bound::Reshape(d.bind(input)?),
            Layer::Activation(a) => Bound::Activation(a.bind(input)),
            Layer::LayerNorm(l) => Bound::Norm(l.bind(input)?),
            Layer::BatchNorm(b) => Bound::Norm(b.bind(input)?),
            Layer::Sequential(_) | Layer::Residual(_) => {
                return Err("a container is flattened, not bound".into());
            }
        })
    }
}

/// What a forward pass records for the backward pass and the taps.
#[derive(Debug, Clone)]
pub(crate) enum Cache {
    /// A tapped layer: its bias-folded inputs `ā` ((N·R) × (I + bias), rows sample-major).
    Tapped(Mat<f64>),
    /// An activation: `σ'(s)` per entry (N × width).
    Slopes(Mat<f64>),
    /// A max-pool: for each sample and output, the input index of the maximum (row-major N × out).
    ArgMax(Vec<u32>),
    /// A normalisation layer: the normalised inputs `x̂` in position rows ((N·R) × d, the tap),
    /// the same in sample rows (N × R·d), and for LayerNorm `1/√(σ² + ε)` of each sample and
    /// position (N × R).
    Normalized {
        xhat: Mat<f64>,
        samples: Mat<f64>,
        rstd: Mat<f64>,
    },
    /// Nothing to record.
    Nothing,
}

/// A layer bound to its input shape: the computational object.
#[derive(Debug, Clone)]
pub(crate) enum Bound {
    Linear(linear::LinearAt),
    Conv(conv::ConvAt),
    MaxPool(maxpool::MaxPoolAt),
    Average(avgpool::AverageAt),
    Reshape(reshape::ReshapeAt),
    Activation(activation::ActivationAt),
    Norm(norm::NormAt),
    /// The start of a residual block: its input is remembered.
    Fork(reshape::ReshapeAt),
    /// The end of a residual block: the remembered input is added.
    Join(reshape::ReshapeAt),
}

/// The geometry of a layer linear in its weights: `O` outputs per location from `I` inputs per
/// location (`I = C_in · kernel` for a convolution), an optional bias, `R` shared locations.
/// A scale-and-shift tap (a normalisation layer's affine parameters) is one vector of `O`
/// parameters with `I = 1` and no bias (see [`TapKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TapShape {
    pub out: usize,
    pub inp: usize,
    pub bias: bool,
    pub locations: usize,
    pub kind: TapKind,
}

/// How a tapped layer's per-sample gradient is formed from its taps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    /// A layer linear in its weights (Linear, Conv1d, Conv2d): the taps are the bias-folded
    /// inputs `āₙᵣ` ((I + bias) wide) and the output gradients `gₙᵣ` (O wide) at each location;
    /// the per-sample gradient is `Σᵣ gₙᵣ ⊗ āₙᵣ`, which K-FAC factors as `G ⊗ A`.
    Kronecker,
    /// The per-feature scale `γ` and shift `β` of a normalisation layer (LayerNorm,
    /// BatchNorm): the taps are the normalised inputs `x̂ₙᵣ` and the output gradients `gₙᵣ`,
    /// both `width` wide, at each position; the per-sample gradient is
    /// `(Σᵣ gₙᵣ ⊙ x̂ₙᵣ, Σᵣ gₙᵣ)` (the shift part only with `bias`). There is no Kronecker
    /// structure: K-FAC and EKFAC keep the exact block (its diagonal by default).
    ScaleShift {
        /// Features d.
        width: usize,
        /// Whether there is a shift β.
        bias: bool,
    },
}

impl TapShape {
    pub fn num_params(&self) -> usize {
        self.out * (self.inp + usize::from(self.bias))
    }
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Bound::Linear($b) => $e,
            Bound::Conv($b) => $e,
            Bound::MaxPool($b) => $e,
            Bound::Average($b) => $e,
            Bound::Reshape($b) => $e,
            Bound::Activation($b) => $e,
            Bound::Norm($b) => $e,
            Bound::Fork($b) => $e,
            Bound::Join($b) => $e,
        }
    };
}

impl Bound {
    pub fn out_shape(&self) -> Vec<usize> {
        dispatch!(self, b => b.out_shape())
    }
    pub fn tap(&self) -> Option<TapShape> {
        match self {
            Bound::Linear(l) => Some(l.tap_shape()),
            Bound::Conv(c) => Some(c.tap_shape()),
            Bound::Norm(n) => n.tap_shape(),
            _ => None,
        }
    }
    /// Parameter tensors: (name suffix, shape), in `parameters()` order.
    pub fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        match self {
            Bound::Linear(l) => l.params(),
            Bound::Conv(c) => c.params(),
            Bound::Norm(n) => n.params(),
            _ => Vec::new(),
        }
    }
    pub fn forward(&self, p: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        dispatch!(self, b => b.forward(p, x))
    }
    /// Input gradient of stacked seeds `g` (M × out; M = K·N, row m belongs to sample m mod N).
    pub fn backward(&self, p: &[f64], cache: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        dispatch!(self, b => b.backward(p, cache, g))
    }
    /// [`Bound::backward`] consuming `g`: activations scale it in place.
    pub fn backward_owned(&self, p: &[f64], cache: &Cache, mut g: Mat<f64>) -> Mat<f64> {
        match self {
            Bound::Activation(_) => {
                activation::ActivationAt::scale_by_slopes(cache, &mut g);
                g
            }
            Bound::Reshape(_) | Bound::Fork(_) | Bound::Join(_) => g,
            other => other.backward(p, cache, g.as_ref()),
        }
    }
    /// For a tapped layer: the output gradients of stacked seeds reordered to one row per
    /// (seed, sample, location): (M·R) × O.
    pub fn tap_grads(&self, g: MatRef<'_, f64>) -> Mat<f64> {
        match self {
            Bound::Conv(c) => c.tap_grads(g),
            Bound::Linear(l) => l.tap_grads(g),
            Bound::Norm(n) => n.tap_grads(g),
            _ => g.to_owned(),
        }
    }
    /// `ẏ` from `ẋ` (None: the input does not depend on θ) and the layer's direction `v`.
    pub fn jvp(
        &self,
        p: &[f64],
        v: &[f64],
        cache: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        dispatch!(self, b => b.jvp(p, v, cache, xdot))
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, p: &[D], x: &[D]) -> Vec<D> {
        dispatch!(self, b => b.forward_dual(p, x))
    }
}

/// The cached tap inputs of a tapped layer: bias-folded inputs, or normalised inputs.
pub(crate) fn tapped(cache: &Cache) -> &Mat<f64> {
    match cache {
        Cache::Tapped(a) | Cache::Normalized { xhat: a, .. } => a,
        _ => unreachable!("a tapped layer always records its inputs"),
    }
}

/// `[x, 1]` (or `x` without bias).
pub(crate) fn fold_bias(x: MatRef<'_, f64>, bias: bool) -> Mat<f64> {
    let i = x.ncols();
    let mut a = Mat::<f64>::zeros(x.nrows(), i + usize::from(bias));
    a.as_mut().subcols_mut(0, i).copy_from(x);
    if bias {
        a.as_mut().col_mut(i).fill(1.0);
    }
    a
}

/// Weight (O × I, row-major in θ) of a tapped layer's parameter slice.
pub(crate) fn weight(p: &[f64], t: TapShape) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(&p[..t.out * t.inp], t.out, t.inp)
}

/// Bias of a tapped layer's parameter slice (empty without bias).
pub(crate) fn bias(p: &[f64], t: TapShape) -> &[f64] {
    if t.bias {
        &p[t.out * t.inp..t.out * (t.inp + 1)]
    } else {
        &[]
    }
}

/// `s = ā V̄ᵀ` for a direction `v` of a tapped layer (weight and bias folded): rows of ā
/// against the layer's weights and biases.
pub(crate) fn folded_affine(abar: MatRef<'_, f64>, v: &[f64], t: TapShape) -> Mat<f64> {
    let w = weight(v, t);
    let mut s = Mat::<f64>::zeros(abar.nrows(), t.out);
    crate::batch::gemm(
        s.as_mut(),
        faer::Accum::Replace,
        abar.subcols(0, t.inp),
        w.transpose(),
        1.0,
    );
    if t.bias {
        let b = bias(v, t);
        for (o, bo) in b.iter().enumerate() {
            for x in s.as_mut().col_mut(o).iter_mut() {
                *x += bo;
            }
        }
    }
    s
}

/// `dst = srcᵀ` by square tiles, so that neither side is walked with a large stride for long.
pub(crate) fn transpose_into(mut dst: faer::MatMut<'_, f64>, src: MatRef<'_, f64>) {
    debug_assert_eq!((dst.nrows(), dst.ncols()), (src.ncols(), src.nrows()));
    const TILE: usize = 32;
    let (rows, cols) = (src.nrows(), src.ncols());
    for j0 in (0..cols).step_by(TILE) {
        let j1 = (j0 + TILE).min(cols);
        for i0 in (0..rows).step_by(TILE) {
            let i1 = (i0 + TILE).min(rows);
            for i in i0..i1 {
                for j in j0..j1 {
                    dst[(j, i)] = src[(i, j)];
                }
            }
        }
    }
}

/// `srcᵀ` as a new matrix.
pub(crate) fn transposed(src: MatRef<'_, f64>) -> Mat<f64> {
    let mut t = Mat::<f64>::zeros(src.ncols(), src.nrows());
    transpose_into(t.as_mut(), src);
    t
}

/// `M × (R·w)` sample rows as `(M·R) × (w + extra)` position rows (row `m·R + r`), the extra
/// columns zero. A sample's entry `(r, j)` is at `r·w + j` (features last, as PyTorch lays out
/// `(…, w)`), or at `j·R + r` with `channel_major` (channels first, `(C, H, W)`).
pub(crate) fn to_positions(
    x: MatRef<'_, f64>,
    r: usize,
    extra: usize,
    channel_major: bool,
) -> Mat<f64> {
    let (n, w) = (x.nrows(), x.ncols() / r);
    let mut u = Mat::<f64>::zeros(n * r, w + extra);
    // feature outer: the R strided passes over one destination column stay in cache
    for j in 0..w {
        let dst = u
            .as_mut()
            .col_mut(j)
            .try_as_col_major_mut()
            .expect("contiguous")
            .as_slice_mut();
        for t in 0..r {
            let src = x.col(if channel_major { j * r + t } else { t * w + j });
            for (d, v) in dst[t..].iter_mut().step_by(r).zip(src.iter()) {
                *d = *v;
            }
        }
    }
    u
}

/// The inverse of [`to_positions`] (without extra columns): `(M·R) × w` into `M × (R·w)`.
pub(crate) fn from_positions(u: MatRef<'_, f64>, r: usize, channel_major: bool) -> Mat<f64> {
    let (m, w) = (u.nrows() / r, u.ncols());
    let mut x = Mat::<f64>::zeros(m, r * w);
    for j in 0..w {
        let col = u.col(j).to_owned();
        let src = col.try_as_col_major().expect("contiguous").as_slice();
        for t in 0..r {
            let dst = x
                .as_mut()
                .col_mut(if channel_major { j * r + t } else { t * w + j })
                .try_as_col_major_mut()
                .expect("contiguous")
                .as_slice_mut();
            for (d, v) in dst.iter_mut().zip(src[t..].iter().step_by(r)) {
                *d = *v;
            }
        }
    }
    x
}

/// Product of a shape's entries.
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The number of entries of `shape` if it is at most 2⁴⁰ (8 TB of float64).
pub(crate) fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= 1 << 40)
}

/// A spatial input `[C, L]` or `[C, H, W]` as `(C, H, W)` (H = 1 for one spatial axis).
pub(crate) fn spatial(
    input: &[usize],
    dims: usize,
    what: &str,
) -> Result<(usize, usize, usize), String> {
    match (dims, input) {
        (1, &[c, l]) => Ok((c, 1, l)),
        (2, &[c, h, w]) => Ok((c, h, w)),
        _ => Err(format!(
            "{what} takes inputs of shape ({}) per sample, got {input:?}",
            if dims == 1 { "C, L" } else { "C, H, W" }
        )),
    }
}

/// Entry of a window table that reads padding.
pub(crate) const PAD: u32 = u32::MAX;

/// The windows of a convolution or pool over a `(C, H, W)` input: for each output `(c, i, j)`,
/// the input indices its kernel positions `(kᵢ, kⱼ)` read (`PAD` where they read padding), as
/// `table[((c·Hₒ + i)·Wₒ + j)·k + kᵢ·k_w + kⱼ]`, with the output size `(Hₒ, Wₒ)`.
pub(crate) fn windows(
    (c, h, w): (usize, usize, usize),
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> Result<(usize, usize, Vec<u32>), String> {
    let shape = (c, h, w);
    let out = |a: usize, len: usize| window_out(len, kernel[a], stride[a], padding[a], dilation[a]);
    let (Some(ho), Some(wo)) = (out(0, h), out(1, w)) else {
        return Err(format!(
            "the window does not fit its input of shape {shape:?} (with padding {padding:?})"
        ));
    };
    let kk = kernel[0] * kernel[1];
    let entries = (c as u64) * (ho as u64) * (wo as u64) * (kk as u64);
    if (c * h * w) as u64 >= u64::from(PAD) || entries > 1 << 31 {
        return Err(format!("input of shape {shape:?} is too large"));
    }
    let mut t = Vec::with_capacity(entries as usize);
    for ci in 0..c {
        for oi in 0..ho {
            for oj in 0..wo {
                for ki in 0..kernel[0] {
                    for kj in 0..kernel[1] {
                        let ii = (oi * stride[0] + ki * dilation[0]) as isize - padding[0] as isize;
                        let jj = (oj * stride[1] + kj * dilation[1]) as isize - padding[1] as isize;
                        t.push(
                            if ii >= 0 && (ii as usize) < h && jj >= 0 && (jj as usize) < w {
                                (ci * h * w + ii as usize * w + jj as usize) as u32
                            } else {
                                PAD
                            },
                        );
                    }
                }
            }
        }
    }
    Ok((ho, wo, t))
}

/// Output length of a windowed axis (PyTorch's floor formula), or an error when the window does
/// not fit.
pub(crate) fn window_out(
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    let padded = len + 2 * padding;
    (padded >= span).then(|| (padded - span) / stride + 1)
}
