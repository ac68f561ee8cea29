//! Sampling by inverting the numerically tabulated distribution function; the tabulation also
//! checks the density and finds where its mass is.

use super::*;

/// Samples by inverting a tabulated distribution function.
#[derive(Debug, Clone)]
pub(super) enum Sampler {
    /// `t` grid (of the integration variable) and the normalised CDF at its points.
    Continuous { t: Vec<f64>, cdf: Vec<f64> },
    /// The normalised CDF over the family's counts 0, 1, ….
    Discrete { cdf: Vec<f64> },
}

/// Most counts summed for a discrete support before it is declared too heavy-tailed.
const MAX_COUNTS: usize = 10_000_000;

/// Most steps of the climb to the mode before the density is declared unbounded.
const MAX_CLIMB: usize = 100_000;

/// Points of the tabulated distribution function of continuous supports.
const GRID: usize = 4_001;

impl Sampler {
    /// The observation at probability `u` ∈ [0, 1): the inverse of the tabulated distribution
    /// function, linear between the grid points of a continuous support.
    pub(super) fn draw(&self, u: f64, support: SymSupport) -> f64 {
        match self {
            Sampler::Discrete { cdf } => cdf.partition_point(|c| *c < u).min(cdf.len() - 1) as f64,
            Sampler::Continuous { t, cdf } => {
                let i = cdf.partition_point(|c| *c < u).clamp(1, cdf.len() - 1);
                let (c0, c1) = (cdf[i - 1], cdf[i]);
                let f = if c1 > c0 { (u - c0) / (c1 - c0) } else { 0.5 };
                support.observation_at(t[i - 1] + f * (t[i] - t[i - 1])).0
            }
        }
    }
}

impl SymbolicFamily {
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
    pub(super) fn tabulate(&mut self) -> Result<()> {
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
