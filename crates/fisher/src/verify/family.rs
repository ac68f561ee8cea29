//! The log-density as a [`Family`]: checked on its support at each point, differentiated by
//! forward mode through the expression.

use super::*;

/// A log-density written as an expression, as a [`Family`].
#[derive(Debug, Clone)]
pub struct SymbolicFamily {
    pub(super) symbols: Symbols,
    pub(super) logpdf: Expr,
    pub(super) support: SymSupport,
    pub(super) theta: Vec<f64>,
    /// `(centre, spread)` of the integration variable.
    pub(super) hint: (f64, f64),
    pub(super) sampler: Sampler,
    pub(super) smooth: bool,
}

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
        out[0] = self.sampler.draw(rng.random(), self.support);
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
