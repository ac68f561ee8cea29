use crate::matrix_free::{LanczosOptions, lanczos_top_k};
use crate::{
    CurvatureOperator, Error, Result, check_finite, check_lambda, check_rows, symmetric_eigen,
};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};

/// A low-rank plus diagonal operator `U diag(s) Uᵀ + D` (`s ≥ 0`, `D ≥ 0`), stored as
/// `D + σ·W Wᵀ` with `W = U diag(√s)`; `σ = −1` appears only for damped inverses.
///
/// Damped solves use the Woodbury identity and log-determinants the matrix determinant lemma,
/// both through a k × k Cholesky factorisation: `O(Pk² + k³)`, never `O(P²)`. Eigenvalues are
/// exact when `D` is isotropic (`d·I`); otherwise `top_eigenvalues` runs Lanczos and
/// `eigenvalues` is not available without densifying.
///
/// # Examples
/// ```
/// use faer::Mat;
/// use fisherlab_linalg::{CurvatureOperator, LowRankPlusDiagonal};
/// let u = Mat::from_fn(4, 1, |_, _| 0.5); // unit vector
/// let op = LowRankPlusDiagonal::new(u, vec![2.0], vec![1.0; 4]).unwrap();
/// // eigenvalues: 1 + 2 (along u) and 1 three times
/// let e = op.eigenvalues().unwrap();
/// assert!(e.iter().zip([1.0, 1.0, 1.0, 3.0]).all(|(a, b)| (a - b).abs() < 1e-14));
/// assert!((op.logdet_damped(0.0).unwrap() - 3f64.ln()).abs() < 1e-14);
/// ```
#[derive(Debug, Clone)]
pub struct LowRankPlusDiagonal {
    w: Mat<f64>,
    sign: f64,
    d: Vec<f64>,
}

impl LowRankPlusDiagonal {
    /// `U diag(s) Uᵀ + diag(d)` with `U` P × k.
    ///
    /// # Errors
    /// Shapes that do not match; a negative or non-finite `s` or `d`; non-finite `U`.
    pub fn new(u: Mat<f64>, s: Vec<f64>, d: Vec<f64>) -> Result<Self> {
        check_finite("low-rank factor U", u.as_ref())?;
        if s.len() != u.ncols() || d.len() != u.nrows() {
            return Err(Error::DimensionMismatch {
                what: "low-rank plus diagonal",
                expected: format!("s of length {} and d of length {}", u.ncols(), u.nrows()),
                got: format!("s of length {} and d of length {}", s.len(), d.len()),
            });
        }
        for (what, v) in [("low-rank scalings s", &s), ("diagonal d", &d)] {
            for (i, &x) in v.iter().enumerate() {
                if !x.is_finite() {
                    return Err(Error::NonFinite {
                        what,
                        index: (i, 0),
                    });
                }
                if x < 0.0 {
                    return Err(Error::Negative {
                        what,
                        index: i,
                        value: x,
                    });
                }
            }
        }
        let w = Mat::from_fn(u.nrows(), u.ncols(), |i, j| u[(i, j)] * s[j].sqrt());
        Ok(Self { w, sign: 1.0, d })
    }

    /// Rank k of the low-rank part.
    pub fn rank(&self) -> usize {
        self.w.ncols()
    }

    fn isotropic(&self) -> Option<f64> {
        let d0 = *self.d.first()?;
        self.d
            .iter()
            .all(|v| (v - d0).abs() <= 1e-15 * d0.abs())
            .then_some(d0)
    }

    /// `D + λ` and the Cholesky factor of `M = I + σ Wᵀ (D+λ)⁻¹ W`.
    fn capacitance(&self, lambda: f64) -> Result<(Vec<f64>, faer::linalg::solvers::Llt<f64>)> {
        check_lambda(lambda)?;
        let dl: Vec<f64> = self.d.iter().map(|v| v + lambda).collect();
        if dl.iter().any(|v| *v <= 0.0) {
            return Err(Error::Singular {
                operator: "low-rank+diagonal",
                lambda,
            });
        }
        let k = self.rank();
        let dw = Mat::from_fn(self.w.nrows(), k, |i, j| self.w[(i, j)] / dl[i]);
        let mut m = self.w.transpose() * &dw;
        m *= faer::Scale(self.sign);
        for i in 0..k {
            m[(i, i)] += 1.0;
        }
        let llt = m.llt(Side::Lower).map_err(|_| Error::Singular {
            operator: "low-rank+diagonal",
            lambda,
        })?;
        Ok((dl, llt))
    }
}

impl CurvatureOperator for LowRankPlusDiagonal {
    fn kind(&self) -> &'static str {
        "low-rank+diagonal"
    }
    fn dim(&self) -> usize {
        self.d.len()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        let mut y = &self.w * (self.w.transpose() * x);
        y *= faer::Scale(self.sign);
        for j in 0..x.ncols() {
            for i in 0..x.nrows() {
                y[(i, j)] += self.d[i] * x[(i, j)];
            }
        }
        Ok(y)
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        Ok((0..self.dim())
            .map(|i| {
                let r: f64 = (0..self.rank()).map(|j| self.w[(i, j)].powi(2)).sum();
                self.d[i] + self.sign * r
            })
            .collect())
    }
    fn trace(&self) -> Result<f64> {
        Ok(self.d.iter().sum::<f64>() + self.sign * self.w.norm_l2().powi(2))
    }
    fn frobenius_norm(&self) -> Result<f64> {
        // ‖D + σWWᵀ‖² = ‖D‖² + 2σ Σᵢ dᵢ ‖wᵢ‖² + ‖WᵀW‖²
        let dd: f64 = self.d.iter().map(|v| v * v).sum();
        let cross: f64 = (0..self.dim())
            .map(|i| {
                self.d[i]
                    * (0..self.rank())
                        .map(|j| self.w[(i, j)].powi(2))
                        .sum::<f64>()
            })
            .sum();
        let wtw = self.w.transpose() * &self.w;
        Ok((dd + 2.0 * self.sign * cross + wtw.norm_l2().powi(2))
            .max(0.0)
            .sqrt())
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), v)?;
        let (dl, llt) = self.capacitance(lambda)?;
        // x = D⁻¹v − σ D⁻¹ W M⁻¹ Wᵀ D⁻¹ v
        let dv = Mat::from_fn(v.nrows(), v.ncols(), |i, j| v[(i, j)] / dl[i]);
        let t = llt.solve(self.w.transpose() * &dv);
        let wt = &self.w * t;
        Ok(Mat::from_fn(v.nrows(), v.ncols(), |i, j| {
            dv[(i, j)] - self.sign * wt[(i, j)] / dl[i]
        }))
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        let (dl, llt) = self.capacitance(lambda)?;
        // (D + σWWᵀ)⁻¹ = D⁻¹ − σ (D⁻¹ W L⁻ᵀ)(D⁻¹ W L⁻ᵀ)ᵀ with M = L Lᵀ
        let dw = Mat::from_fn(self.w.nrows(), self.rank(), |i, j| self.w[(i, j)] / dl[i]);
        let mut wt = dw.transpose().to_owned();
        llt.L().solve_lower_triangular_in_place(&mut wt);
        Ok(Box::new(LowRankPlusDiagonal {
            w: wt.transpose().to_owned(),
            sign: -self.sign,
            d: dl.iter().map(|v| 1.0 / v).collect(),
        }))
    }
    fn logdet_damped(&self, lambda: f64) -> Result<f64> {
        let (dl, llt) = self.capacitance(lambda)?;
        let l = llt.L();
        let lm: f64 = (0..self.rank()).map(|i| 2.0 * l[(i, i)].ln()).sum();
        Ok(dl.iter().map(|v| v.ln()).sum::<f64>() + lm)
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        let Some(d0) = self.isotropic() else {
            return Err(Error::NotAvailable {
                operator: "low-rank+diagonal",
                operation: "the full spectrum with a non-isotropic diagonal",
                hint: "use top_eigenvalues (Lanczos) or to_dense()",
            });
        };
        let (vals, _) = symmetric_eigen(
            (self.w.transpose() * &self.w).as_ref(),
            "the low-rank factor's Gram matrix",
        )?;
        let p = self.dim();
        let mut e: Vec<f64> = vals.iter().map(|v| d0 + self.sign * v).collect();
        e.extend(std::iter::repeat_n(d0, p.saturating_sub(self.rank())));
        e.truncate(p);
        e.sort_by(f64::total_cmp);
        Ok(e)
    }
    fn top_eigenvalues(&self, k: usize) -> Result<Vec<f64>> {
        if self.isotropic().is_some() {
            let mut e = self.eigenvalues()?;
            e.reverse();
            e.truncate(k);
            return Ok(e);
        }
        Ok(lanczos_top_k(self, k, 0, &LanczosOptions::default())?.values)
    }
}
