//! The worked example of `docs/approximations.md`: each layer's block of the Fisher replaced by
//! a multiple of the identity with the same trace. Crude on purpose; it shows how little code a
//! new approximation takes and how much of the matrix such a structure misses.

use super::{Approximation, DiagonalFisher, Labels, Problem};
use crate::Result;
use fisherlab_linalg::{BlockDiagonal, CurvatureOperator, Diagonal};

// ---- docs/approximations.md: BEGIN
/// Per-layer isotropic: (tr F_ll / P_l) I for each parameterised layer l.
pub struct LayerIsotropic {
    /// Which Fisher: `type2`, `mc` or `empirical` ([`Labels`]).
    pub labels: Labels,
}

impl Approximation for LayerIsotropic {
    fn name(&self) -> &'static str {
        "layer-isotropic"
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        // the trace of a layer's block is the sum of its diagonal, which any layer gives
        let diag = DiagonalFisher::new(self.labels).entries(problem)?;
        let blocks = problem
            .model()
            .net()
            .taps()
            .iter()
            .map(|layer| {
                let block = &diag[layer.range()];
                let mean = block.iter().sum::<f64>() / block.len() as f64;
                let d = Diagonal::new(vec![mean; block.len()])?;
                Ok(Box::new(d) as Box<dyn CurvatureOperator>)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(BlockDiagonal::new(blocks)?))
    }
}
// ---- docs/approximations.md: END
