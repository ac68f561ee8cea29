//! The default hyper-parameters of every optimizer, and why. Each was chosen with
//! `fisherlab train --tune` (100 steps, batch 256, 3 seeds) on the two embedded training sets —
//! digits with a 64-32-10 MLP (categorical) and diabetes with a 10-32-1 MLP (Gaussian) — as the
//! setting that trains well on both and is not next to a diverging grid point;
//! `docs/optimizers.md` has the grids.

/// SGD's learning rate (with the command line's momentum 0.9). Tuned: 1 on digits (3 diverges),
/// 0.3 on diabetes (1 diverges).
pub const SGD_LR: f64 = 0.3;
/// SGD's momentum on the command line (heavy ball).
pub const SGD_MOMENTUM: f64 = 0.9;
/// Adam's learning rate: in the usual range (1e-4 to 1e-2) and the best of it on both sets;
/// 1e-3, PyTorch's default, is ten times too slow at this scale (final loss 1.28 against 0.089
/// on digits).
pub const ADAM_LR: f64 = 1e-2;
/// The learning rate of exact NGD, Woodbury NGD and Hessian-free: the natural gradient has the
/// scale of a step in parameter space, so 1 is the Newton / Fisher-scoring step.
pub const NATURAL_LR: f64 = 1.0;
/// ω of [`crate::Damping::scoring`]: λ halves (or doubles) every step.
pub const SCORING_DECAY: f64 = 0.5;
/// K-FAC's and EKFAC's learning rate. Their curvature is a running average of approximate
/// factors, so a full step overshoots (lr = 1 diverges for λ ≤ 1e-2 on digits).
pub const KFAC_LR: f64 = 0.1;
/// The fixed λ of K-FAC and EKFAC (1e-3 trains faster on both sets, but is next to a diverging
/// point for EKFAC).
pub const KFAC_DAMPING: f64 = 1e-2;
/// The diagonal natural gradient's learning rate.
pub const DIAG_LR: f64 = 0.1;
/// The fixed λ of the diagonal natural gradient: a diagonal over-trusts small entries, so it
/// needs more damping than K-FAC.
pub const DIAG_DAMPING: f64 = 0.1;
