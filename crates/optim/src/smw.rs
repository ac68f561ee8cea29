use crate::natural::{Direction, NaturalGradient, Preconditioner};
use crate::{Damping, Error, Result, StepInput, dot};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use fisherlab_fisher::curvature::Problem;

/// Exact natural gradient on the mini-batch through the Sherman–Morrison–Woodbury identity.
pub type SmwNgd = NaturalGradient<Woodbury>;

/// The exact mini-batch Fisher through the Sherman–Morrison–Woodbury identity: with `U` the
/// B·K rows `Lₙᵀ Jₙ / √B` (so that `F = UᵀU`),
/// `(F + λI)⁻¹ g = (g − Uᵀ (UUᵀ + λI)⁻¹ U g) / λ` — a (B·K) × (B·K) Cholesky solve instead of
/// a P × P one, for mini-batches with `B·K < P`. λ > 0 is required.
///
/// Default damping: [`Damping::scoring`], as exact NGD.
#[derive(Debug, Clone, Copy, Default)]
pub struct Woodbury;

/// The rows `Lₙᵀ Jₙ / √B` of a mini-batch (B·K × P, public order).
fn jacobian_rows(problem: &Problem<'_>) -> Result<Mat<f64>> {
    let b = problem.len();
    let rows = problem.with_chunk(b)?.jacobian_rows()?;
    Ok(rows * faer::Scale(1.0 / (b as f64).sqrt()))
}

impl Preconditioner for Woodbury {
    fn name(&self) -> &'static str {
        "smw"
    }
    fn damping_rule(&self, lambda: f64) -> Damping {
        Damping::scoring(lambda)
    }
    fn default_lambda(&self) -> f64 {
        1.0
    }
    fn direction(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
        lambda: f64,
        want_curvature: bool,
    ) -> Result<Direction> {
        let u = jacobian_rows(problem)?;
        let p = input.gradient.len();
        let g = Mat::from_fn(p, 1, |i, _| input.gradient[i]);
        let mut s = &u * u.transpose();
        for i in 0..s.nrows() {
            s[(i, i)] += lambda;
        }
        let llt = s.llt(Side::Lower).map_err(|_| Error::NotPositiveDefinite {
            what: "the Woodbury system UUᵀ + λI",
            lambda,
            step: input.step,
        })?;
        let w = llt.solve(&u * &g);
        let corr = u.transpose() * w;
        let d: Vec<f64> = (0..p)
            .map(|i| (g[(i, 0)] - corr[(i, 0)]) / lambda)
            .collect();
        let d_fisher_d = if want_curvature {
            let ud = &u * Mat::from_fn(p, 1, |i, _| d[i]);
            Some(dot(ud.col_as_slice(0), ud.col_as_slice(0)))
        } else {
            None
        };
        Ok(Direction {
            d,
            d_fisher_d,
            cg_iterations: None,
        })
    }
}
