//! Verify a hand-derived Fisher matrix of a density written as text.
//!
//! A [`SymbolicFamily`] is a log-density parsed by [`fisherlab_autodiff::symbolic`] on one of
//! five supports. It is a [`Family`] like the built-in ones, so its Fisher information comes
//! from the same independent routes: [`exact_expectation`] (adaptive quadrature, or summation
//! over counts) and [`monte_carlo`] in both the score and the negative-Hessian forms, with
//! samples drawn by inverting its numerically tabulated distribution function. [`verify`]
//! compares a claimed matrix — entries are expressions in the parameters — entry by entry at
//! each point, after checking that the density normalises.
//!
//! # Examples
//! ```
//! use fisherlab_autodiff::symbolic::{parse, Symbols};
//! use fisherlab_fisher::verify::{parse_claim, verify, SymSupport, SymbolicFamily, VerifyOptions};
//! let names = Symbols::new("x", &["rate"]).unwrap();
//! let logpdf = parse("log(rate) - rate*x", &names).unwrap();
//! let family = SymbolicFamily::new(names.clone(), logpdf, SymSupport::Positive, &[2.0]).unwrap();
//! let points = [family.at(&[0.7]).unwrap(), family];
//! let claim = parse_claim("[[1/rate^2]]", &names).unwrap();
//! let report = verify(&points, &claim, &VerifyOptions::default()).unwrap();
//! assert!(report.iter().all(|p| p.pass()));
//! // a wrong claim fails
//! let wrong = parse_claim("[[2/rate^2]]", &names).unwrap();
//! let report = verify(&points[..1], &wrong, &VerifyOptions::default()).unwrap();
//! assert!(!report[0].pass());
//! ```

use crate::{
    Error, ExactReport, McForm, MonteCarloOptions, QuadratureOptions, Result, exact_expectation,
    monte_carlo,
};
use fisherlab_autodiff::symbolic::{self, Expr, Func, Symbols};
use fisherlab_distributions::{DualNum, Family, FisherRng, LogDensity, Support};
use nalgebra::DMatrix;
use rand::RngExt;

/// Where the data variable lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymSupport {
    /// ℝ.
    Real,
    /// `(0, ∞)`.
    Positive,
    /// `(0, 1)`.
    Unit,
    /// `0, 1, 2, …`.
    NonNegInt,
    /// `lo, lo + 1, …, hi` with `lo ≤ hi`.
    Int(i64, i64),
}

impl SymSupport {
    /// Parse `real`, `positive`, `unit`, `nonneg-int` or `int:A..B`.
    ///
    /// # Errors
    /// Any other text, or `A > B`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |rule: &'static str| Error::InvalidOption {
            name: "support",
            value: text.to_string(),
            rule,
        };
        Ok(match text {
            "real" => SymSupport::Real,
            "positive" => SymSupport::Positive,
            "unit" => SymSupport::Unit,
            "nonneg-int" => SymSupport::NonNegInt,
            _ => {
                let range = text
                    .strip_prefix("int:")
                    .ok_or(bad("must be real, positive, unit, nonneg-int or int:A..B"))?;
                let (a, b) = range
                    .split_once("..")
                    .ok_or(bad("int:A..B needs two integers, e.g. int:0..10"))?;
                let a: i64 = a
                    .trim()
                    .parse()
                    .map_err(|_| bad("A in int:A..B must be an integer"))?;
                let b: i64 = b
                    .trim()
                    .parse()
                    .map_err(|_| bad("B in int:A..B must be an integer >= A"))?;
                if a > b {
                    return Err(bad("int:A..B needs A <= B"));
                }
                SymSupport::Int(a, b)
            }
        })
    }
    fn support(self) -> Support {
        match self {
            SymSupport::Real => Support::Real,
            SymSupport::Positive => Support::Positive,
            SymSupport::Unit => Support::UnitInterval,
            SymSupport::NonNegInt => Support::Counts {
                lower: 0,
                upper: None,
            },
            // counted from 0: observation k stands for a + k (see `offset`)
            SymSupport::Int(a, b) => Support::Counts {
                lower: 0,
                upper: Some(b.abs_diff(a)),
            },
        }
    }
    /// The value of the data variable at count 0 of the family's own support.
    fn offset(self) -> f64 {
        match self {
            SymSupport::Int(a, _) => a as f64,
            _ => 0.0,
        }
    }
    fn discrete(self) -> bool {
        matches!(self, SymSupport::NonNegInt | SymSupport::Int(..))
    }
    /// The integration variable `t` ↦ observation `x`, and `log |dx/dt|`.
    fn observation_at(self, t: f64) -> (f64, f64) {
        match self {
            SymSupport::Positive => (t.exp(), t),
            SymSupport::Unit => {
                let x = 1.0 / (1.0 + (-t).exp());
                (x, (x * (1.0 - x)).ln())
            }
            _ => (t, 0.0),
        }
    }
}

/// Samples by inverting a tabulated distribution function.
#[derive(Debug, Clone)]
enum Sampler {
    /// `t` grid (of the integration variable) and the normalised CDF at its points.
    Continuous { t: Vec<f64>, cdf: Vec<f64> },
    /// The normalised CDF over the family's counts 0, 1, ….
    Discrete { cdf: Vec<f64> },
}

/// A log-density written as an expression, as a [`Family`].
#[derive(Debug, Clone)]
pub struct SymbolicFamily {
    symbols: Symbols,
    logpdf: Expr,
    support: SymSupport,
    theta: Vec<f64>,
    /// `(centre, spread)` of the integration variable.
    hint: (f64, f64),
    sampler: Sampler,
    smooth: bool,
}

/// Most counts summed for a discrete support before it is declared too heavy-tailed.
const MAX_COUNTS: usize = 10_000_000;

/// Most steps of the climb to the mode before the density is declared unbounded.
const MAX_CLIMB: usize = 100_000;

/// Points of the tabulated distribution function of continuous supports.
const GRID: usize = 4_001;

impl SymbolicFamily {
    /// The family at parameters `theta` (in the order of `symbols`' parameters).
    ///
    /// # Errors
    /// A parameter count that does not match; a log-density that is NaN or +∞ somewhere on the
    /// support at these parameters (the support or the parameters are wrong), or that is −∞
    /// everywhere on it.
    pub fn new(symbols: Symbols, logpdf: Expr, support: SymSupport, theta: &[f64]) -> Result<Self> {
        if theta.len() != symbols.num_params() {
            return Err(Error::InvalidInput {
                what: format!(
                    "{} parameter values for {} parameters",
                    theta.len(),
                    symbols.num_params()
                ),
            });
        }
        if let Some(k) = theta.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidInput {
                what: format!(
                    "parameter {} = {} is not finite",
                    symbols.names()[k + 1],
                    theta[k]
                ),
            });
        }
        let smooth = !uses_kink(&logpdf, symbols.num_params());
        let mut f = Self {
            symbols,
            logpdf,
            support,
            theta: theta.to_vec(),
            hint: (0.0, 1.0),
            sampler: Sampler::Discrete { cdf: vec![1.0] },
            smooth,
        };
        f.tabulate()?;
        Ok(f)
    }

    /// The same density at other parameters.
    ///
    /// # Errors
    /// As [`SymbolicFamily::new`].
    pub fn at(&self, theta: &[f64]) -> Result<Self> {
        Self::new(
            self.symbols.clone(),
            self.logpdf.clone(),
            self.support,
            theta,
        )
    }

    /// The log-density at observation `x` and the stored parameters.
    pub fn log_density(&self, x: f64) -> f64 {
        let mut v = Vec::with_capacity(self.theta.len() + 1);
        v.push(x);
        v.extend_from_slice(&self.theta);
        self.logpdf.eval(&v).unwrap_or(f64::NAN)
    }

    /// The symbols (data variable first, then the parameters).
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// The log-density expression.
    pub fn logpdf(&self) -> &Expr {
        &self.logpdf
    }

    /// The support.
    pub fn sym_support(&self) -> SymSupport {
        self.support
    }

    fn bad_value(&self, x: f64, v: f64) -> Error {
        Error::InvalidInput {
            what: format!(
                "the log-density is {v} at {} = {x} (support {}) at {}: does the density live on this support, and are the parameters valid?",
                self.symbols.names()[0],
                self.support.describe(),
                describe_point(&self.symbols, &self.theta)
            ),
        }
    }

    /// [`Error::NotNormalizable`] when the log-mass `ls` of the integration variable at three
    /// points each twice as far from the mode as the last (`xs`, as observations) falls by no
    /// more than ln 2 per doubling: each doubling then holds at least as much mass as the
    /// last, and the integral diverges (a tail ∝ |t|^−α is integrable only for α > 1).
    fn check_tail(&self, xs: &[f64; 3], ls: &[f64; 3], towards: &str) -> Result<()> {
        // ln 2 per doubling is α = 1 exactly (divergent): allow for rounding in the differences
        let ln2 = std::f64::consts::LN_2 * (1.0 + 1e-9) + 1e-12 * ls[0].abs();
        let flat = ls[2] > f64::NEG_INFINITY
            && ls.iter().all(|l| !l.is_nan())
            && ls[0] - ls[1] <= ln2
            && ls[1] - ls[2] <= ln2;
        if !flat {
            return Ok(());
        }
        let name = &self.symbols.names()[0];
        let lp = xs.map(|x| self.log_density(x));
        Err(Error::NotNormalizable {
            family: "symbolic",
            evidence: format!(
                "toward {towards} it does not fall off: log p = {:.4} at {name} = {:.4e}, {:.4} at {:.4e}, {:.4} at {:.4e}, so each doubling of the distance holds at least as much mass as the last and the integral diverges",
                lp[0], xs[0], lp[1], xs[1], lp[2], xs[2]
            ),
        })
    }

    /// Check the log-density on the support, find where the mass is, and build the sampler.
    fn tabulate(&mut self) -> Result<()> {
        if self.support.discrete() {
            let (lower, upper): (i64, Option<i64>) = match self.support {
                SymSupport::Int(a, b) => (a, Some(b)),
                _ => (0, None),
            };
            if let Some(u) = upper
                && u.abs_diff(lower) >= MAX_COUNTS as u64
            {
                return Err(Error::InvalidInput {
                    what: format!(
                        "the support int:{lower}..{u} spans more than {MAX_COUNTS} counts; sum a narrower range"
                    ),
                });
            }
            if upper.is_none() {
                // far out (2⁴⁰ counts and beyond), a summable pmf falls faster than 1/k
                let probes = [1u64 << 40, 1 << 41, 1 << 42].map(|k| (lower + k as i64) as f64);
                let logs = probes.map(|k| self.log_density(k));
                self.check_tail(&probes, &logs, "k → ∞")?;
            }
            let mut logs = Vec::new();
            let mut k = lower;
            let mut best = f64::NEG_INFINITY;
            loop {
                let lp = self.log_density(k as f64);
                if lp.is_nan() || lp == f64::INFINITY {
                    return Err(self.bad_value(k as f64, lp));
                }
                best = best.max(lp);
                logs.push(lp);
                let past_mode = lp < best - 40.0;
                if upper.is_some_and(|u| k >= u) || (upper.is_none() && past_mode && logs.len() > 8)
                {
                    break;
                }
                if logs.len() >= MAX_COUNTS {
                    return Err(Error::NotNormalizable {
                        family: "symbolic",
                        evidence: format!(
                            "the probabilities do not fall below e⁻⁴⁰ of their largest within {MAX_COUNTS} counts (log p = {lp} at {} = {k}); a pmf this heavy-tailed cannot be summed to the verifier's accuracy",
                            self.symbols.names()[0]
                        ),
                    });
                }
                k += 1;
            }
            if best == f64::NEG_INFINITY {
                return Err(Error::InvalidInput {
                    what: "the probability is 0 everywhere on the support".into(),
                });
            }
            let mut cdf = Vec::with_capacity(logs.len());
            let mut acc = 0.0;
            let (mut m1, mut m2) = (0.0, 0.0);
            for (i, lp) in logs.iter().enumerate() {
                let w = (lp - best).exp();
                acc += w;
                // the family's own count (0 at the lower end, see `SymSupport::offset`)
                let x = i as f64;
                m1 += w * x;
                m2 += w * x * x;
                cdf.push(acc);
            }
            for c in &mut cdf {
                *c /= acc;
            }
            let mean = m1 / acc;
            self.hint = (mean, (m2 / acc - mean * mean).max(1e-12).sqrt());
            self.sampler = Sampler::Discrete { cdf };
            return Ok(());
        }
        // continuous: the log-density of the integration variable t
        let lt = |t: f64| {
            let (x, jac) = self.support.observation_at(t);
            let lp = self.log_density(x);
            (x, lp, lp + jac)
        };
        let mut candidates = vec![0.0];
        for j in -3..=6 {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powi(j);
                candidates.push(v);
                candidates.push(-v);
            }
        }
        if self.support != SymSupport::Real {
            candidates.retain(|t| t.abs() <= 700.0);
        }
        let mut mode = (f64::NEG_INFINITY, 0.0);
        for &t in &candidates {
            let (x, lp, l) = lt(t);
            if lp.is_nan() || lp == f64::INFINITY {
                return Err(self.bad_value(x, lp));
            }
            if l > mode.0 {
                mode = (l, t);
            }
        }
        if mode.0 == f64::NEG_INFINITY {
            return Err(Error::InvalidInput {
                what: "the density is 0 everywhere it was evaluated on the support".into(),
            });
        }
        // climb to the mode on a shrinking step, then walk out to where the density is e⁻⁴⁰ of it
        let mut step = mode.1.abs().max(1.0) * 0.5;
        let start = mode;
        let mut climbs = 0usize;
        while step > 1e-9 * mode.1.abs().max(1.0) {
            climbs += 1;
            if climbs > MAX_CLIMB || !self.support.observation_at(mode.1).0.is_finite() {
                let x = |t: f64| self.support.observation_at(t).0;
                return Err(Error::NotNormalizable {
                    family: "symbolic",
                    evidence: format!(
                        "the density keeps growing away from the origin: log p = {:.6e} at {name} = {:.6e}, {:.6e} at {name} = {:.6e}, with no maximum in {MAX_CLIMB} steps",
                        start.0,
                        x(start.1),
                        mode.0,
                        x(mode.1),
                        name = self.symbols.names()[0],
                    ),
                });
            }
            let mut moved = false;
            for t in [mode.1 - step, mode.1 + step] {
                let (_, _, l) = lt(t);
                if l > mode.0 {
                    mode = (l, t);
                    moved = true;
                }
            }
            if !moved {
                step *= 0.5;
            }
        }
        // walk out from the mode until the density falls by `drop` nats (or the support ends):
        // the last point before the fall and the first after it
        let walk = |dir: f64, drop: f64| -> Result<(f64, f64)> {
            let mut step = 1e-3 * mode.1.abs().max(1e-3);
            let (mut prev, mut t) = (mode.1, mode.1);
            for _ in 0..4000 {
                // t = ±700 is as far as exp and the logistic map stay representable
                let next = match self.support {
                    SymSupport::Real => t + dir * step,
                    _ => (t + dir * step).clamp(-700.0, 700.0),
                };
                let (x, lp, l) = lt(next);
                if lp.is_nan() || lp == f64::INFINITY {
                    return Err(self.bad_value(x, lp));
                }
                prev = t;
                t = next;
                if l < mode.0 - drop
                    || !x.is_finite()
                    || (self.support != SymSupport::Real && t.abs() >= 700.0)
                {
                    break;
                }
                step *= 1.2;
            }
            Ok((prev, t))
        };
        let (a, b) = (walk(-1.0, 40.0)?.1, walk(1.0, 40.0)?.1);
        // beyond the e⁻⁴⁰ points, a normalisable density falls faster than 1/|t|: probe at 4, 8
        // and 16 times their distance from the mode (¼, ½, 1 times where that overflows)
        for (dir, end) in [(-1.0, a), (1.0, b)] {
            let d = (end - mode.1).abs().max(1e-300);
            let representable = |t: f64| {
                self.support.observation_at(t).0.is_finite()
                    && (self.support == SymSupport::Real || t.abs() <= 700.0)
            };
            let base = if representable(mode.1 + dir * 16.0 * d) {
                4.0 * d
            } else {
                0.25 * d
            };
            let ts = [1.0, 2.0, 4.0].map(|k| mode.1 + dir * base * k);
            let ls = ts.map(|t| lt(t).2);
            let xs = ts.map(|t| self.support.observation_at(t).0);
            let towards = match (self.support, dir > 0.0) {
                (SymSupport::Real, true) => "x → +∞",
                (SymSupport::Real, false) => "x → −∞",
                (SymSupport::Positive, true) => "x → ∞",
                (SymSupport::Unit, true) => "x → 1",
                _ => "x → 0",
            };
            self.check_tail(&xs, &ls, towards)?;
        }
        // the local scale: where the density has fallen by one nat, by bisection
        let mut scale = f64::INFINITY;
        for dir in [-1.0, 1.0] {
            let (mut inside, mut outside) = walk(dir, 1.0)?;
            for _ in 0..60 {
                let mid = 0.5 * (inside + outside);
                if lt(mid).2 < mode.0 - 1.0 {
                    outside = mid;
                } else {
                    inside = mid;
                }
            }
            let d = (outside - mode.1).abs();
            if d > 0.0 {
                scale = scale.min(d);
            }
        }
        if !scale.is_finite() {
            scale = (b - a).max(1e-300);
        }
        // grid uniform in v = asinh((t − mode)/scale): fine near the mode, geometric in the
        // tails, so heavy-tailed densities are tabulated as well as light-tailed ones
        let (v0, v1) = (
            ((a - mode.1) / scale).asinh(),
            ((b - mode.1) / scale).asinh(),
        );
        let t: Vec<f64> = (0..GRID)
            .map(|i| mode.1 + scale * (v0 + (v1 - v0) * i as f64 / (GRID - 1) as f64).sinh())
            .collect();
        let mut w = Vec::with_capacity(GRID);
        for &ti in &t {
            let (x, lp, l) = lt(ti);
            if lp.is_nan() || lp == f64::INFINITY {
                return Err(self.bad_value(x, lp));
            }
            w.push((l - mode.0).exp());
        }
        let mut cdf = vec![0.0; GRID];
        let (mut m1, mut m2) = (0.0, 0.0);
        for i in 1..GRID {
            let h = t[i] - t[i - 1];
            cdf[i] = cdf[i - 1] + 0.5 * h * (w[i] + w[i - 1]);
            m1 += 0.5 * h * (w[i] * t[i] + w[i - 1] * t[i - 1]);
            m2 += 0.5 * h * (w[i] * t[i] * t[i] + w[i - 1] * t[i - 1] * t[i - 1]);
        }
        let total = cdf[GRID - 1];
        for c in &mut cdf {
            *c /= total;
        }
        let (m1, m2) = (m1 / total, m2 / total);
        self.hint = (m1, (m2 - m1 * m1).max(1e-24).sqrt());
        self.sampler = Sampler::Continuous { t, cdf };
        Ok(())
    }
}

impl SymSupport {
    /// As written on the command line.
    pub fn describe(&self) -> String {
        match self {
            SymSupport::Real => "real".into(),
            SymSupport::Positive => "positive".into(),
            SymSupport::Unit => "unit".into(),
            SymSupport::NonNegInt => "nonneg-int".into(),
            SymSupport::Int(a, b) => format!("int:{a}..{b}"),
        }
    }
}

/// Whether the log-density has a kink in a parameter (`abs` of a parameter-dependent
/// argument), which breaks the negative-Hessian identity.
fn uses_kink(e: &Expr, params: usize) -> bool {
    match e {
        Expr::Call(Func::Abs | Func::Sign, a) => {
            (1..=params).any(|k| a.depends_on(k)) || uses_kink(a, params)
        }
        Expr::Call(_, a) => uses_kink(a, params),
        Expr::Sum(v) | Expr::Prod(v) => v.iter().any(|t| uses_kink(t, params)),
        Expr::Pow(a, b) => uses_kink(a, params) || uses_kink(b, params),
        _ => false,
    }
}

impl Family for SymbolicFamily {
    fn name(&self) -> &'static str {
        "symbolic"
    }
    fn param_names(&self) -> Vec<String> {
        self.symbols.names()[1..].to_vec()
    }
    fn params(&self) -> Vec<f64> {
        self.theta.clone()
    }
    fn support(&self) -> Support {
        self.support.support()
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let u: f64 = rng.random();
        out[0] = match &self.sampler {
            Sampler::Discrete { cdf } => cdf.partition_point(|c| *c < u).min(cdf.len() - 1) as f64,
            Sampler::Continuous { t, cdf } => {
                let i = cdf.partition_point(|c| *c < u).clamp(1, cdf.len() - 1);
                let (c0, c1) = (cdf[i - 1], cdf[i]);
                let f = if c1 > c0 { (u - c0) / (c1 - c0) } else { 0.5 };
                self.support
                    .observation_at(t[i - 1] + f * (t[i] - t[i - 1]))
                    .0
            }
        };
    }
    /// Not known: the claim is what is being checked (NaN).
    fn fisher(&self) -> DMatrix<f64> {
        let p = self.theta.len();
        DMatrix::from_element(p, p, f64::NAN)
    }
    fn hessian_identity_holds(&self) -> bool {
        self.smooth
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![self.hint]
    }
    /// For unbounded counts: the largest ratio `p(k+1)/p(k)` over the 1 000 counts from `k0`,
    /// which must not increase there beyond rounding — checked numerically, not proven (the
    /// verification report says so).
    fn pmf_ratio_bound(&self, k0: u64) -> Option<f64> {
        let mut worst: f64 = 0.0;
        let mut prev = f64::INFINITY;
        let mut lp = self.log_density(k0 as f64);
        for k in k0..k0 + 1_000 {
            let next = self.log_density((k + 1) as f64);
            let r = (next - lp).exp();
            lp = next;
            if !r.is_finite() || r > prev * (1.0 + 1e-8) {
                return None;
            }
            prev = r;
            worst = worst.max(r);
        }
        Some(worst)
    }
}

impl LogDensity for SymbolicFamily {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, theta: &[D], x: &[f64]) -> D {
        let mut v = Vec::with_capacity(theta.len() + 1);
        v.push(D::from(x[0] + self.support.offset()));
        v.extend_from_slice(theta);
        self.logpdf.eval(&v).unwrap_or(D::from(f64::NAN))
    }
    fn with_params(&self, theta: &[f64]) -> fisherlab_distributions::Result<Self> {
        self.at(theta)
            .map_err(|e| fisherlab_distributions::Error::InvalidStructure {
                family: "symbolic",
                what: e.to_string(),
            })
    }
}

/// Parse a claimed matrix `[[e11, e12, …], [e21, …], …]` whose entries are expressions in the
/// parameters (the data variable may not appear).
///
/// # Errors
/// Malformed brackets, rows of different lengths, a shape other than P × P, an entry that does
/// not parse or uses the data variable.
pub fn parse_claim(text: &str, symbols: &Symbols) -> Result<Vec<Vec<Expr>>> {
    let bad = |what: String| Error::InvalidInput {
        what: format!("claimed matrix: {what}"),
    };
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| bad("must look like [[a, b], [c, d]]".into()))?;
    // split the rows at top-level brackets
    let mut rows: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in inner.chars() {
        match c {
            '[' => {
                depth += 1;
                if depth == 1 {
                    current.clear();
                    continue;
                }
            }
            ']' => {
                depth -= 1;
                if depth == 0 {
                    rows.push(current.clone());
                    continue;
                }
            }
            '(' => depth += 2,
            ')' => depth -= 2,
            _ => {}
        }
        if depth < 0 {
            return Err(bad("unbalanced brackets".into()));
        }
        if depth >= 1 {
            current.push(c);
        } else if !(c.is_whitespace() || c == ',') {
            return Err(bad(format!("unexpected `{c}` between rows")));
        }
    }
    if depth != 0 {
        return Err(bad("unbalanced brackets".into()));
    }
    let p = symbols.num_params();
    if rows.len() != p {
        return Err(bad(format!("{} rows for {p} parameters", rows.len())));
    }
    let mut out = Vec::with_capacity(p);
    for (i, row) in rows.iter().enumerate() {
        // entries are separated by commas outside parentheses
        let mut entries = Vec::new();
        let mut level = 0;
        let mut cur = String::new();
        for c in row.chars() {
            match c {
                '(' => level += 1,
                ')' => level -= 1,
                ',' if level == 0 => {
                    entries.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        entries.push(cur);
        if entries.len() != p {
            return Err(bad(format!(
                "row {} has {} entries, not {p}",
                i + 1,
                entries.len()
            )));
        }
        let mut parsed = Vec::with_capacity(p);
        for (j, e) in entries.iter().enumerate() {
            let expr = symbolic::parse(e.trim(), symbols).map_err(|err| {
                bad(format!(
                    "entry ({}, {}) `{}`: {err}",
                    i + 1,
                    j + 1,
                    e.trim()
                ))
            })?;
            if expr.depends_on(0) {
                return Err(bad(format!(
                    "entry ({}, {}) uses the data variable {}",
                    i + 1,
                    j + 1,
                    symbols.names()[0]
                )));
            }
            parsed.push(expr);
        }
        out.push(parsed);
    }
    Ok(out)
}

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
