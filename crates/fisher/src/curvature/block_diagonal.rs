use super::dense::{accumulate_block, layer_range};
use super::{Approximation, Labels, Problem};
use crate::Result;
use faer::Mat;
use fisherlab_linalg::{BlockDiagonal, CurvatureOperator, Dense};

/// The Fisher's diagonal blocks, one per layer (weight and bias of a layer together), exactly as
/// in the full matrix; cross-layer blocks dropped. Each block is computed by the Kronecker fast
/// path of [`super::DenseFisher`], so the cost is `Σₗ Pₗ² · N`.
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
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        let layers = problem.model().net().num_layers();
        let mut blocks: Vec<Mat<f64>> = (0..layers)
            .map(|l| {
                let n = layer_range(problem, l).len();
                Mat::zeros(n, n)
            })
            .collect();
        let scale = 1.0 / problem.len() as f64;
        problem.for_each_chunk(self.labels, |chunk| {
            for (l, b) in blocks.iter_mut().enumerate() {
                accumulate_block(chunk, l, l, scale, b.as_mut());
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
