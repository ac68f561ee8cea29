use crate::{
    CurvatureOperator, Error, Result, ZERO_EIGEN_RTOL, check_lambda, check_rows, symmetric,
    symmetric_eigen,
};
use faer::linalg::solvers::{DenseSolveCore, Solve};
use faer::{Mat, MatRef, Side};

/// A dense symmetric PSD matrix (faer `Mat`).
///
/// Damped solves and log-determinants go through the Cholesky factor of `F + λI`; eigenvalues
/// through the symmetric eigendecomposition; [`pseudo_inverse`](Dense::pseudo_inverse) handles
/// rank-deficient matrices (e.g. Fisher matrices in over-parameterised coordinates) with a
/// relative eigenvalue cut-off.
///
/// # Examples
/// ```
/// use faer::mat;
/// use fisherlab_linalg::{CurvatureOperator, Dense};
/// let f = Dense::new(mat![[2.0, 1.0], [1.0, 2.0]]).unwrap();
/// // (F + I)⁻¹ [1, 1] = [1, 1]/4
/// let x = f.solve_damped(1.0, mat![[1.0], [1.0]].as_ref()).unwrap();
/// assert!((x[(0, 0)] - 0.25).abs() < 1e-15);
/// assert!((f.logdet_damped(0.0).unwrap() - 3f64.ln()).abs() < 1e-15);
/// ```
#[derive(Debug, Clone)]
pub struct Dense {
    m: Mat<f64>,
}

/// Dimension from which [`Dense`]'s top eigenvalues come from Lanczos rather than the whole
/// spectrum.
pub const LANCZOS_MIN_DIM: usize = 1000;

/// The `k` largest eigenvalues (descending) and the smallest eigenvalue of the symmetric matrix
/// `(M + Mᵀ)/2`, for an indefinite matrix (a Hessian) or a difference of two curvature
/// matrices. From P = [`LANCZOS_MIN_DIM`] by Lanczos at both ends with `opts` — the end found
/// second resolved relative to the magnitude of the first (`LanczosOptions::scale`), since
/// near-zero clusters converge slowly relative to themselves; below it, or if Lanczos does not
/// converge, from the whole spectrum.
///
/// # Errors
/// `k` outside `1..=P`, a non-square or non-finite matrix, an eigen-solver failure.
///
/// # Examples
/// ```
/// let m = faer::mat![[2.0, 0.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 1.0]];
/// let (top, min) = fisherlab_linalg::extreme_eigenvalues(m.as_ref(), 2, &Default::default()).unwrap();
/// assert_eq!((top, min), (vec![2.0, 1.0], -3.0));
/// ```
pub fn extreme_eigenvalues(
    m: MatRef<'_, f64>,
    k: usize,
    opts: &crate::LanczosOptions,
) -> Result<(Vec<f64>, f64)> {
    let p = m.nrows();
    if k == 0 || k > p {
        return Err(Error::InvalidArgument {
            name: "k",
            value: k.to_string(),
            rule: "must lie in 1..=dim",
        });
    }
    let sym = Dense::new(Mat::from_fn(p, m.ncols(), |i, j| {
        0.5 * (m[(i, j)] + m[(j, i)])
    }))?;
    if p >= LANCZOS_MIN_DIM {
        let neg = Dense::new(Mat::from_fn(p, p, |i, j| -sym.m[(i, j)]))?;
        let top = |d: &Dense, k: usize, scale: f64| {
            let o = crate::LanczosOptions { scale, ..*opts };
            crate::lanczos_top_k(d, k, 0, &o).ok().map(|l| l.values)
        };
        let ends = match top(&sym, k, 0.0) {
            Some(hi) => top(&neg, 1, hi[0].abs()).map(|lo| (hi, -lo[0])),
            None => {
                top(&neg, 1, 0.0).and_then(|lo| top(&sym, k, lo[0].abs()).map(|hi| (hi, -lo[0])))
            }
        };
        if let Some(ends) = ends {
            return Ok(ends);
        }
    }
    let mut all = sym.eigenvalues()?;
    let min = all[0];
    all.reverse();
    all.truncate(k);
    Ok((all, min))
}

impl Dense {
    /// Wrap a symmetric matrix (symmetric to 1e-12 relative; stored exactly symmetrised).
    ///
    /// # Errors
    /// Not square, non-finite entries, or not symmetric.
    pub fn new(m: Mat<f64>) -> Result<Self> {
        Ok(Self {
            m: symmetric("dense matrix", m)?,
        })
    }

    /// A matrix that is symmetric by construction (e.g. its lower triangle mirrored from its
    /// upper one): only finiteness is checked (one contiguous pass), not symmetry, and nothing
    /// is averaged — for the P × P results of the exact routes, where every extra pass over P²
    /// entries shows in the wall time.
    ///
    /// # Errors
    /// A matrix that is not square or holds a non-finite entry.
    ///
    /// # Examples
    /// ```
    /// let d = fisherlab_linalg::Dense::from_symmetric(faer::mat![[2.0, 1.0], [1.0, 3.0]]).unwrap();
    /// assert_eq!(fisherlab_linalg::CurvatureOperator::trace(&d).unwrap(), 5.0);
    /// ```
    pub fn from_symmetric(m: Mat<f64>) -> Result<Self> {
        if m.nrows() != m.ncols() {
            return Err(Error::DimensionMismatch {
                what: "dense matrix",
                expected: "a square matrix".into(),
                got: format!("{}x{}", m.nrows(), m.ncols()),
            });
        }
        crate::check_finite("dense matrix", m.as_ref())?;
        debug_assert!(
            (0..m.nrows()).all(|j| (0..j).all(|i| m[(i, j)].to_bits() == m[(j, i)].to_bits()))
        );
        Ok(Self { m })
    }

    /// The matrix.
    pub fn matrix(&self) -> MatRef<'_, f64> {
        self.m.as_ref()
    }

    fn llt(&self, lambda: f64) -> Result<faer::linalg::solvers::Llt<f64>> {
        check_lambda(lambda)?;
        let mut a = self.m.clone();
        for i in 0..a.nrows() {
            a[(i, i)] += lambda;
        }
        a.llt(Side::Lower).map_err(|_| Error::Singular {
            operator: "dense",
            lambda,
        })
    }

    /// Moore–Penrose pseudo-inverse: eigenvalues below `rcond · λ_max` are treated as zero.
    ///
    /// # Errors
    /// `rcond` outside `[0, 1)`, or an eigen-solver failure.
    pub fn pseudo_inverse(&self, rcond: f64) -> Result<Dense> {
        if !(0.0..1.0).contains(&rcond) {
            return Err(Error::InvalidArgument {
                name: "rcond",
                value: rcond.to_string(),
                rule: "must lie in [0, 1)",
            });
        }
        let (vals, u) = symmetric_eigen(self.m.as_ref(), "the dense matrix")?;
        let top = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let cut = (rcond.max(ZERO_EIGEN_RTOL * 10.0)) * top;
        let p = self.m.nrows();
        let mut scaled = u.clone();
        for (j, &v) in vals.iter().enumerate() {
            let inv = if v > cut { 1.0 / v } else { 0.0 };
            for i in 0..p {
                scaled[(i, j)] *= inv;
            }
        }
        Dense::new(&scaled * u.transpose())
    }

    /// Numerical rank: eigenvalues above `rcond · λ_max`.
    ///
    /// # Errors
    /// An eigen-solver failure.
    pub fn rank(&self, rcond: f64) -> Result<usize> {
        let vals = self.eigenvalues()?;
        let top = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        Ok(vals.iter().filter(|v| **v > rcond * top).count())
    }
}

impl CurvatureOperator for Dense {
    fn kind(&self) -> &'static str {
        "dense"
    }
    fn dim(&self) -> usize {
        self.m.nrows()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        Ok(&self.m * x)
    }
    fn as_dense(&self) -> Option<MatRef<'_, f64>> {
        Some(self.m.as_ref())
    }
    fn to_dense(&self) -> Result<Mat<f64>> {
        crate::memory::reserve(
            "a copy of the dense matrix",
            crate::memory::dense_bytes(self.m.nrows(), self.m.ncols()),
        )?;
        Ok(self.m.clone())
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        Ok((0..self.dim()).map(|i| self.m[(i, i)]).collect())
    }
    fn trace(&self) -> Result<f64> {
        Ok((0..self.dim()).map(|i| self.m[(i, i)]).sum())
    }
    fn frobenius_norm(&self) -> Result<f64> {
        Ok(self.m.norm_l2())
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), v)?;
        let llt = self.llt(lambda)?;
        let x = llt.solve(v);
        if x.norm_max().is_finite() {
            Ok(x)
        } else {
            Err(Error::Singular {
                operator: "dense",
                lambda,
            })
        }
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        let inv = self.llt(lambda)?.inverse();
        Ok(Box::new(Dense::new(Mat::from_fn(
            inv.nrows(),
            inv.ncols(),
            |i, j| 0.5 * (inv[(i, j)] + inv[(j, i)]),
        ))?))
    }
    fn logdet_damped(&self, lambda: f64) -> Result<f64> {
        let llt = self.llt(lambda)?;
        let l = llt.L();
        let ld: f64 = (0..self.dim()).map(|i| 2.0 * l[(i, i)].ln()).sum();
        if ld.is_finite() {
            Ok(ld)
        } else {
            Err(Error::Singular {
                operator: "dense",
                lambda,
            })
        }
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        crate::symmetric_eigenvalues(self.m.as_ref(), "the dense matrix")
    }
    /// Above [`LANCZOS_MIN_DIM`] and for `k` well below P, by Lanczos with full
    /// reorthogonalisation (converged to a relative residual of 1e-10; `O(P² · steps)` instead of
    /// the `O(P³)` of the whole spectrum); otherwise, or if Lanczos does not converge, from
    /// the whole spectrum.
    fn top_eigenvalues(&self, k: usize) -> Result<Vec<f64>> {
        let p = self.dim();
        if p >= LANCZOS_MIN_DIM
            && k > 0
            && 8 * k <= p
            && let Ok(l) = crate::lanczos_top_k(self, k, 0, &crate::LanczosOptions::default())
        {
            return Ok(l.values);
        }
        let mut e = self.eigenvalues()?;
        e.reverse();
        e.truncate(k);
        Ok(e)
    }
}
