"""fisherlab.Model, curvature operators, compare and train: against NumPy linear algebra on
the dense matrix, the PyTorch/curvlinops fixtures committed for the layers (torch.func exact
Fishers, curvlinops K-FAC), identities (K-FAC is exact on the diagonal blocks for one input),
the command line bit for bit, and the promises about memory and the GIL."""

import json
import threading
import time

import numpy as np
import pytest

import fisherlab
from conftest import fixture, read_safetensors

DIGITS_CNN = """Sequential(
  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): Linear(in_features=64, out_features=10, bias=True)
)
"""


@pytest.fixture(scope="module")
def small():
    """A 4-6-3 tanh MLP (P = 51) on 5 random inputs with labels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4))
    y = rng.integers(0, 3, 5)
    return fisherlab.Model.mlp([4, 6, 3], init_seed=1), x, y


@pytest.mark.parametrize("name", ["cnn2d", "cnn1d", "resmlp", "bncnn", "seq"])
def test_exact_fisher_matches_torch_func(name):
    text, state, x, y, reference = fixture(name)
    model = fisherlab.Model.from_text(text, state)
    F = model.curvature(x, likelihood="categorical", kind="exact").to_dense()
    scale = np.abs(reference).max()
    assert np.abs(F - reference).max() <= 1e-10 * scale


@pytest.mark.parametrize("name", ["cnn2d", "seq"])
@pytest.mark.parametrize("kfac_type, theirs", [("type2", "type-2"), ("empirical", "empirical")])
@pytest.mark.parametrize("approx", ["expand", "reduce"])
def test_kfac_matches_curvlinops(name, kfac_type, theirs, approx):
    from conftest import FIXTURES

    text, state, x, y, _ = fixture(name)
    reference = np.load(FIXTURES / f"{name}_kfac_{theirs}_{approx}.npy")
    model = fisherlab.Model.from_text(text, state)
    K = model.curvature(x, y, likelihood="categorical", kind="kfac", kfac_type=kfac_type,
                        kfac_approx=approx).to_dense()
    assert np.abs(K - reference).max() <= 1e-10 * np.abs(reference).max()


def test_operator_algebra_agrees_with_numpy_on_the_dense_matrix(small):
    model, x, y = small
    for kind in ["exact", "kfac", "ekfac", "diag", "block-diag", "low-rank"]:
        F = model.curvature(x, y, likelihood="categorical", kind=kind, damping=0.1)
        D = np.array(F.to_dense())
        p = model.num_params
        assert F.shape == (p, p) and D.shape == (p, p)
        rng = np.random.default_rng(1)
        v, V = rng.standard_normal(p), rng.standard_normal((p, 3))
        tol = 1e-12 * max(1.0, np.abs(D).max())
        assert np.abs(F @ v - D @ v).max() < tol, kind
        assert np.abs(F @ V - D @ V).max() < tol, kind
        assert np.abs(v @ F - v @ D).max() < tol, kind
        assert np.abs(np.asfortranarray(V)[:, ::2] @ np.eye(2) - V[:, ::2]).max() == 0
        assert np.abs(F @ np.asfortranarray(V) - D @ V).max() < tol, kind
        lam = 0.1
        A = D + lam * np.eye(p)
        np.testing.assert_allclose(F.solve(v), np.linalg.solve(A, v), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(F.solve(V, damping=0.5), np.linalg.solve(D + 0.5 * np.eye(p), V),
                                   rtol=1e-9, atol=1e-12)
        assert abs(F.logdet() - np.linalg.slogdet(A)[1]) < 1e-9 * p
        if kind != "low-rank":  # low rank + a non-isotropic diagonal: only the top k exactly
            np.testing.assert_allclose(F.eigenvalues(), np.linalg.eigvalsh(D),
                                       atol=1e-12 * np.abs(D).max() * p)
        top = np.sort(np.linalg.eigvalsh(D))[::-1][:4]
        np.testing.assert_allclose(F.eigenvalues(4), top, rtol=1e-8, atol=1e-12)
        assert abs(F.trace() - np.trace(D)) < tol * p
        np.testing.assert_allclose(F.diagonal(), np.diag(D), atol=tol)
        assert abs(F.frobenius_norm() - np.linalg.norm(D)) < 1e-12 * np.linalg.norm(D) * p


def test_scipy_linear_operator(small):
    from scipy.sparse.linalg import cg

    model, x, y = small
    F = model.curvature(x, likelihood="categorical", kind="kfac")
    L = F.to_scipy()
    assert L.shape == F.shape
    b = np.ones(F.shape[0])
    D = F.to_dense() + np.eye(F.shape[0])
    from scipy.sparse.linalg import LinearOperator
    shifted = LinearOperator(L.shape, matvec=lambda v: L @ v + v, dtype=np.float64)
    sol, info = cg(shifted, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(sol, np.linalg.solve(D, b), rtol=1e-8)


def test_kfac_is_exact_on_the_diagonal_blocks_for_one_input(small):
    # for N = 1, type-2 K-FAC's block of a layer is (Σ_k g g^T) ⊗ (a a^T), the exact block
    model, x, _ = small
    exact = model.curvature(x[:1], likelihood="categorical", kind="exact").to_dense()
    kfac = model.curvature(x[:1], likelihood="categorical", kind="kfac").to_dense()
    first = 6 * 4 + 6  # Linear(4, 6): weight then bias
    assert np.abs(exact[:first, :first] - kfac[:first, :first]).max() < 1e-14


def test_every_kind_of_the_registry_is_a_kind_of_curvature(small):
    # the one registry of approximations: each of its kinds is accepted by curvature, and the
    # comparison catalogue's entries are kinds with settings
    model, x, y = small
    reg = fisherlab.approximations()
    names = [k["name"] for k in reg["kinds"]]
    assert {"exact", "kfac", "matrix-free", "layer-isotropic"} <= set(names)
    exact = model.curvature(x, y, likelihood="categorical", kind="exact").to_dense()
    for k in names:
        F = model.curvature(x, y, likelihood="categorical", kind=k, rank=5).to_dense()
        assert F.shape == exact.shape and np.allclose(F, F.T), k
    # independent identities: layer-isotropic keeps each layer's trace (so the total is the
    # exact trace), and the matrix-free operator's products are the exact Fisher's
    iso = model.curvature(x, y, likelihood="categorical", kind="layer-isotropic").to_dense()
    assert abs(np.trace(iso) - np.trace(exact)) < 1e-12 * np.trace(exact)
    mf = model.curvature(x, likelihood="categorical", kind="matrix-free").to_dense()
    assert np.abs(mf - exact).max() < 1e-12 * np.abs(exact).max()
    for e in reg["catalogue"]:
        assert e["kind"] in names and e["command_line"].startswith("--kind " + e["kind"]), e


def test_compare_metrics_agree_with_numpy(small):
    model, x, y = small
    exact = model.curvature(x, likelihood="categorical", kind="exact")
    kfac = model.curvature(x, likelihood="categorical", kind="kfac")
    loss, g = model.loss_and_gradient(x, y, likelihood="categorical")
    lam = 1e-2
    c = fisherlab.compare(kfac, exact, g, lam)
    F, K = exact.to_dense(), kfac.to_dense()
    p = F.shape[0]
    assert abs(c["rel_frobenius"] - np.linalg.norm(K - F) / np.linalg.norm(F)) < 1e-12
    d = np.linalg.solve(F + lam * np.eye(p), g)
    dk = np.linalg.solve(K + lam * np.eye(p), g)
    assert abs(c["ngd_cosine"] - d @ dk / np.linalg.norm(d) / np.linalg.norm(dk)) < 1e-9
    assert abs(c["quad_ratio_gradient"] - (g @ K @ g) / (g @ F @ g)) < 1e-10
    ld = np.linalg.slogdet(K + lam * np.eye(p))[1] - np.linalg.slogdet(F + lam * np.eye(p))[1]
    assert abs(c["logdet_difference"] - ld) < 1e-8
    assert c["quad_ratio_random"]["count"] == 16
    assert len(c["spectrum_exact"]) == len(c["spectrum_approx"]) > 0


def test_gradient_matches_central_differences(small):
    model, x, y = small
    loss, g = model.loss_and_gradient(x, y, likelihood="categorical")
    theta = np.array(model.parameters)
    h = 1e-6
    for k in [0, 7, 30, 50]:
        e = np.zeros_like(theta)
        e[k] = h
        up = model.with_parameters(theta + e).loss_and_gradient(x, y, likelihood="categorical")[0]
        down = model.with_parameters(theta - e).loss_and_gradient(x, y, likelihood="categorical")[0]
        assert abs((up - down) / (2 * h) - g[k]) < 1e-7


def test_dense_results_reach_numpy_without_a_copy(small):
    model, x, y = small
    exact = model.curvature(x, likelihood="categorical", kind="exact")
    a, b = exact.to_dense(), exact.to_dense()
    # a dense route's matrix is the operator's own storage, viewed twice
    assert np.shares_memory(a, b)
    assert type(a.base).__name__ == "Operator" and not a.flags.writeable
    kfac = model.curvature(x, likelihood="categorical", kind="kfac")
    k = kfac.to_dense()
    assert type(k.base).__name__ == "Owned"
    assert type((exact @ np.ones(exact.shape[0])).base).__name__ == "Owned"


def test_inputs_in_any_layout_give_the_same_bits(small):
    model, x, y = small
    for arr in [x, np.asfortranarray(x)]:
        assert fisherlab._inputs(arr) is arr  # float64 reaches Rust as it is (F order: in place)
    assert fisherlab._inputs(x.astype(np.float32)).dtype == np.float64
    wide = np.zeros((5, 8))
    wide[:, ::2] = x
    strided = wide[:, ::2]  # a non-contiguous view
    ref = model.curvature(x, likelihood="categorical", kind="exact").to_dense()
    for arr in [np.asfortranarray(x), strided, np.ascontiguousarray(x)]:
        F = model.curvature(arr, likelihood="categorical", kind="exact").to_dense()
        assert np.array_equal(F, ref)


def test_long_calls_release_the_gil():
    x, y = fisherlab.load_dataset("digits")
    model = fisherlab.Model.mlp([64, 40, 10])
    done = {}

    def work():
        t = time.perf_counter()
        done["F"] = model.curvature(x, likelihood="categorical", kind="exact")
        done["seconds"] = time.perf_counter() - t

    t = threading.Thread(target=work)
    ticks = 0
    t.start()
    while t.is_alive():
        ticks += 1
        time.sleep(0.001)
    t.join()
    # the main thread ran Python code all along: with the GIL held it could not have ticked
    assert done["seconds"] > 0.05
    assert ticks > 0.3 * done["seconds"] / 0.0011


def test_model_errors_are_the_command_lines(tmp_path, run_cli):
    bad = "Sequential(\n  (0): Linear(in_features=64, out_features=10, bias=True)\n  (1): Softmin(dim=1)\n)\n"
    with pytest.raises(ValueError) as e:
        fisherlab.Model.from_text(bad, input_shape=(64,))
    path = tmp_path / "bad.txt"
    path.write_text(bad)
    out = run_cli("curvature", "--model", path, "--dataset", "digits", "--input-shape", "64",
                  "--likelihood", "categorical", "--kind", "diag", "--json", check=False)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: " + str(e.value).replace("model text", f"model file {path}").replace(" (input shape [64])", "")
    model = fisherlab.Model.mlp([4, 3])
    x = np.ones((2, 4))
    with pytest.raises(ValueError, match="unknown likelihood"):
        model.curvature(x, likelihood="categoricl")
    with pytest.raises(ValueError, match="one of exact, mc, empirical"):
        model.curvature(x, likelihood="categorical", kind="kfca")
    with pytest.raises(ValueError, match="needs --targets"):
        model.curvature(x, likelihood="categorical", kind="empirical")
    state = fisherlab.Model.mlp([4, 3]).state_dict()
    del state["0.bias"]
    with pytest.raises(ValueError, match="tensor `0.bias` is missing"):
        fisherlab.Model.from_text(model.text, state, input_shape=(4,))
    with pytest.raises(fisherlab.NumericalError):
        # 15 parameters, one input and 3 classes: F has rank ≤ 2, so F + 0·I is singular
        model.curvature(x[:1], likelihood="categorical", kind="exact").solve(np.ones(15), damping=0.0)


def test_curvature_equals_the_command_line_bit_for_bit(tmp_path, run_cli):
    x, y = fisherlab.load_dataset("digits")
    mlp = fisherlab.Model.mlp([64, 32, 10], init_seed=3)
    cnn_path = tmp_path / "cnn.txt"
    cnn_path.write_text(DIGITS_CNN)
    cnn = fisherlab.Model.from_text(DIGITS_CNN, init_seed=3)
    cases = [
        (mlp, ["--arch", "64,32,10"], dict(kind="exact")),
        (mlp, ["--arch", "64,32,10"], dict(kind="kfac", kfac_type="mc", seed=5)),
        (cnn, ["--model", cnn_path], dict(kind="kfac", kfac_approx="reduce")),
        (cnn, ["--model", cnn_path], dict(kind="ekfac")),
    ]
    for model, net, kw in cases:
        out = tmp_path / "F.npy"
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
        run_cli("curvature", *net, "--init-seed", "3", "--dataset", "digits", "--likelihood",
                "categorical", *flags, "--out", out)
        F = model.curvature(x, y, likelihood="categorical", **kw).to_dense()
        assert np.array_equal(F, np.load(out)), kw


def test_train_decreases_the_loss_and_equals_the_command_line(tmp_path, run_cli):
    x, y = fisherlab.load_dataset("digits")
    model = fisherlab.Model.mlp([64, 32, 10])
    r = fisherlab.train(model, x, y, "kfac", likelihood="categorical", steps=12, batch=64,
                        eval_every=4, damping=1e-2)
    assert r.error is None and len(r.records) == 12
    evals = [rec["eval_loss"] for rec in r.records if rec["eval_loss"] is not None]
    assert evals[-1] < 0.5 * r.records[0]["loss"]
    assert r.settings["lr"] == 0.1 and r.provenance["fisherlab"] == fisherlab.__version__
    assert not np.array_equal(r.parameters, model.parameters)
    log, save = tmp_path / "log.jsonl", tmp_path / "w.safetensors"
    run_cli("train", "--dataset", "digits", "--arch", "64,32,10", "--likelihood", "categorical",
            "--optimizer", "kfac", "--steps", "12", "--batch", "64", "--eval-every", "4",
            "--damping", "0.01", "--quiet", "--log", log, "--save", save)
    lines = [json.loads(l) for l in log.read_text().splitlines()[1:]]
    assert [l["loss"] for l in lines] == [rec["loss"] for rec in r.records]
    assert [l["eval_loss"] for l in lines] == [rec["eval_loss"] for rec in r.records]
    saved = read_safetensors(save)
    for name, value in r.model.state_dict().items():
        assert np.array_equal(saved[name], value), name


def test_keyword_arguments_reach_the_core_as_values_with_the_command_lines_rules(run_cli):
    # options travel as values into the core's OptimizerOptions (no flag text): a name the core
    # does not know, or a value of the wrong type, is one line naming it; the signatures'
    # defaults are the core's, which the command line's --help shows too
    x, y = fisherlab.load_dataset("digits")
    model = fisherlab.Model.mlp([64, 10])
    with pytest.raises(ValueError, match="unknown optimizer option `klclip`: one of lr, "):
        fisherlab.train(model, x, y, "kfac", likelihood="categorical", steps=1, klclip=1e-3)
    with pytest.raises(ValueError, match=r"^--max-cg 2.5 is invalid: must be a whole number$"):
        fisherlab.train(model, x, y, "hf", likelihood="categorical", steps=1, max_cg=2.5)
    with pytest.raises(ValueError, match="exclude each other"):
        fisherlab.train(model, x, y, "kfac", likelihood="categorical", steps=1,
                        fixed_damping=True, adaptive_damping=True)
    out = run_cli("train", "--dataset", "digits", "--arch", "64,10", "--likelihood",
                  "categorical", "--optimizer", "kfac", "--fixed-damping", "--adaptive-damping",
                  check=False)
    assert out.returncode == 2 and "exclude each other" in out.stderr
    import inspect
    fim_help = run_cli("fim", "--help").stdout
    for name in ["samples", "method", "form", "parameterization"]:
        default = inspect.signature(fisherlab.fim).parameters[name].default
        assert f"[default: {default}]" in fim_help, name
    train_help = run_cli("train", "--help").stdout
    for name in ["steps", "batch", "eval_every"]:
        default = inspect.signature(fisherlab.train).parameters[name].default
        assert f"[default: {default}]" in train_help, name


def test_train_failures_and_bad_options(run_cli):
    x, y = fisherlab.load_dataset("digits")
    model = fisherlab.Model.mlp([64, 10])
    r = fisherlab.train(model, x, y, "sgd", likelihood="categorical", steps=5, lr=1e308)
    assert r.error is not None and "training stopped" in r.error
    assert np.isfinite(r.parameters).all()
    with pytest.raises(ValueError) as e:
        fisherlab.train(model, x, y, "kfac", likelihood="categorical", decay=1.5)
    out = run_cli("train", "--dataset", "digits", "--arch", "64,10", "--likelihood",
                  "categorical", "--optimizer", "kfac", "--decay", "1.5", check=False)
    assert out.returncode == 2 and out.stderr.strip() == f"error: {e.value}"
    with pytest.raises(ValueError, match="unknown optimizer"):
        fisherlab.train(model, x, y, "lbfgs", likelihood="categorical")


@pytest.mark.parametrize("activation", ["identity", "tanh", "relu", "sigmoid", "softplus", "gelu",
                                        "silu", "leaky_relu"])
def test_mlp_is_the_command_lines_arch(tmp_path, run_cli, activation):
    # Model.mlp writes the nn.Sequential text of `--arch … --activation …`: same network, same
    # default initialisation, same matrix
    x, y = fisherlab.load_dataset("digits")
    out = tmp_path / "F.npy"
    run_cli("curvature", "--arch", "64,5,10", "--activation", activation, "--dataset", "digits",
            "--likelihood", "categorical", "--kind", "exact", "--out", out)
    model = fisherlab.Model.mlp([64, 5, 10], activation)
    F = model.curvature(x, likelihood="categorical", kind="exact").to_dense()
    assert np.array_equal(F, np.load(out))


def test_a_network_over_the_memory_budget_is_refused_before_it_is_allocated(run_cli):
    # 64-100000-100000-10: P = 10 007 600 010 parameters, 80.1 GB (64·10⁵ + 10⁵ + 10¹⁰ + 10⁵
    # + 10⁶ + 10), refused as a ValueError instead of taking the interpreter down
    fisherlab.set_memory_budget(16 * 10**9)
    try:
        with pytest.raises(ValueError, match="10007600010 parameters, 80.1 GB") as e:
            fisherlab.Model.mlp([64, 100000, 100000, 10])
        assert "memory budget is 16.0 GB" in str(e.value)
    finally:
        fisherlab.set_memory_budget(None)
    out = run_cli("curvature", "--arch", "64,100000,100000,10", "--dataset", "digits",
                  "--likelihood", "categorical", "--kind", "kfac", "--json",
                  "--max-memory", "16G", check=False)
    assert out.returncode == 2
    assert "10007600010 parameters, 80.1 GB" in out.stderr
