use super::check_probability;
use crate::{DualNum, Error, Family, FisherRng, LogDensity, Result, Support, check_len};
use nalgebra::DMatrix;
use rand::RngExt;

/// Categorical distribution `categorical(p1..pK)` over the 0-based categories `0..K`.
///
/// Given as K probabilities summing to 1; the Fisher matrix's coordinates are the K−1 free ones,
/// `p1..p(K−1)`, with `pK = 1 − Σ`. The `logits` parameterisation (K coordinates, rank K−1) is in
/// [`crate::parameterizations::Logits`].
///
/// # Formula
/// Fisher information: `F_ij = δ_ij/p_i + 1/p_K`, i, j < K (Lehmann & Casella, Example 2.6.3,
/// multinomial with one trial).
#[derive(Debug, Clone)]
pub struct Categorical {
    p: Vec<f64>,
    cumulative: Vec<f64>,
}

/// Tolerance on `|Σ p − 1|` accepted at construction.
pub const SUM_TOLERANCE: f64 = 1e-9;

impl Categorical {
    /// `Categorical(p)` from all K ≥ 2 probabilities.
    ///
    /// # Errors
    /// Fewer than 2 categories, any `p_k ∉ (0, 1)`, or `|Σ p − 1| > 1e-9`.
    pub fn new(p: Vec<f64>) -> Result<Self> {
        if p.len() < 2 {
            return Err(Error::InvalidStructure {
                family: "categorical",
                what: format!("needs at least 2 categories, got {}", p.len()),
            });
        }
        for (k, &pk) in p.iter().enumerate() {
            check_probability("categorical", &format!("p{}", k + 1), pk)?;
        }
        let sum: f64 = p.iter().sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(Error::InvalidStructure {
                family: "categorical",
                what: format!(
                    "probabilities sum to {sum}, must sum to 1 (within {SUM_TOLERANCE:e})"
                ),
            });
        }
        let mut acc = 0.0;
        let cumulative = p
            .iter()
            .map(|v| {
                acc += v / sum;
                acc
            })
            .collect();
        Ok(Self { p, cumulative })
    }
    /// Number of categories K.
    pub fn k(&self) -> usize {
        self.p.len()
    }
    /// All K probabilities.
    pub fn probabilities(&self) -> &[f64] {
        &self.p
    }
}

impl Family for Categorical {
    fn name(&self) -> &'static str {
        "categorical"
    }
    fn param_names(&self) -> Vec<String> {
        (1..self.k()).map(|i| format!("p{i}")).collect()
    }
    fn params(&self) -> Vec<f64> {
        self.p[..self.k() - 1].to_vec()
    }
    fn support(&self) -> Support {
        Support::Categories(self.k())
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let u: f64 = rng.random();
        let k = self.cumulative.partition_point(|&c| c <= u);
        out[0] = k.min(self.k() - 1) as f64;
    }
    fn fisher(&self) -> DMatrix<f64> {
        let k = self.k();
        let last = 1.0 / self.p[k - 1];
        DMatrix::from_fn(k - 1, k - 1, |i, j| {
            if i == j { 1.0 / self.p[i] + last } else { last }
        })
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(0.0, self.k() as f64)]
    }
}

impl LogDensity for Categorical {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let idx = x[0] as usize;
        if idx + 1 < self.k() {
            t[idx].ln()
        } else {
            let mut last = D::from(1.0);
            for &ti in t {
                last -= ti;
            }
            last.ln()
        }
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("categorical", theta, self.k() - 1)?;
        let mut p = theta.to_vec();
        p.push(1.0 - theta.iter().sum::<f64>());
        Self::new(p)
    }
}
