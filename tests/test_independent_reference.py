"""The test's own reference (tests/independent.py) against second methods: the moment series with exact moments,
closed forms derived by hand, exact first moments, and values quoted in the project's bug reports."""

from fractions import Fraction

import grammar
import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from independent import (
    DELTA,
    Divergent,
    Z,
    dirac_pair,
    kinks,
    moment_series,
    nonlocal_derivative,
    odd_integral,
    parse,
    piece,
    relu_power,
)

R = sp.Rational


def power_kernel(p):
    return sp.sign(Z) * sp.Abs(Z) ** sp.nsimplify(p)


def close(a, b, digits=28):
    with mpmath.workdps(60):
        return abs(a - b) <= mpmath.mpf(10) ** -digits * max(abs(b), mpmath.mpf(10) ** -40)


@pytest.mark.parametrize("text, expected", [
    ("Min(Max(x, -1), 1)", (-1, 1)),
    ("Max(0, x - 1/3) + Heaviside(x + 2/7)", (R(-2, 7), R(1, 3))),
    ("Abs(x**2 - 1) + sign(x - 5)", (-1, 1, 5)),
    ("Piecewise((x/10, x < 1/2), (x, True))", (R(1, 2),)),
    ("tanh(x) + x/(1 + x**2)", ()),
])
def test_kinks_are_found_in_the_formula(text, expected):
    assert kinks(parse(text)) == expected


def test_piece_picks_the_branch_that_holds():
    f = parse("Min(Max(x, -1), 1) + Abs(x - 1/3)")
    assert piece(f, R(-2)) == -1 + R(1, 3) - parse("x")
    assert sp.simplify(piece(f, R(1, 2)) - (2 * parse("x") - R(1, 3))) == 0


@pytest.mark.parametrize("activation, p, xv, dv, value", [
    # values quoted in the bug reports (moment series at 50 digits, and a converged evaluation)
    ("x/(1 + Abs(x))", R(-3, 2), "0.03", "0.1", "0.93621020218200134718"),
    ("tanh(x)", R(-19, 10), "0.7", "0.05", "0.63474199300226661137"),
])
def test_values_from_the_bug_reports(activation, p, xv, dv, value):
    got = nonlocal_derivative(parse(activation), power_kernel(p), xv, dv, dps=25)
    with mpmath.workdps(30):
        assert close(got, mpmath.mpf(value), 19)


def test_silu_across_a_horizon_much_wider_than_its_bend():
    """D silu(-500) for the sign kernel and delta = 1000 is int_{-500}^{500} u sigma(u) du / 10^6, and
    int_{-a}^a u sigma(u) du = a^2/2 - int_0^a 2u/(e^u + 1) du = a^2/2 - pi^2/6 + O(a e^-a)."""
    got = nonlocal_derivative(parse("x/(1 + exp(-x))"), sp.sign(Z), -500, 1000, dps=30)
    with mpmath.workdps(40):
        assert close(got, mpmath.mpf(1) / 8 - mpmath.pi**2 / 6 / 10**6)


SINGULAR = [R(-199, 100), R(-39, 20), R(-7, 4), R(-3, 2), R(-1), R(-1, 2)]


@pytest.mark.parametrize("p", SINGULAR + [0, R(1, 3), 1, 3])
def test_agrees_with_the_moment_series(p):
    f = parse("tanh(x) + erf(x/2 + 1/8)")
    for xv, dv in ((-0.3, 0.1),):
        assert close(nonlocal_derivative(f, power_kernel(p), xv, dv, dps=30), moment_series(f, p, xv, dv, dps=30))


_smooth = st.builds(lambda form, u: form.format(u=u), st.sampled_from(grammar._SMOOTH), grammar._argument())


@settings(max_examples=max(4, settings.default.max_examples // 10))
@given(_smooth, grammar.powers, st.floats(-2, 2), st.floats(-3, -1.3).map(lambda e: 10**e))
def test_agrees_with_the_moment_series_for_random_smooth_activations(text, p, xv, dv):
    """delta <= 0.05: well inside the radius of convergence of every smooth form of the grammar (>= 1/3)."""
    f, p = parse(text), sp.Rational(p.numerator, p.denominator)
    assert close(nonlocal_derivative(f, power_kernel(p), xv, dv, dps=30), moment_series(f, p, xv, dv, dps=30))


@pytest.mark.parametrize("p", [R(-199, 100), R(-3, 2), R(-1), R(-1, 2), 2])
@pytest.mark.parametrize("y", [0.0, 1e-9, -1e-9, 0.05, -0.0999999])
def test_agrees_with_the_hand_derived_relu_formula_at_and_near_the_kink(p, y):
    """max(0, x - b) with b = -1/3: the kink at w = |x - b| inside the horizon, or at x itself (x < 0)."""
    xv = float(-mpmath.mpf(1) / 3 + y)
    got = nonlocal_derivative(parse("Max(0, x + 1/3)"), power_kernel(p), xv, 0.1, dps=30)
    assert close(got, relu_power(R(-1, 3), p, xv, 0.1, dps=30))


def _hardtanh(p, xv, dv, dps):
    """hardtanh = relu(x + 1) - relu(x - 1) - 1 (the difference at the digits asked for: mpmath's default is 15)."""
    with mpmath.workdps(dps + 10):
        return relu_power(-1, p, xv, dv, dps + 10) - relu_power(1, p, xv, dv, dps + 10)


#: ReLU and hardtanh as a user types them: Piecewise (the catalogue's own form, whose condition pairs are no SymPy
#: expressions: the reference crashed on them with AttributeError) and Min/Max.
KINKED = [
    ("Piecewise((0, x < -1/3), (x + 1/3, True))", lambda *a: relu_power(R(-1, 3), *a)),
    ("Piecewise((x + 1/3, x >= -1/3), (0, True))", lambda *a: relu_power(R(-1, 3), *a)),
    ("Min(Max(x, -1), 1)", _hardtanh),
    ("Piecewise((-1, x < -1), (x, x < 1), (1, True))", _hardtanh),
]


@pytest.mark.parametrize("text, hand", KINKED, ids=[t for t, _ in KINKED])
@pytest.mark.parametrize("p", [R(-3, 2), 1])
def test_piecewise_and_min_max_activations(text, hand, p):
    """At a kink, next to it, across two kinks (hardtanh with a horizon wider than its ramp) and away from them."""
    f = parse(text)
    for xv, dv in ((-1 / 3, 0.1), (-0.3, 0.1), (1.0, 0.5), (0.999, 0.01), (0.2, 1.5), (-4.0, 0.5)):
        assert close(nonlocal_derivative(f, power_kernel(p), xv, dv, dps=30), hand(p, xv, dv, 30)), (xv, dv)


@pytest.mark.parametrize("p", [R(-1, 2), 1])
@pytest.mark.parametrize("y", [0.0, 1e-9, -0.03])
def test_step_at_its_jump_and_near_it(p, y):
    """Heaviside(x - 1/4): [H(y + w) - H(y - w)] = 1 for w > |y|, so D = (delta^(p+1) - |y|^(p+1)) / (p+1) / M1."""
    xv = float(mpmath.mpf(1) / 4 + y)
    got = nonlocal_derivative(parse("Heaviside(x - 1/4)"), power_kernel(p), xv, 0.1, dps=30)
    with mpmath.workdps(60):
        pm, yy, d = mpmath.mpf(sp.N(p, 60)), abs(mpmath.mpf(xv) - mpmath.mpf(1) / 4), mpmath.mpf(0.1)
        want = (d ** (pm + 1) - min(yy, d) ** (pm + 1)) / (pm + 1) / (2 * d ** (pm + 2) / (pm + 2))
    assert close(got, want)


@pytest.mark.parametrize("p", [R(-1), R(-3, 2)])
def test_a_jump_at_x_against_a_strongly_singular_kernel_diverges(p):
    with pytest.raises(Divergent):
        nonlocal_derivative(parse("Heaviside(x - 1/4)"), power_kernel(p), 0.25, 0.1)


@pytest.mark.parametrize("p", SINGULAR + [0, R(5, 2)])
def test_first_moment_of_power_kernels(p):
    m1, _ = odd_integral(None, power_kernel(p), 0, 0.3, dps=30)
    with mpmath.workdps(40):
        pm = mpmath.mpf(sp.N(p, 50))
        assert close(m1, 2 * mpmath.mpf(0.3) ** (pm + 2) / (pm + 2))


@pytest.mark.parametrize("sigma, dv", [(R(1, 10), 0.3), (R(3, 10), 0.3), (R(2), 1000.0)])
def test_first_moment_of_the_gaussian_kernel(sigma, dv):
    """2 int_0^delta w^2 exp(-w^2/(2 s^2)) dw = 2 s^3 sqrt(pi/2) erf(delta/(s sqrt 2)) - 2 s^2 delta exp(-delta^2/(2 s^2))."""
    m1, _ = odd_integral(None, Z * sp.exp(-(Z**2) / (2 * sigma**2)), 0, dv, dps=30)
    with mpmath.workdps(50):
        s, d = mpmath.mpf(sp.N(sigma, 60)), mpmath.mpf(dv)
        want = 2 * s**3 * mpmath.sqrt(mpmath.pi / 2) * mpmath.erf(d / (s * mpmath.sqrt(2))) \
            - 2 * s**2 * d * mpmath.exp(-(d**2) / (2 * s**2))
        assert close(m1, want)


def test_dirac_pair_is_the_central_difference():
    got = dirac_pair(parse("x**3"), 0.5, 0.25, dps=30)
    assert close(got, mpmath.mpf(0.75) ** 3 / 0.5 - mpmath.mpf(0.25) ** 3 / 0.5)


@settings(max_examples=max(4, settings.default.max_examples // 5))
@given(grammar.kernels().filter(lambda k: k.raw is not None), st.sampled_from([1e-9, 0.01, 0.7, 30.0]))
def test_the_identity_has_derivative_one_for_every_kernel_of_the_grammar(kcase, dv):
    """f = x goes through the difference f(x+w) - f(x-w) (at x = 5/4), the first moment through 2w: they agree, and
    every kernel of the grammar has a positive first moment (so the normalization is defined at every horizon)."""
    m1, _ = odd_integral(None, kcase.raw, 0, dv, dps=30)
    assert m1 > 0
    assert close(nonlocal_derivative(parse("x"), kcase.raw, 1.25, dv, dps=30), mpmath.mpf(1))


def test_the_grammar_writes_what_it_means():
    """Its texts read the same in SymPy as the raw formulas the reference integrates, and the catalogue's raw
    formulas are the textbook definitions."""
    assert grammar._power_text(Fraction(-7, 4)) == "sign(z)*Abs(z)**(-7/4)"
    assert parse(grammar._power_text(Fraction(3)), (Z,)) == Z**3
    assert grammar._gaussian(None).raw == Z * sp.exp(-2 * Z**2 / DELTA**2)


def test_a_bend_much_narrower_than_the_horizon():
    """gelu's bend (width ~1) at w = x = 21.9 inside a Gaussian kernel of width delta/3 = 333 (delta = 1000): a
    plain quadrature of the whole horizon misses it (0.5291596, 0.46 % off). Second method: pieces of width 1/2
    up to w = x + 40, beyond which gelu(x + w) - gelu(x - w) = x + w to 1e-300 and int (x + w) w e^(-a w^2) dw is
    elementary."""
    xv, dv = 21.939269078433053, 1000.0
    f = parse("x*(1 + erf(x/sqrt(2)))/2")
    got = nonlocal_derivative(f, Z * sp.exp(-9 * Z**2 / (2 * DELTA**2)), xv, dv, dps=30)
    with mpmath.workdps(50):
        x, d = mpmath.mpf(xv), mpmath.mpf(dv)
        a = 9 / (2 * d**2)
        gelu = lambda t: t * (1 + mpmath.erf(t / mpmath.sqrt(2))) / 2  # noqa: E731
        mu = lambda w: w * mpmath.exp(-a * w**2)  # noqa: E731
        c = x + 40
        near = mpmath.quad(lambda w: (gelu(x + w) - gelu(x - w)) * mu(w), mpmath.linspace(0, c, 2 * int(c) + 1))
        # int_c^d (x + w) w e^(-a w^2) dw: x [-e^(-a w^2)/(2a)] + [-w e^(-a w^2)/(2a)] + int e^(-a w^2)/(2a)
        E = lambda w: mpmath.exp(-a * w**2)  # noqa: E731
        G = lambda w: mpmath.sqrt(mpmath.pi / a) / 2 * mpmath.erf(mpmath.sqrt(a) * w)  # int_0^w e^(-a s^2) ds
        far = x * (E(c) - E(d)) / (2 * a) + (c * E(c) - d * E(d)) / (2 * a) + (G(d) - G(c)) / (2 * a)
        m1 = (-d * E(d) / a + G(d) / a)  # int_0^d 2 w^2 e^(-a w^2) dw
        assert close(got, (near + far) / m1)


def test_a_formula_that_cancels_in_its_tail():
    """gelu(u) = u (1 + erf(u/sqrt 2))/2 is 1e-197 at u = -30, where 1 + erf cancels every digit of a 45-digit
    evaluation (the reference returned 0 at x = -30, delta = 0.5). Second method for the sign kernel:
    D = [G(x+d) - 2 G(x) + G(x-d)] / d^2 with the antiderivative G = ((u^2 - 1) Phi(u) + u phi(u)) / 2, Phi
    written with erfc (no cancellation), at 400 digits."""
    xv, dv = -30.0, 0.5
    got = nonlocal_derivative(parse("x*(1 + erf(x/sqrt(2)))/2"), sp.sign(Z), xv, dv, dps=30)
    with mpmath.workdps(400):
        Phi = lambda u: mpmath.erfc(-u / mpmath.sqrt(2)) / 2  # noqa: E731
        G = lambda u: ((u**2 - 1) * Phi(u) + u * mpmath.npdf(u)) / 2  # noqa: E731
        x, d = mpmath.mpf(xv), mpmath.mpf(dv)
        want = (G(x + d) - 2 * G(x) + G(x - d)) / d**2
        assert 0 < -want < mpmath.mpf(1e-150)  # (gelu decreases in its left tail)
        assert abs(got - want) <= mpmath.mpf(10) ** -28 * abs(want)  # relative: close() has an absolute floor
