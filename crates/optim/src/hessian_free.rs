use crate::natural::{Direction, NaturalGradient, Preconditioner};
use crate::{Damping, Result, StepInput, dot, positive, unit};
use fisherlab_fisher::curvature::{Approximation, MatrixFreeFisher, Problem};
use fisherlab_linalg::{CgOptions, conjugate_gradient};

/// Hessian-free optimisation (Martens 2010) with the Fisher (= Gauss–Newton) matrix.
pub type HessianFree = NaturalGradient<ConjugateGradient>;

/// Truncated conjugate gradients on `(F + λI) d = g` with Fisher-vector products of the
/// mini-batch, warm-started from the previous direction times `warm_start`.
///
/// Default damping: [`Damping::every_step`] (Levenberg–Marquardt every step, ω = 2/3, λ kept at
/// or above λ₀/100), bad steps rejected, as Martens (2010).
#[derive(Debug, Clone)]
pub struct ConjugateGradient {
    max_cg: usize,
    tol: f64,
    warm_start: f64,
    previous: Option<Vec<f64>>,
}

impl Default for ConjugateGradient {
    fn default() -> Self {
        Self::new()
    }
}

impl ConjugateGradient {
    /// 50 CG iterations at most, relative tolerance 1e-4, warm start 0.95.
    pub fn new() -> Self {
        Self {
            max_cg: 50,
            tol: 1e-4,
            warm_start: 0.95,
            previous: None,
        }
    }
    /// Largest number of CG iterations per step (≥ 1).
    pub fn with_max_cg(mut self, max_cg: usize) -> Self {
        self.max_cg = max_cg;
        self
    }
}

impl Preconditioner for ConjugateGradient {
    fn name(&self) -> &'static str {
        "hf"
    }
    fn damping_rule(&self, lambda: f64) -> Damping {
        Damping::every_step(lambda)
    }
    fn default_lambda(&self) -> f64 {
        1.0
    }
    fn settings(&self) -> crate::Settings {
        vec![
            ("max_cg", self.max_cg.to_string()),
            ("cg_tolerance", self.tol.to_string()),
            ("cg_warm_start", self.warm_start.to_string()),
        ]
    }
    fn check(&self) -> Result<()> {
        positive("cg tolerance", self.tol)?;
        unit("warm-start", self.warm_start)?;
        crate::at_least_one("max-cg", self.max_cg)
    }
    fn direction(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
        lambda: f64,
        want_curvature: bool,
    ) -> Result<Direction> {
        let f = MatrixFreeFisher.build(problem)?;
        let x0: Option<Vec<f64>> = self
            .previous
            .as_ref()
            .map(|p| p.iter().map(|v| self.warm_start * v).collect());
        let cg = conjugate_gradient(
            f.as_ref(),
            lambda,
            input.gradient,
            None,
            x0.as_deref(),
            &CgOptions {
                tol: self.tol,
                max_iter: self.max_cg,
                truncated: true,
            },
        )?;
        let d_fisher_d = if want_curvature {
            Some(dot(&cg.x, &f.matvec(&cg.x)?))
        } else {
            None
        };
        self.previous = Some(cg.x.clone());
        Ok(Direction {
            d: cg.x,
            d_fisher_d,
            cg_iterations: Some(cg.iterations),
        })
    }
}
