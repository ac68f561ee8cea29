//! Exact expectation `F = E[s sᵀ]` over a family's support: adaptive quadrature for continuous
//! families, certified summation for discrete ones, Gauss–Hermite cubature for ℝᵈ.

use crate::quadrature::{self, Tolerance};
use crate::{Error, FisherEstimate, Method, Result};
use fisherlab_distributions::heads::sigmoid_pair;
use fisherlab_distributions::{ScoreFn, Support};
use nalgebra::DMatrix;
use std::f64::consts::PI;

/// Options of [`exact_expectation`].
#[derive(Debug, Clone)]
pub struct QuadratureOptions {
    /// Target relative error of every entry, measured against `√(F_ii F_jj)` (default 1e-11).
    pub rel_tol: f64,
    /// Relative error still accepted when rounding noise in the integrand stops the target from
    /// being reached (default 1e-9); beyond it the integration fails with
    /// [`Error::NotConverged`].
    pub accept_tol: f64,
    /// Largest number of subintervals of one adaptive integration (default 2000).
    pub max_intervals: usize,
    /// Largest number of terms of a discrete sum (default 10⁸).
    pub max_terms: u64,
    /// Largest number of Gauss–Hermite nodes for families on ℝᵈ (default 2·10⁶).
    pub max_nodes: usize,
}

impl Default for QuadratureOptions {
    fn default() -> Self {
        Self {
            rel_tol: 1e-11,
            accept_tol: 1e-9,
            max_intervals: 2000,
            max_terms: 100_000_000,
            max_nodes: 2_000_000,
        }
    }
}

/// What [`exact_expectation`] computed besides the Fisher matrix: the diagnostics that say
/// whether to trust it.
#[derive(Debug, Clone)]
pub struct ExactReport {
    /// `E[s sᵀ]`.
    pub fisher: FisherEstimate,
    /// `∫ p` over the support (1 for a correctly normalised density).
    pub mass: f64,
    /// `E[s]` (zero for a regular family).
    pub score_mean: Vec<f64>,
    /// Largest estimated error of a Fisher entry relative to `√(F_ii F_jj)`.
    pub relative_error: f64,
    /// Number of points at which the score was evaluated.
    pub evaluations: usize,
}

/// Layout of the integrand vector: `[mass, E[s] (P), upper triangle of E[s sᵀ] (P(P+1)/2)]`.
struct Layout {
    p: usize,
}

impl Layout {
    fn len(&self) -> usize {
        1 + self.p + self.p * (self.p + 1) / 2
    }
    fn tri(&self, i: usize, j: usize) -> usize {
        // row-major upper triangle, i ≤ j
        1 + self.p + i * self.p - i * (i + 1) / 2 + j
    }
    /// out += w·[1, s, s sᵀ]
    fn accumulate(&self, w: f64, s: &[f64], out: &mut [f64]) {
        out[0] += w;
        for i in 0..self.p {
            out[1 + i] += w * s[i];
            let ws = w * s[i];
            for j in i..self.p {
                out[self.tri(i, j)] += ws * s[j];
            }
        }
    }
    /// Reference scales: 1 for the mass, √F_ii for E[sᵢ], √(F_ii F_jj) for F_ij.
    fn scale(&self, v: &[f64]) -> Vec<f64> {
        let d: Vec<f64> = (0..self.p).map(|i| v[self.tri(i, i)].abs()).collect();
        let mut s = vec![0.0; self.len()];
        s[0] = v[0].abs().max(1e-300);
        for i in 0..self.p {
            s[1 + i] = d[i].sqrt();
            for j in i..self.p {
                s[self.tri(i, j)] = (d[i] * d[j]).sqrt();
            }
        }
        s
    }
    fn fisher(&self, v: &[f64]) -> DMatrix<f64> {
        DMatrix::from_fn(self.p, self.p, |i, j| v[self.tri(i.min(j), i.max(j))])
    }
}

/// Evaluate `p(x)·[1, s, s sᵀ]·weight` at one observation, guarding against silent NaN.
struct PointEval<'a> {
    family: &'a dyn ScoreFn,
    layout: Layout,
    score: Vec<f64>,
}

impl PointEval<'_> {
    fn add(&mut self, x: &[f64], weight: f64, out: &mut [f64]) -> Result<()> {
        self.add_shifted(x, weight, 0.0, out)
    }
    /// As [`add`](Self::add) with the density divided by `e^{log_shift}` (kept in log space).
    fn add_shifted(
        &mut self,
        x: &[f64],
        weight: f64,
        log_shift: f64,
        out: &mut [f64],
    ) -> Result<()> {
        let lp = self.family.score_into(x, &mut self.score);
        if lp == f64::NEG_INFINITY || weight == 0.0 {
            return Ok(()); // zero density (or an unrepresentable point): no contribution
        }
        let w = weight * (lp - log_shift).exp();
        if w == 0.0 {
            return Ok(());
        }
        if !lp.is_finite() || !w.is_finite() || self.score.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                family: self.family.name(),
                x: x.to_vec(),
                what: format!("log p = {lp}, score = {:?}", self.score),
            });
        }
        self.layout.accumulate(w, &self.score, out);
        Ok(())
    }
}

/// Fisher information by exact expectation over the support.
///
/// - real line, `(0, ∞)`, `(0, 1)`, circle: adaptive Gauss–Kronrod in `x`, `ln x`, `logit x`
///   or the angle, centred and scaled by [`Family::quadrature_hint`](fisherlab_distributions::Family::quadrature_hint),
///   infinite ranges mapped to `[0, 1)`;
/// - simplex: nested adaptive integration over the logits of the stick-breaking fractions
///   (K ≤ 4);
/// - counts: summation, the unbounded tail certified by the family's bound on `p(k+1)/p(k)` and
///   the (checked) affinity of the score in k;
/// - ℝᵈ: tensor Gauss–Hermite cubature in the whitened variable of the family's Gaussian
///   reference, with the density ratio `p/q` inside the integrand, orders raised until two agree.
///
/// The integrand carries `[1, s, s sᵀ]·p`, so the report also returns `∫p` and `E[s]`; a
/// density that does not integrate to 1 is an error ([`Error::NotNormalized`]).
///
/// # Errors
/// Non-convergence, a non-finite score where the density is positive, an unnormalised
/// density, an uncertifiable tail, or a support this method cannot integrate.
///
/// # Examples
/// ```
/// use fisherlab_distributions::continuous::StudentT;
/// use fisherlab_fisher::{exact_expectation, QuadratureOptions};
/// let t = StudentT::new(0.0, 2.0, 3.0).unwrap();
/// let r = exact_expectation(&t, &QuadratureOptions::default()).unwrap();
/// // F_μμ = (ν+1)/((ν+3)σ²) = 4/24
/// assert!((r.fisher.matrix[(0, 0)] - 4.0 / 24.0).abs() < 1e-11);
/// assert!((r.mass - 1.0).abs() < 1e-10);
/// ```
pub fn exact_expectation(family: &dyn ScoreFn, opts: &QuadratureOptions) -> Result<ExactReport> {
    if !(opts.rel_tol > 0.0 && opts.rel_tol < 1.0) {
        return Err(Error::InvalidOption {
            name: "rel_tol",
            value: opts.rel_tol.to_string(),
            rule: "must lie in (0, 1)",
        });
    }
    let p = family.params().len();
    let layout = Layout { p };
    let m = layout.len();
    let mut eval = PointEval {
        family,
        layout: Layout { p },
        score: vec![0.0; p],
    };
    let hint = family.quadrature_hint();
    if hint
        .iter()
        .any(|(c, s)| !(c.is_finite() && s.is_finite() && *s > 0.0))
    {
        return Err(Error::Unsupported {
            family: family.name(),
            what: format!("quadrature_hint {hint:?} must give finite centres and spreads > 0"),
        });
    }
    let (centre, spread) = hint.first().copied().unwrap_or((0.0, 1.0));
    let scale = |v: &[f64]| Layout { p }.scale(v);
    let tol = Tolerance {
        rel: opts.rel_tol,
        scale: &scale,
        floor: &[],
        max_intervals: opts.max_intervals,
        accept: opts.accept_tol.max(opts.rel_tol),
    };
    let (value, error, evaluations) = match family.support() {
        Support::Real => {
            let mut f = |x: f64, out: &mut [f64]| {
                out.fill(0.0);
                eval.add(&[x], 1.0, out)
            };
            let r = quadrature::integrate(&mut f, &quadrature::real_line(centre, spread), m, &tol)?;
            (r.value, r.error, r.evaluations)
        }
        Support::Positive => {
            // y = ln x, dx = x dy
            let mut f = |y: f64, out: &mut [f64]| {
                out.fill(0.0);
                let x = y.exp();
                if x == 0.0 || !x.is_finite() {
                    return Ok(());
                }
                eval.add(&[x], x, out)
            };
            let r = quadrature::integrate(&mut f, &quadrature::real_line(centre, spread), m, &tol)?;
            (r.value, r.error, r.evaluations)
        }
        Support::UnitInterval => {
            // y = logit x, dx = x(1−x) dy
            let mut f = |y: f64, out: &mut [f64]| {
                out.fill(0.0);
                let (x, xc) = sigmoid_pair(y);
                if x == 0.0 || xc == 0.0 {
                    return Ok(());
                }
                // no f64 lies between 1 − 1.1e-16 and 1, so far enough out x rounds onto 1
                // (x = 0 is reached only at 1e-308): a density still non-finite there has mass
                // that an f64 observation cannot resolve, and the error says so
                eval.add(&[x], x * xc, out).map_err(|e| match e {
                    Error::NonFinite { family, x, what } if x[0] >= 1.0 => Error::NonFinite {
                        family,
                        x,
                        what: format!(
                            "{what}: the integration variable rounded onto the endpoint 1 (no f64 lies between 1 − 1.1e-16 and 1), so the mass next to it cannot be resolved in float64"
                        ),
                    },
                    e => e,
                })
            };
            let r = quadrature::integrate(&mut f, &quadrature::real_line(centre, spread), m, &tol)?;
            (r.value, r.error, r.evaluations)
        }
        Support::Circle => {
            let mut f = |x: f64, out: &mut [f64]| {
                out.fill(0.0);
                eval.add(&[x], 1.0, out)
            };
            let pieces = quadrature::finite_range(centre - PI, centre + PI, centre, spread);
            let r = quadrature::integrate(&mut f, &pieces, m, &tol)?;
            (r.value, r.error, r.evaluations)
        }
        Support::Counts { lower, upper } => sum_counts(family, &mut eval, lower, upper, opts)?,
        Support::Categories(k) => {
            let mut v = vec![0.0; m];
            for c in 0..k {
                eval.add(&[c as f64], 1.0, &mut v)?;
            }
            (v, vec![0.0; m], k)
        }
        Support::Simplex(k) => simplex(family, &mut eval, k, &hint, opts)?,
        Support::RealVector(d) => gauss_hermite(family, &mut eval, d, opts)?,
    };
    let scales = layout.scale(&value);
    let relative_error = (0..p)
        .flat_map(|i| (i..p).map(move |j| (i, j)))
        .map(|(i, j)| {
            let k = layout.tri(i, j);
            if scales[k] > 0.0 {
                error[k] / scales[k]
            } else {
                error[k]
            }
        })
        .fold(0.0, f64::max);
    let mass = value[0];
    if let Some(k) = value.iter().position(|v| !v.is_finite()) {
        let names = family.param_names();
        let what = match (0..p)
            .flat_map(|i| (i..p).map(move |j| (i, j)))
            .find(|&(i, j)| layout.tri(i, j) == k)
        {
            Some((i, j)) => format!(
                "the expectation of entry ({}, {}) of the score's outer product is {} (float64 overflows at these parameters, or the score is not finite)",
                names[i], names[j], value[k]
            ),
            None => format!("the integral of the density or a score is {}", value[k]),
        };
        return Err(Error::NonFiniteResult {
            family: family.name(),
            what,
        });
    }
    // rounding in log p (terms of size |log p| cancel) limits how exactly ∫p can come out;
    // a wrong normaliser is off by far more
    if (mass - 1.0).abs() > 10.0 * opts.accept_tol.max(opts.rel_tol) {
        return Err(Error::NotNormalized {
            family: family.name(),
            mass,
        });
    }
    Ok(ExactReport {
        fisher: FisherEstimate {
            method: Method::Quadrature,
            param_names: family.param_names(),
            matrix: layout.fisher(&value),
            std_error: None,
        },
        mass,
        score_mean: value[1..=p].to_vec(),
        relative_error,
        evaluations,
    })
}

type Sums = (Vec<f64>, Vec<f64>, usize);

fn sum_counts(
    family: &dyn ScoreFn,
    eval: &mut PointEval<'_>,
    lower: u64,
    upper: Option<u64>,
    opts: &QuadratureOptions,
) -> Result<Sums> {
    let layout = Layout { p: eval.layout.p };
    let m = layout.len();
    let mut v = vec![0.0; m];
    if let Some(u) = upper {
        if u - lower >= opts.max_terms {
            return Err(Error::Unsupported {
                family: family.name(),
                what: format!(
                    "a sum of {} terms exceeds max_terms = {}",
                    u - lower + 1,
                    opts.max_terms
                ),
            });
        }
        for k in lower..=u {
            eval.add(&[k as f64], 1.0, &mut v)?;
        }
        return Ok((v, vec![0.0; m], (u - lower + 1) as usize));
    }
    // unbounded: sum until a certified bound on the remainder meets the tolerance
    let p = layout.p;
    let (centre, _) = family
        .quadrature_hint()
        .first()
        .copied()
        .unwrap_or((0.0, 1.0));
    let mut s_k = vec![0.0; p];
    let mut s_k1 = vec![0.0; p];
    let mut s_k2 = vec![0.0; p];
    let mut k = lower;
    loop {
        eval.add(&[k as f64], 1.0, &mut v)?;
        let n_terms = k - lower + 1;
        if (k as f64) >= centre
            && n_terms.is_multiple_of(8)
            && let Some(rho) = family.pmf_ratio_bound(k + 1).filter(|r| *r < 1.0)
        {
            // score at k+1, k+2, k+3: affine in k for the families this applies to (checked)
            let lp = family.score_into(&[(k + 1) as f64], &mut s_k);
            family.score_into(&[(k + 2) as f64], &mut s_k1);
            family.score_into(&[(k + 3) as f64], &mut s_k2);
            let scales = layout.scale(&v);
            let mut affine = true;
            for i in 0..p {
                let second = s_k2[i] - 2.0 * s_k1[i] + s_k[i];
                let size = s_k2[i].abs() + s_k1[i].abs() + s_k[i].abs();
                if second.abs() > 1e-9 * size.max(1e-300) {
                    affine = false;
                }
            }
            if !affine {
                return Err(Error::TailNotCertified {
                    family: family.name(),
                    why: "the score is not affine in the count".into(),
                });
            }
            let a: f64 = s_k.iter().map(|x| x * x).sum::<f64>().sqrt();
            let b: f64 = s_k
                .iter()
                .zip(&s_k1)
                .map(|(x, y)| (y - x).powi(2))
                .sum::<f64>()
                .sqrt();
            // Σ_{j≥0} ρʲ (A + jB)² with p(k+1+j) ≤ p(k+1) ρʲ
            let q = 1.0 - rho;
            let tail = lp.exp()
                * (a * a / q
                    + 2.0 * a * b * rho / (q * q)
                    + b * b * rho * (1.0 + rho) / (q * q * q));
            let mass_tail = lp.exp() / q;
            let worst = (0..p)
                .flat_map(|i| (i..p).map(move |j| (i, j)))
                .map(|(i, j)| tail / scales[layout.tri(i, j)].max(1e-300))
                .fold(mass_tail, f64::max);
            if worst <= opts.rel_tol * 1e-2 {
                let mut err = vec![tail; m];
                err[0] = mass_tail;
                return Ok((v, err, n_terms as usize + 3));
            }
        }
        if n_terms >= opts.max_terms {
            return Err(Error::TailNotCertified {
                family: family.name(),
                why: format!(
                    "no certified tail bound within max_terms = {}",
                    opts.max_terms
                ),
            });
        }
        k += 1;
    }
}

/// Nested adaptive integration over the simplex: stick-breaking fractions
/// `vᵢ = xᵢ/(1 − Σ_{j<i} xⱼ)` in logit coordinates.
fn simplex(
    family: &dyn ScoreFn,
    eval: &mut PointEval<'_>,
    k: usize,
    hint: &[(f64, f64)],
    opts: &QuadratureOptions,
) -> Result<Sums> {
    if k > 4 {
        return Err(Error::Unsupported {
            family: family.name(),
            what: format!(
                "nested quadrature over a {k}-simplex is limited to K <= 4; use monte-carlo"
            ),
        });
    }
    // pass 1 finds the scale of each entry; pass 2 holds every level to that absolute floor
    let coarse = nested(eval, k, hint, 1e-5, &[], opts)?;
    let floor: Vec<f64> = eval
        .layout
        .scale(&coarse.0)
        .iter()
        .map(|s| s * 1e-2)
        .collect();
    let (v, e, n) = nested(eval, k, hint, opts.rel_tol, &floor, opts)?;
    Ok((v, e, n + coarse.2))
}

fn nested(
    eval: &mut PointEval<'_>,
    k: usize,
    hint: &[(f64, f64)],
    rel: f64,
    floor: &[f64],
    opts: &QuadratureOptions,
) -> Result<Sums> {
    let mut x = vec![0.0; k];
    let mut count = 0usize;
    let r = level(
        eval, 0, k, hint, rel, floor, opts, 1.0, 1.0, &mut x, &mut count,
    )?;
    Ok((r.value, r.error, count))
}

/// Integrate over level `l` given the remaining stick length `rest` and Jacobian so far.
#[allow(clippy::too_many_arguments)]
fn level(
    eval: &mut PointEval<'_>,
    l: usize,
    k: usize,
    hint: &[(f64, f64)],
    rel: f64,
    floor: &[f64],
    opts: &QuadratureOptions,
    rest: f64,
    jac: f64,
    x: &mut Vec<f64>,
    count: &mut usize,
) -> Result<quadrature::Integral> {
    let p = eval.layout.p;
    let m = eval.layout.len();
    let (c, s) = hint[l];
    let scale = |v: &[f64]| Layout { p }.scale(v);
    let tol = Tolerance {
        rel,
        scale: &scale,
        floor,
        max_intervals: opts.max_intervals,
        accept: opts.accept_tol.max(rel),
    };
    let last = l + 2 == k;
    let mut f = |y: f64, out: &mut [f64]| -> Result<()> {
        out.fill(0.0);
        let (v, vc) = sigmoid_pair(y);
        let xl = rest * v;
        let rest2 = rest * vc;
        let w = jac * rest * v * vc; // dxₗ = rest·v(1−v) dy
        if xl == 0.0 || rest2 == 0.0 || w == 0.0 {
            return Ok(());
        }
        x[l] = xl;
        if last {
            x[l + 1] = rest2;
            *count += 1;
            eval.add(x, w, out)
        } else {
            let inner = level(
                eval,
                l + 1,
                k,
                hint,
                rel * 0.1,
                floor,
                opts,
                rest2,
                w,
                x,
                count,
            )?;
            out.copy_from_slice(&inner.value);
            Ok(())
        }
    };
    quadrature::integrate(&mut f, &quadrature::real_line(c, s), m, &tol)
}

/// Tensor Gauss–Hermite cubature against the family's Gaussian reference q = N(μ, C):
/// `E_p[g] = E_q[g·p/q]`, with `x = μ + L z`.
fn gauss_hermite(
    family: &dyn ScoreFn,
    eval: &mut PointEval<'_>,
    d: usize,
    opts: &QuadratureOptions,
) -> Result<Sums> {
    let (mu, cov) = family
        .gaussian_reference()
        .ok_or_else(|| Error::Unsupported {
            family: family.name(),
            what: "no Gaussian reference measure for cubature on R^d".into(),
        })?;
    let l = cov
        .clone()
        .cholesky()
        .ok_or_else(|| Error::NonFinite {
            family: family.name(),
            x: mu.to_vec(),
            what:
                "the Cholesky factor of the Gaussian reference covariance (not positive definite)"
                    .into(),
        })?
        .l();
    let log_det_l: f64 = (0..d).map(|i| l[(i, i)].ln()).sum();
    let layout = Layout { p: eval.layout.p };
    let m = layout.len();
    let mut previous: Option<Vec<f64>> = None;
    let mut total_evals = 0;
    let mut order = 5usize;
    loop {
        let nodes = (order as f64).powi(d as i32);
        if nodes > opts.max_nodes as f64 {
            return Err(Error::NotConverged {
                error: f64::NAN,
                tolerance: opts.rel_tol,
                evaluations: total_evals,
            });
        }
        let rule =
            gauss_quad::GaussHermite::new(std::num::NonZeroUsize::new(order).expect("order >= 5"));
        // weight e^{−t²}: z = √2 t, w/√π gives E over N(0, 1)
        let pts: Vec<(f64, f64)> = rule
            .as_node_weight_pairs()
            .iter()
            .map(|&(t, w)| (std::f64::consts::SQRT_2 * t, w / PI.sqrt()))
            .collect();
        let mut v = vec![0.0; m];
        let mut idx = vec![0usize; d];
        let mut x = vec![0.0; d];
        loop {
            let mut w = 1.0;
            let mut z2 = 0.0;
            for &j in &idx {
                w *= pts[j].1;
                z2 += pts[j].0 * pts[j].0;
            }
            for r in 0..d {
                let mut acc = mu[r];
                for c in 0..=r {
                    acc += l[(r, c)] * pts[idx[c]].0;
                }
                x[r] = acc;
            }
            // weight / q(x): the cubature weight is q's; divide it out, p comes from eval
            let log_q = -0.5 * z2 - log_det_l - 0.5 * d as f64 * (2.0 * PI).ln();
            eval.add_shifted(&x, w, log_q, &mut v)?;
            total_evals += 1;
            // next multi-index
            let mut c = 0;
            while c < d {
                idx[c] += 1;
                if idx[c] < order {
                    break;
                }
                idx[c] = 0;
                c += 1;
            }
            if c == d {
                break;
            }
        }
        if let Some(prev) = &previous {
            let scales = layout.scale(&v);
            let err: Vec<f64> = v.iter().zip(prev).map(|(a, b)| (a - b).abs()).collect();
            let worst = err
                .iter()
                .zip(&scales)
                .map(|(e, s)| e / s.max(1e-300))
                .fold(0.0, f64::max);
            if worst <= opts.rel_tol {
                return Ok((v, err, total_evals));
            }
        }
        previous = Some(v);
        order += 2;
    }
}
