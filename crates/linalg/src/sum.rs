use crate::matrix_free::{CgOptions, cg_columns};
use crate::{CurvatureOperator, Error, Result, check_rows};
use faer::{Mat, MatRef};

/// A sum of operators `F₁ + F₂ + …` of one dimension (a Kronecker product plus a diagonal
/// correction, say).
///
/// Products, the dense matrix, the diagonal and the trace are exact (sums of the terms'); damped
/// solves run conjugate gradients on the sum (there is no exact structured solve for a general
/// sum); the norm, log-determinant and spectrum are not available without densifying.
///
/// # Examples
/// ```
/// use faer::mat;
/// use fisherlab_linalg::{CurvatureOperator, Diagonal, Kronecker, Sum};
/// let k = Kronecker::new(mat![[2.0, 1.0], [1.0, 2.0]], mat![[1.0]]).unwrap();
/// let s = Sum::new(vec![Box::new(k), Box::new(Diagonal::new(vec![0.5, 0.5]).unwrap())]).unwrap();
/// assert!((s.trace().unwrap() - 5.0).abs() < 1e-15);
/// let x = s.solve_damped(0.0, mat![[1.0], [1.0]].as_ref()).unwrap(); // CG: (F) x = 1 → x = 1/3.5
/// assert!((x[(0, 0)] - 1.0 / 3.5).abs() < 1e-9);
/// ```
pub struct Sum {
    terms: Vec<Box<dyn CurvatureOperator>>,
    cg: CgOptions,
}

impl Sum {
    /// The sum of `terms`.
    ///
    /// # Errors
    /// No terms, or terms of different dimensions.
    pub fn new(terms: Vec<Box<dyn CurvatureOperator>>) -> Result<Self> {
        let Some(first) = terms.first() else {
            return Err(Error::InvalidArgument {
                name: "terms",
                value: "[]".into(),
                rule: "need at least one term",
            });
        };
        let n = first.dim();
        if let Some(t) = terms.iter().find(|t| t.dim() != n) {
            return Err(Error::DimensionMismatch {
                what: "sum of operators",
                expected: format!("dimension {n}"),
                got: format!("a {} term of dimension {}", t.kind(), t.dim()),
            });
        }
        Ok(Self {
            terms,
            cg: CgOptions::default(),
        })
    }
    /// The same sum with other CG settings for `solve_damped`.
    pub fn with_cg_options(mut self, cg: CgOptions) -> Self {
        self.cg = cg;
        self
    }
    fn not_available(operation: &'static str) -> Error {
        Error::NotAvailable {
            operator: "sum",
            operation,
            hint: "use to_dense(), or the estimators of the matrix-free module",
        }
    }
}

impl CurvatureOperator for Sum {
    fn kind(&self) -> &'static str {
        "sum"
    }
    fn dim(&self) -> usize {
        self.terms[0].dim()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        let mut y = self.terms[0].apply(x)?;
        for t in &self.terms[1..] {
            y += t.apply(x)?;
        }
        Ok(y)
    }
    fn to_dense(&self) -> Result<Mat<f64>> {
        let mut y = self.terms[0].to_dense()?;
        for t in &self.terms[1..] {
            y += t.to_dense()?;
        }
        Ok(y)
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        let mut d = self.terms[0].diagonal()?;
        for t in &self.terms[1..] {
            for (a, b) in d.iter_mut().zip(t.diagonal()?) {
                *a += b;
            }
        }
        Ok(d)
    }
    fn trace(&self) -> Result<f64> {
        self.terms.iter().map(|t| t.trace()).sum()
    }
    fn frobenius_norm(&self) -> Result<f64> {
        Err(Self::not_available("the Frobenius norm of a sum"))
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        cg_columns(self, lambda, v, &self.cg)
    }
    fn inverse_damped(&self, _lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        Err(Self::not_available("the damped inverse of a sum"))
    }
    fn logdet_damped(&self, _lambda: f64) -> Result<f64> {
        Err(Self::not_available("the log-determinant of a sum"))
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        Err(Self::not_available("the spectrum of a sum"))
    }
    fn top_eigenvalues(&self, k: usize) -> Result<Vec<f64>> {
        use crate::matrix_free::{LanczosOptions, lanczos_top_k};
        Ok(lanczos_top_k(self, k, 0, &LanczosOptions::default())?.values)
    }
}
