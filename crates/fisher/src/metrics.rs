//! How good is an approximation? Metrics of any curvature operator against the exact one.
//!
//! All metrics are computed from the operators' own exact operations (damped solves,
//! log-determinants, spectra) plus one dense difference for the norms, so they are meant for
//! problems where the exact P × P matrix fits in memory.

use crate::{Error, Result};
use faer::{Mat, Side};
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
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            lambda: 1e-3,
            gradient: None,
            random_directions: 16,
            seed: 0,
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
    /// `‖F̃ − F‖₂ / ‖F‖₂` (largest eigenvalue magnitudes).
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

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Compare `approx` with `exact` (see [`Comparison`] for the metrics).
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
    let p = exact.dim();
    if approx.dim() != p {
        return Err(Error::InvalidInput {
            what: format!(
                "cannot compare operators of dimensions {} and {p}",
                approx.dim()
            ),
        });
    }
    if !(opts.lambda.is_finite() && opts.lambda >= 0.0) {
        return Err(Error::InvalidOption {
            name: "lambda",
            value: opts.lambda.to_string(),
            rule: "must be finite and >= 0",
        });
    }
    let e = exact.to_dense()?;
    let a = approx.to_dense()?;
    let diff = &a - &e;
    let rel_frobenius = diff.norm_l2() / e.norm_l2();
    let sym = crate::curvature::symmetrize(&diff);
    let eig = |m: &Mat<f64>| {
        m.self_adjoint_eigenvalues(Side::Lower)
            .map_err(|err| Error::Unsupported {
                family: "metrics",
                what: format!("symmetric eigenvalues failed: {err:?}"),
            })
    };
    let spectral = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let spectrum_exact = exact.eigenvalues()?;
    let spectrum_approx = approx.eigenvalues()?;
    let rel_spectral = spectral(&eig(&sym)?) / spectral(&spectrum_exact);

    let (mut ngd_cosine, mut ngd_rel_error, mut quad_ratio_gradient) = (None, None, None);
    if let Some(g) = &opts.gradient {
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
        let gm = Mat::from_fn(p, 1, |i, _| g[i]);
        let de = exact.solve_damped(opts.lambda, gm.as_ref())?;
        let da = approx.solve_damped(opts.lambda, gm.as_ref())?;
        let (de, da) = (de.col_as_slice(0), da.col_as_slice(0));
        ngd_cosine = Some(dot(de, da) / (dot(de, de).sqrt() * dot(da, da).sqrt()));
        let err: f64 = de.iter().zip(da).map(|(x, y)| (x - y) * (x - y)).sum();
        ngd_rel_error = Some((err / dot(de, de)).sqrt());
        quad_ratio_gradient = Some(dot(g, &approx.matvec(g)?) / dot(g, &exact.matvec(g)?));
    }

    let mut rng = fisherlab_distributions::rng_from_seed(opts.seed);
    let mut ratios = Vec::with_capacity(opts.random_directions);
    for _ in 0..opts.random_directions {
        let v: Vec<f64> = (0..p).map(|_| StandardNormal.sample(&mut rng)).collect();
        let den = dot(&v, &exact.matvec(&v)?);
        if den > 0.0 {
            ratios.push(dot(&v, &approx.matvec(&v)?) / den);
        }
    }
    let quad_ratio_random = RatioSummary {
        mean: ratios.iter().sum::<f64>() / ratios.len().max(1) as f64,
        min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
        max: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        count: ratios.len(),
    };
    let logdet_difference =
        approx.logdet_damped(opts.lambda)? - exact.logdet_damped(opts.lambda)?;
    Ok(Comparison {
        rel_frobenius,
        rel_spectral,
        ngd_cosine,
        ngd_rel_error,
        quad_ratio_gradient,
        quad_ratio_random,
        logdet_difference,
        spectrum_exact,
        spectrum_approx,
    })
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
