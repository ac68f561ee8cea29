use crate::natural::{Direction, NaturalGradient, Preconditioner};
use crate::{Result, StepInput, unit};
use fisherlab_fisher::curvature::{DiagonalFisher, Labels, Problem};

/// Diagonal natural gradient: `θ ← θ − lr g / (d + λ)`.
pub type DiagonalNgd = NaturalGradient<Diagonal>;

/// A running average (decay β) of the mini-batch's diagonal Fisher, exact (`Labels::Expected`)
/// or Monte Carlo with one label per input (`Labels::Sampled`, re-seeded every step from the
/// run's seed).
///
/// Defaults: lr = 0.1, fixed λ = 0.1 ([`crate::defaults`]).
#[derive(Debug, Clone)]
pub struct Diagonal {
    decay: f64,
    sampled: bool,
    average: Option<Vec<f64>>,
}

impl Default for Diagonal {
    fn default() -> Self {
        Self::new()
    }
}

impl Diagonal {
    /// Exact diagonal, running average with decay 0.95.
    pub fn new() -> Self {
        Self {
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
}

impl Preconditioner for Diagonal {
    fn name(&self) -> &'static str {
        "diag"
    }
    fn default_lr(&self) -> f64 {
        crate::defaults::DIAG_LR
    }
    fn default_lambda(&self) -> f64 {
        crate::defaults::DIAG_DAMPING
    }
    fn check(&self) -> Result<()> {
        unit("decay", self.decay)
    }
    fn settings(&self) -> crate::Settings {
        vec![
            ("decay", self.decay.to_string()),
            (
                "factor_labels",
                if self.sampled { "mc" } else { "type2" }.into(),
            ),
        ]
    }
    fn direction(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
        lambda: f64,
        _want_curvature: bool,
    ) -> Result<Direction> {
        let labels = if self.sampled {
            Labels::Sampled {
                per_input: 1,
                seed: step_seed(input.seed, input.step),
            }
        } else {
            Labels::Expected
        };
        let batch = DiagonalFisher::new(labels).entries(problem)?;
        let avg = match self.average.take() {
            Some(mut a) if a.len() == batch.len() => {
                for (ai, bi) in a.iter_mut().zip(&batch) {
                    *ai = self.decay * *ai + (1.0 - self.decay) * bi;
                }
                a
            }
            _ => batch,
        };
        let d: Vec<f64> = input
            .gradient
            .iter()
            .zip(&avg)
            .map(|(g, a)| g / (a + lambda))
            .collect();
        self.average = Some(avg);
        Ok(Direction::new(d))
    }
}

/// The seed of the labels sampled at `step` of a run seeded `seed`.
pub(crate) fn step_seed(seed: u64, step: usize) -> u64 {
    seed ^ (step as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)
}
