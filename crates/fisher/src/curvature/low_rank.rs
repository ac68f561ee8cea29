use super::{
    Approximation, DenseFisher, DiagonalFisher, Labels, MatrixFreeFisher, Problem, positive,
};
use crate::{Error, Result};
use faer::Mat;
use fisherlab_linalg::{CurvatureOperator, LowRankPlusDiagonal};
use rand_distr::{Distribution, StandardNormal};

/// How [`LowRank`] finds the leading eigenpairs of the exact Fisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowRankMethod {
    /// Form the dense exact Fisher and take its top-k eigenpairs: the best rank-k
    /// approximation (Eckart–Young), at the cost of the dense matrix.
    TopK,
    /// Randomized eigendecomposition (Halko, Martinsson & Tropp 2011, algorithms 4.4 and 5.3)
    /// through Fisher-vector products only, never forming the matrix: a Gaussian test matrix of
    /// `k + oversampling` columns, `power_iterations` subspace iterations, then Rayleigh–Ritz.
    /// `(power_iterations + 2)(k + oversampling)` Fisher-vector products.
    Randomized {
        /// Extra columns of the test matrix (10 is usual).
        oversampling: usize,
        /// Subspace iterations (1–3 sharpen a slowly decaying spectrum).
        power_iterations: usize,
        /// Seed of the test matrix.
        seed: u64,
    },
}

/// Low rank plus diagonal: `U diag(s) Uᵀ + D` with the top-k eigenpairs `(s, U)` of the exact
/// Fisher and `D = max(diag F − diag(U S Uᵀ), 0)`, so the diagonal of the approximation is the
/// exact one wherever the low-rank part does not exceed it. Damped solves use Woodbury.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowRank {
    /// k ≥ 1.
    pub rank: usize,
    /// How the eigenpairs are found.
    pub method: LowRankMethod,
}

impl LowRank {
    /// Top-k of the dense exact Fisher.
    pub fn top_k(rank: usize) -> Self {
        Self {
            rank,
            method: LowRankMethod::TopK,
        }
    }
    /// The randomized variant with 10 extra columns and 2 power iterations.
    pub fn randomized(rank: usize, seed: u64) -> Self {
        Self {
            rank,
            method: LowRankMethod::Randomized {
                oversampling: 10,
                power_iterations: 2,
                seed,
            },
        }
    }
    /// [`Approximation::build`], the randomized method taking its Fisher-vector products from
    /// `products` (an operator of the exact Fisher on the same problem, e.g. one already built
    /// for other purposes) instead of building a [`MatrixFreeFisher`] of its own.
    ///
    /// # Errors
    /// As [`Approximation::build`]; an operator of another dimension.
    pub fn build_with(
        &self,
        problem: &Problem<'_>,
        products: Option<&dyn CurvatureOperator>,
    ) -> Result<Box<dyn CurvatureOperator>> {
        positive("rank", self.rank)?;
        let p = problem.model().num_params();
        if self.rank > p {
            return Err(Error::InvalidOption {
                name: "rank",
                value: self.rank.to_string(),
                rule: "must be at most the parameter count P",
            });
        }
        super::memory_check(self, problem)?;
        let (s, u, diag) = match self.method {
            LowRankMethod::TopK => {
                let f = DenseFisher::new(Labels::Type2).build(problem)?.to_dense()?;
                let (s, u) = top_eigenpairs(&f, self.rank)?;
                let diag = (0..p).map(|i| f[(i, i)]).collect::<Vec<_>>();
                (s, u, diag)
            }
            LowRankMethod::Randomized {
                oversampling,
                power_iterations,
                seed,
            } => {
                let own;
                let f: &dyn CurvatureOperator = match products {
                    Some(f) if f.dim() == p => f,
                    Some(f) => {
                        return Err(Error::InvalidInput {
                            what: format!(
                                "an operator of dimension {} for a problem with P = {p}",
                                f.dim()
                            ),
                        });
                    }
                    None => {
                        own = MatrixFreeFisher.build(problem)?;
                        own.as_ref()
                    }
                };
                let cols = (self.rank + oversampling).min(p);
                let mut rng = fisherlab_distributions::rng_from_seed(seed);
                let omega = Mat::from_fn(p, cols, |_, _| StandardNormal.sample(&mut rng));
                let mut q = f.apply(omega.as_ref())?.qr().compute_thin_Q();
                for _ in 0..power_iterations {
                    q = f.apply(q.as_ref())?.qr().compute_thin_Q();
                }
                let fq = f.apply(q.as_ref())?;
                let b = q.transpose() * &fq;
                let (s, v) = top_eigenpairs(&b, self.rank)?;
                let diag = DiagonalFisher::new(Labels::Type2).entries(problem)?;
                (s, &q * v, diag)
            }
        };
        let d = (0..p)
            .map(|i| {
                let low: f64 = (0..self.rank).map(|j| s[j] * u[(i, j)] * u[(i, j)]).sum();
                (diag[i] - low).max(0.0)
            })
            .collect();
        Ok(Box::new(LowRankPlusDiagonal::new(u, s, d)?))
    }
}

/// Eigenpairs of a symmetric matrix, the `k` largest first: by Lanczos with full
/// reorthogonalisation (relative residual 1e-10) for a large matrix and `k` well below its
/// size, from the whole eigendecomposition otherwise (or if Lanczos does not converge).
fn top_eigenpairs(m: &Mat<f64>, k: usize) -> Result<(Vec<f64>, Mat<f64>)> {
    use fisherlab_linalg::{
        Dense, LANCZOS_MIN_DIM, LanczosOptions, lanczos_top_k, symmetric_eigen, symmetrize,
    };
    if m.nrows() >= LANCZOS_MIN_DIM && 8 * k <= m.nrows() {
        let d = Dense::new(symmetrize(m.as_ref()))?;
        if let Ok(l) = lanczos_top_k(&d, k, 0, &LanczosOptions::default()) {
            return Ok((l.values.iter().map(|v| v.max(0.0)).collect(), l.vectors));
        }
    }
    let (values, u) = symmetric_eigen(
        symmetrize(m.as_ref()).as_ref(),
        "the Fisher (low-rank top-k)",
    )?;
    let n = m.nrows();
    let vals: Vec<f64> = (0..k).map(|j| values[n - 1 - j].max(0.0)).collect();
    let vecs = Mat::from_fn(n, k, |i, j| u[(i, n - 1 - j)]);
    Ok((vals, vecs))
}

impl Approximation for LowRank {
    fn name(&self) -> &'static str {
        "low-rank"
    }
    fn memory_bytes(&self, problem: &Problem<'_>) -> Option<u64> {
        use fisherlab_linalg::memory::dense_bytes;
        let p = problem.model().num_params();
        match self.method {
            // the dense Fisher, its copy, the symmetrised copy and the eigen-solver's workspace
            LowRankMethod::TopK => dense_bytes(p, p)?
                .checked_mul(4)?
                .checked_add(dense_bytes(p, self.rank)?),
            // the test matrix, its image and the basis, and the P × k result
            LowRankMethod::Randomized { oversampling, .. } => {
                let cols = self.rank.saturating_add(oversampling).min(p);
                dense_bytes(p, cols)?
                    .checked_mul(4)?
                    .checked_add(super::vector_bytes(problem, 4)?)
            }
        }
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        self.build_with(problem, None)
    }
    fn build_with_products(
        &self,
        problem: &Problem<'_>,
        products: &dyn CurvatureOperator,
    ) -> Result<Box<dyn CurvatureOperator>> {
        self.build_with(problem, Some(products))
    }
}
