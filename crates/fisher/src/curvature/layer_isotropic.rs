//! The worked example of `docs/approximations.md`: each layer's block of the Fisher replaced by
//! a multiple of the identity with the same trace. Crude on purpose; it shows how little code a
//! new approximation takes and how much of the matrix such a structure misses.

use super::{Approximation, Labels, Problem};
use crate::Result;
use fisherlab_linalg::{BlockDiagonal, CurvatureOperator, Diagonal};

// ---- docs/approximations.md: BEGIN
/// Per-layer isotropic: (tr F_ll / P_l) I for each layer l.
pub struct LayerIsotropic {
    /// Which Fisher: exact (`Expected`), Monte Carlo (`Sampled`) or empirical (`Observed`).
    pub labels: Labels,
}

impl Approximation for LayerIsotropic {
    fn name(&self) -> &'static str {
        "layer-isotropic"
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        let net = problem.model().net();
        let mut traces = vec![0.0; net.num_layers()];
        let n = problem.len() as f64;
        problem.for_each_chunk(self.labels, |chunk| {
            for (l, t) in traces.iter_mut().enumerate() {
                let a = &chunk.abar[l];
                for g in &chunk.grads {
                    let g = &g[l];
                    for s in 0..a.nrows() {
                        let a2: f64 = (0..a.ncols()).map(|j| a[(s, j)] * a[(s, j)]).sum();
                        let g2: f64 = (0..g.ncols()).map(|i| g[(s, i)] * g[(s, i)]).sum();
                        *t += chunk.weight * g2 * a2 / n;
                    }
                }
            }
            Ok(())
        })?;
        let blocks = traces
            .iter()
            .enumerate()
            .map(|(l, t)| {
                let (_, _, o, i) = net.layer_offsets(l);
                let size = o * (i + 1);
                let d = Diagonal::new(vec![t / size as f64; size])?;
                Ok(Box::new(d) as Box<dyn CurvatureOperator>)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(BlockDiagonal::new(blocks)?))
    }
}
// ---- docs/approximations.md: END
