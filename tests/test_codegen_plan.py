"""The expression plan has two printers: the Numba route's ufunc and a NumPy printer (tests/numpy_printer.py) agree."""

import numpy as np
import pytest
import sympy as sp
from numpy_printer import compile_plan, module_source

import nonlocal_calc as nlc
from nonlocal_calc.codegen.cells import EPS
from nonlocal_calc.codegen.plan import expression_plan

PAIRS = [("relu", "sign"), ("tanh", "linear"), ("silu", "power(2)")]
DELTAS = [1e-3, 0.01, 0.1, 0.5, 1.0, 2.0]


def _grid():
    xs, ds = [], []
    for d in DELTAS:
        g = [*np.linspace(-3, 3, 25), -d, d, -d / 2, d / 2, 0.0, 0.7 * d, -1.3 * d, 10.0, -10.0]
        xs += g
        ds += [d] * len(g)
    special = [(np.inf, 0.1), (-np.inf, 0.1), (0.5, 0.0), (0.0, 0.0), (-0.25, 0.0)]
    xs += [a for a, _ in special]
    ds += [b for _, b in special]
    return np.array(xs), np.array(ds)


@pytest.mark.parametrize("act,ker", PAIRS)
def test_numpy_printer_of_the_plan_agrees_with_the_ufunc(act, ker):
    D = nlc.derive(act, ker)
    plan = expression_plan(D)
    assert plan.closed and plan.value is not None
    f = compile_plan(plan)
    x, d = _grid()
    got = f(x, d)
    want = D.ufunc()(x, d)
    ok = np.isfinite(got)
    # checked cells are accepted where their rounding estimate allows (elsewhere the ufunc takes its series or
    # quadrature: small horizons, cancelling sums); a stable closed form everywhere
    assert ok.all() if not plan.checked else ok.sum() >= 40, ok.sum()
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-13, atol=0)
    # and the ufunc against an independent value (mpmath) at a few accepted points: the agreement is not shared error
    for i in np.flatnonzero(ok & np.isfinite(x) & (d > 0))[::37]:
        assert abs(got[i] - float(D.evaluate(x[i], d[i], dps=30))) <= 1e-13 * max(abs(got[i]), 1e-300) + 1e-15


def test_plan_parts():
    plan = expression_plan(nlc.derive("tanh", "linear"))
    assert plan.checked and plan.error.has(EPS)  # sums of polylogarithms: cells with a rounding estimate
    assert plan.limits == (0, 0) and plan.at_infinite_horizon == 0
    assert sp.simplify(plan.fprime - (1 - sp.tanh(nlc.x) ** 2)) == 0
    assert "numpy.select" in module_source(plan)
    quad = expression_plan(nlc.derive("relu", "gaussian"))
    assert quad.closed == (quad.value is not None)
