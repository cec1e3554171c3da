"""Pairs typed as a user would, outside the catalogue: the ufunc compiles for every pair ``derive`` accepts and
is right, checked against the test's own reference from the raw formulas (tests/independent.py), in both dtypes.

Points are float32 numbers, so one reference serves both loops. Targets: float64 1e-13 relative (1e-12 for a
quadrature pair), float32 2e-6, relative to max(|value|, 1e-2)."""

import warnings

import numpy as np
import pytest
import sympy as sp
from conftest import KINK_PAIRS, points_across_in_float32
from independent import X, Z, nonlocal_derivative, parse

import nonlocal_calc as nlc
from nonlocal_calc.activations import Activation
from nonlocal_calc.codegen import make_ufunc, scalar_kernel
from nonlocal_calc.kernels import Kernel

XS = (-30.0, -2.5, -1.0, -0.3125, 0.0, 0.203125, 1.0, 2.5, 40.0)
DS = (2.0**-14, 0.5, 2.0)


def derive(act: str, ker: str):
    """A typed activation with a kernel spec (``power(p)``...) or formula (``z**3``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kernel = Kernel.from_expr(ker) if "z" in ker else nlc.kernels.get(ker)
        return nlc.derive(Activation.from_expr(act), kernel)


def check(D, f: str, mu: str, xs=XS, ds=DS):
    """The scalar kernel and the ufunc (whole arrays, and one element at a time) at every (x, delta), both dtypes,
    against the reference of the raw formulas f (in x) and mu (in z, delta; normalized here)."""
    u, k = make_ufunc(D), scalar_kernel(D)
    fe, me = parse(f), parse(mu, (Z,))
    tol64 = 1e-12 if D.method == "quadrature" else 1e-13
    for d in ds:
        refs = [nonlocal_derivative(fe, me, xv, d, dps=20) for xv in xs]
        for dt, tol in ((np.float64, tol64), (np.float32, 2e-6)):
            arr = u(np.array(xs, dt), dt(d))
            assert arr.dtype == dt
            for i, xv in enumerate(xs):
                for got in (arr[i], u(dt(xv), dt(d)), k(dt(xv), dt(d))):  # (the scalar kernel returns a Python float)
                    err = abs(float(got) - refs[i]) / max(abs(refs[i]), 1e-2)
                    assert err <= tol, (f, mu, dt.__name__, xv, d, float(got), refs[i])


@pytest.mark.parametrize("act", ["log(1 + exp(x))", "x/(1 + exp(-2*x))"])
def test_polylog_of_order_five(act):
    """The closed forms with the kernel z**3 need Li_5(-e^u): the generated module called a helper that did not
    exist (NameError: _li5_negexp_d); now the polylogarithm of any order."""
    D = derive(act, "z**3")
    assert D.method == "closed-form" and any(p.args[0] == 5 for p in D.expr.atoms(sp.polylog))
    check(D, act, "z**3")


@pytest.mark.parametrize("act,f", [("relu", "Max(0, x)"), ("tanh", "tanh(x)")])
def test_kernel_one_over_z(act, f):
    """power(-1): rho ~ log(delta/s) at 0, which the quadrature's Gauss-Kronrod panels integrated to 7e-6 only;
    the substitution s = delta t^8 makes the weight t^7 log t."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = nlc.derive(act, "power(-1)")
    check(D, f, "sign(z)/Abs(z)", xs=(-2.5, -0.3125, 0.0, 2.0**-16, 0.203125, 1.0), ds=(2.0**-20, 2.0**-7, 0.5, 2.0))


@pytest.mark.parametrize("act,ker,mu", [("x*Abs(x)", "sign", "sign(z)"), ("x**2", "sign", "sign(z)"),
                                        ("x**3", "sign", "sign(z)"), ("x*Abs(x)", "power(-3/2)", "sign(z)*Abs(z)**(-3/2)"),
                                        ("x**3", "power(-1/2)", "sign(z)*Abs(z)**(-1/2)")])
def test_activations_of_polynomial_growth(act, ker, mu):
    """f' unbounded at +-inf: the limits of D there are +-inf (PrinterError: complex constant oo before), and a
    cell delta * p(x/delta) is scaled as a whole (x*Abs(x) with power(-3/2) gave 7 for 4 at x = 2, delta = 0.5:
    the scale multiplied the last term of the centred polynomial only)."""
    D = derive(act, ker)
    check(D, act, mu)
    u = make_ufunc(D)
    f = sp.sympify(act, locals={"x": nlc.x})
    for dt in (np.float64, np.float32):
        want = [float(sp.limit(sp.diff(f, nlc.x), nlc.x, end)) for end in (-sp.oo, sp.oo)]
        assert list(u(np.array([-np.inf, np.inf], dt), dt(0.5))) == want
        assert list(u(np.array([-np.inf, np.inf], dt), dt(0.0))) == want


@pytest.mark.parametrize("act,ker,mu", [("Min(Max(x, -1), 1)", "sign", "sign(z)"),
                                        ("Min(Max(x, -1), 1)", "power(2)", "sign(z)*z**2"),
                                        ("Max(x - 1/3, 0)", "power(-1/2)", "sign(z)*Abs(z)**(-1/2)"),
                                        ("Max(x - 1/3, 0)", "power(-3/2)", "sign(z)*Abs(z)**(-3/2)")])
def test_kinks_away_from_zero(act, ker, mu):
    """Cells bounded by c + k delta with c != 0 (hardtanh typed as Min(Max(x, -1), 1): TypeError: Cannot convert
    expression to float before) are polynomials in (x - c)/delta; points at and around the kinks."""
    D = derive(act, ker)
    kinks = (-1.0, 1.0) if "Min" in act else (1 / 3,)
    xs = sorted({*XS, *(float(np.float32(c + s * r)) for c in kinks for s in (-1, 1) for r in (0.0, 0.25, 0.5, 1.5))})
    check(D, act, mu, xs=xs, ds=(2.0**-14, 0.5, 2.0, 3.0))


def test_closed_form_with_a_function_without_code_compiles_as_quadrature():
    """elu with power(-1) has a closed form with Ei (PrinterError before): the ufunc integrates numerically and says
    so."""
    D = derive("Heaviside(-x)*(exp(x) - 1) + Heaviside(x)*x", "power(-1)")
    assert D.method == "closed-form" and D.expr.has(sp.Ei)
    assert make_ufunc(D).method == "quadrature" and "closed form not compiled" in make_ufunc(D).__doc__
    check(D, "Heaviside(-x)*(exp(x) - 1) + Heaviside(x)*x", "sign(z)/Abs(z)", xs=(-2.5, -0.3125, 0.0, 0.203125, 2.5),
          ds=(2.0**-7, 0.5, 2.0))


def test_cli_codegen_writes_a_module_that_loads(tmp_path):
    """`nonlocal-calc codegen silu --kernel "power(3)"` exited 0 and wrote a module that failed to load (Li_5); the
    module written now loads in a fresh process and gives the values of the reference."""
    import json
    import subprocess
    import sys

    out = tmp_path / "silu_p3.py"
    r = subprocess.run([sys.executable, "-m", "nonlocal_calc", "codegen", "silu", "--kernel", "power(3)", "-o", str(out),
                        "--no-measure"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    code = (f"import json, sys; sys.path.insert(0, {str(tmp_path)!r}); import silu_p3, numpy as np; "
            f"print(json.dumps([float(v) for v in silu_p3.ufunc(np.array({list(XS)!r}), 0.5)]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    f, mu = parse("x/(1 + exp(-x))"), parse("z**3", (Z,))
    for xv, g in zip(XS, got):
        ref = nonlocal_derivative(f, mu, xv, 0.5, dps=20)
        assert abs(g - ref) <= 1e-13 * max(abs(ref), 1e-2), (xv, g, ref)


def test_a_module_that_does_not_load_is_not_written(tmp_path, monkeypatch, capsys):
    """Should the generator ever write a module that fails to load, write_module removes it and raises
    CodegenError, and the CLI says so in one line with exit status 2 (a fault injected into the generated text)."""
    from nonlocal_calc import cli
    from nonlocal_calc.codegen import CodegenError, build, write_module

    real = build.module_source

    def broken(*a, **kw):
        src, gen = real(*a, **kw)
        return src.replace("import math\n", "import math\n_no_such_helper_d(0.0)\n", 1), gen

    monkeypatch.setattr(build, "module_source", broken)
    out = tmp_path / "relu_sign.py"
    with pytest.raises(CodegenError, match="failed to compile .*NameError"):
        write_module(nlc.derive("relu", "sign"), out, measure=False)
    assert not out.exists()
    assert cli.main(["codegen", "relu", "-o", str(out), "--no-measure"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "failed to compile" in err[0] and not out.exists()


def quadrature_route(D):
    """The same pair as a quadrature pair: its compiled code is the Gauss-Kronrod quadrature alone."""
    from nonlocal_calc.derivation import NonlocalDerivative, defining_integral

    return NonlocalDerivative(D.activation, D.kernel, "quadrature", defining_integral(D.activation, D.kernel),
                              "the quadrature route, for a test")


NEAR_MINUS_TWO = [("Max(x, 0)", "-39/20", "closed-form"), ("Max(x, 0)", "-199/100", "quadrature"),
                  ("tanh(x)", "-199/100", "quadrature"), ("Abs(x + 1/8)", "-39/20", "closed-form"),
                  ("Abs(x + 1/8)", "-39/20", "quadrature"), ("Abs(x + 1/8)", "-199/100", "closed-form")]


@pytest.mark.parametrize("act,p,route", NEAR_MINUS_TWO)
def test_kernels_near_minus_two(act, p, route):
    """power(p) with p close to -2 puts a fraction ~(s/delta)^(p+2) of rho's weight below s: at p = -1.95, x = -1/8,
    delta = 1e-3 a fifth of it lies where s is below half an ulp of x, where x + s rounds to x. The quadrature took f' at x + s with the
    branch of x itself there, i.e. the wrong side of a kink at x: Abs(x + 1/8) at x = -1/8 gave 0.2134 for 0
    (with p = -39/20, both routes: the closed form's cells cancel next to the kink and hand over to the
    quadrature); kinks at x on the left side of a panel (x - s) alike. Points at the kink, 2^-26
    either side of it, and smooth points."""
    D = derive(act, f"power({p})")
    if route == "quadrature":
        D = quadrature_route(D)
    assert D.method == route
    kink = -0.125 if "1/8" in act else 0.0
    xs = sorted({-2.5, -0.3125, kink, kink - 2.0**-26, kink + 2.0**-26, 0.203125, 1.0})
    check(D, act, f"sign(z)*Abs(z)**({p})", xs=xs, ds=(2.0**-14, 0.5, 2.0))


@pytest.mark.parametrize("act, mu, timeout", [
    ("Heaviside(x)", "z*exp(-200*z**2)", None),  # closed form: the Gaussian of width 0.05, rho(0) ~ 3/(4 delta)
    ("sqrt(1 + (x + 1)**2)", "z*exp(-10*z**2)", 2),  # by quadrature: rho holds the same normalization
])
def test_fixed_width_exponential_factor_at_small_horizons(act, mu, timeout):
    """A fixed-width factor's normalization (``20 delta - sqrt(10 pi) exp(10 delta^2) erf(sqrt(10) delta)``, ~ delta^3
    from terms ~ delta) and rho's ``1 - exp(a)`` cancel at a small horizon: printed as they are they kept
    1e-16 (sigma/delta)^2 of the value (1.1e-6 off at delta = 1e-6, 10 % at 1e-9)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = nlc.derive(Activation.from_expr(act), Kernel.from_expr(mu), timeout=timeout or 20.0)
    assert D.method == ("quadrature" if timeout else "closed-form")
    check(D, act, mu, xs=(-0.3125, 0.0, 2.0**-40, 0.203125, 2.5), ds=(1e-9, 2.0**-20, 1e-4, 0.03, 0.5))


def test_a_kink_at_twice_the_horizon():
    """The compiled quadrature ends each side with an entry 2 delta; a kink at exactly that distance (softsign's at
    0 from x = +-2 delta) was taken for it, and the last panel took f' of the piece past the kink there: NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = nlc.derive("softsign", "power(-1/2)")
    assert D.method == "quadrature"
    u = make_ufunc(D)
    for d in (0.25, 1.0, 3.0):
        for xv in (-2 * d, 2 * d):
            for dt, tol in ((np.float64, 1e-12), (np.float32, 2e-6)):
                got, want = u(dt(xv), dt(d)), D.evaluate(xv, d, dps=25)
                assert abs(got - want) <= tol * max(abs(want), 1e-2), (xv, d, dt, got, want)


@pytest.mark.parametrize("act,kinks", KINK_PAIRS)
def test_float32_cell_choice_at_a_kink_away_from_zero(act, kinks):
    """Float32 x within rounding of a cell end ``b +- delta`` (b != 0): the float32 loops chose the cell by ``x < b +-
    delta`` computed in float32 and took the wrong side's formula (3.0 where the value is 2.9919718684 for the last
    activation, from the property run). With the central difference (dirac_pair) a cell's formula away from its
    cell is off by ~ (distance)/delta, so a misjudged cell shows; the reference is the central difference of f in
    exact rationals. The last pair has cells that carry a rounding check (the checked path), the others not
    (the branch-free loop)."""
    D = derive(act, "dirac_pair")
    f = parse(act)
    u = make_ufunc(D)
    for dv in (8.03e-6, 1e-4, 0.0123):
        d = np.float32(dv)
        xs = [xv for b in kinks for xv in points_across_in_float32(sp.Rational(b), d)]
        assert xs, (act, dv)  # (else the test checks nothing)
        dr = sp.Rational(float(d))
        refs = [float((f.subs(X, sp.Rational(xv) + dr) - f.subs(X, sp.Rational(xv) - dr)) / (2 * dr)) for xv in xs]
        for dt, tol in ((np.float64, 1e-13), (np.float32, 2e-6)):
            arr = u(np.array(xs, dt), dt(d))
            for i, xv in enumerate(xs):
                for got in (arr[i], u(dt(xv), dt(d))):
                    err = abs(float(got) - refs[i]) / max(abs(refs[i]), 1e-2)
                    assert err <= tol, (act, dt.__name__, xv, float(d), float(got), refs[i])
