use super::{Approximation, Labels, Problem, add_second_moments};
use crate::Result;
use faer::Mat;
use fisherlab_linalg::{CurvatureOperator, Diagonal};

/// The diagonal of the Fisher, exact ([`Labels::Type2`]), Monte Carlo ([`Labels::Mc`])
/// or empirical ([`Labels::Empirical`]): for a dense layer
/// `diag F[(r, c)] = (1/N) Σₙ Σₖ wₖ g̃ₙₖ[r]² āₙ[c]²`, one small GEMM of the squared
/// back-propagated vectors against the squared inputs per layer — about the cost of the
/// backward passes themselves. For a layer shared over locations (a convolution) the
/// per-sample gradients `Σᵣ g̃ₙₖᵣ ⊗ āₙᵣ` are formed and squared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagonalFisher {
    /// Which Fisher's diagonal.
    pub labels: Labels,
}

impl DiagonalFisher {
    /// The diagonal for these labels.
    pub fn new(labels: Labels) -> Self {
        Self { labels }
    }
    /// The diagonal entries in the public order.
    ///
    /// # Errors
    /// As [`Problem::for_each_chunk`].
    pub fn entries(&self, problem: &Problem<'_>) -> Result<Vec<f64>> {
        let net = problem.model().net();
        // per layer (O × (I + bias)), bias-folded
        let mut acc: Vec<Mat<f64>> = net
            .taps()
            .iter()
            .map(|t| Mat::zeros(t.out(), t.folded_inp()))
            .collect();
        let scale = 1.0 / problem.len() as f64;
        problem.for_each_chunk(self.labels, |chunk| {
            for (l, d) in acc.iter_mut().enumerate() {
                add_second_moments(d.as_mut(), chunk, l, None, scale);
            }
            Ok(())
        })?;
        let mut out = vec![0.0; net.num_params()];
        for (t, d) in net.taps().iter().zip(&acc) {
            fisherlab_autodiff::batch::scatter_folded(t, d.as_ref(), &mut out);
        }
        Ok(out)
    }
}

impl Approximation for DiagonalFisher {
    fn name(&self) -> &'static str {
        "diag"
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        Ok(Box::new(Diagonal::new(self.entries(problem)?)?))
    }
}
