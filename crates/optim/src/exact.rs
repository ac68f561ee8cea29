use crate::damping::natural_step;
use crate::{Damping, Optimizer, Result, StepInput, StepReport, dot, positive, solve};
use fisherlab_fisher::curvature::{Approximation, DenseFisher, Labels};

/// Exact natural gradient: `θ ← θ − lr (F + λI)⁻¹ g` with F the dense exact Fisher of the
/// mini-batch (Kronecker fast path) and a Cholesky solve; λ fixed or Levenberg–Marquardt.
#[derive(Debug, Clone)]
pub struct ExactNgd {
    lr: f64,
    damping: Damping,
}

impl ExactNgd {
    /// Learning rate and fixed damping.
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
    /// The current damping.
    pub fn damping(&self) -> Damping {
        self.damping
    }
}

impl Optimizer for ExactNgd {
    fn name(&self) -> &'static str {
        "ngd"
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        positive("lr", self.lr)?;
        self.damping.check()?;
        let problem = crate::batch_problem(input, theta)?;
        let f = DenseFisher::new(Labels::Expected).build(&problem)?;
        let d = solve(f.as_ref(), self.damping.lambda, input.gradient)?;
        natural_step(input, theta, &d, self.lr, &mut self.damping, |delta| {
            Ok(dot(delta, &f.matvec(delta)?))
        })
    }
}
