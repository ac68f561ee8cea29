use super::kfac::{Kfac, KfacApprox, KfacFactors, ScaleShiftBlock};
use super::{Approximation, ChunkTaps, Labels, Problem, add_second_moments, folded_to_public};
use crate::Result;
use crate::model::Model;
use faer::Mat;
use fisherlab_linalg::{
    BlockDiagonal, CurvatureOperator, Ekfac as EkfacOperator, Permuted, symmetric_eigen, symmetrize,
};

/// EKFAC (George et al. 2018): K-FAC's eigenbasis `Q_G ⊗ Q_A` per layer, with the diagonal in
/// that basis refitted to the second moments of the per-sample gradients,
/// `s[(r, c)] = (1/N) Σₙ Σₖ wₖ ((Q_Gᵀ g̃ₙₖ)[r] (Q_Aᵀ āₙ)[c])²`.
///
/// That diagonal is the Frobenius-closest to the exact layer block among all operators
/// diagonal in the basis (K-FAC is one of them), so with `refit = Labels::Type2` EKFAC is at
/// least as close to the exact Fisher as type-2 K-FAC. Two passes over the data: the factors,
/// then the projected moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ekfac {
    /// The K-FAC variant whose factors give the eigenbasis.
    pub basis: Labels,
    /// The labels of the refitted second moments (exact or Monte Carlo).
    pub refit: Labels,
    /// How the K-FAC basis factors layers shared over locations.
    pub approx: KfacApprox,
    /// The K-FAC block of normalisation layers' scale and shift whose eigenbasis is used: with
    /// the diagonal (default) the basis is the identity and the refit is the exact diagonal;
    /// with the dense block, its eigenbasis.
    pub norm_block: ScaleShiftBlock,
}

impl Ekfac {
    /// EKFAC with the same labels for the basis and the refit.
    pub fn new(labels: Labels) -> Self {
        Self {
            basis: labels,
            refit: labels,
            approx: KfacApprox::Expand,
            norm_block: ScaleShiftBlock::Diagonal,
        }
    }
    /// The same with another K-FAC block for normalisation layers' scale and shift.
    pub fn with_norm_block(self, norm_block: ScaleShiftBlock) -> Self {
        Self { norm_block, ..self }
    }
    /// The same with the basis of another K-FAC treatment of shared locations (the refit is
    /// exact per sample either way).
    pub fn with_approx(self, approx: KfacApprox) -> Self {
        Self { approx, ..self }
    }
}

fn eigenvectors(m: &Mat<f64>) -> Result<Mat<f64>> {
    Ok(symmetric_eigen(symmetrize(m.as_ref()).as_ref(), "a K-FAC factor")?.1)
}

/// Per-layer eigenbases `(Q_G, Q_A)` of K-FAC factors.
///
/// # Errors
/// An eigendecomposition that fails.
pub fn ekfac_bases(factors: &[KfacFactors]) -> Result<Vec<(Mat<f64>, Mat<f64>)>> {
    factors
        .iter()
        .map(|f| Ok((eigenvectors(&f.g)?, eigenvectors(&f.a)?)))
        .collect()
}

/// Per-layer second moments in the bases, `s[(r, c)] = (1/N) Σₙ Σₖ wₖ ((Q_Gᵀ Gₙₖ Q_A)[r, c])²`
/// of the per-sample gradients `Gₙₖ` (`g̃ ⊗ ā` for a dense layer; O × (I + bias) each).
///
/// # Errors
/// As [`Problem::for_each_chunk`].
pub fn ekfac_scalings(
    problem: &Problem<'_>,
    labels: Labels,
    bases: &[(Mat<f64>, Mat<f64>)],
) -> Result<Vec<Mat<f64>>> {
    let mut s = zero_scalings(bases);
    let scale = 1.0 / problem.len() as f64;
    problem.for_each_chunk(labels, |chunk| {
        accumulate_scalings(&mut s, chunk, bases, scale);
        Ok(())
    })?;
    Ok(s)
}

/// Zero scalings (O × (I + bias) per layer) for these bases.
pub fn zero_scalings(bases: &[(Mat<f64>, Mat<f64>)]) -> Vec<Mat<f64>> {
    bases
        .iter()
        .map(|(qg, qa)| Mat::zeros(qg.nrows(), qa.nrows()))
        .collect()
}

/// Add one chunk's `scale · Σ Σₖ wₖ ((Q_Gᵀ g̃ₖ)[r] (Q_Aᵀ ā)[c])²` to the scalings of every layer.
pub fn accumulate_scalings(
    s: &mut [Mat<f64>],
    chunk: &ChunkTaps,
    bases: &[(Mat<f64>, Mat<f64>)],
    scale: f64,
) {
    for (l, sl) in s.iter_mut().enumerate() {
        let (qg, qa) = &bases[l];
        add_second_moments(sl.as_mut(), chunk, l, Some((qg, qa)), scale);
    }
}

/// The EKFAC operator of `model` from bases and scalings, in the public parameter order.
///
/// # Errors
/// Bases that are not orthogonal, negative or non-finite scalings, mismatched sizes.
pub fn ekfac_operator(
    model: &Model,
    bases: Vec<(Mat<f64>, Mat<f64>)>,
    scalings: &[Mat<f64>],
) -> Result<Box<dyn CurvatureOperator>> {
    let blocks = bases
        .into_iter()
        .zip(scalings)
        .map(|((qg, qa), sl)| {
            let flat: Vec<f64> = (0..sl.nrows())
                .flat_map(|r| (0..sl.ncols()).map(move |c| (r, c)))
                .map(|(r, c)| sl[(r, c)])
                .collect();
            Ok(Box::new(EkfacOperator::new(qg, qa, flat)?) as Box<dyn CurvatureOperator>)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Permuted::new(
        Box::new(BlockDiagonal::new(blocks)?),
        folded_to_public(model),
    )?))
}

impl Approximation for Ekfac {
    fn name(&self) -> &'static str {
        "ekfac"
    }
    fn memory_bytes(&self, problem: &Problem<'_>) -> Option<u64> {
        // the factors, their eigenbases, and the scalings
        super::factor_bytes(problem, 3)?.checked_add(super::vector_bytes(problem, 2)?)
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        super::memory_check(self, problem)?;
        let bases = ekfac_bases(
            &Kfac::new(self.basis)
                .with_approx(self.approx)
                .with_norm_block(self.norm_block)
                .factors(problem)?,
        )?;
        let s = ekfac_scalings(problem, self.refit, &bases)?;
        ekfac_operator(problem.model(), bases, &s)
    }
}
