//! The generic route to the dense Fisher: the rows `Lₙᵀ Jₙ` of every input (reverse mode, or
//! forward mode per sample as the slow reference), added by symmetric rank-k updates. It works
//! for every network and is the test oracle of the fast routes ([`super::DenseFisher`]).

use super::{DEFAULT_CHUNK, Problem, TAP_BUDGET};
use crate::model::Model;
use crate::rows::copy_row;
use crate::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef};
use fisherlab_autodiff::jacobian;
use fisherlab_autodiff::network::AtInput;
use fisherlab_linalg::{Dense, memory};

/// How [`exact_fisher`] gets the per-sample rows `Lₙᵀ Jₙ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JacobianRoute {
    /// Reverse mode.
    #[default]
    Auto,
    /// C backward passes over the batch through the layers' own backward passes, one per
    /// column of L.
    Reverse,
    /// Forward-mode Jacobians per sample (num-dual): slow, the reference.
    Forward,
}

/// Options of [`exact_fisher`].
#[derive(Debug, Clone, Copy)]
pub struct ExactFisherOptions {
    /// Samples per chunk (default [`DEFAULT_CHUNK`], the streamed routes' default; capped so
    /// that one chunk's rows hold at most 2²⁵ numbers): memory stays near P² plus
    /// `chunk · C · P`.
    pub chunk: usize,
    /// How the rows are computed.
    pub route: JacobianRoute,
}

impl Default for ExactFisherOptions {
    fn default() -> Self {
        Self {
            chunk: DEFAULT_CHUNK,
            route: JacobianRoute::Auto,
        }
    }
}

/// The exact Fisher `(1/N) Σₙ Jₙᵀ F_z(zₙ) Jₙ` of a model at θ over the inputs `x` (N × d), in
/// the public parameter order, as a dense operator.
///
/// Rows `Lₙᵀ Jₙ` of a chunk of samples are stacked and added by one symmetric rank-k update
/// (lower triangle), so memory stays near P² plus one chunk.
///
/// # Errors
/// Invalid parameters or inputs ([`Model::check`]); a zero chunk size.
///
/// # Examples
/// ```
/// use faer::Mat;
/// use fisherlab_autodiff::network::Mlp;
/// use fisherlab_distributions::heads::Head;
/// use fisherlab_fisher::curvature::exact_fisher;
/// use fisherlab_fisher::model::Model;
/// use fisherlab_linalg::CurvatureOperator;
/// // linear-Gaussian regression: F = (1/N) X̄ᵀX̄ / σ², X̄ = [X, 1]
/// let m = Model::new(Mlp::parse("1,1", "identity").unwrap(), Head::Gaussian { sigma: 2.0 }).unwrap();
/// let x = Mat::from_fn(2, 1, |i, _| i as f64 + 1.0); // inputs 1, 2
/// let f = exact_fisher(&m, &[0.3, -0.1], x.as_ref(), &Default::default()).unwrap().to_dense().unwrap();
/// assert!((f[(0, 0)] - (1.0 + 4.0) / 2.0 / 4.0).abs() < 1e-15);
/// assert!((f[(0, 1)] - (1.0 + 2.0) / 2.0 / 4.0).abs() < 1e-15);
/// ```
pub fn exact_fisher(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    opts: &ExactFisherOptions,
) -> Result<Dense> {
    model.check(theta, x)?;
    if opts.chunk == 0 {
        return Err(Error::InvalidOption {
            name: "chunk",
            value: "0".into(),
            rule: "must be >= 1",
        });
    }
    let p = model.num_params();
    let c = model.net().output_dim();
    let n = x.nrows();
    let reverse = opts.route != JacobianRoute::Forward;
    let mut f =
        memory::zeros("the dense exact Fisher", p, p).map_err(|e| Error::Linalg(e.into()))?;
    let mut xi = vec![0.0; x.ncols()];
    let chunk = opts.chunk.min((TAP_BUDGET / (p * c).max(1)).max(1));
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let rows = if reverse {
            reverse_rows(model, theta, x.subrows(start, end - start))?
        } else {
            let mut rows = Mat::<f64>::zeros((end - start) * c, p);
            for s in start..end {
                copy_row(x, s, &mut xi);
                let (z, jac) = jacobian(
                    &AtInput {
                        net: model.net(),
                        x: &xi,
                    },
                    theta,
                );
                let l = model.head().output_fisher_factor(&z);
                // Lᵀ J: K × P
                let ltj = l.transpose() * jac;
                for k in 0..ltj.nrows() {
                    for q in 0..p {
                        rows[((s - start) * c + k, q)] = ltj[(k, q)];
                    }
                }
            }
            rows
        };
        // lower triangle by column panels: panel [j0, j0 + w) takes rows j0.. only, so the
        // work is about half of the full product and no temporary is allocated; faer splits
        // each panel's product over output blocks, never a sum, so the result is identical for
        // any thread count (tested)
        const PANEL: usize = 256;
        for j0 in (0..p).step_by(PANEL) {
            let w = PANEL.min(p - j0);
            matmul(
                f.as_mut().submatrix_mut(j0, j0, p - j0, w),
                Accum::Add,
                rows.as_ref().subcols(j0, p - j0).transpose(),
                rows.as_ref().subcols(j0, w),
                1.0 / n as f64,
                faer::get_global_parallelism(),
            );
        }
    }
    // mirror the lower triangle in place (no second P × P matrix)
    for j in 0..p {
        for i in j + 1..p {
            f[(j, i)] = f[(i, j)];
        }
    }
    Ok(Dense::new(f)?)
}

/// The rows `Lₙᵀ Jₙ` of a chunk of inputs by reverse mode: the forward pass gives `zₙ` and so
/// `Lₙ`, then one backward pass per column k of L with the per-sample seeds `Lₙ[:, k]`.
fn reverse_rows(model: &Model, theta: &[f64], x: MatRef<'_, f64>) -> Result<Mat<f64>> {
    Problem::new(model, theta, x)?
        .with_chunk(x.nrows())?
        .jacobian_rows()
}
