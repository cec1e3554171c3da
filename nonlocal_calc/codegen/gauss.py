"""A fixed-order Gauss-Legendre fast path on the smoothing-profile (rho) form, for a scalar delta.

For an activation without breakpoints (f' analytic on the real line) and a kernel whose rho is smooth on
``[0, delta]`` after the substitution ``s = delta t^m`` of the quadrature fallback,

    D(x) = int_0^1 [f'(x + S(t)) + f'(x - S(t))] g(t, delta) dt ~= sum_k W_k [f'(x + S_k) + f'(x - S_k)]

with ``S_k = delta t_k^m`` and ``W_k = w_k g(t_k, delta)`` (``t_k, w_k`` the N-point Gauss-Legendre rule on
[0, 1]): a positive-weight average of f' values, without cancellation, that depends on delta only through
``S_k, W_k`` (computed once per ufunc call). The error of the N-point rule falls like ``r^(-2N)``, r set
by the distance of the complex singularities of f' from ``[x - delta, x + delta]``, so N depends on delta:
it is chosen here, at build time, per binade of delta (``2^(e-1) <= delta < 2^e``), as the smallest N whose
result agrees with the (2N + 8)-point rule to 1e-15 relative (both in long double) on a dense x grid (``[-20, 20]`` every 0.05,
around +-delta, large |x|), plus :data:`MARGIN` nodes. Binades that need more than :data:`NMAX` nodes,
and those above ``2^EMAX``, keep the scalar kernel (:data:`NMAX_SCALAR` when f' calls a function that
does not vectorize, e.g. erfc). Float32 data get their own table, the smallest N that
agrees to 1e-9 (the float32 target is 2e-6) plus :data:`MARGIN32` nodes; they are summed in float32 where f' > 0 (a sum of positive
terms loses a few ulps at most) and in float64 otherwise (GELU's and SiLU's f' change sign: a float32 sum
could lose the last bits).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..symbols import x
from .printer import NumbaPrinter, PrinterError
from .stable import exp_rational

#: Binades of delta tabulated: 2^(e-1) <= delta < 2^e for EMIN <= e <= EMAX (below: the EMIN entry).
EMIN, EMAX = -29, 3
#: Largest order used; safety nodes added to the measured order (float64; float32 data: MARGIN32, their
#: agreement RTOL32 being already 500 times below the float32 tolerance the code aims at, 2e-6 / 4).
NMAX, MARGIN, MARGIN32 = 48, 2, 1
#: Largest order when f' calls a library function that does not vectorize (erfc for GELU): 2N scalar calls per
#: element are slower than the scalar kernel beyond this (measured: GELU/sign, N = 11 at delta = 0.1 is 2x
#: faster than the kernel, N = 26 at delta = 1 is 3.5x slower).
NMAX_SCALAR = 12
#: Functions of f' that the vector printer turns into branch-free vectorizable code (or that vectorize as is).
_VECTOR_FUNCS = (sp.exp, sp.log, sp.Abs, sp.Piecewise)
#: The agreement asked of the N-point rule with the (2N + 8)-point rule: RTOL relative to the value plus
#: the rounding noise ``NOISE * sum |terms|``.
#: The sums are computed in long double (80-bit on x86): only functions evaluated by the float64 libm (erf)
#: bring float64 noise; TINY ignores values in the subnormal range.
RTOL, RTOL32, NOISE, TINY = 1e-15, 1e-9, 4 * 2.0**-53, 1e-290
#: How many of the points where an order last failed are tried first with the next order.
HARD = 16


@dataclass
class GaussPlan:
    fp: sp.Expr  # f'(x) in a stable form (Piecewise of exponential-rational forms, or as it is)
    g: sp.Expr  # the weight in t (and delta): rho(delta t^m) m delta t^(m-1)
    s_of_t: sp.Expr  # delta t^m
    table: list[int]  # N per binade e = EMIN..EMAX (0: not used)
    nodes: dict[int, tuple[list[float], list[float]]]  # N -> (t_k, w_k) on [0, 1]
    table32: list[int]  # the same for float32 data (a looser agreement, RTOL32; still summed in float64)


#: erfc kept unevaluated (SymPy rewrites erfc(-a) as 2 - erfc(a)); printed as math.erfc.
_ERFC = sp.Function("erfc")
#: b^(p/2) kept as a call for :func:`_np_fun` (printed as sqrt(b)^p).
_HALFPOW = sp.Function("halfpow")


def erfc_form(e: sp.Expr) -> sp.Expr:
    """``c + c erf(a) -> c erfc(-a)``, ``c - c erf(a) -> c erfc(a)`` in a sum (no cancellation in the tails)."""
    def rep(t):
        args = list(t.args)
        for i, a in enumerate(args):
            c, rest = a.as_coeff_Mul()
            if isinstance(rest, sp.erf):
                for j, b in enumerate(args):
                    if j != i and b.is_number and b == abs(c):
                        arg = -rest.args[0] if c > 0 else rest.args[0]
                        others = [u for k, u in enumerate(args) if k not in (i, j)]
                        return sp.Add(b * _ERFC(arg), *others)
        return t
    return e.replace(lambda t: isinstance(t, sp.Add), rep)


def stable_fprime(D) -> sp.Expr:
    """f' of a breakpoint-free activation as one expression: exponential-rational forms split at x = 0."""
    d = sp.diff(D.activation.pieces[0], x)
    er = exp_rational(d)
    if er is not None:
        return sp.Piecewise((er[0], x < 0), (er[1], True))
    d = sp.together(d) if not d.has(sp.erf) else sp.expand(d)
    return erfc_form(d)


def _np_fun(expr, var):
    def scalar(fn):
        u = np.frompyfunc(fn, 1, 1)
        return lambda a: np.asarray(u(np.asarray(a, dtype=float)), dtype=float)

    def halfpow(b, p):  # b^(p/2) as sqrt and an integer power: long double powl is 9x slower
        r = np.sqrt(b) ** abs(int(p))
        return 1 / r if p < 0 else r

    mods = [{"expm1": np.expm1, "log1p": np.log1p, "erfc": scalar(math.erfc), "erf": scalar(math.erf),
             "halfpow": halfpow}, "numpy"]
    expr = expr.replace(lambda t: t.is_Pow and t.exp.is_Rational and t.exp.q == 2,
                        lambda t: _HALFPOW(t.base, 2 * t.exp))
    if isinstance(expr, sp.Piecewise) and not isinstance(var, tuple):
        # each piece only where it applies (lambdify's select evaluates every piece everywhere: twice the exps)
        pieces = [(sp.lambdify(var, e, mods, cse=True), sp.lambdify(var, c, mods)) for e, c in expr.args]

        def f(a):
            a = np.asarray(a)
            out = np.empty(a.shape, dtype=np.longdouble)
            todo = np.ones(a.shape, dtype=bool)
            for fe, fc in pieces:
                m = todo & np.broadcast_to(fc(a), a.shape)
                out[m] = fe(a[m])
                todo &= ~m
            out[todo] = np.nan
            return out
    else:
        f = sp.lambdify(var, expr, mods, cse=True)

    def call(*a):  # (warnings: silenced by the caller, warnings.catch_warnings is not thread-safe)
        with np.errstate(all="ignore"):
            return np.asarray(f(*a), dtype=np.longdouble)
    return call


@cache
def legendre01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss-Legendre rule on [0, 1] (Newton steps in long double)."""
    r = np.polynomial.legendre.leggauss(n)[0].astype(np.longdouble)

    def legendre(r):
        p0, p1 = np.ones_like(r), r
        for k in range(2, n + 1):
            p0, p1 = p1, ((2 * k - 1) * r * p1 - (k - 1) * p0) / k
        return p1, n * (r * p1 - p0) / (r * r - 1)

    for _ in range(3):
        p, dp = legendre(r)
        r = r - p / dp
    _, dp = legendre(r)
    return (r + 1) / 2, 1 / ((1 - r * r) * dp * dp)


def _x_grid(dmax: float) -> np.ndarray:
    rel = np.array([0.0, 1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 3.0])
    big = np.logspace(-4, 3.3, 40)
    return np.unique(np.concatenate([np.linspace(-20, 20, 801), dmax * np.linspace(-3, 3, 121),
                                     dmax * rel, -dmax * rel, big, -big]))


def applies(D, g: sp.Expr) -> bool:
    """Whether the path may apply (:func:`plan` decides): an activation without breakpoints and a weight
    ``g(t, delta)`` smooth in t on [0, 1] (no |.|, no kinks, only non-negative integer powers of t)."""
    from ..symbols import delta

    if D.activation.breakpoints or len(D.activation.pieces) != 1:
        return False
    t = sp.Symbol("t", positive=True)
    if g.has(sp.Abs, sp.Piecewise, sp.sign, sp.Heaviside, sp.DiracDelta, sp.Min, sp.Max):
        return False
    if any(p.base.has(t) and not (p.exp.is_Integer and p.exp >= 0) for p in g.atoms(sp.Pow)):
        return False
    if g.free_symbols - {t, delta}:
        return False
    try:  # the block prints the weight (rho in Ei or lowergamma has no compiled code: the quadrature through mu)
        NumbaPrinter({t: "t"}).doprint(g)
    except PrinterError:
        return False
    return True


def plan(D, g: sp.Expr, s_of_t: sp.Expr) -> GaussPlan | None:
    """The Gauss-Legendre plan for D, or None when the path does not apply; ``g(t, delta)`` and ``s_of_t`` are
    the rho form in ``t`` (``quadrature.weight_in_t``)."""
    from ..symbols import delta

    if not applies(D, g):
        return None
    t = sp.Symbol("t", positive=True)
    m = int(sp.degree(s_of_t, t))  # s = delta t^m
    fp = stable_fprime(D)
    try:
        f = _np_fun(fp, x)
        # the rounding noise of f' is relative to the sum of the magnitudes of its terms
        fabs = _np_fun(sp.Add(*[sp.Abs(a) for a in sp.Add.make_args(fp)]), x) if fp.is_Add else None
        gw = _np_fun(g, (t, delta))
    except Exception:  # noqa: BLE001 - anything lambdify cannot do: no Gauss path
        return None
    nodes = {}

    def quad(n, xs, d):
        tk, wk = legendre01(n)
        d = np.longdouble(d)
        S = d * tk**m
        W = wk * np.broadcast_to(gw(tk, d), tk.shape)
        xp, xm = xs[:, None] + S[None, :], xs[:, None] - S[None, :]
        terms = W[None, :] * (f(xp) + f(xm))
        mags = np.abs(W)[None, :] * (fabs(xp) + fabs(xm)) if fabs is not None else np.abs(terms)
        return terms.sum(axis=1), mags.sum(axis=1)

    memo = {}

    def qmemo(n, e):
        if (n, e) not in memo:
            memo[n, e] = quad(n, grids[e], 2.0**e)
        return memo[n, e]

    grids = {e: _x_grid(2.0**e).astype(np.longdouble) for e in range(EMIN, EMAX + 1)}

    scalar_calls = any(not isinstance(a, _VECTOR_FUNCS) for a in fp.atoms(sp.Function))
    nmax = NMAX_SCALAR if scalar_calls else NMAX

    def bad(q, ref, l1, rtol):
        """Where the n-point rule misses the reference."""
        return np.isfinite(ref) & ~(np.abs(q - ref) <= rtol * np.abs(ref) + NOISE * l1 + TINY)

    def passes(n, e, rtol, hard, r=0):
        """Whether the n-point rule agrees with the reference on binade e: the (2n + 8)-point rule, or the
        r-point one if r is larger (the float64 search's reference, already computed: more accurate)."""
        r = max(2 * n + 8, r)
        # first the points where the last failure of this search was (``hard``): most orders fail, and a
        # failure there is a failure on the whole grid (same answer, a fraction of the work)
        idx = hard[hard < len(grids[e])]  # (the grids of two binades may differ in length)
        if len(idx):
            xs = grids[e][idx]
            ref, l1 = quad(r, xs, 2.0**e)
            if bad(quad(n, xs, 2.0**e)[0], ref, l1, rtol).any():
                return False, hard
        ref, l1 = qmemo(r, e)
        miss = np.flatnonzero(bad(qmemo(n, e)[0], ref, l1, rtol))
        if len(miss):
            hard = miss[:: max(1, len(miss) // HARD)]
        return not len(miss), hard

    def search(rtol, margin, refs=None):
        """(N per binade, the reference order that accepted it or 0)."""
        out, used, n, hard = [], [], 1, np.zeros(0, dtype=int)
        for e in range(EMIN, EMAX + 1):
            r = refs[e - EMIN] if refs else 0
            steps = 0
            while True:
                ok, hard = passes(n, e, rtol, hard, r)
                if ok:
                    break
                n, steps = n + 1, steps + 1
                # after a few steps, ask the largest order once: a binade that even it cannot serve then costs
                # two rules instead of a walk up to NMAX (the walk was 90 % of the planning time for tanh, isru)
                if n + margin > nmax or (steps == 3 and not passes(nmax - margin, e, rtol, hard, r)[0]):
                    pad = [0] * (EMAX + 1 - e)
                    return out + pad, used + pad
            out.append(n + margin)
            used.append(max(2 * n + 8, r))
        return out, used

    # float64 first: the float32 search then checks against its references (more accurate than its own
    # (2N + 8)-point rules, and already computed: a third less work than two independent searches)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table, refs = search(RTOL, MARGIN)
        table32, _ = search(RTOL32, MARGIN32, refs)
    if not any(table) and not any(table32):
        return None
    for nn in set(table + table32) - {0}:
        tk, wk = legendre01(nn)
        nodes[nn] = (list(map(float, tk)), list(map(float, wk)))
    return GaussPlan(fp, g, s_of_t, table, nodes, table32)

