//! The Fisher matrix of a model and its approximations, each a [`CurvatureOperator`].
//!
//! # One pattern
//!
//! Every route — the exact matrix, its Monte-Carlo and empirical variants, and every
//! approximation — is one type in one file of this module implementing [`Approximation`]: a
//! plain struct of settings whose [`build`](Approximation::build) turns a [`Problem`] (model,
//! parameters, inputs, optional targets) into an operator from `fisherlab-linalg`. The shared
//! machinery is [`Problem::for_each_chunk`]: it streams the inputs in chunks and hands over, per
//! chunk, the curvature taps of every layer linear in its weights — the bias-folded inputs
//! `āₙᵣ` at each of its R shared locations and the back-propagated vectors `g̃ₙₖᵣ` of each
//! seed `k` — the seeds being the columns of `Lₙ` ([`Labels::Type2`]), the score
//! `∇_z log p(y | zₙ)` at sampled labels ([`Labels::Mc`]) or at the observed ones
//! ([`Labels::Empirical`]). For a dense layer (R = 1) the per-sample gradient for seed k is
//! `g̃ₙₖₗ ⊗ āₙₗ`, so
//!
//! `F_lm = (1/N) Σₙ Σₖ wₖ (g̃ₙₖₗ g̃ₙₖₘᵀ) ⊗ (āₙₗ āₙₘᵀ)`
//!
//! in the bias-folded order `(r, c)` ↦ `r·(Iₗ + 1) + c` of each layer (see [`folded_to_public`]);
//! for a layer shared over R > 1 locations (a convolution) it is `Σᵣ g̃ₙₖᵣ ⊗ āₙᵣ`
//! ([`ChunkTaps::per_sample_gradients`]), and the routes contract over r first. A normalisation
//! layer's scale and shift is a third kind of tap ([`TapInfo::is_scale_shift`]): per-sample
//! gradient `(Σᵣ g̃ₙₖᵣ ⊙ x̂ₙᵣ, Σᵣ g̃ₙₖᵣ)`, formed the same way and treated as a layer whose
//! per-sample gradient is not rank one.
//! Each approximation keeps what it needs of that sum: all of it ([`DenseFisher`]), its
//! diagonal ([`DiagonalFisher`]), its diagonal blocks ([`BlockDiagonalFisher`]), the two
//! factor means ([`Kfac`]), the second moments in the K-FAC eigenbasis ([`Ekfac`]). Adding an
//! approximation is one new file with one struct and one `impl Approximation`.
//!
//! # Examples
//! ```
//! use faer::Mat;
//! use fisherlab_autodiff::network::Mlp;
//! use fisherlab_distributions::heads::Head;
//! use fisherlab_fisher::curvature::{Approximation, DenseFisher, Kfac, Labels, Problem};
//! use fisherlab_fisher::model::Model;
//! use fisherlab_linalg::CurvatureOperator;
//! let model = Model::new(Mlp::parse("3,4,2", "tanh").unwrap(), Head::Categorical).unwrap();
//! let theta: Vec<f64> = (0..model.num_params()).map(|k| (k as f64 * 0.7).sin()).collect();
//! let x = Mat::from_fn(1, 3, |_, j| j as f64 - 1.0);
//! let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
//! let exact = DenseFisher::new(Labels::Type2).build(&problem).unwrap().to_dense().unwrap();
//! let kfac = Kfac::new(Labels::Type2).build(&problem).unwrap().to_dense().unwrap();
//! // for one input, type-2 K-FAC is exact on the diagonal blocks: layer 0 has 16 parameters
//! let block = |m: &Mat<f64>| m.as_ref().submatrix(0, 0, 16, 16).to_owned();
//! assert!((block(&exact) - block(&kfac)).norm_max() < 1e-14);
//! ```

mod block_diagonal;
mod dense;
mod diagonal;
mod ekfac;
mod generic;
mod gram;
mod kfac;
mod layer_isotropic;
mod low_rank;
mod matrix_free;
mod registry;
mod statistics;

pub use block_diagonal::BlockDiagonalFisher;
pub use dense::DenseFisher;
pub use diagonal::DiagonalFisher;
pub use ekfac::{
    Ekfac, accumulate_scalings, ekfac_bases, ekfac_operator, ekfac_scalings, zero_scalings,
};
pub use generic::{ExactFisherOptions, JacobianRoute, exact_fisher};
pub use gram::GramFisher;
pub use kfac::{Kfac, KfacApprox, KfacFactors, ScaleShiftBlock, kfac_operator};
pub use layer_isotropic::LayerIsotropic;
pub use low_rank::{LowRank, LowRankMethod};
pub use matrix_free::MatrixFreeFisher;
pub use registry::{
    CatalogueEntry, CatalogueOptions, EntrySpec, Kind, KindLabels, KindOptions, catalogue, kind,
    kinds,
};

use crate::model::Model;
use crate::rows::copy_row;
use crate::seeds::{factor_seeds, sample_rng, score_seed};
use crate::{Error, Result};
use faer::{Mat, MatRef};
use fisherlab_autodiff::batch;
use fisherlab_autodiff::layers::TapInfo;
use fisherlab_distributions::FisherRng;
use fisherlab_linalg::CurvatureOperator;

/// A way to turn a model's Fisher into a curvature operator: the one trait every route and
/// approximation implements (see the module documentation).
pub trait Approximation {
    /// Short name, as on the command line (`kfac`, `diag`, …).
    fn name(&self) -> &'static str;
    /// The operator for this problem, in the public parameter order.
    ///
    /// # Errors
    /// Options that break their rules; a route that needs targets given none; numerical
    /// failures of the linear algebra.
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>>;
    /// Bytes of what [`build`](Self::build) holds at its peak, computed from the sizes alone
    /// (`None` when they overflow). The large routes [`reserve`](memory_check) it before
    /// allocating, and a command line lists the routes whose need fits the budget. The default
    /// is a few parameter vectors: override it for anything larger.
    fn memory_bytes(&self, problem: &Problem<'_>) -> Option<u64> {
        vector_bytes(problem, 4)
    }
    /// [`build`](Self::build) with exact Fisher-vector products at hand: a route that needs
    /// them (the randomized low rank) takes them from `products` instead of building its own
    /// matrix-free operator; every other route ignores it (the default).
    ///
    /// # Errors
    /// As [`build`](Self::build).
    fn build_with_products(
        &self,
        problem: &Problem<'_>,
        products: &dyn CurvatureOperator,
    ) -> Result<Box<dyn CurvatureOperator>> {
        let _ = products;
        self.build(problem)
    }
}

/// Bytes of `copies` parameter vectors of the problem.
pub(crate) fn vector_bytes(problem: &Problem<'_>, copies: u64) -> Option<u64> {
    (problem.model().num_params() as u64)
        .checked_mul(copies)?
        .checked_mul(fisherlab_linalg::memory::F64_BYTES)
}

/// Refuse `approx` on `problem` before allocating when its
/// [`memory_bytes`](Approximation::memory_bytes) exceed the budget of
/// [`fisherlab_linalg::memory`].
///
/// # Errors
/// [`fisherlab_linalg::Error::TooLarge`], wrapped.
pub fn memory_check(approx: &(impl Approximation + ?Sized), problem: &Problem<'_>) -> Result<()> {
    let p = problem.model().num_params();
    fisherlab_linalg::memory::reserve(
        format!("--kind {} at P = {p}", approx.name()),
        approx.memory_bytes(problem),
    )
    .map_err(|e| Error::Linalg(e.into()))?;
    Ok(())
}

/// Bytes of the Σₗ (aₗ² + gₗ²) numbers of per-layer Kronecker factors, `copies` times.
pub(crate) fn factor_bytes(problem: &Problem<'_>, copies: u64) -> Option<u64> {
    let mut n: u64 = 0;
    for t in problem.model().net().taps() {
        let (a, g) = (t.folded_inp() as u64, t.out() as u64);
        n = n.checked_add(a.checked_mul(a)?.checked_add(g.checked_mul(g)?)?)?;
    }
    n.checked_mul(copies)?
        .checked_mul(fisherlab_linalg::memory::F64_BYTES)
}

/// Which Fisher: where the labels behind the output-side vectors come from. One vocabulary for
/// the library, the optimizers, the command line (`--kfac-type`), the JSON and the docs — the
/// three Fisher types of the K-FAC literature (curvlinops' `FisherType`):
///
/// | variant | name | labels |
/// |---|---|---|
/// | [`Labels::Type2`] | `type2` | the expectation over `y ~ p(y | zₙ)` in closed form: the Fisher itself |
/// | [`Labels::Mc`] | `mc` | `per_input` labels per input drawn from the model |
/// | [`Labels::Empirical`] | `empirical` | the observed targets |
///
/// "Exact" elsewhere means *not approximated*: the exact Fisher is the dense `type2` matrix.
///
/// # Examples
/// ```
/// use fisherlab_fisher::curvature::Labels;
/// for name in Labels::NAMES {
///     assert_eq!(Labels::from_name(name, 4, 7).unwrap().name(), name);
/// }
/// assert_eq!(Labels::from_name("mc", 4, 7).unwrap(), Labels::Mc { per_input: 4, seed: 7 });
/// assert!(Labels::from_name("exact", 1, 0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// `type2`: the expectation over `y ~ p(y | zₙ)` in closed form: seeds are the columns of
    /// `Lₙ` (`F_z = L Lᵀ`); C backward passes per chunk. The Fisher itself.
    Type2,
    /// `mc`: labels drawn from the model, `per_input` per input, seeded exactly like
    /// [`crate::model::monte_carlo_fisher`] (input n's stream depends on `(seed, n)` only):
    /// seeds are the scores `∇_z log p(yₙₘ | zₙ)` with weight `1/per_input`.
    Mc {
        /// Labels per input (≥ 1).
        per_input: usize,
        /// Seed.
        seed: u64,
    },
    /// `empirical`: the observed targets of the problem (the empirical Fisher).
    Empirical,
}

impl Labels {
    /// The names, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["type2", "mc", "empirical"];

    /// The name: `type2`, `mc`, `empirical`.
    pub fn name(&self) -> &'static str {
        match self {
            Labels::Type2 => "type2",
            Labels::Mc { .. } => "mc",
            Labels::Empirical => "empirical",
        }
    }

    /// The labels called `name`, `mc` with `per_input` labels per input and `seed`.
    ///
    /// # Errors
    /// A name not in [`Labels::NAMES`]; `mc` with `per_input = 0`.
    pub fn from_name(name: &str, per_input: usize, seed: u64) -> Result<Self> {
        match name {
            "type2" => Ok(Labels::Type2),
            "mc" if per_input == 0 => Err(Error::InvalidOption {
                name: "per_input",
                value: "0".into(),
                rule: "must be >= 1",
            }),
            "mc" => Ok(Labels::Mc { per_input, seed }),
            "empirical" => Ok(Labels::Empirical),
            _ => Err(Error::InvalidOption {
                name: "labels",
                value: name.into(),
                rule: "one of type2, mc, empirical",
            }),
        }
    }

    /// The same labels with `mc`'s samples per input and seed replaced (the others unchanged).
    pub fn with_samples(self, per_input: usize, seed: u64) -> Self {
        match self {
            Labels::Mc { .. } => Labels::Mc { per_input, seed },
            other => other,
        }
    }
}

impl serde::Serialize for Labels {
    /// As its name.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A model at parameters θ with its inputs (N × d) and optionally targets (N × target width).
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    model: &'a Model,
    theta: &'a [f64],
    x: MatRef<'a, f64>,
    targets: Option<MatRef<'a, f64>>,
    chunk: usize,
    forward: Option<&'a batch::Forward>,
}

/// One chunk of samples as [`Problem::for_each_chunk`] hands it over: the curvature taps of
/// every layer linear in its weights ([`TapInfo`]), in forward order.
///
/// For tap t with `R` shared locations, row `s·R + r` of `abar[t]` and of `grads[k][t]` belongs to
/// sample s of the chunk at location r; the per-sample gradient for seed k is
/// `Σᵣ gₛₖᵣ ⊗ āₛᵣ` (a rank-one `g ⊗ ā` when R = 1).
#[derive(Debug)]
pub struct ChunkTaps<'a> {
    /// Bias-folded inputs of each tapped layer, `[aₙᵣ, 1]` ((n·R) × (I + bias)); for a
    /// scale-and-shift tap the normalised inputs `x̂ₙᵣ` ((n·R) × d).
    pub abar: Vec<MatRef<'a, f64>>,
    /// `grads[k][t]`: back-propagated output gradients of seed k at tap t ((n·R) × O, or
    /// (n·R) × d for a scale-and-shift tap).
    pub grads: Vec<Vec<MatRef<'a, f64>>>,
    /// `stacked[t]`: those of every seed at tap t, seed after seed ((K·n·R) × O).
    pub stacked: Vec<MatRef<'a, f64>>,
    /// Weight of every seed (1, or `1/per_input` for sampled labels).
    pub weight: f64,
    /// The tapped layers.
    pub taps: &'a [TapInfo],
    /// Samples in the chunk.
    pub len: usize,
}

impl ChunkTaps<'_> {
    /// Per-sample gradients of tap t for every seed, `Gₛₖ = Σᵣ gₛₖᵣ āₛᵣᵀ`, one row per
    /// `(s, k)` (row `s·K + k`) in the folded order `(o, c) ↦ o·(I + bias) + c`; with a basis
    /// `(Q_G, Q_A)` the rotated `Q_Gᵀ Gₛₖ Q_A` instead.
    pub fn per_sample_gradients(
        &self,
        t: usize,
        basis: Option<(&Mat<f64>, &Mat<f64>)>,
    ) -> Mat<f64> {
        let tap = &self.taps[t];
        let (o, f) = (tap.out(), tap.folded_inp());
        let k = self.grads.len();
        let mut out = Mat::<f64>::zeros(self.len * k, o * f);
        self.for_each_sample_gradient(t, basis, |s, m| {
            for kk in 0..k {
                let row = s * k + kk;
                for oo in 0..o {
                    for c in 0..f {
                        out[(row, oo * f + c)] = m[(kk * o + oo, c)];
                    }
                }
            }
        });
        out
    }
    /// Call `f(s, M)` for every sample s of the chunk with its per-sample gradients for all seeds
    /// stacked, `M = [G_s1; …; G_sK]` ((K·O) × (I + bias)), `G_sk = Σᵣ g_skr ā_srᵀ` (rotated by
    /// the basis if one is given): one GEMM per sample, nothing of size n·K·P materialised.
    pub fn for_each_sample_gradient(
        &self,
        t: usize,
        basis: Option<(&Mat<f64>, &Mat<f64>)>,
        mut f: impl FnMut(usize, MatRef<'_, f64>),
    ) {
        let tap = &self.taps[t];
        if tap.is_scale_shift() {
            return self.for_each_scale_shift_gradient(t, basis, f);
        }
        let (r, o, width) = (tap.locations(), tap.out(), tap.folded_inp());
        let k = self.grads.len();
        let a = match basis {
            Some((_, qa)) => fisherlab_linalg::product(self.abar[t], qa.as_ref()),
            None => self.abar[t].to_owned(),
        };
        let gs: Vec<Mat<f64>> = self
            .grads
            .iter()
            .map(|g| match basis {
                Some((qg, _)) => fisherlab_linalg::product(g[t], qg.as_ref()),
                None => g[t].to_owned(),
            })
            .collect();
        let mut stacked = Mat::<f64>::zeros(r, k * o);
        let mut m = Mat::<f64>::zeros(k * o, width);
        for s in 0..self.len {
            for (kk, g) in gs.iter().enumerate() {
                stacked
                    .as_mut()
                    .subcols_mut(kk * o, o)
                    .copy_from(g.as_ref().subrows(s * r, r));
            }
            batch::gemm(
                m.as_mut(),
                faer::Accum::Replace,
                stacked.transpose(),
                a.as_ref().subrows(s * r, r),
                1.0,
            );
            f(s, m.as_ref());
        }
    }
    /// [`ChunkTaps::for_each_sample_gradient`] for a scale-and-shift tap: per sample and seed
    /// the column `(Σᵣ g ⊙ x̂, Σᵣ g)` (in the public order), stacked seed after seed into a
    /// (K·P) × 1 matrix, rotated to `Q_Gᵀ v · Q_A` by a basis.
    fn for_each_scale_shift_gradient(
        &self,
        t: usize,
        basis: Option<(&Mat<f64>, &Mat<f64>)>,
        mut f: impl FnMut(usize, MatRef<'_, f64>),
    ) {
        let tap = &self.taps[t];
        let fisherlab_autodiff::layers::TapKind::ScaleShift { width: d, bias } = tap.kind() else {
            unreachable!("called for scale-and-shift taps");
        };
        let (r, p) = (tap.locations(), tap.out());
        let k = self.grads.len();
        let xhat = self.abar[t];
        let mut v = Mat::<f64>::zeros(p, k);
        let mut m = Mat::<f64>::zeros(k * p, 1);
        for s in 0..self.len {
            for (kk, g) in self.grads.iter().enumerate() {
                let g = g[t];
                for j in 0..d {
                    let (gc, xc) = (g.col(j), xhat.col(j));
                    let (mut w, mut b) = (0.0, 0.0);
                    for row in s * r..(s + 1) * r {
                        w += gc[row] * xc[row];
                        b += gc[row];
                    }
                    v[(j, kk)] = w;
                    if bias {
                        v[(d + j, kk)] = b;
                    }
                }
            }
            let rotated;
            let cols = match basis {
                Some((qg, qa)) => {
                    rotated = fisherlab_linalg::product(qg.transpose(), v.as_ref())
                        * faer::Scale(qa[(0, 0)]);
                    rotated.as_ref()
                }
                None => v.as_ref(),
            };
            for kk in 0..k {
                m.as_mut()
                    .col_mut(0)
                    .subrows_mut(kk * p, p)
                    .copy_from(cols.col(kk));
            }
            f(s, m.as_ref());
        }
    }
    /// Per-sample gradient rows of tap t times `factor` (row `s·K + k`), columns in the
    /// layer's public order (weight row-major, then bias).
    pub fn layer_gradient_rows(&self, t: usize, factor: f64) -> Mat<f64> {
        let tap = &self.taps[t];
        let folded = self.per_sample_gradients(t, None);
        let f = tap.folded_inp();
        let mut out = Mat::<f64>::zeros(folded.nrows(), tap.num_params());
        for o in 0..tap.out() {
            for c in 0..f {
                let dst = tap.public_index(o, c) - tap.offset;
                for (d, v) in out
                    .as_mut()
                    .col_mut(dst)
                    .iter_mut()
                    .zip(folded.col(o * f + c).iter())
                {
                    *d = factor * v;
                }
            }
        }
        out
    }
    /// The per-sample, per-seed gradient rows `∂(wₛₖᵀ zₛ)/∂θ` of the whole network (row
    /// `s·K + k`, P columns in the public order), seed weights not applied. With the seeds of
    /// [`Labels::Type2`] these are the rows `Lₛᵀ Jₛ`.
    pub fn gradient_rows(&self, p: usize) -> Mat<f64> {
        let k = self.grads.len();
        let mut out = Mat::<f64>::zeros(self.len * k, p);
        for (t, tap) in self.taps.iter().enumerate() {
            out.as_mut()
                .subcols_mut(tap.offset, tap.num_params())
                .copy_from(self.layer_gradient_rows(t, 1.0));
        }
        out
    }
}

/// Samples per chunk of [`Problem::jacobian_rows`]: its transient copy of a chunk's rows
/// holds at most about [`TAP_BUDGET`] numbers.
pub(crate) fn jacobian_chunk(problem: &Problem<'_>) -> usize {
    let per_sample = problem.model().num_params() * problem.model().net().output_dim();
    problem
        .chunk_size()
        .min((TAP_BUDGET / per_sample.max(1)).max(1))
}

/// Numbers a chunk may hold in taps (about 256 MB): bounds the chunk size of networks whose
/// layers share weights over many locations.
pub(crate) const TAP_BUDGET: usize = 1 << 25;

/// Samples per chunk of every streamed route ([`Problem`]'s default, the generic
/// [`exact_fisher`]'s, the dense fast path's): memory is about
/// `chunk · (C + 1) · Σ widths` plus what the route keeps.
pub const DEFAULT_CHUNK: usize = 256;

impl<'a> Problem<'a> {
    /// A problem without targets (enough for every route but [`Labels::Empirical`]).
    ///
    /// # Errors
    /// Parameters or inputs that do not fit the model, or are not finite ([`Model::check`]).
    pub fn new(model: &'a Model, theta: &'a [f64], x: MatRef<'a, f64>) -> Result<Self> {
        model.check(theta, x)?;
        Ok(Self {
            model,
            theta,
            x,
            targets: None,
            chunk: DEFAULT_CHUNK,
            forward: None,
        })
    }
    /// The same problem with observed targets.
    ///
    /// # Errors
    /// Targets of the wrong shape or out of the head's range (naming the row).
    pub fn with_targets(mut self, y: MatRef<'a, f64>) -> Result<Self> {
        crate::model::check_all_targets(self.model, self.x, y)?;
        self.targets = Some(y);
        Ok(self)
    }
    /// The same problem streamed in chunks of `chunk` samples (default [`DEFAULT_CHUNK`]): memory of the
    /// streamed routes is about `chunk · (C + 1) · Σ widths` plus what the route keeps.
    ///
    /// # Errors
    /// `chunk = 0`.
    pub fn with_chunk(mut self, chunk: usize) -> Result<Self> {
        if chunk == 0 {
            return Err(Error::InvalidOption {
                name: "chunk",
                value: "0".into(),
                rule: "must be >= 1",
            });
        }
        self.chunk = chunk;
        Ok(self)
    }
    /// The same problem reusing a recorded forward pass of the network at θ over all the inputs
    /// (e.g. the one that gave the loss gradient): streamed routes then run one chunk of all N
    /// inputs and skip their own forward pass.
    ///
    /// # Errors
    /// A pass whose shapes do not match the inputs and network.
    pub fn with_forward(mut self, forward: &'a batch::Forward) -> Result<Self> {
        let net = self.model.net();
        let ok = forward.outputs.nrows() == self.len() && forward.fits(net);
        if !ok {
            return Err(Error::InvalidInput {
                what: format!(
                    "recorded forward pass has {}x{} outputs, the problem {}x{}",
                    forward.outputs.nrows(),
                    forward.outputs.ncols(),
                    self.len(),
                    net.output_dim()
                ),
            });
        }
        self.forward = Some(forward);
        self.chunk = self.len();
        Ok(self)
    }
    /// The model.
    pub fn model(&self) -> &'a Model {
        self.model
    }
    /// The parameters.
    pub fn theta(&self) -> &'a [f64] {
        self.theta
    }
    /// The inputs.
    pub fn inputs(&self) -> MatRef<'a, f64> {
        self.x
    }
    /// The targets, if given.
    pub fn targets(&self) -> Option<MatRef<'a, f64>> {
        self.targets
    }
    /// The recorded forward pass given by [`with_forward`](Self::with_forward), if any.
    pub fn forward(&self) -> Option<&'a batch::Forward> {
        self.forward
    }
    /// Samples per chunk.
    pub fn chunk_size(&self) -> usize {
        self.chunk
    }
    /// Number of inputs N.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }
    /// Always false: a problem has at least one input.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// The rows `Lₙᵀ Jₙ` of every input (N·K × P, public order; row `n·K + k`), chunk after
    /// chunk: the per-sample Jacobians seen through the output Fisher's factor, whose Gram
    /// matrix `(1/N) UᵀU` is the exact Fisher.
    ///
    /// # Errors
    /// As [`Problem::for_each_chunk`].
    pub fn jacobian_rows(&self) -> Result<Mat<f64>> {
        let p = self.model.num_params();
        let k = self.model.net().output_dim();
        let n = self.len();
        // the result is written in place, chunk by chunk; the chunks' own copies stay small
        let problem = self.with_chunk(jacobian_chunk(self))?;
        let mut rows = Mat::<f64>::zeros(n * k, p);
        let mut at = 0;
        problem.for_each_chunk(Labels::Type2, |chunk| {
            let c = chunk.gradient_rows(p);
            rows.as_mut().subrows_mut(at, c.nrows()).copy_from(&c);
            at += c.nrows();
            Ok(())
        })?;
        Ok(rows)
    }

    /// The labels [`Labels::Mc`] draws: `result[m]` holds the m-th label of every input
    /// (N × target width), so that a Monte-Carlo route with one label per input equals the
    /// empirical route at `result[0]` (a test of the sampling plumbing, and a way to see the
    /// labels).
    ///
    /// # Errors
    /// `per_input = 0`.
    pub fn sampled_labels(&self, per_input: usize, seed: u64) -> Result<Vec<Mat<f64>>> {
        positive("mc-samples", per_input)?;
        let net = self.model.net();
        let head = self.model.head();
        let z = batch::forward(net, self.theta, self.x).outputs;
        let (n, c) = (z.nrows(), z.ncols());
        let width = head.target_dim(c);
        let mut out = vec![Mat::<f64>::zeros(n, width); per_input];
        let (mut zi, mut y) = (vec![0.0; c], vec![0.0; width]);
        for i in 0..n {
            let mut rng = sample_rng(seed, i);
            copy_row(z.as_ref(), i, &mut zi);
            for labels in out.iter_mut() {
                head.sample(&zi, &mut rng, &mut y);
                for (j, v) in y.iter().enumerate() {
                    labels[(i, j)] = *v;
                }
            }
        }
        Ok(out)
    }

    /// Stream the inputs in chunks: one forward pass per chunk, the seeds of `labels`, one
    /// backward pass per seed, then `f(chunk)`. Chunks come in order; results do not depend on
    /// the chunk size beyond rounding, nor on the thread count.
    ///
    /// # Errors
    /// [`Labels::Empirical`] without targets; `per_input = 0`; whatever `f` returns.
    pub fn for_each_chunk(
        &self,
        labels: Labels,
        f: impl FnMut(&ChunkTaps) -> Result<()>,
    ) -> Result<()> {
        self.for_each_seeded_chunk(Some(labels), f)
    }

    /// The output Jacobians `Jₙ = ∂zₙ/∂θ` of every input (N·C × P, public order; row `n·C + c`
    /// is `∂zₙ꜀/∂θ`): one backward pass per output, chunk after chunk. Refused before
    /// allocating when N·C × P does not fit the memory budget.
    ///
    /// # Errors
    /// [`fisherlab_linalg::Error::TooLarge`] (wrapped) when the result does not fit.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_autodiff::network::Mlp;
    /// use fisherlab_distributions::heads::Head;
    /// use fisherlab_fisher::curvature::Problem;
    /// use fisherlab_fisher::model::Model;
    /// // a linear map z = W x + b: ∂z_c/∂W[c, j] = x_j, ∂z_c/∂b[c] = 1
    /// let model = Model::new(Mlp::parse("2,2", "tanh").unwrap(), Head::Categorical).unwrap();
    /// let theta = vec![0.5; model.num_params()];
    /// let x = faer::mat![[3.0, -1.0]];
    /// let j = Problem::new(&model, &theta, x.as_ref()).unwrap().output_jacobian().unwrap();
    /// assert_eq!((j.nrows(), j.ncols()), (2, 6));
    /// // parameters: W (2 × 2) row-major, then b
    /// assert_eq!(j.row(1).iter().copied().collect::<Vec<_>>(), vec![0.0, 0.0, 3.0, -1.0, 0.0, 1.0]);
    /// ```
    pub fn output_jacobian(&self) -> Result<Mat<f64>> {
        let p = self.model.num_params();
        let c = self.model.net().output_dim();
        let n = self.len();
        fisherlab_linalg::memory::reserve(
            format!("the output Jacobian ({n} × {c} × {p})"),
            fisherlab_linalg::memory::dense_copies_bytes(1, n * c, p),
        )
        .map_err(|e| Error::Linalg(e.into()))?;
        let problem = self.with_chunk(jacobian_chunk(self))?;
        let mut rows = Mat::<f64>::zeros(n * c, p);
        let mut at = 0;
        problem.for_each_seeded_chunk(None, |chunk| {
            let r = chunk.gradient_rows(p);
            rows.as_mut().subrows_mut(at, r.nrows()).copy_from(&r);
            at += r.nrows();
            Ok(())
        })?;
        Ok(rows)
    }

    /// [`Problem::for_each_chunk`] with the seeds of `labels`, or (`None`) the unit vectors of
    /// the output space: the rows of the output Jacobian.
    fn for_each_seeded_chunk(
        &self,
        labels: Option<Labels>,
        mut f: impl FnMut(&ChunkTaps) -> Result<()>,
    ) -> Result<()> {
        let identity = labels.is_none();
        let labels = labels.unwrap_or(Labels::Type2);
        if let Labels::Mc { per_input: 0, .. } = labels {
            return Err(Error::InvalidOption {
                name: "mc-samples",
                value: "0".into(),
                rule: "must be >= 1",
            });
        }
        let targets = match (labels, self.targets) {
            (Labels::Empirical, None) => {
                return Err(Error::InvalidInput {
                    what: "the empirical variant needs targets (observed labels); none were given"
                        .into(),
                });
            }
            (_, t) => t,
        };
        let net = self.model.net();
        let head = self.model.head();
        let n = self.len();
        // seeds per input: C columns of L at most, one score per sampled or observed label
        let seeds = match labels {
            _ if identity => net.output_dim(),
            Labels::Type2 => net.output_dim(),
            Labels::Mc { per_input, .. } => per_input,
            Labels::Empirical => 1,
        };
        let per_sample: usize = net
            .taps()
            .iter()
            .map(|t| {
                let (a, g) = t.widths();
                t.locations() * (a + seeds * g)
            })
            .sum();
        let chunk = self.chunk.min((TAP_BUDGET / per_sample.max(1)).max(1));
        let chunk = if self.forward.is_some() {
            self.chunk
        } else {
            chunk
        };
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            let x = self.x.subrows(start, len);
            let owned;
            let fwd = match self.forward {
                Some(f) if len == n => f,
                _ => {
                    owned = batch::forward(net, self.theta, x);
                    &owned
                }
            };
            let (seeds, weight) = match labels {
                _ if identity => {
                    let c = fwd.outputs.ncols();
                    let seeds = (0..c)
                        .map(|k| Mat::from_fn(len, c, |_, j| if j == k { 1.0 } else { 0.0 }))
                        .collect();
                    (seeds, 1.0)
                }
                Labels::Type2 => (factor_seeds(head, &fwd.outputs), 1.0),
                Labels::Empirical => {
                    let y = targets.map(|t| t.subrows(start, len)).ok_or_else(|| {
                        Error::InvalidInput {
                            what: "no targets".into(),
                        }
                    })?;
                    (
                        vec![score_seed(head, &fwd.outputs, |i, buf| copy_row(y, i, buf))],
                        1.0,
                    )
                }
                Labels::Mc { per_input, seed } => {
                    let mut rngs: Vec<FisherRng> =
                        (start..start + len).map(|i| sample_rng(seed, i)).collect();
                    let c = net.output_dim();
                    let mut z = vec![0.0; c];
                    let seeds = (0..per_input)
                        .map(|_| {
                            score_seed(head, &fwd.outputs, |i, buf| {
                                copy_row(fwd.outputs.as_ref(), i, &mut z);
                                head.sample(&z, &mut rngs[i], buf);
                            })
                        })
                        .collect();
                    (seeds, 1.0 / per_input as f64)
                }
            };
            let k = seeds.len();
            let stacked = batch::backward_many(net, self.theta, fwd, &seeds);
            let grads = (0..k)
                .map(|j| {
                    stacked
                        .iter()
                        .map(|m| {
                            let rows = m.nrows() / k;
                            m.as_ref().subrows(j * rows, rows)
                        })
                        .collect()
                })
                .collect();
            let abar = (0..net.taps().len())
                .map(|t| fwd.tap_inputs(net, t))
                .collect();
            f(&ChunkTaps {
                abar,
                grads,
                stacked: stacked.iter().map(|m| m.as_ref()).collect(),
                weight,
                taps: net.taps(),
                len,
            })?;
        }
        Ok(())
    }
}

/// Add `scale · w · (Σₖ ĝₖ∘ĝₖ)ᵀ (â∘â)` to `acc` (outₗ × (inₗ + 1)) for layer `l` of a chunk,
/// with `ĝₖ = g̃ₖ Q_G` and `â = ā Q_A` in the basis `(Q_G, Q_A)`, or the vectors themselves
/// without one: the per-entry second moments of the per-sample gradients `g̃ₖ ⊗ ā` in that
/// basis (the Fisher's diagonal, or EKFAC's scalings). The seeds are summed before the one GEMM.
pub(crate) fn add_second_moments(
    mut acc: faer::MatMut<'_, f64>,
    chunk: &ChunkTaps,
    l: usize,
    basis: Option<(&Mat<f64>, &Mat<f64>)>,
    scale: f64,
) {
    if !chunk.taps[l].rank_one() {
        // the per-sample gradient (Σᵣ gᵣ ⊗ āᵣ, or a scale and shift) is not rank one: square it
        // whole
        let o = acc.nrows();
        let w = scale * chunk.weight;
        chunk.for_each_sample_gradient(l, basis, |_, m| {
            for c in 0..m.ncols() {
                let col = m.col(c).try_as_col_major().expect("contiguous").as_slice();
                for (oo, dst) in acc.as_mut().col_mut(c).iter_mut().enumerate() {
                    let ss: f64 = col[oo..].iter().step_by(o).map(|v| v * v).sum();
                    *dst += w * ss;
                }
            }
        });
        return;
    }
    let in_basis = |m: MatRef<'_, f64>, q: Option<&Mat<f64>>| match q {
        Some(q) => fisherlab_linalg::product(m, q.as_ref()),
        None => m.to_owned(),
    };
    let a = in_basis(chunk.abar[l], basis.map(|b| b.1));
    let a2 = Mat::from_fn(a.nrows(), a.ncols(), |s, c| a[(s, c)] * a[(s, c)]);
    let mut g2 = Mat::<f64>::zeros(a.nrows(), acc.nrows());
    for g in &chunk.grads {
        let g = in_basis(g[l], basis.map(|b| b.0));
        for r in 0..g.ncols() {
            for s in 0..g.nrows() {
                g2[(s, r)] += g[(s, r)] * g[(s, r)];
            }
        }
    }
    batch::gemm(
        acc,
        faer::Accum::Add,
        g2.transpose(),
        a2.as_ref(),
        scale * chunk.weight,
    );
}

/// For each tapped layer, the public index of each bias-folded index `(r, c)` ↦
/// `r·(I + bias) + c` (weight `(r, c)` for `c < I`, bias `r` for `c = I`), offset to the whole
/// vector: concatenated over the taps, a permutation of `0..P`.
pub fn folded_to_public(model: &Model) -> Vec<usize> {
    let net = model.net();
    let mut perm = Vec::with_capacity(net.num_params());
    for t in net.taps() {
        for r in 0..t.out() {
            for c in 0..t.folded_inp() {
                perm.push(t.public_index(r, c));
            }
        }
    }
    perm
}

/// Check `value ≥ 1` for a count option.
pub(crate) fn positive(name: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(Error::InvalidOption {
            name,
            value: "0".into(),
            rule: "must be >= 1",
        });
    }
    Ok(())
}
