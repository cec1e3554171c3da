"""What theory predicts: the limit of D_mu f and the order and constant of its error (the Theory page).

At a smooth point the moment expansion (what ``D.series`` computes), at a kink the one-sided expansion, and in
a norm the bulk term and the bands around the singular points, whichever leads.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp

from ..symbols import delta, x, z
from .norms import lp_norm, lp_of
from .pieces import Pieces
from .text import fmt, fmt_order, short

#: Highest derivative order the expansions look at.
KMAX = 9


_zp = sp.Symbol("z_p", positive=True)


def _exact(v: mpmath.mpf) -> sp.Expr:
    """The SymPy number for an mpmath value read from a short decimal (0.3 -> 3/10)."""
    r = sp.nsimplify(mpmath.nstr(v, 30), rational=True)
    return r


def pointwise_theory(D, f: Pieces, x0: mpmath.mpf) -> dict:
    """The limit of D_mu f(x0) and the leading term of the error, from the expansions of the Theory page."""
    at_kink = [i for i, b in enumerate(f.bps) if abs(b - x0) <= mpmath.mpf(10) ** (-(mpmath.mp.dps - 5))]
    dps = mpmath.mp.dps + 5
    if not at_kink:  # smooth at x0: the moment expansion (what D.series computes)
        xe = _exact(x0)
        piece = f.piece_index(x0)
        limit = mpmath.mpf(sp.N(f.diff(piece, 1).subs(x, xe), dps))
        lead = _moment_leading(D.kernel, f, piece, xe)
        dist = min((abs(b - x0) for b in f.bps), default=None)
        where = "f is smooth at x" + (f" (asymptotic once delta < {fmt(dist, 6)}, the distance to the nearest kink)"
                                      if dist is not None else "")
        if lead is None:
            deg = f.polynomial_degree(piece)
            why = ("f is a polynomial of degree <= 2 near x, so D_mu f(x) = f'(x) exactly once the horizon stays "
                   "inside that piece" if deg is not None and deg <= 2 else f"no error term up to order {KMAX}")
            return {"limit": limit, "kind": "derivative", "order": None, "constant": None, "note": f"{where}; {why}"}
        return _lead_dict(limit, "derivative", lead, where)
    # At a kink: sum_k A_k/k! [f^(k)(b+) - (-1)^k f^(k)(b-)] (Theory page, "At a kink").
    i = at_kink[0]
    xe = f.bps_exact[i]

    def sides(k):
        return f.diff(i + 1, k).subs(x, xe), f.diff(i, k).subs(x, xe)

    r0, l0 = sides(0)
    if not _is_zero(r0 - l0):
        jump = sp.nsimplify(r0 - l0)
        a0 = _kernel_halfmoment(D.kernel, 0)
        note = (f"f jumps by {jump} at x: D_mu f(x) ~ jump * rho(0) = {sp.simplify(a0 * jump)} "
                "diverges as delta -> 0 (the values are reported)")
        lead = None if a0.has(sp.oo, sp.zoo, sp.nan) else _leading(a0 * jump)
        return _lead_dict(None, "divergent", lead, note, sep="; ") if lead else {
            "limit": None, "kind": "divergent", "order": None, "constant": None, "note": note}
    r1, l1 = sides(1)
    kink = not _is_zero(r1 - l1)
    limit = mpmath.mpf(sp.N((r1 + l1) / 2, dps))
    for k in range(2, KMAX + 1):
        r, lft = sides(k)
        bracket = r - (-1) ** k * lft
        if _is_zero(bracket):
            continue
        lead = _leading(_kernel_halfmoment(D.kernel, k) / sp.factorial(k) * bracket)
        if lead is None:
            continue
        if kink:
            where = f"at the kink the limit is the average of the one-sided derivatives ({sp.sstr(l1)} and {sp.sstr(r1)})"
        else:
            jump = [sp.Add(r, -lft) for r, lft in (sides(j) for j in range(k + 1))]
            m = next((j for j in range(2, k + 1) if not _is_zero(jump[j])), None)
            where = (f"f^({m}) jumps by {short(sp.nsimplify(jump[m]))} at x" if m is not None
                     else "f is smooth at x (a breakpoint where no derivative jumps)")
        return _lead_dict(limit, "kink average" if kink else "derivative", lead, where)
    note = ("at the kink the limit is the average of the one-sided derivatives "
            f"({sp.sstr(l1)} and {sp.sstr(r1)}); every further term of the one-sided expansion vanishes "
            "(f is a polynomial of degree <= 2 on both sides), so the error is zero")
    return {"limit": limit, "kind": "kink average" if kink else "derivative", "order": None, "constant": None,
            "note": note}


def _lead_dict(limit, kind, lead, where, sep="; ") -> dict:
    c, e = lead
    note = f"{where}{sep}error = C*delta**{sp.sstr(e)} + ... with C = {short(c)}"
    return {"limit": limit, "kind": kind, "order": _order_number(e),
            "constant": mpmath.mpf(sp.N(c, mpmath.mp.dps + 5)), "note": note}


def _moment_leading(kernel: Any, f: Pieces, piece: int, xe: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """Leading term of sum_{k odd >= 3} M_k/k! f^(k)(x), the expansion ``D.series`` computes, term by term.

    (Equal to the leading term of ``D.series(n) - f'(x)``, which the tests check; evaluating the
    terms one at a time at the point avoids expanding the whole series symbolically.)
    """
    for k in range(3, KMAX + 1, 2):
        dk = f.diff(piece, k).subs(x, xe)
        if _is_zero(dk):
            continue
        lead = _leading(2 * _kernel_halfmoment(kernel, k) / sp.factorial(k) * dk)
        if lead is not None:
            return lead
    return None


def norm_theory(D, f: Pieces, a, b, p: float) -> dict:
    """Predicted order and constant of ||D_mu f - f'||_p on [a, b] (Theory page, "In L^p norms")."""
    terms = []  # (order, constant or None, words)
    notes = []
    # Bulk: the first odd moment beyond M_1 that meets a derivative of f not identically zero on [a, b].
    pieces = [i for i in range(len(f.pieces)) if _piece_meets(f, i, a, b)]
    for k in range(3, KMAX + 1, 2):
        mk = 2 * _kernel_halfmoment(D.kernel, k)
        if _is_zero(mk.subs(delta, sp.Rational(7, 10))):
            continue
        if all(f.diff(i, k) == 0 for i in pieces):
            continue
        lead = _leading(mk / sp.factorial(k))
        if lead is None:
            continue
        c, e = lead
        nk = lp_of(lambda t, k=k: f(t, k), [a, *[bp for bp in f.bps if a < bp < b], b], p)
        terms.append((_order_number(e), abs(mpmath.mpf(sp.N(c, mpmath.mp.dps + 5))) * nk,
                      f"bulk M_{k}/{k}! f^({k}): order {fmt_order(_order_number(e))}"))
        break
    # Bands around the singular points in [a, b].
    for i, bp in enumerate(f.bps):
        if not a <= bp <= b:
            continue
        xe = f.bps_exact[i]
        jumps = [f.diff(i + 1, k).subs(x, xe) - f.diff(i, k).subs(x, xe) for k in range(4)]
        m = next((k for k, j in enumerate(jumps) if not _is_zero(j)), None)
        if m is None or m >= 3 and p != math.inf:
            continue
        q = (m - 1) + (0 if p == math.inf else 1 / p)
        u_range = (-1 if bp > a else 0, 1 if bp < b else 0)
        if m >= 3:  # ties with the bulk in Linf; the constant then mixes both
            terms.append((_order_number(sp.nsimplify(q)), None, f"kink of f^({m}) at {xe}"))
            continue
        const = _band_constant(D.kernel, m, p, u_range)
        const = None if const is None else abs(mpmath.mpf(sp.N(jumps[m], mpmath.mp.dps + 5))) * const
        word = {0: "f jumps", 1: "f' jumps", 2: "f'' jumps"}[m]
        terms.append((_order_number(sp.nsimplify(q)), const, f"{word} at {xe}: band order {fmt_order(q)}"))
    if not terms:
        return {"order": None, "constant": None,
                "note": "D_mu f = f' exactly on the interval (f is piecewise polynomial of degree <= 2 "
                        "and has no kink in it)"}
    q = min(t[0] for t in terms)
    lead = [t for t in terms if abs(t[0] - q) < 1e-12]
    consts = [t[1] for t in lead]
    if any(c is None for c in consts) or (p == math.inf and len(lead) > 1):
        const = None
    elif p == math.inf:
        const = consts[0]
    else:
        const = sum(c ** p for c in consts) ** (1 / mpmath.mpf(p))
    notes = "; ".join(t[2] for t in terms)
    words = f"order min over contributions = {fmt_order(q)} ({notes})"
    if q < 0 or (q == 0 and const is not None):
        words += "; the error does not tend to zero in this norm"
    return {"order": q, "constant": const, "note": words}


def _piece_meets(f: Pieces, i: int, a, b) -> bool:
    lo = f.bps[i - 1] if i > 0 else -mpmath.inf
    hi = f.bps[i] if i < len(f.bps) else mpmath.inf
    return lo < b and hi > a


def _band_constant(kernel, m: int, p: float, u_range: tuple[int, int]) -> mpmath.mpf | None:
    """||g_m||_p over u_range, with g_m the blown-up error profile of a jump in f^(m) (delta = 1)."""
    rho1 = _unit_profile(kernel)
    if rho1 is None:
        return None
    lo, hi = u_range
    if m == 0:  # a jump of f: the error is rho itself
        if p == math.inf:
            return rho1(mpmath.mpf(0)) if kernel_is_bounded(kernel) else mpmath.inf
        return lp_norm(lambda u: rho1(u), [mpmath.mpf(lo), mpmath.mpf(0), mpmath.mpf(hi)][(0 if lo else 1):(3 if hi else 2)], p)

    def R(u):  # int_{-1}^{1} (u+v)_+^{m-1}/(m-1)! rho1(v) dv, for |u| < 1
        if m == 1:
            return mpmath.quad(rho1, [-u, 0, 1] if u > 0 else [-u, 1])
        return mpmath.quad(lambda v: (u + v) * rho1(v), [-u, 0, 1] if u > 0 else [-u, 1])

    def g(u):
        kpart = (1 if u >= 0 else 0) if m == 1 else max(u, 0)
        return R(u) - kpart

    cuts = [mpmath.mpf(c) for c in sorted({lo, 0, hi})]
    with mpmath.workdps(min(mpmath.mp.dps, 30)):
        return +lp_of(g, cuts, p)


def kernel_is_bounded(kernel: Any) -> bool:
    """Whether rho(0) = int_0^delta mu is finite (false for singular kernels with p <= -1)."""
    a0 = _kernel_halfmoment(kernel, 0)
    return not a0.has(sp.oo, sp.zoo, sp.nan)


@lru_cache(maxsize=64)
def _unit_profile_expr(rho: sp.Expr) -> sp.Expr | None:
    """rho at delta = 1 when the kernel is a rescaling of a fixed shape (delta*rho(delta*u) free of delta)."""
    u = sp.Symbol("u", real=True)
    scaled = sp.simplify(delta * rho.subs(z, delta * u))
    if scaled.has(delta):
        return None
    return scaled.subs(u, z)


def _unit_profile(kernel: Any):
    expr = _unit_profile_expr(sp.sympify(kernel.rho))
    if expr is None:
        return None
    fn = sp.lambdify(z, expr, "mpmath")
    return lambda u: mpmath.mpf(fn(u)) if abs(u) < 1 else mpmath.mpf(0)


def _kernel_halfmoment(kernel: Any, k: int) -> sp.Expr:
    """``A_k = int_0^delta z**k mu(z) dz`` (``A_0 = rho(0)``, possibly infinite for singular kernels)."""
    return _halfmoment(kernel.mu_plus, bool(getattr(kernel, "discrete", False)), k)


@lru_cache(maxsize=512)
def _halfmoment(mu_plus: sp.Expr, discrete: bool, k: int) -> sp.Expr:
    if discrete:
        return sp.simplify(mu_plus * delta**k)
    val = sp.integrate((z**k * mu_plus).subs(z, _zp), (_zp, 0, delta))
    if isinstance(val, sp.Piecewise):  # SymPy's convergence guard for the power family
        val = val.args[0][0]
    return sp.simplify(val)


def _is_zero(c: sp.Expr) -> bool:
    """Whether a constant SymPy expression vanishes (numerically at 60 digits, symbolically if that fails)."""
    c = sp.sympify(c)
    if c == 0:
        return True
    try:
        return abs(mpmath.mpmathify(sp.N(c, 60))) < mpmath.mpf(10) ** -45
    except (TypeError, ValueError):
        return sp.simplify(c) == 0


def _leading(expr: sp.Expr, _series: bool = True) -> tuple[sp.Expr, sp.Expr] | None:
    """(coefficient, exponent) of the leading term of expr as delta -> 0+, None if expr vanishes."""
    expr = sp.expand(expr)
    groups: dict[sp.Expr, sp.Expr] = {}
    for t in sp.Add.make_args(expr):
        c, e = t.as_coeff_exponent(delta)
        if c.has(delta):  # not a sum of powers of delta (e.g. a Gaussian kernel's moments): expand first
            if not _series:
                return None
            return _leading(sp.series(expr, delta, 0, 12).removeO(), _series=False)
        groups[e] = groups.get(e, sp.Integer(0)) + c
    for e in sorted(groups, key=float):
        if not _is_zero(groups[e]):
            return groups[e], e
    return None


def _order_number(e: sp.Expr) -> float | int:
    e = sp.nsimplify(e)
    return int(e) if e.is_Integer else float(e)
