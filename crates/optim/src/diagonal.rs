use crate::damping::{fisher_quadratic, natural_step};
use crate::{Damping, Optimizer, Result, StepInput, StepReport, positive, unit};
use fisherlab_fisher::curvature::{DiagonalFisher, Labels};

/// Diagonal natural gradient: `θ ← θ − lr g / (d + λ)` with `d` a running average (decay β) of
/// the mini-batch's diagonal Fisher, exact (`Labels::Expected`) or Monte Carlo with one label per
/// input (`Labels::Sampled`, re-seeded every step from the run's seed).
#[derive(Debug, Clone)]
pub struct DiagonalNgd {
    lr: f64,
    damping: Damping,
    decay: f64,
    sampled: bool,
    average: Option<Vec<f64>>,
}

impl DiagonalNgd {
    /// Exact diagonal, running average with decay 0.95, fixed damping.
    pub fn new(lr: f64, lambda: f64) -> Self {
        Self {
            lr,
            damping: Damping::fixed(lambda),
            decay: 0.95,
            sampled: false,
            average: None,
        }
    }
    /// Monte-Carlo diagonal (one sampled label per input) instead of the exact one.
    pub fn sampled(mut self) -> Self {
        self.sampled = true;
        self
    }
    /// Another decay of the running average, in [0, 1).
    pub fn with_decay(mut self, decay: f64) -> Self {
        self.decay = decay;
        self
    }
    /// Another damping rule.
    pub fn with_damping(mut self, damping: Damping) -> Self {
        self.damping = damping;
        self
    }
}

impl Optimizer for DiagonalNgd {
    fn name(&self) -> &'static str {
        "diag"
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        positive("lr", self.lr)?;
        unit("decay", self.decay)?;
        self.damping.check()?;
        let problem = crate::batch_problem(input, theta)?;
        let labels = if self.sampled {
            Labels::Sampled {
                per_input: 1,
                seed: step_seed(input.seed, input.step),
            }
        } else {
            Labels::Expected
        };
        let batch = DiagonalFisher::new(labels).entries(&problem)?;
        let avg = match self.average.take() {
            Some(mut a) if a.len() == batch.len() => {
                for (ai, bi) in a.iter_mut().zip(&batch) {
                    *ai = self.decay * *ai + (1.0 - self.decay) * bi;
                }
                a
            }
            _ => batch,
        };
        let lambda = self.damping.lambda;
        let d: Vec<f64> = input
            .gradient
            .iter()
            .zip(&avg)
            .map(|(g, a)| g / (a + lambda))
            .collect();
        self.average = Some(avg);
        let before = theta.to_vec();
        natural_step(input, theta, &d, self.lr, &mut self.damping, |delta| {
            fisher_quadratic(input, &before, delta)
        })
    }
}

/// The seed of the labels sampled at `step` of a run seeded `seed`.
pub(crate) fn step_seed(seed: u64, step: usize) -> u64 {
    seed ^ (step as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)
}
