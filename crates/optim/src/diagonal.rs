use crate::natural::{Direction, NaturalGradient, Preconditioner};
use crate::{Result, StepInput, unit};
use fisherlab_fisher::curvature::{DiagonalFisher, Labels, Problem};

/// Diagonal natural gradient: `θ ← θ − lr g / (d + λ)`.
pub type DiagonalNgd = NaturalGradient<Diagonal>;

/// A running average (decay β) of the mini-batch's diagonal Fisher: type-2 ([`Labels::Type2`],
/// the default), Monte Carlo ([`Labels::Mc`], re-seeded every step from the run's seed, see
/// [`StepInput::labels`]) or empirical ([`Labels::Empirical`]).
///
/// Defaults: lr = 0.1, fixed λ = 0.1 ([`crate::defaults`]).
#[derive(Debug, Clone)]
pub struct Diagonal {
    decay: f64,
    labels: Labels,
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
            labels: Labels::Type2,
            average: None,
        }
    }
    /// Which Fisher's diagonal ([`Labels::Type2`] by default).
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
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
    fn needs_targets(&self) -> bool {
        self.labels == Labels::Empirical
    }
    fn settings(&self) -> crate::Settings {
        vec![
            ("decay", self.decay.to_string()),
            ("factor_labels", self.labels.name().into()),
        ]
        .into_iter()
        .chain(crate::kfac::label_samples(self.labels))
        .collect()
    }
    fn direction(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
        lambda: f64,
        _want_curvature: bool,
    ) -> Result<Direction> {
        let batch = DiagonalFisher::new(input.labels(self.labels)).entries(problem)?;
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
