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

impl BlockDiagonalFisher {
    /// The diagonal block of one parameterised layer (0-based, in the order of
    /// [`fisherlab_autodiff::layers::Network::taps`]), `Pₗ × Pₗ` in the layer's public order,
    /// exactly as in the full matrix: what a heatmap of one layer needs when the whole Fisher
    /// does not fit.
    ///
    /// # Errors
    /// A layer index out of range; a block that does not fit the memory budget; as
    /// [`Problem::for_each_chunk`].
    pub fn block(&self, problem: &Problem<'_>, layer: usize) -> Result<Mat<f64>> {
        let taps = problem.model().net().taps();
        let Some(tap) = taps.get(layer) else {
            return Err(crate::Error::InvalidOption {
                name: "layer",
                value: layer.to_string(),
                rule: "must index a parameterised layer of the network",
            });
        };
        let p = tap.num_params();
        fisherlab_linalg::memory::reserve(
            format!("the Fisher block of layer {layer} ({p} × {p})"),
            fisherlab_linalg::memory::dense_bytes(p, p),
        )
        .map_err(|e| crate::Error::Linalg(e.into()))?;
        Ok(self
            .blocks(problem, &[layer])?
            .pop()
            .expect("one block per layer asked for"))
    }

    /// The blocks of `layers`, in that order.
    fn blocks(&self, problem: &Problem<'_>, layers: &[usize]) -> Result<Vec<Mat<f64>>> {
        let taps = problem.model().net().taps();
        let mut blocks: Vec<Mat<f64>> = layers
            .iter()
            .map(|&l| Mat::zeros(taps[l].num_params(), taps[l].num_params()))
            .collect();
        let scale = 1.0 / problem.len() as f64;
        problem.for_each_chunk(self.labels, |chunk| {
            for (&l, b) in layers.iter().zip(blocks.iter_mut()) {
                if !taps[l].rank_one() {
                    let j = chunk.layer_gradient_rows(l, (scale * chunk.weight).sqrt());
                    gemm(b.as_mut(), Accum::Add, j.transpose(), j.as_ref(), 1.0);
                } else {
                    accumulate_block(chunk, l, l, scale, b.as_mut());
                }
            }
            Ok(())
        })?;
        Ok(blocks)
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
        let layers: Vec<usize> = (0..problem.model().net().taps().len()).collect();
        let blocks = self.blocks(problem, &layers)?;
        let ops = blocks
            .into_iter()
            .map(|b| Ok(Box::new(Dense::new(b)?) as Box<dyn CurvatureOperator>))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(BlockDiagonal::new(ops)?))
    }
}
