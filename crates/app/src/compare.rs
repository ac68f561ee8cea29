//! Measuring an approximation against the exact Fisher, as `compare` does on the command line
//! and `fisherlab.compare` in Python: which reference (the dense matrix, or Fisher-vector
//! products only), the probe options of the matrix-free one, and every metric under the JSON
//! keys both front ends report.

use crate::{Error, checks, choice};
use fisherlab_fisher::metrics::{Comparison, Estimate, MatrixFreeComparison, MatrixFreeOptions};
use fisherlab_linalg::{CgOptions, LanczosOptions};
use serde_json::{Map, Value, json};

choice! {
    /// The exact Fisher an approximation is measured against.
    pub enum ReferenceArg ("reference") {
        Auto = "auto": "Dense when it fits (the command line: the memory budget; Python: an exact operator stored dense), matrix-free otherwise.",
        Dense = "dense": "The dense exact Fisher: every metric exact.",
        MatrixFree = "matrix-free": "Exact Fisher-vector products only: every metric estimated, with its standard error or bound.",
    }
}

/// Relative tolerance of the matrix-free reference's Lanczos runs (Ritz residuals) and CG
/// (residual): what each estimate's bound is made of.
pub const KRYLOV_TOL: f64 = 1e-4;

/// The probes and iterations of a matrix-free reference (`compare --probes …`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probes {
    /// Rademacher probes of the Frobenius estimate (≥ 2).
    pub probes: usize,
    /// Probes of the log-determinant's stochastic Lanczos quadrature (≥ 2).
    pub slq_probes: usize,
    /// Lanczos steps per quadrature probe (≥ 1).
    pub slq_steps: usize,
    /// Most Lanczos steps of a spectral norm or spectrum, and most CG iterations (≥ 1).
    pub krylov_steps: usize,
}

impl Probes {
    /// The command line's defaults.
    pub const DEFAULT: Probes = Probes {
        probes: 32,
        slq_probes: 16,
        slq_steps: 30,
        krylov_steps: 300,
    };

    /// Check every count against its rule (`--probes` and `--slq-probes` ≥ 2, the steps ≥ 1).
    ///
    /// # Errors
    /// The first count that breaks its rule, by its flag's name.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_app::compare::Probes;
    /// assert!(Probes::DEFAULT.check().is_ok());
    /// let e = Probes { probes: 1, ..Probes::DEFAULT }.check().unwrap_err();
    /// assert!(e.to_string().contains("probes"));
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        checks::at_least(
            1,
            &[
                ("slq-steps", self.slq_steps),
                ("krylov-steps", self.krylov_steps),
            ],
        )?;
        checks::at_least(
            2,
            &[("probes", self.probes), ("slq-probes", self.slq_probes)],
        )
    }

    /// The options of a matrix-free reference at damping `lambda`, with the natural-gradient
    /// metrics at `gradient`, `random_directions` quadratic-form directions and the `spectrum`
    /// largest eigenvalues, every probe seeded from `seed`.
    pub fn options(
        &self,
        lambda: f64,
        gradient: Option<Vec<f64>>,
        random_directions: usize,
        seed: u64,
        spectrum: usize,
    ) -> MatrixFreeOptions {
        MatrixFreeOptions {
            lambda,
            gradient,
            random_directions,
            seed,
            frobenius_probes: self.probes,
            slq_probes: self.slq_probes,
            slq_steps: self.slq_steps,
            lanczos: LanczosOptions {
                tol: KRYLOV_TOL,
                max_steps: self.krylov_steps,
                scale: 0.0,
            },
            spectrum,
            cg: CgOptions {
                tol: KRYLOV_TOL,
                max_iter: self.krylov_steps,
                truncated: true,
            },
        }
    }
}

/// What one approximation was measured to be: exactly against the dense Fisher, or estimated
/// from products.
pub enum Metrics {
    /// Against the dense exact Fisher.
    Dense(Comparison),
    /// Against Fisher-vector products.
    Free(Box<MatrixFreeComparison>),
}

/// The metrics a matrix-free reference estimates (each with `_uncertainty`, `_estimator`,
/// `_products` and `_failure` keys), in the order of [`KEYS`].
pub const ESTIMATED: [&str; 5] = [
    "rel_frobenius",
    "rel_spectral",
    "ngd_cosine",
    "ngd_rel_error",
    "logdet_difference",
];

/// Every metric's JSON key.
pub const KEYS: [&str; 9] = [
    "rel_frobenius",
    "rel_spectral",
    "ngd_cosine",
    "ngd_rel_error",
    "quad_ratio_gradient",
    "quad_ratio_random_mean",
    "quad_ratio_random_min",
    "quad_ratio_random_max",
    "logdet_difference",
];

impl Metrics {
    /// Every metric under its key of [`KEYS`] (`null` where not computed or not converged);
    /// with `estimated`, each of [`ESTIMATED`] with its uncertainty, estimator, products with
    /// the exact operator and failure, and the products of all of them together. Without
    /// metrics (`None`), the same keys, all `null`.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_app::compare::{KEYS, Metrics};
    /// use fisherlab_fisher::metrics::{compare, CompareOptions};
    /// use fisherlab_linalg::Diagonal;
    /// let exact = Diagonal::new(vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// let approx = Diagonal::new(vec![1.0; 4]).unwrap();
    /// let c = compare(&exact, &approx, &CompareOptions::default()).unwrap();
    /// let j = Metrics::json(Some(&Metrics::Dense(c)), false);
    /// assert!(KEYS.iter().all(|k| j.contains_key(*k)));
    /// // ‖diag(0, 1, 2, 3)‖_F / ‖diag(1, 2, 3, 4)‖_F
    /// assert!((j["rel_frobenius"].as_f64().unwrap() - (14.0f64 / 30.0).sqrt()).abs() < 1e-15);
    /// ```
    pub fn json(metrics: Option<&Metrics>, estimated: bool) -> Map<String, Value> {
        let (values, estimates): (Vec<Option<f64>>, Vec<Option<&Estimate>>) = match metrics {
            None => (vec![None; KEYS.len()], vec![None; ESTIMATED.len()]),
            Some(Metrics::Dense(c)) => (
                vec![
                    Some(c.rel_frobenius),
                    Some(c.rel_spectral),
                    c.ngd_cosine,
                    c.ngd_rel_error,
                    c.quad_ratio_gradient,
                    Some(c.quad_ratio_random.mean),
                    Some(c.quad_ratio_random.min),
                    Some(c.quad_ratio_random.max),
                    Some(c.logdet_difference),
                ],
                vec![None; ESTIMATED.len()],
            ),
            Some(Metrics::Free(c)) => (
                vec![
                    c.rel_frobenius.converged(),
                    c.rel_spectral.converged(),
                    c.ngd_cosine.as_ref().and_then(Estimate::converged),
                    c.ngd_rel_error.as_ref().and_then(Estimate::converged),
                    c.quad_ratio_gradient,
                    Some(c.quad_ratio_random.mean),
                    Some(c.quad_ratio_random.min),
                    Some(c.quad_ratio_random.max),
                    c.logdet_difference.converged(),
                ],
                vec![
                    Some(&c.rel_frobenius),
                    Some(&c.rel_spectral),
                    c.ngd_cosine.as_ref(),
                    c.ngd_rel_error.as_ref(),
                    Some(&c.logdet_difference),
                ],
            ),
        };
        let mut j = Map::new();
        for (k, v) in KEYS.iter().zip(values) {
            j.insert((*k).into(), json!(v));
        }
        if estimated {
            for (k, e) in ESTIMATED.iter().zip(estimates) {
                j.insert(
                    format!("{k}_uncertainty"),
                    json!(e.and_then(|e| e.converged().map(|_| e.uncertainty))),
                );
                j.insert(
                    format!("{k}_estimator"),
                    json!(e.map(|e| e.estimator.clone())),
                );
                j.insert(format!("{k}_products"), json!(e.map(|e| e.products)));
                j.insert(
                    format!("{k}_failure"),
                    json!(e.and_then(|e| e.failure.clone())),
                );
            }
            j.insert(
                "products".into(),
                json!(match metrics {
                    Some(Metrics::Free(c)) => Some(c.products),
                    _ => None,
                }),
            );
        }
        j
    }
}
