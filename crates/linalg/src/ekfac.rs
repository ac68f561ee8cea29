use crate::{CurvatureOperator, Error, Result, check_finite, check_lambda, check_rows, product};
use faer::{Mat, MatRef};

/// An eigenvalue-corrected Kronecker-factored operator (George et al. 2018):
/// `(Q_L ⊗ Q_R) diag(s) (Q_L ⊗ Q_R)ᵀ` with orthogonal left and right bases `Q_L` (m × m),
/// `Q_R` (n × n) and free scalings `s ≥ 0` (length mn, row-major `(i, j)` ↦ `i·n + j`), in the
/// index convention of [`Kronecker`](crate::Kronecker); for a K-FAC block the basis is
/// `Q_G ⊗ Q_A` (`Q_L = Q_G`).
///
/// Everything is exact and cheap: products and solves are two small GEMMs on each side, the
/// diagonal is `(Q_L∘Q_L) S (Q_R∘Q_R)ᵀ`, the spectrum is `s`.
#[derive(Debug, Clone)]
pub struct Ekfac {
    qa: Mat<f64>,
    qg: Mat<f64>,
    s: Vec<f64>,
}

/// Apply an m × n matrix map to each column of `x` viewed as a row-major m × n matrix.
pub(crate) fn kron_columns(
    x: MatRef<'_, f64>,
    m: usize,
    n: usize,
    f: impl Fn(MatRef<'_, f64>) -> Mat<f64>,
) -> Mat<f64> {
    let mut out = Mat::zeros(m * n, x.ncols());
    let mut buf = vec![0.0; m * n];
    for c in 0..x.ncols() {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = x[(i, c)];
        }
        let y = f(MatRef::from_row_major_slice(&buf, m, n));
        for i in 0..m {
            for j in 0..n {
                out[(i * n + j, c)] = y[(i, j)];
            }
        }
    }
    out
}

impl Ekfac {
    /// The operator from its eigenbases and scalings.
    ///
    /// # Errors
    /// Shapes that do not match, a basis that is not orthogonal (to 1e-10), or a negative or
    /// non-finite scaling.
    pub fn new(qa: Mat<f64>, qg: Mat<f64>, s: Vec<f64>) -> Result<Self> {
        for (what, q) in [
            ("EKFAC left basis Q_L", &qa),
            ("EKFAC right basis Q_R", &qg),
        ] {
            check_finite(what, q.as_ref())?;
            if q.nrows() != q.ncols() {
                return Err(Error::DimensionMismatch {
                    what,
                    expected: "a square matrix".into(),
                    got: format!("{}x{}", q.nrows(), q.ncols()),
                });
            }
            let qtq = q.transpose() * q;
            let dev = (&qtq - Mat::<f64>::identity(q.nrows(), q.nrows())).norm_max();
            if dev > 1e-10 {
                return Err(Error::InvalidArgument {
                    name: what,
                    value: format!("max |QᵀQ − I| = {dev:e}"),
                    rule: "must be orthogonal",
                });
            }
        }
        if s.len() != qa.nrows() * qg.nrows() {
            return Err(Error::DimensionMismatch {
                what: "EKFAC scalings",
                expected: format!("{} entries", qa.nrows() * qg.nrows()),
                got: format!("{} entries", s.len()),
            });
        }
        for (i, &v) in s.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::NonFinite {
                    what: "EKFAC scalings",
                    index: (i, 0),
                });
            }
            if v < 0.0 {
                return Err(Error::Negative {
                    what: "EKFAC scalings",
                    index: i,
                    value: v,
                });
            }
        }
        Ok(Self { qa, qg, s })
    }

    /// Built from bases known to be orthogonal (eigenvectors computed here).
    pub(crate) fn new_unchecked(qa: Mat<f64>, qg: Mat<f64>, s: Vec<f64>) -> Result<Self> {
        if let Some(index) = s.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "EKFAC scalings",
                index: (index, 0),
            });
        }
        if let Some(index) = s.iter().position(|v| *v < 0.0) {
            return Err(Error::Negative {
                what: "EKFAC scalings",
                index,
                value: s[index],
            });
        }
        Ok(Self { qa, qg, s })
    }

    /// The same bases with new scalings (the EKFAC refit).
    ///
    /// # Errors
    /// As [`new`](Self::new) for the scalings.
    pub fn with_scalings(&self, s: Vec<f64>) -> Result<Self> {
        Ekfac::new(self.qa.clone(), self.qg.clone(), s)
    }

    /// Coordinates of each column of `x` in the Kronecker eigenbasis, `(Q_L ⊗ Q_R)ᵀ x`. The mean
    /// of their squares over per-sample gradients is the EKFAC refit of the scalings.
    ///
    /// # Errors
    /// `x` does not have `mn` rows.
    pub fn project(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("vectors to project", self.dim(), x)?;
        Ok(kron_columns(x, self.qa.nrows(), self.qg.nrows(), |xm| {
            product(product(self.qa.transpose(), xm).as_ref(), self.qg.as_ref())
        }))
    }

    /// Scalings, row-major `(i, j)`.
    pub fn scalings(&self) -> &[f64] {
        &self.s
    }
    /// The left basis `Q_L` (m × m; `Q_G` for a K-FAC block).
    pub fn qa(&self) -> MatRef<'_, f64> {
        self.qa.as_ref()
    }
    /// The right basis `Q_R` (n × n; `Q_A` for a K-FAC block).
    pub fn qg(&self) -> MatRef<'_, f64> {
        self.qg.as_ref()
    }

    fn in_basis(&self, x: MatRef<'_, f64>, f: impl Fn(usize, f64) -> f64) -> Mat<f64> {
        let (m, n) = (self.qa.nrows(), self.qg.nrows());
        kron_columns(x, m, n, |xm| {
            let mut t = product(product(self.qa.transpose(), xm).as_ref(), self.qg.as_ref());
            for i in 0..m {
                for j in 0..n {
                    t[(i, j)] = f(i * n + j, t[(i, j)]);
                }
            }
            product(
                product(self.qa.as_ref(), t.as_ref()).as_ref(),
                self.qg.transpose(),
            )
        })
    }

    fn damped(&self, lambda: f64) -> Result<Vec<f64>> {
        check_lambda(lambda)?;
        let d: Vec<f64> = self.s.iter().map(|v| v + lambda).collect();
        if d.iter().any(|v| *v <= 0.0) {
            return Err(Error::Singular {
                operator: "ekfac",
                lambda,
            });
        }
        Ok(d)
    }
}

impl CurvatureOperator for Ekfac {
    fn kind(&self) -> &'static str {
        "ekfac"
    }
    fn dim(&self) -> usize {
        self.s.len()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        Ok(self.in_basis(x, |k, v| v * self.s[k]))
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        let (m, n) = (self.qa.nrows(), self.qg.nrows());
        let qa2 = Mat::from_fn(m, m, |i, j| self.qa[(i, j)].powi(2));
        let qg2 = Mat::from_fn(n, n, |i, j| self.qg[(i, j)].powi(2));
        let s = MatRef::from_row_major_slice(&self.s, m, n);
        let d = qa2 * s * qg2.transpose();
        let mut v = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                v.push(d[(i, j)]);
            }
        }
        Ok(v)
    }
    fn trace(&self) -> Result<f64> {
        Ok(self.s.iter().sum())
    }
    fn frobenius_norm(&self) -> Result<f64> {
        Ok(self.s.iter().map(|v| v * v).sum::<f64>().sqrt())
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), v)?;
        let d = self.damped(lambda)?;
        Ok(self.in_basis(v, |k, x| x / d[k]))
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        let d = self.damped(lambda)?;
        Ok(Box::new(Ekfac::new_unchecked(
            self.qa.clone(),
            self.qg.clone(),
            d.iter().map(|v| 1.0 / v).collect(),
        )?))
    }
    fn logdet_damped(&self, lambda: f64) -> Result<f64> {
        Ok(self.damped(lambda)?.iter().map(|v| v.ln()).sum())
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        let mut v = self.s.clone();
        v.sort_by(f64::total_cmp);
        Ok(v)
    }
}
