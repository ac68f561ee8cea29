//! The optimizer registry: every optimizer by name ([`OptimizerArg`]), built from one set of
//! hyper-parameters ([`OptimizerOptions`]) with its defaults and checks, for `fisherlab train`,
//! `fisherlab compare` and Python's `fisherlab.train`.

use crate::routes::{KfacApproxArg, NormBlockArg};
use crate::{Choice, Error, checks, choice};
use fisherlab_fisher::curvature::Labels;
use fisherlab_linalg::KroneckerDamping;
use fisherlab_optim::{
    Adam, ConjugateGradient, Damping, Diagonal, Ekfac, Exact, Kfac, NaturalGradient, Optimizer,
    Preconditioner, Sgd, StepRecord, Woodbury, defaults,
};

choice! {
    /// An optimizer by name.
    pub enum OptimizerArg ("optimizer") {
        Sgd = "sgd": "SGD (with --momentum, --nesterov, --weight-decay).",
        Adam = "adam": "Adam (AdamW with --weight-decay).",
        Ngd = "ngd": "Exact natural gradient (dense Fisher of the mini-batch).",
        Diag = "diag": "Diagonal natural gradient (running diagonal Fisher).",
        Kfac = "kfac": "K-FAC.",
        Ekfac = "ekfac": "EKFAC.",
        Smw = "smw": "Exact natural gradient on the mini-batch by Sherman–Morrison–Woodbury.",
        Hf = "hf": "Hessian-free (truncated CG on Fisher-vector products).",
    }
}

impl OptimizerArg {
    /// Default learning rate.
    pub fn lr(self) -> f64 {
        match self {
            OptimizerArg::Sgd => defaults::SGD_LR,
            OptimizerArg::Adam => defaults::ADAM_LR,
            OptimizerArg::Diag => defaults::DIAG_LR,
            OptimizerArg::Kfac | OptimizerArg::Ekfac => defaults::KFAC_LR,
            OptimizerArg::Ngd | OptimizerArg::Smw | OptimizerArg::Hf => defaults::NATURAL_LR,
        }
    }
}

/// Default optimizer steps of a training run.
pub const STEPS: usize = 100;
/// Default mini-batch size of a training run.
pub const BATCH: usize = 256;
/// Default period of the full-data loss evaluation of a training run.
pub const EVAL_EVERY: usize = 10;

/// Hyper-parameters of the optimizers, each read by the optimizers it applies to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OptimizerOptions {
    /// Learning rate (`None`: [`OptimizerArg::lr`]).
    pub lr: Option<f64>,
    /// Damping λ where each natural-gradient optimizer's own rule starts (`None`: its own).
    pub damping: Option<f64>,
    /// Keep λ fixed at `damping` (or 1) for every optimizer.
    pub fixed_damping: bool,
    /// Levenberg–Marquardt every 5 steps from `damping` (or 1) for every optimizer.
    pub adaptive_damping: bool,
    /// SGD momentum, in [0, 1).
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (L2 for SGD, decoupled for Adam, which becomes AdamW), ≥ 0.
    pub weight_decay: f64,
    /// Which Fisher K-FAC, EKFAC and diag approximate.
    pub kfac_type: Labels,
    /// K-FAC and EKFAC factors of layers shared over locations.
    pub kfac_approx: KfacApproxArg,
    /// K-FAC and EKFAC block of normalisation layers' scale and shift.
    pub norm_block: NormBlockArg,
    /// Decay of the running curvature averages, in [0, 1).
    pub decay: f64,
    /// K-FAC: steps between factor updates (≥ 1).
    pub factor_period: usize,
    /// K-FAC: steps between inverse updates; EKFAC: between eigenbasis refreshes (≥ 1).
    pub inverse_period: usize,
    /// K-FAC: factored (π) damping instead of exact damping.
    pub factored_damping: bool,
    /// K-FAC: KL-clipping bound κ (> 0).
    pub kl_clip: Option<f64>,
    /// K-FAC: automatic learning rate and momentum from the quadratic model.
    pub auto_lr: bool,
    /// Hessian-free: CG iterations per step (≥ 1).
    pub max_cg: usize,
}

/// A value given to [`OptimizerOptions::set`] by a front end that names options at run time
/// (Python's keyword arguments).
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// `True` / `False`.
    Flag(bool),
    /// A whole number.
    Count(u64),
    /// A number.
    Number(f64),
    /// A name (`kfac_type="type2"`).
    Text(String),
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Flag(b) => write!(f, "{b}"),
            Setting::Count(n) => write!(f, "{n}"),
            Setting::Number(x) => write!(f, "{x}"),
            Setting::Text(t) => write!(f, "{t}"),
        }
    }
}

impl Default for OptimizerOptions {
    fn default() -> Self {
        OptimizerOptions::DEFAULT
    }
}

impl OptimizerOptions {
    /// Every option at its default (the learning rate and damping each optimizer's own).
    pub const DEFAULT: OptimizerOptions = OptimizerOptions {
        lr: None,
        damping: None,
        fixed_damping: false,
        adaptive_damping: false,
        momentum: defaults::SGD_MOMENTUM,
        nesterov: false,
        weight_decay: 0.0,
        kfac_type: Labels::Mc {
            per_input: 1,
            seed: 0,
        },
        kfac_approx: KfacApproxArg::Expand,
        norm_block: NormBlockArg::Diagonal,
        decay: 0.95,
        factor_period: 1,
        inverse_period: 1,
        factored_damping: false,
        kl_clip: None,
        auto_lr: false,
        max_cg: 50,
    };

    /// The options' names, as [`OptimizerOptions::set`] takes them (the flags' without `--`,
    /// with underscores).
    pub const NAMES: [&'static str; 17] = [
        "lr",
        "damping",
        "fixed_damping",
        "adaptive_damping",
        "momentum",
        "nesterov",
        "weight_decay",
        "kfac_type",
        "kfac_approx",
        "norm_block",
        "decay",
        "factor_period",
        "inverse_period",
        "factored_damping",
        "kl_clip",
        "auto_lr",
        "max_cg",
    ];

    /// Set the option `name` to `value`.
    ///
    /// # Errors
    /// An unknown name, or a value of the wrong type for it (a text for a number, a fraction
    /// for a count). The value's range is [`OptimizerOptions::check`]'s.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_app::optimizers::{OptimizerOptions, Setting};
    /// let mut o = OptimizerOptions::default();
    /// o.set("kl_clip", Setting::Number(1e-3)).unwrap();
    /// assert_eq!(o.kl_clip, Some(1e-3));
    /// assert!(o.set("max_cg", Setting::Number(2.5)).is_err());
    /// assert!(o.set("klclip", Setting::Number(1e-3)).is_err());
    /// ```
    pub fn set(&mut self, name: &str, value: Setting) -> Result<(), Error> {
        let flag = name.replace('_', "-");
        let wrong = |kind: &str| {
            Err(Error::Input(format!(
                "--{flag} {value} is invalid: must be {kind}"
            )))
        };
        let number = |v: &Setting| match v {
            Setting::Number(x) => Some(*x),
            Setting::Count(n) => Some(*n as f64),
            _ => None,
        };
        let count = |v: &Setting| match v {
            Setting::Count(n) => usize::try_from(*n).ok(),
            _ => None,
        };
        let flag_value = |v: &Setting| match v {
            Setting::Flag(b) => Some(*b),
            _ => None,
        };
        let text = |v: &Setting| match v {
            Setting::Text(t) => Some(t.clone()),
            _ => None,
        };
        macro_rules! put {
            ($field:expr, $get:expr, $kind:literal) => {
                match $get(&value) {
                    Some(v) => $field = v,
                    None => return wrong($kind),
                }
            };
        }
        match name {
            "lr" => put!(self.lr, |v| number(v).map(Some), "a number"),
            "damping" => put!(self.damping, |v| number(v).map(Some), "a number"),
            "kl_clip" => put!(self.kl_clip, |v| number(v).map(Some), "a number"),
            "momentum" => put!(self.momentum, number, "a number"),
            "weight_decay" => put!(self.weight_decay, number, "a number"),
            "decay" => put!(self.decay, number, "a number"),
            "factor_period" => put!(self.factor_period, count, "a whole number"),
            "inverse_period" => put!(self.inverse_period, count, "a whole number"),
            "max_cg" => put!(self.max_cg, count, "a whole number"),
            "fixed_damping" => put!(self.fixed_damping, flag_value, "True or False"),
            "adaptive_damping" => put!(self.adaptive_damping, flag_value, "True or False"),
            "nesterov" => put!(self.nesterov, flag_value, "True or False"),
            "factored_damping" => put!(self.factored_damping, flag_value, "True or False"),
            "auto_lr" => put!(self.auto_lr, flag_value, "True or False"),
            "kfac_type" => match text(&value) {
                Some(t) => self.kfac_type = crate::routes::labels(&t, 1, 0)?,
                None => return wrong("a name"),
            },
            "kfac_approx" => match text(&value) {
                Some(t) => self.kfac_approx = KfacApproxArg::from_name(&t)?,
                None => return wrong("a name"),
            },
            "norm_block" => match text(&value) {
                Some(t) => self.norm_block = NormBlockArg::from_name(&t)?,
                None => return wrong("a name"),
            },
            _ => {
                return Err(Error::Input(format!(
                    "unknown optimizer option `{name}`: one of {}",
                    Self::NAMES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Every hyper-parameter against its rule, before any work: one line naming the first bad
    /// one.
    ///
    /// # Errors
    /// The first option that breaks its rule.
    pub fn check(&self) -> Result<(), Error> {
        if self.fixed_damping && self.adaptive_damping {
            return Err(Error::Input(
                "--fixed-damping and --adaptive-damping exclude each other: give one".into(),
            ));
        }
        checks::at_least(
            1,
            &[
                ("factor-period", self.factor_period),
                ("inverse-period", self.inverse_period),
                ("max-cg", self.max_cg),
            ],
        )?;
        checks::positive(&[
            ("lr", self.lr),
            ("damping", self.damping),
            ("kl-clip", self.kl_clip),
        ])?;
        for (flag, v) in [("momentum", self.momentum), ("decay", self.decay)] {
            if !(0.0..1.0).contains(&v) {
                return Err(checks::bad(flag, v, "must be in [0, 1)"));
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(checks::bad(
                "weight-decay",
                self.weight_decay,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }

    /// The optimizer `which` with these hyper-parameters, checked.
    ///
    /// # Errors
    /// An option that breaks its rule (see [`OptimizerOptions::check`]).
    ///
    /// # Examples
    /// ```
    /// use fisherlab_app::optimizers::{OptimizerArg, OptimizerOptions};
    /// let opt = OptimizerOptions::default().build(OptimizerArg::Kfac).unwrap();
    /// assert!(opt.settings().iter().any(|(k, v)| *k == "lr" && v == "0.1"));
    /// ```
    pub fn build(&self, which: OptimizerArg) -> Result<Box<dyn Optimizer>, Error> {
        self.check()?;
        let args = self;
        let lr = args.lr.unwrap_or(which.lr());
        let labels = args.kfac_type;
        Ok(match which {
            OptimizerArg::Sgd => Box::new(
                Sgd::new(lr)
                    .with_momentum(args.momentum, args.nesterov)
                    .with_weight_decay(args.weight_decay),
            ),
            OptimizerArg::Adam if args.weight_decay > 0.0 => {
                Box::new(Adam::adamw(lr, args.weight_decay))
            }
            OptimizerArg::Adam => Box::new(Adam::new(lr)),
            OptimizerArg::Ngd => args.natural_with(Exact, lr)?,
            OptimizerArg::Diag => args.natural_with(
                Diagonal::new().with_decay(args.decay).with_labels(labels),
                lr,
            )?,
            OptimizerArg::Kfac => args.natural_with(
                Kfac::new()
                    .with_labels(labels)
                    .with_approx(args.kfac_approx.into())
                    .with_norm_block(args.norm_block.into())
                    .with_decay(args.decay)
                    .with_periods(args.factor_period, args.inverse_period)
                    .with_kronecker_damping(if args.factored_damping {
                        KroneckerDamping::Factored
                    } else {
                        KroneckerDamping::Exact
                    }),
                lr,
            )?,
            OptimizerArg::Ekfac => args.natural_with(
                Ekfac::new()
                    .with_labels(labels)
                    .with_approx(args.kfac_approx.into())
                    .with_norm_block(args.norm_block.into())
                    .with_decay(args.decay)
                    .with_eigen_period(args.inverse_period),
                lr,
            )?,
            OptimizerArg::Smw => args.natural_with(Woodbury, lr)?,
            OptimizerArg::Hf => {
                args.natural_with(ConjugateGradient::new().with_max_cg(args.max_cg), lr)?
            }
        })
    }
}

impl OptimizerOptions {
    /// A natural-gradient optimizer of a preconditioner from outside the registry (a user's,
    /// e.g. one written in Python) with the shared options of these: the learning rate (its
    /// own default where not given), the damping and its rule, KL-clipping, the automatic
    /// learning rate and momentum. The registry's other options (decays, periods, labels) are
    /// the preconditioner's own business and are not read.
    ///
    /// # Errors
    /// An option that breaks its rule.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_app::optimizers::OptimizerOptions;
    /// use fisherlab_optim::Diagonal;
    /// let opt = OptimizerOptions::default().natural(Diagonal::new()).unwrap();
    /// assert_eq!(opt.name(), "diag");
    /// ```
    pub fn natural<P: Preconditioner + 'static>(&self, p: P) -> Result<Box<dyn Optimizer>, Error> {
        self.check()?;
        let lr = self.lr.unwrap_or(p.default_lr());
        self.natural_with(p, lr)
    }

    /// The preconditioner, then the shared options.
    fn natural_with<P: Preconditioner + 'static>(
        &self,
        p: P,
        lr: f64,
    ) -> Result<Box<dyn Optimizer>, Error> {
        let mut b = NaturalGradient::builder(p).lr(lr);
        if let Some(lambda) = self.damping {
            b = b.lambda(lambda);
        }
        let lambda = self.damping.unwrap_or(1.0);
        if self.fixed_damping {
            b = b.damping(Damping::fixed(lambda));
        } else if self.adaptive_damping {
            b = b.damping(Damping::adaptive(lambda));
        }
        if let Some(kappa) = self.kl_clip {
            b = b.kl_clip(kappa);
        }
        if self.auto_lr {
            b = b.auto_lr_momentum();
        }
        Ok(Box::new(b.build()?))
    }
}

/// One step of `optimizer`'s run as a JSON object (a line of `train --log`, a record of
/// Python's `TrainResult`).
pub fn record_json(optimizer: &str, r: &StepRecord) -> serde_json::Value {
    serde_json::json!({
        "optimizer": optimizer,
        "step": r.step,
        "loss": r.loss,
        "grad_norm": r.grad_norm,
        "seconds": r.seconds,
        "eval_loss": r.eval_loss,
        "damping": r.report.damping,
        "rho": r.report.rho,
        "learning_rate": r.report.learning_rate,
        "cg_iterations": r.report.cg_iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_name_is_settable_and_the_defaults_pass_their_checks() {
        // the names list and the setter agree: each name takes a value of its own type
        let mut o = OptimizerOptions::default();
        for name in OptimizerOptions::NAMES {
            let tries = [
                Setting::Flag(false),
                Setting::Count(3),
                Setting::Number(0.5),
                Setting::Text("type2".into()),
                Setting::Text("expand".into()),
                Setting::Text("diagonal".into()),
            ];
            assert!(
                tries.into_iter().any(|v| o.clone().set(name, v).is_ok()),
                "{name}"
            );
        }
        assert!(OptimizerOptions::default().check().is_ok());
        o.set("fixed_damping", Setting::Flag(true)).unwrap();
        o.set("adaptive_damping", Setting::Flag(true)).unwrap();
        assert!(
            o.check()
                .unwrap_err()
                .to_string()
                .contains("exclude each other")
        );
        let mut o = OptimizerOptions::default();
        assert_eq!(
            o.set("decay", Setting::Text("fast".into()))
                .unwrap_err()
                .to_string(),
            "--decay fast is invalid: must be a number"
        );
    }
}
