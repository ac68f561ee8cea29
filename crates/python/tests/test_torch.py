"""Model.from_torch on a CNN, a residual LayerNorm MLP and a sequence model: the exact Fisher
against torch.func (J_n by jacrev, (1/N) Σ J_nᵀ (diag p − p pᵀ) J_n) to 1e-10, and K-FAC against
curvlinops' KFACLinearOperator when it is installed. Skipped where torch is not installed (the
committed fixtures of test_models.py cover the same networks then)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.func import functional_call, jacrev  # noqa: E402

import fisherlab  # noqa: E402


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


def exact_fisher(model, x):
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)

    fisher = 0
    probs = torch.softmax(model(x).detach(), dim=1)
    for xi, pn in zip(x, probs):
        jac = jacrev(f)(params, xi)
        j = torch.cat([jac[k].reshape(jac[k].shape[0], -1) for k in params], dim=1)
        fisher = fisher + j.T @ (torch.diag(pn) - torch.outer(pn, pn)) @ j
    return (fisher / len(x)).numpy()


def networks():
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 2 * 2, 5),
    ).double()
    with torch.no_grad():
        cnn[1].running_mean.uniform_(-0.2, 0.2)
        cnn[1].running_var.uniform_(0.5, 1.5)
    cnn.eval()
    resmlp = nn.Sequential(
        nn.Linear(5, 6),
        Residual(nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 6))),
        nn.LayerNorm(6), nn.Tanh(), nn.Linear(6, 3),
    ).double()
    seq = nn.Sequential(
        nn.Linear(4, 6), nn.GELU(), Residual(nn.Sequential(nn.Linear(6, 6), nn.Tanh())),
        MeanPool(dim=1), nn.Linear(6, 3),
    ).double()
    g = torch.Generator().manual_seed(1)
    return [
        ("cnn", cnn, torch.randn(6, 1, 8, 8, generator=g, dtype=torch.float64), 5),
        ("resmlp", resmlp, torch.randn(7, 5, generator=g, dtype=torch.float64), 3),
        ("seq", seq, torch.randn(5, 4, 4, generator=g, dtype=torch.float64), 3),
    ]


@pytest.mark.parametrize("name, net, x, classes", networks(), ids=lambda v: v if isinstance(v, str) else "")
def test_exact_fisher_of_a_torch_model_matches_torch_func(name, net, x, classes):
    model = fisherlab.Model.from_torch(net)
    F = model.curvature(x.numpy(), likelihood="categorical", kind="exact").to_dense()
    reference = exact_fisher(net, x)
    assert np.abs(F - reference).max() <= 1e-10 * np.abs(reference).max()
    # the loss too: PyTorch's mean cross-entropy at some labels
    y = torch.arange(len(x)) % classes
    loss, _ = model.loss_and_gradient(x.numpy(), y.numpy(), likelihood="categorical")
    assert abs(loss - nn.functional.cross_entropy(net(x), y).item()) < 1e-12


@pytest.mark.parametrize("name, net, x, classes", [n for n in networks() if n[0] != "resmlp"],
                         ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("approx", ["expand", "reduce"])
def test_kfac_of_a_torch_model_matches_curvlinops(name, net, x, classes, approx):
    curvlinops = pytest.importorskip("curvlinops")
    y = torch.arange(len(x)) % classes
    # curvlinops factors Linear and Conv2d layers only: the BatchNorm's scale and shift are left
    # out of its parameters, and out of fisherlab's matrix below
    kron = [not isinstance(m, nn.BatchNorm2d) for m in net.modules() for _ in m.parameters(recurse=False)]
    params = [p for p, k in zip(net.parameters(), kron) if k]
    kfac = curvlinops.KFACLinearOperator(
        net, nn.CrossEntropyLoss(reduction="mean"), params, [(x, y)], fisher_type="type-2",
        kfac_approx=approx, separate_weight_and_bias=False, check_deterministic=False)
    reference = (kfac @ torch.eye(sum(p.numel() for p in params), dtype=torch.float64)).numpy()
    K = fisherlab.Model.from_torch(net).curvature(
        x.numpy(), y.numpy(), likelihood="categorical", kind="kfac", kfac_approx=approx).to_dense()
    keep = np.concatenate([np.full(p.numel(), k) for p, k in zip(net.parameters(), kron)])
    K = K[np.ix_(keep, keep)]
    assert np.abs(K - reference).max() <= 1e-10 * np.abs(reference).max()


def test_unsupported_torch_modules_raise_the_command_lines_error():
    net = nn.Sequential(nn.Linear(3, 4), nn.Softmin(dim=1))
    with pytest.raises(ValueError, match="Softmin"):
        fisherlab.Model.from_torch(net, input_shape=(3,))
