//! Named alternative parameterisations, each a [`ParamMap`] with its own closed-form Fisher.
//!
//! | family | name | coordinates φ | θ(φ) | `F_φ` (closed form) |
//! |---|---|---|---|---|
//! | normal, lognormal | `mu_log_sigma` | `mu, log_sigma` | `σ = e^{log_sigma}` | `diag(1/σ², 2)` |
//! | normal | `mu_variance` | `mu, variance` | `σ = √v` | `diag(1/v, 1/(2v²))` |
//! | normal | `natural` | `eta1, eta2` | `σ² = −1/(2η₂)`, `μ = η₁σ²` | `∇²A(η) = [[σ², 2μσ²], [2μσ², 2σ⁴ + 4μ²σ²]]` |
//! | exponential | `scale` | `scale` | `λ = 1/θ` | `1/θ²` |
//! | gamma | `shape_scale` | `shape, scale` | `β = 1/θ` | `[[ψ₁(α), 1/θ], [1/θ, α/θ²]]` |
//! | bernoulli | `logit` | `logit` | `p = σ(η)` | `p(1−p)` |
//! | binomial | `logit` | `logit` | `p = σ(η)` | `n p(1−p)` |
//! | poisson | `log_rate` | `log_rate` | `λ = e^η` | `λ` |
//! | categorical | `logits` | `logit1..logitK` | `p = softmax(η)` | `diag(p) − ppᵀ` (rank K−1) |
//!
//! The closed forms are standard (exponential-family identities `F(η) = ∇²A(η)` for the natural
//! coordinates; Lehmann & Casella §2.6 for the rest) and are checked against the autodiff
//! pull-back `Jᵀ F_θ J` in the tests.

use crate::continuous::{Exponential, Gamma, LogNormal, Normal};
use crate::discrete::{Bernoulli, Binomial, Categorical, Poisson};
use crate::{DualNum, Family, ParamMap, Result, check};
use fisherlab_autodiff::special::trigamma;
use nalgebra::DMatrix;

fn diag(v: &[f64]) -> DMatrix<f64> {
    DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(v))
}

fn sigmoid<D: DualNum<Primitive = f64> + Copy>(x: D) -> D {
    ((-x).exp() + 1.0).recip()
}

/// `(mu, log_sigma)`: `σ = exp(log_sigma)`. Fisher `diag(1/σ², 2)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MuLogSigma;

macro_rules! mu_log_sigma {
    ($fam:ty) => {
        impl ParamMap<$fam> for MuLogSigma {
            fn name(&self) -> &'static str {
                "mu_log_sigma"
            }
            fn names(&self, _: &$fam) -> Vec<String> {
                vec!["mu".into(), "log_sigma".into()]
            }
            fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
                theta.extend([phi[0], phi[1].exp()]);
            }
            fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
                Some(vec![theta[0], theta[1].ln()])
            }
            fn closed_form(&self, _: &$fam, phi: &[f64]) -> Option<DMatrix<f64>> {
                Some(diag(&[(-2.0 * phi[1]).exp(), 2.0]))
            }
        }
    };
}
mu_log_sigma!(Normal);
mu_log_sigma!(LogNormal);

/// `(mu, variance)`: `σ = √v`. Fisher `diag(1/v, 1/(2v²))`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MuVariance;

impl ParamMap<Normal> for MuVariance {
    fn name(&self) -> &'static str {
        "mu_variance"
    }
    fn names(&self, _: &Normal) -> Vec<String> {
        vec!["mu".into(), "variance".into()]
    }
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
        theta.extend([phi[0], phi[1].sqrt()]);
    }
    fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
        Some(vec![theta[0], theta[1] * theta[1]])
    }
    fn validate(&self, _: &Normal, phi: &[f64]) -> Result<()> {
        check("normal", "variance", phi[1], phi[1] > 0.0, "must be > 0")
    }
    fn closed_form(&self, _: &Normal, phi: &[f64]) -> Option<DMatrix<f64>> {
        let v = phi[1];
        Some(diag(&[1.0 / v, 0.5 / (v * v)]))
    }
}

/// Natural parameters `(eta1, eta2) = (μ/σ², −1/(2σ²))`. Fisher `∇²A(η) = Cov(x, x²)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Natural;

impl ParamMap<Normal> for Natural {
    fn name(&self) -> &'static str {
        "natural"
    }
    fn names(&self, _: &Normal) -> Vec<String> {
        vec!["eta1".into(), "eta2".into()]
    }
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
        let var = -(phi[1] * 2.0).recip();
        theta.extend([phi[0] * var, var.sqrt()]);
    }
    fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
        let var = theta[1] * theta[1];
        Some(vec![theta[0] / var, -0.5 / var])
    }
    fn validate(&self, _: &Normal, phi: &[f64]) -> Result<()> {
        check("normal", "eta2", phi[1], phi[1] < 0.0, "must be < 0")
    }
    fn closed_form(&self, _: &Normal, phi: &[f64]) -> Option<DMatrix<f64>> {
        let var = -0.5 / phi[1];
        let mu = phi[0] * var;
        Some(nalgebra::dmatrix![
            var, 2.0 * mu * var;
            2.0 * mu * var, 2.0 * var * var + 4.0 * mu * mu * var
        ])
    }
}

/// Exponential `scale = 1/rate`. Fisher `1/θ²`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scale;

impl ParamMap<Exponential> for Scale {
    fn name(&self) -> &'static str {
        "scale"
    }
    fn names(&self, _: &Exponential) -> Vec<String> {
        vec!["scale".into()]
    }
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
        theta.push(phi[0].recip());
    }
    fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
        Some(vec![1.0 / theta[0]])
    }
    fn validate(&self, _: &Exponential, phi: &[f64]) -> Result<()> {
        check("exponential", "scale", phi[0], phi[0] > 0.0, "must be > 0")
    }
    fn closed_form(&self, _: &Exponential, phi: &[f64]) -> Option<DMatrix<f64>> {
        Some(diag(&[1.0 / (phi[0] * phi[0])]))
    }
}

/// Gamma `(shape, scale)`, `scale = 1/rate`. Fisher `[[ψ₁(α), 1/θ], [1/θ, α/θ²]]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShapeScale;

impl ParamMap<Gamma> for ShapeScale {
    fn name(&self) -> &'static str {
        "shape_scale"
    }
    fn names(&self, _: &Gamma) -> Vec<String> {
        vec!["shape".into(), "scale".into()]
    }
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
        theta.extend([phi[0], phi[1].recip()]);
    }
    fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
        Some(vec![theta[0], 1.0 / theta[1]])
    }
    fn validate(&self, _: &Gamma, phi: &[f64]) -> Result<()> {
        check("gamma", "scale", phi[1], phi[1] > 0.0, "must be > 0")
    }
    fn closed_form(&self, _: &Gamma, phi: &[f64]) -> Option<DMatrix<f64>> {
        let (a, s) = (phi[0], phi[1]);
        Some(nalgebra::dmatrix![trigamma(a), 1.0 / s; 1.0 / s, a / (s * s)])
    }
}

/// Log-odds `logit = ln(p/(1−p))` for Bernoulli and binomial. Fisher `n p(1−p)` (n = 1 for
/// Bernoulli).
#[derive(Debug, Clone, Copy, Default)]
pub struct Logit;

macro_rules! logit {
    ($fam:ty, $n:expr) => {
        impl ParamMap<$fam> for Logit {
            fn name(&self) -> &'static str {
                "logit"
            }
            fn names(&self, _: &$fam) -> Vec<String> {
                vec!["logit".into()]
            }
            fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
                theta.push(sigmoid(phi[0]));
            }
            fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
                Some(vec![(theta[0] / (1.0 - theta[0])).ln()])
            }
            fn closed_form(&self, base: &$fam, _phi: &[f64]) -> Option<DMatrix<f64>> {
                let p = base.params()[0];
                let n: fn(&$fam) -> f64 = $n;
                Some(diag(&[n(base) * p * (1.0 - p)]))
            }
        }
    };
}
logit!(Bernoulli, |_| 1.0);
logit!(Binomial, |b| b.n() as f64);

/// Poisson `log_rate = ln λ` (the canonical link of Poisson regression). Fisher `λ`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRate;

impl ParamMap<Poisson> for LogRate {
    fn name(&self) -> &'static str {
        "log_rate"
    }
    fn names(&self, _: &Poisson) -> Vec<String> {
        vec!["log_rate".into()]
    }
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
        theta.push(phi[0].exp());
    }
    fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
        Some(vec![theta[0].ln()])
    }
    fn closed_form(&self, _: &Poisson, phi: &[f64]) -> Option<DMatrix<f64>> {
        Some(diag(&[phi[0].exp()]))
    }
}

/// Categorical `logits` (K coordinates, `p = softmax(η)`). Fisher `diag(p) − ppᵀ`, rank K−1:
/// shifting every logit by the same constant leaves the distribution unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logits;

impl ParamMap<Categorical> for Logits {
    fn name(&self) -> &'static str {
        "logits"
    }
    fn names(&self, base: &Categorical) -> Vec<String> {
        (1..=base.k()).map(|i| format!("logit{i}")).collect()
    }
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
        let m = phi.iter().map(|v| v.re()).fold(f64::NEG_INFINITY, f64::max);
        let mut z = D::from(0.0);
        for &v in phi {
            z += (v - m).exp();
        }
        for &v in &phi[..phi.len() - 1] {
            theta.push((v - m).exp() / z);
        }
    }
    fn inverse(&self, theta: &[f64]) -> Option<Vec<f64>> {
        let last = 1.0 - theta.iter().sum::<f64>();
        Some(
            theta
                .iter()
                .chain(std::iter::once(&last))
                .map(|p| p.ln())
                .collect(),
        )
    }
    fn closed_form(&self, base: &Categorical, _phi: &[f64]) -> Option<DMatrix<f64>> {
        let p = base.probabilities();
        let k = p.len();
        Some(DMatrix::from_fn(k, k, |i, j| {
            if i == j {
                p[i] - p[i] * p[j]
            } else {
                -p[i] * p[j]
            }
        }))
    }
}
