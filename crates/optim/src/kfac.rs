use crate::natural::{Direction, NaturalGradient, Preconditioner};
use crate::{Result, StepInput, solve, unit};
use fisherlab_fisher::curvature::{
    KfacApprox, KfacFactors, Labels, Problem, ScaleShiftBlock, kfac_operator,
};
use fisherlab_linalg::{CurvatureOperator, KroneckerDamping};

/// The settings K-FAC and EKFAC share (see [`crate::Optimizer::settings`]): the factors'
/// labels, how shared layers are reduced, the normalisation block and the running decay.
pub(crate) fn factor_settings(
    labels: Labels,
    approx: KfacApprox,
    norm_block: ScaleShiftBlock,
    decay: f64,
) -> crate::Settings {
    let mut s = vec![("factor_labels", labels.name().into())];
    s.extend(label_samples(labels));
    s.extend([
        ("kfac_approx", format!("{approx:?}").to_lowercase()),
        ("norm_block", format!("{norm_block:?}").to_lowercase()),
        ("decay", decay.to_string()),
    ]);
    s
}

/// `mc`'s labels per input and seed offset, as settings, where they differ from the defaults
/// (one label, offset 0), so the records of the usual runs are unchanged.
pub(crate) fn label_samples(labels: Labels) -> crate::Settings {
    match labels {
        Labels::Mc { per_input, seed } if per_input != 1 || seed != 0 => vec![
            ("mc_samples", per_input.to_string()),
            ("mc_seed_offset", seed.to_string()),
        ],
        _ => Vec::new(),
    }
}

/// K-FAC (Martens & Grosse 2015) as an optimizer.
pub type KfacOptimizer = NaturalGradient<Kfac>;

/// K-FAC's curvature (Martens & Grosse 2015):
///
/// - factors `Aₗ`, `Gₗ` of the mini-batch every `factor_period` steps, folded into running
///   averages `A ← ε A + (1 − ε) A_batch` (ε = `decay`);
/// - the operator `⊕ₗ Gₗ ⊗ Aₗ` (and with it the factors' eigendecompositions) rebuilt every
///   `inverse_period` steps, damped exactly or with factored π-damping.
///
/// Defaults: lr = 0.1, fixed λ = 1e-2 ([`crate::defaults`]).
pub struct Kfac {
    kronecker_damping: KroneckerDamping,
    labels: Labels,
    approx: KfacApprox,
    norm_block: ScaleShiftBlock,
    decay: f64,
    factor_period: usize,
    inverse_period: usize,
    factors: Option<Vec<KfacFactors>>,
    operator: Option<Box<dyn CurvatureOperator>>,
}

impl std::fmt::Debug for Kfac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kfac")
            .field("kronecker_damping", &self.kronecker_damping)
            .field("labels", &self.labels)
            .field("approx", &self.approx)
            .field("norm_block", &self.norm_block)
            .field("decay", &self.decay)
            .field("factor_period", &self.factor_period)
            .field("inverse_period", &self.inverse_period)
            .finish_non_exhaustive()
    }
}

impl Default for Kfac {
    fn default() -> Self {
        Self::new()
    }
}

impl Kfac {
    /// Type-2 factors, decay 0.95, factors and inverses every step (cheap for layers of a few
    /// hundred units; with inverses every 10 steps the first factors, from one mini-batch, are
    /// used for ten steps and the tuned loss on digits is 27× higher), exact damping.
    pub fn new() -> Self {
        Self {
            kronecker_damping: KroneckerDamping::Exact,
            labels: Labels::Type2,
            approx: KfacApprox::Expand,
            norm_block: ScaleShiftBlock::Diagonal,
            decay: 0.95,
            factor_period: 1,
            inverse_period: 1,
            factors: None,
            operator: None,
        }
    }
    /// Which Fisher the factors approximate ([`Labels::Type2`] by default; [`Labels::Mc`]
    /// draws fresh labels every step, see [`StepInput::labels`]).
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }
    /// Expand or reduce factors for layers shared over locations (convolutions).
    pub fn with_approx(mut self, approx: KfacApprox) -> Self {
        self.approx = approx;
        self
    }
    /// The block kept for normalisation layers' scale and shift (diagonal by default).
    pub fn with_norm_block(mut self, norm_block: ScaleShiftBlock) -> Self {
        self.norm_block = norm_block;
        self
    }
    /// Factor and inverse update periods (≥ 1 each).
    pub fn with_periods(mut self, factor_period: usize, inverse_period: usize) -> Self {
        self.factor_period = factor_period;
        self.inverse_period = inverse_period;
        self
    }
    /// Decay ε of the running factor averages, in [0, 1).
    pub fn with_decay(mut self, decay: f64) -> Self {
        self.decay = decay;
        self
    }
    /// Exact or factored (π) damping of the Kronecker blocks.
    pub fn with_kronecker_damping(mut self, damping: KroneckerDamping) -> Self {
        self.kronecker_damping = damping;
        self
    }

    /// Update the running factors and, when due, the operator.
    fn refresh(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
    ) -> Result<&dyn CurvatureOperator> {
        if self.factors.is_none() || input.step.is_multiple_of(self.factor_period) {
            let batch = fisherlab_fisher::curvature::Kfac::new(input.labels(self.labels))
                .with_approx(self.approx)
                .with_norm_block(self.norm_block)
                .factors(problem)?;
            self.factors = Some(match self.factors.take() {
                Some(mut avg) => {
                    let e = self.decay;
                    for (a, b) in avg.iter_mut().zip(batch) {
                        a.a = &a.a * faer::Scale(e) + &b.a * faer::Scale(1.0 - e);
                        a.g = &a.g * faer::Scale(e) + &b.g * faer::Scale(1.0 - e);
                    }
                    avg
                }
                None => batch,
            });
        }
        let due = self.operator.is_none() || input.step.is_multiple_of(self.inverse_period);
        let operator = match self.operator.take() {
            Some(op) if !due => op,
            _ => {
                let factors = self.factors.as_deref().unwrap_or_default();
                kfac_operator(input.model, factors, self.kronecker_damping)?
            }
        };
        Ok(&**self.operator.insert(operator))
    }
}

impl Preconditioner for Kfac {
    fn name(&self) -> &'static str {
        "kfac"
    }
    fn default_lr(&self) -> f64 {
        crate::defaults::KFAC_LR
    }
    fn default_lambda(&self) -> f64 {
        crate::defaults::KFAC_DAMPING
    }
    fn needs_targets(&self) -> bool {
        self.labels == Labels::Empirical
    }
    fn settings(&self) -> crate::Settings {
        let mut s = factor_settings(self.labels, self.approx, self.norm_block, self.decay);
        s.extend([
            ("factor_period", self.factor_period.to_string()),
            ("inverse_period", self.inverse_period.to_string()),
            (
                "kronecker_damping",
                format!("{:?}", self.kronecker_damping).to_lowercase(),
            ),
        ]);
        s
    }
    fn check(&self) -> Result<()> {
        unit("decay", self.decay)?;
        crate::at_least_one("factor-period", self.factor_period)?;
        crate::at_least_one("inverse-period", self.inverse_period)
    }
    fn direction(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
        lambda: f64,
        _want_curvature: bool,
    ) -> Result<Direction> {
        let op = self.refresh(input, problem)?;
        Ok(Direction::new(solve(op, lambda, input.gradient)?))
    }
}
