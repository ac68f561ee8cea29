use crate::damping::natural_step;
use crate::{Damping, Error, Optimizer, Result, StepInput, StepReport, dot, positive};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use fisherlab_fisher::curvature::Problem;

/// Exact natural gradient on the mini-batch through the Sherman–Morrison–Woodbury identity: with
/// `U` the B·K rows `Lₙᵀ Jₙ / √B` (so that `F = UᵀU`),
/// `(F + λI)⁻¹ g = (g − Uᵀ (UUᵀ + λI)⁻¹ U g) / λ` — a (B·K) × (B·K) Cholesky solve instead of
/// a P × P one, for mini-batches with `B·K < P`. λ > 0 is required.
#[derive(Debug, Clone)]
pub struct SmwNgd {
    lr: f64,
    damping: Damping,
}

impl SmwNgd {
    /// Learning rate and fixed damping λ > 0.
    pub fn new(lr: f64, lambda: f64) -> Self {
        Self {
            lr,
            damping: Damping::fixed(lambda),
        }
    }
    /// Another damping rule.
    pub fn with_damping(mut self, damping: Damping) -> Self {
        self.damping = damping;
        self
    }
}

/// The rows `Lₙᵀ Jₙ / √B` of a mini-batch (B·K × P, public order).
fn jacobian_rows(problem: &Problem<'_>) -> Result<Mat<f64>> {
    let b = problem.len();
    let rows = problem.with_chunk(b)?.jacobian_rows()?;
    Ok(rows * faer::Scale(1.0 / (b as f64).sqrt()))
}

impl Optimizer for SmwNgd {
    fn name(&self) -> &'static str {
        "smw"
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        positive("lr", self.lr)?;
        self.damping.check()?;
        let lambda = self.damping.lambda;
        let problem = crate::batch_problem(input, theta)?;
        let u = jacobian_rows(&problem)?;
        let p = theta.len();
        let g = Mat::from_fn(p, 1, |i, _| input.gradient[i]);
        let mut s = &u * u.transpose();
        for i in 0..s.nrows() {
            s[(i, i)] += lambda;
        }
        let llt = s.llt(Side::Lower).map_err(|_| Error::NonFinite {
            what: "Woodbury system (UUᵀ + λI)",
            step: input.step,
        })?;
        let w = llt.solve(&u * &g);
        let corr = u.transpose() * w;
        let d: Vec<f64> = (0..p)
            .map(|i| (g[(i, 0)] - corr[(i, 0)]) / lambda)
            .collect();
        natural_step(input, theta, &d, self.lr, &mut self.damping, |delta| {
            let ud = &u * Mat::from_fn(p, 1, |i, _| delta[i]);
            Ok(dot(ud.col_as_slice(0), ud.col_as_slice(0)))
        })
    }
}
