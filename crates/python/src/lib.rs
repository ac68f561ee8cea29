//! `fisherlab._native`: the Rust core of the Python package `fisherlab`.
//!
//! The Python layer (`python/fisherlab/__init__.py`) gives the public API; this module does the
//! work: every computation runs in the library crates with the GIL released, arrays come in as
//! views of the caller's NumPy memory where the layout allows (float64, any strides for a
//! matrix) and go out as NumPy arrays over Rust-owned memory (no copy of a P × P result), and
//! every error is the command line's one line, as `ValueError` (bad input) or
//! `fisherlab.NumericalError` (a numerical failure).

use faer::{Mat, MatRef};
use fisherlab_app::Error as CliError;
use fisherlab_app::fim::FimRequest;
use fisherlab_app::optimizers::{OptimizerArg, OptimizerOptions, Setting, record_json};
use fisherlab_app::routes::{Route, RouteSpec};
use fisherlab_app::verify::{Point, VerifyRequest};
use fisherlab_app::{
    Choice, fim::FormArg, fim::MethodArg as FimMethod, verify::MethodArg as VerifyMethod,
};
use fisherlab_autodiff::layers::Network;
use fisherlab_fisher::model::{Model, hessian_of_mean_nll, mean_nll_gradient};
use fisherlab_linalg::{CurvatureOperator, Dense};
use fisherlab_optim::{TrainOptions, train as train_loop};
use numpy::ndarray::{ArrayView1, ArrayView2, ShapeBuilder};
use numpy::{
    PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::HashMap;

mod user;
use user::{PyPreconditioner, UserOperator};

create_exception!(
    fisherlab,
    NumericalError,
    PyException,
    "A computation that failed numerically: a solver that did not converge, a matrix that is not positive definite, a density that is not normalisable, a non-finite result."
);

/// The Python exception of an application error (the command line's one line).
fn py_err(e: CliError) -> PyErr {
    match e {
        CliError::Input(m) => PyValueError::new_err(m),
        CliError::Failed(m) => NumericalError::new_err(m),
    }
}

/// Any library error, classified as the command line classifies it.
fn lib_err(e: impl Into<CliError>) -> PyErr {
    py_err(e.into())
}

pub(crate) fn bad(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A float64 array of shape (N, …) as an N × d matrix over the caller's memory: any strides for
/// a 2-D array; the trailing axes flattened in C order for more (the Python layer passes such
/// arrays C-contiguous).
fn matrix_of<'a>(a: &'a PyReadonlyArrayDyn<'_, f64>, what: &str) -> PyResult<MatRef<'a, f64>> {
    let shape = a.shape();
    let strides = a.strides();
    let item = std::mem::size_of::<f64>() as isize;
    let (rows, cols, rs, cs) = match shape.len() {
        1 => (shape[0], 1, strides[0] / item, 1),
        2 => (shape[0], shape[1], strides[0] / item, strides[1] / item),
        n if n > 2 && a.is_c_contiguous() => {
            let d: usize = shape[1..].iter().product();
            (shape[0], d, d as isize, 1)
        }
        _ => {
            return Err(bad(format!(
                "{what}: an array of {} axes must be C-contiguous",
                shape.len()
            )));
        }
    };
    if strides.iter().any(|s| s % item != 0) {
        return Err(bad(format!("{what}: strides not a multiple of 8 bytes")));
    }
    // SAFETY: the view lives as long as the read-only borrow `a`, and numpy's shape and strides
    // (in elements) describe memory inside that array.
    Ok(unsafe { MatRef::from_raw_parts(a.data() as *const f64, rows, cols, rs, cs) })
}

/// A Rust-owned matrix handed to NumPy without a copy: the array's base object.
#[pyclass(frozen, module = "fisherlab._native")]
struct Owned {
    m: Mat<f64>,
}

/// A NumPy view of `m`'s memory whose base object is `owner` (which keeps it alive).
///
/// # Safety
/// `m` must live, unchanged, as long as `owner`.
unsafe fn view2<'py>(
    m: MatRef<'_, f64>,
    owner: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (r, c) = (m.nrows(), m.ncols());
    let (rs, cs) = (m.row_stride(), m.col_stride());
    if rs < 0 || cs < 0 {
        return Err(bad("negative strides"));
    }
    let shape = (r, c).strides((rs as usize, cs as usize));
    // SAFETY: the shape and strides are faer's own for this memory.
    let view = unsafe { ArrayView2::from_shape_ptr(shape, m.as_ptr()) };
    Ok(unsafe { PyArray2::borrow_from_array(&view, owner) })
}

/// `m` as a NumPy array without a copy (a column-major P × k matrix).
fn owned2(py: Python<'_>, m: Mat<f64>) -> PyResult<Bound<'_, PyArray2<f64>>> {
    let owner = Bound::new(py, Owned { m })?;
    let m = owner.get().m.as_ref();
    // SAFETY: `Owned` is frozen: its matrix never changes and lives as long as the array.
    unsafe { view2(m, owner.clone().into_any()) }
}

/// The first column of `m` as a 1-D NumPy array without a copy.
fn owned1(py: Python<'_>, m: Mat<f64>) -> PyResult<Bound<'_, PyArray1<f64>>> {
    let n = m.nrows();
    let owner = Bound::new(py, Owned { m })?;
    let ptr = owner.get().m.as_ptr();
    // SAFETY: column 0 of a faer matrix is contiguous; `Owned` keeps it alive and unchanged.
    let view = unsafe { ArrayView1::from_shape_ptr(n, ptr) };
    Ok(unsafe { PyArray1::borrow_from_array(&view, owner.into_any()) })
}

fn vector(py: Python<'_>, v: Vec<f64>) -> Bound<'_, PyArray1<f64>> {
    PyArray1::from_vec(py, v)
}

/// Every family with its coordinates, fixed parameters, parameterizations and an example point,
/// as JSON text.
#[pyfunction]
fn families() -> PyResult<String> {
    Ok(fisherlab_app::fim::families().to_string())
}

/// The one registry of approximations (kinds and the comparison catalogue) as JSON text.
#[pyfunction]
fn approximations() -> String {
    fisherlab_app::approximations().to_string()
}

/// The embedded datasets as JSON text.
#[pyfunction]
fn datasets() -> PyResult<String> {
    Ok(fisherlab_app::datasets().map_err(py_err)?.to_string())
}

/// An embedded dataset: (inputs N × d, targets N × C, per-sample shape).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn dataset<'py>(
    py: Python<'py>,
    name: &str,
) -> PyResult<(
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Vec<usize>,
)> {
    let (x, y, shape) = fisherlab_app::dataset(name).map_err(py_err)?;
    Ok((owned2(py, x)?, owned2(py, y)?, shape))
}

/// Every request's defaults, as JSON text (see `fisherlab_app::defaults`).
#[pyfunction]
fn defaults() -> String {
    fisherlab_app::defaults().to_string()
}

/// `fisherlab fim`: a dict of the family, its coordinates and values, and one
/// `(method, matrix, std_error)` per method.
#[pyfunction]
#[pyo3(signature = (family, values, parameterization, method, samples, seed, form, tol))]
#[allow(clippy::too_many_arguments)]
fn fim<'py>(
    py: Python<'py>,
    family: String,
    values: Vec<(String, f64)>,
    parameterization: String,
    method: &str,
    samples: usize,
    seed: u64,
    form: &str,
    tol: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let request = FimRequest {
        family,
        values,
        parameterization,
        method: FimMethod::from_name(method).map_err(py_err)?,
        samples,
        seed,
        form: FormArg::from_name(form).map_err(py_err)?,
        tol,
    };
    let out = py.detach(|| request.compute()).map_err(py_err)?;
    let d = PyDict::new(py);
    d.set_item("family", &out.family)?;
    d.set_item("parameterization", &out.parameterization)?;
    d.set_item("parameters", &out.parameters)?;
    d.set_item("values", &out.values)?;
    let to_np = |m: &nalgebra::DMatrix<f64>| {
        owned2(py, Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)]))
    };
    let estimates = PyList::empty(py);
    for e in &out.estimates {
        let se = match &e.std_error {
            Some(s) => Some(to_np(s)?),
            None => None,
        };
        estimates.append((e.method.as_str(), to_np(&e.matrix)?, se))?;
    }
    d.set_item("estimates", estimates)?;
    Ok(d)
}

/// `fisherlab verify`: (passed, text report, JSON report, failure line or None).
#[pyfunction]
#[pyo3(signature = (logpdf, var, support, params, claim, exp_family, at, random, seed, range, method, samples, tol, z_tol, latex))]
#[allow(clippy::too_many_arguments)]
fn verify(
    py: Python<'_>,
    logpdf: String,
    var: String,
    support: String,
    params: Vec<String>,
    claim: Option<String>,
    exp_family: Option<String>,
    at: Vec<Point>,
    random: Option<usize>,
    seed: u64,
    range: Vec<(String, f64, f64)>,
    method: &str,
    samples: usize,
    tol: f64,
    z_tol: f64,
    latex: bool,
) -> PyResult<(bool, String, String, Option<String>)> {
    let request = VerifyRequest {
        logpdf,
        var,
        support,
        params,
        claim,
        exp_family,
        at,
        random,
        seed,
        range,
        method: VerifyMethod::from_name(method).map_err(py_err)?,
        samples,
        tol,
        z_tol,
        latex,
    };
    let out = py.detach(|| request.check()).map_err(py_err)?;
    Ok((out.passed, out.text, out.json.to_string(), out.failure))
}

/// A point's text (`mu=0.3,sigma=2`) as `(name, value)` pairs, read as `--at` reads it.
#[pyfunction]
fn point(text: &str) -> PyResult<Point> {
    fisherlab_app::verify::point(text).map_err(py_err)
}

/// The provenance record of a run of `what` with `options` (JSON text in and out).
#[pyfunction]
fn provenance(what: &str, options: &str) -> PyResult<String> {
    let options: serde_json::Value =
        serde_json::from_str(options).map_err(|e| bad(format!("options: {e}")))?;
    Ok(fisherlab_app::provenance::record(what, &options).to_string())
}

/// Set the memory budget in bytes (`None`: the memory available), as `--max-memory` does.
#[pyfunction]
#[pyo3(signature = (bytes=None))]
fn set_memory_budget(bytes: Option<u64>) {
    fisherlab_app::set_memory_budget(bytes);
}

/// A network bound to a per-sample input shape, with its buffers (BatchNorm statistics).
#[pyclass(module = "fisherlab._native")]
struct Net {
    net: Network,
}

#[pymethods]
impl Net {
    /// The network of a model text (PyTorch's `print(model)`) for inputs of `input_shape`.
    #[new]
    fn new(text: &str, input_shape: Vec<usize>) -> PyResult<Self> {
        Ok(Self {
            net: fisherlab_app::network(text, &input_shape).map_err(py_err)?,
        })
    }

    /// The parameter count P.
    #[getter]
    fn num_params(&self) -> usize {
        self.net.num_params()
    }

    /// The per-sample input shape.
    #[getter]
    fn input_shape(&self) -> Vec<usize> {
        self.net.input_shape().to_vec()
    }

    /// `(name, shape, offset)` of every parameter tensor, in the public parameter order.
    fn param_tensors(&self) -> Vec<(String, Vec<usize>, usize)> {
        self.net.param_tensors()
    }

    /// `(name, values)` of every buffer.
    fn buffers<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyArray1<f64>>)> {
        self.net
            .buffers()
            .into_iter()
            .map(|(n, v)| (n, vector(py, v)))
            .collect()
    }

    /// Load a state dict (name → float64 or float32 array): sets the buffers and returns the
    /// flat parameter vector, with the checks and messages of a weights file.
    fn load<'py>(
        &mut self,
        py: Python<'py>,
        tensors: HashMap<String, Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let mut owned: Vec<(String, Vec<usize>, safetensors::Dtype, Vec<u8>)> = Vec::new();
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        for name in names {
            let a = &tensors[name];
            let (shape, dtype, bytes) = if let Ok(a) = a.cast::<PyArrayDyn<f64>>() {
                let a = a.readonly();
                let v = a.as_array();
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (a.shape().to_vec(), safetensors::Dtype::F64, bytes)
            } else if let Ok(a) = a.cast::<PyArrayDyn<f32>>() {
                let a = a.readonly();
                let v = a.as_array();
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (a.shape().to_vec(), safetensors::Dtype::F32, bytes)
            } else {
                return Err(bad(format!(
                    "weights: tensor `{name}` must be a float64 or float32 NumPy array"
                )));
            };
            owned.push((name.clone(), shape, dtype, bytes));
        }
        let views = owned
            .iter()
            .map(|(n, s, d, b)| {
                safetensors::tensor::TensorView::new(*d, s.clone(), b).map(|v| (n.as_str(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("weights: {e}")))?;
        let bytes =
            safetensors::serialize(views, None).map_err(|e| bad(format!("weights: {e}")))?;
        let theta = fisherlab_io::files::weights_from_bytes(&bytes, "(state dict)", &mut self.net)
            .map_err(lib_err)?;
        Ok(vector(py, theta))
    }

    /// Load a safetensors file (PyTorch `state_dict` names): sets the buffers and returns the
    /// flat parameter vector.
    fn load_file<'py>(
        &mut self,
        py: Python<'py>,
        path: std::path::PathBuf,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let theta = fisherlab_io::files::load_weights(&path, &mut self.net).map_err(lib_err)?;
        Ok(vector(py, theta))
    }

    /// PyTorch's default initialisation, seeded.
    fn default_init<'py>(&self, py: Python<'py>, seed: u64) -> Bound<'py, PyArray1<f64>> {
        vector(py, fisherlab_io::files::default_init(&self.net, seed))
    }

    fn __str__(&self) -> String {
        self.net.to_string()
    }
}

/// The model of a network with a likelihood head.
fn model_of(net: &Net, likelihood: &str, sigma: Option<f64>) -> PyResult<Model> {
    let head = fisherlab_app::head(likelihood, sigma).map_err(py_err)?;
    Model::new(net.net.clone(), head).map_err(lib_err)
}

/// A curvature operator: exact, estimated or approximated Fisher (or a Hessian), in the public
/// parameter order.
#[pyclass(frozen, module = "fisherlab._native")]
struct Operator {
    op: Box<dyn CurvatureOperator>,
    name: String,
}

#[pymethods]
impl Operator {
    /// The route that built it (`kfac`, `exact`, …).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Its structure (`dense`, `kronecker`, `diagonal`, …).
    #[getter]
    fn structure(&self) -> &'static str {
        self.op.kind()
    }

    /// P.
    #[getter]
    fn dim(&self) -> usize {
        self.op.dim()
    }

    /// `F v` for a vector (P) or `F V` for a matrix (P × k).
    fn matmul<'py>(
        &self,
        py: Python<'py>,
        v: PyReadonlyArrayDyn<'py, f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let one = v.ndim() == 1;
        let x = matrix_of(&v, "vector")?;
        let out = py.detach(|| self.op.apply(x)).map_err(lib_err)?;
        if one {
            Ok(owned1(py, out)?.into_any())
        } else {
            Ok(owned2(py, out)?.into_any())
        }
    }

    /// The dense P × P matrix: a view of the operator's own storage when it is dense (no copy),
    /// else formed once and handed over without a copy.
    fn dense<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let py = slf.py();
        let this = slf.get();
        if let Some(m) = this.op.as_dense() {
            // SAFETY: the operator is frozen and owns the matrix for as long as `slf` lives.
            return unsafe { view2(m, slf.clone().into_any()) };
        }
        let m = py.detach(|| this.op.to_dense()).map_err(lib_err)?;
        owned2(py, m)
    }

    fn diagonal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(vector(
            py,
            py.detach(|| self.op.diagonal()).map_err(lib_err)?,
        ))
    }

    fn trace(&self, py: Python<'_>) -> PyResult<f64> {
        py.detach(|| self.op.trace()).map_err(lib_err)
    }

    fn frobenius_norm(&self, py: Python<'_>) -> PyResult<f64> {
        py.detach(|| self.op.frobenius_norm()).map_err(lib_err)
    }

    fn logdet(&self, py: Python<'_>, damping: f64) -> PyResult<f64> {
        py.detach(|| self.op.logdet_damped(damping))
            .map_err(lib_err)
    }

    fn solve<'py>(
        &self,
        py: Python<'py>,
        v: PyReadonlyArrayDyn<'py, f64>,
        damping: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let one = v.ndim() == 1;
        let x = matrix_of(&v, "right-hand side")?;
        let out = py
            .detach(|| self.op.solve_damped(damping, x))
            .map_err(lib_err)?;
        if one {
            Ok(owned1(py, out)?.into_any())
        } else {
            Ok(owned2(py, out)?.into_any())
        }
    }

    /// Every eigenvalue, ascending.
    fn eigenvalues<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(vector(
            py,
            py.detach(|| self.op.eigenvalues()).map_err(lib_err)?,
        ))
    }

    /// The k largest eigenvalues, descending.
    fn top_eigenvalues<'py>(
        &self,
        py: Python<'py>,
        k: usize,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(vector(
            py,
            py.detach(|| self.op.top_eigenvalues(k)).map_err(lib_err)?,
        ))
    }
}

/// A data matrix in the library's column-major layout: the caller's memory itself when it is
/// already laid out so (Fortran order, a single column), else reordered once. The library's
/// products accumulate in an order that follows the layout, so this is what makes every result
/// the same bits as the command line's (which reads `.npy` files into column-major matrices),
/// whatever the layout of the NumPy array.
enum Columns<'a> {
    View(MatRef<'a, f64>),
    Copy(Mat<f64>),
}

impl Columns<'_> {
    fn get(&self) -> MatRef<'_, f64> {
        match self {
            Columns::View(m) => *m,
            Columns::Copy(m) => m.as_ref(),
        }
    }
}

fn columns<'a>(a: &'a PyReadonlyArrayDyn<'_, f64>, what: &str) -> PyResult<Columns<'a>> {
    let m = matrix_of(a, what)?;
    Ok(if m.row_stride() == 1 || m.nrows() <= 1 {
        Columns::View(m)
    } else {
        Columns::Copy(m.to_owned())
    })
}

/// The inputs and optional targets of a call.
struct Data<'a> {
    x: Columns<'a>,
    y: Option<Columns<'a>>,
}

/// What every model call starts from: the model of `net` with its head, θ, and the data.
fn call<'a>(
    net: &Net,
    likelihood: &str,
    sigma: Option<f64>,
    theta: &'a PyReadonlyArray1<'_, f64>,
    x: &'a PyReadonlyArrayDyn<'_, f64>,
    y: Option<&'a PyReadonlyArrayDyn<'_, f64>>,
) -> PyResult<(Model, &'a [f64], Data<'a>)> {
    let model = model_of(net, likelihood, sigma)?;
    let theta = theta.as_slice().map_err(|e| bad(format!("theta: {e}")))?;
    let data = Data {
        x: columns(x, "X")?,
        y: y.map(|y| columns(y, "y")).transpose()?,
    };
    Ok((model, theta, data))
}

/// The operator of one route on the worker (an approximation need not be Send): the route
/// from its names, the problem, then the build — or the Hessian, which is no Fisher route.
fn build(
    spec: &RouteSpec<'_>,
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    y: Option<MatRef<'_, f64>>,
) -> Result<Box<dyn CurvatureOperator>, CliError> {
    let route = Route::from_spec(spec)?;
    if route.needs_targets() && y.is_none() {
        return Err(route.missing_targets());
    }
    let approx = route.approximation(model.num_params());
    let mut problem = fisherlab_fisher::curvature::Problem::new(model, theta, x)?;
    if let Some(y) = y {
        problem = problem.with_targets(y)?;
    }
    match (&approx, y) {
        (Some(a), _) => Ok(a.build(&problem)?),
        (None, Some(y)) => {
            let h = hessian_of_mean_nll(model, theta, x, y)?;
            Ok(Box::new(Dense::new(h)?))
        }
        (None, None) => Err(CliError::Input("the Hessian needs targets".into())),
    }
}

/// The curvature of `net` at `theta` on `(x, y)` by one route (see `fisherlab_app::routes::RouteSpec`).
#[pyfunction]
#[pyo3(signature = (net, theta, x, y, likelihood, sigma, kind, kfac_type, kfac_approx, norm_block, mc_samples, seed, rank, randomized))]
#[allow(clippy::too_many_arguments)]
fn curvature(
    py: Python<'_>,
    net: PyRef<'_, Net>,
    theta: PyReadonlyArray1<'_, f64>,
    x: PyReadonlyArrayDyn<'_, f64>,
    y: Option<PyReadonlyArrayDyn<'_, f64>>,
    likelihood: &str,
    sigma: Option<f64>,
    kind: &str,
    kfac_type: &str,
    kfac_approx: &str,
    norm_block: &str,
    mc_samples: usize,
    seed: u64,
    rank: Option<usize>,
    randomized: bool,
) -> PyResult<Operator> {
    let (model, theta, d) = call(&net, likelihood, sigma, &theta, &x, y.as_ref())?;
    let (dx, dy) = (d.x.get(), d.y.as_ref().map(Columns::get));
    let spec = RouteSpec {
        kind,
        kfac_type,
        kfac_approx,
        norm_block,
        mc_samples,
        seed,
        rank,
        randomized,
    };
    let op = py
        .detach(|| build(&spec, &model, theta, dx, dy))
        .map_err(py_err)?;
    Ok(Operator {
        op,
        name: kind.to_string(),
    })
}

/// Seconds of each of `repeats` builds of one route, timed inside Rust (the problem and the
/// operator, as [`curvature`] does them, without the Python call around them): the baseline
/// of `bench/bench.py`, which measures what calling through Python adds.
#[pyfunction]
#[pyo3(signature = (net, theta, x, y, likelihood, kind, kfac_type, repeats))]
#[allow(clippy::too_many_arguments)]
fn bench_curvature(
    py: Python<'_>,
    net: PyRef<'_, Net>,
    theta: PyReadonlyArray1<'_, f64>,
    x: PyReadonlyArrayDyn<'_, f64>,
    y: Option<PyReadonlyArrayDyn<'_, f64>>,
    likelihood: &str,
    kind: &str,
    kfac_type: &str,
    repeats: usize,
) -> PyResult<Vec<f64>> {
    let (model, theta, d) = call(&net, likelihood, None, &theta, &x, y.as_ref())?;
    let (dx, dy) = (d.x.get(), d.y.as_ref().map(Columns::get));
    let spec = RouteSpec {
        kind,
        kfac_type,
        kfac_approx: Route::KFAC_APPROX.name(),
        norm_block: Route::NORM_BLOCK.name(),
        mc_samples: Route::MC_SAMPLES,
        seed: 0,
        rank: None,
        randomized: false,
    };
    py.detach(|| -> Result<Vec<f64>, CliError> {
        let mut seconds = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let t = std::time::Instant::now();
            drop(build(&spec, &model, theta, dx, dy)?);
            seconds.push(t.elapsed().as_secs_f64());
        }
        Ok(seconds)
    })
    .map_err(py_err)
}

/// `(loss, gradient)` of the mean negative log-likelihood.
#[pyfunction]
fn loss_and_gradient<'py>(
    py: Python<'py>,
    net: PyRef<'py, Net>,
    theta: PyReadonlyArray1<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    y: PyReadonlyArrayDyn<'py, f64>,
    likelihood: &str,
    sigma: Option<f64>,
) -> PyResult<(f64, Bound<'py, PyArray1<f64>>)> {
    let (model, theta, d) = call(&net, likelihood, sigma, &theta, &x, Some(&y))?;
    let dx = d.x.get();
    let y =
        d.y.as_ref()
            .map(Columns::get)
            .ok_or_else(|| bad("no targets"))?;
    let (loss, g) = py
        .detach(|| mean_nll_gradient(&model, theta, dx, y))
        .map_err(lib_err)?;
    Ok((loss, vector(py, g)))
}

/// One side of a comparison: a fisherlab operator (borrowed), a NumPy matrix (copied into a
/// dense operator), or a user's object whose products are Python calls.
enum Side<'a> {
    Native(&'a dyn CurvatureOperator),
    Owned(Box<dyn CurvatureOperator>),
    User(UserOperator),
}

impl Side<'_> {
    fn op(&self) -> &dyn CurvatureOperator {
        match self {
            Side::Native(o) => *o,
            Side::Owned(o) => o.as_ref(),
            Side::User(u) => u,
        }
    }
    /// The same, a user's object with its matrix formed (a dense reference).
    fn densify(self) -> Result<Self, CliError> {
        Ok(match self {
            Side::User(u) => Side::User(u.densify()?),
            other => other,
        })
    }
    fn user(&self) -> Option<&UserOperator> {
        match self {
            Side::User(u) => Some(u),
            _ => None,
        }
    }
}

/// `obj` (called `what` in errors) as an operator of dimension `dim` (the exact side: from its
/// own shape).
fn side<'a>(
    obj: &'a Bound<'_, PyAny>,
    what: &str,
    dim: Option<usize>,
    cg: fisherlab_linalg::CgOptions,
) -> PyResult<Side<'a>> {
    if let Ok(op) = obj.cast::<Operator>() {
        let op: &'a Operator = op.get();
        if let Some(p) = dim.filter(|&p| p != op.op.dim()) {
            return Err(bad(format!(
                "{what} has dimension {}, expected {p} (the exact Fisher's)",
                op.op.dim()
            )));
        }
        return Ok(Side::Native(op.op.as_ref()));
    }
    if let Ok(a) = obj.cast::<PyArray2<f64>>() {
        let a = a.readonly();
        let (r, c) = (a.shape()[0], a.shape()[1]);
        let p = dim.unwrap_or(r);
        if (r, c) != (p, p) {
            return Err(bad(format!(
                "{what}: a NumPy array of shape ({r}, {c}), expected ({p}, {p})"
            )));
        }
        fisherlab_linalg::memory::reserve(
            format!("{what} as a dense {p} × {p} operator"),
            fisherlab_linalg::memory::dense_bytes(p, p),
        )
        .map_err(|e| lib_err(fisherlab_linalg::Error::from(e)))?;
        let v = a.as_array();
        let m = Mat::from_fn(p, p, |i, j| v[[i, j]]);
        let dense = Dense::new(m).map_err(|e| bad(format!("{what}: {e}")))?;
        return Ok(Side::Owned(Box::new(dense)));
    }
    let p = match dim {
        Some(p) => p,
        None => {
            let shape: Option<Vec<usize>> =
                obj.getattr("shape").ok().and_then(|s| s.extract().ok());
            match shape.as_deref() {
                Some([p, q]) if p == q => *p,
                _ => {
                    return Err(bad(format!(
                        "{what}: an object with matvec needs a shape (P, P); it has none"
                    )));
                }
            }
        }
    };
    Ok(Side::User(UserOperator::new(obj, what, p, cg)?))
}

/// What a dense reference says of each metric: exact, and how the approximation's solve and
/// log-determinant were made when it is a user's object.
fn dense_estimators(
    j: &mut serde_json::Map<String, serde_json::Value>,
    user: Option<&UserOperator>,
) {
    use fisherlab_app::compare::ESTIMATED;
    let made = "by Cholesky of its matrix formed from its products";
    for key in ESTIMATED {
        let mut estimator = "exact: the dense reference".to_string();
        if let Some(u) = user {
            if key.starts_with("ngd") {
                estimator += &if u.has_solve() {
                    "; (A + λI)⁻¹g by the approximation's solve".to_string()
                } else {
                    format!("; (A + λI)⁻¹g {made} (the approximation has no solve)")
                };
            }
            if key == "logdet_difference" {
                estimator += &if u.has_logdet() {
                    "; ln det(A + λI) by the approximation's logdet".to_string()
                } else {
                    format!("; ln det(A + λI) {made} (the approximation has no logdet)")
                };
            }
        }
        j.insert(format!("{key}_uncertainty"), 0.0.into());
        j.insert(format!("{key}_estimator"), estimator.into());
        j.insert(format!("{key}_products"), 0.into());
        j.insert(format!("{key}_failure"), serde_json::Value::Null);
    }
}

/// What a matrix-free reference made of a user's object beyond its products: the CG of its
/// solves, the quadrature of its log-determinant.
fn free_estimators(j: &mut serde_json::Map<String, serde_json::Value>, u: &UserOperator) {
    let append = |j: &mut serde_json::Map<String, serde_json::Value>, key: &str, note: &str| {
        let k = format!("{key}_estimator");
        if let Some(serde_json::Value::String(e)) = j.get_mut(&k) {
            e.push_str(note);
        }
    };
    if !u.has_solve() {
        let (solves, iterations, residual) = u.cg_summary();
        let note = format!(
            "; (A + λI)⁻¹g by CG on A + λI from its products (the approximation has no solve: {solves} solve, {iterations} iterations, relative residual {residual:.1e})"
        );
        append(j, "ngd_cosine", &note);
        append(j, "ngd_rel_error", &note);
    }
    if !u.has_logdet() {
        append(
            j,
            "logdet_difference",
            " (the approximation has no logdet: stochastic Lanczos quadrature on its products)",
        );
    }
}

/// Every metric of `fisherlab compare` for `approx` against `exact` (each a fisherlab operator,
/// a P × P NumPy array, or an object with `matvec`): the metrics' dict as JSON text (with
/// uncertainty, estimator, products and failure of each), and the two spectra.
#[pyfunction]
#[pyo3(signature = (approx, exact, gradient, damping, reference, random_directions, seed, spectrum, probes, slq_probes, slq_steps, krylov_steps))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn compare<'py>(
    py: Python<'py>,
    approx: &Bound<'py, PyAny>,
    exact: &Bound<'py, PyAny>,
    gradient: Option<PyReadonlyArray1<'py, f64>>,
    damping: f64,
    reference: &str,
    random_directions: usize,
    seed: u64,
    spectrum: Option<usize>,
    probes: usize,
    slq_probes: usize,
    slq_steps: usize,
    krylov_steps: usize,
) -> PyResult<(String, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    use fisherlab_app::compare::{Metrics, Probes, ReferenceArg};
    use fisherlab_fisher::metrics::{MatrixFreeReference, Reference};
    let reference = ReferenceArg::from_name(reference).map_err(py_err)?;
    let probes = Probes {
        probes,
        slq_probes,
        slq_steps,
        krylov_steps,
    };
    probes.check().map_err(py_err)?;
    fisherlab_app::checks::positive(&[("damping", Some(damping))]).map_err(py_err)?;
    let gradient = gradient
        .map(|g| g.as_slice().map(<[f64]>::to_vec))
        .transpose()
        .map_err(|e| bad(format!("gradient: {e}")))?;
    // a user's solves by CG on A + λI: tighter than the reference's own (its products are
    // cheap next to the exact ones), bounded by the same iteration count
    let cg = fisherlab_linalg::CgOptions {
        tol: 1e-10,
        max_iter: krylov_steps,
        truncated: true,
    };
    let exact = side(exact, "exact", None, cg)?;
    let p = exact.op().dim();
    let approx = side(approx, "approx", Some(p), cg)?;
    let dense = match reference {
        ReferenceArg::Dense => true,
        ReferenceArg::MatrixFree => false,
        ReferenceArg::Auto => exact.op().as_dense().is_some(),
    };
    if !dense && spectrum.is_none() {
        return Err(bad(
            "spectrum=None is invalid with a matrix-free reference: give a count (Lanczos)",
        ));
    }
    let (mut j, spectra) = py
        .detach(|| -> Result<_, CliError> {
            if dense {
                let (exact, approx) = (exact.densify()?, approx.densify()?);
                let opts = fisherlab_fisher::metrics::CompareOptions {
                    lambda: damping,
                    gradient,
                    random_directions,
                    seed,
                    spectrum,
                };
                let c = Reference::new(exact.op(), &opts)?.compare(approx.op())?;
                let spectra = (c.spectrum_exact.clone(), c.spectrum_approx.clone());
                let count = c.quad_ratio_random.count;
                let mut j = Metrics::json(Some(&Metrics::Dense(c)), false);
                j.insert("quad_ratio_random_count".into(), count.into());
                dense_estimators(&mut j, approx.user());
                j.insert("reference".into(), "dense".into());
                j.insert(
                    "approximation_products".into(),
                    approx.user().map(UserOperator::products).into(),
                );
                Ok((j, spectra))
            } else {
                let opts = probes.options(
                    damping,
                    gradient,
                    random_directions,
                    seed,
                    spectrum.unwrap_or(1).min(p),
                );
                let c = MatrixFreeReference::new(exact.op(), &opts)?.compare(approx.op())?;
                let spectra = (c.spectrum_exact.clone(), c.spectrum_approx.clone());
                let failure = c.spectrum_failure.clone();
                let count = c.quad_ratio_random.count;
                let mut j = Metrics::json(Some(&Metrics::Free(Box::new(c))), true);
                j.insert("quad_ratio_random_count".into(), count.into());
                if let Some(u) = approx.user() {
                    free_estimators(&mut j, u);
                }
                j.insert("reference".into(), "matrix-free".into());
                j.insert("spectrum_exact_failure".into(), failure.into());
                j.insert(
                    "approximation_products".into(),
                    approx.user().map(UserOperator::products).into(),
                );
                Ok((j, spectra))
            }
        })
        .map_err(py_err)?;
    j.insert("damping".into(), damping.into());
    Ok((
        serde_json::Value::Object(j).to_string(),
        vector(py, spectra.0),
        vector(py, spectra.1),
    ))
}

/// The optimizer options of keyword arguments, each by its name (`lr=0.1`, `kfac_type="type2"`,
/// `auto_lr=True`); `None` leaves an option at its default.
fn optimizer_options(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<OptimizerOptions> {
    let mut options = OptimizerOptions::default();
    for (key, value) in kwargs.into_iter().flat_map(|d| d.iter()) {
        let name: String = key.extract()?;
        if value.is_none() {
            continue;
        }
        let setting = if let Ok(b) = value.cast::<pyo3::types::PyBool>() {
            Setting::Flag(b.is_true())
        } else if let Ok(n) = value.extract::<u64>() {
            Setting::Count(n)
        } else if let Ok(x) = value.extract::<f64>() {
            Setting::Number(x)
        } else if let Ok(t) = value.extract::<String>() {
            Setting::Text(t)
        } else {
            return Err(bad(format!(
                "{name}: {} is not a number, a name or True/False",
                value.repr()?
            )));
        };
        options.set(&name, setting).map_err(py_err)?;
    }
    Ok(options)
}

/// A user's preconditioner from Python: `(solve, update or None, statistics, name)`, where
/// `statistics(step, loss, gradient, theta, X, y, seed)` makes the object `update` sees.
type UserPreconditioner = (Py<PyAny>, Option<Py<PyAny>>, Py<PyAny>, String);

/// Train `net` from `theta` with one optimizer — a registry name, or with `preconditioner` a
/// user's inside the natural-gradient skeleton: (records as JSON lines, final or last good
/// parameters, error line or None, the optimizer's settings as JSON). A callback that raised
/// or returned a bad value is a `ValueError`, not a failed run.
#[pyfunction]
#[pyo3(signature = (net, theta, x, y, likelihood, sigma, optimizer, options, steps, batch, seed, eval_every, preconditioner=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn train<'py>(
    py: Python<'py>,
    net: PyRef<'py, Net>,
    theta: PyReadonlyArray1<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    y: PyReadonlyArrayDyn<'py, f64>,
    likelihood: &str,
    sigma: Option<f64>,
    optimizer: &str,
    options: Option<&Bound<'py, PyDict>>,
    steps: usize,
    batch: usize,
    seed: u64,
    eval_every: Option<usize>,
    preconditioner: Option<UserPreconditioner>,
) -> PyResult<(
    Vec<String>,
    Bound<'py, PyArray1<f64>>,
    Option<String>,
    String,
)> {
    let (model, theta, d) = call(&net, likelihood, sigma, &theta, &x, Some(&y))?;
    let dx = d.x.get();
    let y =
        d.y.as_ref()
            .map(Columns::get)
            .ok_or_else(|| bad("no targets"))?;
    let which = match &preconditioner {
        None => Some(OptimizerArg::from_name(optimizer).map_err(py_err)?),
        Some(_) => None,
    };
    let options = optimizer_options(options)?;
    options.check().map_err(py_err)?;
    fisherlab_fisher::curvature::Problem::new(&model, theta, dx)
        .and_then(|p| p.with_targets(y))
        .map_err(lib_err)?;
    let opts = TrainOptions {
        steps,
        batch,
        seed,
        eval_every,
    };
    let name = match &preconditioner {
        Some((_, _, _, n)) => n.clone(),
        None => optimizer.to_string(),
    };
    let user = preconditioner
        .map(|(solve, update, stats, n)| PyPreconditioner::new(solve, update, stats, &n));
    let (records, theta, error, settings) = py
        .detach(|| -> Result<_, CliError> {
            // built on the worker: an optimizer need not be Send
            let mut opt = match (which, user) {
                (Some(which), _) => options.build(which)?,
                (None, Some(user)) => options.natural(user)?,
                (None, None) => unreachable!("a name or a preconditioner"),
            };
            let settings = fisherlab_app::provenance::settings(&opt.settings());
            Ok(
                match train_loop(&model, theta, dx, y, opt.as_mut(), &opts, |_| {}) {
                    Ok(run) => (run.records, run.theta, None, settings),
                    Err(f) if f.error.is_input() => return Err(f.error.into()),
                    Err(f) => {
                        let msg = f.to_string();
                        (f.records, f.theta, Some(msg), settings)
                    }
                },
            )
        })
        .map_err(py_err)?;
    let lines = records
        .iter()
        .map(|r| record_json(&name, r).to_string())
        .collect();
    Ok((lines, vector(py, theta), error, settings.to_string()))
}

/// The labels called `labels` (`mc`: `mc_samples` per input, seeded by `seed`).
fn labels_of(
    labels: &str,
    mc_samples: usize,
    seed: u64,
) -> PyResult<fisherlab_fisher::curvature::Labels> {
    fisherlab_fisher::curvature::Labels::from_name(labels, mc_samples, seed).map_err(lib_err)
}

/// A problem on the worker: the model at θ on the inputs, with the targets where given.
fn problem_of<'a>(
    model: &'a Model,
    theta: &'a [f64],
    d: &'a Data<'a>,
) -> Result<fisherlab_fisher::curvature::Problem<'a>, CliError> {
    let p = fisherlab_fisher::curvature::Problem::new(model, theta, d.x.get())?;
    Ok(match &d.y {
        Some(y) => p.with_targets(y.get())?,
        None => p,
    })
}

/// A column-major (rows × inner) matrix as a C-order NumPy array of shape
/// (rows / outer, outer, inner)… generally: `m`'s rows in order, reshaped to `shape`.
fn c_order<'py>(
    py: Python<'py>,
    m: MatRef<'_, f64>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let (r, c) = (m.nrows(), m.ncols());
    let mut v = Vec::with_capacity(r * c);
    for i in 0..r {
        v.extend(m.row(i).iter().copied());
    }
    Ok(PyArray1::from_vec(py, v).reshape(shape)?.into_any())
}

/// The output Jacobian (N, C, P) of the network at θ.
#[pyfunction]
fn jacobian<'py>(
    py: Python<'py>,
    net: PyRef<'py, Net>,
    theta: PyReadonlyArray1<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Bound<'py, PyAny>> {
    // the head plays no part in J: any will do
    let (model, theta, d) = call(&net, "categorical", None, &theta, &x, None)?;
    let n = d.x.get().nrows();
    let c = model.net().output_dim();
    let j = py
        .detach(|| -> Result<_, CliError> { Ok(problem_of(&model, theta, &d)?.output_jacobian()?) })
        .map_err(py_err)?;
    c_order(py, j.as_ref(), &[n, c, model.num_params()])
}

/// The head's output Fisher at every input (N, C, C).
#[pyfunction]
#[pyo3(signature = (net, theta, x, likelihood, sigma))]
fn output_fisher<'py>(
    py: Python<'py>,
    net: PyRef<'py, Net>,
    theta: PyReadonlyArray1<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    likelihood: &str,
    sigma: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let (model, theta, d) = call(&net, likelihood, sigma, &theta, &x, None)?;
    let c = model.net().output_dim();
    let fs = py
        .detach(|| -> Result<_, CliError> { Ok(problem_of(&model, theta, &d)?.output_fishers()?) })
        .map_err(py_err)?;
    let mut v = Vec::with_capacity(fs.len() * c * c);
    for f in &fs {
        for i in 0..c {
            v.extend(f.row(i).iter().copied());
        }
    }
    Ok(PyArray1::from_vec(py, v)
        .reshape([fs.len(), c, c])?
        .into_any())
}

/// Per-sample gradient rows (M, P) whose Gram divided by N is the Fisher of `labels`.
#[pyfunction]
#[pyo3(signature = (net, theta, x, y, likelihood, sigma, labels, mc_samples, seed))]
#[allow(clippy::too_many_arguments)]
fn per_sample_gradients<'py>(
    py: Python<'py>,
    net: PyRef<'py, Net>,
    theta: PyReadonlyArray1<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    y: Option<PyReadonlyArrayDyn<'py, f64>>,
    likelihood: &str,
    sigma: Option<f64>,
    labels: &str,
    mc_samples: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (model, theta, d) = call(&net, likelihood, sigma, &theta, &x, y.as_ref())?;
    let labels = labels_of(labels, mc_samples, seed)?;
    let rows = py
        .detach(|| -> Result<_, CliError> {
            Ok(problem_of(&model, theta, &d)?.per_sample_gradients(labels)?)
        })
        .map_err(py_err)?;
    owned2(py, rows)
}

/// One parameterised layer as Python sees it: its name, its range of θ, its locations, its
/// kind, and `order[i]`, the position within its range of folded index i (`o·(I + bias) + c`,
/// the index of `G ⊗ A`).
type LayerInfo = (String, usize, usize, usize, &'static str, Vec<usize>);

fn layers_of(net: &Network) -> Vec<LayerInfo> {
    let tensors = net.param_tensors();
    net.taps()
        .iter()
        .map(|t| {
            let r = t.range();
            let name = tensors
                .iter()
                .find(|(_, _, o)| *o == r.start)
                .map(|(n, _, _)| {
                    n.rsplit_once('.')
                        .map_or(n.as_str(), |(l, _)| l)
                        .to_string()
                })
                .unwrap_or_default();
            let (kind, order) = if t.is_scale_shift() {
                ("scale-shift", (0..t.num_params()).collect())
            } else {
                let order = (0..t.out())
                    .flat_map(|o| (0..t.folded_inp()).map(move |c| t.public_index(o, c) - r.start))
                    .collect();
                ("kronecker", order)
            };
            (name, r.start, r.end, t.locations(), kind, order)
        })
        .collect()
}

/// Per layer: its [`LayerInfo`] and its gradients (M, O, I + bias).
#[pyfunction]
#[pyo3(signature = (net, theta, x, y, likelihood, sigma, labels, mc_samples, seed))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn layer_gradients<'py>(
    py: Python<'py>,
    net: PyRef<'py, Net>,
    theta: PyReadonlyArray1<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    y: Option<PyReadonlyArrayDyn<'py, f64>>,
    likelihood: &str,
    sigma: Option<f64>,
    labels: &str,
    mc_samples: usize,
    seed: u64,
) -> PyResult<Vec<(LayerInfo, Bound<'py, PyAny>)>> {
    let (model, theta, d) = call(&net, likelihood, sigma, &theta, &x, y.as_ref())?;
    let labels = labels_of(labels, mc_samples, seed)?;
    let grads = py
        .detach(|| -> Result<_, CliError> {
            Ok(problem_of(&model, theta, &d)?.layer_gradients(labels)?)
        })
        .map_err(py_err)?;
    let taps = model.net().taps();
    layers_of(model.net())
        .into_iter()
        .zip(grads)
        .zip(taps)
        .map(|((info, g), t)| {
            let shape = [g.nrows(), t.out(), t.folded_inp()];
            Ok((info, c_order(py, g.as_ref(), &shape)?))
        })
        .collect()
}

/// Per layer: its [`LayerInfo`] and its K-FAC factors `A`, `G`.
#[pyfunction]
#[pyo3(signature = (net, theta, x, y, likelihood, sigma, kfac_type, kfac_approx, norm_block, mc_samples, seed))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn kfac_factors<'py>(
    py: Python<'py>,
    net: PyRef<'py, Net>,
    theta: PyReadonlyArray1<'py, f64>,
    x: PyReadonlyArrayDyn<'py, f64>,
    y: Option<PyReadonlyArrayDyn<'py, f64>>,
    likelihood: &str,
    sigma: Option<f64>,
    kfac_type: &str,
    kfac_approx: &str,
    norm_block: &str,
    mc_samples: usize,
    seed: u64,
) -> PyResult<
    Vec<(
        LayerInfo,
        Bound<'py, PyArray2<f64>>,
        Bound<'py, PyArray2<f64>>,
    )>,
> {
    use fisherlab_app::routes::{KfacApproxArg, NormBlockArg};
    let (model, theta, d) = call(&net, likelihood, sigma, &theta, &x, y.as_ref())?;
    let labels = labels_of(kfac_type, mc_samples, seed)?;
    let kfac = fisherlab_fisher::curvature::Kfac::new(labels)
        .with_approx(
            KfacApproxArg::from_name(kfac_approx)
                .map_err(py_err)?
                .into(),
        )
        .with_norm_block(NormBlockArg::from_name(norm_block).map_err(py_err)?.into());
    let factors = py
        .detach(|| -> Result<_, CliError> { Ok(kfac.factors(&problem_of(&model, theta, &d)?)?) })
        .map_err(py_err)?;
    layers_of(model.net())
        .into_iter()
        .zip(factors)
        .map(|(info, f)| Ok((info, owned2(py, f.a)?, owned2(py, f.g)?)))
        .collect()
}

/// The Rust core of `fisherlab`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    fisherlab_app::init();
    m.add("NumericalError", m.py().get_type::<NumericalError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Net>()?;
    m.add_class::<Operator>()?;
    m.add_class::<Owned>()?;
    m.add_function(wrap_pyfunction!(families, m)?)?;
    m.add_function(wrap_pyfunction!(datasets, m)?)?;
    m.add_function(wrap_pyfunction!(approximations, m)?)?;
    m.add_function(wrap_pyfunction!(dataset, m)?)?;
    m.add_function(wrap_pyfunction!(fim, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(point, m)?)?;
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    m.add_function(wrap_pyfunction!(provenance, m)?)?;
    m.add_function(wrap_pyfunction!(set_memory_budget, m)?)?;
    m.add_function(wrap_pyfunction!(curvature, m)?)?;
    m.add_function(wrap_pyfunction!(loss_and_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(bench_curvature, m)?)?;
    m.add_function(wrap_pyfunction!(jacobian, m)?)?;
    m.add_function(wrap_pyfunction!(output_fisher, m)?)?;
    m.add_function(wrap_pyfunction!(per_sample_gradients, m)?)?;
    m.add_function(wrap_pyfunction!(layer_gradients, m)?)?;
    m.add_function(wrap_pyfunction!(kfac_factors, m)?)?;
    Ok(())
}
