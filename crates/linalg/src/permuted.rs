use crate::{CurvatureOperator, Error, Result, check_lambda, check_rows};
use faer::{Mat, MatRef};

/// An operator stored in another index order: `P F Pᵀ` where internal index `k` is public index
/// `perm[k]`.
///
/// Structured approximations are naturally laid out in their own order (a dense layer's K-FAC
/// block is a Kronecker product over the bias-folded weight `(out, in + 1)`), while every
/// matrix that leaves the library uses the public parameter order (weight row-major, then
/// bias). This wrapper keeps the structure and presents the public order; spectra, traces,
/// norms and log-determinants are those of the inner operator.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{CurvatureOperator, Diagonal, Permuted};
/// let inner = Diagonal::new(vec![1.0, 2.0, 3.0]).unwrap();
/// // internal 0 → public 2, 1 → 0, 2 → 1
/// let p = Permuted::new(Box::new(inner), vec![2, 0, 1]).unwrap();
/// assert_eq!(p.diagonal().unwrap(), vec![2.0, 3.0, 1.0]);
/// ```
pub struct Permuted {
    inner: Box<dyn CurvatureOperator>,
    perm: Vec<usize>,
}

impl std::fmt::Debug for Permuted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Permuted {{ inner: {}, dim: {} }}",
            self.inner.kind(),
            self.perm.len()
        )
    }
}

impl Permuted {
    /// `inner` with internal index `k` shown at public index `perm[k]`.
    ///
    /// # Errors
    /// `perm` is not a permutation of `0..inner.dim()`.
    pub fn new(inner: Box<dyn CurvatureOperator>, perm: Vec<usize>) -> Result<Self> {
        let n = inner.dim();
        if perm.len() != n {
            return Err(Error::DimensionMismatch {
                what: "permutation",
                expected: format!("length {n}"),
                got: format!("length {}", perm.len()),
            });
        }
        let mut seen = vec![false; n];
        for &p in &perm {
            if p >= n || seen[p] {
                return Err(Error::InvalidArgument {
                    name: "permutation entry",
                    value: p.to_string(),
                    rule: "must be a permutation of 0..dim (each index once)",
                });
            }
            seen[p] = true;
        }
        Ok(Self { inner, perm })
    }
    /// The operator in its own order.
    pub fn inner(&self) -> &dyn CurvatureOperator {
        self.inner.as_ref()
    }
    /// Public index of each internal index.
    pub fn permutation(&self) -> &[usize] {
        &self.perm
    }
    fn to_inner(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        Mat::from_fn(x.nrows(), x.ncols(), |k, j| x[(self.perm[k], j)])
    }
    fn to_public(&self, y: Mat<f64>) -> Mat<f64> {
        let mut out = Mat::zeros(y.nrows(), y.ncols());
        for j in 0..y.ncols() {
            for (k, &p) in self.perm.iter().enumerate() {
                out[(p, j)] = y[(k, j)];
            }
        }
        out
    }
}

impl CurvatureOperator for Permuted {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn dim(&self) -> usize {
        self.perm.len()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        Ok(self.to_public(self.inner.apply(self.to_inner(x).as_ref())?))
    }
    fn to_dense(&self) -> Result<Mat<f64>> {
        let d = self.inner.to_dense()?;
        let n = self.dim();
        let mut out = crate::memory::zeros("the permuted dense matrix", n, n)?;
        for j in 0..n {
            for i in 0..n {
                out[(self.perm[i], self.perm[j])] = d[(i, j)];
            }
        }
        Ok(out)
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        let d = self.inner.diagonal()?;
        let mut out = vec![0.0; d.len()];
        for (k, &p) in self.perm.iter().enumerate() {
            out[p] = d[k];
        }
        Ok(out)
    }
    fn trace(&self) -> Result<f64> {
        self.inner.trace()
    }
    fn frobenius_norm(&self) -> Result<f64> {
        self.inner.frobenius_norm()
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_lambda(lambda)?;
        check_rows("right-hand side", self.dim(), v)?;
        Ok(self.to_public(self.inner.solve_damped(lambda, self.to_inner(v).as_ref())?))
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        Ok(Box::new(Permuted::new(
            self.inner.inverse_damped(lambda)?,
            self.perm.clone(),
        )?))
    }
    fn logdet_damped(&self, lambda: f64) -> Result<f64> {
        self.inner.logdet_damped(lambda)
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        self.inner.eigenvalues()
    }
    fn top_eigenvalues(&self, k: usize) -> Result<Vec<f64>> {
        self.inner.top_eigenvalues(k)
    }
}
