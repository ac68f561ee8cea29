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
use fisherlab_fisher::metrics::{CompareOptions, compare as compare_metrics};
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

fn bad(msg: impl Into<String>) -> PyErr {
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

/// Every metric of `fisherlab compare` for `approx` against `exact`, as a dict.
#[pyfunction]
#[pyo3(signature = (approx, exact, gradient, damping, random_directions, seed, spectrum))]
#[allow(clippy::too_many_arguments)]
fn compare<'py>(
    py: Python<'py>,
    approx: &Operator,
    exact: &Operator,
    gradient: Option<PyReadonlyArray1<'py, f64>>,
    damping: f64,
    random_directions: usize,
    seed: u64,
    spectrum: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let gradient = gradient
        .map(|g| g.as_slice().map(<[f64]>::to_vec))
        .transpose()
        .map_err(|e| bad(format!("gradient: {e}")))?;
    let opts = CompareOptions {
        lambda: damping,
        gradient,
        random_directions,
        seed,
        spectrum,
    };
    let c = py
        .detach(|| compare_metrics(exact.op.as_ref(), approx.op.as_ref(), &opts))
        .map_err(lib_err)?;
    let d = PyDict::new(py);
    d.set_item("damping", damping)?;
    d.set_item("rel_frobenius", c.rel_frobenius)?;
    d.set_item("rel_spectral", c.rel_spectral)?;
    d.set_item("ngd_cosine", c.ngd_cosine)?;
    d.set_item("ngd_rel_error", c.ngd_rel_error)?;
    d.set_item("quad_ratio_gradient", c.quad_ratio_gradient)?;
    let r = PyDict::new(py);
    r.set_item("mean", c.quad_ratio_random.mean)?;
    r.set_item("min", c.quad_ratio_random.min)?;
    r.set_item("max", c.quad_ratio_random.max)?;
    r.set_item("count", c.quad_ratio_random.count)?;
    d.set_item("quad_ratio_random", r)?;
    d.set_item("logdet_difference", c.logdet_difference)?;
    d.set_item("spectrum_exact", vector(py, c.spectrum_exact))?;
    d.set_item("spectrum_approx", vector(py, c.spectrum_approx))?;
    Ok(d)
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

/// Train `net` from `theta` with one optimizer: (records as JSON lines, final or last good
/// parameters, error line or None, the optimizer's settings as JSON).
#[pyfunction]
#[pyo3(signature = (net, theta, x, y, likelihood, sigma, optimizer, options, steps, batch, seed, eval_every))]
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
    let which = OptimizerArg::from_name(optimizer).map_err(py_err)?;
    let options = optimizer_options(options)?;
    // checked here, built again on the worker: an optimizer need not be Send
    let settings =
        fisherlab_app::provenance::settings(&options.build(which).map_err(py_err)?.settings());
    fisherlab_fisher::curvature::Problem::new(&model, theta, dx)
        .and_then(|p| p.with_targets(y))
        .map_err(lib_err)?;
    let opts = TrainOptions {
        steps,
        batch,
        seed,
        eval_every,
    };
    let name = optimizer.to_string();
    let (records, theta, error) = py
        .detach(|| -> Result<_, CliError> {
            let mut opt = options.build(which)?;
            Ok(
                match train_loop(&model, theta, dx, y, opt.as_mut(), &opts, |_| {}) {
                    Ok(run) => (run.records, run.theta, None),
                    Err(f) => {
                        let msg = f.to_string();
                        (f.records, f.theta, Some(msg))
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
    Ok(())
}
