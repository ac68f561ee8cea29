"""Times the Python peers on the transformer-style block stack of `benches/transformer.rs` — the
same network (two pre-norm residual blocks of LayerNorm, Linear(64, 256), GELU, Linear(256, 64)
shared over 16 positions, the mean over them, Linear(64, 10)), N = 256 sequences of 16 x 64,
categorical head (CrossEntropyLoss, mean), float64, 2 threads:

- one mean-loss gradient (loss.backward());
- curvlinops: KFACLinearOperator MC (one sample) and type-2, expand and reduce, factors only.
  curvlinops has no K-FAC rule for LayerNorm, so it is given the Linear layers' parameters only
  (fisherlab's figures include the LayerNorm blocks); BackPACK has no LayerNorm support at all.

Run with the peers' virtual environment (`../shared/tools/peers-venv.sh`), on an otherwise idle
machine, right after `cargo bench --bench transformer`:
    python benches/peers/transformer_peers.py
Each figure is the median of `REPEATS` runs after one warm-up.
"""
import statistics
import time

import torch
from curvlinops import KFACLinearOperator
from torch import nn

torch.set_num_threads(2)
torch.set_default_dtype(torch.float64)
REPEATS = 5


class Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class MeanPool(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.mean(self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


def block():
    return Residual(nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64)))


torch.manual_seed(0)
model = nn.Sequential(block(), block(), MeanPool(1), nn.Linear(64, 10))
assert sum(p.numel() for p in model.parameters()) == 67_082
x = torch.randn(256, 16, 64)
y = torch.randint(0, 10, (256,))
loss_fn = nn.CrossEntropyLoss()
linear_params = [p for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters()]


def timed(f):
    f()
    runs = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def gradient():
    model.zero_grad()
    loss_fn(model(x), y).backward()


def curvlinops(fisher_type, approx):
    def run():
        kfac = KFACLinearOperator(
            model, loss_fn, linear_params, [(x, y)],
            fisher_type=fisher_type, mc_samples=1, kfac_approx=approx,
            separate_weight_and_bias=False, check_deterministic=False,
        )
        kfac.compute_kronecker_factors()
    return run


rows = [("gradient", timed(gradient))]
for approx in ["expand", "reduce"]:
    rows.append((f"curvlinops K-FAC MC {approx}", timed(curvlinops("mc", approx))))
    rows.append((f"curvlinops K-FAC type-2 {approx}", timed(curvlinops("type-2", approx))))
print(f"torch {torch.__version__}, float64, {torch.get_num_threads()} threads, N = 256")
for name, s in rows:
    print(f"{name:36s} {s:8.3f} s")
