"""The printer and jit_scalar: dtype-generic, callable from njit code, clear errors."""

import numpy as np
import pytest
import sympy as sp

import nonlocal_calc as nlc
from nonlocal_calc import delta, x
from nonlocal_calc.codegen import PrinterError, jit_scalar
from nonlocal_calc.codegen.printer import NumbaPrinter


def test_printer_prefers_accurate_library_functions():
    p = NumbaPrinter()
    assert p.doprint(sp.log(1 + x)) == "math.log1p(x)"
    assert p.doprint(sp.exp(x) - 1) == "math.expm1(x)"
    assert p.doprint(sp.polylog(2, -sp.exp(x + delta))) == "T(_li2_negexp_d(np.float64(delta + x)))"
    assert p.doprint(x**3) == "x * x * x"
    assert p.doprint(sp.nan) == "T(math.nan)"  # a limit that does not exist
    assert "math.sqrt" in p.doprint(sp.sqrt(x + 1))
    assert p.helpers == {"_li2_negexp"}


@pytest.mark.parametrize("bad", [sp.Symbol("y") + x, sp.I * x, sp.besselj(0, x)])
def test_printer_refuses_what_it_cannot_compile(bad):
    with pytest.raises(PrinterError):
        NumbaPrinter().doprint(bad)


def test_jit_scalar_dtypes_and_values():
    f = jit_scalar(sp.Piecewise((0, x < -delta), ((x + delta) ** 2 / (2 * delta**2), x < 0),
                                (1 - (delta - x) ** 2 / (2 * delta**2), x < delta), (1, True)), name="relu sign!")
    assert f(0.05, 0.1) == pytest.approx(0.875, rel=1e-15)
    assert f(0.0, 0.1) == 0.5
    r32 = f(np.float32(0.05), np.float32(0.1))
    assert r32 == pytest.approx(0.875, rel=1e-6)
    sigs = {str(s) for s in f.nopython_signatures}
    assert "(float32, float32) -> float32" in sigs and "(float64, float64) -> float64" in sigs


def test_jit_scalar_callable_from_njit_and_fused():
    """The trainer's use: fuse D f with the incoming gradient inside its own njit loop (both dtypes)."""
    import numba

    D = nlc.derive("tanh", "sign")
    d = jit_scalar(D)  # the stable kernel; jit_scalar(D.expr) would print the raw closed form

    @numba.njit
    def backward(xs, g, dl, out):
        for i in range(xs.shape[0]):
            out[i] = g[i] * d(xs[i], dl)

    for dt in (np.float64, np.float32):
        xs = np.linspace(-2, 2, 9).astype(dt)
        g = np.full(9, 2, dtype=dt)
        out = np.empty_like(xs)
        backward(xs, g, dt(0.5), out)
        ref = [2 * float(D.evaluate(float(v), float(dt(0.5)), dps=20)) for v in xs]
        np.testing.assert_allclose(out, ref, rtol=1e-13 if dt is np.float64 else 2e-6)
    raw = jit_scalar(D.expr, name=f"D_{D.activation.name}_{D.kernel.name}")
    assert raw(0.7, 0.5) == pytest.approx(float(D.evaluate(0.7, 0.5, dps=20)), rel=1e-13)


def test_jit_scalar_of_derivative_is_the_stable_kernel():
    D = nlc.derive("softplus", "sign")
    k = jit_scalar(D)
    # at delta = 1e-6 the raw closed form cancels catastrophically; the kernel does not
    ref = float(D.evaluate(0.3, 1e-6, dps=40))
    assert abs(k(0.3, 1e-6) - ref) < 1e-15
    assert abs(jit_scalar(D.expr)(0.3, 1e-6) - ref) > 1e-10  # what the plain printer would give


def test_jit_scalar_activation_single_argument():
    f = jit_scalar(nlc.activations.get("silu").expr, args=(x,))
    assert f(1.0) == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-15)


def test_jit_scalar_rejects_free_symbols_and_integrals():
    with pytest.raises(PrinterError, match="not arguments"):
        jit_scalar(x + sp.Symbol("a"))
    with pytest.raises(PrinterError, match="pass the NonlocalDerivative itself"):
        jit_scalar(sp.Integral(sp.exp(x * delta), (delta, 0, 1)), args=(x,))


def test_printer_sign_of_a_sum_at_zero():
    """sign(a) where a = 0 is a * 0 (keeps the zero's sign, NaN for NaN): the product needs a in parentheses."""
    assert NumbaPrinter().doprint(sp.sign(x - 1)).endswith("else (x - T(1.0)) * T(0.0)))")


def test_printer_settings_and_strictness():
    """Options are SymPy printer settings; functions SymPy's own printers would print are refused."""
    p = NumbaPrinter(vector_math=True)
    assert p.doprint(sp.exp(x) * sp.log(1 + x)) == "_vexp(x) * _vlog1p(x)"
    assert p.helpers == {"_vexp", "_vlog1p"}
    assert NumbaPrinter(vector_math=True, width=64).doprint(sp.log(x)) == "_vlog64(x)"
    assert NumbaPrinter(settings={"float_type": "np.float64"}).doprint(x + 2) == "x + np.float64(2.0)"
    for bad in (sp.Mod(x, 2), sp.KroneckerDelta(x, 1), sp.Derivative(sp.Function("f")(x), x)):
        with pytest.raises(PrinterError, match="cannot compile"):
            NumbaPrinter().doprint(bad)
    with pytest.raises(ValueError, match="width"):
        NumbaPrinter(width=16)


@pytest.mark.parametrize("expr,text", [
    (sp.polylog(0, x), "x / (-x + T(1.0))"),
    (sp.polylog(1, x), "-math.log1p(-x)"),
    (sp.polylog(5, -sp.exp(x)), "T(_polylog_negexp_d(np.int64(5), np.float64(x)))"),
    (sp.Heaviside(x), "(T(1.0) if x > T(0.0) else (T(0.0) if x < T(0.0) else T(0.5)))"),
    (sp.floor(x / delta), "T(math.floor(x / delta))"),
    (x**12, "x ** 12"),
    (x**sp.pi, "math.pow(x, T(3.141592653589793))"),
    (x ** sp.Rational(-3, 2), "T(1.0) / (math.sqrt(x) * x)"),
    (sp.Max(x, 0, delta), "max(delta, x)"),
    (sp.And(x < 1, sp.Not(x > delta)), "x <= delta and x < T(1.0)"),
    (sp.Or(x < 1, x > 2), "x > T(2.0) or x < T(1.0)"),
    (-sp.oo, "-T(math.inf)"),
    (x - sp.Rational(1, 3), "(x - T(0.3333333333333333)) - T((0.3333333333333333 - np.float64(T(0.3333333333333333)))"
                            " + (1.850371707708594e-17))"),
])
def test_printer_constructs_of_user_formulas(expr, text):
    """What jit_scalar prints for formulas the generated modules do not contain (their printing is covered here:
    generating all 84 catalogue pairs never reaches these branches)."""
    assert NumbaPrinter().doprint(expr) == text
