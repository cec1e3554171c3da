import mpmath
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import kernels
from nonlocal_calc.kernels import Kernel, KernelError
from nonlocal_calc.symbols import delta, z

ALL = ["sign", "linear", "power(2)", "power(-1/2)", "power(-3/2)", "power(-1)", "dirac_pair", "gaussian",
       "gaussian(delta/5)"]


@pytest.mark.parametrize("spec", ALL)
def test_normalized_first_moment_is_one(spec):
    assert sp.simplify(kernels.get(spec).moment(1) - 1) == 0


@pytest.mark.parametrize("p", [0, 1, 2, sp.Rational(-1, 2), sp.Rational(-3, 2), sp.Rational(7, 3)])
def test_power_moments_match_the_formula(p):
    # M_k = (p+2)/(p+k+1) delta**(k-1) for odd k (from int_0^delta z^(k+p) dz)
    k = kernels.power(p)
    for m in (3, 5):
        assert sp.simplify(k.moment(m) - (p + 2) / (p + m + 1) * delta ** (m - 1)) == 0
    assert k.moment(2) == 0


@pytest.mark.parametrize("spec", ALL)
def test_rho_is_the_tail_integral_of_mu_and_integrates_to_one(spec):
    k = kernels.get(spec)
    if k.discrete:
        assert sp.simplify(k.rho - 1 / (2 * delta)) == 0
        return
    rho = sp.lambdify((z, delta), k.rho, "mpmath")
    mu = k.mu_plus_numeric()
    d = mpmath.mpf("0.3")
    with mpmath.workdps(30):
        for s in ("0.05", "0.17", "0.29"):
            s = mpmath.mpf(s)
            tail = mpmath.quad(lambda t: mu(t, d), [s, d])
            assert mpmath.almosteq(rho(s, d), tail, 1e-20)
            assert mpmath.almosteq(rho(-s, d), tail, 1e-20)  # even
        total = 2 * mpmath.quad(lambda t: 2 * t * rho(t * t, d), [0, mpmath.sqrt(d)])  # s = t**2: regular
        assert mpmath.almosteq(total, 1, 1e-20)


def test_rho_sign():
    for spec in ALL:
        assert kernels.get(spec).rho_nonnegative, spec
    # vanishing third moment forces rho to change sign
    k = Kernel.from_expr("sign(z)*(1 - 3*z**2/(2*delta**2))")
    assert sp.simplify(k.moment(3)) == 0
    assert not k.rho_nonnegative


def test_unnormalized_keeps_the_raw_kernel():
    k = kernels.sign(normalize=False)
    assert k.mu_plus == 1
    assert k.moment(1) == delta**2


def test_series_of_the_sign_kernel():
    f = sp.Function("f")
    s = kernels.sign().series(6).removeO()
    assert sp.simplify(s - (sp.Derivative(f(nlc.x), nlc.x) + delta**2 / 12 * sp.Derivative(f(nlc.x), (nlc.x, 3))
                            + delta**4 / 360 * sp.Derivative(f(nlc.x), (nlc.x, 5)))) == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("z**2", "not odd"),
        ("abs(z)", "not odd"),
        ("sign(z)/z**2", "does not converge"),
        ("sign(z)*abs(z)**(-5/2)", "does not converge"),
        ("z**3 - 3*z*delta**2/5", "first moment"),
        ("a*z", "unknown name 'a'"),
        ("z/(z**2 - delta**2/4)**2", "not integrable|does not converge"),
        ("sqrt(z)", "not odd|not real"),
    ],
)
def test_bad_kernels_are_refused_with_the_failing_property(text, message):
    with pytest.raises(KernelError, match=message):
        Kernel.from_expr(text)


def test_symbols_other_than_z_and_delta_are_named():
    with pytest.raises(KernelError, match="symbols other than z and delta: a"):
        Kernel.from_expr(sp.Symbol("a") * z)


def test_bad_power_and_parameters():
    with pytest.raises(KernelError, match="p <= -2"):
        kernels.power(-2)
    with pytest.raises(KernelError, match="sigma > 0"):
        kernels.gaussian(-0.1)
    with pytest.raises(KernelError, match="unknown kernel"):
        kernels.get("triangle")


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), "abc"])
def test_nonpositive_horizon_is_refused(bad):
    D = nlc.derive("relu", "sign")
    with pytest.raises(KernelError, match="delta must be a positive number"):
        D.evaluate(0.1, bad)


def test_from_expr_matches_builtin():
    assert sp.simplify(Kernel.from_expr("z").mu_plus - kernels.linear().mu_plus) == 0
    assert sp.simplify(Kernel.from_expr("sign(z)").mu_plus - kernels.sign().mu_plus) == 0


def test_series_coefficients_exact_numeric_and_refused():
    """c_j = M_(2j+1) / ((2j+1)! delta^(2j)): exact for powers, by mpmath for the Gaussian (checked against
    SymPy's first two moments of it), None when the kernel is not scale-invariant."""
    assert kernels.sign().series_coefficients(3) == [1.0, 1 / 12, 1 / 360]
    g = kernels.gaussian()
    num = g.series_coefficients(2)
    exact = [float(sp.simplify(g.moment(2 * j + 1) / sp.factorial(2 * j + 1) / delta ** (2 * j)).evalf(30))
             for j in range(2)]
    assert num == pytest.approx(exact, rel=1e-15)
    assert kernels.gaussian("0.05").series_coefficients(2) is None


@pytest.mark.parametrize("spec", ["sign", "linear", "power(2)", "power(-1/2)", "power(1/3)", "sign(z)*(z**2 + 3*z**4)",
                                  "z + 2*z**3"])
def test_series_coefficients_of_monomial_sums_are_the_moments(spec):
    """The term-by-term moments of sum a_i z^p_i (the fast path) give the coefficients that SymPy's integrate
    and simplify give, to the last bit (and None, as they do, where they depend on delta: mixed powers)."""
    k = Kernel.from_expr(spec) if "z" in spec else kernels.get(spec)
    assert k._monomials() is not None
    slow = [sp.simplify(k.moment(2 * j + 1) / sp.factorial(2 * j + 1) / delta ** (2 * j)) for j in range(6)]
    expected = None if any(c.free_symbols for c in slow) else [float(c) for c in slow]
    assert k.series_coefficients(6) == expected
    assert (expected is None) == ("z" in spec)


@pytest.mark.parametrize("p", ["-19/10", "-3/2", "-1", "-1/2"])
def test_series_coefficients_of_singular_powers(p):
    """Strongly singular kernels (-2 < p <= -1) have every odd moment although mu is not integrable: the moment
    series coefficients are (p + 2) / ((2j + 1)! (2j + p + 2)), exactly (power(-1) raised KernelError: its M_17
    was checked against a quadrature that is not accurate there)."""
    pr = sp.Rational(p)
    want = [float((pr + 2) / (sp.factorial(2 * j + 1) * (2 * j + pr + 2))) for j in range(10)]
    assert kernels.power(pr).series_coefficients(10) == want
