"""Ufuncs of kernels whose smoothing profile has no compiled code (rho in lowergamma or expint): the quadrature
through mu (codegen/muquad.py), checked against the defining integral computed from the raw formulas
(tests/independent.py), in float64 and float32, at kinks and near them."""

import warnings

import independent as ind
import mpmath
import numpy as np
import pytest

import nonlocal_calc as nlc
from nonlocal_calc import Kernel

#: (activation, its formula for the reference, raw kernel, normalize)
PAIRS = {
    "silu/singular power x Gaussian": ("silu", "x/(1 + exp(-x))", "sign(z)*Abs(z)**(-53/27)*exp(-(10)*z**2)", True),
    "hardtanh/singular power x Gaussian": ("Min(Max(x, -1), 1)", "Min(Max(x, -1), 1)",
                                           "sign(z)*Abs(z)**(-199/100)*exp(-z**2)", True),
    "relu/compact bump": ("relu", "Max(x, 0)", "z*exp(-delta**2/(delta**2-z**2))", True),
    "softsign/unnormalized": ("softsign", "x/(1 + Abs(x))", "sign(z)*Abs(z)**(-1/2)*exp(-(1/2)*z**2)", False),
    # (no closed first moment: the kernel check evaluates it by quadrature; rho in Ei, which has no compiled code)
    "tanh/double exponential": ("tanh", "tanh(x)", "sign(z)*exp(-exp(Abs(z)))", False),
    # (rho an unevaluated Integral: SymPy finds no antiderivative of z e^-z log(1 + z^2))
    "tanh/rho an integral": ("tanh", "tanh(x)", "z*exp(-Abs(z))*log(1 + z**2)", False),
}
XS = (-2.5, -0.7, 0.0, 1e-9, 0.999999999, 1.3)
DELTAS = (0.001, 0.3, 3.0)
TARGET = {np.float64: 1e-12, np.float32: 2e-6}  # relative to max(|value|, 1e-2), as accuracy.TARGETS


def _pair(key):
    act, _, kernel, norm = PAIRS[key]
    act = nlc.Activation.from_expr(act) if "(" in act else act
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nlc.derive(act, Kernel.from_expr(kernel, normalize=norm), timeout=5)


@pytest.mark.parametrize("key", PAIRS)
def test_ufunc_of_a_kernel_with_rho_in_special_functions_is_accurate(key):
    _, ftext, kernel, norm = PAIRS[key]
    D = _pair(key)
    u = D.ufunc()
    assert u.method == "quadrature" and "through mu" in u.__doc__
    f, mu = ind.parse(ftext), ind.parse(kernel, (ind.Z, ind.DELTA))
    bad = []
    for dt in (np.float64, np.float32):
        for d in DELTAS if dt is np.float64 else (0.3,):
            for xv in XS:
                xf, df = dt(xv), dt(d)
                try:  # the reference at the float arguments (near a kink D changes by ~1e7 per unit of x)
                    want = ind.nonlocal_derivative(f, mu, float(xf), float(df), dps=18, normalize=norm)
                except ind.Inaccurate:  # a value that is exactly 0 (hardtanh past its kink) is not certified
                    want = D.evaluate(float(xf), float(df), dps=25)
                got = u(xf, df)
                assert got.dtype == dt
                err = abs(float(got) - float(want)) / max(abs(float(want)), 1e-2)
                if not err <= TARGET[dt]:
                    bad.append((dt.__name__, xv, d, float(got), mpmath.nstr(want, 17), err))
    assert not bad, bad


def test_a_kernel_of_fixed_width_at_a_huge_horizon():
    """The quadrature through mu at horizons of thousands of kernel widths (mu exp(-10 z^2) is 0.3 wide) against
    the defining integral: a coverage check of the route there. (The substitution z = delta t^m crowds the nodes
    at z = 0, where this kernel lives, so one panel already samples it; the cuts at f's bends at x +- z matter.)"""
    key = "silu/singular power x Gaussian"
    _, ftext, kernel, norm = PAIRS[key]
    u = _pair(key).ufunc()
    f, mu = ind.parse(ftext), ind.parse(kernel, (ind.Z, ind.DELTA))
    for xv in (-0.7, 3.0):
        for d in (30.0, 1000.0):
            want = ind.nonlocal_derivative(f, mu, xv, d, dps=18, normalize=norm)
            assert abs(u(xv, d) - float(want)) <= 1e-12 * max(abs(float(want)), 1e-2), (xv, d, u(xv, d), want)


def test_a_jump_at_x_against_a_kernel_with_infinite_rho_at_zero_gives_infinity():
    """f = H(x) + x/2 at its jump, mu ~ |z|^(-53/27): the defining integral diverges to +inf (the reference says
    so), as D.evaluate and the rho route's jump term J rho(0) do; off the jump the value is finite and right."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        K = Kernel.from_expr("sign(z)*Abs(z)**(-53/27)*exp(-(10)*z**2)")
        D = nlc.derive(nlc.Activation.from_expr("Heaviside(x) + x/2"), K, timeout=5)
    u = D.ufunc()
    f, mu = ind.parse("Heaviside(x, 1) + x/2"), ind.parse("sign(z)*Abs(z)**(-53/27)*exp(-(10)*z**2)", (ind.Z, ind.DELTA))
    with pytest.raises(ind.Divergent):
        ind.nonlocal_derivative(f, mu, 0, "0.3", dps=18)
    assert u(0.0, 0.3) == np.inf and u(np.float32(0.0), np.float32(0.3)) == np.inf
    want = ind.nonlocal_derivative(f, mu, 0.01, 0.3, dps=18)
    assert abs(u(0.01, 0.3) - float(want)) <= 1e-12 * abs(float(want))
