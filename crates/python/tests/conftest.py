"""Shared fixtures: the repository, the `fisherlab` command line built from it, and the PyTorch
reference fixtures committed for the layers (written by PyTorch and curvlinops, not fisherlab)."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "crates" / "cli" / "tests" / "fixtures"


@pytest.fixture(scope="session")
def cli():
    """The command line of this checkout (FISHERLAB_CLI, else target/release/fisherlab, built
    when missing), to compare the package's results with, bit for bit."""
    path = os.environ.get("FISHERLAB_CLI")
    if path:
        return Path(path)
    path = ROOT / "target" / "release" / "fisherlab"
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "fisherlab-cli"], cwd=ROOT, check=True)
    return path


@pytest.fixture(scope="session")
def run_cli(cli):
    def run(*args, check=True):
        out = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True)
        if check and out.returncode != 0:
            raise AssertionError(f"fisherlab {' '.join(map(str, args))}: {out.stderr}")
        return out

    return run


def fixture(name):
    """(model text, state dict from the safetensors file, x, y, exact Fisher by torch.func)."""
    text = (FIXTURES / f"{name}.txt").read_text()
    state = read_safetensors(FIXTURES / f"{name}.safetensors")
    x = np.load(FIXTURES / f"{name}_x.npy")
    y = np.load(FIXTURES / f"{name}_y.npy")
    fisher = np.load(FIXTURES / f"{name}_fisher.npy")
    return text, state, x, y, fisher


def read_safetensors(path):
    """A safetensors file as name → array (the format: 8-byte header length, JSON header, data),
    read without the safetensors package."""
    import json

    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    kinds = {"F64": np.float64, "F32": np.float32, "I64": np.int64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=kinds[t["dtype"]]).reshape(t["shape"])
    return out
