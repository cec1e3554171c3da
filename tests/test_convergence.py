"""Convergence studies: orders and constants against theory computed here independently (mpmath.diff,
hand-derived band profiles), kinks, singular kernels, the dirac pair, norms, the cross-check, the CLI."""

from __future__ import annotations

import json
import math
import warnings

import mpmath
import pytest

import nonlocal_calc as nlc
from nonlocal_calc import convergence as cv
from nonlocal_calc.cli import main

SMALL = ["1/16", "1/32", "1/64", "1/128", "1/256", "1/512"]


@pytest.fixture(autouse=True)
def high_precision():
    """Reference numbers in these tests are computed at 50 digits."""
    with mpmath.workdps(50):
        yield


def D(act, ker):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nlc.QuadratureFallbackWarning)
        return nlc.derive(act, ker)


def f3(fn, x0, k=3):
    with mpmath.workdps(60):
        v = mpmath.diff(fn, mpmath.mpf(x0), k)
    return +v


# ------------------------------------------------------------------ smooth points: order 2, constant M3/6 f'''
@pytest.mark.parametrize(
    "kernel, c3",
    [("sign", 12), ("linear", 10), ("power(2)", 9), ("power(-1/2)", 14), ("dirac_pair", 6)],
)
def test_smooth_point_order_two_with_moment_constant(kernel, c3):
    s = cv.study(D("tanh", kernel), x="0.3", deltas=SMALL, dps=40)
    with mpmath.workdps(40):  # (p+2)/(6(p+4)) f'''(x), by numerical differentiation
        expected = f3(mpmath.tanh, "0.3") / c3
    assert s.predicted_order == 2
    assert abs(s.predicted_constant - expected) < 1e-25
    assert abs(s.observed_order - 2) < 2e-3
    assert abs(s.observed_constant / expected - 1) < 1e-4
    assert not s.disagreements and all(c is not None and c < 1e-30 for c in s.crosscheck)
    assert abs(s.limit - 1 / mpmath.cosh(mpmath.mpf("0.3")) ** 2) < 1e-30


def test_predicted_constant_comes_from_series_and_matches_kink_expansion_at_smooth_points():
    # The one-sided expansion with zero jumps must reproduce D.series: compare at a smooth point
    # by forcing the kink path (an activation with a fake breakpoint where nothing jumps).
    act = nlc.Activation("tanh_split", (nlc.activations.get("tanh").expr,) * 2, (sp_rational("3/10"),))
    s_kink = cv.study(D(act, "linear"), x="0.3", deltas=SMALL[:3], dps=30, crosscheck=False)
    s_smooth = cv.study(D("tanh", "linear"), x="0.3", deltas=SMALL[:3], dps=30, crosscheck=False)
    assert s_kink.limit_kind == "derivative"
    assert abs(s_kink.predicted_constant - s_smooth.predicted_constant) < 1e-25
    assert s_kink.predicted_order == s_smooth.predicted_order == 2


def sp_rational(text):
    import sympy as sp

    return sp.Rational(text)


def test_higher_order_kernel_gives_fourth_order():
    ker = nlc.Kernel.from_expr("sign(z)*(4/delta**2 - 6*z**2/delta**4)")  # M1 = 1, M3 = 0
    s = cv.study(D("tanh", ker), x="0.3", deltas=["1/8", "1/16", "1/32", "1/64", "1/128"], dps=50)
    with mpmath.workdps(50):
        expected = -f3(mpmath.tanh, "0.3", 5) / 720  # M5/5! = -1/(6*120)
    assert s.predicted_order == 4
    assert abs(s.predicted_constant - expected) < 1e-20
    assert abs(s.observed_order - 4) < 5e-3


# ------------------------------------------------------------------ kinks
def test_relu_at_kink_converges_to_average_exactly():
    s = cv.study(D("relu", "linear"), x=0, dps=30)
    assert s.limit == mpmath.mpf(1) / 2 and s.limit_kind == "kink average"
    assert all(e == 0 for e in s.errors) and s.exact_below == 0.5
    assert s.observed_order is None


def test_leaky_relu_kink_average():
    s = cv.study(D("leaky_relu", "sign"), x=0, deltas=SMALL[:3], dps=30)
    assert abs(s.limit - mpmath.mpf(101) / 200) < 1e-28


def test_relu_away_from_kink_exact_once_horizon_is_inside():
    s = cv.study(D("relu", "sign"), x="0.3", dps=30)
    assert s.exact_below == 0.25  # 1/2 > 0.3 reaches the kink, 1/4 does not
    assert s.errors[0] != 0 and all(e == 0 for e in s.errors[1:])


@pytest.mark.parametrize(
    "act, ker, c",
    [("softsign", "sign", "-2/3"),  # A2/2 [f''] with A2 = delta/3, [f''] = -4
     ("softsign", "linear", "-3/4"),  # A2 = 3 delta/8
     ("elu", "linear", "-3/16"),  # [f''] = -1
     ("softsign", "power(-1/2)", "-3/5"),  # A2 = 3 delta/10 (quadrature pair)
     ("softsign", "dirac_pair", "-1")],  # A2 = mass * delta**2 = delta/2
)
def test_first_order_where_second_derivative_jumps(act, ker, c):
    s = cv.study(D(act, ker), x=0, deltas=SMALL, dps=40)
    c = mpmath.mpf(sp_rational(c))
    assert s.predicted_order == 1 and abs(s.predicted_constant - c) < 1e-30
    assert abs(s.observed_order - 1) < 0.02
    assert abs(s.observed_constant / c - 1) < 0.01
    assert not s.disagreements


def test_binary_step_diverges_at_jump():
    s = cv.study(D("binary_step", "sign"), x=0, deltas=SMALL[:4], dps=30)
    assert s.limit is None and s.limit_kind == "divergent"
    assert s.predicted_order == -1 and s.predicted_constant == 1  # rho(0) = 1/delta
    assert abs(s.observed_order + 1) < 1e-10


# ------------------------------------------------------------------ norms over an interval with a kink
@pytest.mark.parametrize(
    "norm, q, c",
    # sign kernel: |e(delta u)| = (1-|u|)^2/2 on the band, so ||e||_1 = delta/3, ||e||_2 = sqrt(delta/10), sup = 1/2
    [("L1", 1, "1/3"), ("L2", 0.5, "1/10"), ("Linf", 0, "1/2")],
)
def test_relu_norm_orders_depend_on_p(norm, q, c):
    c = mpmath.mpf(sp_rational(c)) if norm != "L2" else mpmath.sqrt(mpmath.mpf(sp_rational(c)))
    s = cv.study(D("relu", "sign"), interval=(-1, 1), norm=norm, deltas=["1/4", "1/16", "1/64", "1/256"], dps=30)
    assert s.predicted_order == q and abs(s.predicted_constant - c) < 1e-15
    assert abs(s.observed_order - q) < 1e-8
    assert abs(s.observed_constant - c) < 1e-15


def test_softsign_L2_order_three_halves_and_binary_step_L1_does_not_converge():
    s = cv.study(D("softsign", "sign"), interval=(-1, 1), norm="Linf", deltas=SMALL, dps=30)
    assert s.predicted_order == 1 and abs(s.observed_order - 1) < 0.02
    s = cv.study(D("softsign", "sign"), interval=(-1, 1), norm="L2", deltas=["1/256", "1/512", "1/1024"], dps=30,
                 crosscheck=False)
    assert s.predicted_order == 1.5 and abs(s.observed_order - 1.5) < 0.03
    s = cv.study(D("binary_step", "linear"), interval=(-1, 1), norm="L1", deltas=SMALL[:3], dps=30)
    assert s.predicted_order == 0 and abs(s.observed_constant - 1) < 1e-20  # ||rho||_1 = 1 for every delta
    assert "does not tend to zero" in s.theory


def test_smooth_norm_constant_is_moment_times_norm_of_third_derivative():
    s = cv.study(D("tanh", "sign"), interval=(-1, 1), norm="L2", deltas=SMALL[:4], dps=30, crosscheck=False)
    with mpmath.workdps(30):
        n3 = mpmath.sqrt(mpmath.quad(lambda t: mpmath.diff(mpmath.tanh, t, 3) ** 2, [-1, 1]))
    assert s.predicted_order == 2 and abs(s.predicted_constant - n3 / 12) < 1e-12
    assert abs(s.observed_constant / s.predicted_constant - 1) < 1e-3


def test_identity_is_exact():
    s = cv.study(D("identity", "sign"), interval=(-1, 1), norm="Linf", deltas=SMALL[:3], dps=30)
    assert s.predicted_order is None and all(e == 0 for e in s.errors)


# ------------------------------------------------------------------ cross-check, fit, output, errors
class Wrong:
    """A derivative whose values are slightly off: the study must report it."""

    def __init__(self, d):
        self._d = d
        self.activation, self.kernel, self.method = d.activation, d.kernel, d.method

    def evaluate(self, x, delta, dps=30):
        return self._d.evaluate(x, delta, dps=dps) + mpmath.mpf("1e-12")

    def series(self, n):
        return self._d.series(n)


def test_disagreement_is_reported_not_hidden():
    with pytest.warns(cv.ConvergenceWarning, match="reference quadrature"):
        s = cv.study(Wrong(D("tanh", "sign")), x="0.3", deltas=SMALL[:3], dps=30)
    assert len(s.disagreements) == 3
    assert "DISAGREEMENT" in s.summary()


def test_fit_order_skips_preasymptotic_range():
    ds = [mpmath.mpf(2) ** -k for k in range(1, 11)]
    errs = [d**2 * (1 + 3 * d) if d < 0.05 else d for d in ds]  # first 5 points: a different law
    slope, _, first, last = cv.fit_order(ds, errs)
    assert abs(slope - 2) < 0.02 and first >= 5 and last == 10
    assert cv.fit_order(ds[:1], errs[:1]) is None


def test_table_plot_and_dict(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    s = cv.study(D("relu", "linear"), interval=(-1, 1), norm="L1", deltas=["1/4", "1/8", "1/16"], dps=20)
    table = s.table()
    assert "| delta |" in table and table.count("\n|") == 5  # header, rule, three rows
    assert "predicted order 1" in table
    ax = s.plot()
    assert len(ax.lines) == 2  # data and the theory line
    assert json.loads(json.dumps(s.to_dict()))["predicted_order"] == 1


@pytest.mark.parametrize(
    "kwargs, msg",
    [({"norm": "L3", "interval": (-1, 1)}, "unknown norm"), ({"deltas": ["0.1", "-0.1"]}, "positive"),
     ({"deltas": ["0.1"]}, "at least two"), ({"dps": 5}, "dps"), ({"interval": (1, -1)}, "a < b"),
     ({"x": "abc"}, "real number")],
)
def test_bad_input(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        cv.study(D("relu", "sign"), **kwargs)


def test_cli_pointwise_and_interval(tmp_path, capsys):
    assert main(["converge", "relu", "--kernel", "linear", "--x", "0.3", "--deltas", "1/2", "1/4", "1/8",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "error zero to working precision for every delta <= 0.25" in out
    png = tmp_path / "conv.png"
    assert main(["converge", "relu", "--kernel", "linear", "--interval", "-1", "1", "--norm", "L1", "--plot", str(png),
                 "--deltas", "1/4", "1/8", "1/16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["predicted_order"] == 1 and math.isclose(data["observed_order"], 1, abs_tol=1e-9)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["converge", "relu", "--x", "zero"]) == 2
    assert "x must be a real number" in capsys.readouterr().err


@pytest.mark.parametrize("act, ker", [("tanh", "sign"), ("silu", "linear"), ("gelu", "dirac_pair"),
                                      ("logistic", "power(-1/2)"), ("softplus", "power(2)")])
def test_predicted_term_equals_leading_term_of_D_series(act, ker):
    import sympy as sp

    d = D(act, ker)
    s = cv.study(d, x="0.3", deltas=["1/64", "1/128"], dps=30, crosscheck=False)
    x0 = sp.Rational(3, 10)
    rest = sp.expand(d.series(4, order=False).subs(nlc.x, x0) - sp.diff(d.activation.expr, nlc.x).subs(nlc.x, x0))
    coeff = rest.coeff(nlc.delta, 2)
    assert sp.expand(rest - coeff * nlc.delta**2) == 0  # D.series(4) - f' is c * delta**2
    assert s.predicted_order == 2
    assert abs(s.predicted_constant - mpmath.mpf(sp.N(coeff, 40))) < 1e-25
