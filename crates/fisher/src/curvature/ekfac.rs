use super::kfac::{Kfac, symmetrize};
use super::{Approximation, Labels, Problem, folded_to_public};
use crate::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat};
use fisherlab_linalg::{BlockDiagonal, CurvatureOperator, Ekfac as EkfacOperator, Permuted};

/// EKFAC (George et al. 2018): K-FAC's eigenbasis `Q_G ⊗ Q_A` per layer, with the diagonal in
/// that basis refitted to the second moments of the per-sample gradients,
/// `s[(r, c)] = (1/N) Σₙ Σₖ wₖ ((Q_Gᵀ g̃ₙₖ)[r] (Q_Aᵀ āₙ)[c])²`.
///
/// That diagonal is the Frobenius-closest to the exact layer block among all operators
/// diagonal in the basis (K-FAC is one of them), so with `refit = Labels::Expected` EKFAC is at
/// least as close to the exact Fisher as type-2 K-FAC. Two passes over the data: the factors,
/// then the projected moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ekfac {
    /// The K-FAC variant whose factors give the eigenbasis.
    pub basis: Labels,
    /// The labels of the refitted second moments (exact or Monte Carlo).
    pub refit: Labels,
}

impl Ekfac {
    /// EKFAC with the same labels for the basis and the refit.
    pub fn new(labels: Labels) -> Self {
        Self {
            basis: labels,
            refit: labels,
        }
    }
}

fn eigenvectors(m: &Mat<f64>) -> Result<Mat<f64>> {
    let evd = symmetrize(m)
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::Unsupported {
            family: "ekfac",
            what: format!("eigendecomposition of a K-FAC factor failed: {e:?}"),
        })?;
    Ok(evd.U().to_owned())
}

impl Approximation for Ekfac {
    fn name(&self) -> &'static str {
        "ekfac"
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        let factors = Kfac::new(self.basis).factors(problem)?;
        let bases = factors
            .iter()
            .map(|f| Ok((eigenvectors(&f.g)?, eigenvectors(&f.a)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut s: Vec<Mat<f64>> = factors
            .iter()
            .map(|f| Mat::zeros(f.g.nrows(), f.a.nrows()))
            .collect();
        let scale = 1.0 / problem.len() as f64;
        let par = faer::get_global_parallelism();
        let square = |m: Mat<f64>| Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] * m[(i, j)]);
        problem.for_each_chunk(self.refit, |chunk| {
            for (l, sl) in s.iter_mut().enumerate() {
                let (qg, qa) = &bases[l];
                let ahat = square(&chunk.abar[l] * qa);
                for g in &chunk.grads {
                    let ghat = square(&g[l] * qg);
                    matmul(
                        sl.as_mut(),
                        Accum::Add,
                        ghat.transpose(),
                        ahat.as_ref(),
                        scale * chunk.weight,
                        par,
                    );
                }
            }
            Ok(())
        })?;
        let blocks = bases
            .into_iter()
            .zip(s)
            .map(|((qg, qa), sl)| {
                let flat: Vec<f64> = (0..sl.nrows())
                    .flat_map(|r| (0..sl.ncols()).map(move |c| (r, c)))
                    .map(|(r, c)| sl[(r, c)].max(0.0))
                    .collect();
                Ok(Box::new(EkfacOperator::new(qg, qa, flat)?) as Box<dyn CurvatureOperator>)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Permuted::new(
            Box::new(BlockDiagonal::new(blocks)?),
            folded_to_public(problem.model()),
        )?))
    }
}
