"""fisherlab.fim, families and verify: closed forms derived by hand (or scipy's special
functions), Monte-Carlo agreement within its standard errors, the command line's own output
bit for bit, and errors with the command line's class and message."""

import json
import math

import numpy as np
import pytest

import fisherlab


def trigamma(x):
    # ψ'(x) = Σ_{k≥0} 1/(x+k)²: the recurrence up to x ≥ 20, then the asymptotic series
    # 1/x + 1/(2x²) + 1/(6x³) − 1/(30x⁵) + 1/(42x⁷) − 1/(30x⁹) (error < 1e-16 there)
    acc = 0.0
    while x < 20:
        acc += 1.0 / (x * x)
        x += 1.0
    return acc + 1 / x + 1 / (2 * x**2) + 1 / (6 * x**3) - 1 / (30 * x**5) + 1 / (42 * x**7) - 1 / (30 * x**9)


def test_families_lists_every_family_with_its_coordinates():
    fams = {f["name"]: f for f in fisherlab.families()}
    assert len(fams) == 20
    assert fams["gamma"]["parameters"] == "shape, rate"
    assert "natural" in fams["normal"]["parameterizations"]


def test_gamma_closed_form_and_quadrature_match_the_hand_derivation():
    # Gamma(α, β) in (shape, rate): F = [[ψ'(α), −1/β], [−1/β, α/β²]]
    a, b = 2.5, 1.5
    expected = np.array([[trigamma(a), -1 / b], [-1 / b, a / b**2]])
    f = fisherlab.fim("gamma", shape=a, rate=b)
    assert f.parameters == ["shape", "rate"]
    assert f.method == "analytic" and f.std_error is None
    np.testing.assert_allclose(f.matrix, expected, rtol=1e-14, atol=0)
    q = fisherlab.fim("gamma", shape=a, rate=b, method="quadrature")
    assert q.method == "quadrature"
    np.testing.assert_allclose(q.matrix, expected, rtol=1e-9, atol=0)


def test_monte_carlo_is_within_its_standard_errors_and_all_lists_every_route():
    # Normal(μ, σ): F = diag(1/σ², 2/σ²)
    mc = fisherlab.fim("normal", mu=0.3, sigma=2.0, method="monte-carlo", samples=20_000, seed=3)
    exact = np.diag([1 / 4, 2 / 4])
    assert mc.std_error.shape == (2, 2) and (mc.std_error > 0).all()
    assert (np.abs(mc.matrix - exact) < 5 * mc.std_error).all()
    every = fisherlab.fim("normal", mu=0.3, sigma=2.0, method="all", samples=20_000)
    assert [e.method for e in every] == ["analytic", "quadrature", "monte-carlo (score)", "monte-carlo (hessian)"]
    for e in every:
        np.testing.assert_allclose(e.matrix, exact, atol=0.05)


def test_reparameterization_and_fixed_parameters():
    # natural parameters of the normal, η = (μ/σ², −1/(2σ²)) at μ = 2, σ = 2: F(η) is the
    # covariance of T = (x, x²): [[σ², 2μσ²], [2μσ², 2σ⁴ + 4μ²σ²]]
    f = fisherlab.fim("normal", parameterization="natural", eta1=0.5, eta2=-0.125)
    np.testing.assert_allclose(f.matrix, [[4.0, 16.0], [16.0, 96.0]], rtol=1e-12)
    # Student t with ν fixed: F_σσ = 2ν / (σ²(ν+3))
    t = fisherlab.fim("student_t", loc=0.0, scale=1.5, df=4.0)
    assert t.values["df"] == 4.0 and t.parameters == ["loc", "scale"]
    assert math.isclose(t.matrix[1, 1], 2 * 4 / (1.5**2 * 7), rel_tol=1e-12)


def test_results_equal_the_command_line_bit_for_bit(run_cli):
    for method in ["analytic", "quadrature", "monte-carlo"]:
        f = fisherlab.fim("gamma", shape=2.5, rate=1.5, method=method, samples=5000, seed=7)
        out = json.loads(run_cli("fim", "gamma", "--param", "shape=2.5", "--param", "rate=1.5",
                                 "--method", method, "--samples", "5000", "--seed", "7",
                                 "--json").stdout)
        # serde_json prints the shortest text that reads back to the same float64
        assert np.array_equal(f.matrix, np.array(out["fisher"]))
        if method == "monte-carlo":
            assert np.array_equal(f.std_error, np.array(out["std_error"]))


@pytest.mark.parametrize("args, kwargs, cls", [
    (["gamma", "--param", "shape=-1", "--param", "rate=1"], dict(shape=-1, rate=1), ValueError),
    (["gamma", "--param", "shape=2"], dict(shape=2), ValueError),
    (["gamm", "--param", "shape=2"], dict(shape=2), ValueError),
    (["normal", "--param", "mu=0", "--param", "sigma=1e-300"], dict(mu=0, sigma=1e-300),
     fisherlab.NumericalError),
    (["student_t", "--param", "loc=0", "--param", "scale=1", "--param", "df=0.01", "--method",
      "quadrature"], dict(loc=0, scale=1, df=0.01, method="quadrature"), fisherlab.NumericalError),
])
def test_errors_have_the_command_lines_class_and_line(run_cli, args, kwargs, cls):
    family = args[0]
    with pytest.raises(cls) as e:
        fisherlab.fim(family, **kwargs)
    out = run_cli("fim", *args, check=False)
    assert out.returncode == (2 if cls is ValueError else 1)
    assert out.stderr.strip() == f"error: {e.value}"


NORMAL = "-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)"


def test_verify_passes_a_right_claim_and_prints_as_the_command_line(run_cli):
    r = fisherlab.verify(NORMAL, support="real", params=["mu", "sigma"],
                         claim="[[1/sigma^2, 0], [0, 2/sigma^2]]", at={"mu": 0.3, "sigma": 2.0})
    assert r.passed and r.failure is None
    assert len(r.points) == 1 and r.points[0]["pass"] and all(e["pass"] for e in r.points[0]["entries"])
    out = run_cli("verify", "--logpdf", NORMAL, "--support", "real", "--params", "mu,sigma",
                  "--claim", "[[1/sigma^2, 0], [0, 2/sigma^2]]", "--at", "mu=0.3,sigma=2.0")
    assert str(r) == out.stdout


def test_verify_reports_a_wrong_claim_without_raising(run_cli):
    # the (σ, σ) entry is 2/σ², not 1/σ²
    r = fisherlab.verify(NORMAL, support="real", params="mu,sigma",
                         claim="[[1/sigma^2, 0], [0, 1/sigma^2]]", random=2, seed=1)
    assert not r.passed
    assert r.failure.startswith("the claim is wrong: entry (sigma, sigma)")
    out = run_cli("verify", "--logpdf", NORMAL, "--support", "real", "--params", "mu,sigma",
                  "--claim", "[[1/sigma^2, 0], [0, 1/sigma^2]]", "--random", "2", "--seed", "1",
                  check=False)
    assert out.returncode == 1 and out.stderr.strip() == f"error: {r.failure}"
    assert str(r) == out.stdout


def test_verify_errors():
    with pytest.raises(ValueError, match="logpdf"):
        fisherlab.verify("log(", support="real", params="mu", claim="[[1]]", at={"mu": 0})
    with pytest.raises(fisherlab.NumericalError, match="not normalisable"):
        fisherlab.verify("-log(sigma) - abs(x-mu)/sigma + x^2", support="real",
                         params="mu,sigma", claim="[[1, 0], [0, 1]]", at={"mu": 0, "sigma": 1})
