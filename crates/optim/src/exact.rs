use crate::natural::{Direction, NaturalGradient, Preconditioner};
use crate::{Damping, Result, StepInput, dot, solve};
use fisherlab_fisher::curvature::{Approximation, DenseFisher, Labels, Problem};

/// Exact natural gradient: `θ ← θ − lr (F + λI)⁻¹ g` with F the dense exact Fisher of the
/// mini-batch (Kronecker fast path) and a Cholesky solve.
pub type ExactNgd = NaturalGradient<Exact>;

/// The dense exact Fisher of the mini-batch, solved by Cholesky.
///
/// Default damping: [`Damping::scoring`] — Levenberg–Marquardt every step from λ = 1, so that
/// full-batch exact NGD on a generalised linear model is Fisher scoring after a few steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exact;

impl Preconditioner for Exact {
    fn name(&self) -> &'static str {
        "ngd"
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
        let f = DenseFisher::new(Labels::Type2).build(problem)?;
        let d = solve(f.as_ref(), lambda, input.gradient)?;
        let d_fisher_d = if want_curvature {
            Some(dot(&d, &f.matvec(&d)?))
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
