//! Matrix-free operators and the iterative and stochastic methods that need only `F v`:
//! conjugate gradients, Lanczos, stochastic Lanczos quadrature, Hutchinson and Hutch++.
//!
//! Every randomised method takes a seed; probes come from xoshiro256++ streams, so results do not
//! depend on the thread count.

use crate::{CurvatureOperator, Error, Result, check_lambda, check_rows, symmetric_eigen};
use faer::{Mat, MatRef};
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

type Rng = rand::rngs::Xoshiro256PlusPlus;

/// The product `X ↦ F X` of a matrix-free operator.
pub type Product = dyn Fn(MatRef<'_, f64>) -> Mat<f64> + Send + Sync;

/// An operator known only through its products `F X` (Fisher-vector products, say).
///
/// Damped solves run conjugate gradients to [`CgOptions`]; `top_eigenvalues` runs Lanczos.
/// Diagonal, trace, norm, log-determinant and the full spectrum are not available exactly (they
/// would need P products): use [`hutchinson_diagonal`], [`hutchinson_trace`] or
/// [`hutch_pp_trace`], and [`stochastic_lanczos_quadrature`], or [`CurvatureOperator::to_dense`]
/// explicitly.
///
/// # Examples
/// ```
/// use faer::Mat;
/// use fisherlab_linalg::{CurvatureOperator, MatrixFree};
/// // F = diag(1, 2, …, 10), known only through products
/// let f = MatrixFree::new(10, |x| Mat::from_fn(x.nrows(), x.ncols(), |i, j| (i as f64 + 1.0) * x[(i, j)]));
/// let b = Mat::from_fn(10, 1, |_, _| 1.0);
/// let x = f.solve_damped(1.0, b.as_ref()).unwrap(); // CG
/// assert!((x[(4, 0)] - 1.0 / 6.0).abs() < 1e-9);
/// assert!((f.top_eigenvalues(2).unwrap()[0] - 10.0).abs() < 1e-9);
/// ```
#[derive(Clone)]
pub struct MatrixFree {
    dim: usize,
    f: Arc<Product>,
    cg: CgOptions,
}

impl MatrixFree {
    /// An operator of dimension `dim` from its product.
    pub fn new(
        dim: usize,
        f: impl Fn(MatRef<'_, f64>) -> Mat<f64> + Send + Sync + 'static,
    ) -> Self {
        Self {
            dim,
            f: Arc::new(f),
            cg: CgOptions::default(),
        }
    }
    /// The same operator with other CG settings for `solve_damped`.
    pub fn with_cg_options(mut self, cg: CgOptions) -> Self {
        self.cg = cg;
        self
    }
}

impl std::fmt::Debug for MatrixFree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MatrixFree {{ dim: {} }}", self.dim)
    }
}

fn not_available(operation: &'static str, hint: &'static str) -> Error {
    Error::NotAvailable {
        operator: "matrix-free",
        operation,
        hint,
    }
}

impl CurvatureOperator for MatrixFree {
    fn kind(&self) -> &'static str {
        "matrix-free"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim, x)?;
        let y = (self.f)(x);
        if y.nrows() != self.dim || y.ncols() != x.ncols() {
            return Err(Error::DimensionMismatch {
                what: "matrix-free product",
                expected: format!("{}x{}", self.dim, x.ncols()),
                got: format!("{}x{}", y.nrows(), y.ncols()),
            });
        }
        Ok(y)
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        Err(not_available(
            "the diagonal",
            "use hutchinson_diagonal or to_dense()",
        ))
    }
    fn trace(&self) -> Result<f64> {
        Err(not_available(
            "the trace",
            "use hutchinson_trace, hutch_pp_trace or to_dense()",
        ))
    }
    fn frobenius_norm(&self) -> Result<f64> {
        Err(not_available("the Frobenius norm", "use to_dense()"))
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        cg_columns(self, lambda, v, &self.cg)
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        check_lambda(lambda)?;
        let me = self.clone();
        Ok(Box::new(MatrixFree::new(self.dim, move |x| {
            // CG failures inside a product cannot be reported through the closure: they come
            // back as NaN columns, which `apply` callers see as non-finite output
            me.solve_damped(lambda, x)
                .unwrap_or_else(|_| Mat::from_fn(x.nrows(), x.ncols(), |_, _| f64::NAN))
        })))
    }
    fn logdet_damped(&self, _lambda: f64) -> Result<f64> {
        Err(not_available(
            "the log-determinant",
            "use stochastic_lanczos_quadrature(..).logdet(lambda) or to_dense()",
        ))
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        Err(not_available(
            "the full spectrum",
            "use top_eigenvalues (Lanczos), stochastic_lanczos_quadrature or to_dense()",
        ))
    }
    fn top_eigenvalues(&self, k: usize) -> Result<Vec<f64>> {
        Ok(lanczos_top_k(self, k, 0, &LanczosOptions::default())?.values)
    }
}

/// `(F + λI)⁻¹ V` column by column with unpreconditioned conjugate gradients.
pub(crate) fn cg_columns(
    op: &dyn CurvatureOperator,
    lambda: f64,
    v: MatRef<'_, f64>,
    opts: &CgOptions,
) -> Result<Mat<f64>> {
    check_lambda(lambda)?;
    check_rows("right-hand side", op.dim(), v)?;
    let mut out = Mat::zeros(v.nrows(), v.ncols());
    for c in 0..v.ncols() {
        let b: Vec<f64> = (0..v.nrows()).map(|i| v[(i, c)]).collect();
        let r = conjugate_gradient(op, lambda, &b, None, None, opts)?;
        for (i, x) in r.x.iter().enumerate() {
            out[(i, c)] = *x;
        }
    }
    Ok(out)
}

/// Options of [`conjugate_gradient`].
#[derive(Debug, Clone, Copy)]
pub struct CgOptions {
    /// Stop when `‖b − (F+λI)x‖ ≤ tol·‖b‖` (default 1e-10).
    pub tol: f64,
    /// Largest number of iterations (default 10 000).
    pub max_iter: usize,
    /// Return the iterate reached after `max_iter` iterations instead of an error (truncated
    /// CG, as in Hessian-free optimisation; default false).
    pub truncated: bool,
}

impl Default for CgOptions {
    fn default() -> Self {
        Self {
            tol: 1e-10,
            max_iter: 10_000,
            truncated: false,
        }
    }
}

/// Result of [`conjugate_gradient`].
#[derive(Debug, Clone)]
pub struct CgResult {
    /// The solution.
    pub x: Vec<f64>,
    /// Iterations done.
    pub iterations: usize,
    /// Final `‖b − (F+λI)x‖ / ‖b‖` (recomputed, not the recursive estimate).
    pub relative_residual: f64,
}

/// The dot product `Σ aᵢ bᵢ` of two vectors (summed in order: the same bits on any thread
/// count), the one every iterative method here uses.
///
/// # Examples
/// ```
/// assert_eq!(fisherlab_linalg::dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn matvec(op: &dyn CurvatureOperator, lambda: f64, v: &[f64]) -> Result<Vec<f64>> {
    let mut y = op.matvec(v)?;
    for (yi, vi) in y.iter_mut().zip(v) {
        *yi += lambda * vi;
    }
    Ok(y)
}

/// Solve `(F + λI) x = b` by (preconditioned) conjugate gradients.
///
/// `precond = Some((M, μ))` preconditions with `(M + μI)⁻¹` through `M.solve_damped(μ, ·)` —
/// a diagonal, K-FAC or any other operator. `x0` warm-starts.
///
/// # Errors
/// Invalid damping or shapes; [`Error::NoConvergence`] after `max_iter` iterations (unless
/// `truncated`); a
/// non-positive curvature direction (`F + λI` not positive definite).
///
/// # Examples
/// ```
/// use fisherlab_linalg::{conjugate_gradient, CgOptions, Diagonal};
/// let f = Diagonal::new(vec![1.0, 10.0, 100.0]).unwrap();
/// let r = conjugate_gradient(&f, 0.0, &[1.0, 1.0, 1.0], Some((&f, 0.0)), None, &CgOptions::default()).unwrap();
/// // preconditioned by F itself: one iteration
/// assert_eq!(r.iterations, 1);
/// assert!((r.x[2] - 0.01).abs() < 1e-12);
/// ```
pub fn conjugate_gradient(
    op: &dyn CurvatureOperator,
    lambda: f64,
    b: &[f64],
    precond: Option<(&dyn CurvatureOperator, f64)>,
    x0: Option<&[f64]>,
    opts: &CgOptions,
) -> Result<CgResult> {
    check_lambda(lambda)?;
    let n = op.dim();
    check_rows(
        "right-hand side",
        n,
        MatRef::from_column_major_slice(b, b.len(), 1),
    )?;
    if let Some((m, mu)) = precond {
        check_lambda(mu)?;
        if m.dim() != n {
            return Err(Error::DimensionMismatch {
                what: "preconditioner",
                expected: format!("dimension {n}"),
                got: format!("dimension {}", m.dim()),
            });
        }
    }
    let bnorm = dot(b, b).sqrt();
    if bnorm == 0.0 {
        return Ok(CgResult {
            x: vec![0.0; n],
            iterations: 0,
            relative_residual: 0.0,
        });
    }
    let mut x = x0.map(<[f64]>::to_vec).unwrap_or_else(|| vec![0.0; n]);
    let ax = matvec(op, lambda, &x)?;
    let mut r: Vec<f64> = b.iter().zip(&ax).map(|(bi, ai)| bi - ai).collect();
    let prec = |r: &[f64]| -> Result<Vec<f64>> {
        match precond {
            None => Ok(r.to_vec()),
            Some((m, mu)) => Ok(m
                .solve_damped(mu, MatRef::from_column_major_slice(r, r.len(), 1))?
                .col_as_slice(0)
                .to_vec()),
        }
    };
    let mut z = prec(&r)?;
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let mut it = 0;
    while dot(&r, &r).sqrt() > opts.tol * bnorm {
        if it >= opts.max_iter {
            if opts.truncated {
                break;
            }
            return Err(Error::NoConvergence {
                method: "conjugate gradients",
                iterations: it,
                residual: dot(&r, &r).sqrt() / bnorm,
            });
        }
        let ap = matvec(op, lambda, &p)?;
        let pap = dot(&p, &ap);
        if pap <= 0.0 || !pap.is_finite() {
            return Err(Error::Singular {
                operator: op.kind(),
                lambda,
            });
        }
        let alpha = rz / pap;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        z = prec(&r)?;
        let rz_new = dot(&r, &z);
        let beta = rz_new / rz;
        rz = rz_new;
        for i in 0..n {
            p[i] = z[i] + beta * p[i];
        }
        it += 1;
    }
    let ax = matvec(op, lambda, &x)?;
    let res: f64 = b
        .iter()
        .zip(&ax)
        .map(|(bi, ai)| (bi - ai).powi(2))
        .sum::<f64>()
        .sqrt();
    Ok(CgResult {
        x,
        iterations: it,
        relative_residual: res / bnorm,
    })
}

/// Options of the Lanczos iteration.
#[derive(Debug, Clone, Copy)]
pub struct LanczosOptions {
    /// A Ritz pair counts as converged when `|β_m yₘ| ≤ tol·max(|θ|, scale)` (default 1e-10).
    pub tol: f64,
    /// Largest Krylov dimension (default 500, capped at P).
    pub max_steps: usize,
    /// A magnitude below which eigenvalues need not be resolved relative to themselves (default
    /// 0): e.g. the other end of the spectrum when only the largest magnitude matters.
    pub scale: f64,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        Self {
            tol: 1e-10,
            max_steps: 500,
            scale: 0.0,
        }
    }
}

/// Top eigenpairs from [`lanczos_top_k`].
#[derive(Debug, Clone)]
pub struct Lanczos {
    /// Eigenvalues, descending.
    pub values: Vec<f64>,
    /// Eigenvectors (P × k), in the same order.
    pub vectors: Mat<f64>,
    /// Krylov steps taken.
    pub steps: usize,
}

fn rademacher(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect()
}

/// A Lanczos run: the basis vectors (P × m, column j the j-th), the diagonal α and the
/// off-diagonal β of the tridiagonal.
type LanczosRun = (Mat<f64>, Vec<f64>, Vec<f64>);

/// Lanczos with full reorthogonalisation from a seeded start vector: the basis Q (P × m) and the
/// tridiagonal coefficients (α, β). Each reorthogonalisation is two matrix-vector products with
/// the basis so far (`c = Qᵀw`, `w −= Q c`, done twice).
fn lanczos_basis(
    op: &dyn CurvatureOperator,
    start: Vec<f64>,
    steps: usize,
    mut stop: impl FnMut(&[f64], &[f64], f64) -> Result<bool>,
) -> Result<LanczosRun> {
    let n = op.dim();
    let norm = dot(&start, &start).sqrt();
    let limit = steps.min(n);
    // the basis grows by doubling its column capacity
    let mut q = Mat::<f64>::zeros(n, limit.clamp(1, 32));
    for (i, v) in start.iter().enumerate() {
        q[(i, 0)] = v / norm;
    }
    let mut m = 1;
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    let mut c = Mat::<f64>::zeros(limit.max(1), 1);
    for j in 0..limit {
        let qj = q.col(j).try_as_col_major().expect("contiguous").as_slice();
        let mut w = op.matvec(qj)?;
        let a = dot(&w, qj);
        alpha.push(a);
        for _ in 0..2 {
            let basis = q.as_ref().subcols(0, m);
            let wv = MatRef::from_column_major_slice(&w, n, 1);
            let mut cm = c.as_mut().subrows_mut(0, m);
            crate::gemm(
                cm.as_mut(),
                faer::Accum::Replace,
                basis.transpose(),
                wv,
                1.0,
            );
            let wm = faer::MatMut::from_column_major_slice_mut(&mut w, n, 1);
            crate::gemm(wm, faer::Accum::Add, basis, cm.as_ref(), -1.0);
        }
        let b = dot(&w, &w).sqrt();
        if stop(&alpha, &beta, b)? || j + 1 == limit {
            beta.push(b);
            break;
        }
        let scale = alpha
            .iter()
            .chain(&beta)
            .fold(0.0f64, |acc, v| acc.max(v.abs()));
        if b <= 1e-14 * scale.max(f64::MIN_POSITIVE) {
            // invariant subspace found: the Ritz values are exact eigenvalues
            beta.push(0.0);
            break;
        }
        beta.push(b);
        if m == q.ncols() {
            let mut bigger = Mat::<f64>::zeros(n, (2 * m).min(limit));
            bigger.as_mut().subcols_mut(0, m).copy_from(q.as_ref());
            q = bigger;
        }
        for (i, v) in w.iter().enumerate() {
            q[(i, m)] = v / b;
        }
        m += 1;
    }
    let q = q.as_ref().subcols(0, m).to_owned();
    Ok((q, alpha, beta))
}

/// Eigen-decomposition of the tridiagonal matrix (α on the diagonal, β off it).
fn tridiagonal_eigen(alpha: &[f64], beta: &[f64]) -> Result<(Vec<f64>, Mat<f64>)> {
    let m = alpha.len();
    let t = Mat::from_fn(m, m, |i, j| {
        if i == j {
            alpha[i]
        } else if i + 1 == j || j + 1 == i {
            beta[i.min(j)]
        } else {
            0.0
        }
    });
    symmetric_eigen(t.as_ref(), "the Lanczos tridiagonal matrix")
}

/// The `k` largest eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.
///
/// # Errors
/// `k = 0` or `k > P`; no convergence within `max_steps`.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{lanczos_top_k, Diagonal};
/// let f = Diagonal::new((1..=50).map(f64::from).collect()).unwrap();
/// let l = lanczos_top_k(&f, 2, 7, &Default::default()).unwrap();
/// assert!((l.values[0] - 50.0).abs() < 1e-8 && (l.values[1] - 49.0).abs() < 1e-8);
/// ```
pub fn lanczos_top_k(
    op: &dyn CurvatureOperator,
    k: usize,
    seed: u64,
    opts: &LanczosOptions,
) -> Result<Lanczos> {
    let n = op.dim();
    if k == 0 || k > n {
        return Err(Error::InvalidArgument {
            name: "k",
            value: k.to_string(),
            rule: "must lie in 1..=dim",
        });
    }
    let mut rng = Rng::seed_from_u64(seed);
    let start = rademacher(&mut rng, n);
    let mut converged = false;
    let ritz_converged = |alpha: &[f64], beta: &[f64], b: f64| -> Result<bool> {
        let m = alpha.len();
        let (vals, y) = tridiagonal_eigen(alpha, &beta[..m - 1])?;
        let top = vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        Ok((0..m).rev().take(k).all(|idx| {
            (b * y[(m - 1, idx)]).abs()
                <= opts.tol * vals[idx].abs().max(1e-14 * top).max(opts.scale)
        }))
    };
    // check once the Krylov space can hold k pairs, then at steps growing by an eighth (at least
    // 5): each check is a dense eigendecomposition of the m × m tridiagonal, so checking at every
    // fifth step would cost O(m⁴) over a long run
    let mut next_check = k.max(5);
    let (q, alpha, beta) = lanczos_basis(op, start, opts.max_steps, |alpha, beta, b| {
        let m = alpha.len();
        if m < next_check {
            return Ok(false);
        }
        next_check = m + (m / 8).max(5);
        ritz_converged(alpha, beta, b)
    })?;
    let m = alpha.len();
    let (vals, y) = tridiagonal_eigen(&alpha, &beta[..m - 1])?;
    let last_beta = beta[m - 1];
    let top = vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut values = Vec::with_capacity(k);
    let mut vectors = Mat::zeros(n, k);
    for (c, idx) in (0..m).rev().take(k).enumerate() {
        let resid = (last_beta * y[(m - 1, idx)]).abs();
        converged = resid <= opts.tol * vals[idx].abs().max(1e-14 * top).max(opts.scale) || m == n;
        if !converged {
            return Err(Error::NoConvergence {
                method: "Lanczos",
                iterations: m,
                residual: resid / vals[idx].abs().max(f64::MIN_POSITIVE),
            });
        }
        values.push(vals[idx]);
        // the Ritz vector Q y, one matrix-vector product
        let mq = m.min(q.ncols());
        crate::gemm(
            vectors.as_mut().subcols_mut(c, 1),
            faer::Accum::Replace,
            q.as_ref().subcols(0, mq),
            y.as_ref().subrows(0, mq).subcols(idx, 1),
            1.0,
        );
    }
    debug_assert!(converged || k == 0);
    Ok(Lanczos {
        values,
        vectors,
        steps: m,
    })
}

/// A spectral density estimate from stochastic Lanczos quadrature: a weighted set of nodes with
/// `Σ weights = 1`, approximating `(1/P) Σᵢ δ(x − λᵢ)`.
#[derive(Debug, Clone)]
pub struct SpectralDensity {
    /// Ritz values of every probe.
    pub nodes: Vec<f64>,
    /// Their weights (squared first components of the Ritz vectors, averaged over probes).
    pub weights: Vec<f64>,
    /// Dimension P.
    pub dim: usize,
}

impl SpectralDensity {
    /// Estimate of `tr f(F) = Σᵢ f(λᵢ)`.
    pub fn trace_of(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.dim as f64
            * self
                .nodes
                .iter()
                .zip(&self.weights)
                .map(|(x, w)| w * f(*x))
                .sum::<f64>()
    }
    /// Estimate of `ln det(F + λI)`.
    pub fn logdet(&self, lambda: f64) -> f64 {
        self.trace_of(|x| (x.max(0.0) + lambda).ln())
    }
    /// The density smoothed with a Gaussian of width `sigma`, at `x`.
    pub fn density(&self, x: f64, sigma: f64) -> f64 {
        let c = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(n, w)| w * c * (-0.5 * ((x - n) / sigma).powi(2)).exp())
            .sum()
    }
}

/// Stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017): `probes` Rademacher start vectors,
/// `steps` Lanczos steps each.
///
/// # Errors
/// `probes = 0` or `steps = 0`; a product error.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{stochastic_lanczos_quadrature, Diagonal};
/// let f = Diagonal::new(vec![1.0; 100]).unwrap(); // identity: every node is 1
/// let slq = stochastic_lanczos_quadrature(&f, 4, 10, 1).unwrap();
/// assert!((slq.logdet(1.0) - 100.0 * 2f64.ln()).abs() < 1e-9);
/// ```
pub fn stochastic_lanczos_quadrature(
    op: &dyn CurvatureOperator,
    probes: usize,
    steps: usize,
    seed: u64,
) -> Result<SpectralDensity> {
    if probes == 0 || steps == 0 {
        return Err(Error::InvalidArgument {
            name: "probes/steps",
            value: format!("{probes}/{steps}"),
            rule: "both must be >= 1",
        });
    }
    let n = op.dim();
    let mut rng = Rng::seed_from_u64(seed);
    let (mut nodes, mut weights) = (Vec::new(), Vec::new());
    for _ in 0..probes {
        let start = rademacher(&mut rng, n);
        let (_, alpha, beta) = lanczos_basis(op, start, steps, |_, _, _| Ok(false))?;
        let m = alpha.len();
        let (vals, y) = tridiagonal_eigen(&alpha, &beta[..m - 1])?;
        for (i, v) in vals.iter().enumerate() {
            nodes.push(*v);
            weights.push(y[(0, i)].powi(2) / probes as f64);
        }
    }
    Ok(SpectralDensity {
        nodes,
        weights,
        dim: n,
    })
}

/// A stochastic trace estimate with its standard error.
#[derive(Debug, Clone, Copy)]
pub struct TraceEstimate {
    /// The estimate.
    pub estimate: f64,
    /// Its standard error (from the spread of the probes).
    pub std_error: f64,
    /// Products `F v` used.
    pub matvecs: usize,
}

fn probe_block(rng: &mut Rng, n: usize, k: usize) -> Mat<f64> {
    let mut z = Mat::zeros(n, k);
    for j in 0..k {
        for i in 0..n {
            z[(i, j)] = if rng.random::<bool>() { 1.0 } else { -1.0 };
        }
    }
    z
}

/// An orthonormal basis of the column space of `y` by Gram–Schmidt with reorthogonalisation
/// (deterministic for any thread count, unlike a blocked parallel QR); numerically dependent
/// columns are dropped.
fn orthonormal_basis(y: Mat<f64>) -> Mat<f64> {
    let n = y.nrows();
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(y.ncols());
    let scale = y.norm_max();
    for j in 0..y.ncols() {
        let mut v: Vec<f64> = y.col_as_slice(j).to_vec();
        for _ in 0..2 {
            for q in &cols {
                let c = dot(&v, q);
                for (vi, qi) in v.iter_mut().zip(q) {
                    *vi -= c * qi;
                }
            }
        }
        let norm = dot(&v, &v).sqrt();
        if norm > 1e-12 * scale * (n as f64).sqrt() {
            cols.push(v.iter().map(|x| x / norm).collect());
        }
    }
    Mat::from_fn(n, cols.len(), |i, j| cols[j][i])
}

/// The mean of `v` and its standard error `√(s² / n)` (infinite for fewer than two values):
/// what every stochastic estimator here reports.
///
/// # Examples
/// ```
/// let (m, se) = fisherlab_linalg::mean_and_standard_error(&[1.0, 3.0]);
/// // s² = 2, n = 2: se = 1
/// assert_eq!((m, se), (2.0, 1.0));
/// ```
pub fn mean_and_standard_error(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, f64::INFINITY);
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// Hutchinson's trace estimator with `probes` Rademacher vectors: `(1/p) Σ zᵀ F z`, variance
/// `2(‖F‖²_F − Σ Fᵢᵢ²)/p`.
///
/// # Errors
/// `probes = 0`; a product error.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{hutchinson_trace, Diagonal};
/// // for a diagonal operator zᵀFz = tr F exactly with Rademacher probes
/// let t = hutchinson_trace(&Diagonal::new(vec![1.0, 2.0, 3.0]).unwrap(), 5, 0).unwrap();
/// assert!((t.estimate - 6.0).abs() < 1e-12 && t.std_error < 1e-12);
/// ```
pub fn hutchinson_trace(
    op: &dyn CurvatureOperator,
    probes: usize,
    seed: u64,
) -> Result<TraceEstimate> {
    if probes == 0 {
        return Err(Error::InvalidArgument {
            name: "probes",
            value: "0".into(),
            rule: "must be >= 1",
        });
    }
    let mut rng = Rng::seed_from_u64(seed);
    let z = probe_block(&mut rng, op.dim(), probes);
    let fz = op.apply(z.as_ref())?;
    let samples: Vec<f64> = (0..probes)
        .map(|j| (0..op.dim()).map(|i| z[(i, j)] * fz[(i, j)]).sum())
        .collect();
    let (estimate, std_error) = mean_and_standard_error(&samples);
    Ok(TraceEstimate {
        estimate,
        std_error,
        matvecs: probes,
    })
}

/// Hutch++ (Meyer, Musco, Musco & Woodruff 2021) with `matvecs` products (a multiple of 3 is
/// used): a rank-`m/3` sketch captures the top of the spectrum exactly, Hutchinson handles the
/// rest. Its error falls like `1/m` instead of `1/√m`.
///
/// # Errors
/// `matvecs < 3`; a product error.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{hutch_pp_trace, Diagonal};
/// // rank ≤ m/3: the sketch captures everything
/// let f = Diagonal::new(vec![5.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
/// let t = hutch_pp_trace(&f, 9, 2).unwrap();
/// assert!((t.estimate - 5.0).abs() < 1e-10);
/// ```
pub fn hutch_pp_trace(
    op: &dyn CurvatureOperator,
    matvecs: usize,
    seed: u64,
) -> Result<TraceEstimate> {
    if matvecs < 3 {
        return Err(Error::InvalidArgument {
            name: "matvecs",
            value: matvecs.to_string(),
            rule: "must be >= 3",
        });
    }
    let n = op.dim();
    let k = (matvecs / 3).min(n);
    let mut rng = Rng::seed_from_u64(seed);
    let s = probe_block(&mut rng, n, k);
    let q = orthonormal_basis(op.apply(s.as_ref())?);
    let fq = op.apply(q.as_ref())?;
    let top: f64 = (0..q.ncols())
        .map(|j| (0..n).map(|i| q[(i, j)] * fq[(i, j)]).sum::<f64>())
        .sum();
    let g = probe_block(&mut rng, n, k);
    // (I − QQᵀ) G
    let gp = &g - &q * (q.transpose() * &g);
    let fgp = op.apply(gp.as_ref())?;
    let samples: Vec<f64> = (0..k)
        .map(|j| (0..n).map(|i| gp[(i, j)] * fgp[(i, j)]).sum())
        .collect();
    let (rest, se) = mean_and_standard_error(&samples);
    Ok(TraceEstimate {
        estimate: top + rest,
        std_error: se,
        matvecs: 3 * k,
    })
}

/// Hutchinson's diagonal estimator `(1/p) Σ z ∘ F z` with Rademacher probes; returns the estimate
/// and the per-entry standard error.
///
/// # Errors
/// `probes = 0`; a product error.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{hutchinson_diagonal, Diagonal};
/// let (d, se) = hutchinson_diagonal(&Diagonal::new(vec![1.0, 2.0]).unwrap(), 3, 0).unwrap();
/// assert!((d[1] - 2.0).abs() < 1e-12 && se[1] < 1e-12); // exact for a diagonal operator
/// ```
pub fn hutchinson_diagonal(
    op: &dyn CurvatureOperator,
    probes: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    if probes == 0 {
        return Err(Error::InvalidArgument {
            name: "probes",
            value: "0".into(),
            rule: "must be >= 1",
        });
    }
    let n = op.dim();
    let mut rng = Rng::seed_from_u64(seed);
    let z = probe_block(&mut rng, n, probes);
    let fz = op.apply(z.as_ref())?;
    let mut est = Vec::with_capacity(n);
    let mut se = Vec::with_capacity(n);
    for i in 0..n {
        let samples: Vec<f64> = (0..probes).map(|j| z[(i, j)] * fz[(i, j)]).collect();
        let (m, s) = mean_and_standard_error(&samples);
        est.push(m);
        se.push(s);
    }
    Ok((est, se))
}
