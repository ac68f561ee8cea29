use crate::damping::natural_step;
use crate::{Damping, Error, Optimizer, Result, StepInput, StepReport, dot, positive, unit};
use fisherlab_fisher::curvature::{Approximation, MatrixFreeFisher};
use fisherlab_linalg::{CgOptions, conjugate_gradient};

/// Hessian-free optimisation (Martens 2010) with the Fisher (= Gauss–Newton) matrix: truncated
/// conjugate gradients on `(F + λI) d = g` with Fisher-vector products of the mini-batch, warm-
/// started from the previous direction times `warm_start`, λ Levenberg–Marquardt every step by
/// default ([`Damping::every_step`]), bad steps rejected.
#[derive(Debug, Clone)]
pub struct HessianFree {
    lr: f64,
    damping: Damping,
    max_cg: usize,
    tol: f64,
    warm_start: f64,
    previous: Option<Vec<f64>>,
}

impl HessianFree {
    /// Learning rate, initial λ (adaptive), 50 CG iterations at most, relative tolerance 1e-4,
    /// warm start 0.95.
    pub fn new(lr: f64, lambda: f64) -> Self {
        Self {
            lr,
            damping: Damping::every_step(lambda),
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
    /// Another damping rule.
    pub fn with_damping(mut self, damping: Damping) -> Self {
        self.damping = damping;
        self
    }
}

impl Optimizer for HessianFree {
    fn name(&self) -> &'static str {
        "hf"
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        positive("lr", self.lr)?;
        positive("cg tolerance", self.tol)?;
        unit("warm-start", self.warm_start)?;
        self.damping.check()?;
        if self.max_cg == 0 {
            return Err(Error::InvalidOption {
                name: "max-cg",
                value: "0".into(),
                rule: "must be >= 1",
            });
        }
        let problem = crate::batch_problem(input, theta)?;
        let f = MatrixFreeFisher.build(&problem)?;
        let x0: Option<Vec<f64>> = self
            .previous
            .as_ref()
            .map(|p| p.iter().map(|v| self.warm_start * v).collect());
        let cg = conjugate_gradient(
            f.as_ref(),
            self.damping.lambda,
            input.gradient,
            None,
            x0.as_deref(),
            &CgOptions {
                tol: self.tol,
                max_iter: self.max_cg,
                truncated: true,
            },
        )?;
        let mut report = natural_step(input, theta, &cg.x, self.lr, &mut self.damping, |delta| {
            Ok(dot(delta, &f.matvec(delta)?))
        })?;
        self.previous = Some(cg.x);
        report.cg_iterations = Some(cg.iterations);
        Ok(report)
    }
}
