"""The symbolic engine against independent mpmath quadrature, and the structural properties."""

import json
import os
import subprocess
import sys
import warnings

import mpmath
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc.derivation import COVERAGE_KERNELS, QuadratureFallbackWarning
from nonlocal_calc.reference import nonlocal_quad, rho_quad
from nonlocal_calc.symbols import delta, x, z

ACTS = ["identity", "binary_step", "relu", "leaky_relu", "prelu", "softsign", "tanh", "logistic", "arctan",
        "softplus", "elu", "silu"]
PAIRS = [(a, k) for a in ACTS for k in COVERAGE_KERNELS]


def derive_quiet(a, k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        return nlc.derive(a, k)


def points():
    """Inside and outside the horizon, at and near the kink and the cell boundaries, for two horizons."""
    out = []
    for d in ("1/10", "1"):
        dd = sp.Rational(d)
        for t in ("-2", "-1", "-0.999", "-0.5", "-0.001", "0", "0.001", "0.5", "0.999", "1", "2"):
            out.append((sp.Rational(t) * dd, dd))
    out += [(sp.Rational(v), sp.Rational(1, 10)) for v in ("-3", "-1.3", "0.73", "2.9", "10")]
    return out


@pytest.mark.parametrize("act, ker", PAIRS)
def test_agrees_with_mpmath_quadrature_to_25_digits(act, ker):
    D = derive_quiet(act, ker)
    # quadrature pairs are checked through the rho representation (another integrand) so the check is not circular
    reference = rho_quad if D.method == "quadrature" else nonlocal_quad
    pts = points()
    assert len(pts) >= 20
    for xv, dv in pts:
        xs, ds = str(xv), str(dv)
        with mpmath.workdps(40):
            got = D.evaluate(mpmath.mpf(sp.N(xv, 50)), mpmath.mpf(sp.N(dv, 50)), dps=30)
            ref = reference(D.activation, D.kernel, mpmath.mpf(sp.N(xv, 50)), mpmath.mpf(sp.N(dv, 50)), dps=30)
            err = abs(got - ref)
            assert err <= mpmath.mpf(10) ** -25 * max(abs(ref), mpmath.mpf(10) ** -5), (act, ker, xs, ds, got, ref)


@pytest.mark.parametrize("act, ker", PAIRS)
def test_closed_forms_are_tidy(act, ker):
    D = derive_quiet(act, ker)
    if D.method != "closed-form":
        assert D.expr.has(sp.Integral) or ker == "dirac_pair"
        assert "quadrature" in D.note
        return
    assert not D.expr.has(sp.Integral, sp.Min, sp.Max, sp.Heaviside)
    assert D.expr.free_symbols <= {x, delta}
    if isinstance(D.expr, sp.Piecewise):
        for _, cond in D.expr.args[:-1]:
            assert isinstance(cond, sp.StrictLessThan) and cond.lhs == x  # breakpoints written as x < a + b*delta


def test_the_catalogue_pairs_that_must_be_closed_forms():
    piecewise_linear = ["identity", "binary_step", "relu", "leaky_relu", "prelu"]
    for a in piecewise_linear:
        for k in ["sign", "linear", "power(2)", "power(-1/2)", "dirac_pair"]:
            assert derive_quiet(a, k).method == "closed-form", (a, k)
    for a in ["softsign", "tanh", "logistic", "arctan", "softplus", "elu", "silu", "gelu", "isru"]:
        for k in ["sign", "linear", "power(2)", "dirac_pair"]:
            assert derive_quiet(a, k).method == "closed-form", (a, k)


def test_quadrature_fallback_says_so():
    with pytest.warns(QuadratureFallbackWarning, match="quadrature"):
        D = nlc.derive("tanh", "power(-1/2)")
    assert D.method == "quadrature"
    v = D.evaluate("0.2", "0.1", dps=20)
    assert mpmath.almosteq(v, 1 - mpmath.tanh(mpmath.mpf("0.2")) ** 2, 1e-2)


@pytest.mark.parametrize("ker", ["sign", "linear", "power(2)", "power(-1/2)", "gaussian", "dirac_pair"])
def test_step_gives_rho_and_relu_gives_its_running_integral(ker):
    k = nlc.kernels.get(ker)
    step = derive_quiet("binary_step", k)
    relu = derive_quiet("relu", k)
    if k.discrete:
        for xv in ("-0.7", "-0.2", "0.3", "0.9"):
            assert step.evaluate(xv, "1") == (mpmath.mpf(1) / 2 if abs(float(xv)) < 1 else 0)
        return
    rho = sp.lambdify((z, delta), k.rho, "mpmath")
    d = mpmath.mpf("0.5")
    with mpmath.workdps(30):
        for xv in ("-0.7", "-0.41", "-0.2", "0.05", "0.3", "0.49", "0.9"):
            xm = mpmath.mpf(xv)
            expect = rho(xm, d) if abs(xm) < d else 0
            assert mpmath.almosteq(step.evaluate(xm, d, dps=30), expect, 1e-25)
            lo = max(-xm, -d)
            running = mpmath.quad(lambda s: rho(s, d), [lo, 0, d] if lo < 0 else [lo, d]) if xm > -d else 0
            assert mpmath.almosteq(relu.evaluate(xm, d, dps=30), running, 1e-25)


def _slope_bounded(act):
    """s continuous and 0 <= s' <= 1 on a fine grid (computed, not assumed)."""
    for i, b in enumerate(act.breakpoints):
        if sp.simplify((act.pieces[i + 1] - act.pieces[i]).subs(x, b)) != 0:
            return False  # a jump: s' has a Dirac mass
    d = sp.lambdify(x, act.derivative, "mpmath")
    vals = [d(mpmath.mpf(i) / 50) for i in range(-1000, 1001) if i != 0]
    return all(0 <= v <= 1 for v in vals)


def test_fuzzy_relu_note_property_and_its_counterexample():
    """0 <= D_mu s <= 1 when rho >= 0 and 0 <= s' <= 1 (an average of s'); fails for sign-changing rho."""
    acts = [a for a in nlc.activations.names() if _slope_bounded(nlc.activations.get(a))]
    assert {"relu", "tanh", "logistic", "softplus", "leaky_relu", "arctan"} <= set(acts)
    assert "silu" not in acts and "gelu" not in acts  # their slopes leave [0, 1]
    grid = [mpmath.mpf(i) / 10 for i in range(-15, 16)]
    for ker in ["sign", "linear", "power(2)", "power(-1/2)", "dirac_pair", "gaussian"]:
        assert nlc.kernels.get(ker).rho_nonnegative
        for a in acts:
            D = derive_quiet(a, ker)
            pts = grid if D.method == "closed-form" else grid[::6]
            for dv in ("0.1", "1"):
                for xv in pts:
                    v = D.evaluate(xv, dv, dps=20)
                    assert -1e-18 <= v <= 1 + 1e-18, (a, ker, xv, dv, v)
    bad = nlc.Kernel.from_expr("sign(z)*(1 - 3*z**2/(2*delta**2))", name="fourth-order")
    assert not bad.rho_nonnegative
    D = derive_quiet("relu", bad)
    values = [D.evaluate(xv, "1", dps=20) for xv in grid]
    assert min(values) < 0 or max(values) > 1


def test_series_agrees_with_the_symbolic_taylor_expansion():
    D = derive_quiet("tanh", "sign")
    taylor = sp.series(D.expr, delta, 0, 4).removeO()
    assert sp.simplify((taylor - D.series(4, order=False)).rewrite(sp.exp)) == 0


@pytest.mark.parametrize("act", ["tanh", "logistic", "arctan", "softplus", "silu", "gelu", "isru"])
@pytest.mark.parametrize("ker", ["sign", "linear", "power(2)", "dirac_pair"])
def test_series_agrees_with_the_taylor_expansion_of_the_closed_form(act, ker):
    """closed form - series(4) must be the next term of the expansion, c4 * delta**4 (up to O(delta**6))."""
    D = derive_quiet(act, ker)
    assert D.method == "closed-form"
    s4 = sp.lambdify((x, delta), D.series(4, order=False), "mpmath")
    s6 = sp.lambdify((x, delta), D.series(6, order=False), "mpmath")
    with mpmath.workdps(60):
        for xv in ("-1.3", "0.2", "2.1"):
            for dv in ("0.01", "0.002"):
                xm, dm = mpmath.mpf(xv), mpmath.mpf(dv)
                residual = D.evaluate(xm, dm, dps=60) - s4(xm, dm)
                next_term = s6(xm, dm) - s4(xm, dm)
                # the residual is the delta**4 term: relative deviation O(delta**2)
                assert abs(residual - next_term) <= 50 * dm**2 * abs(next_term) + mpmath.mpf(10) ** -50, \
                    (act, ker, xv, dv, residual, next_term)


def test_latex_and_display():
    D = nlc.derive("relu", "sign")
    assert D.latex().startswith(r"D_{\mu} \mathrm{relu}(x) = ")
    assert r"\frac{x}{\delta}" in D.latex()
    assert D._repr_latex_().startswith("$")


def test_user_formulas_end_to_end():
    act = nlc.Activation.from_expr("x/(1+exp(-x))", name="swish")
    D = nlc.derive(act, nlc.Kernel.from_expr("z**3"))
    assert D.method == "closed-form"
    ref = nonlocal_quad(D.activation, D.kernel, "0.4", "0.3", dps=30)
    assert mpmath.almosteq(D.evaluate("0.4", "0.3", dps=30), ref, 1e-25)
    hard = nlc.Activation.from_expr("min(max(x, -1), 1)", name="hardtanh")
    D = nlc.derive(hard, "sign")
    assert D.method == "closed-form"
    for xv, dv in (("-1.05", "0.1"), ("0.95", "0.1"), ("0.2", "0.7"), ("0.9", "1.5"), ("-2.5", "1.5")):
        ref = nonlocal_quad(D.activation, D.kernel, xv, dv, dps=30)
        assert mpmath.almosteq(D.evaluate(xv, dv, dps=30), ref, 1e-25), (xv, dv)


def test_cache_is_reused_by_a_new_process(tmp_path):
    env = {**os.environ, "NONLOCAL_CALC_CACHE": str(tmp_path)}
    code = (
        "import json, nonlocal_calc as nlc, nonlocal_calc.derivation as d\n"
        "calls = []\norig = d.closed_form\n"
        "d.closed_form = lambda *a: calls.append(1) or orig(*a)\n"
        "D = nlc.derive('elu', 'linear')\n"
        "print(json.dumps({'calls': len(calls), 'expr': str(D.expr)}))\n"
    )
    first = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      check=True).stdout)
    second = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                       check=True).stdout)
    assert first["calls"] == 1 and second["calls"] == 0
    assert first["expr"] == second["expr"]


def test_corrupted_cache_entry_is_rebuilt_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("NONLOCAL_CALC_CACHE", str(tmp_path))
    D = nlc.derive("relu", "linear")
    files = list((tmp_path / "derivations").glob("*.json"))
    assert len(files) == 1
    for garbage in ("{not json", json.dumps({"method": "closed-form", "expr": '{"n": "eval", "args": []}',
                                             "note": ""})):
        files[0].write_text(garbage)
        with pytest.warns(UserWarning, match="corrupted derivation cache entry"):
            again = nlc.derive("relu", "linear")
        assert again.expr == D.expr
        assert json.loads(files[0].read_text())["method"] == "closed-form"


def test_import_is_light():
    code = "import sys, nonlocal_calc; print('numba' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_a_wrong_symbolic_result_is_caught_and_replaced_by_quadrature(monkeypatch, tmp_path):
    """SymPy's integrate is not infallible; every closed form is checked numerically on each cell."""
    import nonlocal_calc.derivation as d

    monkeypatch.setenv("NONLOCAL_CALC_CACHE", str(tmp_path))
    right = d.closed_form
    monkeypatch.setattr(d, "closed_form", lambda a, k: right(a, k) + sp.Piecewise((x / 10**6, x < 0), (0, True)))
    with pytest.warns(QuadratureFallbackWarning, match="failed the numerical check"):
        D = nlc.derive("relu", "linear")
    assert D.method == "quadrature"


def test_evaluate_is_correct_to_dps_digits_in_the_tails():
    """tanh(40 + z) - tanh(40) cancels 41 digits at delta = 1e-6: evaluate raises its working precision (both
    routes agree with the closed form at 300 digits), and warns where even MAX_WORKING_DPS digits fall short."""
    import mpmath

    from nonlocal_calc.reference import PrecisionWarning, nonlocal_quad, working_dps

    D = nlc.derive("tanh", "sign")
    with mpmath.workdps(300):
        exact = D._mp_closed(mpmath.mpf(40), mpmath.mpf("1e-6"))
    for val in (D.evaluate(40, "1e-6", dps=20), nonlocal_quad(D.activation, D.kernel, 40, "1e-6", dps=20)):
        assert abs(val - exact) <= mpmath.mpf(10) ** -20 * abs(exact)
    assert working_dps(mpmath.tanh, 0.5, "0.1", 20) == 41  # 20 guard digits + 1 (tanh 0.46, differences 0.08)
    with pytest.warns(PrecisionWarning, match="cancels more than"):
        working_dps(mpmath.tanh, 10000, "0.1", 20, fprime=lambda t: mpmath.sech(t) ** 2)
    with pytest.warns(PrecisionWarning, match="not correct to 20 digits"):
        D.evaluate(10000, "0.1", dps=20)
    # x = 2500: f(x + delta) - f(x) cancels 2172 digits, evaluate starts at 2212 working digits, and the next
    # precision is capped at MAX_WORKING_DPS (doubling it would pass the cap and warn for nothing)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        val = D.evaluate(2500, "0.1", dps=20)
    with mpmath.workdps(6000):
        exact = D._mp_closed(mpmath.mpf(2500), mpmath.mpf("0.1"))
    assert abs(val - exact) <= mpmath.mpf(10) ** -20 * abs(exact)


def test_evaluate_returns_zero_for_rounding_noise_and_keeps_tiny_values():
    """relu with power(2) at x = -delta exactly: the closed form's cell gives 2e-47, -3e-92, 3e-182 at 45, 90
    and 180 digits (noise around the true 0), returned as 0; one ulp inside the horizon the true 6.9e-33 stays."""
    import mpmath

    D = nlc.derive("relu", "power(2)")
    assert D.evaluate("-0.1", "0.1", dps=30) == 0
    xv = -0.09999999999999999
    with mpmath.workdps(300):
        exact = D._mp_closed(mpmath.mpf(xv), mpmath.mpf("0.1"))
    assert 0 < exact < 1e-32
    assert abs(D.evaluate(xv, "0.1", dps=30) - exact) <= mpmath.mpf(10) ** -30 * exact
