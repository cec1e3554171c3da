"""The lecture's activation table recomputed: checked against independent numerical facts."""

import math

import mpmath
import pytest
import sympy as sp

from nonlocal_calc import properties as P
from nonlocal_calc.symbols import x


@pytest.fixture(scope="module")
def rows():
    return {name: P.properties(name) for name in P.LECTURE_ACTIVATIONS}


def _sample(expr, lo=-40, hi=40, n=801):
    f = sp.lambdify(x, expr, "mpmath")
    with mpmath.workdps(60):  # enough digits that 1 - logistic(40) is not rounded away
        return [f(mpmath.mpf(lo) + (hi - lo) * mpmath.mpf(i) / (n - 1)) for i in range(n)]


def test_ranges_contain_samples_and_bounds_are_approached(rows):
    for name in ("identity", "logistic", "tanh", "arctan", "softsign", "relu", "leaky_relu", "binary_step"):
        r = rows[name]["range"]
        expr = P.LECTURE_ACTIVATIONS[name]().expr
        vals = _sample(expr)
        assert all(r.contains(sp.Float(v, 60)) == sp.true for v in vals), name
        far = sp.lambdify(x, expr, "mpmath")
        ends = [far(mpmath.mpf(10) ** 8), far(-(mpmath.mpf(10) ** 8))] + vals
        if r.is_Interval and r.inf.is_finite:
            assert float(min(ends)) - float(r.inf) < 1e-6 * (1 + abs(float(r.inf))), name
        if r.is_Interval and r.sup.is_finite:
            assert float(r.sup) - float(max(ends)) < 1e-6 * (1 + abs(float(r.sup))), name


def test_continuity_orders_against_one_sided_finite_differences(rows):
    assert rows["softsign"]["continuity"] == 1
    # softsign'' jumps at 0: one-sided second differences disagree
    f = lambda v: v / (1 + abs(v))  # noqa: E731
    h = 1e-4
    left = (f(0) - 2 * f(-h) + f(-2 * h)) / h**2
    right = (f(2 * h) - 2 * f(h) + f(0)) / h**2
    assert abs(left - right) > 3
    assert rows["relu"]["continuity"] == 0 and rows["binary_step"]["continuity"] == -1
    assert rows["tanh"]["continuity"] == sp.oo


def test_monotonicity_matches_sampling(rows):
    for name in ("identity", "logistic", "tanh", "arctan", "softsign", "relu", "leaky_relu"):
        vals = _sample(P.LECTURE_ACTIVATIONS[name]().expr)
        increasing = all(b >= a for a, b in zip(vals, vals[1:]))
        assert (rows[name]["monotonic"] == sp.true) == increasing, name
        d = _sample(P.LECTURE_ACTIVATIONS[name]().derivative, -10, 10, 2001)
        mono = all(b >= a for a, b in zip(d, d[1:])) or all(b <= a for a, b in zip(d, d[1:]))
        assert (rows[name]["derivative_monotonic"] == sp.true) == mono, name


def test_prelu_conditions_on_alpha(rows):
    a = P.alpha
    assert rows["prelu"]["monotonic"] == (a >= 0)
    assert rows["prelu"]["identity_near_origin"] == sp.Eq(a, 1)
    assert rows["prelu"]["range"]["alpha > 0"] == sp.Interval(-sp.oo, sp.oo)
    assert rows["prelu"]["range"]["alpha < 0"] == sp.Interval(0, sp.oo)


def test_identity_near_origin(rows):
    for name in ("tanh", "arctan", "softsign", "isru", "identity"):
        assert rows[name]["identity_near_origin"] == sp.true
    for name in ("logistic", "relu", "leaky_relu", "binary_step"):
        assert rows[name]["identity_near_origin"] == sp.false
    # an independent check for logistic: f(0) = 1/2
    assert 1 / (1 + math.exp(0)) == 0.5


def test_lecture_disagreements_are_reported_not_fixed():
    found = {(d.activation, d.column) for d in P.compare_with_lecture()}
    # computed from the table: ReLU-type derivatives at 0, PReLU's range for alpha <= 0, the step's derivative
    assert ("relu", "derivative") in found
    assert ("prelu", "range") in found
    assert ("binary_step", "derivative_monotonic") in found
    # cells where the lecture is right are not reported
    assert ("tanh", "range") not in found and ("softsign", "continuity") not in found
    assert P.lecture_table()["rows"][7]["name"] == "relu"


def test_markdown_table_has_every_lecture_row():
    md = P.table_markdown()
    for name in P.LECTURE_ACTIVATIONS:
        assert f"| `{name}` |" in md
