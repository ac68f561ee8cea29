use super::{Approximation, Problem};
use crate::Result;
use faer::{Accum, Mat};
use fisherlab_autodiff::batch::gemm;
use fisherlab_linalg::{CurvatureOperator, MatrixFree, memory};
use std::sync::Arc;

/// The exact Fisher as Fisher-vector products through its Gram factor: with `U` the rows
/// `Lₙᵀ Jₙ` of every input stacked ((N·C) × P, [`Problem::jacobian_rows`]),
/// `F = (1/N) UᵀU`, so `F V = (1/N) Uᵀ(U V)`: two GEMMs per block of vectors, never the P × P
/// matrix.
///
/// The same matrix as [`super::MatrixFreeFisher`] (equal to rounding), traded differently: the
/// factor holds `N·C·P` numbers (e.g. 512 inputs × 10 classes × 58 442 parameters = 2.4 GB)
/// and is built once at the cost of `C` backward passes and the per-sample gradients, after
/// which a product costs `4·N·C·P` flops — for a CNN tens of times less than the
/// forward-mode pass and backward pass of [`super::MatrixFreeFisher`], and a block of k
/// vectors costs one GEMM pair instead of k passes. The route for the many products of
/// matrix-free metrics ([`crate::metrics::MatrixFreeReference`]) on a sample of inputs;
/// [`super::MatrixFreeFisher`] when even the factor does not fit.
///
/// Damped solves go through conjugate gradients; spectra through Lanczos.
///
/// # Examples
/// ```
/// use faer::Mat;
/// use fisherlab_autodiff::network::Mlp;
/// use fisherlab_distributions::heads::Head;
/// use fisherlab_fisher::curvature::{Approximation, DenseFisher, GramFisher, Labels, Problem};
/// use fisherlab_fisher::model::Model;
/// use fisherlab_linalg::CurvatureOperator;
/// let model = Model::new(Mlp::parse("3,4,2", "tanh").unwrap(), Head::Categorical).unwrap();
/// let theta: Vec<f64> = (0..model.num_params()).map(|k| (k as f64 * 0.7).sin()).collect();
/// let x = Mat::from_fn(5, 3, |i, j| (i as f64 - 2.0) * 0.5 + j as f64 * 0.1);
/// let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
/// let gram = GramFisher.build(&problem).unwrap().to_dense().unwrap();
/// let dense = DenseFisher::new(Labels::Type2).build(&problem).unwrap().to_dense().unwrap();
/// assert!((&gram - &dense).norm_max() < 1e-14);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GramFisher;

impl Approximation for GramFisher {
    fn name(&self) -> &'static str {
        "gram"
    }
    fn memory_bytes(&self, problem: &Problem<'_>) -> Option<u64> {
        let (rows, chunk_rows) = factor_rows(problem)?;
        let p = problem.model().num_params();
        memory::dense_bytes(rows, p)?.checked_add(memory::dense_bytes(chunk_rows, p)?)
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        super::memory_check(self, problem)?;
        let p = problem.model().num_params();
        let scale = 1.0 / problem.len() as f64;
        let u = Arc::new(problem.jacobian_rows()?);
        Ok(Box::new(MatrixFree::new(p, move |v| {
            let mut uv = Mat::zeros(u.nrows(), v.ncols());
            gemm(uv.as_mut(), Accum::Replace, (*u).as_ref(), v, 1.0);
            let mut out = Mat::zeros(p, v.ncols());
            gemm(
                out.as_mut(),
                Accum::Replace,
                u.transpose(),
                uv.as_ref(),
                scale,
            );
            out
        })))
    }
}

/// Rows of the Gram factor (N·C) and of one chunk's copy of them, as
/// [`Problem::jacobian_rows`] streams them.
fn factor_rows(problem: &Problem<'_>) -> Option<(usize, usize)> {
    let c = problem.model().net().output_dim();
    let rows = problem.len().checked_mul(c)?;
    Some((rows, super::jacobian_chunk(problem).checked_mul(c)?))
}
