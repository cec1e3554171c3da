"""``evaluate`` is a 25-digit reference everywhere it is accepted: tiny horizons and strongly singular kernels.

Every value is checked against a second method that shares nothing with the engine: the moment series
``D f(x) = sum_j f^(2j+1)(x) M_(2j+1) / (2j+1)!`` with the exact moments of the normalized power kernel
``M_k = (p + 2) / (k + p + 1) delta**(k - 1)`` and f's derivatives from ``mpmath.taylor`` (where f is analytic on
the horizon), a formula derived by hand (relu), or the raw-formula quadrature of ``tests/independent.py`` (a kink
inside the horizon), and where the value was published, that value too.
"""

import warnings

import independent
import mpmath
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import kernels, reference
from nonlocal_calc.derivation import QuadratureFallbackWarning

ERF_SHIFTED = "erf((x + 1/4)/2)"


def derive_quiet(act, ker, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        return nlc.derive(act, ker, **kw)


def evaluate_strict(D, xv, dv, dps):
    """D.evaluate with every PrecisionWarning an error (the engine must certify these values)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", nlc.PrecisionWarning)
        return D.evaluate(xv, dv, dps=dps)


def moment_series(f, p, xv, dv, derivatives: int, dps: int = 30) -> mpmath.mpf:
    """The moment series of the normalized kernel sign(z)|z|**p, f's derivatives up to ``derivatives`` from
    mpmath (numerical differentiation at high precision); the last terms must be negligible."""
    with mpmath.workdps(dps + 30):
        p, xv, dv = mpmath.mpf(sp.Rational(p).p) / sp.Rational(p).q, mpmath.mpf(xv), mpmath.mpf(dv)
        c = mpmath.taylor(f, xv, derivatives)
        terms = [c[k] * dv ** (k - 1) * (p + 2) / (k + p + 1) for k in range(1, derivatives + 1, 2)]
        total = mpmath.fsum(terms)
        assert abs(terms[-1]) <= mpmath.mpf(10) ** -dps * abs(total), "series not converged"
        return total


def close(a, b, digits: int = 25) -> bool:
    with mpmath.workdps(60):
        return abs(mpmath.mpf(a) - mpmath.mpf(b)) <= mpmath.mpf(10) ** -digits * abs(mpmath.mpf(b))


def erf_shifted(t):
    return mpmath.erf((t + mpmath.mpf(1) / 4) / 2)


# ------------------------------------------------------------------ tiny horizons
TINY = ["1e-20", "1e-80", "1e-150", "1e-300"]


@pytest.mark.parametrize("dv", TINY)
@pytest.mark.parametrize("dps", [15, 30])
def test_tanh_with_the_linear_kernel_at_tiny_horizons(dv, dps):
    """The closed form cancels 3 digits per digit of 1/delta: at delta = 1e-150 evaluate returned 0 (true 0.961)."""
    D = nlc.derive("tanh", "linear")
    want = moment_series(mpmath.tanh, 1, "0.2", dv, 5)
    got = evaluate_strict(D, "0.2", dv, dps)
    assert close(got, want, min(dps, 25)), (dv, got, want)


@pytest.mark.parametrize("dv", TINY)
def test_relu_with_the_sign_kernel_at_tiny_horizons(dv):
    """relu by hand: 1 right of the horizon, 0 left of it, 1/2 + x/delta - x**2/(2 delta**2) on (0, delta)."""
    D = nlc.derive("relu", "sign")
    with mpmath.workdps(60):
        d = mpmath.mpf(dv)
        cases = {"0.2": 1, "-0.2": 0, "0": mpmath.mpf(1) / 2}
        for frac in ("0.3", "-0.7"):
            y = mpmath.mpf(frac)
            cases[mpmath.nstr(y * d, 50)] = (1 + y) ** 2 / 2 if y < 0 else mpmath.mpf(1) / 2 + y - y**2 / 2
    for xv, want in cases.items():
        got = evaluate_strict(D, xv, dv, 30)
        assert got == want if want in (0, 1) else close(got, want), (xv, dv, got, want)


@pytest.mark.parametrize("dv", TINY)
def test_a_quadrature_pair_at_tiny_horizons(dv):
    """softsign with power(-3/2) has no closed form: the quadrature computes each difference with the digits it
    cancels (300 at delta = 1e-300)."""
    D = derive_quiet("softsign", kernels.power(sp.Rational(-3, 2)))
    assert D.method == "quadrature"
    for xv in ("0.2", "-1.3"):
        want = moment_series(lambda t: t / (1 + abs(t)), sp.Rational(-3, 2), xv, dv, 5)
        assert close(evaluate_strict(D, xv, dv, 30), want), (xv, dv)


def test_a_gaussian_kernel_at_a_tiny_horizon():
    """The Gaussian kernel's normalization cancels about 3 digits per digit of sigma/delta: its factor is
    certified on its own. At delta = 1e-100 the value is f'(x) to 25 digits (M_3 ~ delta**2)."""
    D = derive_quiet("tanh", "gaussian")
    with mpmath.workdps(40):
        want = mpmath.sech(mpmath.mpf("0.2")) ** 2
    assert close(evaluate_strict(D, "0.2", "1e-100", 30), want)


SMOOTH_AT_X = [("gelu", "linear", "0.2"), ("silu", "sign", "-0.3"), ("softplus", "power(2)", "1.5"),
               ("elu", "sign", "-0.3"), ("logistic", "linear", "0.2"), ("arctan", "dirac_pair", "1.5")]


@pytest.mark.parametrize("act, ker, xv", SMOOTH_AT_X)
def test_closed_forms_at_tiny_horizons_give_the_derivative(act, ker, xv):
    """Below delta = 1e-13 the moment series is f'(x) to 25 digits (M_3 ~ delta**2): the closed form (which cancels
    k digits per digit of 1/delta) or the quadrature it hands over to must give it; f' by mpmath.diff."""
    D = nlc.derive(act, ker)
    assert D.method == "closed-form"
    f = reference._mp_function(D.activation.expr, (nlc.x,))
    with mpmath.workdps(50):
        want = mpmath.diff(f, mpmath.mpf(xv))
    for dv in ("1e-30", "1e-60", "1e-90"):
        assert close(evaluate_strict(D, xv, dv, 25), want), (dv,)


# ------------------------------------------------------------------ strongly singular kernels
def test_softsign_with_power_minus_three_halves():
    """Returned -182.1 (silent). The kink of softsign at 0 lies inside the horizon, so the second method is the
    raw-formula quadrature of tests/independent.py."""
    D = derive_quiet("softsign", kernels.power(sp.Rational(-3, 2)))
    got = evaluate_strict(D, "0.03", "0.1", 30)
    assert close(got, "0.93621020218200134718", 19)
    ref = independent.nonlocal_derivative(independent.parse("x/(1 + Abs(x))"),
                                          independent.parse("sign(z)*Abs(z)**(-3/2)", (independent.Z,)),
                                          "0.03", "0.1", dps=30)
    assert close(got, ref)


def test_tanh_with_power_minus_nineteen_tenths():
    """Was 1.8e-6 relative off."""
    D = derive_quiet("tanh", kernels.power(sp.Rational(-19, 10)), timeout=2)
    got = evaluate_strict(D, "0.7", "0.05", 30)
    assert close(got, "0.63474199300226661137", 19)
    assert close(got, moment_series(mpmath.tanh, sp.Rational(-19, 10), "0.7", "0.05", 25))


@pytest.mark.parametrize("p, published", [("-39/20", "0.5543876632483056355884573"),
                                          ("-7/4", "0.550644636192784762022042380432")])
def test_typed_activation_and_kernel_near_p_minus_two(p, published):
    """erf((x+1/4)/2) with the kernel typed as a formula, at x = 0, delta = 1 (a naive quadrature of the defining
    integral is 1e-13 off at p = -7/4)."""
    act = nlc.Activation.from_expr(ERF_SHIFTED, name="erf_shifted")
    D = derive_quiet(act, nlc.Kernel.from_expr(f"sign(z)*Abs(z)**({p})"), timeout=2)
    got = evaluate_strict(D, 0, 1, 30)
    assert close(got, published)
    assert close(got, moment_series(erf_shifted, p, 0, 1, 49))


SWEEP = ["-19/10", "-7/4", "-3/2", "-5/4", "-1", "-3/4", "-1/2"]
SMOOTH = [(mpmath.tanh, "tanh", "0.7", "0.05", 25), (mpmath.tanh, "tanh", "-1.3", "0.1", 31),
          (lambda t: 1 / (1 + mpmath.exp(-t)), "logistic", "0.4", "0.5", 41)]


@pytest.mark.parametrize("p", SWEEP)
def test_quadrature_over_the_singular_range_agrees_with_the_moment_series(p):
    """The engine's quadrature (the evaluator of every pair without a closed form) for -2 < p <= -1/2."""
    ker = kernels.power(sp.Rational(p))
    for fn, name, xv, dv, n in SMOOTH:
        got = reference.nonlocal_quad(nlc.activations.get(name), ker, xv, dv, dps=30)
        assert close(got, moment_series(fn, p, xv, dv, n)), (name, p, xv, dv)


@pytest.mark.parametrize("p", ["-19/10", "-3/2", "-1"])
def test_relu_over_the_singular_range_agrees_with_the_formula_by_hand(p):
    """At x = 1e-80, delta = 1 the kink is 1e-80 from x: g(w) = relu(x+w) - relu(x-w) is 2w below it and x + w
    above, so a power law fitted to g above the kink must not be used below it."""
    D = derive_quiet("relu", kernels.power(sp.Rational(p)))
    for xv, dv in (("0.01", "0.1"), ("-0.03", "0.1"), ("0", "0.5"), ("2e-200", "1e-199"), ("1e-80", "1")):
        got = evaluate_strict(D, xv, dv, 30)
        assert close(got, independent.relu_power(0, sp.Rational(p), xv, dv, dps=40)), (p, xv, dv)


def test_a_jump_at_x_against_a_kernel_with_p_below_minus_one_gives_infinity():
    """int_0^delta mu diverges: the value is +inf (it was a finite number)."""
    D = derive_quiet("binary_step", kernels.power(sp.Rational(-3, 2)))
    assert evaluate_strict(D, 0, "0.1", 30) == mpmath.inf
    assert close(evaluate_strict(D, "0.05", "0.1", 30),
                 independent.nonlocal_derivative(independent.parse("Heaviside(x, 1)"),
                                                 independent.parse("sign(z)*Abs(z)**(-3/2)", (independent.Z,)),
                                                 "0.05", "0.1", dps=30))


def test_values_the_random_pairs_found_wrong():
    """tanh with power(-39/20) was 2.0 for 0.98454; x - 5x**2/2 with power(-195/98) was 3.3827 for 1 - 5x =
    4.5857 (and its right closed form was refused because the quadrature check gave 0.0 for -0.85)."""
    D = derive_quiet("tanh", kernels.power(sp.Rational(-39, 20)), timeout=2)
    assert close(evaluate_strict(D, "-0.125", "1e-3", 30), moment_series(mpmath.tanh, "-39/20", "-0.125", "1e-3", 13))
    ref = independent.nonlocal_derivative(independent.parse("tanh(x)"),
                                          independent.parse("sign(z)*Abs(z)**(-39/20)", (independent.Z,)),
                                          "0.317", "0.442", dps=30)
    assert close(evaluate_strict(D, "0.317", "0.442", 30), ref)
    quadratic = nlc.Activation.from_expr("x - 5*x**2/2", name="quadratic")
    D = derive_quiet(quadratic, kernels.power(-1.989795918367347), cache=False)
    assert D.method == "closed-form"
    for route in (D.evaluate, lambda *a, **k: reference.nonlocal_quad(D.activation, D.kernel, *a, **k)):
        got = route(-0.7171316335813174, 4.37e-05, dps=30)
        assert close(got, 1 - 5 * mpmath.mpf(-0.7171316335813174)), got
    # erf((x + 1/4)/2) with sign(z)|z|^(-7/4) at x = 0, delta = 1 was 4e-15 off (0.5506446361927823799...)
    erf = nlc.Activation.from_expr("erf((1/2)*(x - (-1/4)))")
    D = derive_quiet(erf, nlc.Kernel.from_expr("sign(z)*Abs(z)**(-7/4)"))
    ref = independent.nonlocal_derivative(independent.parse("erf((1/2)*(x - (-1/4)))"),
                                          independent.parse("sign(z)*Abs(z)**(-7/4)", (independent.Z, independent.DELTA)),
                                          0, 1, dps=30, normalize=True)
    assert close(evaluate_strict(D, 0, 1, 30), ref)


# ------------------------------------------------------------------ the certificate
def test_certify_needs_two_agreeing_precisions():
    calls = []

    def noisy(p):  # a value whose error is 10**-(p - 40): right only past 70 digits for 30
        calls.append(p)
        with mpmath.workdps(p):
            return mpmath.mpf(1) / 3 + mpmath.mpf(10) ** -(p - 40)

    val, ok = reference.certify(noisy, 30, 50, 400)
    assert ok and close(val, "1/3", 30) and calls == [50, 75, 112]
    val, ok = reference.certify(lambda p: mpmath.mpf(p), 30, 50, 200)  # never settles
    assert not ok and val == 200
    assert reference.certify(lambda p: None, 30, 50, 200) == (None, False)
    # nan (too few digits to evaluate) goes on to the next precision
    val, ok = reference.certify(lambda p: mpmath.mpf(2) if p > 60 else mpmath.mpf("nan"), 30, 50, 200)
    assert ok and val == 2


def test_a_zero_of_the_closed_form_is_checked_by_the_quadrature(monkeypatch):
    """Two agreeing zeros may both be the cancelled value: evaluate confirms a closed-form 0 by the quadrature
    (relu left of the horizon is 0 by both), and returns the quadrature's value when it is not 0."""
    D = nlc.derive("relu", "sign")
    assert evaluate_strict(D, -1, "0.1", 30) == 0
    D = nlc.derive("tanh", "sign")
    monkeypatch.setattr(type(D), "_mp_closed", property(lambda self: lambda xv, dv: mpmath.mpf(0)))
    assert close(evaluate_strict(D, "0.2", "0.1", 30), moment_series(mpmath.tanh, 0, "0.2", "0.1", 31))


def test_evaluate_says_when_it_cannot_certify(monkeypatch):
    """Where no second working precision is allowed (a cap at the first one), the value is not certified: a
    PrecisionWarning says so, not a silent number."""
    monkeypatch.setattr(reference, "MAX_WORKING_DPS", 60)
    D = derive_quiet("softsign", kernels.power(sp.Rational(-3, 2)))
    with pytest.warns(nlc.PrecisionWarning, match="did not agree; the value is not certified to 40 digits"):
        D.evaluate("0.03", "0.1", dps=40)
