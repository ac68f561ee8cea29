"""Times the Python peers on the CIFAR-sized CNN of `benches/cnn.rs` — the same network, N = 128
inputs of 3 x 32 x 32, categorical head (CrossEntropyLoss, mean), float64, 2 threads:

- one mean-loss gradient (loss.backward());
- BackPACK: KFAC (one MC sample), KFLR (type-2), DiagGGNExact, DiagGGNMC;
- curvlinops: KFACLinearOperator MC (one sample) and type-2, expand, factors only.

Run with the peers' virtual environment (`../shared/tools/peers-venv.sh`), on an otherwise idle
machine, right after `cargo bench --bench cnn`:
    python benches/peers/cnn_peers.py
Each figure is the median of `REPEATS` runs after one warm-up.
"""
import statistics
import time

import torch
from backpack import backpack, extend
from backpack.extensions import KFAC, KFLR, DiagGGNExact, DiagGGNMC
from curvlinops import KFACLinearOperator
from torch import nn

torch.set_num_threads(2)
torch.set_default_dtype(torch.float64)
REPEATS = 5


def cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 10),
    )


torch.manual_seed(0)
model = cnn()
assert sum(p.numel() for p in model.parameters()) == 89_578
x = torch.randn(128, 3, 32, 32)
y = torch.randint(0, 10, (128,))
loss_fn = nn.CrossEntropyLoss()


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


bp_model, bp_loss = extend(cnn()), extend(nn.CrossEntropyLoss())
bp_model.load_state_dict(model.state_dict())


def backpack_with(ext):
    def run():
        bp_model.zero_grad()
        loss = bp_loss(bp_model(x), y)
        with backpack(ext):
            loss.backward()
    return run


def curvlinops(fisher_type):
    def run():
        kfac = KFACLinearOperator(
            model, loss_fn, list(model.parameters()), [(x, y)],
            fisher_type=fisher_type, mc_samples=1, kfac_approx="expand",
            separate_weight_and_bias=False, check_deterministic=False,
        )
        kfac.compute_kronecker_factors()
    return run


rows = [
    ("gradient", timed(gradient)),
    ("backpack KFAC (MC, 1 sample)", timed(backpack_with(KFAC(mc_samples=1)))),
    ("backpack KFLR (type-2)", timed(backpack_with(KFLR()))),
    ("backpack DiagGGNExact", timed(backpack_with(DiagGGNExact()))),
    ("backpack DiagGGNMC", timed(backpack_with(DiagGGNMC(mc_samples=1)))),
    ("curvlinops K-FAC MC", timed(curvlinops("mc"))),
    ("curvlinops K-FAC type-2", timed(curvlinops("type-2"))),
]
print(f"torch {torch.__version__}, float64, {torch.get_num_threads()} threads, N = 128")
for name, s in rows:
    print(f"{name:32s} {s:8.3f} s")
