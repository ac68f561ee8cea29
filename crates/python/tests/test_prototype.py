"""Bringing one's own approximation: compare of any object (NumPy array, scipy LinearOperator,
an object with matvec), the statistics approximations are made of (against torch.func,
curvlinops and the library's own routes), a Python Preconditioner inside the natural-gradient
skeleton, and the errors of bad objects."""

import threading

import numpy as np
import pytest

import fisherlab


@pytest.fixture(scope="module")
def digits():
    X, y = fisherlab.load_dataset("digits")
    X, y = X[:120].reshape(120, -1), y[:120]
    model = fisherlab.Model.mlp([64, 12, 10], "tanh", init_seed=3)
    loss, g = model.loss_and_gradient(X, y, likelihood="categorical")
    exact = model.curvature(X, y, likelihood="categorical", kind="exact")
    return model, X, y, g, exact


METRICS = ["rel_frobenius", "rel_spectral", "ngd_cosine", "ngd_rel_error",
           "quad_ratio_gradient", "quad_ratio_random_mean", "logdet_difference"]


def test_a_numpy_array_compares_as_the_operator_it_was_densified_from(digits):
    model, X, y, g, exact = digits
    # a dense route: the array holds the operator's own numbers, so every metric is the same bits
    mc = model.curvature(X, y, likelihood="categorical", kind="mc", seed=1)
    a = fisherlab.compare(mc, exact, g)
    b = fisherlab.compare(np.array(mc.to_dense()), exact, g)
    for k in METRICS:
        assert a[k] == b[k], k
    assert np.array_equal(a["spectrum_approx"], b["spectrum_approx"])
    assert a["reference"] == b["reference"] == "dense"
    assert b["rel_frobenius_uncertainty"] == 0 and "exact" in b["rel_frobenius_estimator"]
    # a structured one solves and takes log-determinants from its factors: the same to rounding
    kfac = model.curvature(X, y, likelihood="categorical", kind="kfac")
    a = fisherlab.compare(kfac, exact, g)
    b = fisherlab.compare(np.array(kfac.to_dense()), exact, g)
    for k in METRICS:
        assert abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(a[k])), k


def test_objects_with_products_only_land_within_their_uncertainty(digits):
    from scipy.sparse.linalg import LinearOperator

    model, X, y, g, exact = digits
    K = np.array(model.curvature(X, y, likelihood="categorical", kind="kfac").to_dense())
    dense = fisherlab.compare(K, exact, g)
    free = model.curvature(X, y, likelihood="categorical", kind="matrix-free")

    class Products:
        def matvec(self, v):
            return K @ v

    op = LinearOperator(K.shape, matvec=lambda v: K @ v, matmat=lambda m: K @ m, dtype=float)
    for approx in (Products(), op):
        est = fisherlab.compare(approx, free, g, reference="matrix-free", probes=64)
        assert est["reference"] == "matrix-free" and est["approximation_products"] > 0
        for k in ["rel_frobenius", "rel_spectral", "ngd_cosine", "ngd_rel_error",
                  "logdet_difference"]:
            u = est[f"{k}_uncertainty"]
            assert est[f"{k}_failure"] is None, k
            # three standard errors (or the bound) of the dense value, plus CG's own rounding
            assert abs(est[k] - dense[k]) <= 3 * u + 1e-6 * max(1.0, abs(dense[k])), (k, est[k], dense[k], u)
        # what it lacked was made from its products, and said so
        assert "has no solve" in est["ngd_cosine_estimator"]
        assert "has no logdet" in est["logdet_difference_estimator"]
    # a dense reference forms an object's matrix from its products: the same as the array's
    formed = fisherlab.compare(Products(), exact, g)
    for k in METRICS:
        assert abs(formed[k] - dense[k]) <= 1e-9 * max(1.0, abs(dense[k])), k
    # more probes, a smaller standard error of the Hutchinson estimate (about 1/√m)
    few = fisherlab.compare(Products(), free, g, reference="matrix-free", probes=4)
    many = fisherlab.compare(Products(), free, g, reference="matrix-free", probes=256)
    assert many["rel_frobenius_uncertainty"] < 0.5 * few["rel_frobenius_uncertainty"]


def test_an_objects_own_solve_and_logdet_are_used(digits):
    model, X, y, g, exact = digits
    d = np.array(model.curvature(X, y, likelihood="categorical", kind="diag").to_dense()).diagonal()
    calls = {"solve": 0, "logdet": 0}

    class Diagonal:
        shape = (len(d), len(d))

        def matvec(self, v):
            return d * v

        def solve(self, v, damping):
            calls["solve"] += 1
            return v / (d + damping)

        def logdet(self, damping):
            calls["logdet"] += 1
            return float(np.log(d + damping).sum())

    c = fisherlab.compare(Diagonal(), exact, g, damping=1e-2)
    assert calls["solve"] >= 1 and calls["logdet"] >= 1
    assert "the approximation's solve" in c["ngd_cosine_estimator"]
    # against NumPy on the same matrices
    F = exact.to_dense()
    lam = 1e-2
    de = np.linalg.solve(F + lam * np.eye(len(d)), g)
    da = g / (d + lam)
    assert abs(c["ngd_cosine"] - de @ da / np.linalg.norm(de) / np.linalg.norm(da)) < 1e-9
    ld = np.log(d + lam).sum() - np.linalg.slogdet(F + lam * np.eye(len(d)))[1]
    assert abs(c["logdet_difference"] - ld) < 1e-8 * abs(ld)


def test_bad_objects_raise_one_line_naming_what_broke(digits):
    model, X, y, g, exact = digits
    p = model.num_params

    class Obj:
        def __init__(self, matvec, solve=None):
            self.matvec = matvec
            if solve:
                self.solve = solve

    def boom(v):
        raise ZeroDivisionError("no")

    cases = [
        (Obj(lambda v: v[:-1]), "approx.matvec returned an array of shape"),
        (Obj(lambda v: v * np.nan), "approx.matvec returned a non-finite value"),
        (Obj(boom), "approx.matvec raised ZeroDivisionError: no"),
        (Obj(lambda v: v, solve=lambda v, lam: v[:3]), "approx.solve returned an array of shape (3,)"),
        (Obj(lambda v: "text"), "approx.matvec"),
        (object(), "an object with a matvec method"),
        (np.eye(3), "expected"),
    ]
    for obj, message in cases:
        with pytest.raises(ValueError) as e:
            fisherlab.compare(obj, exact, g, reference="matrix-free" if hasattr(obj, "solve") else "dense")
        assert message in str(e.value) and "\n" not in str(e.value), str(e.value)

    class Shaped:
        shape = (p + 1, p + 1)

        def matvec(self, v):
            return v

    with pytest.raises(ValueError, match=r"approx.shape is \(\d+, \d+\), expected"):
        fisherlab.compare(Shaped(), exact, g)
    with pytest.raises(ValueError, match="unknown reference `exactly`"):
        fisherlab.compare(exact, exact, g, reference="exactly")
    with pytest.raises(ValueError, match="probes"):
        fisherlab.compare(exact, exact, g, reference="matrix-free", probes=1)


def test_the_gil_is_free_while_rust_works(digits):
    model, X, y, g, exact = digits
    free = model.curvature(X, y, likelihood="categorical", kind="matrix-free")
    kfac = model.curvature(X, y, likelihood="categorical", kind="kfac")
    ticks, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks[0]
        fisherlab.compare(kfac, free, g, reference="matrix-free")
        during = ticks[0] - before
    finally:
        stop.set()
        t.join()
    # a compare that held the GIL would let the other thread run only between its calls
    assert during > 1000


def test_gram_of_each_kind_of_per_sample_gradients_is_its_fisher(digits):
    model, X, y, g, exact = digits
    n = len(X)
    for labels, kind, extra in [("type2", "exact", {}), ("mc", "mc", {"mc_samples": 3, "seed": 5}),
                                ("empirical", "empirical", {})]:
        U = model.per_sample_gradients(X, y, likelihood="categorical", labels=labels, **extra)
        rows = {"type2": 10, "mc": 3, "empirical": 1}[labels]
        assert U.shape == (n * rows, model.num_params)
        F = model.curvature(X, y, likelihood="categorical", kind=kind, **extra).to_dense()
        assert np.abs(U.T @ U / n - F).max() <= 1e-12 * np.abs(F).max(), labels
    # the empirical rows are the per-sample loss gradients: their mean is the loss gradient
    E = model.per_sample_gradients(X, y, likelihood="categorical", labels="empirical")
    assert np.abs(E.mean(0) - g).max() < 1e-14
    # the output Fisher of the categorical head in closed form, diag(p) − p pᵀ
    Fz = model.output_fisher(X, likelihood="categorical")
    J = model.jacobian(X)
    pulled = np.einsum("ncp,ncd,ndq->pq", J, Fz, J) / n
    assert np.abs(pulled - exact.to_dense()).max() <= 1e-12 * np.abs(pulled).max()


def test_kfac_factors_assemble_into_kind_kfac_and_layer_gradients_into_blocks(digits):
    model, X, y, g, exact = digits
    P = model.num_params
    for kfac_type in ["type2", "empirical"]:
        K = model.curvature(X, y, likelihood="categorical", kind="kfac", kfac_type=kfac_type).to_dense()
        B = np.zeros((P, P))
        for f in model.kfac_factors(X, y, likelihood="categorical", kfac_type=kfac_type):
            o = f["order"] + f["params"].start
            B[np.ix_(o, o)] = np.kron(f["G"], f["A"])
        assert np.abs(B - K).max() <= 1e-13 * np.abs(K).max(), kfac_type
    first = model.kfac_factors(X, likelihood="categorical")[0]
    # the first layer's input factor from the data alone: the mean of [x, 1][x, 1]ᵀ
    Xb = np.hstack([X, np.ones((len(X), 1))])
    assert np.abs(first["A"] - Xb.T @ Xb / len(X)).max() < 1e-13
    # each layer's per-sample gradients, unfolded by `order`, are its columns of the
    # per-sample gradients: their Gram is the exact block
    U = model.per_sample_gradients(X, likelihood="categorical")
    for layer in model.layer_gradients(X, likelihood="categorical"):
        G = layer["gradients"].reshape(len(U), -1)
        cols = np.empty_like(G)
        cols[:, layer["order"]] = G
        assert np.abs(cols - U[:, layer["params"]]).max() < 1e-14, layer["name"]


def test_statistics_match_torch_func_and_curvlinops():
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.func import functional_call, grad, jacrev, vmap

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Flatten(),
                        nn.Linear(3 * 6 * 6, 4)).double()
    x = torch.randn(7, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = torch.arange(7) % 4
    model = fisherlab.Model.from_torch(net)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def out(p, xi):
        return functional_call(net, p, (xi.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(out), in_dims=(None, 0))(params, x)
    J_ref = torch.cat([jac[k].reshape(7, 4, -1) for k in params], dim=2).numpy()
    J = model.jacobian(x.numpy())
    assert np.abs(J - J_ref).max() <= 1e-12 * np.abs(J_ref).max()

    def loss(p, xi, yi):
        return nn.functional.cross_entropy(out(p, xi).unsqueeze(0), yi.unsqueeze(0))

    g = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    G_ref = torch.cat([g[k].reshape(7, -1) for k in params], dim=1).numpy()
    G = model.per_sample_gradients(x.numpy(), y.numpy(), likelihood="categorical", labels="empirical")
    assert np.abs(G - G_ref).max() <= 1e-12 * np.abs(G_ref).max()

    curvlinops = pytest.importorskip("curvlinops")
    for approx in ["expand", "reduce"]:
        kfac = curvlinops.KFACLinearOperator(
            net, nn.CrossEntropyLoss(reduction="mean"), list(net.parameters()), [(x, y)],
            fisher_type="type-2", kfac_approx=approx, separate_weight_and_bias=False,
            check_deterministic=False)
        P = model.num_params
        reference = (kfac @ torch.eye(P, dtype=torch.float64)).numpy()
        B = np.zeros((P, P))
        for f in model.kfac_factors(x.numpy(), likelihood="categorical", kfac_approx=approx):
            o = f["order"] + f["params"].start
            B[np.ix_(o, o)] = np.kron(f["G"], f["A"])
        assert np.abs(B - reference).max() <= 1e-10 * np.abs(reference).max(), approx


def test_a_python_preconditioner_reproduces_the_built_in_diagonal(digits):
    model, X, y, g, exact = digits
    state = {}

    def update(stats):
        # the built-in diag's statistic: the running mean (decay 0.95) of the mini-batch's
        # diagonal Fisher of its default labels (one Monte-Carlo label per input, from the
        # step's stream), here the column sums of squares of the per-sample gradients over B
        U = stats.per_sample_gradients("mc")
        d = (U * U).sum(0) / len(stats.X)
        state["avg"] = d if "avg" not in state else 0.95 * state["avg"] + 0.05 * d

    def solve(g, damping):
        return g / (state["avg"] + damping)

    built_in = fisherlab.train(model, X, y, "diag", likelihood="categorical", steps=12, batch=32,
                               seed=4)
    mine = fisherlab.train(model, X, y, fisherlab.Preconditioner(solve, update, name="my-diag"),
                           likelihood="categorical", steps=12, batch=32, seed=4,
                           lr=0.1, damping=0.1)
    assert mine.error is None and len(mine.records) == 12
    a = np.array(built_in.parameters)
    b = np.array(mine.parameters)
    assert np.abs(a - b).max() <= 1e-10 * np.abs(a).max()
    for r1, r2 in zip(built_in.records, mine.records):
        assert abs(r1["loss"] - r2["loss"]) <= 1e-10 * abs(r1["loss"])
    assert mine.records[0]["optimizer"] == "my-diag"
    assert mine.provenance["options"]["optimizer"] == "my-diag"
    # the skeleton's rules apply to it: with KL-clipping the steps shrink
    clipped = fisherlab.train(model, X, y, fisherlab.Preconditioner(solve, update),
                              likelihood="categorical", steps=3, batch=32, seed=4,
                              kl_clip=1e-6)
    assert clipped.settings["kl_clip"] == 1e-6
    assert all(r["learning_rate"] < 0.1 for r in clipped.records)


def test_a_preconditioner_that_breaks_raises_one_line(digits):
    model, X, y, g, exact = digits

    def raises(g, damping):
        raise RuntimeError("singular")

    for solve, message in [(raises, "mine: solve raised RuntimeError: singular"),
                           (lambda g, lam: g[:4], "mine: solve returned an array of shape (4,)"),
                           (lambda g, lam: g + np.inf, "non-finite")]:
        with pytest.raises(ValueError) as e:
            fisherlab.train(model, X, y, fisherlab.Preconditioner(solve, name="mine"),
                            likelihood="categorical", steps=2)
        assert message in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="decay: not an option of a Preconditioner"):
        fisherlab.train(model, X, y, fisherlab.Preconditioner(lambda g, lam: g),
                        likelihood="categorical", steps=2, decay=0.5)
    with pytest.raises(ValueError, match="solve must be callable"):
        fisherlab.Preconditioner(3)
