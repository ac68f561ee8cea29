use crate::{Result, StepInput, dot, positive};
use fisherlab_fisher::curvature::{Approximation, MatrixFreeFisher};
use fisherlab_fisher::model::mean_nll;

/// How λ changes from step to step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DampingRule {
    /// λ stays as given.
    Fixed,
    /// Levenberg–Marquardt (Martens 2010; Martens & Grosse 2015 §6.5): every `period` steps the
    /// reduction ratio `ρ = (L(θ + δ) − L(θ)) / (M(δ) − M(0))` of the quadratic model
    /// `M(δ) = L + gᵀδ + ½ δᵀ(F + λI)δ` (exact Fisher of the mini-batch) is computed;
    /// `ρ > 3/4` multiplies λ by `decay`, `ρ < 1/4` divides it by `decay`, and a step with
    /// `ρ ≤ 0` (the loss went up) is rejected.
    LevenbergMarquardt {
        /// ω in (0, 1) (Martens & Grosse use `(19/20)^period`).
        decay: f64,
        /// Steps between adjustments (≥ 1).
        period: usize,
    },
}

/// Damping λ with its adaptation rule and bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Damping {
    /// Current λ.
    pub lambda: f64,
    /// The rule.
    pub rule: DampingRule,
    /// Smallest λ the rule may reach.
    pub min: f64,
    /// Largest λ the rule may reach.
    pub max: f64,
}

impl Damping {
    /// A fixed λ.
    pub fn fixed(lambda: f64) -> Self {
        Self {
            lambda,
            rule: DampingRule::Fixed,
            min: 0.0,
            max: f64::INFINITY,
        }
    }
    /// Levenberg–Marquardt adjusted every step by `ω = 2/3` (Martens 2010, Hessian-free), kept
    /// at or above `λ/100`: on mini-batches much smaller than P an undamped Gauss–Newton step
    /// fits the mini-batch exactly and the next one undoes it, so λ must not vanish.
    pub fn every_step(lambda: f64) -> Self {
        Self {
            rule: DampingRule::LevenbergMarquardt {
                decay: 2.0 / 3.0,
                period: 1,
            },
            min: lambda / 100.0,
            ..Self::adaptive(lambda)
        }
    }
    /// The default of exact NGD and Woodbury NGD: Levenberg–Marquardt every step from `lambda`
    /// with ω = 1/2, kept within `[λ·1e-6, λ·1e4]`. With full batches on a generalised linear
    /// model, λ halves on every step the quadratic model predicts well, so that after a few
    /// steps the update is Fisher scoring (`λ → 0`, lr = 1) and converges as fast; the floor
    /// keeps mini-batch steps from fitting the mini-batch exactly.
    pub fn scoring(lambda: f64) -> Self {
        Self {
            lambda,
            rule: DampingRule::LevenbergMarquardt {
                decay: crate::defaults::SCORING_DECAY,
                period: 1,
            },
            min: lambda * 1e-6,
            max: lambda * 1e4,
        }
    }
    /// Levenberg–Marquardt from λ, adjusted every 5 steps by `ω = (19/20)⁵`.
    pub fn adaptive(lambda: f64) -> Self {
        Self {
            lambda,
            rule: DampingRule::LevenbergMarquardt {
                decay: (19.0f64 / 20.0).powi(5),
                period: 5,
            },
            min: 1e-8,
            max: 1e8,
        }
    }
    pub(crate) fn check(&self) -> Result<()> {
        positive("damping", self.lambda)?;
        if let DampingRule::LevenbergMarquardt { decay, period } = self.rule {
            if !(decay > 0.0 && decay < 1.0) {
                return Err(crate::Error::InvalidOption {
                    name: "damping decay",
                    value: decay.to_string(),
                    rule: "must be in (0, 1)",
                });
            }
            if period == 0 {
                return Err(crate::Error::InvalidOption {
                    name: "damping period",
                    value: "0".into(),
                    rule: "must be >= 1",
                });
            }
        }
        Ok(())
    }
    /// Whether this step adjusts λ (and so needs ρ).
    pub(crate) fn due(&self, step: usize) -> bool {
        matches!(self.rule, DampingRule::LevenbergMarquardt { period, .. } if step.is_multiple_of(period))
    }
    /// Adjust λ from the reduction ratio ρ.
    pub fn update(&mut self, rho: f64) {
        if let DampingRule::LevenbergMarquardt { decay, .. } = self.rule {
            if rho > 0.75 {
                self.lambda = (self.lambda * decay).max(self.min);
            } else if rho < 0.25 || !rho.is_finite() {
                self.lambda = (self.lambda / decay).min(self.max);
            }
        }
    }
}

/// `δᵀ F δ` with F the exact Fisher of the mini-batch at θ (the parameters the step starts from,
/// so the recorded forward pass applies), by one Fisher-vector product.
pub(crate) fn fisher_quadratic(input: &StepInput<'_>, theta: &[f64], delta: &[f64]) -> Result<f64> {
    let f = MatrixFreeFisher.build(&crate::batch_problem(input, theta)?)?;
    Ok(dot(delta, &f.matvec(delta)?))
}

/// The reduction ratio ρ of the step δ taken from θ (the parameters before the step), with
/// `quad = δᵀ F δ`.
pub(crate) fn reduction_ratio(
    input: &StepInput<'_>,
    theta: &[f64],
    delta: &[f64],
    lambda: f64,
    quad: f64,
) -> Result<f64> {
    let moved: Vec<f64> = theta.iter().zip(delta).map(|(t, d)| t + d).collect();
    let new_loss = mean_nll(input.model, &moved, input.x, input.y)?;
    let model_change = dot(input.gradient, delta) + 0.5 * quad + 0.5 * lambda * dot(delta, delta);
    Ok((new_loss - input.loss) / model_change)
}

/// The step shared by the natural-gradient optimizers: `δ = −lr·d` for the preconditioned
/// gradient `d`; where the damping rule is due, ρ of δ (with `quad = δᵀFδ`, given exactly when
/// the rule is due) and the λ update; then θ ← θ + δ.
pub(crate) fn natural_step(
    input: &StepInput<'_>,
    theta: &mut [f64],
    d: &[f64],
    lr: f64,
    damping: &mut Damping,
    quad: Option<f64>,
) -> Result<crate::StepReport> {
    let lambda = damping.lambda;
    let mut rho = None;
    if let (true, Some(q)) = (damping.due(input.step), quad) {
        let delta: Vec<f64> = d.iter().map(|v| -lr * v).collect();
        let r = reduction_ratio(input, theta, &delta, lambda, q)?;
        damping.update(r);
        rho = Some(r);
        // a step that increased the loss (or whose model is meaningless) is rejected: θ stays,
        // λ has grown, and the next step tries again (Martens 2010)
        if r.is_nan() || r <= 0.0 {
            return Ok(crate::StepReport {
                damping: Some(lambda),
                rho,
                learning_rate: 0.0,
                cg_iterations: None,
            });
        }
    }
    crate::apply_step(theta, d, lr, input.step)?;
    Ok(crate::StepReport {
        damping: Some(lambda),
        rho,
        learning_rate: lr,
        cg_iterations: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenberg_marquardt_moves_lambda_both_ways_within_bounds() {
        let mut d = Damping::adaptive(1.0);
        let w = (19.0f64 / 20.0).powi(5);
        d.update(0.9);
        assert!((d.lambda - w).abs() < 1e-15);
        d.update(0.5); // in between: unchanged
        assert!((d.lambda - w).abs() < 1e-15);
        d.update(0.1);
        d.update(f64::NAN);
        assert!((d.lambda - 1.0 / w).abs() < 1e-12);
        let mut f = Damping::fixed(0.3);
        f.update(0.9);
        assert_eq!(f.lambda.to_bits(), 0.3f64.to_bits());
        d.lambda = 1e8;
        d.update(0.0);
        assert!(d.lambda <= 1e8);
        assert!(Damping::fixed(0.0).check().is_err());
        assert!(
            Damping {
                rule: DampingRule::LevenbergMarquardt {
                    decay: 1.5,
                    period: 1
                },
                ..Damping::fixed(1.0)
            }
            .check()
            .is_err()
        );
    }
}
