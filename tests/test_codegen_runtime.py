"""The fixed code of the generated modules (nonlocal_calc.codegen.runtime), imported and called as ordinary modules."""

import math
from types import SimpleNamespace

import mpmath
import numpy as np
import pytest
from conftest import from_python

from nonlocal_calc.codegen import runtime, shared
from nonlocal_calc.codegen.runtime import cuts, kronrod, series, special, vmath


def _ulps(got: float, ref, dt) -> float:
    """|got - ref| in units of the spacing of dt at ref."""
    return float(abs(mpmath.mpf(float(got)) - ref) / float(np.spacing(dt(abs(float(ref))))))


XS = np.concatenate([np.linspace(-80.0, 80.0, 321), np.logspace(-12, 2.8, 50), -np.logspace(-12, 2.8, 50)])


@pytest.mark.parametrize("bits", [64, 32])
def test_vexp_against_mpmath(bits):
    """The branch-free exp: within 1 ulp (float64) and 2 ulps (float32) of the true exp, over and underflow like
    exp, NaN in NaN out. (``_vexp32`` scales by 2^k in float64, as ``math.floor`` gives an integer: its caller
    ``_vexp`` rounds to float32, as here.)"""
    dt = np.float64 if bits == 64 else np.float32
    g = from_python(getattr(vmath, f"_vexp{bits}"))

    def f(v):
        with np.errstate(over="ignore"):
            return dt(g(v))

    worst = 0.0
    for xv in XS.astype(dt):
        got = f(xv)
        ref = mpmath.exp(mpmath.mpf(float(xv)))
        if ref < np.finfo(dt).tiny or ref > np.finfo(dt).max:
            continue
        worst = max(worst, _ulps(got, ref, dt))
    assert worst <= (1.0 if bits == 64 else 2.0), worst
    big, small = (800.0, -800.0) if bits == 64 else (100.0, -110.0)
    assert f(dt(big)) == np.inf and f(dt(small)) == 0.0 and math.isnan(f(dt(np.nan)))


@pytest.mark.parametrize("bits", [64, 32])
def test_vlog_against_mpmath(bits):
    """The branch-free log: within 1 ulp (float64) and 2 ulps (float32) where log is not near 0 (there its
    absolute error is what counts: below 2 eps); subnormals, 0, negative, inf and NaN as ``math.log`` gives them."""
    dt = np.float64 if bits == 64 else np.float32
    f = from_python(getattr(vmath, f"_vlog{bits}"))
    eps = float(np.finfo(dt).eps)
    vs = np.concatenate([np.logspace(-300 if bits == 64 else -37, 300 if bits == 64 else 37, 400),
                         1 + np.linspace(-0.3, 0.3, 61)]).astype(dt)
    for v in vs:
        ref = mpmath.log(mpmath.mpf(float(v)))
        got = f(v)
        if abs(ref) > 0.5:
            assert _ulps(got, ref, dt) <= (1.0 if bits == 64 else 2.0), (v, got)
        else:
            assert abs(float(got) - float(ref)) <= 2 * eps, (v, got)
    tiny = dt(np.finfo(dt).tiny) / dt(8)  # a subnormal
    assert abs(float(f(tiny)) - math.log(float(tiny))) < 4 * eps * abs(math.log(float(tiny)))
    assert f(dt(0.0)) == -np.inf and math.isnan(f(dt(-1.0))) and f(dt(np.inf)) == np.inf and math.isnan(f(dt(np.nan)))


def test_vlog1p_keeps_small_arguments():
    """log(1 + u) for tiny u keeps its bits (the correction term), in both float types."""
    f = from_python(vmath._vlog1p)
    for dt in (np.float64, np.float32):
        for u in (1e-20, -3e-9, 2.5e-5, 0.3, -0.7, 40.0):
            ref = mpmath.log1p(mpmath.mpf(float(dt(u))))
            assert _ulps(f(dt(u)), ref, dt) <= 2.0, (dt, u)
        assert f(dt(-1.0)) == -np.inf


def test_special_functions_in_float64():
    """erfi and log(1 + e^u) of :mod:`.runtime.special`, imported directly, against mpmath."""
    erfi, lpe = from_python(special._erfi_d), from_python(special._log1pexp_d)
    for xv in (-7.5, -2.0, -1e-9, 0.0, 0.3, 1.0, 5.9, 6.1, 20.0):
        ref = mpmath.erfi(xv)
        assert abs(erfi(xv) - ref) <= 4e-16 * (1 + 2 * xv * xv) * abs(ref), xv
    for u in (-700.0, -30.0, -1.0, 0.0, 2.0, 35.0, 800.0):
        assert abs(lpe(u) - mpmath.log1p(mpmath.exp(u))) <= 3e-16 * abs(mpmath.log1p(mpmath.exp(u))), u
    assert lpe(-800.0) == 0.0  # (e^-800 is below the smallest float64)


def _direct_series(x, d, X, P, PI, r0, nt, M):
    """The series without factors D_i, summed to the end (mpmath)."""
    total = mpmath.mpf(0)
    for j in range(nt):
        off, nx, nX, ypow = PI[r0 + j]
        poly = sum(mpmath.mpf(P[off + b * nx + a]) * mpmath.mpf(x) ** a * mpmath.mpf(X) ** b
                   for a in range(nx) for b in range(nX))
        total += mpmath.mpf(M[j]) * mpmath.mpf(d) ** (2 * j) * poly * mpmath.mpf(X) ** ypow
    return total


def test_series_evaluator_on_a_table():
    """``_series_eval_d`` on hand-made tables (P_j(x, X) = (j + 1) x^j + X, no factors D_i): the value of the
    truncated sum with an error estimate that covers the tail, which stops early once terms are negligible."""
    nt = 10
    P, PI = [], []
    for j in range(nt):
        nx, nX = j + 1, 2
        tab = [0.0] * (nx * nX)
        tab[j] = float(j + 1)  # x^j, X^0
        tab[nx] = 1.0  # x^0, X^1
        PI.append([len(P), nx, nX, 0])
        P += tab
    P, PI = np.array(P), np.array(PI, dtype=np.int64)
    M = np.array([1.0 / math.factorial(2 * j + 1) for j in range(nt)])
    DI = np.zeros((0, 5), dtype=np.int64)
    ev = from_python(series._series_eval_d)
    eps = 1.1102230246251565e-16
    for x, d in ((0.5, 0.1), (-1.5, 0.01), (2.0, 0.3)):
        X = math.exp(-abs(x))
        v, e = ev(x, d, X, P, PI, np.int64(0), np.int64(nt), np.array([0.0]), DI, np.int64(0), np.int64(0), M, eps)
        ref = _direct_series(x, d, X, P, PI, 0, nt, M)
        assert abs(v - ref) <= e and e <= 1e-13 * abs(ref), (x, d, v, e)


def test_source_is_the_modules_text():
    """What generated modules contain is the runtime modules' own text: every function of vmath, series, special."""
    src = runtime.source("vmath")
    for name in runtime.names("vmath"):
        assert f"def {name}(" in src
    assert runtime.names("series") == ("_bpoly", "_series_eval_d", "_series_one_factor")
    assert runtime.source("series") in shared.runtime_source()
    with pytest.raises(KeyError, match="defines no"):
        runtime.source("special", ["_nothing"])


def test_one_factor_series_is_the_horner_sum():
    """``_series_one_factor``: sum_j c_j z^j D^(-k/q) with z = delta^2 / D^2, and an error estimate at least the
    last term's size, for q = 1 and 2, in float64 and float32."""
    C = np.array([[1.0, -0.5, 0.25, 0.125, -1 / 16, 1 / 32], [2.0, 1.0, 0.5, 0.25, 0.125, 1 / 16]])
    f = from_python(series._series_one_factor)
    for dt, eps in ((np.float64, 1.1102230246251565e-16), (np.float32, 5.960464477539063e-08)):
        for g, k, q, sd, d in ((0, 1, 1, 2.0, 0.1), (1, 3, 2, 1.5, 0.3)):
            v, e = f(dt(sd), dt(d), C, g, k, q, 5, dt(eps))
            z = mpmath.mpf(d) ** 2 / mpmath.mpf(sd) ** 2
            ref = sum(mpmath.mpf(C[g, j]) * z**j for j in range(6)) * mpmath.mpf(sd) ** (-mpmath.mpf(k) / q)
            assert abs(v - ref) <= 8 * eps * abs(ref), (dt, g, v, ref)
            assert e >= 2 * abs(C[g, 5]) * float(z) ** 5 * float(mpmath.mpf(sd) ** (-mpmath.mpf(k) / q)), (dt, g, e)


def test_gauss_kronrod_tables():
    """G7 nodes are the Legendre roots; K15 integrates x^k exactly to degree 22 and G7 to degree 13."""
    xk = kronrod._GKX
    nodes = np.concatenate([-xk[:-1], xk[::-1]])
    wk = np.concatenate([kronrod._GKW[:-1], kronrod._GKW[::-1]])
    wg = np.concatenate([kronrod._GGW[:-1], kronrod._GGW[::-1]])
    with mpmath.workdps(30):
        roots = sorted(float(r) for r in mpmath.polyroots(mpmath.taylor(lambda t: mpmath.legendre(7, t), 0, 7)[::-1]))
    assert np.allclose(sorted(nodes[wg != 0]), roots, atol=1e-15)
    for k in range(23):
        exact = 0.0 if k % 2 else 2.0 / (k + 1)
        assert abs(np.dot(wk, nodes**k) - exact) < 1e-15
        if k < 14:
            assert abs(np.dot(wg, nodes**k) - exact) < 1e-15


@pytest.fixture(scope="module")
def gk():
    """``_gk15`` callable from Python, and integrands passed to it as compiled functions taking ``(t, data)``."""
    import numba

    @numba.njit
    def power(t, data):
        k, scale = data
        return scale * t**k

    @numba.njit
    def oscillating(t, data):
        (w,) = data
        return math.cos(w * t)

    @numba.njit
    def root(t, data):
        return math.sqrt(t)

    return SimpleNamespace(rule=from_python(kronrod._gk15), power=power, oscillating=oscillating, root=root)


def test_gk15_is_exact_for_polynomials_to_degree_22(gk):
    """K15 on [a, b] integrates t^k exactly (to rounding) up to degree 22, and its error estimate then is tiny
    (G7 is exact up to degree 13, so ``|K - G|`` vanishes there)."""
    ys = np.empty(15)
    a, b = -0.3, 1.7
    for k in range(23):
        v, e, _ = gk.rule(gk.power, a, b, (k, 1.0), ys)
        ref = (mpmath.mpf(b) ** (k + 1) - mpmath.mpf(a) ** (k + 1)) / (k + 1)
        size = (b ** (k + 1) + abs(a) ** (k + 1)) / (k + 1)  # int |t^k|: the rounding of the sum scales with it
        assert abs(v - ref) <= 4e-15 * size, (k, v)
        if k <= 13:
            assert e <= 1e-14, (k, e)


def test_gk15_error_estimate_covers_the_error(gk):
    """Where the rule is not exact (an oscillation, a square root at the panel's end) the estimate is at least the
    true error against mpmath (up to rounding: the estimate is of the truncation error), and not wildly above it
    (QUADPACK's (200 |K - G| / asc)^1.5 scaling)."""
    ys = np.empty(15)
    for w in (3.0, 10.0, 25.0):
        v, e, _ = gk.rule(gk.oscillating, 0.0, 1.0, (w,), ys)
        err = abs(v - mpmath.sin(w) / w)
        assert err <= e + 4e-16, (w, err, e)
        assert e <= 1e-2 or err > 1e-8, (w, err, e)
    v, e, _ = gk.rule(gk.root, 0.0, 1.0, (0.0,), ys)
    err = abs(v - mpmath.mpf(2) / 3)
    assert 1e-6 < err <= e < 0.05, (err, e)  # (for an end singularity the estimate is pessimistic: 1700 x)


def test_gk15_computes_in_the_type_of_the_interval(gk):
    """With a float32 interval (and integrand) the rule computes in float32: a result within float32 rounding of
    the float64 one."""
    ys = np.empty(15)
    v64, _, _ = gk.rule(gk.oscillating, 0.0, 1.0, (10.0,), ys)
    v32, _, _ = gk.rule(gk.oscillating, np.float32(0.0), np.float32(1.0), (np.float32(10.0),), ys)
    assert abs(float(v32) - v64) <= 8 * float(np.finfo(np.float32).eps) * abs(v64), (v32, v64)


def test_gk15_returns_the_kronrod_gauss_difference(gk):
    """The third value is |K - G| on [a, b], G the 7-point Gauss-Legendre value (NumPy's nodes), which the
    quadrature through mu uses as its estimate; QUADPACK's estimate is below it for a converged panel and above it
    for a rough one."""
    ys = np.empty(15)
    nodes, weights = np.polynomial.legendre.leggauss(7)
    for w, a, b, converged in ((3.0, 0.0, 1.0, True), (25.0, -0.5, 2.0, False)):
        v, e, d = gk.rule(gk.oscillating, a, b, (w,), ys)
        g = (b - a) / 2 * np.dot(weights, np.cos(w * ((a + b) / 2 + (b - a) / 2 * nodes)))
        assert abs(d - abs(v - g)) <= 1e-15 * abs(v), (w, d, abs(v - g))
        assert (e < d / 100) if converged else (e > d), (w, e, d)


def test_cuts_graded_around_the_features():
    """The cut points of the quadratures (runtime/cuts.py): a feature of f at 3, width 1, seen from x = 0 on the
    right side, and a kernel's feature at distance 0, width 1/2, in (0, 100): each centre and the distances w 2^k
    from it inside the interval, merged, sorted, without repeats; none from a feature the interval is at most 16
    widths of; f's feature at |c - x| for side 0 (the quadrature through mu), mirrored for side -1."""
    buf = np.empty(64)
    fc, fw = np.array([3.0, 0.0]), np.array([1.0, -0.5])
    feature_cuts = from_python(cuts._feature_cuts)
    n = feature_cuts(buf, 0.0, 100.0, fc, fw, 0.0, 1.0)
    assert buf[:n].tolist() == [0.5, 1, 2, 3, 4, 5, 7, 8, 11, 16, 19, 32, 35, 64, 67]
    n = feature_cuts(buf, 0.0, 16.0, fc, fw, 0.0, 1.0)  # 16 widths of f's feature: only the kernel's points
    assert buf[:n].tolist() == [0.5, 1, 2, 4, 8]
    n = feature_cuts(buf, 0.0, 20.0, fc[:1], fw[:1], 5.0, -1.0)  # f at 5 - s: its feature at s = 2
    assert buf[:n].tolist() == [1, 2, 3, 4, 6, 10, 18]
    m = feature_cuts(buf, 0.0, 20.0, fc[:1], fw[:1], 5.0, 0.0)
    assert m == n and buf[:m].tolist() == [1, 2, 3, 4, 6, 10, 18]
    small = np.empty(3)  # room for three: the first found are kept (the centre, then below it), sorted
    assert feature_cuts(small, 0.0, 100.0, fc[:1], fw[:1], 0.0, 1.0) == 3 and small.tolist() == [1, 2, 3]
