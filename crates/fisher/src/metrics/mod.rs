//! How good is an approximation? Metrics of any curvature operator against the exact one.
//!
//! [`compare`] and [`Reference`] compute every metric from the operators' own exact operations
//! (damped solves, log-determinants, spectra) plus one dense difference for the norms, so they
//! are meant for problems where the exact P × P matrix fits in memory.
//! [`MatrixFreeReference`] estimates the same metrics from Fisher-vector products only, each
//! with its estimator and its standard error or bound, for networks whose Fisher does not fit.

mod matrix_free;

pub use matrix_free::{Estimate, MatrixFreeComparison, MatrixFreeOptions, MatrixFreeReference};

use crate::{Error, Result};
use faer::Mat;
use fisherlab_linalg::CurvatureOperator;
use rand_distr::{Distribution, StandardNormal};

/// Options of [`compare`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Damping λ of the natural-gradient directions and of the log-determinants (> 0 for a
    /// singular Fisher).
    pub lambda: f64,
    /// The gradient for the natural-gradient metrics and the gradient quadratic-form ratio
    /// (skipped when `None`).
    pub gradient: Option<Vec<f64>>,
    /// Number of random Gaussian directions for the quadratic-form ratios.
    pub random_directions: usize,
    /// Seed of the random directions.
    pub seed: u64,
    /// How much of the two spectra to report: `None` every eigenvalue (a full symmetric
    /// eigendecomposition of each dense operator, `O(P³)`), `Some(k)` the k largest (Lanczos for
    /// a large dense operator, `O(P² · steps)`; structured operators give theirs exactly).
    pub spectrum: Option<usize>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            lambda: 1e-3,
            gradient: None,
            random_directions: 16,
            seed: 0,
            spectrum: None,
        }
    }
}

/// Summary of the ratios `vᵀ F̃ v / vᵀ F v` over random directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioSummary {
    /// Mean ratio.
    pub mean: f64,
    /// Smallest ratio.
    pub min: f64,
    /// Largest ratio.
    pub max: f64,
    /// Directions used (those with `vᵀ F v > 0`).
    pub count: usize,
}

/// Metrics of an approximation `F̃` against the exact `F`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// `‖F̃ − F‖_F / ‖F‖_F`.
    pub rel_frobenius: f64,
    /// `‖F̃ − F‖₂ / ‖F‖₂` (largest eigenvalue magnitudes; by Lanczos from both ends for a large
    /// P, to a relative error of at most 1e-6).
    pub rel_spectral: f64,
    /// Cosine between the damped natural-gradient directions `(F̃ + λI)⁻¹g` and `(F + λI)⁻¹g`.
    pub ngd_cosine: Option<f64>,
    /// `‖d̃ − d‖ / ‖d‖` for those directions.
    pub ngd_rel_error: Option<f64>,
    /// `gᵀ F̃ g / gᵀ F g`.
    pub quad_ratio_gradient: Option<f64>,
    /// Ratios on random Gaussian directions.
    pub quad_ratio_random: RatioSummary,
    /// `ln det(F̃ + λI) − ln det(F + λI)`.
    pub logdet_difference: f64,
    /// Eigenvalues of F, ascending.
    pub spectrum_exact: Vec<f64>,
    /// Eigenvalues of F̃, ascending.
    pub spectrum_approx: Vec<f64>,
}

use fisherlab_linalg::dot;

/// A gradient for `p` parameters: the right length and finite.
fn check_gradient(g: &[f64], p: usize) -> Result<()> {
    if g.len() != p {
        return Err(Error::InvalidInput {
            what: format!("gradient has length {}, the operators {p}", g.len()),
        });
    }
    if let Some(k) = g.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidInput {
            what: format!("gradient entry {k} is {}", g[k]),
        });
    }
    Ok(())
}

/// `count` standard Gaussian directions from `seed` with `vᵀ F v > 0`, and those forms.
fn random_directions(
    exact: &dyn CurvatureOperator,
    count: usize,
    seed: u64,
) -> Result<Vec<(Vec<f64>, f64)>> {
    let mut rng = fisherlab_distributions::rng_from_seed(seed);
    let mut directions = Vec::with_capacity(count);
    for _ in 0..count {
        let v: Vec<f64> = (0..exact.dim())
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let den = dot(&v, &exact.matvec(&v)?);
        if den > 0.0 {
            directions.push((v, den));
        }
    }
    Ok(directions)
}

/// The ratios `vᵀ A v / vᵀ F v` over `directions`.
fn ratio_summary(
    approx: &dyn CurvatureOperator,
    directions: &[(Vec<f64>, f64)],
) -> Result<RatioSummary> {
    let mut ratios = Vec::with_capacity(directions.len());
    for (v, den) in directions {
        ratios.push(dot(v, &approx.matvec(v)?) / den);
    }
    Ok(RatioSummary {
        mean: ratios.iter().sum::<f64>() / ratios.len().max(1) as f64,
        min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        max: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        count: ratios.len(),
    })
}

/// The cosine between the natural-gradient directions `exact` and `approx`, and
/// `‖approx − exact‖ / ‖exact‖`.
fn direction_agreement(exact: &[f64], approx: &[f64]) -> (f64, f64) {
    let norm = dot(exact, exact).sqrt();
    let cos = dot(exact, approx) / (norm * dot(approx, approx).sqrt());
    let err: f64 = exact
        .iter()
        .zip(approx)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    (cos, err.sqrt() / norm)
}

/// Compare `approx` with `exact` (see [`Comparison`] for the metrics).
///
/// To compare several approximations with one exact operator, build a [`Reference`] once: its
/// dense matrix, spectrum, natural-gradient direction and log-determinant are then computed a
/// single time.
///
/// # Errors
/// Operators of different dimensions; a gradient of the wrong length or not finite; invalid
/// damping; whatever the operators' own operations return.
///
/// # Examples
/// ```
/// use fisherlab_fisher::metrics::{compare, CompareOptions};
/// use fisherlab_linalg::Diagonal;
/// let exact = Diagonal::new(vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let approx = Diagonal::new(vec![1.0; 4]).unwrap();
/// let c = compare(&exact, &approx, &CompareOptions::default()).unwrap();
/// // ‖diag(0, 1, 2, 3)‖_F / ‖diag(1, 2, 3, 4)‖_F = √14 / √30
/// assert!((c.rel_frobenius - (14.0f64 / 30.0).sqrt()).abs() < 1e-15);
/// ```
pub fn compare(
    exact: &dyn CurvatureOperator,
    approx: &dyn CurvatureOperator,
    opts: &CompareOptions,
) -> Result<Comparison> {
    Reference::new(exact, opts)?.compare(approx)
}

fn symmetric_eigenvalues(m: &Mat<f64>) -> Result<Vec<f64>> {
    use fisherlab_linalg::memory;
    let n = m.nrows();
    // the symmetrised copy and the eigen-solver's workspace
    memory::reserve(
        format!("the full spectrum of a {n} × {n} matrix"),
        memory::dense_copies_bytes(2, n, n),
    )
    .map_err(|e| Error::Linalg(e.into()))?;
    fisherlab_linalg::symmetric_eigenvalues(
        fisherlab_linalg::symmetrize(m.as_ref()).as_ref(),
        "a Fisher matrix (metrics)",
    )
    .map_err(Error::Linalg)
}

fn largest_magnitude(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// `‖M‖₂` of a symmetric matrix: the largest eigenvalue magnitude, from the two ends of its
/// spectrum ([`fisherlab_linalg::extreme_eigenvalues`]). A Ritz value lies within its residual
/// of an eigenvalue and below the largest one, so a relative residual of 1e-6 bounds the
/// relative error of the norm by 1e-6.
fn spectral_norm(m: &Mat<f64>) -> Result<f64> {
    let opts = fisherlab_linalg::LanczosOptions {
        tol: 1e-6,
        max_steps: 300,
        scale: 0.0,
    };
    let (top, min) = fisherlab_linalg::extreme_eigenvalues(m.as_ref(), 1, &opts)?;
    Ok(top[0].abs().max(min.abs()))
}

/// The spectrum an operator reports for `spectrum` (ascending): all of it, or its k largest.
fn spectrum_of(
    op: &dyn CurvatureOperator,
    dense: Option<&Mat<f64>>,
    spectrum: Option<usize>,
) -> Result<Vec<f64>> {
    match spectrum {
        Some(k) => {
            let mut top = op.top_eigenvalues(k.clamp(1, op.dim()))?;
            top.reverse();
            Ok(top)
        }
        // operators without an exact structured spectrum (low rank plus a general diagonal,
        // matrix-free) fall back to the dense symmetric eigenvalues
        None => match (op.eigenvalues(), dense) {
            (Ok(v), _) => Ok(v),
            (Err(_), Some(d)) => symmetric_eigenvalues(d),
            (Err(e), None) => Err(e.into()),
        },
    }
}

/// The exact operator with everything the metrics need from it computed once: the dense
/// matrix, its norms and spectrum, the damped natural-gradient direction and quadratic form at
/// the gradient, the random directions with their quadratic forms, and the damped
/// log-determinant.
///
/// # Examples
/// ```
/// use fisherlab_fisher::metrics::{CompareOptions, Reference};
/// use fisherlab_linalg::Diagonal;
/// let exact = Diagonal::new(vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let reference = Reference::new(&exact, &CompareOptions::default()).unwrap();
/// for scale in [0.5, 1.0, 2.0] {
///     let approx = Diagonal::new(vec![scale * 2.5; 4]).unwrap();
///     let c = reference.compare(&approx).unwrap();
///     // vᵀ(cI)v / vᵀFv lies between c/4 and c/1 for every direction
///     let r = c.quad_ratio_random;
///     assert!(r.min >= scale * 2.5 / 4.0 - 1e-12 && r.max <= scale * 2.5 + 1e-12);
/// }
/// ```
pub struct Reference<'a> {
    exact: &'a dyn CurvatureOperator,
    opts: CompareOptions,
    dense: Mat<f64>,
    norm: f64,
    spectrum: Vec<f64>,
    spectral_norm: f64,
    /// `(g, (F + λI)⁻¹ g, gᵀ F g)` when a gradient is given.
    gradient: Option<(Vec<f64>, Vec<f64>, f64)>,
    /// Random directions with `vᵀ F v > 0`, and those forms.
    directions: Vec<(Vec<f64>, f64)>,
    logdet: f64,
}

impl std::fmt::Debug for Reference<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reference")
            .field("dim", &self.exact.dim())
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<'a> Reference<'a> {
    /// Precompute the exact side of every metric.
    ///
    /// # Errors
    /// Invalid damping; a gradient of the wrong length or not finite; whatever the operator's
    /// own operations return.
    pub fn new(exact: &'a dyn CurvatureOperator, opts: &CompareOptions) -> Result<Self> {
        let p = exact.dim();
        if !(opts.lambda.is_finite() && opts.lambda >= 0.0) {
            return Err(Error::InvalidOption {
                name: "lambda",
                value: opts.lambda.to_string(),
                rule: "must be finite and >= 0",
            });
        }
        let gradient = match &opts.gradient {
            None => None,
            Some(g) => {
                check_gradient(g, p)?;
                let gm = Mat::from_fn(p, 1, |i, _| g[i]);
                let d = exact.solve_damped(opts.lambda, gm.as_ref())?;
                let gfg = dot(g, &exact.matvec(g)?);
                Some((g.clone(), d.col_as_slice(0).to_vec(), gfg))
            }
        };
        let directions = random_directions(exact, opts.random_directions, opts.seed)?;
        let dense = exact.to_dense()?;
        let spectrum = spectrum_of(exact, Some(&dense), opts.spectrum)?;
        let spectral_norm = match opts.spectrum {
            None => largest_magnitude(&spectrum),
            Some(_) => spectral_norm(&dense)?,
        };
        Ok(Self {
            exact,
            opts: opts.clone(),
            norm: dense.norm_l2(),
            spectral_norm,
            dense,
            spectrum,
            gradient,
            directions,
            logdet: exact.logdet_damped(opts.lambda)?,
        })
    }

    /// Eigenvalues of the exact operator, ascending (the k largest with `spectrum: Some(k)`).
    pub fn spectrum(&self) -> &[f64] {
        &self.spectrum
    }

    /// The options the reference was built with.
    pub fn options(&self) -> &CompareOptions {
        &self.opts
    }

    /// Every metric of `approx` against the exact operator.
    ///
    /// # Errors
    /// An operator of another dimension; whatever its own operations return.
    pub fn compare(&self, approx: &dyn CurvatureOperator) -> Result<Comparison> {
        let p = self.exact.dim();
        if approx.dim() != p {
            return Err(Error::InvalidInput {
                what: format!(
                    "cannot compare operators of dimensions {} and {p}",
                    approx.dim()
                ),
            });
        }
        let mut diff = approx.to_dense()?;
        let spectrum_approx = spectrum_of(approx, Some(&diff), self.opts.spectrum)?;
        // operators without an exact log-determinant (matrix-free) by Cholesky of their matrix
        let logdet = match approx.logdet_damped(self.opts.lambda) {
            Ok(v) => v,
            Err(_) => fisherlab_linalg::Dense::new(fisherlab_linalg::symmetrize(diff.as_ref()))?
                .logdet_damped(self.opts.lambda)?,
        };
        diff -= &self.dense;
        let rel_frobenius = diff.norm_l2() / self.norm;
        let rel_spectral = spectral_norm(&diff)? / self.spectral_norm;
        drop(diff);

        let (mut ngd_cosine, mut ngd_rel_error, mut quad_ratio_gradient) = (None, None, None);
        if let Some((g, de, gfg)) = &self.gradient {
            let gm = Mat::from_fn(p, 1, |i, _| g[i]);
            let da = approx.solve_damped(self.opts.lambda, gm.as_ref())?;
            let (cos, err) = direction_agreement(de, da.col_as_slice(0));
            ngd_cosine = Some(cos);
            ngd_rel_error = Some(err);
            quad_ratio_gradient = Some(dot(g, &approx.matvec(g)?) / gfg);
        }
        let quad_ratio_random = ratio_summary(approx, &self.directions)?;
        let logdet_difference = logdet - self.logdet;
        Ok(Comparison {
            rel_frobenius,
            rel_spectral,
            ngd_cosine,
            ngd_rel_error,
            quad_ratio_gradient,
            quad_ratio_random,
            logdet_difference,
            spectrum_exact: self.spectrum.clone(),
            spectrum_approx,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fisherlab_linalg::{Dense, Diagonal};

    #[test]
    fn closed_forms_for_two_diagonal_operators() {
        // F = diag(1, 2, 3, 4), F̃ = I, g = 1, λ = 0.5: every metric by hand
        let exact = Diagonal::new(vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let approx = Diagonal::new(vec![1.0; 4]).unwrap();
        let lambda = 0.5;
        let opts = CompareOptions {
            lambda,
            gradient: Some(vec![1.0; 4]),
            random_directions: 8,
            seed: 1,
            spectrum: None,
        };
        let c = compare(&exact, &approx, &opts).unwrap();
        assert!((c.rel_frobenius - (14.0f64 / 30.0).sqrt()).abs() < 1e-15);
        assert!((c.rel_spectral - 0.75).abs() < 1e-15);
        let de: Vec<f64> = (1..=4).map(|i| 1.0 / (i as f64 + lambda)).collect();
        let da = [1.0 / (1.0 + lambda); 4];
        let cos = dot(&de, &da) / (dot(&de, &de).sqrt() * dot(&da, &da).sqrt());
        assert!((c.ngd_cosine.unwrap() - cos).abs() < 1e-15);
        let err: f64 = de
            .iter()
            .zip(&da)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>();
        assert!((c.ngd_rel_error.unwrap() - (err / dot(&de, &de)).sqrt()).abs() < 1e-15);
        assert!((c.quad_ratio_gradient.unwrap() - 0.4).abs() < 1e-15);
        let logdet: f64 = (1..=4)
            .map(|i| (1.0 + lambda).ln() - (i as f64 + lambda).ln())
            .sum();
        assert!((c.logdet_difference - logdet).abs() < 1e-14);
        // ratios lie between the extreme generalised eigenvalues 1/4 and 1
        let r = c.quad_ratio_random;
        assert_eq!(r.count, 8);
        assert!(r.min >= 0.25 && r.max <= 1.0 && r.min <= r.mean && r.mean <= r.max);
        assert_eq!(c.spectrum_exact, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(c.spectrum_approx, vec![1.0; 4]);
    }

    #[test]
    fn large_operators_use_lanczos_and_agree_with_the_closed_forms() {
        // P = 1000 diagonal operators: the spectral norm of the difference comes from Lanczos
        // at both ends of its spectrum, the spectra are the k largest; closed forms by hand
        let p = fisherlab_linalg::LANCZOS_MIN_DIM;
        let d: Vec<f64> = (0..p).map(|i| 1.0 + i as f64 / 10.0).collect();
        // F̃ = F + δ with δ from about −2.9 to 1 (kept positive): the difference's negative end
        // is the larger; its spectral norm is max |F̃ᵢᵢ − Fᵢᵢ|
        let a: Vec<f64> = (0..p)
            .map(|i| d[i] + (i as f64 / (p - 1) as f64) * 4.0 - 3.0)
            .map(|v| v.max(0.05))
            .collect();
        let norm = a
            .iter()
            .zip(&d)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(norm > 2.5);
        let (exact, approx) = (Diagonal::new(d.clone()).unwrap(), Diagonal::new(a).unwrap());
        let opts = CompareOptions {
            spectrum: Some(5),
            ..Default::default()
        };
        let c = compare(&exact, &approx, &opts).unwrap();
        let top = d[p - 1];
        let want = norm / top;
        assert!(
            (c.rel_spectral - want).abs() <= 1e-6 * want,
            "{} vs {want}",
            c.rel_spectral
        );
        assert_eq!(c.spectrum_exact, d[p - 5..].to_vec());
        assert_eq!(c.spectrum_approx.len(), 5);
    }

    #[test]
    fn an_operator_against_itself_is_perfect() {
        let m = Mat::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.5 });
        let d = Dense::new(m).unwrap();
        let opts = CompareOptions {
            gradient: Some(vec![1.0, -2.0, 0.5]),
            ..Default::default()
        };
        let c = compare(&d, &d, &opts).unwrap();
        assert!(c.rel_frobenius.abs() < 1e-15 && c.rel_spectral.abs() < 1e-15);
        assert!((c.ngd_cosine.unwrap() - 1.0).abs() < 1e-15);
        assert!((c.quad_ratio_random.mean - 1.0).abs() < 1e-14);
        assert!(c.logdet_difference.abs() < 1e-14);
        // mismatched dimensions and gradients are typed errors
        let small = Diagonal::new(vec![1.0]).unwrap();
        assert!(compare(&d, &small, &opts).is_err());
        let bad = CompareOptions {
            gradient: Some(vec![1.0]),
            ..Default::default()
        };
        assert!(compare(&d, &d, &bad).is_err());
    }
}
