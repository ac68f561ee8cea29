use crate::{DualNum, Error, Family, FisherRng, LN_2PI, LogDensity, Result, Support, check};
use nalgebra::{DMatrix, DVector};
use rand::distr::Distribution as _;

/// Multivariate normal `multivariate_normal(mean1..meand, cov)`.
///
/// Coordinates: the mean, then the covariance entries `covij` with `i ≤ j` in row-major order
/// (`cov11, cov12, …, cov1d, cov22, …`); an off-diagonal coordinate moves both `Σᵢⱼ` and `Σⱼᵢ`.
/// Names use `cov{i}_{j}` when d ≥ 10.
///
/// # Formula
/// Fisher information: the mean block is `Σ⁻¹`; the covariance block is
/// `F_ab = ½ tr(Σ⁻¹ Eₐ Σ⁻¹ E_b)` with `Eₐ = ∂Σ/∂θₐ` (`eᵢeⱼᵀ + eⱼeᵢᵀ` off the diagonal, `eᵢeᵢᵀ` on
/// it); mean–covariance blocks are zero (Mardia, Kent & Bibby, *Multivariate Analysis*, §4.2;
/// Porat & Friedlander 1986).
#[derive(Debug, Clone)]
pub struct MultivariateNormal {
    mean: Vec<f64>,
    cov: DMatrix<f64>,
    chol: DMatrix<f64>,
    precision: DMatrix<f64>,
}

/// Relative tolerance on `|Σᵢⱼ − Σⱼᵢ|` accepted for a covariance given as a full matrix.
const SYMMETRY_TOLERANCE: f64 = 1e-12;

impl MultivariateNormal {
    /// `N(mean, cov)`; `cov` must be symmetric positive definite.
    ///
    /// # Errors
    /// Empty or mismatched shapes, non-finite entries, an asymmetric or non-positive-definite
    /// covariance.
    pub fn new(mean: Vec<f64>, cov: DMatrix<f64>) -> Result<Self> {
        let d = mean.len();
        let family = "multivariate_normal";
        if d == 0 || cov.nrows() != d || cov.ncols() != d {
            return Err(Error::InvalidStructure {
                family,
                what: format!(
                    "mean has length {d} but covariance is {}x{}; need a non-empty d and a d x d covariance",
                    cov.nrows(),
                    cov.ncols()
                ),
            });
        }
        for (i, &m) in mean.iter().enumerate() {
            check(family, &format!("mean{}", i + 1), m, true, "must be finite")?;
        }
        let names = cov_names(d);
        let mut idx = 0;
        for i in 0..d {
            for j in i..d {
                let v = cov[(i, j)];
                check(family, &names[idx], v, true, "must be finite")?;
                let w = cov[(j, i)];
                if (v - w).abs() > SYMMETRY_TOLERANCE * (v.abs() + w.abs()) {
                    return Err(Error::InvalidStructure {
                        family,
                        what: format!(
                            "covariance is not symmetric: entry ({},{}) = {v} but ({},{}) = {w}",
                            i + 1,
                            j + 1,
                            j + 1,
                            i + 1
                        ),
                    });
                }
                if i == j && v <= 0.0 {
                    return Err(Error::InvalidParameter {
                        family,
                        name: names[idx].clone(),
                        value: v,
                        rule: "a variance must be > 0",
                    });
                }
                idx += 1;
            }
        }
        let (chol, precision) = match cov.clone().cholesky() {
            Some(c) => (c.l(), c.inverse()),
            None => {
                return Err(Error::InvalidStructure {
                    family,
                    what: "covariance is not positive definite (Cholesky factorisation failed)"
                        .into(),
                });
            }
        };
        Ok(Self {
            mean,
            cov,
            chol,
            precision,
        })
    }

    /// From coordinates: the mean (d) then the upper-triangular covariance entries (d(d+1)/2).
    ///
    /// # Errors
    /// A length that is not `d + d(d+1)/2` for any d, or as [`new`](Self::new).
    pub fn from_coordinates(theta: &[f64]) -> Result<Self> {
        let d = dimension_from_len(theta.len()).ok_or_else(|| Error::InvalidStructure {
            family: "multivariate_normal",
            what: format!("{} coordinates is not d + d(d+1)/2 for any d", theta.len()),
        })?;
        let mean = theta[..d].to_vec();
        let mut cov = DMatrix::zeros(d, d);
        let mut idx = d;
        for i in 0..d {
            for j in i..d {
                cov[(i, j)] = theta[idx];
                cov[(j, i)] = theta[idx];
                idx += 1;
            }
        }
        Self::new(mean, cov)
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    /// Covariance matrix.
    pub fn cov(&self) -> &DMatrix<f64> {
        &self.cov
    }
}

/// d with `d + d(d+1)/2 = len`, if any.
pub(crate) fn dimension_from_len(len: usize) -> Option<usize> {
    (1..=len).find(|&d| d + d * (d + 1) / 2 == len)
}

/// Names of the covariance coordinates for dimension d.
pub(crate) fn cov_names(d: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(d * (d + 1) / 2);
    for i in 1..=d {
        for j in i..=d {
            v.push(if d <= 9 {
                format!("cov{i}{j}")
            } else {
                format!("cov{i}_{j}")
            });
        }
    }
    v
}

impl Family for MultivariateNormal {
    fn name(&self) -> &'static str {
        "multivariate_normal"
    }
    fn param_names(&self) -> Vec<String> {
        let d = self.dim();
        let mut v: Vec<String> = (1..=d).map(|i| format!("mean{i}")).collect();
        v.extend(cov_names(d));
        v
    }
    fn params(&self) -> Vec<f64> {
        let d = self.dim();
        let mut v = self.mean.clone();
        for i in 0..d {
            for j in i..d {
                v.push(self.cov[(i, j)]);
            }
        }
        v
    }
    fn obs_dim(&self) -> usize {
        self.dim()
    }
    fn support(&self) -> Support {
        Support::RealVector(self.dim())
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let d = self.dim();
        let z: DVector<f64> = DVector::from_fn(d, |_, _| rand_distr::StandardNormal.sample(rng));
        let x = &self.chol * z;
        for i in 0..d {
            out[i] = self.mean[i] + x[i];
        }
    }
    fn fisher(&self) -> DMatrix<f64> {
        let d = self.dim();
        let p = d + d * (d + 1) / 2;
        let s = &self.precision;
        let mut f = DMatrix::zeros(p, p);
        f.view_mut((0, 0), (d, d)).copy_from(s);
        // Eₐ as the list of (row, col) unit entries it sets
        let mut e: Vec<Vec<(usize, usize)>> = Vec::new();
        for i in 0..d {
            for j in i..d {
                e.push(if i == j {
                    vec![(i, i)]
                } else {
                    vec![(i, j), (j, i)]
                });
            }
        }
        for (a, ea) in e.iter().enumerate() {
            for (b, eb) in e.iter().enumerate() {
                // tr(S e_p e_qᵀ S e_r e_sᵀ) = S[s,p] S[q,r]
                let mut tr = 0.0;
                for &(pp, q) in ea {
                    for &(r, ss) in eb {
                        tr += s[(ss, pp)] * s[(q, r)];
                    }
                }
                f[(d + a, d + b)] = 0.5 * tr;
            }
        }
        f
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        (0..self.dim())
            .map(|i| (self.mean[i], self.cov[(i, i)].sqrt()))
            .collect()
    }
    fn gaussian_reference(&self) -> Option<(Vec<f64>, DMatrix<f64>)> {
        Some((self.mean.clone(), self.cov.clone()))
    }
}

impl LogDensity for MultivariateNormal {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let d = self.dim();
        // Σ from coordinates, then a Cholesky factorisation in D arithmetic
        let mut l = vec![D::from(0.0); d * d];
        let mut idx = d;
        for i in 0..d {
            for j in i..d {
                l[j * d + i] = t[idx]; // lower triangle holds Σ
                idx += 1;
            }
        }
        for j in 0..d {
            let mut diag = l[j * d + j];
            for k in 0..j {
                diag -= l[j * d + k] * l[j * d + k];
            }
            let ljj = diag.sqrt();
            l[j * d + j] = ljj;
            for i in j + 1..d {
                let mut v = l[i * d + j];
                for k in 0..j {
                    v -= l[i * d + k] * l[j * d + k];
                }
                l[i * d + j] = v / ljj;
            }
        }
        // solve L y = x − μ; log p = −½|y|² − Σ ln Lᵢᵢ − (d/2) ln 2π
        let mut y = vec![D::from(0.0); d];
        let mut quad = D::from(0.0);
        let mut logdet = D::from(0.0);
        for i in 0..d {
            let mut v = -t[i] + x[i];
            for k in 0..i {
                v -= l[i * d + k] * y[k];
            }
            y[i] = v / l[i * d + i];
            quad += y[i] * y[i];
            logdet += l[i * d + i].ln();
        }
        -quad * 0.5 - logdet - 0.5 * d as f64 * LN_2PI
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        crate::check_len("multivariate_normal", theta, self.params().len())?;
        Self::from_coordinates(theta)
    }
}
