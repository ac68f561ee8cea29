use crate::{CurvatureOperator, Error, Result, check_lambda, check_rows};
use faer::{Mat, MatRef};

/// A diagonal operator `diag(d)`, `d ≥ 0`.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{CurvatureOperator, Diagonal};
/// let d = Diagonal::new(vec![1.0, 4.0]).unwrap();
/// assert!((d.logdet_damped(0.0).unwrap() - 4f64.ln()).abs() < 1e-15);
/// assert!(d.solve_damped(0.0, faer::mat![[1.0], [1.0]].as_ref()).is_ok());
/// assert!(Diagonal::new(vec![1.0, -1.0]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Diagonal {
    d: Vec<f64>,
}

impl Diagonal {
    /// `diag(d)`.
    ///
    /// # Errors
    /// A negative or non-finite entry.
    pub fn new(d: Vec<f64>) -> Result<Self> {
        for (i, &v) in d.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    what: "diagonal",
                    index: (i, 0),
                });
            }
            if v < 0.0 {
                return Err(Error::Negative {
                    what: "diagonal",
                    index: i,
                    value: v,
                });
            }
        }
        Ok(Self { d })
    }
    /// The entries.
    pub fn entries(&self) -> &[f64] {
        &self.d
    }
    fn damped(&self, lambda: f64) -> Result<Vec<f64>> {
        check_lambda(lambda)?;
        let v: Vec<f64> = self.d.iter().map(|d| d + lambda).collect();
        if v.iter().any(|x| *x <= 0.0) {
            return Err(Error::Singular {
                operator: "diagonal",
                lambda,
            });
        }
        Ok(v)
    }
}

impl CurvatureOperator for Diagonal {
    fn kind(&self) -> &'static str {
        "diagonal"
    }
    fn dim(&self) -> usize {
        self.d.len()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        Ok(Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
            self.d[i] * x[(i, j)]
        }))
    }
    fn to_dense(&self) -> Result<Mat<f64>> {
        let n = self.dim();
        crate::memory::reserve(
            "the dense diagonal matrix",
            crate::memory::dense_bytes(n, n),
        )?;
        Ok(Mat::from_fn(
            n,
            n,
            |i, j| if i == j { self.d[i] } else { 0.0 },
        ))
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        Ok(self.d.clone())
    }
    fn trace(&self) -> Result<f64> {
        Ok(self.d.iter().sum())
    }
    fn frobenius_norm(&self) -> Result<f64> {
        Ok(self.d.iter().map(|v| v * v).sum::<f64>().sqrt())
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), v)?;
        let dl = self.damped(lambda)?;
        Ok(Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)] / dl[i]))
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        let dl = self.damped(lambda)?;
        Ok(Box::new(Diagonal::new(
            dl.iter().map(|v| 1.0 / v).collect(),
        )?))
    }
    fn logdet_damped(&self, lambda: f64) -> Result<f64> {
        Ok(self.damped(lambda)?.iter().map(|v| v.ln()).sum())
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        let mut e = self.d.clone();
        e.sort_by(f64::total_cmp);
        Ok(e)
    }
}
