"""``NonlocalDerivative.evaluate`` and ``series`` at the edges of their input: nan, +-inf, bad arguments, orders."""

import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import kernels
from nonlocal_calc.derivation import QuadratureFallbackWarning


def derive_quiet(a, k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        return nlc.derive(a, k)


# f'(+inf) and f'(-inf), by hand: the limits of D_mu f for a normalized kernel (M_1 = 1)
SLOPES = {"identity": (1, 1), "binary_step": (0, 0), "relu": (1, 0), "leaky_relu": (1, "0.01"), "prelu": (1, "0.25"),
          "softsign": (0, 0), "tanh": (0, 0), "logistic": (0, 0), "arctan": (0, 0), "softplus": (1, 0), "elu": (1, 0),
          "silu": (1, 0), "gelu": (1, 0), "isru": (0, 0)}


@pytest.mark.parametrize("act", sorted(SLOPES))
@pytest.mark.parametrize("ker", ["sign", "power(-1/2)", "dirac_pair"])
def test_infinite_x_gives_the_limit_and_nan_gives_nan(act, ker):
    D = derive_quiet(act, ker)
    up, down = SLOPES[act]
    for arg in ("inf", float("inf"), np.inf, sp.oo):
        assert D.evaluate(arg, "0.1", dps=20) == mpmath.mpf(up)
    for arg in ("-inf", -float("inf"), -sp.oo):
        with mpmath.workdps(30):
            assert abs(D.evaluate(arg, "0.3", dps=20) - mpmath.mpf(down)) <= mpmath.mpf(10) ** -20
    for arg in ("nan", float("nan"), np.nan):
        assert mpmath.isnan(D.evaluate(arg, "0.1"))


def test_limit_is_the_slope_times_the_first_moment_of_a_raw_kernel():
    """An unnormalized sign kernel has M_1 = delta**2: relu's limit at +inf is delta**2."""
    D = nlc.derive("relu", kernels.sign(normalize=False))
    with mpmath.workdps(25):
        assert D.evaluate("inf", "0.3", dps=25) == mpmath.mpf("0.09") == D.evaluate(1000, "0.3", dps=25)


def test_unbounded_slopes_give_infinite_limits_of_the_right_sign():
    cube = nlc.Activation.from_expr("x**3", name="cube")
    signed_square = nlc.Activation.from_expr("x*Abs(x)", name="ssq")
    higher_order = nlc.Kernel.from_expr("sign(z)*(1 - 3*z**2/(2*delta**2))")  # M_3 = 0: its rho changes sign
    assert not higher_order.rho_nonnegative
    for ker in ("sign", higher_order):
        for act in (cube, signed_square):
            D = derive_quiet(act, ker)
            assert D.evaluate("inf", "0.1") == mpmath.inf
            assert D.evaluate("-inf", "0.1") == mpmath.inf  # f' = 3x**2 and -2x: +oo at -oo too
    D = derive_quiet(nlc.Activation.from_expr("-exp(x)", name="negexp"), "sign")
    assert D.evaluate("inf", "0.1") == -mpmath.inf and D.evaluate("-inf", "0.1") == 0


def test_limits_that_do_not_exist_or_cannot_be_signed_are_refused():
    D = derive_quiet(nlc.Activation.from_expr("sin(x)", name="wave"), "sign")
    with pytest.raises(ValueError, match="no limit at x = \\+inf .* evaluate at a finite x"):
        D.evaluate("inf", "0.1")
    higher_order = nlc.Kernel.from_expr("sign(z)*(1 - 3*z**2/(2*delta**2))")
    D = derive_quiet(nlc.Activation.from_expr("exp(x)", name="e"), higher_order)
    with pytest.raises(ValueError, match="sign of the limit is not known"):
        D.evaluate("inf", "0.1")


@pytest.mark.parametrize("bad", ["abc", None, [1], 1j, True, "1+2j", sp.Symbol("y")])
def test_bad_x_is_refused_with_a_message(bad):
    D = nlc.derive("relu", "sign")
    with pytest.raises(ValueError, match="x must be a real number"):
        D.evaluate(bad, "0.1")


@pytest.mark.parametrize("bad", [0, -0.1, "abc", None, "inf", float("inf"), float("nan"), 1j, "-1e-300"])
def test_bad_delta_is_refused_with_a_message(bad):
    D = nlc.derive("relu", "sign")
    with pytest.raises(nlc.KernelError, match="delta must be a positive number"):
        D.evaluate("0.1", bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "30", None, 10**6])
def test_bad_dps_is_refused(bad):
    with pytest.raises(ValueError, match="dps must be a whole number from 1 to 1000"):
        nlc.derive("relu", "sign").evaluate("0.03", "0.1", dps=bad)


def test_numbers_of_every_kind_are_read_exactly():
    D = nlc.derive("relu", "sign")
    want = D.evaluate("0.03", "0.1", dps=30)
    with mpmath.workdps(30):
        assert want == mpmath.mpf("0.755")
    for xv in (sp.Rational(3, 100), sp.Float("0.03", 40), "3/100"):
        assert D.evaluate(xv, sp.Rational(1, 10), dps=30) == want
    assert D.evaluate(np.float32(0.5), np.float64(1.0), dps=20) == D.evaluate(0.5, 1.0, dps=20)
    assert D.evaluate(np.int64(0), np.int32(1)) == mpmath.mpf("0.5")


@pytest.mark.parametrize("bad", [-1, 0, 2.5, True, "4", None, 10**6, 61])
def test_series_order_is_checked(bad):
    D = nlc.derive("tanh", "sign")
    with pytest.raises(ValueError, match="n must be a whole number from 1 to 60 .* e.g. series\\(4\\)"):
        D.series(bad)
    with pytest.raises(ValueError, match="n must be a whole number from 1 to 60"):
        kernels.sign().series(bad)


def test_series_accepts_numpy_integers_and_the_first_order():
    D = nlc.derive("tanh", "sign")
    assert D.series(np.int64(4)) == D.series(4)
    assert D.series(1) == 1 - sp.tanh(nlc.x) ** 2 + sp.O(nlc.delta)


def test_series_that_runs_out_of_time_says_so():
    with pytest.raises(ValueError, match="needs more than 0.2 s of CPU time .* ask for fewer terms"):
        nlc.derive("silu", "sign").series(40, timeout=0.2)


def test_high_moments_pass_their_check():
    """The moment check integrated z**21 on (0, 0.1) with mpmath's absolute error target: 3e-6 off, and M_21 of the
    sign kernel was refused (so was series(20) of every pair)."""
    k = kernels.sign()
    assert k.moment(21) == nlc.delta**20 / 11
    assert kernels.power("-3/2").moment(31) == nlc.delta**30 / 61  # (p + 2) / (k + p + 1) delta**(k - 1)
