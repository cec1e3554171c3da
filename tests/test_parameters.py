"""Free parameters: declared ranges, checked values, and parametric derivations against the defining integral.

The references are the test's own: ``independent.nonlocal_derivative`` (mpmath quadrature of the defining integral
from the raw formulas, normalized by its own first moment) at parameter values drawn at random here, and direct
derivations with the numbers typed in.
"""

import random

import independent as ind
import mpmath
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import activations, kernels
from nonlocal_calc.derivation import QuadratureFallbackWarning
from nonlocal_calc.parameters import Parameter, ParameterError, decide, parse_domain

DPS = 25
TOL = mpmath.mpf(10) ** -(DPS - 3)
XS = ("-0.13", "-0.04", "0.02", "0.07", "0.31")  # outside the band, inside on both sides, outside
RNG = random.Random(20261203)


def _draw(lo: float, hi: float, n: int = 2) -> list[sp.Rational]:
    """Parameter values at random (fixed seed), as exact fractions with three decimals."""
    return [sp.Rational(round(RNG.uniform(lo, hi), 3)).limit_denominator(1000) for _ in range(n)]


def _close(a, b) -> bool:
    return abs(a - b) <= TOL * (1 + abs(b))


# ---------------------------------------------------------------- the vocabulary of ranges
@pytest.mark.parametrize("text, domain", [
    ("positive", sp.Interval.open(0, sp.oo)),
    ("nonnegative", sp.Interval(0, sp.oo)),
    ("negative", sp.Interval.open(-sp.oo, 0)),
    ("real", sp.Reals),
    ("> -2", sp.Interval.open(-2, sp.oo)),
    (">= -1/2", sp.Interval(sp.Rational(-1, 2), sp.oo)),
    ("<= 1", sp.Interval(-sp.oo, 1)),
    ("(0, 1]", sp.Interval.Lopen(0, 1)),
    ("[-1, 1)", sp.Interval.Ropen(-1, 1)),
    ("(-2, oo)", sp.Interval.open(-2, sp.oo)),
])
def test_ranges(text, domain):
    assert parse_domain(text) == domain


@pytest.mark.parametrize("text, message", [
    ("bigger", "cannot read the range 'bigger'"),
    ("(1, 0)", "is empty"),
    ("[1, 1]", "is empty"),
    ("> x", "unknown name 'x'"),
    ("> oo", "the bound must be a finite number"),
    ("> __import__('os')", "unknown function '__import__'"),
])
def test_bad_ranges_are_refused_clearly(text, message):
    with pytest.raises(ParameterError, match="declare a parameter as") as info:
        parse_domain(text)
    assert message in str(info.value)


def test_symbols_carry_the_assumptions_sympy_can_hold():
    assert Parameter("beta", "positive").symbol.is_positive
    assert Parameter("a", "(0, 1]").symbol.is_positive
    assert Parameter("a", ">= 0").symbol.is_nonnegative
    p = Parameter("p", "> -2").symbol
    assert p.is_real and p.is_positive is None


@pytest.mark.parametrize("value, ok", [(1, True), ("-1/2", True), (-1.999, True), (-2, False), ("-3", False),
                                       (float("nan"), False), ("x", False), (True, False), ([1], False)])
def test_values_are_checked_against_the_range(value, ok):
    p = Parameter("p", "> -2")
    if ok:
        assert p.check(value) == sp.nsimplify(value, rational=True)
    else:
        with pytest.raises(ParameterError, match="parameter p"):
            p.check(value)


@pytest.mark.parametrize("name", ["x", "delta", "pi", "exp", "1a", "_p", "a.b"])
def test_parameter_names_are_plain_and_free(name):
    with pytest.raises(ParameterError):
        Parameter(name, "real")


def test_decide_uses_the_range_and_keeps_what_it_does_not_settle():
    p = Parameter("p", "> -2")
    s = p.symbol
    pw = sp.Piecewise((1 / (s + 1), sp.Ne(s, -1)), (sp.log(2), True))
    assert decide(pw, (p,)) == pw  # p = -1 lies in (-2, oo): both branches kept
    assert decide(pw, (Parameter("p", "> -1"),)) == 1 / (s + 1)
    assert decide(sp.Piecewise((s, s > -2), (sp.oo, True)), (p,)) == s


# ---------------------------------------------------------------- declaring parameters in formulas
def test_typed_parameters_must_be_declared_and_used():
    with pytest.raises(activations.ActivationError, match="unknown name 'beta'"):
        nlc.Activation.from_expr("x/(1+exp(-beta*x))")
    with pytest.raises(activations.ActivationError, match="do not appear"):
        nlc.Activation.from_expr("x/(1+exp(-x))", params={"beta": "positive"})
    with pytest.raises(activations.ActivationError, match="cannot read the range"):
        nlc.Activation.from_expr("x/(1+exp(-beta*x))", params={"beta": "big"})
    with pytest.raises(activations.ActivationError, match="kinks must be at numbers"):
        nlc.Activation.from_expr("Max(0, x - b)", params={"b": "real"})


def test_typed_kernel_with_a_parameter_is_the_power_family():
    k = nlc.Kernel.from_expr("sign(z)*Abs(z)**p", params={"p": "> -2"})
    p = k.parameters[0].symbol
    assert sp.simplify(k.mu_plus - kernels.power(Parameter("p", "> -2")).mu_plus) == 0
    assert sp.simplify(k.moment(3) - (p + 2) * nlc.delta**2 / (p + 4)) == 0
    for pv in _draw(-1.9, 3):  # the normalized first moment is 1, by the test's own quadrature
        mu = sp.lambdify((nlc.z, nlc.delta), k.mu_plus.subs(p, pv), "mpmath")
        with mpmath.workdps(30):
            d = mpmath.mpf("0.3")  # t = d u**8: the singularity t**(p + 1) at 0 becomes u**(>= 0.2)
            m1 = 2 * mpmath.quad(lambda u, d=d, mu=mu: d * u**8 * mu(d * u**8, d) * 8 * d * u**7, [0, 1])
        assert abs(m1 - 1) < 1e-20, (pv, m1)


@pytest.mark.parametrize("rng, message", [("> -3", "at p = -263/100"), ("real", "no closed form of the first moment")])
def test_typed_kernel_refused_where_its_range_is_too_wide(rng, message):
    with pytest.raises(kernels.KernelError, match="p") as info:
        nlc.Kernel.from_expr("sign(z)*Abs(z)**p", params={"p": rng})
    assert message in str(info.value)
    with pytest.raises(kernels.KernelError, match="within p > -2"):
        kernels.power(Parameter("p", rng))


def test_subs_checks_values_and_names():
    k = kernels.power(Parameter("p", "> -2"))
    assert k.subs(p=1).name == "linear" and k.subs(p="-1/2").name == "power(-1/2)"
    with pytest.raises(ParameterError, match=r"parameter p = -2 is outside its range \(-2, oo\)"):
        k.subs(p=-2)
    with pytest.raises(ParameterError, match="unknown parameter"):
        k.subs(q=1)
    with pytest.raises(ParameterError, match="two ranges"):
        nlc.derive(activations.elu(Parameter("p", "positive")), k)


# ---------------------------------------------------------------- parametric derivations
@pytest.fixture(scope="module")
def swish():
    return nlc.derive(nlc.Activation.from_expr("x/(1+exp(-beta*x))", params={"beta": "positive"}), "sign")


def test_swish_for_every_beta(swish):
    assert swish.method == "closed-form" and swish.parameters[0].name == "beta"
    assert swish.expr.free_symbols == {nlc.x, nlc.delta, swish.parameters[0].symbol}
    direct = nlc.derive("silu", "sign")
    for xv in XS:
        assert swish.subs(beta=1).evaluate(xv, "0.1", dps=DPS) == direct.evaluate(xv, "0.1", dps=DPS)
    for bv in [sp.Integer(2), sp.Rational(1, 3), *_draw(0.05, 8)]:
        typed = nlc.derive(nlc.Activation.from_expr(f"x/(1+exp(-{bv}*x))"), "sign")
        f = ind.parse(f"x/(1+exp(-({bv})*x))")
        for xv in XS[1:4]:
            got = swish.subs(beta=bv).evaluate(xv, "0.1", dps=DPS)
            assert _close(got, typed.evaluate(xv, "0.1", dps=DPS)), (bv, xv)
            ref = ind.nonlocal_derivative(f, ind.parse("sign(z)", (ind.Z,)), xv, "0.1", dps=DPS)
            assert _close(got, ref), (bv, xv, got, ref)


@pytest.mark.parametrize("name, par, raw", [
    ("elu", Parameter("alpha", "positive"), "Piecewise((alpha*(exp(x) - 1), x < 0), (x, True))"),
    ("leaky_relu", Parameter("slope", "real"), "Piecewise((slope*x, x < 0), (x, True))"),
])
def test_catalogue_families_with_the_sign_kernel(name, par, raw):
    D = nlc.derive(activations.get(name, **{par.name: par}), "linear")
    assert D.method == "closed-form"
    values = [sp.Rational(1, 2), sp.Integer(1), *_draw(0.01, 4)] if name == "elu" else [sp.Rational(1, 100), *_draw(-2, 2)]
    for v in values:
        S = D.subs(**{par.name: v})
        direct = nlc.derive(activations.get(name, **{par.name: v}), "linear")
        f = ind.parse(raw.replace(par.name, f"({v})"))
        for xv in XS:
            got = S.evaluate(xv, "0.1", dps=DPS)
            assert _close(got, direct.evaluate(xv, "0.1", dps=DPS)), (v, xv)
            ref = ind.nonlocal_derivative(f, ind.parse("z", (ind.Z,)), xv, "0.1", dps=DPS)
            assert _close(got, ref), (v, xv, got, ref)


@pytest.fixture(scope="module")
def relu_power():
    return nlc.derive("relu", kernels.power(Parameter("p", "> -2")))


def test_relu_for_every_power_kernel(relu_power):
    D = relu_power
    p = D.parameters[0].symbol
    assert D.method == "closed-form"
    # the general formula divides by p + 1: p = -1 is its own branch, kept and stated on the result
    assert any(sp.Ne(p, -1) in pw.atoms(sp.Ne) for pw in D.expr.atoms(sp.Piecewise))
    for pv in (sp.Integer(1), sp.Integer(0), sp.Rational(-1, 2), sp.Integer(-1), sp.Rational(3, 2)):
        S, direct = D.subs(p=pv), nlc.derive("relu", kernels.power(pv))
        assert direct.method == "closed-form", pv  # (p = -1 fell back to quadrature: 0 * log(0) made nan)
        for xv in XS:
            assert _close(S.evaluate(xv, "0.1", dps=DPS), direct.evaluate(xv, "0.1", dps=DPS)), (pv, xv)
    for pv in [sp.Integer(-1), *_draw(-1.95, 3, 3)]:
        S = D.subs(p=pv)
        for xv in XS:
            ref = ind.nonlocal_derivative(ind.parse("Max(0, x)"), ind.parse(f"sign(z)*Abs(z)**({pv})", (ind.Z,)),
                                          xv, "0.1", dps=DPS)
            got = S.evaluate(xv, "0.1", dps=DPS)
            assert _close(got, ref), (pv, xv, got, ref)
            assert _close(got, ind.relu_power(0, pv, xv, "0.1", dps=DPS)), (pv, xv)


def test_a_cached_fallback_from_an_older_engine_is_searched_again(tmp_path, monkeypatch):
    """relu/power(-1) was cached as quadrature by the engine that met 0 * log(0); the entry records no engine
    revision, so this engine searches again and replaces it with its closed form."""
    import json

    from nonlocal_calc.derivation import _cache_path, _checksum

    monkeypatch.setenv("NONLOCAL_CALC_CACHE", str(tmp_path))
    k = kernels.power(-1)
    path = _cache_path(activations.get("relu"), k)
    old = {"method": "quadrature", "expr": None, "note": "no closed form found: nan", "budget_exhausted": None}
    path.write_text(json.dumps({**old, "sha256": _checksum(path, old)}))
    D = nlc.derive("relu", k)
    assert D.method == "closed-form"
    assert json.loads(path.read_text())["method"] == "closed-form"
    assert nlc.derive("relu", k).method == "closed-form"  # (now a hit)


def test_typed_power_kernel_derives_the_same_family(relu_power):
    k = nlc.Kernel.from_expr("sign(z)*Abs(z)**p", params={"p": "> -2"})
    D = nlc.derive("relu", k)
    for pv in _draw(-1.9, 2):
        for xv in XS[1:4]:
            assert _close(D.subs(p=pv).evaluate(xv, "0.1", dps=DPS), relu_power.subs(p=pv).evaluate(xv, "0.1", dps=DPS))


def test_identity_and_step_for_every_power_kernel():
    k = kernels.power(Parameter("p", "> -1"))
    assert nlc.derive("identity", k).expr == 1
    D = nlc.derive("binary_step", k)
    assert not D.expr.atoms(sp.Ne)  # p > -1: the range settles the p = -1 case away
    for pv in _draw(-0.9, 3):
        for xv in XS[1:4]:
            ref = ind.nonlocal_derivative(ind.parse("Heaviside(x, 1)"), ind.parse(f"sign(z)*Abs(z)**({pv})", (ind.Z,)),
                                          xv, "0.1", dps=DPS)
            assert _close(D.subs(p=pv).evaluate(xv, "0.1", dps=DPS), ref), (pv, xv)


def test_series_keeps_the_parameters(relu_power):
    k = kernels.power(Parameter("p", "> -2"))
    p = k.parameters[0].symbol
    f = sp.Function("f")
    c3 = sp.expand(k.series(4).removeO()).coeff(sp.Derivative(f(nlc.x), (nlc.x, 3)))
    assert sp.simplify(c3 - (p + 2) * nlc.delta**2 / (6 * (p + 4))) == 0
    for pv in _draw(-1.9, 4):  # M_3 / 3! by the test's own quadrature of the raw kernel, normalized
        with mpmath.workdps(30):
            q = mpmath.mpf(pv.p) / pv.q  # t = u**8 keeps the singular integrand t**(1 + p) smooth enough
            m = [mpmath.quad(lambda u, j=j, q=q: u ** (8 * (j + q)) * 8 * u**7, [0, 1]) for j in (1, 3)]
            assert abs(m[1] / m[0] / 6 - sp.N(c3.subs({p: pv, nlc.delta: 1}), 30)) < 1e-25
    D = nlc.derive("identity", k)  # D.series: the moments of the family, f's derivatives
    assert D.series(4) == 1 + sp.O(nlc.delta**4)
    beta = relu_power.parameters[0].symbol
    S = nlc.derive(nlc.Activation.from_expr("x/(1+exp(-beta*x))", params={"beta": "positive"}), "linear").series(4)
    assert S.removeO().has(sp.Symbol("beta", positive=True)) and not S.removeO().has(beta)


def test_free_parameters_are_refused_where_numbers_are_needed(swish):
    with pytest.raises(ValueError, match=r"free parameters \(beta\).*D.subs\(beta="):
        swish.evaluate("0.1", "0.1")
    with pytest.raises(ValueError, match=r"compiled function needs numbers.*D.subs\(beta="):
        swish.jit_scalar()


@pytest.mark.parametrize("of_delta, par", [(False, Parameter("sigma", "positive")), (True, Parameter("r", "(0, 1]"))])
def test_relu_for_every_gaussian_width(of_delta, par):
    k = kernels.gaussian(par, of_delta=of_delta)
    D = nlc.derive("relu", k)
    assert D.method == "closed-form" and D.parameters == (par,)
    for v in [sp.Rational(1, 2), *_draw(0.05, 1)]:
        S = D.subs(**{par.name: v})
        # (a direct derivation with a random width is slow: SymPy takes 20 s over relu with gaussian(731/1000))
        direct = nlc.derive("relu", kernels.gaussian(v, of_delta=of_delta)) if v == sp.Rational(1, 2) else S
        width = f"(({v})*delta)" if of_delta else f"({v})"
        mu = ind.parse(f"z*exp(-z**2/(2*{width}**2))", (ind.Z,))
        for xv in XS:
            got = S.evaluate(xv, "0.1", dps=DPS)
            assert _close(got, direct.evaluate(xv, "0.1", dps=DPS)), (v, xv)
            ref = ind.nonlocal_derivative(ind.parse("Max(0, x)"), mu, xv, "0.1", dps=DPS)
            assert _close(got, ref), (v, xv, got, ref)


def test_gaussian_width_must_be_positive():
    with pytest.raises(kernels.KernelError, match="sigma > 0 over the whole range"):
        kernels.gaussian(Parameter("s", "real"))


def test_catalogue_swish_is_the_typed_family(swish):
    D = nlc.derive(activations.get("swish", beta=Parameter("beta", "positive")), "sign")
    assert D.activation.name == "silu" and D.method == "closed-form"
    assert activations.silu(1).key() == activations.silu().key()  # beta = 1 is SiLU itself
    for bv in _draw(0.2, 5):
        assert D.subs(beta=bv).activation.key() == activations.silu(bv).key()
        for xv in XS[1:4]:
            assert _close(D.subs(beta=bv).evaluate(xv, "0.1", dps=DPS), swish.subs(beta=bv).evaluate(xv, "0.1", dps=DPS))
    with pytest.raises(activations.ActivationError, match="swish needs beta > 0"):
        activations.silu(0)


def test_a_family_without_closed_form_falls_back_and_specializes():
    with pytest.warns(QuadratureFallbackWarning):
        D = nlc.derive("tanh", kernels.power(Parameter("p", "> -2")))
    assert D.method == "quadrature" and D.expr.has(sp.Integral)
    p = D.parameters[0].symbol
    assert D.series(4).removeO().has(p)  # the moment series keeps the parameter all the same
    pv = _draw(-1.5, 2, 1)[0]
    S = D.subs(p=pv)
    assert S.method == "quadrature" and not S.parameters
    ref = ind.nonlocal_derivative(ind.parse("tanh(x)"), ind.parse(f"sign(z)*Abs(z)**({pv})", (ind.Z,)), "0.3", "0.1",
                                  dps=DPS)
    assert _close(S.evaluate("0.3", "0.1", dps=DPS), ref), (pv, ref)


def test_parametric_derivations_are_cached_with_their_ranges(monkeypatch, tmp_path):
    import json
    import time

    monkeypatch.setenv("NONLOCAL_CALC_CACHE", str(tmp_path))
    first = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    start = time.process_time()
    again = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    assert time.process_time() - start < 0.3 and again.expr == first.expr  # (a derivation: about 3 s)
    assert again.expr.has(sp.Symbol("p", real=True))
    narrower = nlc.derive("relu", kernels.power(Parameter("p", "> -1")))  # another range, another entry
    assert not narrower.expr.atoms(sp.Ne) and first.expr.atoms(sp.Ne)
    entries = list((tmp_path / "derivations").glob("*.json"))
    assert len(entries) == 2
    # an edited entry is checked against quadrature at the sample values before use
    for path in entries:
        data = json.loads(path.read_text())
        data["expr"] = data["expr"].replace('{"i":"2"}', '{"i":"3"}', 1)
        path.write_text(json.dumps(data))
    with pytest.warns(nlc.derivation.ChangedCacheEntryWarning, match="wrong"):
        D = nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    assert D.expr == first.expr



def test_two_parameters_at_once():
    D = nlc.derive(activations.leaky_relu(Parameter("slope", "real")), kernels.power(Parameter("p", "> -2")))
    assert D.method == "closed-form" and {q.name for q in D.parameters} == {"slope", "p"}
    half = D.subs(p="-1/2")  # one at a time: the other stays free
    assert [q.name for q in half.parameters] == ["slope"]
    for sv, pv in zip(_draw(-2, 2), _draw(-1.9, 2.5)):
        both = D.subs(slope=sv, p="-1/2").evaluate("-0.04", "0.1", dps=DPS)
        assert _close(both, half.subs(slope=sv).evaluate("-0.04", "0.1", dps=DPS))
        S = D.subs(slope=sv, p=pv)
        f, mu = ind.parse(f"Piecewise((({sv})*x, x < 0), (x, True))"), ind.parse(f"sign(z)*Abs(z)**({pv})", (ind.Z,))
        for xv in XS:
            got = S.evaluate(xv, "0.1", dps=DPS)
            ref = ind.nonlocal_derivative(f, mu, xv, "0.1", dps=DPS)
            assert _close(got, ref), (sv, pv, xv, got, ref)


def test_a_polynomial_is_its_moment_series_for_every_p():
    """For f = x**5 the moment series stops: D f = f' + M_3/3! f''' + M_5/5! f^(5), with the family's moments
    M_3 = (p + 2) delta**2/(p + 4) and M_5 = (p + 2) delta**4/(p + 6); the engine's closed form must be exactly
    that, and agree with the test's quadrature at a random p."""
    k = kernels.power(Parameter("p", "> -2"))
    p = k.parameters[0].symbol
    D = nlc.derive(nlc.Activation.from_expr("x**5"), k)
    x, d = nlc.x, nlc.delta
    by_hand = 5 * x**4 + (p + 2) * d**2 / (p + 4) * 60 * x**2 / 6 + (p + 2) * d**4 / (p + 6) * 120 / 120
    assert sp.simplify(D.expr - by_hand) == 0
    assert sp.simplify(D.series(6).removeO() - by_hand) == 0
    pv = _draw(-1.9, 3, 1)[0]
    ref = ind.nonlocal_derivative(ind.parse("x**5"), ind.parse(f"sign(z)*Abs(z)**({pv})", (ind.Z,)), "0.3", "0.1",
                                  dps=DPS)
    assert _close(D.subs(p=pv).evaluate("0.3", "0.1", dps=DPS), ref), pv
