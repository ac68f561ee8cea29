//! Every metric of [`compare`](super::compare) estimated without forming the exact Fisher: from
//! Fisher-vector products of the exact operator (e.g. [`MatrixFreeFisher`]) and the
//! approximation's own operator, each estimate with its estimator named and its standard error
//! or bound, so that approximations can be judged on networks whose P × P Fisher does not fit
//! in memory.
//!
//! | metric | estimator | uncertainty |
//! |---|---|---|
//! | `‖A − F‖_F / ‖F‖_F` | Hutchinson on `(A − F)²` and `F²`: `E‖(A−F)z‖²`, `E‖Fz‖²` with the same Rademacher probes `z` | standard error by the delta method |
//! | `‖A − F‖₂ / ‖F‖₂` | Lanczos at both ends of `A − F`, and at the top of `F` | the Ritz residuals (a bound) |
//! | NGD cosine and relative error | CG on `F + λI` against `(A + λI)⁻¹g` | bound from the CG residual |
//! | `gᵀAg / gᵀFg`, random directions | exact, from products | none |
//! | `ln det(A+λI) − ln det(F+λI)` | stochastic Lanczos quadrature on `F` (and on `A` when it has no exact log-determinant) | standard error over the probes |
//! | top-k spectra | Lanczos on `F`; the approximation's own | — |
//!
//! A metric whose iteration did not converge carries its reason in [`Estimate::failure`] and
//! must not be reported as a number.
//!
//! [`MatrixFreeFisher`]: crate::curvature::MatrixFreeFisher

use super::{RatioSummary, check_gradient, direction_agreement, dot, ratio_summary};
use crate::{Error, Result};
use faer::{Mat, MatRef};
use fisherlab_linalg::{
    CgOptions, CurvatureOperator, LanczosOptions, Lockstep, conjugate_gradient, lanczos_top_k,
    mean_and_standard_error, stochastic_lanczos_quadrature,
};
use rand::RngExt;

/// Mixed into the seed of the Frobenius probes.
const PROBE_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;

/// An estimated metric: its value, its uncertainty, and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// One standard error of a stochastic estimator, or a bound of a deterministic one (see
    /// `estimator`).
    pub uncertainty: f64,
    /// The estimator and its settings, e.g. `hutchinson (32 Rademacher probes), delta method`.
    pub estimator: String,
    /// Products with the exact operator it used.
    pub products: usize,
    /// Why the estimate is not to be trusted (an iteration that did not converge), or `None`.
    pub failure: Option<String>,
}

impl Estimate {
    /// The value, when the estimator converged.
    pub fn converged(&self) -> Option<f64> {
        self.failure.is_none().then_some(self.value)
    }
}

/// Options of the matrix-free estimates.
#[derive(Debug, Clone)]
pub struct MatrixFreeOptions {
    /// Damping λ of the natural-gradient directions and log-determinants (> 0).
    pub lambda: f64,
    /// The gradient of the natural-gradient metrics (skipped when `None`).
    pub gradient: Option<Vec<f64>>,
    /// Random Gaussian directions for the quadratic-form ratios.
    pub random_directions: usize,
    /// Seed of every probe.
    pub seed: u64,
    /// Rademacher probes of the Frobenius estimate (each one product with F).
    pub frobenius_probes: usize,
    /// Probes of stochastic Lanczos quadrature.
    pub slq_probes: usize,
    /// Lanczos steps per SLQ probe.
    pub slq_steps: usize,
    /// The Lanczos iterations of the spectral norms and spectra.
    pub lanczos: LanczosOptions,
    /// How many of the largest eigenvalues of each operator to report.
    pub spectrum: usize,
    /// The conjugate gradients of the exact natural-gradient direction.
    pub cg: CgOptions,
}

impl Default for MatrixFreeOptions {
    fn default() -> Self {
        Self {
            lambda: 1e-3,
            gradient: None,
            random_directions: 16,
            seed: 0,
            frobenius_probes: 32,
            slq_probes: 16,
            slq_steps: 40,
            lanczos: LanczosOptions {
                tol: 1e-6,
                max_steps: 300,
                scale: 0.0,
            },
            spectrum: 20,
            cg: CgOptions {
                tol: 1e-8,
                max_iter: 2000,
                truncated: true,
            },
        }
    }
}

/// The matrix-free metrics of one approximation.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixFreeComparison {
    /// `‖A − F‖_F / ‖F‖_F`.
    pub rel_frobenius: Estimate,
    /// `‖A − F‖₂ / ‖F‖₂`.
    pub rel_spectral: Estimate,
    /// Cosine between `(A + λI)⁻¹g` and `(F + λI)⁻¹g`.
    pub ngd_cosine: Option<Estimate>,
    /// `‖d̃ − d‖ / ‖d‖` for those directions.
    pub ngd_rel_error: Option<Estimate>,
    /// `gᵀ A g / gᵀ F g` (exact).
    pub quad_ratio_gradient: Option<f64>,
    /// Ratios on random Gaussian directions (exact).
    pub quad_ratio_random: RatioSummary,
    /// `ln det(A + λI) − ln det(F + λI)`.
    pub logdet_difference: Estimate,
    /// The `spectrum` largest eigenvalues of F, ascending (Lanczos; empty when it did not
    /// converge, with the reason in `spectrum_failure`).
    pub spectrum_exact: Vec<f64>,
    /// Why the exact spectrum is missing.
    pub spectrum_failure: Option<String>,
    /// The `spectrum` largest eigenvalues of A, ascending.
    pub spectrum_approx: Vec<f64>,
    /// Products with the exact operator, all metrics together (the reference's included).
    pub products: usize,
}

/// `A − F` (or `F − A`) as an operator that only multiplies: what Lanczos needs.
struct Difference<'a> {
    a: &'a dyn CurvatureOperator,
    f: &'a dyn CurvatureOperator,
    sign: f64,
}

fn only_products(operation: &'static str) -> fisherlab_linalg::Error {
    fisherlab_linalg::Error::NotAvailable {
        operator: "difference of operators",
        operation,
        hint: "it only multiplies",
    }
}

impl CurvatureOperator for Difference<'_> {
    fn kind(&self) -> &'static str {
        "difference"
    }
    fn dim(&self) -> usize {
        self.f.dim()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> fisherlab_linalg::Result<Mat<f64>> {
        let (a, f) = (self.a.apply(x)?, self.f.apply(x)?);
        Ok(if self.sign < 0.0 { &f - &a } else { &a - &f })
    }
    fn diagonal(&self) -> fisherlab_linalg::Result<Vec<f64>> {
        Err(only_products("the diagonal"))
    }
    fn trace(&self) -> fisherlab_linalg::Result<f64> {
        Err(only_products("the trace"))
    }
    fn frobenius_norm(&self) -> fisherlab_linalg::Result<f64> {
        Err(only_products("the Frobenius norm"))
    }
    fn solve_damped(&self, _: f64, _: MatRef<'_, f64>) -> fisherlab_linalg::Result<Mat<f64>> {
        Err(only_products("a damped solve"))
    }
    fn inverse_damped(&self, _: f64) -> fisherlab_linalg::Result<Box<dyn CurvatureOperator>> {
        Err(only_products("the inverse"))
    }
    fn logdet_damped(&self, _: f64) -> fisherlab_linalg::Result<f64> {
        Err(only_products("the log-determinant"))
    }
    fn eigenvalues(&self) -> fisherlab_linalg::Result<Vec<f64>> {
        Err(only_products("the spectrum"))
    }
}

/// The `k` largest eigenvalues of `op` by Lanczos (descending), with the residual
/// `‖op v − θ v‖` of the top Ritz pair (the largest eigenvalue lies within it) and the products
/// used; `Err(reason)` when Lanczos did not converge.
#[allow(clippy::type_complexity)]
fn top_eigenvalues(
    op: &dyn CurvatureOperator,
    k: usize,
    seed: u64,
    opts: &LanczosOptions,
) -> Result<std::result::Result<(Vec<f64>, f64, usize), String>> {
    match lanczos_top_k(op, k, seed, opts) {
        Ok(l) => {
            let v = l.vectors.col(0);
            let mut r = op.apply(v.as_mat())?;
            let theta = l.values[0];
            for (ri, vi) in r.col_as_slice_mut(0).iter_mut().zip(v.iter()) {
                *ri -= theta * vi;
            }
            Ok(Ok((l.values, r.norm_l2(), l.steps + 1)))
        }
        Err(e @ fisherlab_linalg::Error::NoConvergence { .. }) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The largest eigenvalue of `op`, its Ritz residual and the products used, as
/// [`top_eigenvalues`].
fn top_eigenvalue(
    op: &dyn CurvatureOperator,
    seed: u64,
    opts: &LanczosOptions,
) -> Result<std::result::Result<(f64, f64, usize), String>> {
    Ok(top_eigenvalues(op, 1, seed, opts)?.map(|(v, r, used)| (v[0], r, used)))
}

/// One SLQ probe's estimate of `ln det(op + λI)`.
fn slq_probe(op: &dyn CurvatureOperator, lambda: f64, steps: usize, seed: u64) -> Result<f64> {
    Ok(stochastic_lanczos_quadrature(op, 1, steps, seed)?.logdet(lambda))
}

/// Per-probe SLQ estimates of `ln det(op + λI)`: their mean and standard error. The probes run
/// side by side ([`Lockstep`]): one block product per Lanczos step.
fn slq_logdet(
    op: &dyn CurvatureOperator,
    lambda: f64,
    probes: usize,
    steps: usize,
    seed: u64,
) -> Result<(f64, f64)> {
    let steps = steps.min(op.dim());
    let seeds: Vec<u64> = (0..probes as u64).map(|j| seed.wrapping_add(j)).collect();
    let per_probe = Lockstep::new(op).run(&seeds, |op, &s| slq_probe(op, lambda, steps, s))?;
    Ok(mean_and_standard_error(&per_probe))
}

/// The reference's iterations that run side by side.
enum Job {
    Norm,
    Spectrum,
    Cg,
    Probe(u64),
}

/// What each [`Job`] gave.
enum Done {
    Norm(std::result::Result<(f64, f64, usize), String>),
    Spectrum(std::result::Result<(Vec<f64>, f64, usize), String>),
    Cg(fisherlab_linalg::CgResult, f64),
    Probe(f64),
}

/// The random directions of the quadratic-form ratios with their `vᵀFv`, drawn exactly as the
/// dense reference draws them, multiplied as one block.
fn directions_in_block(
    exact: &dyn CurvatureOperator,
    count: usize,
    seed: u64,
) -> Result<Vec<(Vec<f64>, f64)>> {
    use rand_distr::{Distribution, StandardNormal};
    let p = exact.dim();
    let mut rng = fisherlab_distributions::rng_from_seed(seed);
    let mut v = Mat::<f64>::zeros(p, count);
    for j in 0..count {
        for i in 0..p {
            v[(i, j)] = StandardNormal.sample(&mut rng);
        }
    }
    let fv = exact.apply(v.as_ref())?;
    Ok((0..count)
        .filter_map(|j| {
            let den = dot(v.col_as_slice(j), fv.col_as_slice(j));
            (den > 0.0).then(|| (v.col_as_slice(j).to_vec(), den))
        })
        .collect())
}

/// The exact side of the natural-gradient metrics.
struct Direction {
    g: Vec<f64>,
    /// `(F + λI)⁻¹ g` by CG.
    d: Vec<f64>,
    /// `gᵀ F g`.
    gfg: f64,
    iterations: usize,
    /// The CG's final relative residual.
    residual: f64,
}

/// The exact operator with what every metric needs from it computed once, by products only.
///
/// # Examples
/// ```
/// use fisherlab_fisher::metrics::{MatrixFreeOptions, MatrixFreeReference};
/// use fisherlab_linalg::Diagonal;
/// let exact = Diagonal::new((1..=40).map(f64::from).collect()).unwrap();
/// let approx = Diagonal::new(vec![20.0; 40]).unwrap();
/// let reference = MatrixFreeReference::new(&exact, &MatrixFreeOptions::default()).unwrap();
/// let c = reference.compare(&approx).unwrap();
/// // for diagonal operators ‖M z‖² = Σ mᵢ² for every Rademacher z: Hutchinson is exact
/// let num: f64 = (1..=40).map(|i| (20.0 - i as f64).powi(2)).sum();
/// let den: f64 = (1..=40).map(|i| (i as f64).powi(2)).sum();
/// assert!((c.rel_frobenius.value - (num / den).sqrt()).abs() < 1e-12);
/// assert!(c.rel_frobenius.uncertainty < 1e-12);
/// // ‖A − F‖₂ = max |20 − i| = 20 at i = 40, ‖F‖₂ = 40
/// assert!((c.rel_spectral.value - 0.5).abs() < 1e-6);
/// ```
pub struct MatrixFreeReference<'a> {
    exact: &'a dyn CurvatureOperator,
    opts: MatrixFreeOptions,
    /// The Rademacher probes Z (P × m) and F Z.
    probes: (Mat<f64>, Mat<f64>),
    /// `‖F z_j‖²` per probe.
    f_sq: Vec<f64>,
    /// `‖F‖₂` (Lanczos), its residual bound, or why it failed.
    norm2: std::result::Result<(f64, f64), String>,
    gradient: Option<Direction>,
    directions: Vec<(Vec<f64>, f64)>,
    /// SLQ `ln det(F + λI)` and its standard error.
    logdet: (f64, f64),
    /// The top-k spectrum of F, ascending, or why Lanczos did not converge.
    spectrum: std::result::Result<Vec<f64>, String>,
    products: usize,
}

impl<'a> MatrixFreeReference<'a> {
    /// Precompute the exact side of every metric from products with `exact`.
    ///
    /// # Errors
    /// Invalid options (λ ≤ 0, no probes, a gradient of the wrong length or not finite); a
    /// product error.
    pub fn new(exact: &'a dyn CurvatureOperator, opts: &MatrixFreeOptions) -> Result<Self> {
        let p = exact.dim();
        let bad = |name: &'static str, value: String, rule: &'static str| {
            Err(Error::InvalidOption { name, value, rule })
        };
        if !(opts.lambda.is_finite() && opts.lambda > 0.0) {
            return bad(
                "lambda",
                opts.lambda.to_string(),
                "must be finite and > 0 (matrix-free solves and log-determinants)",
            );
        }
        for (name, v) in [
            ("frobenius_probes", opts.frobenius_probes),
            ("slq_probes", opts.slq_probes),
            ("slq_steps", opts.slq_steps),
            ("spectrum", opts.spectrum),
        ] {
            if (name.ends_with("probes") && v < 2) || v < 1 {
                return bad(name, v.to_string(), "probes must be >= 2, steps and k >= 1");
            }
        }
        // the Rademacher probes from a stream of their own: the random directions below are
        // drawn from `seed` exactly as the dense reference draws them
        let mut rng = fisherlab_distributions::rng_from_seed(opts.seed ^ PROBE_STREAM);
        let m = opts.frobenius_probes;
        let z = Mat::from_fn(p, m, |_, _| if rng.random::<bool>() { 1.0 } else { -1.0 });
        let fz = exact.apply(z.as_ref())?;
        let f_sq = (0..m).map(|j| fz.col(j).squared_norm_l2()).collect();
        let mut products = m;

        if let Some(g) = &opts.gradient {
            check_gradient(g, p)?;
        }
        let directions = directions_in_block(exact, opts.random_directions, opts.seed)?;
        products += opts.random_directions;

        // ‖F‖₂, the spectrum, the natural-gradient CG and the quadrature probes side by side:
        // one block product per step
        let steps = opts.slq_steps.min(p);
        let k = opts.spectrum.min(p);
        let mut jobs = vec![Job::Norm, Job::Spectrum];
        if opts.gradient.is_some() {
            jobs.push(Job::Cg);
        }
        jobs.extend((0..opts.slq_probes as u64).map(|j| Job::Probe(opts.seed.wrapping_add(j))));
        let lockstep = Lockstep::new(exact);
        let done = lockstep.run(&jobs, |op, job| -> Result<Done> {
            Ok(match job {
                Job::Norm => Done::Norm(top_eigenvalue(op, opts.seed, &opts.lanczos)?),
                Job::Spectrum => Done::Spectrum(top_eigenvalues(op, k, opts.seed, &opts.lanczos)?),
                Job::Cg => {
                    let g = opts.gradient.as_deref().unwrap_or_default();
                    let cg = conjugate_gradient(op, opts.lambda, g, None, None, &opts.cg)?;
                    let gfg = dot(g, &op.matvec(g)?);
                    Done::Cg(cg, gfg)
                }
                Job::Probe(seed) => Done::Probe(slq_probe(op, opts.lambda, steps, *seed)?),
            })
        })?;
        products += lockstep.columns();
        let (mut norm2, mut spectrum) = (Err(String::new()), Err(String::new()));
        let (mut gradient, mut per_probe) = (None, Vec::new());
        for d in done {
            match d {
                Done::Norm(n) => norm2 = n.map(|(theta, resid, _)| (theta, resid)),
                Done::Spectrum(s) => {
                    spectrum = s.map(|(values, _, _)| values.into_iter().rev().collect());
                }
                Done::Cg(cg, gfg) => {
                    gradient = opts.gradient.as_ref().map(|g| Direction {
                        g: g.clone(),
                        d: cg.x,
                        gfg,
                        iterations: cg.iterations,
                        residual: cg.relative_residual,
                    });
                }
                Done::Probe(v) => per_probe.push(v),
            }
        }
        let logdet = mean_and_standard_error(&per_probe);
        Ok(Self {
            exact,
            opts: opts.clone(),
            probes: (z, fz),
            f_sq,
            norm2,
            gradient,
            directions,
            logdet,
            spectrum,
            products,
        })
    }

    /// The `spectrum` largest eigenvalues of the exact operator, ascending (empty when Lanczos
    /// did not converge).
    pub fn spectrum(&self) -> &[f64] {
        self.spectrum.as_deref().unwrap_or(&[])
    }

    /// Products with the exact operator made by [`new`](Self::new).
    pub fn products(&self) -> usize {
        self.products
    }

    /// The CG of the exact natural-gradient direction: its iterations and final relative
    /// residual (`None` without a gradient).
    pub fn cg_summary(&self) -> Option<(usize, f64)> {
        self.gradient.as_ref().map(|d| (d.iterations, d.residual))
    }

    /// Why Lanczos gave no spectrum of the exact operator, if it did not.
    pub fn spectrum_failure(&self) -> Option<&str> {
        self.spectrum.as_ref().err().map(String::as_str)
    }

    /// Every metric of `approx` against the exact operator.
    ///
    /// # Errors
    /// An operator of another dimension; a product or solve error of `approx`.
    pub fn compare(&self, approx: &dyn CurvatureOperator) -> Result<MatrixFreeComparison> {
        self.compare_with(self.exact, approx)
    }

    /// [`compare`](Self::compare) for several approximations at once, their iterations side by
    /// side so that each step's products with the exact operator are one block
    /// ([`Lockstep`]): for an operator whose product streams a large factor, about the cost of
    /// comparing one. The results are those of `compare` on each, in order.
    ///
    /// # Errors
    /// As [`compare`](Self::compare), the first in order.
    pub fn compare_many(
        &self,
        approximations: &[&dyn CurvatureOperator],
    ) -> Result<Vec<MatrixFreeComparison>> {
        Lockstep::new(self.exact).run(approximations, |exact, approx| {
            self.compare_with(exact, *approx)
        })
    }

    /// The metrics of `approx` with `exact` the operator (or a lockstep handle on it) that
    /// makes the products this comparison needs.
    fn compare_with(
        &self,
        exact: &dyn CurvatureOperator,
        approx: &dyn CurvatureOperator,
    ) -> Result<MatrixFreeComparison> {
        let p = self.exact.dim();
        if approx.dim() != p {
            return Err(Error::InvalidInput {
                what: format!(
                    "cannot compare operators of dimensions {} and {p}",
                    approx.dim()
                ),
            });
        }
        let opts = &self.opts;
        let mut products = self.products;

        // Frobenius: a_j = ‖(A − F) z_j‖², b_j = ‖F z_j‖², R = ā / b̄ by the delta method
        let (z, fz) = &self.probes;
        let m = z.ncols();
        let mut diff = approx.apply(z.as_ref())?;
        diff -= fz;
        let a: Vec<f64> = (0..m).map(|j| diff.col(j).squared_norm_l2()).collect();
        let b = &self.f_sq;
        let (ma, se_a) = mean_and_standard_error(&a);
        let (mb, se_b) = mean_and_standard_error(b);
        let mf = m as f64;
        let cov = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (mf - 1.0);
        let ratio = ma / mb;
        let var = (se_a * se_a) / (mb * mb) + ratio * ratio * (se_b * se_b) / (mb * mb)
            - 2.0 * ratio * cov / (mf * mb * mb);
        let rel = ratio.max(0.0).sqrt();
        let rel_frobenius = Estimate {
            value: rel,
            // d√R = dR / (2√R)
            uncertainty: if rel > 0.0 {
                var.max(0.0).sqrt() / (2.0 * rel)
            } else {
                var.max(0.0).sqrt().sqrt()
            },
            estimator: format!(
                "hutchinson on (A-F)^2 and F^2 ({m} shared Rademacher probes), delta method"
            ),
            products: m,
            failure: None,
        };

        // spectral: the largest magnitude of A − F from both ends, over ‖F‖₂; an end below
        // ‖F‖₂ need only be resolved to the tolerance relative to ‖F‖₂ (the metric's scale)
        let diff_opts = LanczosOptions {
            scale: opts
                .lanczos
                .scale
                .max(self.norm2.as_ref().map_or(0.0, |(nf, _)| *nf)),
            ..opts.lanczos
        };
        let lanczos = |sign: f64, seed: u64| {
            top_eigenvalue(
                &Difference {
                    a: approx,
                    f: exact,
                    sign,
                },
                seed,
                &diff_opts,
            )
        };
        let upper = lanczos(1.0, opts.seed)?;
        let lower = lanczos(-1.0, opts.seed.wrapping_add(1))?;
        let rel_spectral = match (upper, lower, &self.norm2) {
            (Ok((t1, r1, u1)), Ok((t2, r2, u2)), Ok((nf, rf))) => {
                products += u1 + u2;
                let (top, resid) = if t1.abs() >= t2.abs() {
                    (t1.abs(), r1)
                } else {
                    (t2.abs(), r2)
                };
                let value = top / nf;
                Estimate {
                    value,
                    uncertainty: value * (resid / top.max(f64::MIN_POSITIVE) + rf / nf),
                    estimator: format!(
                        "lanczos at both ends of A-F and the top of F ({} + {} steps), Ritz residual bound",
                        u1 - 1,
                        u2 - 1
                    ),
                    products: u1 + u2,
                    failure: None,
                }
            }
            (u, l, n) => Estimate {
                value: f64::NAN,
                uncertainty: f64::NAN,
                estimator: "lanczos at both ends of A-F and the top of F".into(),
                products: 0,
                failure: Some(
                    [u.err(), l.err(), n.as_ref().err().cloned()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            },
        };

        let (mut ngd_cosine, mut ngd_rel_error, mut quad_ratio_gradient) = (None, None, None);
        if let Some(Direction {
            g,
            d,
            gfg,
            iterations,
            residual,
        }) = &self.gradient
        {
            let gm = Mat::from_fn(p, 1, |i, _| g[i]);
            let da = approx.solve_damped(opts.lambda, gm.as_ref())?;
            let da = da.col_as_slice(0);
            let dd = dot(d, d).sqrt();
            // ‖d − d*‖ ≤ ‖(F+λI)⁻¹‖ ‖r‖ ≤ residual · ‖g‖ / λ
            let bound = residual * dot(g, g).sqrt() / opts.lambda / dd.max(f64::MIN_POSITIVE);
            let failure = (*residual > opts.cg.tol).then(|| {
                format!(
                    "CG on F + λI did not converge in {iterations} iterations (relative residual {residual:.2e} > {:.0e})",
                    opts.cg.tol
                )
            });
            let estimator =
                format!("CG on F + λI ({iterations} iterations, relative residual {residual:.1e})");
            let (cos, rel_err) = direction_agreement(d, da);
            ngd_cosine = Some(Estimate {
                value: cos,
                uncertainty: 2.0 * bound,
                estimator: estimator.clone(),
                products: iterations + 1,
                failure: failure.clone(),
            });
            ngd_rel_error = Some(Estimate {
                value: rel_err,
                uncertainty: bound * (1.0 + rel_err),
                estimator,
                products: iterations + 1,
                failure,
            });
            quad_ratio_gradient = Some(dot(g, &approx.matvec(g)?) / gfg);
        }
        let quad_ratio_random = ratio_summary(approx, &self.directions)?;

        let steps = opts.slq_steps.min(p);
        let (approx_logdet, approx_se, approx_how) = match approx.logdet_damped(opts.lambda) {
            Ok(v) => (v, 0.0, "exact"),
            Err(_) => {
                let (v, se) = slq_logdet(approx, opts.lambda, opts.slq_probes, steps, opts.seed)?;
                (v, se, "SLQ")
            }
        };
        let logdet_difference = Estimate {
            value: approx_logdet - self.logdet.0,
            uncertainty: (approx_se * approx_se + self.logdet.1 * self.logdet.1).sqrt(),
            estimator: format!(
                "stochastic lanczos quadrature of ln det(F + λI) ({} probes × {steps} steps); ln det(A + λI) {approx_how}",
                opts.slq_probes
            ),
            products: opts.slq_probes * steps,
            failure: None,
        };

        let k = opts.spectrum.min(p);
        let mut spectrum_approx = approx.top_eigenvalues(k)?;
        spectrum_approx.reverse();
        Ok(MatrixFreeComparison {
            rel_frobenius,
            rel_spectral,
            ngd_cosine,
            ngd_rel_error,
            quad_ratio_gradient,
            quad_ratio_random,
            logdet_difference,
            spectrum_exact: self.spectrum().to_vec(),
            spectrum_failure: self.spectrum.as_ref().err().cloned(),
            spectrum_approx,
            products,
        })
    }
}
