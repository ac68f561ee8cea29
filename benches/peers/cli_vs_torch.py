"""The command line against PyTorch's GEMM form of the exact Fisher, end to end, in one run.

The reference MLP 64-64-64-10 (tanh, P = 8 970) on N = 1 000 inputs with a categorical head,
float64, 2 threads, at PyTorch's default initialisation (written to safetensors so that both
compute at the same weights):

- fisherlab: `fisherlab curvature --kind exact --out F.npy` as a user runs it (wall clock of the
  whole process: loading, checks, the Kronecker fast path, writing), and the same with `--json`,
  which also reports the seconds of the build, the write and the summary;
- PyTorch: per-sample Jacobians by `torch.func` (vmap of jacrev), then
  F = (1/N) (AᵀA − BᵀB) with the rows of A the `√p_c J_nc` and the rows of B the `Σ_c p_c J_nc`,
  and `numpy.save` of F (the GEMM form, P²·N·C multiply-adds).

The two matrices are compared (relative max difference) before the times are printed.

Run with the peers' virtual environment, after `cargo build --release -p fisherlab-cli`:
    python benches/peers/cli_vs_torch.py [path/to/fisherlab]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.func import functional_call, jacrev, vmap

torch.set_num_threads(2)
torch.set_default_dtype(torch.float64)
binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/fisherlab"

torch.manual_seed(0)
model = nn.Sequential(
    nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10)
)
assert sum(p.numel() for p in model.parameters()) == 8_970
x = torch.randn(1000, 64)
y = torch.randint(0, 10, (1000,))

work = tempfile.mkdtemp(prefix="fisherlab-cli-vs-torch-")
paths = {k: os.path.join(work, k) for k in ["w.safetensors", "x.npy", "y.npy", "F.npy", "T.npy"]}
save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, paths["w.safetensors"])
np.save(paths["x.npy"], x.numpy())
np.save(paths["y.npy"], y.numpy().astype(np.int64))
args = [
    binary, "curvature", "--arch", "64,64,64,10", "--weights", paths["w.safetensors"],
    "--inputs", paths["x.npy"], "--targets", paths["y.npy"], "--likelihood", "categorical",
    "--kind", "exact", "--out", paths["F.npy"],
]
env = dict(os.environ, RAYON_NUM_THREADS="2")


def wall(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return time.perf_counter() - t, out


ours, _ = wall(args)
ours_json, text = wall(args + ["--json"])
report = json.loads(text)


def torch_gemm_form():
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(f), in_dims=(None, 0))(params, x)  # name -> (N, C, *shape)
    j = torch.cat([jac[k].reshape(x.shape[0], 10, -1) for k in params], dim=2)  # (N, C, P)
    p = torch.softmax(model(x), dim=1).detach()
    a = (p.sqrt().unsqueeze(2) * j).reshape(-1, j.shape[2])
    b = torch.einsum("nc,ncp->np", p, j)
    fisher = (a.T @ a - b.T @ b) / x.shape[0]
    np.save(paths["T.npy"], fisher.numpy())


t = time.perf_counter()
torch_gemm_form()
theirs = time.perf_counter() - t

mine, ref = np.load(paths["F.npy"]), np.load(paths["T.npy"])
err = np.abs(mine - ref).max() / np.abs(ref).max()
print(f"torch {torch.__version__}, float64, 2 threads; MLP 64-64-64-10, P = 8970, N = 1000")
print(f"max relative difference of the two matrices: {err:.1e}")
print(f"fisherlab curvature --kind exact --out      {ours:7.2f} s wall")
print(f"  with --json: {ours_json:.2f} s wall; build {report['seconds']:.2f} s, "
      f"write {report['write_seconds']:.2f} s, summary {report['summary_seconds']:.2f} s")
print(f"PyTorch GEMM form (torch.func + AᵀA − BᵀB)   {theirs:7.2f} s")
print(f"ratio (PyTorch / fisherlab, wall): {theirs / ours:.1f}x")
for k in paths.values():
    os.remove(k)
os.rmdir(work)
