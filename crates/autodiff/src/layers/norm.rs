//! Normalisation layers: `nn.LayerNorm(normalized_shape, eps, elementwise_affine, bias)` over
//! the trailing axes, and `nn.BatchNorm1d` / `nn.BatchNorm2d` in evaluation mode, normalised
//! with the `running_mean` and `running_var` buffers.
//!
//! Both compute `y = γ ⊙ x̂ + β` feature by feature, with `x̂` the normalised input: over the
//! `d = numel(normalized_shape)` trailing entries of each of the `R` leading positions for
//! LayerNorm, `x̂ = (x − μ) / √(σ² + ε)` (biased variance, as PyTorch); per channel c with the
//! fixed statistics for BatchNorm, `x̂ = (x − m_c) / √(v_c + ε)` at each of the `R` spatial
//! positions. In training mode BatchNorm normalises with the statistics of the batch, which
//! couples the samples: the Fisher is then not a mean of per-sample terms, so only evaluation
//! mode is offered.
//!
//! The affine parameters `(γ, β)` are a **scale-and-shift tap**: the per-sample gradient is
//! `(Σᵣ gₙᵣ ⊙ x̂ₙᵣ, Σᵣ gₙᵣ)`, from the normalised inputs `x̂ₙᵣ` and the output gradients `gₙᵣ`
//! at each position (each a d-vector). It has no Kronecker structure; the curvature routes
//! treat it exactly (see `TapKind::ScaleShift`).

use super::{Cache, TapKind, TapShape, numel, to_positions};
use crate::DualNum;
use faer::{Mat, MatRef};

/// `nn.LayerNorm`: normalise over the trailing axes `normalized_shape` of each sample.
///
/// # Examples
/// A LayerNorm over the features of each of 4 tokens: its scale and shift are one tap.
/// ```
/// use fisherlab_autodiff::layers::{LayerNorm, Linear, MeanPool, Sequential};
/// let net = Sequential::new()
///     .push(LayerNorm::new(&[8]))
///     .push(Linear::new(8, 8, true))
///     .push(MeanPool { dim: 1 })
///     .build(&[4, 8])
///     .unwrap();
/// assert_eq!(net.param_tensors()[1].0, "0.bias");
/// assert!(net.taps()[0].is_scale_shift() && net.taps()[0].locations() == 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    /// The trailing axes normalised together (e.g. `[64]`).
    pub normalized_shape: Vec<usize>,
    /// Added to the variance (PyTorch's default 1e-5).
    pub eps: f64,
    /// Whether there is a per-entry scale `weight` (and, with `bias`, a shift).
    pub elementwise_affine: bool,
    /// Whether there is a shift `bias` (only with `elementwise_affine`).
    pub bias: bool,
}

impl LayerNorm {
    /// `nn.LayerNorm(normalized_shape)` with PyTorch's defaults: ε = 1e-5, scale and shift.
    pub fn new(normalized_shape: &[usize]) -> Self {
        Self {
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
        }
    }
    /// The same with another ε.
    #[must_use]
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// The same with or without the scale and shift (`elementwise_affine`) and the shift
    /// (`bias`).
    #[must_use]
    pub fn with_affine(mut self, elementwise_affine: bool, bias: bool) -> Self {
        self.elementwise_affine = elementwise_affine;
        self.bias = bias;
        self
    }
    pub(crate) fn bind(&self, input: &[usize]) -> Result<NormAt, String> {
        let k = self.normalized_shape.len();
        if k == 0 || self.normalized_shape.contains(&0) {
            return Err(format!(
                "normalized_shape {:?} must have at least one axis, none of length 0",
                self.normalized_shape
            ));
        }
        if input.len() < k || input[input.len() - k..] != self.normalized_shape[..] {
            return Err(format!(
                "normalized_shape {:?} must be the trailing axes of its input, of shape {input:?}",
                self.normalized_shape
            ));
        }
        check_eps(self.eps)?;
        if self.bias && !self.elementwise_affine {
            return Err("bias=True needs elementwise_affine=True".into());
        }
        let d = numel(&self.normalized_shape);
        Ok(NormAt {
            stats: Stats::Sample { eps: self.eps },
            d,
            r: numel(input) / d,
            channel_major: false,
            weight: self.elementwise_affine,
            bias: self.elementwise_affine && self.bias,
            shape: input.to_vec(),
            param_shape: self.normalized_shape.clone(),
        })
    }
}

/// `nn.BatchNorm1d` / `nn.BatchNorm2d` in evaluation mode: per channel,
/// `y = γ (x − running_mean) / √(running_var + ε) + β`. The buffers start as PyTorch's (mean 0,
/// variance 1) and are set from a weights file with [`super::Network::set_buffer`].
///
/// # Examples
/// ```
/// use fisherlab_autodiff::batch::forward;
/// use fisherlab_autodiff::layers::{BatchNorm, Flatten, Sequential};
/// let mut net = Sequential::new()
///     .push(BatchNorm::norm1d(2).with_eps(0.0))
///     .push(Flatten::default())
///     .build(&[2])
///     .unwrap();
/// net.set_buffer("0.running_mean", &[1.0, 0.0]).unwrap();
/// net.set_buffer("0.running_var", &[4.0, 1.0]).unwrap();
/// // γ = (1, 1), β = (0, 0): (3 − 1)/2 and (5 − 0)/1
/// let y = forward(&net, &[1.0, 1.0, 0.0, 0.0], faer::mat![[3.0, 5.0]].as_ref()).outputs;
/// assert_eq!((y[(0, 0)], y[(0, 1)]), (1.0, 5.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm {
    dims: usize,
    /// Channels C.
    pub num_features: usize,
    /// Added to the variance (PyTorch's default 1e-5).
    pub eps: f64,
    /// Whether there are a per-channel scale `weight` and (with `bias`) shift `bias`.
    pub affine: bool,
    /// Whether an affine layer has the shift (PyTorch ≥ 2.9's `bias`; default true).
    pub bias: bool,
}

impl BatchNorm {
    /// `nn.BatchNorm1d(C)`: inputs `(C,)` or `(C, L)` per sample.
    pub fn norm1d(num_features: usize) -> Self {
        Self {
            dims: 1,
            num_features,
            eps: 1e-5,
            affine: true,
            bias: true,
        }
    }
    /// `nn.BatchNorm2d(C)`: inputs `(C, H, W)` per sample.
    pub fn norm2d(num_features: usize) -> Self {
        Self {
            dims: 2,
            ..Self::norm1d(num_features)
        }
    }
    /// 1 or 2.
    pub fn dims(&self) -> usize {
        self.dims
    }
    /// The same with another ε.
    #[must_use]
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// The same with or without the scale and shift.
    #[must_use]
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }
    /// The same with or without the shift of an affine layer.
    #[must_use]
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    pub(crate) fn bind(&self, input: &[usize]) -> Result<NormAt, String> {
        let ok = match (self.dims, input.len()) {
            (1, 1 | 2) | (2, 3) => input[0] == self.num_features,
            _ => false,
        };
        if !ok || self.num_features == 0 {
            return Err(format!(
                "takes inputs of shape {} with C = {} per sample, got {input:?}",
                if self.dims == 1 {
                    "(C,) or (C, L)"
                } else {
                    "(C, H, W)"
                },
                self.num_features
            ));
        }
        check_eps(self.eps)?;
        let c = self.num_features;
        Ok(NormAt {
            stats: Stats::Running {
                eps: self.eps,
                mean: vec![0.0; c],
                var: vec![1.0; c],
                scale: vec![1.0 / (1.0 + self.eps).sqrt(); c],
            },
            d: c,
            r: numel(input) / c,
            channel_major: true,
            weight: self.affine,
            bias: self.affine && self.bias,
            shape: input.to_vec(),
            param_shape: vec![c],
        })
    }
}

fn check_eps(eps: f64) -> Result<(), String> {
    if eps.is_finite() && eps >= 0.0 {
        Ok(())
    } else {
        Err(format!("eps={eps} must be finite and >= 0"))
    }
}

/// Where the normalising statistics come from.
#[derive(Debug, Clone, PartialEq)]
enum Stats {
    /// Mean and variance of each position's d entries (LayerNorm).
    Sample { eps: f64 },
    /// Fixed per-feature statistics (BatchNorm in evaluation mode), with
    /// `scale = 1/√(var + ε)`.
    Running {
        eps: f64,
        mean: Vec<f64>,
        var: Vec<f64>,
        scale: Vec<f64>,
    },
}

/// A normalisation layer bound to its input shape. Positions rows: `(N·R) × d`, row `n·R + r`;
/// a sample's entry is `r·d + j` (LayerNorm: features last) or `j·R + r` (BatchNorm: channels
/// first).
#[derive(Debug, Clone)]
pub(crate) struct NormAt {
    stats: Stats,
    d: usize,
    r: usize,
    channel_major: bool,
    weight: bool,
    bias: bool,
    shape: Vec<usize>,
    param_shape: Vec<usize>,
}

impl NormAt {
    pub fn out_shape(&self) -> Vec<usize> {
        self.shape.clone()
    }
    /// The scale-and-shift tap, if the layer has parameters.
    pub fn tap_shape(&self) -> Option<TapShape> {
        self.weight.then(|| TapShape {
            out: self.d * (1 + usize::from(self.bias)),
            inp: 1,
            bias: false,
            locations: self.r,
            kind: TapKind::ScaleShift {
                width: self.d,
                bias: self.bias,
            },
        })
    }
    pub fn params(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut v = Vec::new();
        if self.weight {
            v.push(("weight", self.param_shape.clone()));
        }
        if self.bias {
            v.push(("bias", self.param_shape.clone()));
        }
        v
    }
    /// Buffers: `running_mean` and `running_var` (BatchNorm only), with their values.
    pub fn buffers(&self) -> Vec<(&'static str, Vec<f64>)> {
        match &self.stats {
            Stats::Running { mean, var, .. } => {
                vec![("running_mean", mean.clone()), ("running_var", var.clone())]
            }
            Stats::Sample { .. } => Vec::new(),
        }
    }
    /// Set a buffer (checked: C finite values, variances ≥ 0).
    pub fn set_buffer(&mut self, which: &str, values: &[f64]) -> Result<(), String> {
        let Stats::Running {
            eps,
            mean,
            var,
            scale,
        } = &mut self.stats
        else {
            return Err(format!("has no buffer `{which}`"));
        };
        if values.len() != self.d {
            return Err(format!(
                "buffer `{which}` has {} entries, the layer has {} channels",
                values.len(),
                self.d
            ));
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("buffer `{which}` entry {k} is {}", values[k]));
        }
        match which {
            "running_mean" => mean.copy_from_slice(values),
            "running_var" => {
                if let Some(k) = values.iter().position(|&v| v < 0.0 || v + *eps <= 0.0) {
                    return Err(format!(
                        "buffer `running_var` entry {k} is {}: a variance plus eps must be > 0",
                        values[k]
                    ));
                }
                var.copy_from_slice(values);
                for (s, v) in scale.iter_mut().zip(var.iter()) {
                    *s = 1.0 / (v + *eps).sqrt();
                }
            }
            other => return Err(format!("has no buffer `{other}`")),
        }
        Ok(())
    }
    /// Sample rows (M × R·d) as position rows ((M·R) × d).
    fn positions(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        to_positions(x, self.r, 0, self.channel_major)
    }
    /// Output gradients of stacked seeds, one row per (seed, sample, position).
    pub fn tap_grads(&self, g: MatRef<'_, f64>) -> Mat<f64> {
        self.positions(g)
    }
    /// Column of feature j at position t in sample rows.
    fn col(&self, t: usize, j: usize) -> usize {
        if self.channel_major {
            j * self.r + t
        } else {
            t * self.d + j
        }
    }
    fn gamma<'a>(&self, p: &'a [f64]) -> Option<&'a [f64]> {
        self.weight.then(|| &p[..self.d])
    }
    fn beta<'a>(&self, p: &'a [f64]) -> Option<&'a [f64]> {
        self.bias.then(|| &p[self.d..2 * self.d])
    }
    /// Multiply the columns of feature j by `s[j]` (sample rows).
    fn scale_features(&self, m: &mut Mat<f64>, s: &[f64]) {
        for t in 0..self.r {
            for (j, &sj) in s.iter().enumerate() {
                for v in m.as_mut().col_mut(self.col(t, j)).iter_mut() {
                    *v *= sj;
                }
            }
        }
    }
    /// `dst += x̂ ⊙ γ̇ + β̇` per feature (sample rows; row i pairs with x̂ row i).
    fn add_affine_direction(&self, dst: &mut Mat<f64>, v: &[f64], xhat: &Mat<f64>) {
        for t in 0..self.r {
            for j in 0..self.d {
                let c = self.col(t, j);
                let (w, b) = (v[j], if self.bias { v[self.d + j] } else { 0.0 });
                let xc = xhat.col(c);
                for (i, y) in dst.as_mut().col_mut(c).iter_mut().enumerate() {
                    *y += w * xc[i] + b;
                }
            }
        }
    }
    pub fn forward(&self, p: &[f64], x: MatRef<'_, f64>) -> (Mat<f64>, Cache) {
        let n = x.nrows();
        let mut xhat = x.to_owned();
        let mut rstd = Mat::<f64>::zeros(0, 0);
        match &self.stats {
            Stats::Sample { eps } => {
                // per position: the mean, then the biased variance over its d columns, each
                // column contiguous
                rstd = Mat::zeros(n, self.r);
                let inv_d = 1.0 / self.d as f64;
                let mut mean = vec![0.0; n];
                for t in 0..self.r {
                    mean.fill(0.0);
                    for j in 0..self.d {
                        for (m, v) in mean.iter_mut().zip(xhat.col(self.col(t, j)).iter()) {
                            *m += v;
                        }
                    }
                    let mut var = vec![0.0; n];
                    for j in 0..self.d {
                        let c = self.col(t, j);
                        for (i, v) in xhat.as_mut().col_mut(c).iter_mut().enumerate() {
                            *v -= mean[i] * inv_d;
                            var[i] += *v * *v;
                        }
                    }
                    for (i, v) in var.iter().enumerate() {
                        rstd[(i, t)] = 1.0 / (v * inv_d + eps).sqrt();
                    }
                    let rs = rstd.col(t);
                    for j in 0..self.d {
                        let c = self.col(t, j);
                        for (i, v) in xhat.as_mut().col_mut(c).iter_mut().enumerate() {
                            *v *= rs[i];
                        }
                    }
                }
            }
            Stats::Running { mean, scale, .. } => {
                for t in 0..self.r {
                    for j in 0..self.d {
                        let c = self.col(t, j);
                        for v in xhat.as_mut().col_mut(c).iter_mut() {
                            *v = (*v - mean[j]) * scale[j];
                        }
                    }
                }
            }
        }
        let mut y = xhat.clone();
        if let Some(g) = self.gamma(p) {
            self.scale_features(&mut y, g);
        }
        if let Some(b) = self.beta(p) {
            for t in 0..self.r {
                for (j, &bj) in b.iter().enumerate() {
                    for v in y.as_mut().col_mut(self.col(t, j)).iter_mut() {
                        *v += bj;
                    }
                }
            }
        }
        let tap = if self.weight {
            self.positions(xhat.as_ref())
        } else {
            Mat::zeros(0, 0)
        };
        (
            y,
            Cache::Normalized {
                xhat: tap,
                samples: xhat,
                rstd,
            },
        )
    }
    /// The normalisation's Jacobian applied to sample rows `u` (row i belongs to sample
    /// `i mod N` of the recorded pass): it is symmetric, so this serves the backward pass and the
    /// JVP. LayerNorm: `rstd (u − mean(u) − x̂ mean(u ⊙ x̂))` per position; BatchNorm:
    /// `u / √(v + ε)`.
    fn normalise_direction(&self, cache: &Cache, u: &mut Mat<f64>) {
        let Cache::Normalized {
            samples: xhat,
            rstd,
            ..
        } = cache
        else {
            unreachable!("a normalisation layer records its normalised inputs");
        };
        match &self.stats {
            Stats::Sample { .. } => {
                let (n, m, inv_d) = (xhat.nrows(), u.nrows(), 1.0 / self.d as f64);
                let (mut mu, mut mux) = (vec![0.0; m], vec![0.0; m]);
                for t in 0..self.r {
                    mu.fill(0.0);
                    mux.fill(0.0);
                    for j in 0..self.d {
                        let c = self.col(t, j);
                        let (uc, xc) = (u.col(c), xhat.col(c));
                        for i in 0..m {
                            let v = uc[i];
                            mu[i] += v;
                            mux[i] += v * xc[i % n];
                        }
                    }
                    let rs = rstd.col(t);
                    for j in 0..self.d {
                        let c = self.col(t, j);
                        let xc = xhat.col(c);
                        for (i, v) in u.as_mut().col_mut(c).iter_mut().enumerate() {
                            let q = i % n;
                            *v = rs[q] * (*v - inv_d * (mu[i] + xc[q] * mux[i]));
                        }
                    }
                }
            }
            Stats::Running { scale, .. } => self.scale_features(u, scale),
        }
    }
    pub fn backward(&self, p: &[f64], cache: &Cache, g: MatRef<'_, f64>) -> Mat<f64> {
        let mut u = g.to_owned();
        if let Some(gm) = self.gamma(p) {
            self.scale_features(&mut u, gm);
        }
        self.normalise_direction(cache, &mut u);
        u
    }
    pub fn jvp(
        &self,
        p: &[f64],
        v: &[f64],
        cache: &Cache,
        xdot: Option<MatRef<'_, f64>>,
    ) -> Option<Mat<f64>> {
        let Cache::Normalized { samples, .. } = cache else {
            unreachable!("a normalisation layer records its normalised inputs");
        };
        let mut y = xdot.map(|xd| {
            let mut u = xd.to_owned();
            self.normalise_direction(cache, &mut u);
            if let Some(g) = self.gamma(p) {
                self.scale_features(&mut u, g);
            }
            u
        });
        if self.weight {
            let dst = y.get_or_insert_with(|| Mat::zeros(samples.nrows(), samples.ncols()));
            self.add_affine_direction(dst, v, samples);
        }
        y
    }
    pub fn forward_dual<D: DualNum<Primitive = f64> + Copy>(&self, p: &[D], x: &[D]) -> Vec<D> {
        let (d, r) = (self.d, self.r);
        let at = |pos: usize, j: usize| {
            if self.channel_major {
                j * r + pos
            } else {
                pos * d + j
            }
        };
        let mut y = vec![D::from(0.0); x.len()];
        for pos in 0..r {
            let (mean, rstd): (Vec<D>, Vec<D>) = match &self.stats {
                Stats::Sample { eps } => {
                    let mut m = D::from(0.0);
                    for j in 0..d {
                        m += x[at(pos, j)];
                    }
                    let m = m / d as f64;
                    let mut v = D::from(0.0);
                    for j in 0..d {
                        let c = x[at(pos, j)] - m;
                        v += c * c;
                    }
                    let s = (v / d as f64 + *eps).sqrt().recip();
                    (vec![m; d], vec![s; d])
                }
                Stats::Running { mean, scale, .. } => (
                    mean.iter().map(|&m| D::from(m)).collect(),
                    scale.iter().map(|&s| D::from(s)).collect(),
                ),
            };
            for j in 0..d {
                let k = at(pos, j);
                let mut v = (x[k] - mean[j]) * rstd[j];
                if self.weight {
                    v *= p[j];
                }
                if self.bias {
                    v += p[d + j];
                }
                y[k] = v;
            }
        }
        y
    }
}
