use crate::ekfac::{Ekfac, kron_columns};
use crate::{
    CurvatureOperator, Error, Result, check_lambda, check_rows, product, psd_eigenvalues,
    symmetric, symmetric_eigen,
};
use faer::{Mat, MatRef};
use std::sync::OnceLock;

/// How [`Kronecker::solve_damped`] and [`Kronecker::inverse_damped`] treat the damping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KroneckerDamping {
    /// `(c·A⊗G + λI)⁻¹` exactly, through the eigenbases of both factors.
    #[default]
    Exact,
    /// Factored Tikhonov damping (Martens & Grosse 2015, §6.3):
    /// `c·(A + π√(λ/c) I) ⊗ (G + √(λ/c)/π I)` with `π = √((tr A / m)/(tr G / n))`; an
    /// approximation of `c·A⊗G + λI` that stays a Kronecker product.
    Factored,
}

/// A scaled Kronecker product `c · L ⊗ R` of a symmetric PSD left factor `L` (m × m) and right
/// factor `R` (n × n), never materialised: `Kronecker::new(L, R)`.
///
/// Index convention: entry `(i·n + j, k·n + l)` is `c·L[i,k]·R[j,l]`, so
/// `(L⊗R) vec(X) = vec(L X Rᵀ)` with `vec` the row-major flattening of an m × n matrix. (For a
/// dense layer whose weight `W` (out × in) is flattened row-major, the per-sample gradient is
/// `g ⊗ a`, so its K-FAC block is `G ⊗ A`, i.e. `Kronecker::new(G, A)`: the output-gradient
/// factor on the left.)
///
/// Products, diagonal, trace (`c·tr L·tr R`), Frobenius norm, eigenvalues (`c·λᵢ(L)μⱼ(R)`) and
/// `ln det(F + λI)` are exact; damped solves use [`KroneckerDamping`]. Factor eigendecompositions
/// are computed once, on first need.
///
/// # Examples
/// ```
/// use faer::mat;
/// use fisherlab_linalg::{CurvatureOperator, Kronecker, KroneckerDamping};
/// let k = Kronecker::new(mat![[2.0, 0.0], [0.0, 1.0]], mat![[3.0]]).unwrap();
/// assert_eq!(k.eigenvalues().unwrap(), vec![3.0, 6.0]);
/// let f = k.with_damping(KroneckerDamping::Factored);
/// // one factor is 1×1: factored damping with π = √((3/2)/3) differs from exact damping
/// let b = mat![[1.0], [1.0]];
/// let exact = k.solve_damped(1.0, b.as_ref()).unwrap();
/// let fact = f.solve_damped(1.0, b.as_ref()).unwrap();
/// assert!((exact[(0, 0)] - 1.0 / 7.0).abs() < 1e-15 && (fact[(0, 0)] - exact[(0, 0)]).abs() > 1e-3);
/// ```
#[derive(Debug, Clone)]
pub struct Kronecker {
    a: Mat<f64>,
    g: Mat<f64>,
    scale: f64,
    damping: KroneckerDamping,
    eig: OnceLock<Result<FactorEigen>>,
}

#[derive(Debug, Clone)]
pub(crate) struct FactorEigen {
    pub(crate) la: Vec<f64>,
    pub(crate) qa: Mat<f64>,
    pub(crate) lg: Vec<f64>,
    pub(crate) qg: Mat<f64>,
}

impl Kronecker {
    /// `A ⊗ G` with exact damping.
    ///
    /// # Errors
    /// A factor that is not square, symmetric and finite.
    pub fn new(a: Mat<f64>, g: Mat<f64>) -> Result<Self> {
        Ok(Self {
            a: symmetric("Kronecker factor A", a)?,
            g: symmetric("Kronecker factor G", g)?,
            scale: 1.0,
            damping: KroneckerDamping::Exact,
            eig: OnceLock::new(),
        })
    }
    /// `c · A ⊗ G`.
    ///
    /// # Errors
    /// `c` negative or not finite.
    pub fn scaled(mut self, c: f64) -> Result<Self> {
        if !(c.is_finite() && c >= 0.0) {
            return Err(Error::InvalidArgument {
                name: "scale",
                value: c.to_string(),
                rule: "must be finite and >= 0",
            });
        }
        self.scale *= c;
        Ok(self)
    }
    /// The same operator with another damping mode.
    pub fn with_damping(&self, damping: KroneckerDamping) -> Self {
        Self {
            damping,
            ..self.clone()
        }
    }
    /// Factor A.
    pub fn a(&self) -> MatRef<'_, f64> {
        self.a.as_ref()
    }
    /// Factor G.
    pub fn g(&self) -> MatRef<'_, f64> {
        self.g.as_ref()
    }
    /// Scale c.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// The damping mode.
    pub fn damping(&self) -> KroneckerDamping {
        self.damping
    }
    /// `π = √((tr A / m)/(tr G / n))` of factored damping (1 when a trace is zero).
    pub fn pi(&self) -> f64 {
        let ta = (0..self.a.nrows()).map(|i| self.a[(i, i)]).sum::<f64>() / self.a.nrows() as f64;
        let tg = (0..self.g.nrows()).map(|i| self.g[(i, i)]).sum::<f64>() / self.g.nrows() as f64;
        if ta > 0.0 && tg > 0.0 {
            (ta / tg).sqrt()
        } else {
            1.0
        }
    }

    pub(crate) fn factor_eigen(&self) -> Result<&FactorEigen> {
        self.eig
            .get_or_init(|| {
                let (mut la, qa) = symmetric_eigen(self.a.as_ref(), "a Kronecker factor")?;
                let (mut lg, qg) = symmetric_eigen(self.g.as_ref(), "a Kronecker factor")?;
                psd_eigenvalues("eigenvalues of Kronecker factor A", &mut la)?;
                psd_eigenvalues("eigenvalues of Kronecker factor G", &mut lg)?;
                Ok(FactorEigen { la, qa, lg, qg })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The same operator as an [`Ekfac`] in its own eigenbasis (scalings `c·λᵢμⱼ`).
    ///
    /// # Errors
    /// A factor with a negative eigenvalue.
    pub fn to_ekfac(&self) -> Result<Ekfac> {
        let e = self.factor_eigen()?;
        let s = self.products(e, |v| v);
        Ekfac::new(e.qa.clone(), e.qg.clone(), s)
    }

    /// `f(c·λᵢμⱼ)` in row-major (i, j) order.
    fn products(&self, e: &FactorEigen, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut s = Vec::with_capacity(e.la.len() * e.lg.len());
        for &la in &e.la {
            for &lg in &e.lg {
                s.push(f(self.scale * la * lg));
            }
        }
        s
    }

    /// Eigenvalues of the damped factors `(A + π√(λ/c)I, G + √(λ/c)/π I)`.
    fn factored(&self, lambda: f64, e: &FactorEigen) -> Result<(Vec<f64>, Vec<f64>)> {
        if self.scale <= 0.0 && lambda > 0.0 {
            return Err(Error::InvalidArgument {
                name: "scale",
                value: self.scale.to_string(),
                rule: "factored damping needs c > 0",
            });
        }
        let s = if lambda > 0.0 {
            (lambda / self.scale).sqrt()
        } else {
            0.0
        };
        let pi = self.pi();
        let da: Vec<f64> = e.la.iter().map(|v| v + pi * s).collect();
        let dg: Vec<f64> = e.lg.iter().map(|v| v + s / pi).collect();
        if da.iter().chain(&dg).any(|v| *v <= 0.0) || self.scale <= 0.0 {
            return Err(Error::Singular {
                operator: "kronecker",
                lambda,
            });
        }
        Ok((da, dg))
    }
}

impl CurvatureOperator for Kronecker {
    fn kind(&self) -> &'static str {
        "kronecker"
    }
    fn dim(&self) -> usize {
        self.a.nrows() * self.g.nrows()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        let c = self.scale;
        Ok(kron_columns(x, self.a.nrows(), self.g.nrows(), |xm| {
            let mut y = product(product(self.a.as_ref(), xm).as_ref(), self.g.transpose());
            y *= faer::Scale(c);
            y
        }))
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        let mut v = Vec::with_capacity(self.dim());
        for i in 0..self.a.nrows() {
            for j in 0..self.g.nrows() {
                v.push(self.scale * self.a[(i, i)] * self.g[(j, j)]);
            }
        }
        Ok(v)
    }
    fn trace(&self) -> Result<f64> {
        let ta: f64 = (0..self.a.nrows()).map(|i| self.a[(i, i)]).sum();
        let tg: f64 = (0..self.g.nrows()).map(|i| self.g[(i, i)]).sum();
        Ok(self.scale * ta * tg)
    }
    fn frobenius_norm(&self) -> Result<f64> {
        Ok(self.scale.abs() * self.a.norm_l2() * self.g.norm_l2())
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_lambda(lambda)?;
        check_rows("right-hand side", self.dim(), v)?;
        match self.damping {
            // two GEMMs per side per right-hand side, in the eigenbasis
            KroneckerDamping::Exact => self.inverse_as_ekfac(lambda)?.apply(v),
            // the inverse stays a Kronecker product: form it once, then one GEMM per side
            KroneckerDamping::Factored => self.inverse_damped(lambda)?.apply(v),
        }
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        check_lambda(lambda)?;
        match self.damping {
            KroneckerDamping::Exact => Ok(Box::new(self.inverse_as_ekfac(lambda)?)),
            KroneckerDamping::Factored => {
                let e = self.factor_eigen()?;
                let (da, dg) = self.factored(lambda, e)?;
                let inv = |q: &Mat<f64>, d: &[f64]| {
                    let mut qs = q.clone();
                    for (j, dj) in d.iter().enumerate() {
                        for i in 0..q.nrows() {
                            qs[(i, j)] /= dj;
                        }
                    }
                    &qs * q.transpose()
                };
                let k =
                    Kronecker::new(inv(&e.qa, &da), inv(&e.qg, &dg))?.scaled(1.0 / self.scale)?;
                Ok(Box::new(k))
            }
        }
    }
    fn logdet_damped(&self, lambda: f64) -> Result<f64> {
        check_lambda(lambda)?;
        let e = self.factor_eigen()?;
        let vals = self.products(e, |v| v + lambda);
        if vals.iter().any(|v| *v <= 0.0) {
            return Err(Error::Singular {
                operator: "kronecker",
                lambda,
            });
        }
        Ok(vals.iter().map(|v| v.ln()).sum())
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        let e = self.factor_eigen()?;
        let mut v = self.products(e, |v| v);
        v.sort_by(f64::total_cmp);
        Ok(v)
    }
}

impl Kronecker {
    /// The exactly damped inverse `(c·A⊗G + λI)⁻¹` in the Kronecker eigenbasis.
    fn inverse_as_ekfac(&self, lambda: f64) -> Result<Ekfac> {
        let e = self.factor_eigen()?;
        let s = self.products(e, |v| v + lambda);
        if s.iter().any(|v| *v <= 0.0) {
            return Err(Error::Singular {
                operator: "kronecker",
                lambda,
            });
        }
        let s = s.iter().map(|v| 1.0 / v).collect();
        Ekfac::new_unchecked(e.qa.clone(), e.qg.clone(), s)
    }
}
