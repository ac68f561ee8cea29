use crate::natural::{Direction, NaturalGradient, Preconditioner};
use crate::{Result, StepInput, solve, unit};
use faer::Mat;
use fisherlab_fisher::curvature::{
    KfacApprox, KfacFactors, Labels, Problem, ScaleShiftBlock, accumulate_scalings, ekfac_bases,
    ekfac_operator, ekfac_scalings, zero_scalings,
};

/// EKFAC (George et al. 2018) as an optimizer.
pub type EkfacOptimizer = NaturalGradient<Ekfac>;

/// EKFAC's curvature (George et al. 2018): running K-FAC factors (decay ε) whose eigenbases are
/// refreshed every `eigen_period` steps, and the diagonal in that basis refitted every step to
/// the mini-batch's per-sample gradients (running average with the same decay, restarted when
/// the basis changes).
///
/// Defaults: lr = 0.1, fixed λ = 1e-2, as K-FAC.
#[derive(Debug, Clone)]
pub struct Ekfac {
    labels: Labels,
    approx: KfacApprox,
    norm_block: ScaleShiftBlock,
    decay: f64,
    eigen_period: usize,
    factors: Option<Vec<KfacFactors>>,
    bases: Option<Vec<(Mat<f64>, Mat<f64>)>>,
    scalings: Option<Vec<Mat<f64>>>,
}

impl Default for Ekfac {
    fn default() -> Self {
        Self::new()
    }
}

impl Ekfac {
    /// Type-2 statistics, decay 0.95, eigenbasis every step (as K-FAC's inverses).
    pub fn new() -> Self {
        Self {
            labels: Labels::Type2,
            approx: KfacApprox::Expand,
            norm_block: ScaleShiftBlock::Diagonal,
            decay: 0.95,
            eigen_period: 1,
            factors: None,
            bases: None,
            scalings: None,
        }
    }
    /// Which labels the factors and the refit use.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }
    /// Expand or reduce factors (the basis) for layers shared over locations.
    pub fn with_approx(mut self, approx: KfacApprox) -> Self {
        self.approx = approx;
        self
    }
    /// The block kept for normalisation layers' scale and shift (diagonal by default).
    pub fn with_norm_block(mut self, norm_block: ScaleShiftBlock) -> Self {
        self.norm_block = norm_block;
        self
    }
    /// Steps between eigenbasis refreshes (≥ 1).
    pub fn with_eigen_period(mut self, period: usize) -> Self {
        self.eigen_period = period;
        self
    }
    /// Decay ε of the running averages, in [0, 1).
    pub fn with_decay(mut self, decay: f64) -> Self {
        self.decay = decay;
        self
    }
}

fn blend(avg: &mut Mat<f64>, batch: &Mat<f64>, e: f64) {
    *avg = &*avg * faer::Scale(e) + batch * faer::Scale(1.0 - e);
}

impl Preconditioner for Ekfac {
    fn name(&self) -> &'static str {
        "ekfac"
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
        let mut s =
            crate::kfac::factor_settings(self.labels, self.approx, self.norm_block, self.decay);
        s.push(("eigen_period", self.eigen_period.to_string()));
        s
    }
    fn check(&self) -> Result<()> {
        unit("decay", self.decay)?;
        crate::at_least_one("eigen-period", self.eigen_period)
    }
    fn direction(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
        lambda: f64,
        _want_curvature: bool,
    ) -> Result<Direction> {
        let labels = input.labels(self.labels);
        let e = self.decay;
        let scale = 1.0 / problem.len() as f64;
        let refresh = self.bases.is_none() || input.step.is_multiple_of(self.eigen_period);
        // one pass gives the factors and, in the current basis, the scalings; a step that
        // refreshes the basis needs the new factors first, so it takes a second pass
        let mut batch = KfacFactors::zeros(input.model);
        let mut batch_s = self.bases.as_deref().map(zero_scalings);
        problem.for_each_chunk(labels, |chunk| {
            KfacFactors::accumulate(&mut batch, chunk, scale, self.approx, self.norm_block);
            if let (Some(s), Some(b), false) = (&mut batch_s, &self.bases, refresh) {
                accumulate_scalings(s, chunk, b, scale);
            }
            Ok(())
        })?;
        match &mut self.factors {
            Some(avg) => {
                for (a, b) in avg.iter_mut().zip(&batch) {
                    blend(&mut a.a, &b.a, e);
                    blend(&mut a.g, &b.g, e);
                }
            }
            None => self.factors = Some(batch),
        }
        if refresh {
            let bases = ekfac_bases(self.factors.as_deref().unwrap_or_default())?;
            batch_s = Some(ekfac_scalings(problem, labels, &bases)?);
            self.bases = Some(bases);
            self.scalings = None;
        }
        let bases = self.bases.clone().unwrap_or_default();
        let batch_s = batch_s.unwrap_or_default();
        match &mut self.scalings {
            Some(avg) => {
                for (a, b) in avg.iter_mut().zip(&batch_s) {
                    blend(a, b, e);
                }
            }
            None => self.scalings = Some(batch_s),
        }
        let op = ekfac_operator(
            input.model,
            bases,
            self.scalings.as_deref().unwrap_or_default(),
        )?;
        Ok(Direction::new(solve(op.as_ref(), lambda, input.gradient)?))
    }
}
