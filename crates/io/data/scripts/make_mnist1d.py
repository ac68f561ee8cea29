"""Writes crates/io/data/mnist1d.csv.gz: the canonical MNIST-1D set (Greydanus 2020), generated
offline by the `mnist1d` package with its default arguments (seed 42): 4 000 training then
1 000 test signals of length 40, one row each, the 40 values then the label (0-9).

Run with the peers' virtual environment: python crates/io/data/scripts/make_mnist1d.py
"""
import gzip
import pathlib

import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

args = get_dataset_args()
data = make_dataset(args)
x = np.concatenate([data["x"], data["x_test"]]).astype(np.float64)
y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
assert x.shape == (5000, 40) and y.shape == (5000,), (x.shape, y.shape)
out = pathlib.Path(__file__).resolve().parents[1] / "mnist1d.csv.gz"
with gzip.GzipFile(out, "wb", mtime=0) as f:
    for row, label in zip(x, y):
        f.write((",".join(repr(float(v)) for v in row) + f",{int(label)}\n").encode())
print(out, x.shape, "seed", args.seed, "classes", np.bincount(y[:4000]).tolist())
