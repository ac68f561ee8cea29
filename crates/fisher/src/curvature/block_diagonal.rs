use super::dense::accumulate_block;
use super::{Approximation, Labels, Problem};
use crate::Result;
use faer::{Accum, Mat};
use fisherlab_autodiff::batch::gemm;
use fisherlab_linalg::{BlockDiagonal, CurvatureOperator, Dense};

/// The Fisher's diagonal blocks, one per parameterised layer (weight and bias of a layer
/// together), exactly as in the full matrix; cross-layer blocks dropped. Each block is computed
/// by the Kronecker fast path of [`super::DenseFisher`] for a dense layer (cost `Pₗ² · N`), and
/// from per-sample gradient rows for a layer shared over locations (cost `Pₗ² · N · K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockDiagonalFisher {
    /// Which Fisher's blocks.
    pub labels: Labels,
}

impl BlockDiagonalFisher {
    /// The per-layer blocks for these labels.
    pub fn new(labels: Labels) -> Self {
        Self { labels }
    }
}

impl Approximation for BlockDiagonalFisher {
    fn name(&self) -> &'static str {
        "block-diag"
    }
    fn memory_bytes(&self, problem: &Problem<'_>) -> Option<u64> {
        // the blocks, and their Cholesky factors when solved
        let mut n: u64 = 0;
        for t in problem.model().net().taps() {
            let p = t.num_params() as u64;
            n = n.checked_add(p.checked_mul(p)?)?;
        }
        n.checked_mul(2 * fisherlab_linalg::memory::F64_BYTES)
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        super::memory_check(self, problem)?;
        let taps = problem.model().net().taps();
        let mut blocks: Vec<Mat<f64>> = taps
            .iter()
            .map(|t| Mat::zeros(t.num_params(), t.num_params()))
            .collect();
        let scale = 1.0 / problem.len() as f64;
        problem.for_each_chunk(self.labels, |chunk| {
            for (l, b) in blocks.iter_mut().enumerate() {
                if !taps[l].rank_one() {
                    let j = chunk.layer_gradient_rows(l, (scale * chunk.weight).sqrt());
                    gemm(b.as_mut(), Accum::Add, j.transpose(), j.as_ref(), 1.0);
                } else {
                    accumulate_block(chunk, l, l, scale, b.as_mut());
                }
            }
            Ok(())
        })?;
        let ops = blocks
            .into_iter()
            .map(|b| Ok(Box::new(Dense::new(b)?) as Box<dyn CurvatureOperator>))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(BlockDiagonal::new(ops)?))
    }
}
