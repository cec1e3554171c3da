"""Compiled ufuncs of parametric families, ``u(x, delta, *parameters)``, against the members' closed forms.

References: ``D.subs(...).evaluate`` at 25 digits (the member's closed form, exact arithmetic on the numbers
given) and ``independent.nonlocal_derivative`` (the test suite's own quadrature of the defining integral from the
raw formulas), at parameter values drawn at random (fixed seed). Targets as for fixed ufuncs: float64 1e-12
(the module evaluates by quadrature), float32 2e-6, relative to max(|value|, 1e-2).
"""

import pickle
import random

import independent as ind
import numpy as np
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import Parameter, activations, kernels

RNG = random.Random(20261203)
XS = ("-0.13", "-0.04", "0", "0.02", "0.07", "0.31", "-3")
DELTAS = ("0.1", "0.001")
TOL64, TOL32 = 1e-12, 2e-6


def _draw(lo: float, hi: float, n: int) -> list[sp.Rational]:
    return [sp.Rational(round(RNG.uniform(lo, hi), 3)).limit_denominator(1000) for _ in range(n)]


def _err(got, ref) -> float:
    return abs(float(got) - float(ref)) / max(abs(float(ref)), 1e-2)


#: name -> (derivation, parameter, values, raw activation, raw kernel) with the parameter's text as {v}
FAMILIES = {
    "relu/power(p)": (lambda: nlc.derive("relu", kernels.power(Parameter("p", "> -2"))), "p",
                      lambda: [sp.Integer(-1), sp.Rational(-19, 10), *_draw(-1.95, 4, 4)],
                      "Max(0, x)", "sign(z)*Abs(z)**({v})"),
    "leaky_relu(slope)/sign": (lambda: nlc.derive(activations.leaky_relu(Parameter("slope", "real")), "sign"),
                               "slope", lambda: _draw(-2, 2, 4), "Piecewise((({v})*x, x < 0), (x, True))", "sign(z)"),
    "swish(beta)/sign": (lambda: nlc.derive(nlc.Activation.from_expr("x/(1+exp(-beta*x))",
                                                                     params={"beta": "positive"}), "sign"),
                         "beta", lambda: [*_draw(0.05, 8, 3), sp.Integer(40)], "x/(1+exp(-({v})*x))", "sign(z)"),
    "relu/gaussian(sigma)": (lambda: nlc.derive("relu", kernels.gaussian(Parameter("sigma", "positive"))), "sigma",
                             lambda: [sp.Rational(1, 500), *_draw(0.01, 2, 3)], "Max(0, x)",
                             "z*exp(-z**2/(2*({v})**2))"),
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request):
    make, name, values, f_raw, mu_raw = FAMILIES[request.param]
    D = make()
    return D, D.ufunc(), name, values(), f_raw, mu_raw


def test_one_module_for_the_family(family):
    D, u, name, *_ = family
    assert u.nin == 3 and u.nout == 1 and u.method == "quadrature"
    assert set(u.types) == {"fff->f", "ddd->d"}
    assert D.ufunc() is u
    assert pickle.loads(pickle.dumps(u)) is u


def test_members_against_their_closed_forms(family):
    D, u, name, values, *_ = family
    worst64 = worst32 = 0.0
    for v in values:
        S = D.subs(**{name: v})
        for dv in DELTAS:
            xs = np.array([float(t) for t in XS])
            got = u(xs, float(dv), float(v))
            got32 = u(xs.astype(np.float32), np.float32(dv), np.float32(v))
            assert got.dtype == np.float64 and got32.dtype == np.float32
            for xv, g, g32 in zip(XS, got, got32):
                e = _err(g, S.evaluate(xv, dv, dps=25))
                assert e <= TOL64, (name, v, xv, dv, g, e)
                worst64 = max(worst64, e)
                # float32: against the member at the float32 numbers the call received
                S32 = S if np.float32(v) == float(v) else D.subs(**{name: sp.Rational(float(np.float32(v)))})
                ref32 = S32.evaluate(sp.Rational(float(np.float32(xv))), sp.Rational(float(np.float32(dv))), dps=25)
                e32 = _err(g32, ref32)
                assert e32 <= TOL32, (name, v, xv, dv, g32, e32)
                worst32 = max(worst32, e32)
    print(f"{D.activation.name}/{D.kernel.name}: worst float64 {worst64:.2e}, float32 {worst32:.2e}")


def test_members_against_the_independent_quadrature(family):
    D, u, name, values, f_raw, mu_raw = family
    for v in values[:2]:
        f = ind.parse(f_raw.format(v=v))
        mu = ind.parse(mu_raw.format(v=v), (ind.Z,))
        for xv in XS[1:5]:
            ref = ind.nonlocal_derivative(f, mu, xv, "0.1", dps=20)
            assert _err(u(float(xv), 0.1, float(v)), ref) <= TOL64, (name, v, xv)


def test_parameters_broadcast_like_delta(family):
    D, u, name, values, *_ = family
    xs = np.linspace(-0.3, 0.3, 7)
    vs = np.array([float(v) for v in values[:3]])
    grid = u(xs[:, None], 0.1, vs[None, :])
    assert grid.shape == (7, 3)
    for j, v in enumerate(vs):
        assert np.array_equal(grid[:, j], u(xs, 0.1, v))
        assert np.array_equal(grid[:, j], np.array([u(t, 0.1, v) for t in xs]))
    out = np.empty((7, 3))
    assert u(xs[:, None], np.array([0.1]), vs, out=out) is out and np.array_equal(out, grid)


def test_values_outside_the_range_give_nan(family):
    D, u, name, *_ = family
    par = D.parameters[0]
    outside = [float("nan")]
    if par.domain.inf.is_finite:
        outside += [float(par.domain.inf) - 0.5] + ([float(par.domain.inf)] if par.domain.left_open else [])
    got = u(0.05, 0.1, np.array(outside))
    assert np.isnan(got).all(), got


def test_special_values(family):
    D, u, name, values, *_ = family
    v = float(values[-1])
    S = D.subs(**{name: values[-1]})
    fp = sp.diff(S.activation.expr, nlc.x)
    for xv in (0.3, -0.2):
        assert _err(u(xv, 0.0, v), fp.subs(nlc.x, xv)) <= TOL64
    assert np.isnan(u(np.nan, 0.1, v)) and np.isnan(u(0.1, -1.0, v)) and np.isnan(u(0.1, np.nan, v))
    assert u(np.inf, 0.1, v) == 1.0  # f'(+oo) = 1 for every family here


def test_power_family_near_its_ends():
    """p -> -1 (the closed form's two branches meet: (delta^(p+1) - x^(p+1))/(p+1)) and p -> -2 (the kernel's mass
    moves to z = 0)."""
    D = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    u = D.ufunc()
    for pv in (sp.Rational(-1) + sp.Rational(1, 10**9), sp.Rational(-1) - sp.Rational(1, 10**7),
               sp.Rational(-1999, 1000), sp.Integer(30)):
        S = D.subs(p=pv)
        for xv in ("-0.04", "0.001", "0.07"):
            assert _err(u(float(xv), 0.1, float(pv)), S.evaluate(xv, "0.1", dps=25)) <= TOL64, (pv, xv)


def test_members_with_numbers_keep_their_fixed_ufuncs():
    D = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    fixed = D.subs(p=0).ufunc()
    assert fixed.nin == 2
    assert abs(fixed(0.05, 0.1) - D.ufunc()(0.05, 0.1, 0.0)) <= 1e-12


def test_wide_horizons_and_far_points(family):
    """delta from 1e-5 to 10 and x out to 25 horizons (swish: x in its own units): the ratio sigma/delta spans
    1e-4..1e6 for the Gaussian, beta delta 1e-6..400 for swish."""
    D, u, name, values, *_ = family
    for v in values[-2:]:
        S = D.subs(**{name: v})
        for dv in ("10", "0.00001"):
            for xv in ("-7", "-0.2", "0.001", "1.5", "25"):
                xr = sp.Rational(xv) * (1 if D.activation.name != "relu" else sp.Rational(dv))
                ref = S.evaluate(xr, dv, dps=30)
                assert _err(u(float(xr), float(dv), float(v)), ref) <= TOL64, (name, v, dv, xv)
