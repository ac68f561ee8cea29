use super::{Approximation, ChunkTaps, Labels, Problem, folded_to_public};
use crate::Result;
use crate::model::Model;
use faer::Mat;
use fisherlab_linalg::{
    BlockDiagonal, CurvatureOperator, Kronecker, KroneckerDamping, Permuted, gram_add, symmetrize,
};

/// K-FAC (Martens & Grosse 2015): each layer's block approximated by `Gₗ ⊗ Aₗ` with
/// `Aₗ = (1/N) Σₙ āₙₗ āₙₗᵀ` (bias folded into the input as a trailing 1) and
/// `Gₗ = (1/N) Σₙ Σₖ wₖ g̃ₙₖₗ g̃ₙₖₗᵀ`; cross-layer blocks dropped. For a layer shared over R
/// locations (a convolution) the factors follow [`KfacApprox`]: "expand" (KFC, Grosse &
/// Martens 2016) or "reduce" (Eschenhagen et al. 2023), with curvlinops' normalisation.
///
/// The variant is the choice of [`Labels`]: [`Labels::Type2`] is "type-2" K-FAC (the C
/// columns of `Lₙ` as seeds; exact on each block for one input, and for deep linear networks
/// with a Gaussian head), [`Labels::Mc`] the Monte-Carlo K-FAC of the original paper,
/// [`Labels::Empirical`] the empirical K-FAC. Factors are the "expand" flavour (Eschenhagen et
/// al. 2023) by default: every sample and location contributes its own outer products; for
/// dense layers without a weight-sharing dimension "reduce" gives the same factors.
///
/// A normalisation layer's scale and shift (LayerNorm, BatchNorm) has no Kronecker structure:
/// its block is kept exactly, as its diagonal by default or dense ([`ScaleShiftBlock`]), from
/// the same labels, as the block `G ⊗ [1]`; no layer is left out.
///
/// The operator is a block-diagonal of [`Kronecker`] products shown in the public order
/// ([`Permuted`]); its damped solves are exact by default or π-factored
/// ([`KroneckerDamping::Factored`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kfac {
    /// Which variant.
    pub labels: Labels,
    /// How the Kronecker blocks treat damping in solves.
    pub damping: KroneckerDamping,
    /// How layers shared over locations are factored.
    pub approx: KfacApprox,
    /// How normalisation layers' scale-and-shift blocks are kept.
    pub norm_block: ScaleShiftBlock,
}

/// How K-FAC and EKFAC keep the block of a normalisation layer's scale and shift `(γ, β)`,
/// which has no Kronecker structure: exactly, from the same labels as the other factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScaleShiftBlock {
    /// Its exact diagonal (as KFAC-JAX's scale-and-shift blocks): `2d` numbers for `d` features.
    #[default]
    Diagonal,
    /// The exact dense block `(1/N) Σₙₖ wₖ vₙₖ vₙₖᵀ` of the per-sample gradients
    /// `vₙₖ = (Σᵣ g ⊙ x̂, Σᵣ g)`: `(2d)²` numbers, couples scale and shift.
    Dense,
}

impl ScaleShiftBlock {
    /// `diagonal` or `dense`.
    pub fn name(&self) -> &'static str {
        match self {
            ScaleShiftBlock::Diagonal => "diagonal",
            ScaleShiftBlock::Dense => "dense",
        }
    }
}

/// How K-FAC factors a layer whose weights are shared over R locations (output pixels of a
/// convolution); the same for R = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KfacApprox {
    /// Every location an independent sample: `A = (1/(N·R)) Σₙᵣ āₙᵣ āₙᵣᵀ`,
    /// `G = (1/N) Σₙᵣₖ wₖ gₙₖᵣ gₙₖᵣᵀ` (KFC).
    #[default]
    Expand,
    /// Locations reduced first: `A = (1/N) Σₙ âₙ âₙᵀ` with `âₙ = (1/R) Σᵣ āₙᵣ`,
    /// `G = (1/N) Σₙₖ wₖ ĝₙₖ ĝₙₖᵀ` with `ĝₙₖ = Σᵣ gₙₖᵣ`.
    Reduce,
}

impl KfacApprox {
    /// `expand` or `reduce`.
    pub fn name(&self) -> &'static str {
        match self {
            KfacApprox::Expand => "expand",
            KfacApprox::Reduce => "reduce",
        }
    }
}

/// The two K-FAC factors of one layer. For a scale-and-shift tap `A = [1]` and `G` is the
/// exact block (or its diagonal) of its P parameters in the public order.
#[derive(Debug, Clone)]
pub struct KfacFactors {
    /// Input factor `A` ((I + bias) × (I + bias), bias last).
    pub a: Mat<f64>,
    /// Output-gradient factor `G` (out × out).
    pub g: Mat<f64>,
}

impl Kfac {
    /// K-FAC with exact damping in solves.
    pub fn new(labels: Labels) -> Self {
        Self {
            labels,
            damping: KroneckerDamping::Exact,
            approx: KfacApprox::Expand,
            norm_block: ScaleShiftBlock::Diagonal,
        }
    }
    /// The same with another treatment of shared locations.
    pub fn with_approx(self, approx: KfacApprox) -> Self {
        Self { approx, ..self }
    }
    /// The same with another treatment of normalisation layers' scale and shift.
    pub fn with_norm_block(self, norm_block: ScaleShiftBlock) -> Self {
        Self { norm_block, ..self }
    }
    /// The same with another damping mode.
    pub fn with_damping(self, damping: KroneckerDamping) -> Self {
        Self { damping, ..self }
    }
    /// The factors of every layer, in one pass over the data.
    ///
    /// # Errors
    /// As [`Problem::for_each_chunk`].
    pub fn factors(&self, problem: &Problem<'_>) -> Result<Vec<KfacFactors>> {
        let mut out = KfacFactors::zeros(problem.model());
        let scale = 1.0 / problem.len() as f64;
        problem.for_each_chunk(self.labels, |chunk| {
            KfacFactors::accumulate(&mut out, chunk, scale, self.approx, self.norm_block);
            Ok(())
        })?;
        Ok(out)
    }
}

impl KfacFactors {
    /// Zero factors for every tapped layer of `model`.
    pub fn zeros(model: &Model) -> Vec<KfacFactors> {
        model
            .net()
            .taps()
            .iter()
            .map(|t| KfacFactors {
                a: Mat::zeros(t.folded_inp(), t.folded_inp()),
                g: Mat::zeros(t.out(), t.out()),
            })
            .collect()
    }
    /// Add one chunk's share of every layer's factors (`scale = 1/N` for means over N inputs):
    /// `scale · Σ ā āᵀ` and `scale · Σₖ wₖ Σ g̃ₖ g̃ₖᵀ` for a dense layer, and for a layer shared
    /// over R locations the expand or reduce form of [`KfacApprox`]; for a scale-and-shift tap
    /// the second moments of its per-sample gradients (dense or diagonal, by `block`) into `G`
    /// and the samples' share of 1 into `A`.
    pub fn accumulate(
        factors: &mut [KfacFactors],
        chunk: &ChunkTaps,
        scale: f64,
        approx: KfacApprox,
        block: ScaleShiftBlock,
    ) {
        for (l, f) in factors.iter_mut().enumerate() {
            if chunk.taps[l].is_scale_shift() {
                let rows = chunk.per_sample_gradients(l, None);
                let w = scale * chunk.weight;
                match block {
                    ScaleShiftBlock::Dense => gram_add(f.g.as_mut(), rows.as_ref(), w),
                    ScaleShiftBlock::Diagonal => {
                        for c in 0..rows.ncols() {
                            f.g[(c, c)] += w * rows.col(c).iter().map(|v| v * v).sum::<f64>();
                        }
                    }
                }
                f.a[(0, 0)] += scale * chunk.len as f64;
                continue;
            }
            let r = chunk.taps[l].locations();
            let reduce = approx == KfacApprox::Reduce && r > 1;
            let a = if reduce {
                sum_locations(chunk.abar[l], r, 1.0 / r as f64)
            } else {
                chunk.abar[l].to_owned()
            };
            let a_scale = if reduce { scale } else { scale / r as f64 };
            gram_add(f.a.as_mut(), a.as_ref(), a_scale);
            // the seeds' vectors stacked: one GEMM Σₖ g̃ₖᵀ g̃ₖ instead of K small ones
            let reduced;
            let stacked = if reduce {
                // every seed's n samples have R consecutive rows: sum them
                reduced = sum_locations(chunk.stacked[l], r, 1.0);
                reduced.as_ref()
            } else {
                chunk.stacked[l]
            };
            gram_add(f.g.as_mut(), stacked, scale * chunk.weight);
        }
    }
}

/// `factor · Σᵣ` over each sample's R consecutive rows.
fn sum_locations(m: faer::MatRef<'_, f64>, r: usize, factor: f64) -> Mat<f64> {
    let n = m.nrows() / r;
    Mat::from_fn(n, m.ncols(), |s, c| {
        factor * (0..r).map(|loc| m[(s * r + loc, c)]).sum::<f64>()
    })
}

impl Approximation for Kfac {
    fn name(&self) -> &'static str {
        "kfac"
    }
    fn memory_bytes(&self, problem: &Problem<'_>) -> Option<u64> {
        // the factors, their damped inverses, and the operator's copy
        super::factor_bytes(problem, 3)
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        super::memory_check(self, problem)?;
        kfac_operator(problem.model(), &self.factors(problem)?, self.damping)
    }
}

/// The K-FAC operator of `model` from per-layer factors (e.g. running averages kept by an
/// optimizer): a block-diagonal of `Gₗ ⊗ Aₗ` shown in the public parameter order.
///
/// # Errors
/// Factors that are not symmetric and finite, or of the wrong sizes.
pub fn kfac_operator(
    model: &Model,
    factors: &[KfacFactors],
    damping: KroneckerDamping,
) -> Result<Box<dyn CurvatureOperator>> {
    let taps = model.net().taps();
    if factors.len() != taps.len() {
        return Err(crate::Error::InvalidInput {
            what: format!(
                "{} K-FAC factor pairs for a network of {} parameterised layers",
                factors.len(),
                taps.len()
            ),
        });
    }
    let blocks = factors
        .iter()
        .enumerate()
        .map(|(l, f)| {
            let (o, i) = (taps[l].out(), taps[l].folded_inp());
            if f.a.nrows() != i || f.g.nrows() != o {
                return Err(crate::Error::InvalidInput {
                    what: format!(
                        "K-FAC factors of layer {l} are {}x{} and {}x{}, expected {i}x{i} and {o}x{o}",
                        f.a.nrows(),
                        f.a.ncols(),
                        f.g.nrows(),
                        f.g.ncols(),
                    ),
                });
            }
            // folded index (r, c) ↦ r·(in + 1) + c: the gradient factor on the left
            let k = Kronecker::new(symmetrize(f.g.as_ref()), symmetrize(f.a.as_ref()))?.with_damping(damping);
            Ok(Box::new(k) as Box<dyn CurvatureOperator>)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Permuted::new(
        Box::new(BlockDiagonal::new(blocks)?),
        folded_to_public(model),
    )?))
}
