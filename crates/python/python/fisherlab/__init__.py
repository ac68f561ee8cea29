"""fisherlab: Fisher information matrices and natural gradients, each verified against an
independent reference.

The Rust core of the ``fisherlab`` command line, from Python: NumPy arrays in and out, PyTorch
``nn.Sequential`` models in one call, curvature operators with ``@`` and a SciPy
``LinearOperator`` view. Every computation releases the GIL. Bad input raises ``ValueError``, a
numerical failure :class:`NumericalError`, each with the command line's one-line message.

>>> import fisherlab
>>> F = fisherlab.fim("normal", mu=0.0, sigma=2.0)
>>> F.matrix.tolist()
[[0.25, 0.0], [0.0, 0.5]]

Arrays: float64 data in Fortran (column-major) order, the library's own layout, is read in
place; other layouts are reordered once, so that every result has the same bits as the command
line's whatever the layout; other dtypes (float32, integer labels) are converted to float64,
which copies. Dense results (``to_dense()``, ``@``, ``solve``) are NumPy arrays over Rust-owned
memory, handed over without a copy.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import NumericalError

__version__ = _native.__version__

__all__ = [
    "NumericalError",
    "FisherResult",
    "VerifyReport",
    "Model",
    "CurvatureOperator",
    "TrainResult",
    "Preconditioner",
    "StepStatistics",
    "families",
    "datasets",
    "approximations",
    "load_dataset",
    "fim",
    "verify",
    "compare",
    "train",
    "set_memory_budget",
]


def _float(v: Any) -> float:
    """A number as a float64 (``True`` is not a number), handed to the core as it is: no
    text in between, so Python and the command line see the same bits."""
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{v!r} is not a number")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{v!r} is not a number") from None


#: Every default of the core, by keyword: the command line's own (``fisherlab fim --help``).
_DEFAULTS: Dict[str, Dict[str, Any]] = json.loads(_native.defaults())
_FIM = _DEFAULTS["fim"]
_VERIFY = _DEFAULTS["verify"]
_ROUTE = _DEFAULTS["curvature"]
_TRAIN = _DEFAULTS["train"]
_COMPARE = _DEFAULTS["compare"]


def families() -> List[Dict[str, Any]]:
    """Every family: its name, coordinates, fixed parameters, parameterizations and an example
    point (as ``fisherlab families --json``)."""
    return json.loads(_native.families())


def datasets() -> List[Dict[str, Any]]:
    """The embedded datasets (as ``fisherlab datasets --json``)."""
    return json.loads(_native.datasets())


def approximations() -> Dict[str, List[Dict[str, Any]]]:
    """The one registry of approximations: ``"kinds"``, each ``kind=`` of
    :meth:`Model.curvature` (``name``, ``about``, where its ``labels`` come from, the
    ``options`` that qualify it), and ``"catalogue"``, the entries ``fisherlab compare`` reports
    (``name``, ``about``, ``kind``, ``command_line``, ``scales``, ``shared_layers_only``)."""
    return json.loads(_native.approximations())


def load_dataset(name: str) -> Tuple[np.ndarray, np.ndarray]:
    """An embedded dataset as ``(X, y)``: ``X`` of shape ``(N, *shape)`` in the dataset's
    natural per-sample shape (``(N, 1, 8, 8)`` for the digits images), ``y`` of shape ``(N,)``
    for one target column (labels as float64) or ``(N, C)``."""
    x, y, shape = _native.dataset(name)
    x = x.reshape((x.shape[0], *shape), order="C") if len(shape) > 1 else x
    return x, (y[:, 0] if y.shape[1] == 1 else y)


def set_memory_budget(nbytes: Optional[int] = None) -> None:
    """Refuse, before allocating, any route that would hold more than ``nbytes`` (``None``: the
    memory available), as the command line's ``--max-memory`` does."""
    _native.set_memory_budget(nbytes)


class FisherResult:
    """The Fisher information of one family at one point, by one method."""

    def __init__(self, family: str, parameterization: str, parameters: List[str],
                 values: Dict[str, float], method: str, matrix: np.ndarray,
                 std_error: Optional[np.ndarray]):
        self.family = family
        self.parameterization = parameterization
        #: The coordinate names: the rows and columns of :attr:`matrix`.
        self.parameters = parameters
        #: Every parameter value (coordinates and fixed parameters).
        self.values = values
        #: ``analytic``, ``quadrature``, ``monte-carlo (score)`` or ``monte-carlo (hessian)``.
        self.method = method
        #: The matrix, for one observation.
        self.matrix = matrix
        #: Per-entry standard error (Monte Carlo only), else ``None``.
        self.std_error = std_error

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:g}" for k, v in self.values.items())
        return (f"FisherResult({self.family}({vals}), {self.parameterization}, "
                f"{self.method}, parameters={self.parameters})")


def fim(family: str, *, parameterization: str = _FIM["parameterization"],
        method: str = _FIM["method"], samples: int = _FIM["samples"], seed: int = _FIM["seed"],
        form: str = _FIM["form"], tol: float = _FIM["tol"], **params: float) -> Union[FisherResult, List[FisherResult]]:
    """The Fisher information matrix of a distribution, for one observation.

    ``family`` and the parameters are named as ``fisherlab families`` lists them (fixed ones such
    as Student's ``df`` among them): ``fim("gamma", shape=2.5, rate=1.5)``. ``method`` is
    ``analytic`` (closed form), ``quadrature`` (exact expectation), ``monte-carlo`` (with
    standard errors; ``form="hessian"`` for −E[∇² log p]) or ``all``, which returns a list (the
    closed form first).
    """
    values = [(name, _float(value)) for name, value in params.items()]
    out = _native.fim(family, values, parameterization, method, int(samples), int(seed), form,
                      _float(tol))
    values = dict(out["values"])
    results = [FisherResult(out["family"], out["parameterization"], list(out["parameters"]),
                            values, m, matrix, se) for m, matrix, se in out["estimates"]]
    return results if method == "all" else results[0]


class VerifyReport:
    """The verdict on a claimed Fisher matrix: printable as the command line prints it."""

    def __init__(self, passed: bool, text: str, report: Dict[str, Any], failure: Optional[str]):
        #: Whether every entry at every point agreed with the claim.
        self.passed = passed
        #: The report as ``fisherlab verify`` prints it.
        self.text = text
        #: The report as ``fisherlab verify --json`` prints it.
        self.report = report
        #: The one-line reason of a failure (``None`` when it passed).
        self.failure = failure

    @property
    def points(self) -> List[Dict[str, Any]]:
        """One entry per point: its parameters and the per-entry verdicts."""
        return self.report["points"]

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else f"failed: {self.failure}"
        return f"VerifyReport({verdict})"


def _point(at: Union[str, Mapping[str, float]]) -> List[Tuple[str, float]]:
    if isinstance(at, str):
        return _native.point(at)
    return [(k, _float(v)) for k, v in at.items()]


def verify(logpdf: str, *, support: str, params: Union[str, Sequence[str]],
           claim: Optional[str] = None, exp_family: Optional[str] = None,
           at: Union[None, str, Mapping[str, float], Sequence[Mapping[str, float]]] = None,
           random: Optional[int] = None, seed: int = _VERIFY["seed"],
           range: Optional[Mapping[str, Tuple[float, float]]] = None,
           method: str = _VERIFY["method"], samples: int = _VERIFY["samples"],
           tol: float = _VERIFY["tol"], z_tol: float = _VERIFY["z_tol"],
           var: str = _VERIFY["var"], latex: bool = False) -> VerifyReport:
    """Check a hand-derived Fisher matrix of a log-density written as text, entry by entry,
    against exact expectation (or Monte Carlo), as ``fisherlab verify`` does.

    ``at`` is one point (``{"mu": 0.3, "sigma": 2.0}``) or a list of them; ``random`` draws that
    many points from ``range`` (``{"sigma": (0.5, 3.0)}``, default (0.5, 3) per parameter). A
    wrong claim is a report with ``passed == False``, not an exception.
    """
    names = [p.strip() for p in params.split(",")] if isinstance(params, str) else list(params)
    points = [] if at is None else ([at] if isinstance(at, (str, Mapping)) else list(at))
    ranges = [(name, _float(lo), _float(hi)) for name, (lo, hi) in (range or {}).items()]
    passed, text, report, failure = _native.verify(
        logpdf, var, support, names, claim, exp_family, [_point(p) for p in points],
        None if random is None else int(random), int(seed), ranges, method, int(samples),
        _float(tol), _float(z_tol), bool(latex))
    return VerifyReport(passed, text, json.loads(report), failure)


def _inputs(x: Any) -> np.ndarray:
    """Inputs as float64, read in place where the layout allows."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        x = x.astype(np.float64)
    if x.ndim > 2 and not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if x.ndim < 2:
        raise ValueError(f"X: shape {x.shape} has no sample axis: give (N, features…)")
    return x


def _targets(y: Any) -> np.ndarray:
    """Targets as an N × C float64 matrix (labels, counts or values), read in place where the
    layout allows."""
    y = np.asarray(y)
    if y.dtype != np.float64:
        y = y.astype(np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"y: shape {y.shape} must be (N,) or (N, C)")
    return y


class Model:
    """A network (PyTorch's ``print(model)`` of an ``nn.Sequential``) with its weights, in
    PyTorch's parameter order.

    Build one with :meth:`from_text`, :meth:`from_torch` or :meth:`mlp`. The per-sample input
    shape comes from ``input_shape`` or from the data of the first call (``X.shape[1:]``).
    """

    def __init__(self, text: str, weights: Union[None, str, os.PathLike, Mapping[str, Any]] = None,
                 input_shape: Optional[Sequence[int]] = None, init_seed: int = 0):
        self.text = text
        self._weights = weights
        self._init_seed = int(init_seed)
        self._nets: Dict[Tuple[int, ...], Tuple[Any, np.ndarray]] = {}
        self.input_shape: Optional[Tuple[int, ...]] = None
        if input_shape is not None:
            self.input_shape = tuple(int(d) for d in input_shape)
            self._bind(self.input_shape)

    @classmethod
    def from_text(cls, text: str, weights: Union[None, str, os.PathLike, Mapping[str, Any]] = None,
                  input_shape: Optional[Sequence[int]] = None, init_seed: int = 0) -> "Model":
        """A model from the text PyTorch's ``print(model)`` writes, with ``weights`` as a dict of
        arrays named as its ``state_dict`` (float64 or float32) or a safetensors path; without
        weights, PyTorch's default initialisation seeded by ``init_seed``."""
        return cls(text, weights, input_shape, init_seed)

    @classmethod
    def from_torch(cls, module: Any, input_shape: Optional[Sequence[int]] = None) -> "Model":
        """A model from a PyTorch ``nn.Sequential``: its printed text and its ``state_dict``
        (parameters and BatchNorm statistics, as float64). Modules fisherlab does not support
        raise the command line's ``ValueError``."""
        import torch  # optional dependency, needed here only

        state = {k: v.detach().cpu().to(torch.float64).numpy()
                 for k, v in module.state_dict().items() if v.is_floating_point()}
        return cls(str(module), state, input_shape)

    @classmethod
    def mlp(cls, widths: Sequence[int], activation: str = "tanh", init_seed: int = 0) -> "Model":
        """The MLP of the command line's ``--arch`` (``widths`` input first) with ``activation``
        between its Linear layers, initialised as PyTorch does, seeded by ``init_seed``."""
        names = {"identity": "Identity()", "tanh": "Tanh()", "relu": "ReLU()",
                 "sigmoid": "Sigmoid()", "softplus": "Softplus(beta=1.0, threshold=20.0)",
                 "gelu": "GELU(approximate='none')", "silu": "SiLU()",
                 "leaky_relu": "LeakyReLU(negative_slope=0.01)"}
        if activation not in names:
            raise ValueError(f"unknown activation `{activation}`: one of {', '.join(names)}")
        widths = [int(w) for w in widths]
        if len(widths) < 2:
            raise ValueError(f"widths {widths}: give at least the input and output widths")
        layers, k = [], 0
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(f"  ({k}): Linear(in_features={a}, out_features={b}, bias=True)")
            k += 1
            if i < len(widths) - 2:
                layers.append(f"  ({k}): {names[activation]}")
                k += 1
        return cls("Sequential(\n" + "\n".join(layers) + "\n)", None, (widths[0],), init_seed)

    def _bind(self, shape: Tuple[int, ...]) -> Tuple[Any, np.ndarray]:
        """The network for inputs of ``shape`` and the parameter vector."""
        if shape not in self._nets:
            net = _native.Net(self.text, list(shape))
            w = self._weights
            if w is None:
                theta = net.default_init(self._init_seed)
            elif isinstance(w, (str, os.PathLike)):
                theta = net.load_file(os.fspath(w))
            else:
                theta = net.load({k: _weight(k, v) for k, v in w.items()})
            theta.flags.writeable = False
            self._nets[shape] = (net, theta)
        return self._nets[shape]

    def _for(self, x: np.ndarray) -> Tuple[Any, np.ndarray]:
        if self.input_shape is not None:
            return self._bind(self.input_shape)
        return self._bind(tuple(x.shape[1:]))

    def _net(self) -> Tuple[Any, np.ndarray]:
        if self.input_shape is None and not self._nets:
            raise ValueError("the input shape is not known yet: give input_shape, or call with data first")
        return self._bind(self.input_shape) if self.input_shape else next(iter(self._nets.values()))

    @property
    def parameters(self) -> np.ndarray:
        """θ, flat, in PyTorch's ``parameters_to_vector`` order (read-only)."""
        return self._net()[1]

    @property
    def num_params(self) -> int:
        return int(self._net()[0].num_params)

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Every parameter tensor (views of :attr:`parameters`) and buffer, by ``state_dict``
        name."""
        net, theta = self._net()
        out = {name: theta[o:o + int(np.prod(shape))].reshape(shape)
               for name, shape, o in net.param_tensors()}
        out.update(dict(net.buffers()))
        return out

    def with_parameters(self, theta: Any) -> "Model":
        """The same network with parameters ``theta`` (and the same buffers)."""
        theta = np.asarray(theta, dtype=np.float64)
        net, _ = self._net()
        state = self.state_dict()
        for name, shape, o in net.param_tensors():
            state[name] = theta[o:o + int(np.prod(shape))].reshape(shape)
        return Model(self.text, state, self.input_shape or tuple(net.input_shape))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        shape = self.input_shape or (tuple(self._net()[0].input_shape) if self._nets else None)
        return f"Model(input_shape={shape}, text={self.text!r})"

    def curvature(self, X: Any, y: Any = None, *, likelihood: str, kind: str = "exact",
                  kfac_type: str = _ROUTE["kfac_type"], kfac_approx: str = _ROUTE["kfac_approx"],
                  norm_block: str = _ROUTE["norm_block"], damping: float = 1e-3,
                  mc_samples: int = _ROUTE["mc_samples"],
                  seed: int = 0, rank: Optional[int] = None, randomized: bool = False,
                  sigma: Optional[float] = None) -> "CurvatureOperator":
        """The Fisher of this model with a ``likelihood`` head (``gaussian``, ``bernoulli``,
        ``categorical``, ``poisson``) on ``X`` (and targets ``y`` where the route needs them), as
        ``fisherlab curvature --kind KIND`` computes it: ``hessian`` or a kind of
        :func:`approximations` (``exact``, ``mc``, ``empirical``, ``matrix-free``, ``diag``,
        ``block-diag``, ``kfac``, ``ekfac``, ``low-rank``, ``layer-isotropic``). ``kfac_type``
        (``type2``, ``mc``, ``empirical``) chooses the labels of the structured ones,
        ``kfac_approx`` (``expand``, ``reduce``) K-FAC for shared layers. ``damping`` is the λ
        that :meth:`CurvatureOperator.solve` and :meth:`CurvatureOperator.logdet` use by
        default.
        """
        x = _inputs(X)
        net, theta = self._for(x)
        yy = None if y is None else _targets(y)
        op = _native.curvature(net, theta, x, yy, likelihood, sigma, kind, kfac_type,
                               kfac_approx, norm_block, int(mc_samples), int(seed),
                               None if rank is None else int(rank), bool(randomized))
        return CurvatureOperator(op, damping)

    def loss_and_gradient(self, X: Any, y: Any, *, likelihood: str,
                          sigma: Optional[float] = None) -> Tuple[float, np.ndarray]:
        """The mean negative log-likelihood and its gradient in θ."""
        x = _inputs(X)
        net, theta = self._for(x)
        return _native.loss_and_gradient(net, theta, x, _targets(y), likelihood, sigma)

    def jacobian(self, X: Any) -> np.ndarray:
        """The output Jacobian ``J[n, c, p] = ∂z_c(x_n)/∂θ_p`` (N, C, P), θ in PyTorch's
        ``parameters()`` order (one backward pass per output; refused beyond the memory budget
        before allocating)."""
        x = _inputs(X)
        net, theta = self._for(x)
        return _native.jacobian(net, theta, x)

    def output_fisher(self, X: Any, *, likelihood: str,
                      sigma: Optional[float] = None) -> np.ndarray:
        """The head's Fisher in output space at every input, ``F_z(z_n)`` (N, C, C), in closed
        form: the Fisher is the mean over inputs of ``J_nᵀ F_z(z_n) J_n``."""
        x = _inputs(X)
        net, theta = self._for(x)
        return _native.output_fisher(net, theta, x, likelihood, sigma)

    def per_sample_gradients(self, X: Any, y: Any = None, *, likelihood: str,
                             labels: str = _ROUTE["kfac_type"], mc_samples: int = 1,
                             seed: int = 0, sigma: Optional[float] = None) -> np.ndarray:
        """Per-sample gradient rows (M, P) whose Gram matrix divided by N is the Fisher of
        ``labels``: ``type2`` C rows per input, ``L_nᵀ J_n`` with ``F_z = L Lᵀ`` (the exact
        Fisher); ``mc`` ``mc_samples`` rows per input, the gradients of the negative
        log-likelihood at labels drawn from the model (seeded by ``seed``, as ``kind="mc"``),
        times ``1/√mc_samples``; ``empirical`` one row per input, the gradient of the negative
        log-likelihood at ``y`` (their mean is the loss gradient). Row ``n·K + k`` is input n's
        k-th."""
        x = _inputs(X)
        net, theta = self._for(x)
        yy = None if y is None else _targets(y)
        return _native.per_sample_gradients(net, theta, x, yy, likelihood, sigma, labels,
                                            int(mc_samples), int(seed))

    def layer_gradients(self, X: Any, y: Any = None, *, likelihood: str,
                        labels: str = _ROUTE["kfac_type"], mc_samples: int = 1, seed: int = 0,
                        sigma: Optional[float] = None) -> List[Dict[str, Any]]:
        """Per parameterised layer, the per-sample gradient matrices of ``labels`` (scaled as
        :meth:`per_sample_gradients`) in the folded layout of its Kronecker factors: a dict with
        ``name``, ``params`` (its slice of θ), ``locations`` (positions sharing the weights),
        ``kind`` (``kronecker``, or ``scale-shift`` for a normalisation layer), ``order`` (as
        :meth:`kfac_factors`) and ``gradients`` (M, d_out, d_in + 1): ``G_m = Σ_r g_mr ā_mrᵀ``
        summed over the locations, the bias as the last column. For a normalisation layer
        ``G_m`` is the column (P_layer, 1) of its scale and shift."""
        x = _inputs(X)
        net, theta = self._for(x)
        yy = None if y is None else _targets(y)
        return [dict(_layer(info), gradients=g) for info, g in _native.layer_gradients(
            net, theta, x, yy, likelihood, sigma, labels, int(mc_samples), int(seed))]

    def kfac_factors(self, X: Any, y: Any = None, *, likelihood: str,
                     kfac_type: str = _ROUTE["kfac_type"],
                     kfac_approx: str = _ROUTE["kfac_approx"],
                     norm_block: str = _ROUTE["norm_block"], mc_samples: int = 1, seed: int = 0,
                     sigma: Optional[float] = None) -> List[Dict[str, Any]]:
        """The K-FAC factors of every parameterised layer, as ``kind="kfac"`` builds them: a
        dict with ``name``, ``params`` (its slice of θ), ``A`` (input factor, the bias folded
        as its last row and column), ``G`` (output-gradient factor), ``locations``, ``kind`` and
        ``order``: ``order[i]`` is the position within ``params`` of index i of ``kron(G, A)``,
        so that ``block[np.ix_(order, order)] = np.kron(G, A)`` is the layer's block of
        ``kind="kfac"`` in ``parameters()`` order. A normalisation layer's scale and shift has
        ``A = [[1]]`` and ``G`` its exact block (``norm_block="dense"``) or diagonal."""
        x = _inputs(X)
        net, theta = self._for(x)
        yy = None if y is None else _targets(y)
        return [dict(_layer(info), A=A, G=G) for info, A, G in _native.kfac_factors(
            net, theta, x, yy, likelihood, sigma, kfac_type, kfac_approx, norm_block,
            int(mc_samples), int(seed))]


def _layer(info: Tuple[str, int, int, int, str, List[int]]) -> Dict[str, Any]:
    """A parameterised layer's description: name, slice of θ, locations, kind, order."""
    name, start, stop, locations, kind, order = info
    return {"name": name, "params": slice(start, stop), "locations": locations, "kind": kind,
            "order": np.asarray(order, dtype=np.intp)}


def _weight(name: str, v: Any) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype not in (np.float64, np.float32):
        a = a.astype(np.float64)
    return np.ascontiguousarray(a)


class CurvatureOperator:
    """A P × P curvature matrix as an operator: ``F @ v``, ``F.solve(v)``, ``F.to_dense()``, …,
    in PyTorch's parameter order. Structured approximations (diagonal, K-FAC, EKFAC, low rank)
    never form the P × P matrix unless :meth:`to_dense` is called."""

    def __init__(self, op: Any, damping: float = 1e-3):
        self._op = op
        #: The λ that :meth:`solve` and :meth:`logdet` use when none is given.
        self.damping = float(damping)

    @property
    def shape(self) -> Tuple[int, int]:
        return (self._op.dim, self._op.dim)

    dtype = np.dtype(np.float64)
    # NumPy defers `v @ F` to __rmatmul__ instead of treating F as an object array
    __array_ufunc__ = None

    @property
    def name(self) -> str:
        """The route that built it (``kfac``, ``exact``, …)."""
        return self._op.name

    @property
    def structure(self) -> str:
        """How it is stored (``dense``, ``kronecker``, ``diagonal``, …)."""
        return self._op.structure

    def __repr__(self) -> str:
        return f"CurvatureOperator({self.name}, {self.structure}, shape={self.shape})"

    def __matmul__(self, v: Any) -> np.ndarray:
        v = np.asarray(v)
        if v.dtype != np.float64:
            v = v.astype(np.float64)
        return self._op.matmul(v)

    def __rmatmul__(self, v: Any) -> np.ndarray:
        # vᵀ F = (F v)ᵀ: the operator is symmetric
        v = np.asarray(v, dtype=np.float64)
        return (self @ v.T).T

    def to_dense(self) -> np.ndarray:
        """The P × P matrix (read-only): the operator's own storage for a dense route, no copy."""
        a = self._op.dense()
        a.flags.writeable = False
        return a

    def diagonal(self) -> np.ndarray:
        return self._op.diagonal()

    def trace(self) -> float:
        return self._op.trace()

    def frobenius_norm(self) -> float:
        return self._op.frobenius_norm()

    def logdet(self, damping: Optional[float] = None) -> float:
        """ln det(F + λI)."""
        return self._op.logdet(self.damping if damping is None else float(damping))

    def solve(self, v: Any, damping: Optional[float] = None) -> np.ndarray:
        """(F + λI)⁻¹ v for a vector or a P × k matrix."""
        v = np.asarray(v)
        if v.dtype != np.float64:
            v = v.astype(np.float64)
        return self._op.solve(v, self.damping if damping is None else float(damping))

    def eigenvalues(self, k: Optional[int] = None) -> np.ndarray:
        """Every eigenvalue, ascending; or with ``k``, the k largest, descending."""
        return self._op.eigenvalues() if k is None else self._op.top_eigenvalues(int(k))

    def to_scipy(self) -> Any:
        """A ``scipy.sparse.linalg.LinearOperator`` over this operator (scipy needed here
        only)."""
        from scipy.sparse.linalg import LinearOperator

        return LinearOperator(self.shape, matvec=lambda v: self @ np.ravel(v),
                              matmat=lambda m: self @ m, rmatvec=lambda v: self @ np.ravel(v),
                              rmatmat=lambda m: self @ m, dtype=np.float64)


def _operand(a: Any) -> Any:
    """What the core compares: a fisherlab operator's own, a NumPy matrix as float64, any other
    object (a scipy ``LinearOperator``, an object with ``matvec``) as it is."""
    if isinstance(a, CurvatureOperator):
        return a._op
    if isinstance(a, np.ndarray):
        if a.ndim != 2:
            raise ValueError(f"a NumPy approximation must be P × P, not of shape {a.shape}")
        return np.asarray(a, dtype=np.float64)
    return a


def compare(approx: Any, exact: Any, gradient: Any = None, damping: float = 1e-3, *,
            reference: str = _COMPARE["reference"], random_directions: int = 16, seed: int = 0,
            spectrum: Optional[int] = 100, probes: int = _COMPARE["probes"],
            slq_probes: int = _COMPARE["slq_probes"], slq_steps: int = _COMPARE["slq_steps"],
            krylov_steps: int = _COMPARE["krylov_steps"]) -> Dict[str, Any]:
    """Every metric ``fisherlab compare`` reports for ``approx`` against ``exact``.

    ``approx`` is any approximation: a :class:`CurvatureOperator`, a dense P × P NumPy array,
    a ``scipy.sparse.linalg.LinearOperator``, or any object with ``matvec(v)`` and optionally
    ``matmat(V)``, ``solve(v, damping)`` (``(A + λI)⁻¹ v``), ``logdet(damping)``
    (``ln det(A + λI)``) and ``diagonal()``. ``exact`` is a :class:`CurvatureOperator` (dense,
    ``kind="exact"``, or matrix-free, ``kind="matrix-free"``), or one of the same.

    ``reference``: ``dense`` measures against the exact matrix (every metric exact; an object
    without a solve or log-determinant gets them from its matrix, formed from P products),
    ``matrix-free`` from exact products only (each metric estimated, with its uncertainty;
    an object without a solve gets CG on ``A + λI``, without a log-determinant stochastic
    Lanczos quadrature), ``auto`` dense when ``exact`` is stored dense. ``probes``,
    ``slq_probes``, ``slq_steps`` and ``krylov_steps`` are the matrix-free reference's, as
    ``compare --probes`` … on the command line.

    The result has every metric under the command line's keys (``rel_frobenius``,
    ``rel_spectral``, ``ngd_cosine``, ``ngd_rel_error``, ``quad_ratio_gradient``,
    ``quad_ratio_random_mean``/``_min``/``_max``, ``logdet_difference``), each estimated one with
    ``<metric>_uncertainty`` (a standard error or bound; 0 when exact), ``<metric>_estimator``
    (how it was made, and what was made from products because the object lacks it),
    ``<metric>_products`` and ``<metric>_failure``; ``reference``, ``damping``,
    ``approximation_products`` (products with a user's object), and the two spectra
    (``spectrum_exact``, ``spectrum_approx``: the ``spectrum`` largest eigenvalues, ascending).
    A callback that raises or returns a bad value raises ``ValueError`` naming it.
    """
    g = None if gradient is None else np.ascontiguousarray(gradient, dtype=np.float64)
    text, s_exact, s_approx = _native.compare(
        _operand(approx), _operand(exact), g, _float(damping), reference,
        int(random_directions), int(seed), None if spectrum is None else int(spectrum),
        int(probes), int(slq_probes), int(slq_steps), int(krylov_steps))
    out = json.loads(text)
    out["spectrum_exact"] = s_exact
    out["spectrum_approx"] = s_approx
    out["quad_ratio_random"] = {k: out[f"quad_ratio_random_{k}"]
                                for k in ("mean", "min", "max", "count")}
    return out


class StepStatistics:
    """What a :class:`Preconditioner`'s ``update`` sees at one training step: the step number,
    the mini-batch (``X``, ``y``), its mean loss and ``gradient`` at the parameters ``theta``,
    and the statistics of :class:`Model` on that mini-batch at θ, computed when asked for:
    :meth:`per_sample_gradients`, :meth:`layer_gradients`, :meth:`kfac_factors`,
    :meth:`jacobian`, :meth:`output_fisher`. ``seed`` is the step's own stream (Monte-Carlo
    labels drawn from it differ from step to step, as the built-in optimizers' do)."""

    def __init__(self, model: "Model", likelihood: str, sigma: Optional[float], step: int,
                 loss: float, gradient: np.ndarray, theta: np.ndarray, X: np.ndarray,
                 y: np.ndarray, seed: int):
        self.step = step
        self.loss = loss
        self.gradient = gradient
        self.theta = theta
        self.X = X
        self.y = y
        self.seed = seed
        self.likelihood = likelihood
        self.sigma = sigma
        #: The model at θ.
        self.model = model.with_parameters(theta)

    def per_sample_gradients(self, labels: str = _ROUTE["kfac_type"],
                             mc_samples: int = 1) -> np.ndarray:
        return self.model.per_sample_gradients(self.X, self.y, likelihood=self.likelihood,
                                               labels=labels, mc_samples=mc_samples,
                                               seed=self.seed, sigma=self.sigma)

    def layer_gradients(self, labels: str = _ROUTE["kfac_type"],
                        mc_samples: int = 1) -> List[Dict[str, Any]]:
        return self.model.layer_gradients(self.X, self.y, likelihood=self.likelihood,
                                          labels=labels, mc_samples=mc_samples, seed=self.seed,
                                          sigma=self.sigma)

    def kfac_factors(self, kfac_type: str = _ROUTE["kfac_type"],
                     kfac_approx: str = _ROUTE["kfac_approx"],
                     norm_block: str = _ROUTE["norm_block"],
                     mc_samples: int = 1) -> List[Dict[str, Any]]:
        return self.model.kfac_factors(self.X, self.y, likelihood=self.likelihood,
                                       kfac_type=kfac_type, kfac_approx=kfac_approx,
                                       norm_block=norm_block, mc_samples=mc_samples,
                                       seed=self.seed, sigma=self.sigma)

    def jacobian(self) -> np.ndarray:
        return self.model.jacobian(self.X)

    def output_fisher(self) -> np.ndarray:
        return self.model.output_fisher(self.X, likelihood=self.likelihood, sigma=self.sigma)

    def __repr__(self) -> str:
        return f"StepStatistics(step={self.step}, batch={len(self.X)}, loss={self.loss:.4g})"


class Preconditioner:
    """A natural-gradient optimizer of your own, for :func:`train`: at every step
    ``update(stats)`` (optional) sees the step's :class:`StepStatistics` and keeps whatever
    state it likes, and ``solve(g, damping)`` returns ``d ≈ (C + λI)⁻¹ g`` for the mini-batch
    gradient ``g`` (P,) and the damping λ in effect. The step ``θ ← θ − lr·d`` is taken by the
    same skeleton as the built-in preconditioners: the learning rate, the damping rules
    (``fixed_damping``, ``adaptive_damping``), KL-clipping and the automatic learning rate and
    momentum apply, rejected steps included; records and provenance name it ``name``."""

    def __init__(self, solve: Any, update: Any = None, name: str = "python"):
        if not callable(solve):
            raise ValueError(f"Preconditioner: solve must be callable, not {type(solve).__name__}")
        if update is not None and not callable(update):
            raise ValueError(
                f"Preconditioner: update must be callable or None, not {type(update).__name__}")
        if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
            raise ValueError(f"Preconditioner: name {name!r} must be a non-empty word")
        self.solve = solve
        self.update = update
        self.name = name

    def __repr__(self) -> str:
        return f"Preconditioner({self.name!r})"


#: The options of :func:`train` that a :class:`Preconditioner` takes: the skeleton's own.
_SHARED_OPTIONS = ("lr", "damping", "fixed_damping", "adaptive_damping", "kl_clip", "auto_lr")


class TrainResult:
    """A training run: its per-step records, the trained model, and how it was made."""

    def __init__(self, records: List[Dict[str, Any]], model: Model, error: Optional[str],
                 settings: Dict[str, Any], provenance: Dict[str, Any]):
        #: One dict per step: step, loss (mini-batch, before the step), grad_norm, seconds,
        #: eval_loss (full data, every ``eval_every`` steps), damping, rho, learning_rate,
        #: cg_iterations — the lines of ``train --log``.
        self.records = records
        #: The model with the final parameters (the last good ones if the run failed).
        self.model = model
        #: Why the run stopped early, or ``None``.
        self.error = error
        #: The optimizer's hyper-parameters in effect.
        self.settings = settings
        #: Version, commit, options, threads, CPU: what a citation needs.
        self.provenance = provenance

    @property
    def parameters(self) -> np.ndarray:
        return self.model.parameters

    def __repr__(self) -> str:
        last = self.records[-1]["loss"] if self.records else float("nan")
        return f"TrainResult({len(self.records)} steps, last batch loss {last:.4g}, error={self.error})"


def train(model: Model, X: Any, y: Any, optimizer: Union[str, Preconditioner] = "kfac", *,
          likelihood: str, steps: int = _TRAIN["steps"], batch: int = _TRAIN["batch"],
          seed: int = 0, eval_every: Optional[int] = _TRAIN["eval_every"],
          sigma: Optional[float] = None, **options: Any) -> TrainResult:
    """Train ``model`` on ``(X, y)`` with one optimizer (``sgd``, ``adam``, ``ngd``, ``diag``,
    ``kfac``, ``ekfac``, ``smw``, ``hf``, or a :class:`Preconditioner` of your own), as
    ``fisherlab train`` does: the same seeded mini-batches, defaults and checks. ``options``
    are the hyper-parameters ``train`` takes, by their flag names with underscores
    (``lr=0.1``, ``damping=1e-3``, ``kfac_type="type2"``, ``momentum=0.9``, ``kl_clip=1e-3``,
    ``auto_lr=True``, …); a :class:`Preconditioner` takes the natural-gradient skeleton's
    (``lr``, ``damping``, ``fixed_damping``, ``adaptive_damping``, ``kl_clip``, ``auto_lr``). A
    run that fails part-way numerically returns the records and last good parameters with
    :attr:`TrainResult.error` set; a callback that raises is a ``ValueError``.
    """
    x = _inputs(X)
    yy = _targets(y)
    net, theta = model._for(x)
    user = None
    name = optimizer
    if isinstance(optimizer, Preconditioner):
        other = sorted(k for k, v in options.items() if v is not None and k not in _SHARED_OPTIONS)
        if other:
            raise ValueError(
                f"{other[0]}: not an option of a Preconditioner, whose own state is its own "
                f"(it takes {', '.join(_SHARED_OPTIONS)})")
        shape = tuple(x.shape[1:])

        def statistics(step, loss, gradient, theta, xb, yb, step_seed):
            return StepStatistics(model, likelihood, sigma, step, loss, gradient, theta,
                                  xb.reshape((len(xb),) + shape), yb, step_seed)

        user = (optimizer.solve, optimizer.update, statistics, optimizer.name)
        name = optimizer.name
    elif not isinstance(optimizer, str):
        raise ValueError(
            f"optimizer: a name or a fisherlab.Preconditioner, not {type(optimizer).__name__}")
    lines, theta_out, error, settings = _native.train(
        net, theta, x, yy, likelihood, sigma, name, options, int(steps), int(batch),
        int(seed), None if eval_every is None else int(eval_every), user)
    records = [json.loads(line) for line in lines]
    trained = model.with_parameters(theta_out)
    prov = json.loads(_native.provenance("python train", json.dumps({
        "optimizer": name, "preconditioner": "python" if user else None,
        "likelihood": likelihood, "sigma": sigma, "steps": steps,
        "batch": batch, "seed": seed, "eval_every": eval_every,
        "options": {k: v for k, v in options.items() if v is not None}}, default=float)))
    return TrainResult(records, trained, error, json.loads(settings), prov)
