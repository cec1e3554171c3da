"""The ufuncs: dtype loops, broadcasting, out=, strides, special values, accuracy on the accuracy grid."""

import functools
import warnings

import numpy as np
import pytest
import sympy as sp
from conftest import from_python

import nonlocal_calc as nlc
from nonlocal_calc.codegen import _module, make_ufunc, scalar_kernel
from nonlocal_calc.codegen.accuracy import DELTAS, grid_x, measure_kernel
from nonlocal_calc.codegen.fprime import activation_pieces, limits
from nonlocal_calc.derivation import COVERAGE_KERNELS


@pytest.fixture(scope="module")
def relu():
    return make_ufunc(nlc.derive("relu", "sign"))


def test_loops_and_dtypes(relu):
    assert relu.types == ["ff->f", "dd->d"]
    x64 = np.linspace(-1, 1, 11)
    assert relu(x64, 0.5).dtype == np.float64
    assert relu(x64.astype(np.float32), np.float32(0.5)).dtype == np.float32
    assert relu(x64.astype(np.float32), 0.5).dtype == np.float32  # a Python float does not promote (NEP 50)
    np.testing.assert_allclose(relu(x64.astype(np.float32), 0.5), relu(x64, 0.5), rtol=1e-6)


def test_broadcasting_out_and_strides(relu):
    x = np.linspace(-2, 2, 41)
    d = np.array([[0.1], [0.5], [1.0]])
    ref = np.array([[float(nlc.derive("relu", "sign").evaluate(xv, dv, dps=20)) for xv in x] for dv in d[:, 0]])
    np.testing.assert_allclose(relu(x, d), ref, rtol=1e-15, atol=1e-16)
    out = np.empty((3, 41))
    res = relu(x, d, out=out)
    assert res is out
    np.testing.assert_allclose(out, ref, rtol=1e-15, atol=1e-16)
    # reversed and strided inputs, per-element deltas
    np.testing.assert_allclose(relu(x[::-1], d[1, 0]), ref[1, ::-1], rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(relu(x[::3], np.full(14, 0.5)), ref[1, ::3], rtol=1e-15, atol=1e-16)


def test_special_values(relu):
    nan, inf = np.nan, np.inf
    assert np.isnan(relu(nan, 0.1)) and np.isnan(relu(0.1, nan)) and np.isnan(relu(0.1, -0.1))
    assert relu(-inf, 0.1) == 0.0 and relu(inf, 0.1) == 1.0
    assert relu(0.0, 0.0) == 0.5  # delta = 0: the average of the one-sided derivatives at the kink
    assert relu(-3.0, 0.0) == 0.0 and relu(2.0, 0.0) == 1.0
    for dt in (np.float32, np.float64):
        assert relu(dt(inf), dt(0.1)) == 1 and np.isnan(relu(dt(nan), dt(0.1)))


def test_special_values_smooth():
    u = make_ufunc(nlc.derive("tanh", "sign"))
    assert u(np.inf, 0.1) == 0.0 and u(-np.inf, 0.1) == 0.0
    assert u(0.3, 0.0) == pytest.approx(1 / np.cosh(0.3) ** 2, rel=1e-15)
    assert u(800.0, 0.0) == 0.0 and u(-800.0, 1.0) >= 0.0
    assert np.isnan(u(0.3, -1e-300))
    s = make_ufunc(nlc.derive("softplus", "sign"))
    assert s(np.inf, 2.0) == 1.0 and s(-np.inf, 2.0) == 0.0 and s(1e300, 0.5) == 1.0


@pytest.mark.parametrize("act", nlc.activations.names())
def test_infinity_at_delta_zero_is_the_limit_of_fprime(act):
    """delta = 0 gives f'(x); at x = +-inf its limit (SiLU's and GELU's f' gave inf * 0 = NaN there), with no
    FP warning in an array call."""
    D = nlc.derive(act, "sign")
    pieces, _ = activation_pieces(D)
    want = [float(sp.limit(sp.diff(p, nlc.x), nlc.x, end)) for p, end in ((pieces[0], -sp.oo), (pieces[-1], sp.oo))]
    assert np.isfinite(want).all()
    u = make_ufunc(D)
    for dt in (np.float32, np.float64):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = u(np.array([-np.inf, np.inf], dtype=dt), dt(0.0))
        np.testing.assert_array_equal(got, np.array(want, dtype=dt))


def test_limits_at_infinity_agree_with_sympy_limit():
    """The limits at +-inf (taken by substitution where SymPy's value there is a finite number) are Gruntz's."""
    for act in nlc.activations.names():
        D = nlc.derive(act, "power(2)")
        pieces, _ = activation_pieces(D)
        want = [sp.limit(sp.diff(p, nlc.x), nlc.x, end) * D.kernel.moment(1)
                for p, end in ((pieces[0], -sp.oo), (pieces[-1], sp.oo))]
        for got, w in zip(limits(D), want):
            assert sp.simplify(got - w) == 0, (act, got, w)


@pytest.mark.parametrize("act,ker", [("relu", "sign"), ("logistic", "sign"), ("leaky_relu", "sign")])
def test_special_values_in_arrays_raise_no_warning(act, ker):
    """The vectorized loop (a scalar delta) gives NaN and the limits for non-finite x without FP warnings."""
    u = make_ufunc(nlc.derive(act, ker))
    xs = np.array([-np.inf, -2.0, 0.0, 0.05, np.inf, np.nan])
    for dt in (np.float32, np.float64):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy turns FP flags raised by a loop into RuntimeWarnings
            got = u(xs.astype(dt), dt(0.1))
        want = np.array([u(dt(v), dt(0.1)) for v in xs])  # one at a time: the scalar kernel
        assert np.array_equal(got[[0, 4]], want[[0, 4]]) and np.isnan(got[5])
        np.testing.assert_allclose(got[1:4], want[1:4], rtol=1e-13 if dt is np.float64 else 2e-6)


@pytest.mark.parametrize("act,ker", [("leaky_relu", "power(2)"), ("relu", "power(-1/2)"), ("softplus", "linear"),
                                     ("tanh", "sign")])
def test_whole_grid_arrays_raise_no_warning(act, ker):
    """The branch-free loop evaluates every piece for every x: the pieces not selected must not overflow either
    (leaky_relu/power(2) in float32 at x = 1000, delta = 1e-8 had x**4/delta**4 = 1e44 in an unused piece)."""
    u = make_ufunc(nlc.derive(act, ker))
    for d in DELTAS:
        xs = np.array(grid_x(d))
        for dt in (np.float32, np.float64):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                got = u(xs.astype(dt), dt(d))
            want = np.array([u(v, dt(d)) for v in xs.astype(dt)])  # one at a time: the scalar kernel
            np.testing.assert_allclose(got, want, rtol=4e-6 if dt is np.float32 else 1e-13, atol=1e-30)


# The accuracy grid (codegen.accuracy: DELTAS, random points, TARGETS), closed forms at the closed-form targets and
# compiled quadratures at theirs (codegen.accuracy.targets). By default a sample: the representative pairs of
# FULL_GRID on the full grid (7 deltas, 6 random points), and REDUCED (compiled quadratures without a closed form,
# the Gaussian kernel) on four of the deltas (the smallest, the largest and two between) with two random points. The
# slow layer runs every other pair of the coverage matrix and of the Gaussian kernel, and REDUCED's again, on the
# full grid (the table in docs/ufuncs.md comes from benchmarks/bench_codegen_accuracy.py, same grid).
FULL_GRID = [("relu", "sign"), ("tanh", "sign"), ("logistic", "sign"), ("softplus", "sign"), ("silu", "sign"),
             ("binary_step", "linear"), ("leaky_relu", "power(2)"), ("elu", "dirac_pair")]
REDUCED = [("tanh", "power(-1/2)"), ("softsign", "power(-1/2)"), ("gelu", "gaussian"), ("relu", "gaussian")]
CI_DELTAS = (1e-8, 1e-4, 0.1, 2.0)
ALL_PAIRS = [(a, k) for a in nlc.activations.names() for k in (*COVERAGE_KERNELS, "gaussian")]
ACCURACY_GRID = ([(*p, "full") for p in FULL_GRID] + [(*p, "reduced") for p in REDUCED]
                 + [pytest.param(*p, "full", marks=pytest.mark.slow) for p in ALL_PAIRS if p not in FULL_GRID])
#: Correct digits of the references of quadrature pairs (D.evaluate integrates: 25 digits are 10^12 times the target).
QUADRATURE_DPS = 25


@functools.cache
def compiled(act: str, ker: str):
    """``(D, (scalar kernel, ufunc))`` of a catalogue pair, made once per test process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (quadrature pairs say so by a warning)
        D = nlc.derive(act, ker)
    return D, (scalar_kernel(D), make_ufunc(D))


@pytest.mark.parametrize("act,ker,grid", ACCURACY_GRID)
def test_accuracy_grid(act, ker, grid):
    """Both paths (the scalar kernel, the trainer's, and the ufunc, whose loop for a scalar delta may be the Gauss
    rule) against D.evaluate at the targets of the compiled method, without FP warnings in the array calls."""
    D, kernels = compiled(act, ker)
    full = grid == "full"
    quad = kernels[1].method == "quadrature"
    deltas, n_random = (DELTAS, 6) if full else (CI_DELTAS, 2)
    # a quadrature pair's reference integrates f(x + z) - f(x), which cancels 868 digits for tanh at x = 1000 (5 s
    # of CPU a point): x = +-1000 only in the full grid
    points = [(xv, d) for d in deltas for xv in grid_x(d, n_random) if full or not quad or abs(xv) < 1000]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an overflow in a loop is a fault even if no value is wrong
        res = measure_kernel(D, kernels, points=points, dps=QUADRATURE_DPS if quad else 40)
    for name, w in res.items():
        assert w.ok, f"{act}/{ker} {name}: worst rel {w.rel:.2e} at {w.rel_at}, abs {w.abs:.2e} at {w.abs_at}"
        assert w.points >= (150 if full else 60)


def test_vectorized_series_loop_agrees():
    """The opt-in block-vectorized series gives the scalar kernel's values (both dtypes, several deltas)."""
    D = nlc.derive("softplus", "sign")
    u, uv = make_ufunc(D), make_ufunc(D, vectorize_series=True)
    rng = np.random.default_rng(1)
    for dt in (np.float64, np.float32):
        x = np.concatenate([rng.uniform(-30, 30, 3000), [0.0, np.inf, -np.inf, np.nan]]).astype(dt)
        for d in (1e-6, 0.01, 0.3, 1.5):
            a, b = u(x, dt(d)), uv(x, dt(d))
            rtol = 3e-14 if dt is np.float64 else 5e-7
            np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("act,ker", [("arctan", "linear"), ("silu", "sign")])
def test_gauss_loop_used_and_accurate(act, ker):
    """Scalar delta, breakpoint-free activation, checked kernel: the ufunc loop is the fixed-order
    Gauss-Legendre rule (said in the docstring); it meets the accuracy targets on the grid, both dtypes, and
    non-finite x get the scalar kernel's values."""
    D = nlc.derive(act, ker)
    u, mod = make_ufunc(D), _module(D)
    assert hasattr(mod, "_gauss_block") and "Gauss-Legendre on the rho form" in u.__doc__
    deltas = (1e-8, 1e-4, 0.1, 1.0, 2.0)
    gauss_order = from_python(mod._gauss_order)
    for dt in (np.float64, np.float32):
        for d in deltas:
            assert gauss_order(dt(d)) > 0
            assert u(np.zeros(3, dt), dt(d)).dtype == dt
            spec = np.array([np.inf, -np.inf, np.nan, 0.5], dtype=dt)
            want = np.array([mod.kernel(v, dt(d)) for v in spec[:3]])
            np.testing.assert_array_equal(u(spec, dt(d))[:3], want)
    for name, w in measure_kernel(D, u, deltas=deltas).items():  # the ufunc alone: the Gauss loop
        assert w.ok and w.points >= 100, (name, w)


def test_gauss_plan_is_deterministic_and_leaves_warning_filters_alone():
    """The plan's two searches run in two threads: same tables every time, and the process's warning filters
    untouched (warnings.catch_warnings is not thread-safe, so only the calling thread uses it)."""
    from nonlocal_calc.codegen import gauss, quadrature

    D = nlc.derive("tanh", "power(2)")
    before = list(warnings.filters)
    plans = [gauss.plan(D, *quadrature.weight_in_t(*quadrature.rho_parts(D))) for _ in range(2)]
    assert warnings.filters == before
    assert plans[0].table == plans[1].table and plans[0].table32 == plans[1].table32
    assert any(plans[0].table) and any(plans[0].table32)


def test_one_factor_series_agrees_with_the_table_driven_evaluator():
    """softsign's moment series (every term a constant times a power of 1 + |x|) is printed as one Horner sum;
    outside the horizon it must give what the shared table-driven evaluator gives from the same tables."""
    mod = _module(nlc.derive("softsign", "linear"))
    src = open(mod.__file__).read()
    assert "_series_one_factor(" in src and "_series_eval_d(np" not in src
    r0, d0, nd = (int(v) for v in mod._SG[3][:3])  # piece x >= 0, its side x >= 0
    kfirst, series_eval = from_python(mod._kfirst), from_python(mod._series_eval_d)
    for ty, rtol, eps in ((np.float64, 1e-15, 2.0**-53), (np.float32, 5e-7, 2.0**-24)):
        for xv, d in ((0.5, 0.1), (2.0, 0.3), (30.0, 1e-3), (1e4, 2.0)):
            x_, d_ = ty(xv), ty(d)
            v, ok = kfirst(x_, d_, ty(mod.RTOL32 if ty is np.float32 else mod.RTOL64), ty(0.0))
            ref, _ = series_eval(float(x_), float(d_), 1.0, mod._SP, mod._SPI, r0, 10, mod._SD, mod._SDI, d0, nd, mod._SM,
                                 eps)
            ref = ty(ref)
            assert ok
            assert abs(v - ref) <= rtol * abs(ref), (ty, xv, d, v, ref)
