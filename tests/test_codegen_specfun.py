"""Special functions and quadrature rules of the generated code, against mpmath."""

import hashlib
from types import SimpleNamespace

import mpmath
import numpy as np
import pytest
import sympy as sp
from conftest import from_python

from nonlocal_calc.codegen import jit_scalar, specfun
from nonlocal_calc.codegen.modcache import load_module


@pytest.fixture(scope="module")
def sf():
    """The special functions' float64 bodies, callable from Python (the generated ones are callable from compiled
    code only)."""
    src = "import math\n\nimport numba\nimport numpy as np\n" + specfun.source(specfun.HELPERS)
    mod = load_module(src, "test_sf_" + hashlib.sha1(src.encode()).hexdigest()[:12])
    return SimpleNamespace(**{n: from_python(getattr(mod, n + "_d")) for n in specfun.IN_FLOAT64})


@pytest.fixture(scope="module")
def sf32():
    """The same functions as generated float32 code calls them (:func:`specfun.call`), through ``jit_scalar``."""
    u = sp.Symbol("u", real=True)
    funcs = {f"_li{s}": sp.polylog(s, u) for s in (2, 3, 4)}
    funcs.update({f"_li{s}_negexp": sp.polylog(s, -sp.exp(u)) for s in (2, 3, 4)})
    return SimpleNamespace(**{n: jit_scalar(e, args=(u,)) for n, e in funcs.items()})


def _rel(got, ref):
    return abs((mpmath.mpf(float(got)) - ref) / ref) if ref != 0 else abs(got)


XS = np.concatenate([-np.logspace(-8, 8, 60), np.logspace(-8, 0, 30), 1 - np.logspace(-12, -0.31, 30),
                     [0.0, 1.0, -1.0, 0.5, -0.5]])


@pytest.mark.parametrize("s", [2, 3, 4])
def test_polylog_real(sf, sf32, s):
    """Li_s(x) for x <= 1 to a few ulp in float64 and float32 (float32 code returns float32 values); NaN above 1."""
    with mpmath.workdps(30):
        for f, dt, tol in ((getattr(sf, f"_li{s}"), np.float64, 2e-15), (getattr(sf32, f"_li{s}"), np.float32, 1e-6)):
            for xv in XS.astype(dt):
                ref = mpmath.polylog(s, mpmath.mpf(float(xv)))
                got = f(dt(xv))
                assert dt(got) == got and _rel(got, ref) < tol, (s, dt, xv, got, ref)  # (a value of dt)
    assert np.isnan(getattr(sf, f"_li{s}")(1.5))


@pytest.mark.parametrize("s", [2, 3, 4])
def test_polylog_of_minus_exp(sf, sf32, s):
    """Li_s(-e^u) for every real u, without overflow (the inversion formula for u > 0)."""
    f, f32 = getattr(sf, f"_li{s}_negexp"), getattr(sf32, f"_li{s}_negexp")
    with mpmath.workdps(30):
        for u in list(np.linspace(-40, 40, 161)) + [700.0, 5000.0, -700.0]:
            ref = mpmath.polylog(s, -mpmath.exp(u))
            assert _rel(f(u), ref) < 2e-15, (s, u)
            if abs(u) < 80:  # float32 range of exp(u)
                got = f32(np.float32(u))
                assert np.float32(got) == got  # rounded to float32
                assert _rel(got, mpmath.polylog(s, -mpmath.exp(float(np.float32(u))))) < 1e-6


def test_polylog_coefficients_exact():
    """The w-series coefficients reproduce Li_s(1 - e^-w) at 40 digits (so no coefficient is mistyped)."""
    with mpmath.workdps(40):
        for s in (2, 3, 4):
            c = specfun.li_w_coeffs(s, 40)
            for w in (mpmath.mpf("0.69"), mpmath.mpf("-0.69"), mpmath.mpf("0.3")):
                ser = sum(mpmath.mpf(k.numerator) / k.denominator * w**n for n, k in enumerate(c))
                assert abs(ser - mpmath.polylog(s, 1 - mpmath.exp(-w))) < mpmath.mpf(10) ** -30


def test_erfi_and_log1pexp(sf):
    with mpmath.workdps(30):
        for xv in np.linspace(-20, 20, 81):
            ref = mpmath.erfi(xv)
            # erfi(x) ~ exp(x^2): its condition number is 2 x^2
            assert _rel(sf._erfi(xv), ref) < 4e-16 * (1 + 2 * xv * xv)
        for u in (-800.0, -30.0, -1.0, 0.0, 1e-9, 2.0, 40.0, 800.0):
            ref = mpmath.log(1 + mpmath.exp(u))
            assert _rel(sf._log1pexp(u), ref) < 3e-16


@pytest.mark.parametrize("s", [0, 1, 2, 3, 5, 6, 7, 9, 12, 20, 61, 70])
def test_polylog_of_any_order(sf, s):
    """Li_s(-e^u) of any integer order s (an argument: no helper per order) for every real u, and the real Li_s(x)
    for x <= 1, against mpmath: 2e-15 relative (the real one 2.5e-15: below -1/2 it goes through u = log(-x),
    whose rounding the values of high order amplify by about s / log|x|); the orders of their own agree."""
    with mpmath.workdps(30):
        for u in list(np.linspace(-40, 40, 81)) + [-1.0, 1.0, 1 + 2.0**-40, -1 - 2.0**-40, 0.0, 700.0, -700.0, 5000.0]:
            ref = mpmath.polylog(s, -mpmath.exp(u))
            assert _rel(sf._polylog_negexp(s, u), ref) < 2e-15, (s, u)
        for xv in XS:
            if xv == 1.0 and s < 2:
                continue
            assert _rel(sf._polylog(s, xv), mpmath.polylog(s, mpmath.mpf(float(xv)))) < 2.5e-15, (s, xv)
    assert np.isnan(sf._polylog(s, 1.5)) and np.isnan(sf._polylog_negexp(s, np.nan))
    assert sf._polylog_negexp(s, -np.inf) == 0.0 and sf._polylog_negexp(s, np.inf) == -np.inf
    if s in specfun.FIXED_ORDERS:
        for u in np.linspace(-5, 5, 41):
            assert abs(sf._polylog_negexp(s, u) - getattr(sf, f"_li{s}_negexp")(u)) <= 2e-15 * abs(sf._polylog_negexp(s, u))
