"""Type stubs of the Rust core of fisherlab (use the ``fisherlab`` module, not this one)."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

class NumericalError(Exception):
    """A computation that failed numerically (non-convergence, not positive definite, not
    normalisable, non-finite)."""

class Net:
    def __init__(self, text: str, input_shape: Sequence[int]) -> None: ...
    @property
    def num_params(self) -> int: ...
    @property
    def input_shape(self) -> List[int]: ...
    def param_tensors(self) -> List[Tuple[str, List[int], int]]: ...
    def buffers(self) -> List[Tuple[str, npt.NDArray[np.float64]]]: ...
    def load(self, tensors: Dict[str, npt.NDArray[Any]]) -> npt.NDArray[np.float64]: ...
    def load_file(self, path: str) -> npt.NDArray[np.float64]: ...
    def default_init(self, seed: int) -> npt.NDArray[np.float64]: ...

class Operator:
    @property
    def name(self) -> str: ...
    @property
    def structure(self) -> str: ...
    @property
    def dim(self) -> int: ...
    def matmul(self, v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def dense(self) -> npt.NDArray[np.float64]: ...
    def diagonal(self) -> npt.NDArray[np.float64]: ...
    def trace(self) -> float: ...
    def frobenius_norm(self) -> float: ...
    def logdet(self, damping: float) -> float: ...
    def solve(self, v: npt.NDArray[np.float64], damping: float) -> npt.NDArray[np.float64]: ...
    def eigenvalues(self) -> npt.NDArray[np.float64]: ...
    def top_eigenvalues(self, k: int) -> npt.NDArray[np.float64]: ...

class Owned:
    """The owner of a Rust matrix handed to NumPy (an array's ``base``)."""

def families() -> str: ...
def datasets() -> str: ...
def approximations() -> str: ...
def dataset(name: str) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], List[int]]: ...
def defaults() -> str: ...
def fim(
    family: str,
    values: List[Tuple[str, float]],
    parameterization: str,
    method: str,
    samples: int,
    seed: int,
    form: str,
    tol: float,
) -> Dict[str, Any]: ...
def verify(
    logpdf: str,
    var: str,
    support: str,
    params: List[str],
    claim: Optional[str],
    exp_family: Optional[str],
    at: List[List[Tuple[str, float]]],
    random: Optional[int],
    seed: int,
    range: List[Tuple[str, float, float]],
    method: str,
    samples: int,
    tol: float,
    z_tol: float,
    latex: bool,
) -> Tuple[bool, str, str, Optional[str]]: ...
def point(text: str) -> List[Tuple[str, float]]: ...
def provenance(what: str, options: str) -> str: ...
def set_memory_budget(bytes: Optional[int] = None) -> None: ...
def curvature(
    net: Net,
    theta: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    y: Optional[npt.NDArray[np.float64]],
    likelihood: str,
    sigma: Optional[float],
    kind: str,
    kfac_type: str,
    kfac_approx: str,
    norm_block: str,
    mc_samples: int,
    seed: int,
    rank: Optional[int],
    randomized: bool,
) -> Operator: ...
def loss_and_gradient(
    net: Net,
    theta: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    likelihood: str,
    sigma: Optional[float],
) -> Tuple[float, npt.NDArray[np.float64]]: ...
def compare(
    approx: Operator,
    exact: Operator,
    gradient: Optional[npt.NDArray[np.float64]],
    damping: float,
    random_directions: int,
    seed: int,
    spectrum: Optional[int],
) -> Dict[str, Any]: ...
def train(
    net: Net,
    theta: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    likelihood: str,
    sigma: Optional[float],
    optimizer: str,
    options: Dict[str, Any],
    steps: int,
    batch: int,
    seed: int,
    eval_every: Optional[int],
) -> Tuple[List[str], npt.NDArray[np.float64], Optional[str], str]: ...
