"""Source text of the special functions that generated modules need (real arguments only).

Every function is emitted as plain Python for ``numba.njit`` with constants written ``T(c)``,
``T = type(x)``. The special functions' bodies (``name + "_d"``) run in float64 only: generated code
calls them through :func:`call`, which converts a float32 argument and rounds the result once, so Numba
compiles each body once, not once per dtype; the branch-free ``_v*`` functions stay in the caller's dtype
(float32 code vectorizes twice as wide). The coefficients are computed here, exactly (fractions), and
printed with 17 significant digits.

* ``_li{s}(x)``, s = 2, 3, 4: the real polylogarithm for ``x <= 1`` (NaN above 1).
  On ``[-1, 1/2]`` it is the series in ``w = -log(1 - x)`` (the Bernoulli-type expansion,
  ``d/dw Li_s = Li_{s-1} / (e^w - 1)``), whose coefficients fall like ``(2 pi)^-n``;
  below -1 the inversion formula, above 1/2 the expansion in ``log x`` about 1.
* ``_li{s}_negexp(u) = Li_s(-exp(u))`` for every real u without overflow (inversion for u > 0).
* ``_polylog(s, x)`` and ``_polylog_negexp(s, u) = Li_s(-exp(u))``: the same for any integer order s >= 0,
  an argument (series in ``-e^u``, in ``u`` with Dirichlet eta coefficients, the inversion formula; the series
  in ``log x`` with zeta coefficients): closed forms of higher-degree kernels need orders beyond 4
  (softplus with the kernel ``z**3``: Li_5).
* ``_log1pexp(u) = log(1 + exp(u))`` without overflow, ``_erfi(x)``.

>>> src = source(["_li2"])
>>> "def _li2_d(" in src and "def _lis_core2(" in src
True
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from math import comb, factorial

import mpmath

#: Terms kept in the series (float64 accuracy for |w| <= log 2 with margin).
_NW = 22
_NMU = 24


@cache
def bernoulli(n: int) -> Fraction:
    """B_n with the convention B_1 = -1/2."""
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(comb(m + 1, k) * b[k] for k in range(m)) / Fraction(m + 1))
    return b[n]


@cache
def li_w_coeffs(s: int, n: int = _NW) -> tuple[Fraction, ...]:
    """Coefficients c_k (k = 0..n) with ``Li_s(1 - exp(-w)) = sum c_k w^k``."""
    g = [bernoulli(k) / factorial(k) for k in range(n + 1)]  # w / (e^w - 1)
    c = [Fraction(0), Fraction(1)] + [Fraction(0)] * (n - 1)  # Li_1 = w
    for _ in range(2, s + 1):
        q = c[1:] + [Fraction(0)]  # Li_{s-1} / w
        prod = [sum(q[k] * g[m - k] for k in range(m + 1)) for m in range(n)]
        c = [Fraction(0)] + [prod[m - 1] / m for m in range(1, n + 1)]
    return tuple(c)


def _f(v) -> str:
    return repr(float(v))


def _horner(coeffs, var: str) -> str:
    """``sum coeffs[k] var**k`` in Horner form with dtype-generic constants (zeros skipped)."""
    k = len(coeffs) - 1
    while k > 0 and coeffs[k] == 0:
        k -= 1
    expr = f"T({_f(coeffs[k])})"
    for j in range(k - 1, -1, -1):
        c = coeffs[j]
        expr = f"({expr} * {var} + T({_f(c)}))" if c != 0 else f"({expr} * {var})"
    return expr


def _inversion_poly(s: int) -> list:
    """Coefficients p_k of ``Li_s(-e^u) - (-1)^(s-1) Li_s(-e^-u) = sum p_k u^k``."""
    # -(2 pi i)^s / s! * B_s(1/2 + u / (2 pi i)), expanded with mpmath at high precision
    with mpmath.workdps(40):
        coeffs = []
        for k in range(s + 1):
            # coefficient of u^k in B_s(1/2 + u/(2 pi i)): C(s,k) B_{s-k}(1/2) (2 pi i)^-k
            bsk = mpmath.bernpoly(s - k, mpmath.mpf(1) / 2)
            c = -((2j * mpmath.pi) ** s) / mpmath.factorial(s) * mpmath.binomial(s, k) * bsk * (2j * mpmath.pi) ** (-k)
            coeffs.append(mpmath.re(c))
        return coeffs


def _mu_coeffs(s: int) -> list:
    """``Li_s(e^mu) = sum a_k mu^k + mu^(s-1)/(s-1)! (H_(s-1) - log(-mu))`` (a_(s-1) = 0)."""
    with mpmath.workdps(40):
        a = []
        for k in range(_NMU + 1):
            a.append(0 if k == s - 1 else mpmath.zeta(s - k) / mpmath.factorial(k))
        return a


def call(name: str, arg: str) -> str:
    """Source of ``name(arg)`` for generated code whose float type is ``T``: the float64 body ``name + "_d"``
    on the argument converted to float64, rounded once to T. For float32 code that is more accurate than
    float32 arithmetic, and Numba compiles each body once, for float64 only (a float32 body cost 0.1-0.2 s of
    every first build; a float32 entry point function, even inlined, cost the caller's compile more than
    these two casts).

    >>> call("_log1pexp", "x + delta")
    'T(_log1pexp_d(np.float64(x + delta)))'
    """
    return f"T({name}_d(np.float64({arg})))"


def call_order(name: str, s: int, arg: str) -> str:
    """Source of ``name(s, arg)`` (a helper of any integer order s, see :data:`OF_ORDER`) for generated code whose
    float type is ``T``, in float64 as :func:`call`.

    >>> call_order("_polylog_negexp", 5, "x")
    'T(_polylog_negexp_d(np.int64(5), np.float64(x)))'
    """
    return f"T({name}_d(np.int64({int(s)}), np.float64({arg})))"


def _li_source(s: int) -> str:
    c = li_w_coeffs(s)
    p = _inversion_poly(s)
    a = _mu_coeffs(s)
    sign = "-" if s % 2 == 0 else ""  # (-1)^(s-1)
    harm = sum(Fraction(1, k) for k in range(1, s))
    zeta_s = mpmath.zeta(s)
    return f'''
@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _lis_core{s}(w):
    T = type(w)
    return {_horner(c, "w")}


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _li{s}_negexp_d(u):
    """Li_{s}(-exp(u)) for any real u."""
    T = type(u)
    if u <= T(0):
        return _lis_core{s}(-math.log1p(math.exp(u)))
    v = {sign}_lis_core{s}(-math.log1p(math.exp(-u)))
    return v + {_horner(p, "u")}


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _li{s}_d(x):
    """The real polylogarithm Li_{s}(x) for x <= 1 (NaN for x > 1)."""
    T = type(x)
    if x < T(-1):
        return _li{s}_negexp_d(math.log(-x))
    if x <= T(0.5):
        return _lis_core{s}(-math.log1p(-x))
    if x < T(1):
        mu = math.log(x)
        return {_horner(a, "mu")} + {" * ".join(["mu"] * (s - 1))} * T({_f(Fraction(1, factorial(s - 1)))}) * (T({_f(harm)}) - math.log(-mu))
    if x == T(1):
        return T({_f(zeta_s)})
    return T(math.nan)
'''


#: Integer arguments tabulated for Dirichlet's eta and Riemann's zeta functions in :data:`_POLYLOG`: the series
#: of Li_s stop within 48 terms past the order (their coefficients then fall like pi^-n / n!), and above 60 the
#: functions are 1 - 2^-n (eta) and 1 + 2^-n (zeta) to the last bit.
TABLE_LO, TABLE_HI = -64, 60


@cache
def _eta_zeta_tables() -> tuple[list[float], list[float]]:
    """eta(n), zeta(n) for TABLE_LO <= n <= TABLE_HI (zeta(1), the pole, as 0: never read)."""
    with mpmath.workdps(40):
        eta = [float(mpmath.altzeta(n)) for n in range(TABLE_LO, TABLE_HI + 1)]
        zeta = [0.0 if n == 1 else float(mpmath.zeta(n)) for n in range(TABLE_LO, TABLE_HI + 1)]
    return eta, zeta


def _polylog_source() -> str:
    """The polylogarithm of any integer order s >= 0 (an argument of the compiled function, not a constant)."""
    eta, zeta = _eta_zeta_tables()
    return f'''
_ETA = np.array({eta!r})
_ZETA = np.array({zeta!r})


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _eta_at(n):
    """Dirichlet's eta(n) = (1 - 2^(1-n)) zeta(n) at an integer n >= {TABLE_LO} (an entire function)."""
    if n > {TABLE_HI}:
        return 1.0 - 2.0 ** (-np.float64(n))
    return _ETA[n - ({TABLE_LO})]


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _zeta_at(n):
    """Riemann's zeta(n) at an integer n >= {TABLE_LO}, n != 1."""
    if n > {TABLE_HI}:
        return 1.0 + 2.0 ** (-np.float64(n))
    return _ZETA[n - ({TABLE_LO})]


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _polylog_series(s, x):
    """Li_s(x) = sum_(k >= 1) x^k / k^s for |x| <= 1/2 or so (the terms fall at least geometrically)."""
    total = x
    term = x
    for k in range(2, 200):
        term = term * x
        t = term / np.float64(k) ** s
        total += t
        if abs(t) <= 1e-17 * abs(total):
            break
    return total


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _polylog_small(s, u):
    """Li_s(-e^u) for u <= 1: the power series in -e^u below u = -1 (ratio <= 1/e), else
    -sum_k eta(s - k) u^k / k! (convergent for |u| < pi; all its terms are read from the eta table)."""
    if u < -1.0:
        return _polylog_series(s, -math.exp(u))
    total = 0.0
    a = 1.0  # u^k / k!
    last = 0.0
    for k in range({-TABLE_LO} + 1):
        if s - k < {TABLE_LO}:
            break
        c = _eta_at(s - k) * a
        total += c
        # past the order every other eta vanishes (eta(-2n) = 0): stop after two negligible terms
        if k > s and abs(c) + abs(last) <= 1e-17 * abs(total):
            break
        last = c
        a = a * u / np.float64(k + 1)
    return -total


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _polylog_negexp_d(s, u):
    """Li_s(-exp(u)) for an integer order s >= 0 and every real u, without overflow of exp(u): above u = 1 the
    inversion formula Li_s(-e^u) = -(-1)^s Li_s(-e^-u) - 2 sum_(k <= s/2) eta(2k) u^(s-2k) / (s-2k)!, whose
    polynomial has terms of one sign."""
    if u != u:
        return u
    if u <= 1.0:
        return _polylog_small(s, u)
    if u == np.inf:
        return -np.inf
    j = s % 2  # the powers u^j / j!, j = s - 2k, from the lowest up
    a = u if j == 1 else 1.0
    p = 0.0
    for k in range(s // 2, -1, -1):
        p += _eta_at(2 * k) * a
        a = a * u * u / np.float64((j + 1) * (j + 2))
        j += 2
    r = _polylog_small(s, -u)
    return (r if s % 2 == 1 else -r) - 2.0 * p


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _polylog_d(s, x):
    """The real polylogarithm Li_s(x) of an integer order s >= 0 for x <= 1 (NaN above 1): through
    Li_s(-e^u) below -1/2, the power series up to 1/2, above it the series in mu = log x about 1,
    sum_(k != s-1) zeta(s - k) mu^k / k! + mu^(s-1) / (s-1)! (H_(s-1) - log(-mu))."""
    if x != x or x > 1.0:
        return np.nan
    if x == 1.0:
        return _zeta_at(s) if s > 1 else np.inf
    if s == 0:
        return x / (1.0 - x)
    if s == 1:
        return -math.log1p(-x)
    if x < -0.5:
        return _polylog_negexp_d(s, math.log(-x))
    if x <= 0.5:  # (alternating below 0, with terms falling by half at least)
        return _polylog_series(s, x)
    mu = math.log(x)
    h = 0.0  # H_(s-1)
    a = 1.0  # mu^(s-1) / (s-1)!
    for k in range(1, s):
        a = a * mu / np.float64(k)
        h += 1.0 / np.float64(k)
    total = a * (h - math.log(-mu))  # the k = s - 1 term
    a = 1.0
    last = 0.0
    for k in range({-TABLE_LO} + 1):
        if s - k < {TABLE_LO}:
            break
        c = 0.0 if k == s - 1 else _zeta_at(s - k) * a
        total += c
        if k > s and abs(c) + abs(last) <= 1e-17 * abs(total):
            break
        last = c
        a = a * mu / np.float64(k + 1)
    return total
'''


_LOG1PEXP = '''
@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _log1pexp_d(u):
    """log(1 + exp(u)) without overflow."""
    T = type(u)
    if u > T(0):
        return u + math.log1p(math.exp(-u))
    return math.log1p(math.exp(u))
'''

_ERFI = '''
@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _erfi_d(x):
    """The imaginary error function erfi(x) = -i erf(ix), real x."""
    T = type(x)
    a = abs(x)
    if a != a:
        return x
    if a <= T(6):
        # all terms positive: no cancellation
        x2 = a * a
        term = a
        total = a
        k = 0
        while True:
            k += 1
            term = term * x2 / T(k)
            add = term / T(2 * k + 1)
            total += add
            if add <= total * T(1e-17) or k > 200:
                break
        v = total * T(1.1283791670955126)
    else:
        # asymptotic series; its smallest term is below 1e-16 for a > 6
        r = T(1) / (T(2) * a * a)
        term = T(1)
        total = T(1)
        for k in range(1, 40):
            term = term * T(2 * k - 1) * r
            total += term
            if term < T(1e-17) * total:
                break
        v = math.exp(a * a) / (a * T(1.7724538509055160)) * total
    return v if x >= T(0) else -v
'''


_VMATH = '''
@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vexp64(x):
    """exp(x), float64, branch-free (vectorizes): Cody-Waite reduction, degree-13 Taylor, scale by 2^k in two steps."""
    xc = min(max(x, -746.0), 710.0)
    k = math.floor(xc * 1.4426950408889634 + 0.5)
    r = (xc - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    p = ((((((((((((r * 1.6059043836821613e-10 + 2.08767569878681e-09) * r + 2.505210838544172e-08) * r
         + 2.755731922398589e-07) * r + 2.7557319223985893e-06) * r + 2.48015873015873e-05) * r
         + 0.0001984126984126984) * r + 0.001388888888888889) * r + 0.008333333333333333) * r
         + 0.041666666666666664) * r + 0.16666666666666666) * r + 0.5) * r + 1.0) * r + 1.0
    ki = np.int64(k)
    k1 = ki >> 1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)
    s2 = np.int64((ki - k1 + 1023) << 52).view(np.float64)
    v = p * s1 * s2
    return x if x != x else v


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vexp32(x):
    """exp(x), float32, branch-free: degree-7 Taylor after Cody-Waite reduction."""
    xc = min(max(x, np.float32(-104.0)), np.float32(89.0))
    k = math.floor(xc * np.float32(1.442695) + np.float32(0.5))
    r = (xc - k * np.float32(0.693145751953125)) - k * np.float32(1.4286067653e-06)
    p = (((((((r * np.float32(0.0001984127) + np.float32(0.0013888889)) * r + np.float32(0.008333334)) * r
         + np.float32(0.041666668)) * r + np.float32(0.16666667)) * r + np.float32(0.5)) * r + np.float32(1.0)) * r
         + np.float32(1.0))
    ki = np.int32(k)
    k1 = ki >> np.int32(1)
    s1 = np.int32((k1 + np.int32(127)) << np.int32(23)).view(np.float32)
    s2 = np.int32((ki - k1 + np.int32(127)) << np.int32(23)).view(np.float32)
    v = p * s1 * s2
    return x if x != x else v


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog64(v):
    """log(v), float64, branch-free: v = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1))."""
    tiny = v < 2.2250738585072014e-308
    vs = v * 1.8014398509481984e16 if tiny else v
    bits = np.float64(vs).view(np.int64)
    e = ((bits >> 52) & 0x7FF) - 1023 - (54 if tiny else 0)
    m = np.int64((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000).view(np.float64)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    f = m - 1.0
    s = f / (m + 1.0)
    z = s * s
    q = (((((((((z * 0.09523809523809523 + 0.10526315789473684) * z + 0.11764705882352941) * z
         + 0.13333333333333333) * z + 0.15384615384615385) * z + 0.18181818181818182) * z + 0.2222222222222222) * z
         + 0.2857142857142857) * z + 0.4) * z + 0.6666666666666666) * z
    ef = np.float64(e)
    r = ef * 0.6931471803691238 + (f - s * (f - q)) + ef * 1.9082149292705877e-10
    r = -np.inf if v == 0.0 else r
    r = np.nan if v < 0.0 else r
    r = v if v == np.inf or v != v else r
    return r


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog32(v):
    """log(v), float32, branch-free."""
    tiny = v < np.float32(1.1754944e-38)
    vs = v * np.float32(16777216.0) if tiny else v
    bits = np.float32(vs).view(np.int32)
    e = ((bits >> np.int32(23)) & np.int32(0xFF)) - np.int32(127) - (np.int32(24) if tiny else np.int32(0))
    m = np.int32((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000)).view(np.float32)
    big = m > np.float32(1.4142135)
    m = m * np.float32(0.5) if big else m
    e = e + np.int32(1) if big else e
    f = m - np.float32(1.0)
    s = f / (m + np.float32(1.0))
    z = s * s
    q = ((((z * np.float32(0.2222222222) + np.float32(0.2857142857)) * z + np.float32(0.4)) * z
         + np.float32(0.6666666667)) * z)
    ef = np.float32(e)
    r = ef * np.float32(0.693145751953125) + (f - s * (f - q)) + ef * np.float32(1.4286067653e-06)
    r = -np.float32(np.inf) if v == np.float32(0.0) else r
    r = np.float32(np.nan) if v < np.float32(0.0) else r
    r = v if v == np.float32(np.inf) or v != v else r
    return r


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vexp(x):
    T = type(x)
    if T(1.0) + T(1e-08) == T(1.0):
        return T(_vexp32(np.float32(x)))
    return T(_vexp64(np.float64(x)))


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog(x):
    T = type(x)
    if T(1.0) + T(1e-08) == T(1.0):
        return T(_vlog32(np.float32(x)))
    return T(_vlog64(np.float64(x)))


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vlog1p(u):
    """log(1 + u) = log(v) + (u - (v - 1))/v with v = 1 + u rounded (the correction restores the lost bits)."""
    T = type(u)
    v = T(1.0) + u
    r = _vlog(v) + (u - (v - T(1.0))) / v
    r = u if abs(u) < T(1e-30) or u == T(math.inf) else r
    return -T(math.inf) if v == T(0.0) else r
'''


def source(names) -> str:
    """The source of the helper functions ``names`` (and of the helpers they call), in dependency order."""
    names = set(names)
    parts = []
    for s in (2, 3, 4):
        if names & {f"_li{s}", f"_li{s}_negexp", f"_lis_core{s}"}:
            parts.append(_li_source(s))
    if names & {"_polylog", "_polylog_negexp", "_polylog_small", "_eta_at", "_zeta_at"}:
        parts.append(_polylog_source())
    if "_log1pexp" in names:
        parts.append(_LOG1PEXP)
    if "_erfi" in names:
        parts.append(_ERFI)
    if names & {"_vexp", "_vlog", "_vlog1p"}:
        parts.append(_VMATH)
    return "".join(parts)


#: The helpers that run in float64 for both float types (emitted as their ``_d`` bodies, called through :func:`call`).
IN_FLOAT64 = ("_li2", "_li3", "_li4", "_li2_negexp", "_li3_negexp", "_li4_negexp", "_log1pexp", "_erfi", "_polylog",
              "_polylog_negexp")
#: The helpers of any order s (their first argument, an int64): :func:`call_order` calls them.
OF_ORDER = ("_polylog", "_polylog_negexp")
#: The orders with helpers of their own (series coefficients as constants: faster than the general ones).
FIXED_ORDERS = (2, 3, 4)
#: Names of the helpers :func:`source` can emit.
HELPERS = IN_FLOAT64 + ("_vexp", "_vlog", "_vlog1p")
