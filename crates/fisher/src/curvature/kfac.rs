use super::{Approximation, ChunkTaps, Labels, Problem, folded_to_public};
use crate::Result;
use crate::model::Model;
use faer::{Accum, Mat};
use fisherlab_autodiff::batch::gemm;
use fisherlab_linalg::{BlockDiagonal, CurvatureOperator, Kronecker, KroneckerDamping, Permuted};

/// K-FAC (Martens & Grosse 2015): each layer's block approximated by `Gₗ ⊗ Aₗ` with
/// `Aₗ = (1/N) Σₙ āₙₗ āₙₗᵀ` (bias folded into the input as a trailing 1) and
/// `Gₗ = (1/N) Σₙ Σₖ wₖ g̃ₙₖₗ g̃ₙₖₗᵀ`; cross-layer blocks dropped.
///
/// The variant is the choice of [`Labels`]: [`Labels::Expected`] is "type-2" K-FAC (the C
/// columns of `Lₙ` as seeds; exact on each block for one input, and for deep linear networks
/// with a Gaussian head), [`Labels::Sampled`] the Monte-Carlo K-FAC of the original paper,
/// [`Labels::Observed`] the empirical K-FAC. Factors are the "expand" flavour (Eschenhagen et
/// al. 2023): every sample contributes its own outer products; for dense layers without a
/// weight-sharing dimension, as here, "reduce" gives the same factors.
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
}

/// The two K-FAC factors of one layer.
#[derive(Debug, Clone)]
pub struct KfacFactors {
    /// Input factor `A` ((in + 1) × (in + 1), bias last).
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
        }
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
            KfacFactors::accumulate(&mut out, chunk, scale);
            Ok(())
        })?;
        Ok(out)
    }
}

impl KfacFactors {
    /// Zero factors for every layer of `model`.
    pub fn zeros(model: &Model) -> Vec<KfacFactors> {
        let net = model.net();
        (0..net.num_layers())
            .map(|l| {
                let (_, _, o, i) = net.layer_offsets(l);
                KfacFactors {
                    a: Mat::zeros(i + 1, i + 1),
                    g: Mat::zeros(o, o),
                }
            })
            .collect()
    }
    /// Add one chunk's `scale · Σ ā āᵀ` and `scale · Σₖ wₖ Σ g̃ₖ g̃ₖᵀ` to every layer's factors
    /// (`scale = 1/N` for means over N inputs).
    pub fn accumulate(factors: &mut [KfacFactors], chunk: &ChunkTaps, scale: f64) {
        for (l, f) in factors.iter_mut().enumerate() {
            let a = &chunk.abar[l];
            gemm(f.a.as_mut(), Accum::Add, a.transpose(), a.as_ref(), scale);
            // the seeds' vectors stacked: one GEMM Σₖ g̃ₖᵀ g̃ₖ instead of K small ones
            let n = a.nrows();
            let mut stacked = Mat::<f64>::zeros(n * chunk.grads.len(), f.g.nrows());
            for (k, g) in chunk.grads.iter().enumerate() {
                stacked.as_mut().subrows_mut(k * n, n).copy_from(&g[l]);
            }
            gemm(
                f.g.as_mut(),
                Accum::Add,
                stacked.transpose(),
                stacked.as_ref(),
                scale * chunk.weight,
            );
        }
    }
}

/// Exact symmetrisation (the GEMM's two triangles may differ in the last bit).
pub(crate) fn symmetrize(m: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| 0.5 * (m[(i, j)] + m[(j, i)]))
}

impl Approximation for Kfac {
    fn name(&self) -> &'static str {
        "kfac"
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
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
    let net = model.net();
    if factors.len() != net.num_layers() {
        return Err(crate::Error::InvalidInput {
            what: format!(
                "{} K-FAC factor pairs for a network of {} layers",
                factors.len(),
                net.num_layers()
            ),
        });
    }
    let blocks = factors
        .iter()
        .enumerate()
        .map(|(l, f)| {
            let (_, _, o, i) = net.layer_offsets(l);
            if f.a.nrows() != i + 1 || f.g.nrows() != o {
                return Err(crate::Error::InvalidInput {
                    what: format!(
                        "K-FAC factors of layer {l} are {}x{} and {}x{}, expected {}x{} and {o}x{o}",
                        f.a.nrows(),
                        f.a.ncols(),
                        f.g.nrows(),
                        f.g.ncols(),
                        i + 1,
                        i + 1
                    ),
                });
            }
            // folded index (r, c) ↦ r·(in + 1) + c: the gradient factor on the left
            let k = Kronecker::new(symmetrize(&f.g), symmetrize(&f.a))?.with_damping(damping);
            Ok(Box::new(k) as Box<dyn CurvatureOperator>)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Permuted::new(
        Box::new(BlockDiagonal::new(blocks)?),
        folded_to_public(model),
    )?))
}
