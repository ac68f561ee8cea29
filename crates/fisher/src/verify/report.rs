//! The check: exact expectation or Monte Carlo against the claim, entry by entry, point by
//! point.

use super::*;

/// Which route decides pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMethod {
    /// Exact expectation (quadrature or summation); Monte Carlo is reported alongside.
    Quadrature,
    /// Monte Carlo only (score form decides; both forms reported).
    MonteCarlo,
}

/// Options of [`verify`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Route that decides.
    pub method: VerifyMethod,
    /// Quadrature settings.
    pub quadrature: QuadratureOptions,
    /// Monte-Carlo samples per form.
    pub samples: usize,
    /// Monte-Carlo seed.
    pub seed: u64,
    /// Quadrature pass threshold: `|claimed − computed| ≤ tol · √(|F_ii F_jj|)`.
    pub rel_tol: f64,
    /// Monte-Carlo pass threshold in standard errors.
    pub z_tol: f64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            method: VerifyMethod::Quadrature,
            quadrature: QuadratureOptions::default(),
            samples: 100_000,
            seed: 0,
            rel_tol: 1e-6,
            z_tol: 5.0,
        }
    }
}

/// One entry at one point.
#[derive(Debug, Clone)]
pub struct EntryCheck {
    /// Row and column (0-based).
    pub index: (usize, usize),
    /// The claimed value.
    pub claimed: f64,
    /// Exact expectation (absent with [`VerifyMethod::MonteCarlo`]).
    pub quadrature: Option<f64>,
    /// Monte Carlo, score form: mean and standard error.
    pub mc_score: (f64, f64),
    /// Monte Carlo, negative-Hessian form (absent when the identity does not hold).
    pub mc_hessian: Option<(f64, f64)>,
    /// `|claimed − reference|` with the deciding route as reference.
    pub abs_error: f64,
    /// `abs_error / √(|F_ii F_jj|)` (quadrature) or in standard errors (Monte Carlo).
    pub rel_error: f64,
    /// Within tolerance.
    pub pass: bool,
}

/// All entries at one point.
#[derive(Debug, Clone)]
pub struct PointCheck {
    /// Parameter values.
    pub theta: Vec<f64>,
    /// `∫ p` (summation or quadrature; 1 when normalised).
    pub mass: Option<f64>,
    /// `E[s]` from the exact route (≈ 0 for a regular family).
    pub score_mean: Option<Vec<f64>>,
    /// The density does not normalise (then no entry is judged).
    pub not_normalised: Option<String>,
    /// Every entry, row-major.
    pub entries: Vec<EntryCheck>,
}

impl PointCheck {
    /// Normalised and every entry within tolerance.
    pub fn pass(&self) -> bool {
        self.not_normalised.is_none() && self.entries.iter().all(|e| e.pass)
    }
}

/// Check `claim` at each point: `points` are one density at several parameter values (see
/// [`SymbolicFamily::at`]).
///
/// # Errors
/// A claim entry that is not finite at a point, quadrature or Monte-Carlo failures other than
/// an unnormalised density.
pub fn verify(
    points: &[SymbolicFamily],
    claim: &[Vec<Expr>],
    opts: &VerifyOptions,
) -> Result<Vec<PointCheck>> {
    let mut out = Vec::with_capacity(points.len());
    for f in points {
        let theta = &f.theta;
        let p = f.symbols().num_params();
        let mut vals = vec![0.0];
        vals.extend_from_slice(theta);
        let mut claimed = DMatrix::zeros(p, p);
        for i in 0..p {
            for j in 0..p {
                let v: f64 = claim[i][j].eval(&vals).map_err(|e| Error::InvalidInput {
                    what: e.to_string(),
                })?;
                if !v.is_finite() {
                    return Err(Error::InvalidInput {
                        what: format!(
                            "the claimed entry ({}, {}) is {v} at {}",
                            i + 1,
                            j + 1,
                            describe_point(f.symbols(), theta)
                        ),
                    });
                }
                claimed[(i, j)] = v;
            }
        }
        let exact: Option<ExactReport> = match opts.method {
            VerifyMethod::MonteCarlo => None,
            VerifyMethod::Quadrature => match exact_expectation(f, &opts.quadrature) {
                Ok(r) => Some(r),
                Err(Error::NotNormalized { mass, .. }) => {
                    out.push(PointCheck {
                        theta: theta.clone(),
                        mass: Some(mass),
                        score_mean: None,
                        not_normalised: Some(format!(
                            "the density integrates to {mass} over the support {}, not 1: check the normalising constant",
                            f.support.describe()
                        )),
                        entries: Vec::new(),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let mc = |form| {
            monte_carlo(
                f,
                &MonteCarloOptions {
                    samples: opts.samples,
                    seed: opts.seed,
                    form,
                },
            )
        };
        let score = mc(McForm::Score)?;
        let hess = if f.hessian_identity_holds() {
            Some(mc(McForm::NegativeHessian)?)
        } else {
            None
        };
        let se = |e: &crate::FisherEstimate, i: usize, j: usize| {
            e.std_error.as_ref().map_or(f64::NAN, |s| s[(i, j)])
        };
        let mut entries = Vec::with_capacity(p * p);
        for i in 0..p {
            for j in 0..p {
                let c = claimed[(i, j)];
                let mc_score = (score.matrix[(i, j)], se(&score, i, j));
                let mc_hessian = hess.as_ref().map(|h| (h.matrix[(i, j)], se(h, i, j)));
                let (abs_error, rel_error, pass) = match &exact {
                    Some(r) => {
                        let q = r.fisher.matrix[(i, j)];
                        let scale = (r.fisher.matrix[(i, i)] * r.fisher.matrix[(j, j)])
                            .abs()
                            .sqrt()
                            .max(1e-300);
                        let abs = (c - q).abs();
                        (abs, abs / scale, abs <= opts.rel_tol * scale)
                    }
                    None => {
                        let abs = (c - mc_score.0).abs();
                        let z = abs / mc_score.1.max(1e-300);
                        (abs, z, z <= opts.z_tol)
                    }
                };
                entries.push(EntryCheck {
                    index: (i, j),
                    claimed: c,
                    quadrature: exact.as_ref().map(|r| r.fisher.matrix[(i, j)]),
                    mc_score,
                    mc_hessian,
                    abs_error,
                    rel_error,
                    pass,
                });
            }
        }
        out.push(PointCheck {
            theta: theta.clone(),
            mass: exact.as_ref().map(|r| r.mass),
            score_mean: exact.as_ref().map(|r| r.score_mean.clone()),
            not_normalised: None,
            entries,
        });
    }
    Ok(out)
}

/// `mu=0.3, sigma=2`.
pub fn describe_point(symbols: &Symbols, theta: &[f64]) -> String {
    symbols.names()[1..]
        .iter()
        .zip(theta)
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
