"""The small-delta moment series of a pair: the coefficient tables of its terms, which the evaluator of
:mod:`.runtime.series` reads, and the lines of ``_kfirst`` that call it."""

from __future__ import annotations

import sympy as sp

from ..symbols import x
from . import runtime
from .derivs import odd_derivatives
from .fprime import activation_pieces
from .printer import NumbaPrinter
from .stable import (
    _X,
    _Y,
)

#: Terms of the small-delta series (up to delta**(2*SERIES_TERMS - 2)).
SERIES_TERMS = 10



def _bpoly_table(poly_expr: sp.Expr, var: sp.Symbol) -> tuple[list[float], int, int]:
    """Coefficient table (row-major in the X power) of a polynomial in (x, var)."""
    P = sp.Poly(poly_expr, x, var)
    nx = P.degree(x) + 1 if P.degree(x) >= 0 else 1
    nX = P.degree(var) + 1 if P.degree(var) >= 0 else 1
    tab = [0.0] * (nx * nX)
    for (a, b), c in P.terms():
        tab[b * nx + a] = float(c)
    return tab, nx, nX


def _series_tables(reps, side: str):
    """Tables for the series evaluator (:mod:`.runtime.series`) on one side of x = 0."""
    var = _X if side == "neg" else _Y
    P, PI, Dc, DI = [], [], [], []
    for Dp, k0 in reps[0].Ds:
        q = sp.Rational(k0).q
        if side == "neg":
            dexpr = Dp.as_expr()
        else:
            dexpr = sp.expand(Dp.as_expr().xreplace({_X: 1 / _Y}) * _Y ** Dp.degree(_X))
        tab, nx, nX = _bpoly_table(dexpr, var)
        DI.append([len(Dc), nx, nX, int(k0 * q), int(q)])
        Dc += tab
    for r in reps:
        if side == "neg":
            pexpr, ypow = r.P.as_expr(), 0
        else:
            deg = r.P.degree(_X)
            pexpr = sp.expand(r.P.as_expr().xreplace({_X: 1 / _Y}) * _Y**deg)
            ypow = -deg + sum(Dp.degree(_X) * k for Dp, k in r.Ds)
        if r.P.is_zero:
            pexpr, ypow = sp.Integer(0), 0
        if not sp.Integer(ypow) == ypow:
            return None
        tab, nx, nX = _bpoly_table(pexpr, var)
        PI.append([len(P), nx, nX, int(ypow)])
        P += tab
    if len(DI) > 2:
        return None
    return P, PI, Dc, DI


def _arr(vals, dtype: str) -> str:
    if dtype == "f":
        return "np.array([" + ", ".join(repr(float(v)) for v in vals) + "])"
    if not vals:
        return "np.zeros((0, 5), dtype=np.int64)"
    return "np.array([" + ", ".join("[" + ", ".join(str(int(v)) for v in row) + "]" for row in vals) + "], dtype=np.int64)"


def series_source(D, terms: int = SERIES_TERMS):
    """Tables and kernel lines for the moment series of f' on the piece holding x; None if unavailable.

    Returns ``(globals source, kernel lines setting v and e, helpers)``.
    """
    pieces, bps = activation_pieces(D)
    reps = []
    for p in pieces:
        r = odd_derivatives(sp.diff(p, x), terms)
        if r is None:
            return None
        reps.append(r)
    # moments of a scale-invariant kernel: M_(2j+1)/(2j+1)! = c_j delta^(2j)
    mcoef = D.kernel.series_coefficients(terms)
    if mcoef is None:
        return None
    pr = NumbaPrinter()
    pr.helpers.add("_vexp")
    P, PI, Dc, DI = [], [], [], []
    groups = []  # per (piece, side): r0, d0, nd, N, uses exp
    simple = []  # per (piece, side): _one_factor_series or None
    blocks = []  # per piece: (its branch line, [(side's branch line, generic lines, one-factor lines)])
    lines = []
    for i, rs in enumerate(reps):
        pre = []
        if bps:
            pre = [f"{'if' if i == 0 else 'elif'} x < {pr.doprint(bps[i])}:" if i < len(bps) else "else:"]
        body = []
        for side in ("neg", "pos"):
            tabs = _series_tables(rs, side)
            if tabs is None:
                return None
            p_, pi_, dc_, di_ = tabs
            r0, d0 = len(PI), len(DI)
            PI += [[row[0] + len(P), *row[1:]] for row in pi_]
            DI += [[row[0] + len(Dc), *row[1:]] for row in di_]
            P += p_
            Dc += dc_
            n = rs[0].N
            uses_x = any(row[2] > 1 for row in pi_) or any(row[2] > 1 for row in di_)
            # X = exp(x/N) for x < 0, exp(-x/N) for x >= 0, written without the side: no exp(1000) where the other
            # side's code is evaluated too
            xdef = f"X = math.exp(-abs(x) / T({n}.0))" if uses_x else "X = T(1.0)"
            inner = [xdef, f"r0 = {r0}", f"d0 = {d0}", f"nd = {len(di_)}"]
            groups.append([r0, d0, len(di_), n, int(uses_x)])
            one = _one_factor_series(p_, pi_, dc_, di_, mcoef)
            simple.append(one)
            d_of_x = None if one is None else sp.horner(sp.Add(*[sp.Float(c) * x**a for a, c in enumerate(one[0])]), x)
            one_inner = None if one is None else [f"_sd = {pr.doprint(d_of_x)}", f"_sg = {len(simple) - 1}"]
            body.append(("if x < T(0.0):" if side == "neg" else "else:", inner, one_inner))
        blocks.append((pre, body))
    glob = [f"_SM = {_arr(mcoef, 'f')}", f"_SP = {_arr(P, 'f')}", f"_SPI = {_arr(PI, 'i')}",
            f"_SD = {_arr(Dc or [0.0], 'f')}", f"_SDI = {_arr(DI, 'i')}", f"_SPI_NT = {terms}",
            f"_SG = {_arr(groups, 'i')}", f"_SB = {_arr([float(b) for b in bps] or [], 'f')}"]
    kq = {one[1:3] for one in simple if one is not None}
    one_factor = all(one is not None for one in simple) and len(kq) == 1
    for pre, body in blocks:
        branches = [ln for head, inner, one_inner in body
                    for ln in [head] + ["    " + b for b in (one_inner if one_factor else inner)]]
        lines += pre + (["    " + ln for ln in branches] if pre else branches)
    if one_factor:
        # every term one power of one factor: a Horner sum in (delta/D)^2 (runtime/series.py)
        (k, q), = kq
        glob.append("_SC = np.array([" + ", ".join(repr([float(c) for c in one[3]]) for one in simple) + "])")
        lines.append(f"v, e = _series_one_factor(_sd, delta, _SC, _sg, {k}, {q}, {terms - 1}, EPS)")
    else:
        # int64, never a literal, for the counts: the same signature in every module (see runtime/warm.py)
        # summed in float64 for both float types, with the stopping rule and rounding bound of T (float32: rounded
        # once, within the bound): Numba compiles the evaluator once, not once per dtype
        lines.append("v, e = _series_eval_d(np.float64(x), np.float64(delta), np.float64(X), _SP, _SPI, np.int64(r0), "
                     f"np.int64({terms}), _SD, _SDI, np.int64(d0), np.int64(nd), _SM, np.float64(EPS))")
        lines.append("v, e = T(v), T(e)")
    return "\n".join(glob) + "\n\n" + runtime.source("series") + "\n", lines, pr.helpers


def _one_factor_series(p_, pi_, dc_, di_, mcoef):
    """``(D coefficients in x, k, q, [c_j])`` when every term of one side's series tables is a constant times a
    power of one factor D(x) (see ``runtime/series.py``'s ``_series_one_factor``), else None."""
    if len(di_) != 1 or di_[0][2] != 1 or di_[0][4] not in (1, 2):
        return None
    if any(row[1] != 1 or row[2] != 1 or row[3] != 0 for row in pi_):
        return None
    off, nx, _, k, q = di_[0]
    return dc_[off:off + nx], k, q, [m * p_[row[0]] for m, row in zip(mcoef, pi_)]
