//! What a user brings from Python: an approximation as an operator whose products (and, where
//! it has them, solves, log-determinants and diagonal) are Python callbacks, and a
//! preconditioner whose statistics and solves are. Rust calls them with the GIL taken only for
//! the call; every bad return (a raise, a wrong shape, a non-finite value) is one line naming
//! the method and what broke.

use faer::{Mat, MatRef};
use fisherlab_linalg::{
    CgOptions, CurvatureOperator, Dense, Error as LinalgError, LanczosOptions,
    Result as LinalgResult, conjugate_gradient, lanczos_top_k,
};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// A one-line error of a user's object.
pub(crate) fn external(message: impl Into<String>) -> LinalgError {
    LinalgError::External {
        message: message.into(),
    }
}

/// `value` as a float64 array (`numpy.asarray(value, dtype=float64)`), its shape, and its
/// entries in C order, checked finite; `what` names the method in errors.
pub(crate) fn returned(
    py: Python<'_>,
    value: Bound<'_, PyAny>,
    what: &str,
) -> LinalgResult<(Vec<usize>, Vec<f64>)> {
    let fail = |e: PyErr| external(format!("{what} returned {}", one_line(py, &e)));
    let np = py.import("numpy").map_err(fail)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", "float64").map_err(fail)?;
    let a = np
        .call_method("asarray", (value,), Some(&kwargs))
        .map_err(fail)?;
    let a = a
        .cast_into::<PyArrayDyn<f64>>()
        .map_err(|_| external(format!("{what} did not return an array of numbers")))?;
    let a = a.readonly();
    let shape = a.shape().to_vec();
    let v: Vec<f64> = a.as_array().iter().copied().collect();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(external(format!(
            "{what} returned a non-finite value ({}) at flat index {i}",
            v[i]
        )));
    }
    Ok((shape, v))
}

/// The shape as Python prints it.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        s => format!(
            "({})",
            s.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A Python exception as one line: `ValueError: message`.
pub(crate) fn one_line(py: Python<'_>, e: &PyErr) -> String {
    let text = e.to_string();
    let _ = py;
    text.lines().next().unwrap_or("").to_string()
}

/// What the object provides beyond `matvec`.
#[derive(Debug, Clone, Copy)]
struct Provides {
    matmat: bool,
    solve: bool,
    logdet: bool,
    diagonal: bool,
}

/// A user's approximation: `matvec` (and optionally `matmat`, `solve(v, damping)`,
/// `logdet(damping)`, `diagonal()`) in Python. What it does not provide is made from its
/// products: damped solves by CG on `A + λI` (their iterations and residual kept for the
/// report), the largest eigenvalues by Lanczos, the log-determinant left to the caller (SLQ).
/// With [`UserOperator::densify`] its matrix is formed once from its products and what it lacks
/// is exact from that matrix.
pub(crate) struct UserOperator {
    obj: Py<PyAny>,
    what: String,
    dim: usize,
    provides: Provides,
    cg: CgOptions,
    /// Its matrix, when formed (dense references).
    dense: Option<Dense>,
    /// CG solves done for it: count, most iterations, largest final relative residual.
    solves: Mutex<(usize, usize, f64)>,
    /// Products made.
    products: Mutex<usize>,
}

impl UserOperator {
    /// The object `obj` (called `what` in errors) as a P × P operator: `matvec` must be callable;
    /// a `shape` attribute, where present, must be `(dim, dim)`.
    pub(crate) fn new(
        obj: &Bound<'_, PyAny>,
        what: &str,
        dim: usize,
        cg: CgOptions,
    ) -> PyResult<Self> {
        let has = |name: &str| -> bool {
            obj.getattr(name)
                .map(|m| !m.is_none() && m.is_callable())
                .unwrap_or(false)
        };
        if !has("matvec") {
            return Err(crate::bad(format!(
                "{what}: a CurvatureOperator, a P × P NumPy array, a scipy LinearOperator or an object with a matvec method is needed, not {}",
                obj.get_type().name()?
            )));
        }
        if let Ok(shape) = obj.getattr("shape")
            && !shape.is_none()
        {
            let s: Vec<usize> = shape.extract().map_err(|_| {
                crate::bad(format!("{what}.shape must be a pair of sizes, not {shape}"))
            })?;
            if s != [dim, dim] {
                return Err(crate::bad(format!(
                    "{what}.shape is {}, expected ({dim}, {dim}) (P = {dim} parameters)",
                    shape_text(&s)
                )));
            }
        }
        Ok(Self {
            obj: obj.clone().unbind(),
            what: what.to_string(),
            dim,
            provides: Provides {
                matmat: has("matmat"),
                solve: has("solve"),
                logdet: has("logdet"),
                diagonal: has("diagonal"),
            },
            cg,
            dense: None,
            solves: Mutex::new((0, 0, 0.0)),
            products: Mutex::new(0),
        })
    }

    /// Its matrix formed from P products (refused beyond the memory budget), kept for every
    /// operation the object does not provide itself.
    pub(crate) fn densify(mut self) -> LinalgResult<Self> {
        let m = CurvatureOperator::to_dense(&self)?;
        self.dense = Some(Dense::new(m).map_err(|e| {
            external(format!(
                "{}: its matrix formed from products is not usable: {e}",
                self.what
            ))
        })?);
        Ok(self)
    }

    /// Whether it has its own damped solve.
    pub(crate) fn has_solve(&self) -> bool {
        self.provides.solve
    }

    /// Whether it has its own log-determinant.
    pub(crate) fn has_logdet(&self) -> bool {
        self.provides.logdet
    }

    /// The CG solves made for it: count, most iterations, largest final relative residual.
    pub(crate) fn cg_summary(&self) -> (usize, usize, f64) {
        *self.solves.lock().expect("not poisoned")
    }

    /// Products made with it (columns).
    pub(crate) fn products(&self) -> usize {
        *self.products.lock().expect("not poisoned")
    }

    /// Call `method(args…)` on the object with the GIL taken; a raise becomes one line.
    fn call<T>(
        &self,
        method: &str,
        args: impl FnOnce(Python<'_>) -> PyResult<Vec<Bound<'_, PyAny>>>,
        then: impl FnOnce(Python<'_>, Bound<'_, PyAny>, &str) -> LinalgResult<T>,
    ) -> LinalgResult<T> {
        let what = format!("{}.{method}", self.what);
        Python::attach(|py| {
            let raised = |e: PyErr| external(format!("{what} raised {}", one_line(py, &e)));
            let args = args(py).map_err(raised)?;
            let args = pyo3::types::PyTuple::new(py, args).map_err(raised)?;
            let out = self
                .obj
                .bind(py)
                .call_method1(method, args)
                .map_err(raised)?;
            then(py, out, &what)
        })
    }

    fn matvec_py(&self, v: &[f64]) -> LinalgResult<Vec<f64>> {
        let p = self.dim;
        self.call(
            "matvec",
            |py| Ok(vec![PyArray1::from_slice(py, v).into_any()]),
            |py, out, what| {
                let (shape, values) = returned(py, out, what)?;
                // scipy's matvec returns (P,) or (P, 1)
                if values.len() != p || !(shape == [p] || shape == [p, 1]) {
                    return Err(external(format!(
                        "{what} returned an array of shape {}, expected ({p},)",
                        shape_text(&shape)
                    )));
                }
                Ok(values)
            },
        )
    }

    fn matmat_py(&self, x: MatRef<'_, f64>) -> LinalgResult<Mat<f64>> {
        let (p, k) = (x.nrows(), x.ncols());
        self.call(
            "matmat",
            |py| {
                let c: Vec<f64> = (0..p)
                    .flat_map(|i| (0..k).map(move |j| x[(i, j)]))
                    .collect();
                Ok(vec![PyArray1::from_vec(py, c).reshape([p, k])?.into_any()])
            },
            |py, out, what| {
                let (shape, values) = returned(py, out, what)?;
                if shape != [p, k] {
                    return Err(external(format!(
                        "{what} returned an array of shape {}, expected ({p}, {k})",
                        shape_text(&shape)
                    )));
                }
                Ok(Mat::from_fn(p, k, |i, j| values[i * k + j]))
            },
        )
    }
}

impl CurvatureOperator for UserOperator {
    fn kind(&self) -> &'static str {
        "user"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&self, x: MatRef<'_, f64>) -> LinalgResult<Mat<f64>> {
        if let Some(d) = &self.dense {
            return d.apply(x);
        }
        if x.nrows() != self.dim {
            return Err(LinalgError::DimensionMismatch {
                what: "block",
                expected: format!("{} rows", self.dim),
                got: format!("{} rows", x.nrows()),
            });
        }
        *self.products.lock().expect("not poisoned") += x.ncols();
        if self.provides.matmat && x.ncols() > 1 {
            return self.matmat_py(x);
        }
        let mut out = Mat::<f64>::zeros(self.dim, x.ncols());
        for j in 0..x.ncols() {
            let v: Vec<f64> = x.col(j).iter().copied().collect();
            let r = self.matvec_py(&v)?;
            out.col_as_slice_mut(j).copy_from_slice(&r);
        }
        Ok(out)
    }
    fn as_dense(&self) -> Option<MatRef<'_, f64>> {
        self.dense.as_ref().and_then(|d| d.as_dense())
    }
    fn diagonal(&self) -> LinalgResult<Vec<f64>> {
        if self.provides.diagonal {
            let p = self.dim;
            return self.call(
                "diagonal",
                |_| Ok(vec![]),
                |py, out, what| {
                    let (shape, values) = returned(py, out, what)?;
                    if shape != [p] {
                        return Err(external(format!(
                            "{what} returned an array of shape {}, expected ({p},)",
                            shape_text(&shape)
                        )));
                    }
                    Ok(values)
                },
            );
        }
        match &self.dense {
            Some(d) => d.diagonal(),
            None => Err(LinalgError::NotAvailable {
                operator: "a user's approximation",
                operation: "the diagonal",
                hint: "give the object a diagonal() method",
            }),
        }
    }
    fn trace(&self) -> LinalgResult<f64> {
        Ok(self.diagonal()?.iter().sum())
    }
    fn frobenius_norm(&self) -> LinalgResult<f64> {
        match &self.dense {
            Some(d) => d.frobenius_norm(),
            None => Err(LinalgError::NotAvailable {
                operator: "a user's approximation",
                operation: "the Frobenius norm",
                hint: "it is estimated from products by compare's matrix-free reference",
            }),
        }
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> LinalgResult<Mat<f64>> {
        let p = self.dim;
        let mut out = Mat::<f64>::zeros(p, v.ncols());
        if self.provides.solve {
            for j in 0..v.ncols() {
                let col: Vec<f64> = v.col(j).iter().copied().collect();
                let d = self.call(
                    "solve",
                    |py| {
                        Ok(vec![
                            PyArray1::from_vec(py, col).into_any(),
                            lambda.into_pyobject(py)?.into_any(),
                        ])
                    },
                    |py, out, what| {
                        let (shape, values) = returned(py, out, what)?;
                        if values.len() != p || !(shape == [p] || shape == [p, 1]) {
                            return Err(external(format!(
                                "{what} returned an array of shape {}, expected ({p},)",
                                shape_text(&shape)
                            )));
                        }
                        Ok(values)
                    },
                )?;
                out.col_as_slice_mut(j).copy_from_slice(&d);
            }
            return Ok(out);
        }
        if let Some(d) = &self.dense {
            return d.solve_damped(lambda, v);
        }
        for j in 0..v.ncols() {
            let b: Vec<f64> = v.col(j).iter().copied().collect();
            let r = conjugate_gradient(self, lambda, &b, None, None, &self.cg)?;
            let mut s = self.solves.lock().expect("not poisoned");
            *s = (s.0 + 1, s.1.max(r.iterations), s.2.max(r.relative_residual));
            out.col_as_slice_mut(j).copy_from_slice(&r.x);
        }
        Ok(out)
    }
    fn inverse_damped(&self, _: f64) -> LinalgResult<Box<dyn CurvatureOperator>> {
        Err(LinalgError::NotAvailable {
            operator: "a user's approximation",
            operation: "the inverse as an operator",
            hint: "use solve",
        })
    }
    fn logdet_damped(&self, lambda: f64) -> LinalgResult<f64> {
        if self.provides.logdet {
            return self.call(
                "logdet",
                |py| Ok(vec![lambda.into_pyobject(py)?.into_any()]),
                |_, out, what| {
                    let v: f64 = out
                        .extract()
                        .map_err(|_| external(format!("{what} returned {out}, not a number")))?;
                    if v.is_finite() {
                        Ok(v)
                    } else {
                        Err(external(format!(
                            "{what} returned {v}, not a finite number"
                        )))
                    }
                },
            );
        }
        match &self.dense {
            Some(d) => d.logdet_damped(lambda),
            None => Err(LinalgError::NotAvailable {
                operator: "a user's approximation",
                operation: "the log-determinant",
                hint: "it is estimated by stochastic Lanczos quadrature",
            }),
        }
    }
    fn eigenvalues(&self) -> LinalgResult<Vec<f64>> {
        match &self.dense {
            Some(d) => d.eigenvalues(),
            None => Dense::new(self.to_dense()?)?.eigenvalues(),
        }
    }
    fn top_eigenvalues(&self, k: usize) -> LinalgResult<Vec<f64>> {
        if let Some(d) = &self.dense {
            return d.top_eigenvalues(k);
        }
        let opts = LanczosOptions {
            tol: self.cg.tol.max(1e-10),
            max_steps: self.cg.max_iter,
            scale: 0.0,
        };
        Ok(lanczos_top_k(self, k, 0, &opts)?.values)
    }
}

/// A user's preconditioner inside the natural-gradient skeleton: at each step
/// `update(stats)` (when given) sees the step's statistics — an object the Python layer makes
/// from the step, loss, gradient, parameters and mini-batch by `statistics(...)` — and
/// `solve(g, damping)` returns `d ≈ (C + λI)⁻¹ g`.
pub(crate) struct PyPreconditioner {
    solve: Py<PyAny>,
    update: Option<Py<PyAny>>,
    statistics: Py<PyAny>,
    /// Its name (kept for the process's life: records and provenance name the optimizer by a
    /// `&'static str`; one short string per training run).
    name: &'static str,
}

impl PyPreconditioner {
    pub(crate) fn new(
        solve: Py<PyAny>,
        update: Option<Py<PyAny>>,
        statistics: Py<PyAny>,
        name: &str,
    ) -> Self {
        Self {
            solve,
            update,
            statistics,
            name: Box::leak(name.to_string().into_boxed_str()),
        }
    }
}

/// A column-major matrix as a C-order NumPy array.
pub(crate) fn c_array<'py>(py: Python<'py>, m: MatRef<'_, f64>) -> PyResult<Bound<'py, PyAny>> {
    let (r, c) = (m.nrows(), m.ncols());
    let v: Vec<f64> = (0..r)
        .flat_map(|i| (0..c).map(move |j| m[(i, j)]))
        .collect();
    Ok(PyArray1::from_vec(py, v).reshape([r, c])?.into_any())
}

impl fisherlab_optim::Preconditioner for PyPreconditioner {
    fn name(&self) -> &'static str {
        self.name
    }
    fn direction(
        &mut self,
        input: &fisherlab_optim::StepInput<'_>,
        problem: &fisherlab_fisher::curvature::Problem<'_>,
        lambda: f64,
        _want_curvature: bool,
    ) -> fisherlab_optim::Result<fisherlab_optim::Direction> {
        let p = input.gradient.len();
        let name = self.name;
        // the step's own stream, as the built-in optimizers draw their labels from
        let step_seed = match input.labels(fisherlab_fisher::curvature::Labels::Mc {
            per_input: 1,
            seed: 0,
        }) {
            fisherlab_fisher::curvature::Labels::Mc { seed, .. } => seed,
            _ => input.seed,
        };
        let d = Python::attach(|py| -> LinalgResult<Vec<f64>> {
            let raised = |what: &str, e: PyErr| {
                external(format!("{name}: {what} raised {}", one_line(py, &e)))
            };
            if let Some(update) = &self.update {
                let stats = (|| -> PyResult<Bound<'_, PyAny>> {
                    self.statistics.bind(py).call1((
                        input.step,
                        input.loss,
                        PyArray1::from_slice(py, input.gradient),
                        PyArray1::from_slice(py, problem.theta()),
                        c_array(py, input.x)?,
                        c_array(py, input.y)?,
                        step_seed,
                    ))
                })()
                .map_err(|e| raised("making the step's statistics", e))?;
                update
                    .bind(py)
                    .call1((stats,))
                    .map_err(|e| raised("update", e))?;
            }
            let out = self
                .solve
                .bind(py)
                .call1((PyArray1::from_slice(py, input.gradient), lambda))
                .map_err(|e| raised("solve", e))?;
            let what = format!("{name}: solve");
            let (shape, values) = returned(py, out, &what)?;
            if shape != [p] {
                return Err(external(format!(
                    "{what} returned an array of shape {}, expected ({p},)",
                    shape_text(&shape)
                )));
            }
            Ok(values)
        })?;
        Ok(fisherlab_optim::Direction::new(d))
    }
}
