use crate::damping::{fisher_quadratic, natural_step};
use crate::diagonal::step_seed;
use crate::{Damping, Error, Optimizer, Result, StepInput, StepReport, dot, positive, solve, unit};
use fisherlab_fisher::curvature::{
    Approximation, Kfac, KfacApprox, KfacFactors, Labels, MatrixFreeFisher, Problem,
    ScaleShiftBlock, kfac_operator,
};
use fisherlab_linalg::{CurvatureOperator, KroneckerDamping};

/// Which labels the K-FAC factors of an optimizer use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorLabels {
    /// Exact expectation over labels ("type-2").
    Type2,
    /// One label per input sampled from the model, re-seeded every step.
    MonteCarlo,
    /// The mini-batch's observed targets (empirical K-FAC).
    Empirical,
}

impl FactorLabels {
    pub(crate) fn labels(self, input: &StepInput<'_>) -> Labels {
        match self {
            FactorLabels::Type2 => Labels::Expected,
            FactorLabels::MonteCarlo => Labels::Sampled {
                per_input: 1,
                seed: step_seed(input.seed, input.step),
            },
            FactorLabels::Empirical => Labels::Observed,
        }
    }
}

/// K-FAC (Martens & Grosse 2015) as an optimizer.
///
/// - factors `Aₗ`, `Gₗ` of the mini-batch every `factor_period` steps, folded into running
///   averages `A ← ε A + (1 − ε) A_batch` (ε = `decay`);
/// - the operator `⊕ₗ Gₗ ⊗ Aₗ` (and with it the factors' eigendecompositions) rebuilt every
///   `inverse_period` steps, damped exactly or with factored π-damping;
/// - λ fixed or Levenberg–Marquardt ([`Damping`]);
/// - either a learning rate with optional KL-clipping (Ba et al. 2017: the step is scaled by
///   `min(1, √(κ / (lr² |dᵀg|)))`), or the automatic learning rate and momentum of Martens &
///   Grosse §7: `δ = α Δ + μ δ_prev` minimising the quadratic model with the exact mini-batch
///   Fisher (two Fisher-vector products per step).
pub struct KfacOptimizer {
    lr: f64,
    damping: Damping,
    kronecker_damping: KroneckerDamping,
    factor_labels: FactorLabels,
    approx: KfacApprox,
    norm_block: ScaleShiftBlock,
    decay: f64,
    factor_period: usize,
    inverse_period: usize,
    kl_clip: Option<f64>,
    auto_lr_momentum: bool,
    factors: Option<Vec<KfacFactors>>,
    operator: Option<Box<dyn CurvatureOperator>>,
    previous: Option<Vec<f64>>,
}

impl std::fmt::Debug for KfacOptimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KfacOptimizer")
            .field("lr", &self.lr)
            .field("damping", &self.damping)
            .field("kronecker_damping", &self.kronecker_damping)
            .field("factor_labels", &self.factor_labels)
            .field("approx", &self.approx)
            .field("norm_block", &self.norm_block)
            .field("decay", &self.decay)
            .field("factor_period", &self.factor_period)
            .field("inverse_period", &self.inverse_period)
            .field("kl_clip", &self.kl_clip)
            .field("auto_lr_momentum", &self.auto_lr_momentum)
            .finish_non_exhaustive()
    }
}

impl KfacOptimizer {
    /// Type-2 factors, decay 0.95, factors every step, inverses every 10 steps, exact damping.
    pub fn new(lr: f64, lambda: f64) -> Self {
        Self {
            lr,
            damping: Damping::fixed(lambda),
            kronecker_damping: KroneckerDamping::Exact,
            factor_labels: FactorLabels::Type2,
            approx: KfacApprox::Expand,
            norm_block: ScaleShiftBlock::Diagonal,
            decay: 0.95,
            factor_period: 1,
            inverse_period: 10,
            kl_clip: None,
            auto_lr_momentum: false,
            factors: None,
            operator: None,
            previous: None,
        }
    }
    /// Which labels the factors use.
    pub fn with_factor_labels(mut self, labels: FactorLabels) -> Self {
        self.factor_labels = labels;
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
    /// Another damping rule.
    pub fn with_damping(mut self, damping: Damping) -> Self {
        self.damping = damping;
        self
    }
    /// KL-clipping with bound κ > 0.
    pub fn with_kl_clip(mut self, kappa: f64) -> Self {
        self.kl_clip = Some(kappa);
        self
    }
    /// Automatic learning rate and momentum from the quadratic model.
    pub fn with_auto_lr_momentum(mut self) -> Self {
        self.auto_lr_momentum = true;
        self
    }

    fn check(&self) -> Result<()> {
        positive("lr", self.lr)?;
        unit("decay", self.decay)?;
        self.damping.check()?;
        if let Some(k) = self.kl_clip {
            positive("kl-clip", k)?;
        }
        for (name, v) in [
            ("factor-period", self.factor_period),
            ("inverse-period", self.inverse_period),
        ] {
            if v == 0 {
                return Err(Error::InvalidOption {
                    name,
                    value: "0".into(),
                    rule: "must be >= 1",
                });
            }
        }
        Ok(())
    }

    /// Update the running factors and, when due, the operator.
    pub(crate) fn refresh(&mut self, input: &StepInput<'_>, problem: &Problem<'_>) -> Result<()> {
        if self.factors.is_none() || input.step.is_multiple_of(self.factor_period) {
            let batch = Kfac::new(self.factor_labels.labels(input))
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
        if self.operator.is_none() || input.step.is_multiple_of(self.inverse_period) {
            let factors = self.factors.as_deref().unwrap_or_default();
            self.operator = Some(kfac_operator(input.model, factors, self.kronecker_damping)?);
        }
        Ok(())
    }

    pub(crate) fn operator(&self) -> Option<&dyn CurvatureOperator> {
        self.operator.as_deref()
    }
}

impl Optimizer for KfacOptimizer {
    fn name(&self) -> &'static str {
        "kfac"
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        self.check()?;
        let problem = crate::batch_problem(input, theta)?;
        let problem = if self.factor_labels == FactorLabels::Empirical {
            problem.with_targets(input.y)?
        } else {
            problem
        };
        self.refresh(input, &problem)?;
        let op = self.operator().ok_or(Error::NonFinite {
            what: "K-FAC operator",
            step: input.step,
        })?;
        let lambda = self.damping.lambda;
        let d = solve(op, lambda, input.gradient)?;
        if self.auto_lr_momentum {
            let before = theta.to_vec();
            let report = auto_step(
                input,
                theta,
                &d,
                &mut self.damping,
                self.previous.as_deref(),
            )?;
            self.previous = Some(theta.iter().zip(&before).map(|(a, b)| a - b).collect());
            return Ok(report);
        }
        let mut lr = self.lr;
        if let Some(kappa) = self.kl_clip {
            let vg = (lr * lr * dot(&d, input.gradient)).abs();
            if vg > 0.0 {
                lr *= (kappa / vg).sqrt().min(1.0);
            }
        }
        let before = theta.to_vec();
        natural_step(input, theta, &d, lr, &mut self.damping, |delta| {
            fisher_quadratic(input, &before, delta)
        })
    }
}

/// Martens & Grosse §7: `δ = α Δ + μ δ_prev` (Δ = −d) minimising
/// `M(δ) = gᵀδ + ½ δᵀ(F + λI)δ` with the exact mini-batch Fisher; without a previous step,
/// `α = −gᵀΔ / Δᵀ(F + λI)Δ`.
pub(crate) fn auto_step(
    input: &StepInput<'_>,
    theta: &mut [f64],
    d: &[f64],
    damping: &mut Damping,
    previous: Option<&[f64]>,
) -> Result<StepReport> {
    let lambda = damping.lambda;
    let problem = crate::batch_problem(input, theta)?;
    let f = MatrixFreeFisher.build(&problem)?;
    let big: Vec<f64> = d.iter().map(|v| -v).collect();
    let fb = f.matvec(&big)?;
    let g = input.gradient;
    let a11 = dot(&big, &fb) + lambda * dot(&big, &big);
    let (alpha, mu, fp) = match previous {
        // a vanishing direction (a gradient of exactly zero at the optimum): nothing to take,
        // rather than the 0/0 of the step-size formula
        _ if a11.is_nan() || a11 <= 0.0 => (0.0, 0.0, None),
        Some(p) if dot(p, p) > 0.0 => {
            let fp = f.matvec(p)?;
            let a12 = dot(&big, &fp) + lambda * dot(&big, p);
            let a22 = dot(p, &fp) + lambda * dot(p, p);
            let (b1, b2) = (dot(g, &big), dot(g, p));
            let det = a11 * a22 - a12 * a12;
            if det > 1e-14 * a11 * a22 {
                (
                    -(a22 * b1 - a12 * b2) / det,
                    -(a11 * b2 - a12 * b1) / det,
                    Some(fp),
                )
            } else {
                (-b1 / a11, 0.0, None)
            }
        }
        _ => (-dot(g, &big) / a11, 0.0, None),
    };
    let prev = previous.unwrap_or(&[]);
    let delta: Vec<f64> = (0..theta.len())
        .map(|q| alpha * big[q] + if mu != 0.0 { mu * prev[q] } else { 0.0 })
        .collect();
    let quad = match &fp {
        Some(fp) => {
            let fd: Vec<f64> = (0..theta.len())
                .map(|q| alpha * fb[q] + mu * fp[q])
                .collect();
            dot(&delta, &fd)
        }
        None => alpha * alpha * dot(&big, &fb),
    };
    let mut rho = None;
    if damping.due(input.step) {
        let r = crate::damping::reduction_ratio(input, theta, &delta, lambda, quad)?;
        damping.update(r);
        rho = Some(r);
    }
    // δ is applied as θ − 1·(−δ)
    let neg: Vec<f64> = delta.iter().map(|v| -v).collect();
    crate::apply_step(theta, &neg, 1.0, input.step)?;
    Ok(StepReport {
        damping: Some(lambda),
        rho,
        learning_rate: alpha,
        cg_iterations: None,
    })
}
