"""What calling fisherlab through Python costs over the Rust library, measured in one process.

For the reference MLP (64-64-64-10, P = 8 970, N = 1 000, categorical) exact Fisher and the
CIFAR-sized CNN's K-FAC (P = 89 578, N = 128, 3 × 32 × 32 inputs, type-2 and Monte-Carlo
factors), each repetition times the same build twice, alternating: once as a Python call
(`Model.curvature`, from NumPy arrays to an operator) and once inside Rust (the problem and the
operator built by the library, `_native.bench_curvature`); the medians and their ratio are
printed. Then the dense P × P result of the exact route is handed to NumPy: the time of
`to_dense()` and whether it shares the operator's memory.

    python crates/python/bench/bench.py [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np

import fisherlab
from fisherlab import _native

CIFAR_CNN = """Sequential(
  (0): Conv2d(3, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Conv2d(32, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (4): ReLU()
  (5): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (6): Conv2d(32, 64, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (7): ReLU()
  (8): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (9): Flatten(start_dim=1, end_dim=-1)
  (10): Linear(in_features=1024, out_features=10, bias=True)
)"""


def noise(rows, cols, seed):
    """The benches' deterministic noise in [-0.5, 0.5)."""
    i = np.arange(rows, dtype=np.int64)[:, None]
    j = np.arange(cols, dtype=np.int64)[None, :]
    return ((i * 7919 + j * 104_729 + seed * 1_299_709) % 10_007) / 10_007.0 - 0.5


def measure(name, model, x, y, kind, kfac_type, repeats):
    net, theta = model._for(x)
    yy = fisherlab._targets(y)
    model.curvature(x, y, likelihood="categorical", kind=kind, kfac_type=kfac_type)  # warm up
    python, rust = [], []
    for _ in range(repeats):
        rust += _native.bench_curvature(net, theta, x, yy, "categorical", kind, kfac_type, 1)
        t = time.perf_counter()
        op = model.curvature(x, y, likelihood="categorical", kind=kind, kfac_type=kfac_type)
        python.append(time.perf_counter() - t)
        del op
    p, r = statistics.median(python), statistics.median(rust)
    print(f"{name:42} Rust {r * 1e3:9.2f} ms   Python {p * 1e3:9.2f} ms   "
          f"Python / Rust {p / r:.4f}   (median of {repeats}; min {min(python) / min(rust):.4f})")
    return p / r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    mlp = fisherlab.Model.mlp([64, 64, 64, 10])
    theta = noise(mlp.num_params, 1, 1)[:, 0] * 0.3
    mlp = mlp.with_parameters(theta)
    x = noise(1000, 64, 2) * 2.0
    y = np.arange(1000) % 10
    measure("MLP 64-64-64-10 exact Fisher, N = 1000", mlp, x, y, "exact", "type2", args.repeats)

    cnn = fisherlab.Model.from_text(CIFAR_CNN, input_shape=(3, 32, 32))
    xc = (noise(128, 3 * 32 * 32, 2) * 2.0).reshape(128, 3, 32, 32)
    yc = np.arange(128) % 10
    measure("CIFAR CNN K-FAC type-2, N = 128", cnn, xc, yc, "kfac", "type2", args.repeats)
    measure("CIFAR CNN K-FAC Monte Carlo, N = 128", cnn, xc, yc, "kfac", "mc", args.repeats)

    exact = mlp.curvature(x, likelihood="categorical", kind="exact")
    t = time.perf_counter()
    F = exact.to_dense()
    dt = time.perf_counter() - t
    print(f"dense {F.shape[0]} x {F.shape[1]} to NumPy: {dt * 1e6:.1f} µs, "
          f"shares the operator's memory: {np.shares_memory(F, exact.to_dense())}")


if __name__ == "__main__":
    main()
