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
* ``_log1pexp(u) = log(1 + exp(u))`` without overflow, ``_erfi(x)``, the branch-free ``_vexp``, ``_vlog``,
  ``_vlog1p``: fixed code, in the modules :mod:`.runtime.special` and :mod:`.runtime.vmath`, whose source
  :func:`source` returns.

>>> src = source(["_li2"])
>>> "def _li2_d(" in src and "def _lis_core2(" in src
True
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from math import comb, factorial

import mpmath

from . import runtime

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


def source(names) -> str:
    """The source of the helper functions ``names`` (and of the helpers they call), in dependency order."""
    names = set(names)
    parts = []
    for s in (2, 3, 4):
        if names & {f"_li{s}", f"_li{s}_negexp", f"_lis_core{s}"}:
            parts.append(_li_source(s))
    if names & {"_polylog", "_polylog_negexp", "_polylog_small", "_eta_at", "_zeta_at"}:
        parts.append(_polylog_source())
    for helper in FIXED.values():
        if helper in names:
            parts.append(runtime.source("special", [helper + "_d"]))
    if names & {"_vexp", "_vlog", "_vlog1p"}:
        parts.append(runtime.source("vmath"))
    return "".join(parts)


#: The special functions of fixed code: the SymPy function (its class name, as printers key functions) -> the helper
#: whose float64 body ``helper + "_d"`` is in ``runtime/special.py``. A new special function is its body there and
#: its entry here; :class:`.printer.NumbaPrinter` prints the function as a call of the helper.
FIXED = {"Log1pExp": "_log1pexp", "erfi": "_erfi"}
#: The helpers that run in float64 for both float types (emitted as their ``_d`` bodies, called through :func:`call`).
IN_FLOAT64 = ("_li2", "_li3", "_li4", "_li2_negexp", "_li3_negexp", "_li4_negexp", *FIXED.values(), "_polylog",
              "_polylog_negexp")
#: The helpers of any order s (their first argument, an int64): :func:`call_order` calls them.
OF_ORDER = ("_polylog", "_polylog_negexp")
#: The orders with helpers of their own (series coefficients as constants: faster than the general ones).
FIXED_ORDERS = (2, 3, 4)
#: Names of the helpers :func:`source` can emit.
HELPERS = IN_FLOAT64 + ("_vexp", "_vlog", "_vlog1p")
