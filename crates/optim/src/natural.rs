//! The one skeleton of every natural-gradient optimizer: a [`Preconditioner`] turns the
//! mini-batch gradient into a direction `d ≈ (C + λI)⁻¹ g`; [`NaturalGradient`] owns the step
//! size, the damping rule, KL-clipping and the automatic learning rate and momentum, and takes
//! the step.

use crate::damping::{fisher_quadratic, natural_step};
use crate::{Damping, Error, Optimizer, Result, StepInput, StepReport, dot, positive};
use fisherlab_fisher::curvature::{Approximation, MatrixFreeFisher, Problem};

/// A preconditioned direction at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Direction {
    /// `d ≈ (C + λI)⁻¹ g` (the step is `−lr·d`).
    pub d: Vec<f64>,
    /// `dᵀ F d` with the exact Fisher of the mini-batch, when the preconditioner has that Fisher
    /// at hand (exact NGD, Woodbury, Hessian-free) and it was asked for; otherwise the skeleton
    /// computes it with one Fisher-vector product.
    pub d_fisher_d: Option<f64>,
    /// Conjugate-gradient iterations spent, where CG was used.
    pub cg_iterations: Option<usize>,
}

impl Direction {
    /// A direction with nothing else known.
    pub fn new(d: Vec<f64>) -> Self {
        Self {
            d,
            d_fisher_d: None,
            cg_iterations: None,
        }
    }
}

/// What distinguishes one natural-gradient optimizer from another: how the curvature of the
/// mini-batch is built (and averaged over steps), and how `(C + λI)⁻¹ g` is solved.
///
/// # Examples
/// Block-diagonal natural gradient (the exact per-layer blocks) in a few lines:
/// ```
/// use fisherlab_fisher::curvature::{Approximation, BlockDiagonalFisher, Labels, Problem};
/// use fisherlab_optim::{Damping, Direction, NaturalGradient, Preconditioner, Result, StepInput};
///
/// struct BlockDiagonal;
/// impl Preconditioner for BlockDiagonal {
///     fn name(&self) -> &'static str {
///         "block-ngd"
///     }
///     fn direction(
///         &mut self,
///         input: &StepInput<'_>,
///         problem: &Problem<'_>,
///         lambda: f64,
///         _want_curvature: bool,
///     ) -> Result<Direction> {
///         let f = BlockDiagonalFisher::new(Labels::Type2).build(problem)?;
///         let g = faer::MatRef::from_column_major_slice(input.gradient, input.gradient.len(), 1);
///         Ok(Direction::new(f.solve_damped(lambda, g)?.col_as_slice(0).to_vec()))
///     }
/// }
/// let opt = NaturalGradient::builder(BlockDiagonal)
///     .damping(Damping::fixed(1e-2))
///     .build()
///     .unwrap();
/// assert!(NaturalGradient::builder(BlockDiagonal).lr(-1.0).build().is_err());
/// # let _ = opt;
/// ```
pub trait Preconditioner {
    /// Short name, as on the command line.
    fn name(&self) -> &'static str;
    /// Check the preconditioner's own options (called once, by [`Builder::build`]).
    ///
    /// # Errors
    /// An option that breaks its rule.
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// The damping rule this optimizer uses by default, started from `lambda` (fixed unless
    /// overridden).
    fn damping_rule(&self, lambda: f64) -> Damping {
        Damping::fixed(lambda)
    }
    /// Its default learning rate (see [`crate::defaults`]).
    fn default_lr(&self) -> f64 {
        crate::defaults::NATURAL_LR
    }
    /// The λ its default rule starts from (see [`crate::defaults`]).
    fn default_lambda(&self) -> f64 {
        1.0
    }
    /// Its own hyper-parameters (the shared ones — lr, damping, KL-clipping — are listed by
    /// [`NaturalGradient`]); see [`Optimizer::settings`].
    fn settings(&self) -> crate::Settings {
        Vec::new()
    }
    /// Whether the curvature needs the mini-batch's observed targets (empirical statistics).
    fn needs_targets(&self) -> bool {
        false
    }
    /// The direction for this step, updating any running state. `problem` is the mini-batch at
    /// θ (with the recorded forward pass, and the targets when [`Self::needs_targets`]);
    /// `want_curvature` says the damping rule needs `dᵀFd` this step.
    ///
    /// # Errors
    /// Curvature that cannot be computed or inverted.
    fn direction(
        &mut self,
        input: &StepInput<'_>,
        problem: &Problem<'_>,
        lambda: f64,
        want_curvature: bool,
    ) -> Result<Direction>;
}

/// A natural-gradient optimizer: `θ ← θ − lr·d` with `d` from its [`Preconditioner`], λ fixed or
/// Levenberg–Marquardt, optional KL-clipping (Ba et al. 2017: the step is scaled by
/// `min(1, √(κ / (lr² |dᵀg|)))`) or the automatic learning rate and momentum of Martens & Grosse
/// §7 (`δ = α Δ + μ δ_prev` minimising the quadratic model with the exact mini-batch Fisher).
///
/// Built by [`NaturalGradient::builder`], which checks every option once: a built optimizer
/// has valid options.
#[derive(Debug, Clone)]
pub struct NaturalGradient<P> {
    preconditioner: P,
    lr: f64,
    damping: Damping,
    kl_clip: Option<f64>,
    auto_lr_momentum: bool,
    previous: Option<Vec<f64>>,
}

/// Options of a [`NaturalGradient`] before they are checked.
#[derive(Debug, Clone)]
pub struct Builder<P> {
    preconditioner: P,
    lr: Option<f64>,
    damping: Option<Damping>,
    lambda: Option<f64>,
    kl_clip: Option<f64>,
    auto_lr_momentum: bool,
}

impl<P: Preconditioner> NaturalGradient<P> {
    /// Options for `preconditioner`: its default learning rate, its own damping rule from its
    /// default λ, no clipping.
    pub fn builder(preconditioner: P) -> Builder<P> {
        Builder {
            preconditioner,
            lr: None,
            damping: None,
            lambda: None,
            kl_clip: None,
            auto_lr_momentum: false,
        }
    }
    /// `preconditioner` with learning rate `lr` and a fixed damping `lambda`.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new(preconditioner: P, lr: f64, lambda: f64) -> Result<Self> {
        Self::builder(preconditioner)
            .lr(lr)
            .damping(Damping::fixed(lambda))
            .build()
    }
    /// The current damping.
    pub fn damping(&self) -> Damping {
        self.damping
    }
    /// The learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }
    /// The preconditioner and its state.
    pub fn preconditioner(&self) -> &P {
        &self.preconditioner
    }
}

impl<P: Preconditioner> Builder<P> {
    /// Learning rate (> 0; default: the preconditioner's).
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = Some(lr);
        self
    }
    /// The damping rule (default: the preconditioner's own rule from its default λ).
    pub fn damping(mut self, damping: Damping) -> Self {
        self.damping = Some(damping);
        self
    }
    /// The preconditioner's own damping rule, started from `lambda` (ignored when
    /// [`Self::damping`] gives a rule).
    pub fn lambda(mut self, lambda: f64) -> Self {
        self.lambda = Some(lambda);
        self
    }
    /// KL-clipping with bound κ > 0.
    pub fn kl_clip(mut self, kappa: f64) -> Self {
        self.kl_clip = Some(kappa);
        self
    }
    /// Automatic learning rate and momentum from the quadratic model (the learning rate and
    /// KL-clipping are then unused).
    pub fn auto_lr_momentum(mut self) -> Self {
        self.auto_lr_momentum = true;
        self
    }
    /// The optimizer, once every option is checked.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the first option that breaks its rule.
    pub fn build(self) -> Result<NaturalGradient<P>> {
        let lr = self.lr.unwrap_or_else(|| self.preconditioner.default_lr());
        positive("lr", lr)?;
        if let Some(k) = self.kl_clip {
            positive("kl-clip", k)?;
        }
        if let (Some(k), true) = (self.kl_clip, self.auto_lr_momentum) {
            return Err(Error::InvalidOption {
                name: "kl-clip",
                value: k.to_string(),
                rule: "cannot be combined with the automatic learning rate",
            });
        }
        let damping = self.damping.unwrap_or_else(|| {
            let p = &self.preconditioner;
            p.damping_rule(self.lambda.unwrap_or_else(|| p.default_lambda()))
        });
        damping.check()?;
        self.preconditioner.check()?;
        Ok(NaturalGradient {
            preconditioner: self.preconditioner,
            lr,
            damping,
            kl_clip: self.kl_clip,
            auto_lr_momentum: self.auto_lr_momentum,
            previous: None,
        })
    }
}

impl<P: Preconditioner> Optimizer for NaturalGradient<P> {
    fn name(&self) -> &'static str {
        self.preconditioner.name()
    }
    fn settings(&self) -> crate::Settings {
        let d = &self.damping;
        let mut s = vec![
            ("lr", self.lr.to_string()),
            ("damping", d.lambda.to_string()),
            ("damping_min", d.min.to_string()),
            ("damping_max", d.max.to_string()),
        ];
        match d.rule {
            crate::DampingRule::Fixed => s.push(("damping_rule", "fixed".into())),
            crate::DampingRule::LevenbergMarquardt { decay, period } => {
                s.push(("damping_rule", "levenberg-marquardt".into()));
                s.push(("damping_omega", decay.to_string()));
                s.push(("damping_period", period.to_string()));
            }
        }
        s.push((
            "kl_clip",
            self.kl_clip.map_or("none".into(), |k| k.to_string()),
        ));
        s.push(("auto_lr_momentum", self.auto_lr_momentum.to_string()));
        s.extend(self.preconditioner.settings());
        s
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        let lambda = self.damping.lambda;
        let due = self.damping.due(input.step);
        let direction = {
            let problem = crate::batch_problem(input, theta)?;
            let problem = if self.preconditioner.needs_targets() {
                problem.with_targets(input.y)?
            } else {
                problem
            };
            self.preconditioner
                .direction(input, &problem, lambda, due && !self.auto_lr_momentum)?
        };
        if self.auto_lr_momentum {
            let before = theta.to_vec();
            let mut report = auto_step(
                input,
                theta,
                &direction.d,
                &mut self.damping,
                self.previous.as_deref(),
            )?;
            self.previous = Some(theta.iter().zip(&before).map(|(a, b)| a - b).collect());
            report.cg_iterations = direction.cg_iterations;
            return Ok(report);
        }
        let mut lr = self.lr;
        if let Some(kappa) = self.kl_clip {
            let vg = (lr * lr * dot(&direction.d, input.gradient)).abs();
            if vg > 0.0 {
                lr *= (kappa / vg).sqrt().min(1.0);
            }
        }
        let quad = if due {
            Some(match direction.d_fisher_d {
                Some(q) => lr * lr * q,
                None => {
                    let delta: Vec<f64> = direction.d.iter().map(|v| -lr * v).collect();
                    fisher_quadratic(input, theta, &delta)?
                }
            })
        } else {
            None
        };
        let mut report = natural_step(input, theta, &direction.d, lr, &mut self.damping, quad)?;
        report.cg_iterations = direction.cg_iterations;
        Ok(report)
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
