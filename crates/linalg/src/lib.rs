//! Curvature operators on `faer`.
//!
//! Every Fisher estimate and approximation in fisherlab is handed around as a
//! [`CurvatureOperator`]: a symmetric positive semi-definite linear map of dimension P that may or
//! may not be stored as a P × P matrix. Structured operators compute everything they can exactly
//! from their structure — a Kronecker product's trace is `tr(A)·tr(G)`, its damped solve goes
//! through the eigenbases of both factors — and never densify behind the caller's back; what an
//! operator cannot do exactly (the spectrum of a matrix-free operator, say) is an
//! [`Error::NotAvailable`] naming the estimator to use instead.
//!
//! | operator | storage | damped solve | log-det, eigenvalues |
//! |---|---|---|---|
//! | [`Dense`] | P² | Cholesky of `F + λI` | Cholesky / symmetric eigen |
//! | [`Diagonal`] | P | elementwise | exact |
//! | [`BlockDiagonal`] | blocks | per block | per block |
//! | [`Kronecker`] `c·A ⊗ G` | m² + n² | exact (both eigenbases) or factored π-damping | products of factor eigenvalues |
//! | [`Ekfac`] | m² + n² + mn | elementwise in the Kronecker eigenbasis | exact |
//! | [`LowRankPlusDiagonal`] | Pk | Woodbury | matrix determinant lemma; exact spectrum when D is isotropic |
//! | [`MatrixFree`] | a closure `F v` | conjugate gradients (optionally preconditioned) | Lanczos, stochastic Lanczos quadrature, Hutchinson, Hutch++ |
//! | [`Permuted`] | its inner operator, in another index order | as the inner operator | as the inner operator |
//! | [`Sum`] | its terms | conjugate gradients | top eigenvalues by Lanczos |
//!
//! Vectors are columns of `faer` matrices: `apply` and `solve_damped` take a block of right-hand
//! sides (P × k) at once.
//!
//! # Examples
//!
//! ```
//! use faer::Mat;
//! use fisherlab_linalg::{CurvatureOperator, Dense, Kronecker};
//!
//! let a = Mat::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.5 });
//! let g = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 0.25 });
//! let k = Kronecker::new(a.clone(), g.clone()).unwrap();
//! let dense = Dense::new(a.kron(&g)).unwrap();
//! // tr(A ⊗ G) = tr(A) tr(G) = 6·2
//! assert!((k.trace().unwrap() - 12.0).abs() < 1e-12);
//! assert!((k.logdet_damped(0.1).unwrap() - dense.logdet_damped(0.1).unwrap()).abs() < 1e-12);
//! ```
#![warn(missing_docs)]

mod block_diagonal;
mod dense;
mod diagonal;
mod ekfac;
mod kronecker;
mod lockstep;
mod low_rank;
mod matrix_free;
pub mod memory;
mod permuted;
mod sum;

pub use block_diagonal::BlockDiagonal;
pub use dense::{Dense, LANCZOS_MIN_DIM, extreme_eigenvalues};
pub use diagonal::Diagonal;
pub use ekfac::Ekfac;
pub use faer::{Mat, MatRef};
pub use kronecker::{Kronecker, KroneckerDamping};
pub use lockstep::Lockstep;
pub use low_rank::LowRankPlusDiagonal;
pub use matrix_free::{
    CgOptions, CgResult, Lanczos, LanczosOptions, MatrixFree, SpectralDensity, TraceEstimate,
    conjugate_gradient, dot, hutch_pp_trace, hutchinson_diagonal, hutchinson_trace, lanczos_top_k,
    mean_and_standard_error, stochastic_lanczos_quadrature,
};
pub use permuted::Permuted;
pub use sum::Sum;
use thiserror::Error;

/// Errors of the linear-algebra crate.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A matrix or vector of the wrong shape.
    #[error("{what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// What was being checked.
        what: &'static str,
        /// Expected shape.
        expected: String,
        /// Given shape.
        got: String,
    },
    /// A NaN or infinity in the input.
    #[error("{what} contains a non-finite value at {index:?}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// (row, column) of the first offending entry.
        index: (usize, usize),
    },
    /// A matrix that must be symmetric is not.
    #[error("{what} is not symmetric: entry ({i},{j}) = {a} but ({j},{i}) = {b}")]
    NotSymmetric {
        /// Which input.
        what: &'static str,
        /// Row.
        i: usize,
        /// Column.
        j: usize,
        /// `M[i,j]`.
        a: f64,
        /// `M[j,i]`.
        b: f64,
    },
    /// A value that must be ≥ 0 (a diagonal entry, a scaling, an eigenvalue of a PSD factor).
    #[error("{what}[{index}] = {value} is invalid: must be >= 0")]
    Negative {
        /// Which input.
        what: &'static str,
        /// Index of the entry.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Damping must be finite and ≥ 0.
    #[error("damping lambda = {lambda} is invalid: must be finite and >= 0")]
    InvalidDamping {
        /// The value given.
        lambda: f64,
    },
    /// `F + λI` is singular (or numerically so) and cannot be factorised.
    #[error(
        "{operator}: F + {lambda}·I is singular or not positive definite; use a damping lambda > 0, or the pseudo-inverse"
    )]
    Singular {
        /// Operator kind.
        operator: &'static str,
        /// Damping used.
        lambda: f64,
    },
    /// An iterative method stopped before its tolerance.
    #[error(
        "{method} did not converge: relative residual {residual:e} after {iterations} iterations"
    )]
    NoConvergence {
        /// Method name.
        method: &'static str,
        /// Iterations done.
        iterations: usize,
        /// Residual reached.
        residual: f64,
    },
    /// The operation cannot be done exactly by this operator without densifying.
    #[error("{operator}: {operation} is not available exactly; {hint}")]
    NotAvailable {
        /// Operator kind.
        operator: &'static str,
        /// Operation asked for.
        operation: &'static str,
        /// What to use instead.
        hint: &'static str,
    },
    /// faer's symmetric eigen-solver did not converge.
    #[error(
        "numerical failure: the symmetric eigendecomposition of {what} did not converge ({detail})"
    )]
    EigenFailed {
        /// The matrix.
        what: &'static str,
        /// faer's report.
        detail: String,
    },
    /// A matrix would need more memory than the budget allows; nothing was allocated.
    #[error(transparent)]
    TooLarge(#[from] memory::MemoryError),
    /// An operator implemented outside the library (a user's object whose products come from
    /// a callback) failed or returned a bad value: the message names the method and what broke.
    #[error("{message}")]
    External {
        /// One line: the method and what broke.
        message: String,
    },
    /// An argument breaks its rule.
    #[error("invalid {name} = {value}: {rule}")]
    InvalidArgument {
        /// Argument name.
        name: &'static str,
        /// Value.
        value: String,
        /// Rule.
        rule: &'static str,
    },
}

/// Keep large freed buffers in the process for the next allocation instead of returning them to
/// the operating system; returns whether the setting took effect (glibc on Linux; elsewhere it
/// does nothing and returns false).
///
/// The batched passes of a convolutional network allocate and free buffers of hundreds of
/// megabytes (unfolded patches, stacked output gradients). glibc serves every block above its
/// mmap threshold with fresh pages, which the kernel faults in and zeroes on first touch: on the
/// CIFAR-sized CNN of `benches/cnn.rs` that was more than half of a gradient's time. Raising the
/// mmap and trim thresholds to 1 GiB (`mallopt(M_MMAP_THRESHOLD)`, `mallopt(M_TRIM_THRESHOLD)`,
/// the settings behind glibc's `MALLOC_MMAP_THRESHOLD_` and `MALLOC_TRIM_THRESHOLD_`) lets
/// freed memory be reused; the cost is that the process keeps its peak heap until it exits.
/// The `fisherlab` command line and the benchmarks call it once at start-up; call it before the
/// first large allocation.
///
/// # Examples
/// ```
/// let _kept = fisherlab_linalg::retain_freed_memory();
/// ```
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only changes allocator tuning parameters; it is thread-safe in glibc
        // and takes plain integers
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Clear the upper halves of the vector registers of the calling thread (`vzeroupper`) where the
/// CPU has AVX.
///
/// faer's AVX-512 GEMM kernels can return with the upper register state dirty; on Intel CPUs
/// every later legacy-SSE instruction on that thread (glibc's `tanh`, `exp`, `log`, which the
/// activations and likelihood heads call per element) then pays a transition penalty — measured
/// here at 20× on the activation loop of a forward pass. Call it after GEMMs and before
/// element-wise loops over transcendental functions; it costs a few cycles.
pub fn clear_upper_simd_state() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        fn vzeroupper() {
            // SAFETY: none needed beyond the enabled `avx` feature, which the caller checked
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked just above)
            unsafe { vzeroupper() }
        }
    }
}

/// `dst = alpha·lhs·rhs` (or `+=` with [`faer::Accum::Add`]) with faer, sequential below about 4
/// million multiply-adds — where splitting over threads costs more in synchronisation than it
/// saves — and on the global parallelism above; the upper SIMD state is cleared afterwards (see
/// [`clear_upper_simd_state`]). faer splits a product over output blocks only, so the result does
/// not depend on the thread count either way.
pub fn gemm(
    dst: faer::MatMut<'_, f64>,
    accum: faer::Accum,
    lhs: MatRef<'_, f64>,
    rhs: MatRef<'_, f64>,
    alpha: f64,
) {
    let work = dst.nrows() * dst.ncols() * lhs.ncols();
    let par = if work < 1 << 22 {
        faer::Par::Seq
    } else {
        faer::get_global_parallelism()
    };
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, alpha, par);
    clear_upper_simd_state();
}

/// `dst += alpha · aᵀ a` (a Gram matrix, e.g. a K-FAC factor) at about half the cost of
/// [`gemm`]: faer's triangular product fills the lower triangle, which is then mirrored, so the
/// result is exactly symmetric. Sequential below 4M multiply-adds, as [`gemm`].
///
/// # Panics
/// If `dst` is not `a.ncols()` square.
#[track_caller]
pub fn gram_add(mut dst: faer::MatMut<'_, f64>, a: MatRef<'_, f64>, alpha: f64) {
    let n = a.ncols();
    assert!(dst.nrows() == n && dst.ncols() == n, "Gram matrix shape");
    let work = n * n * a.nrows() / 2;
    let par = if work < 1 << 22 {
        faer::Par::Seq
    } else {
        faer::get_global_parallelism()
    };
    let mut lower = Mat::<f64>::zeros(n, n);
    faer::linalg::matmul::triangular::matmul(
        lower.as_mut(),
        faer::linalg::matmul::triangular::BlockStructure::TriangularLower,
        faer::Accum::Replace,
        a.transpose(),
        faer::linalg::matmul::triangular::BlockStructure::Rectangular,
        a,
        faer::linalg::matmul::triangular::BlockStructure::Rectangular,
        alpha,
        par,
    );
    clear_upper_simd_state();
    for j in 0..n {
        dst[(j, j)] += lower[(j, j)];
        for i in j + 1..n {
            let v = lower[(i, j)];
            dst[(i, j)] += v;
            dst[(j, i)] += v;
        }
    }
}

/// `lhs · rhs` through [`gemm`].
pub fn product(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::zeros(lhs.nrows(), rhs.ncols());
    gemm(out.as_mut(), faer::Accum::Replace, lhs, rhs, 1.0);
    out
}

/// Result alias of the linear-algebra crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// True when the caller's input breaks a rule (a command line exits 2), false for a
    /// numerical failure (exit 1).
    pub fn is_input(&self) -> bool {
        match self {
            Error::DimensionMismatch { .. }
            | Error::NonFinite { .. }
            | Error::NotSymmetric { .. }
            | Error::Negative { .. }
            | Error::InvalidDamping { .. }
            | Error::NotAvailable { .. }
            | Error::TooLarge(_)
            | Error::External { .. }
            | Error::InvalidArgument { .. } => true,
            Error::Singular { .. } | Error::NoConvergence { .. } | Error::EigenFailed { .. } => {
                false
            }
        }
    }
}

/// A symmetric positive semi-definite linear map of dimension P.
///
/// All methods are exact unless their documentation says otherwise; operations that an
/// implementation cannot perform exactly return [`Error::NotAvailable`].
pub trait CurvatureOperator: Send + Sync {
    /// Short name of the structure, e.g. `"kronecker"`.
    fn kind(&self) -> &'static str;
    /// Dimension P.
    fn dim(&self) -> usize;
    /// `F X` for a block `X` (P × k).
    ///
    /// # Errors
    /// `X` does not have P rows.
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>>;
    /// `F v`.
    ///
    /// # Errors
    /// `v` does not have length P.
    fn matvec(&self, v: &[f64]) -> Result<Vec<f64>> {
        let y = self.apply(MatRef::from_column_major_slice(v, v.len(), 1))?;
        Ok(y.col_as_slice(0).to_vec())
    }
    /// The stored P × P matrix, for an operator that holds one ([`Dense`]): read it without a
    /// copy. `None` for every other structure.
    fn as_dense(&self) -> Option<MatRef<'_, f64>> {
        None
    }
    /// The P × P matrix.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the P × P matrix does not fit the [`memory`] budget; otherwise
    /// only as [`apply`](Self::apply).
    fn to_dense(&self) -> Result<Mat<f64>> {
        let n = self.dim();
        // the identity and the result
        memory::reserve(
            format!("a dense copy of a {n} × {n} operator (two {n} × {n} float64 matrices)"),
            memory::dense_copies_bytes(2, n, n),
        )?;
        self.apply(Mat::<f64>::identity(n, n).as_ref())
    }
    /// `diag(F)`.
    fn diagonal(&self) -> Result<Vec<f64>>;
    /// `tr(F)`.
    fn trace(&self) -> Result<f64>;
    /// `‖F‖_F`.
    fn frobenius_norm(&self) -> Result<f64>;
    /// `(F + λI)⁻¹ V` for a block `V` (P × k).
    ///
    /// # Errors
    /// Invalid damping, a shape mismatch, or a singular `F + λI`.
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>>;
    /// `(F + λI)⁻¹` as another operator.
    ///
    /// # Errors
    /// As [`solve_damped`](Self::solve_damped).
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>>;
    /// `ln det(F + λI)`.
    ///
    /// # Errors
    /// Invalid damping, or a singular `F + λI`.
    fn logdet_damped(&self, lambda: f64) -> Result<f64>;
    /// All eigenvalues, ascending.
    fn eigenvalues(&self) -> Result<Vec<f64>>;
    /// The `k` largest eigenvalues, descending (all of them by [`eigenvalues`](Self::eigenvalues)
    /// unless the structure offers better: Lanczos for a large [`Dense`]).
    fn top_eigenvalues(&self, k: usize) -> Result<Vec<f64>> {
        let mut e = self.eigenvalues()?;
        e.reverse();
        e.truncate(k);
        Ok(e)
    }
}

pub(crate) fn check_lambda(lambda: f64) -> Result<()> {
    if lambda.is_finite() && lambda >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidDamping { lambda })
    }
}

pub(crate) fn check_rows(what: &'static str, dim: usize, x: MatRef<'_, f64>) -> Result<()> {
    if x.nrows() != dim {
        return Err(Error::DimensionMismatch {
            what,
            expected: format!("{dim} rows"),
            got: format!("{} rows", x.nrows()),
        });
    }
    check_finite(what, x)
}

pub(crate) fn check_finite(what: &'static str, x: MatRef<'_, f64>) -> Result<()> {
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            if !x[(i, j)].is_finite() {
                return Err(Error::NonFinite {
                    what,
                    index: (i, j),
                });
            }
        }
    }
    Ok(())
}

/// Check a square, finite, symmetric matrix (relative tolerance 1e-12 of the largest entry) and
/// return its exact symmetrisation `(M + Mᵀ)/2`.
pub(crate) fn symmetric(what: &'static str, m: Mat<f64>) -> Result<Mat<f64>> {
    if m.nrows() != m.ncols() {
        return Err(Error::DimensionMismatch {
            what,
            expected: "a square matrix".into(),
            got: format!("{}x{}", m.nrows(), m.ncols()),
        });
    }
    check_finite(what, m.as_ref())?;
    let n = m.nrows();
    let scale = m.norm_max();
    for j in 0..n {
        for i in j + 1..n {
            let (a, b) = (m[(i, j)], m[(j, i)]);
            if (a - b).abs() > 1e-12 * scale {
                return Err(Error::NotSymmetric { what, i, j, a, b });
            }
        }
    }
    // in place: a P × P Fisher is the largest object in memory, never copy it
    let mut m = m;
    for j in 0..n {
        for i in j + 1..n {
            let v = 0.5 * (m[(i, j)] + m[(j, i)]);
            m[(i, j)] = v;
            m[(j, i)] = v;
        }
    }
    Ok(m)
}

/// The exact symmetrisation `(M + Mᵀ)/2` of a square matrix whose two triangles may differ in
/// the last bit (a GEMM's rounding), before an eigendecomposition or a Cholesky factor.
///
/// # Examples
/// ```
/// use faer::mat;
/// let m = mat![[1.0, 2.0], [2.5, 3.0]];
/// assert_eq!(fisherlab_linalg::symmetrize(m.as_ref()), mat![[1.0, 2.25], [2.25, 3.0]]);
/// ```
pub fn symmetrize(m: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| 0.5 * (m[(i, j)] + m[(j, i)]))
}

/// The eigendecomposition of the symmetric matrix `what` (its lower triangle read):
/// eigenvalues ascending, eigenvectors as the columns in the same order — the one routine every
/// crate here uses for it.
///
/// # Errors
/// [`Error::EigenFailed`] naming `what` when the eigensolver does not converge.
///
/// # Examples
/// ```
/// use faer::mat;
/// let (values, vectors) =
///     fisherlab_linalg::symmetric_eigen(mat![[2.0, 1.0], [1.0, 2.0]].as_ref(), "an example")
///         .unwrap();
/// assert!((values[0] - 1.0).abs() < 1e-14 && (values[1] - 3.0).abs() < 1e-14);
/// assert!((vectors[(0, 1)].abs() - 0.5f64.sqrt()).abs() < 1e-14);
/// ```
pub fn symmetric_eigen(m: MatRef<'_, f64>, what: &'static str) -> Result<(Vec<f64>, Mat<f64>)> {
    let evd = m
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::EigenFailed {
            what,
            detail: format!("{e:?}"),
        })?;
    let s = evd.S().column_vector();
    let vals = (0..s.nrows()).map(|i| s[i]).collect();
    Ok((vals, evd.U().to_owned()))
}

/// The eigenvalues alone of the symmetric matrix `what` (its lower triangle read), ascending:
/// the eigenvalue-only companion of [`symmetric_eigen`] (no eigenvectors are formed).
///
/// # Errors
/// [`Error::EigenFailed`] naming `what` when the eigensolver does not converge.
///
/// # Examples
/// ```
/// use faer::mat;
/// let values =
///     fisherlab_linalg::symmetric_eigenvalues(mat![[2.0, 1.0], [1.0, 2.0]].as_ref(), "an example")
///         .unwrap();
/// assert!((values[0] - 1.0).abs() < 1e-14 && (values[1] - 3.0).abs() < 1e-14);
/// ```
pub fn symmetric_eigenvalues(m: MatRef<'_, f64>, what: &'static str) -> Result<Vec<f64>> {
    m.self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|e| Error::EigenFailed {
            what,
            detail: format!("{e:?}"),
        })
}

/// Largest eigenvalue magnitude below which an eigenvalue counts as zero, relative to the largest.
pub(crate) const ZERO_EIGEN_RTOL: f64 = 1e-13;

/// Clamp eigenvalues of a PSD matrix that rounding pushed slightly negative; error if one is
/// genuinely negative.
pub(crate) fn psd_eigenvalues(what: &'static str, vals: &mut [f64]) -> Result<()> {
    let top = vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, v) in vals.iter_mut().enumerate() {
        if *v < 0.0 {
            if *v >= -1e-10 * top.max(f64::MIN_POSITIVE) {
                *v = 0.0;
            } else {
                return Err(Error::Negative {
                    what,
                    index: i,
                    value: *v,
                });
            }
        }
    }
    Ok(())
}
