"""The branch-free fast path: the stable cells as one formula without branches (shared exponential, clamped
branches, delta-only parts hoisted into ``_prep``), which LLVM vectorizes in the ufunc loop (``_kfast``)."""

from __future__ import annotations

from functools import reduce

import sympy as sp

from ..symbols import delta, x
from .emit import Block, assignments, njit
from .printer import NumbaPrinter, exact_bound
from .stable import (
    accurate_functions,
)


class Clamp(sp.Function):
    """``Clamp(x, lo, hi)``: x clamped into ``[lo, hi]`` (``-oo``, ``oo``: no bound), for the branch-free loop
    (:func:`_clamp_branches`); the printer computes it in float64 (``NumbaPrinter._print_Clamp``)."""

    nargs = 3

    def _eval_is_real(self):
        return True


def _shared_exponential(expr: sp.Expr):
    """Rewrite ``exp(a x + r)`` (a != 0) as ``E**(|a| N) * exp(r)`` with ``E = exp(-|x|/N)`` where the sign of a
    matches the side of x it is used on (a > 0 for x < 0, a < 0 for x >= 0). Returns (expr, N) or (expr, None)."""
    E = sp.Symbol("E", positive=True)
    atoms = [a for a in expr.atoms(sp.exp) if a.args[0].has(x)]
    coeffs = [sp.expand(a.args[0]).coeff(x) for a in atoms]
    if not atoms or not all(c.is_Rational and c != 0 for c in coeffs):
        return expr, None
    n = reduce(sp.ilcm, [sp.Rational(c).q for c in coeffs], 1)

    def side_sub(e, want_positive: bool):
        def f(t):
            arg = sp.expand(t.args[0])
            a = arg.coeff(x)
            if a == 0:
                return t
            if (a > 0) != want_positive:
                raise ValueError("exponential grows on this side")
            return E ** int(abs(a) * n) * sp.exp(arg - a * x)
        return e.replace(lambda t: isinstance(t, sp.exp) and t.args[0].has(x), f)

    def walk(e):
        if isinstance(e, sp.Piecewise):
            args = []
            for v, c in e.args:
                if isinstance(c, sp.StrictLessThan) and c.lhs == x and c.rhs == 0:
                    args.append((side_sub(v, True), c))
                elif c is sp.true and args and args[-1][1] == (x < 0):
                    args.append((side_sub(v, False), c))
                else:
                    args.append((walk(v), c))
            return sp.Piecewise(*args, evaluate=False)
        if e.has(sp.exp) and any(a.args[0].has(x) for a in e.atoms(sp.exp)):
            raise ValueError("exponential of x outside a sign split")
        return e

    try:
        return walk(expr), n
    except ValueError:
        return expr, None


def _hoist_delta(expr: sp.Expr):
    """Replace the maximal subexpressions that depend on delta but not on x by symbols p0, p1, ...; the bounds of a
    :class:`Clamp` by q0, q1, ... (computed in float64)."""
    found: dict = {}
    wide: dict = {}

    def bound(e):
        if e.is_number or e.free_symbols != {delta}:
            return e
        if e not in wide:
            wide[e] = sp.Symbol(f"q{len(wide)}", real=True)
        return wide[e]

    def visit(e):
        if e.is_Atom:
            return e
        if isinstance(e, Clamp):
            return Clamp(visit(e.args[0]), bound(e.args[1]), bound(e.args[2]))
        if e.free_symbols == {delta} and not isinstance(e, sp.Rel) and (e.is_Function or e.is_Pow or e.is_Mul
                                                                         or e.is_Add):
            if e not in found:
                found[e] = sp.Symbol(f"p{len(found)}", real=True)
            return found[e]
        if isinstance(e, sp.Piecewise):
            return sp.Piecewise(*[(visit(v), c) for v, c in e.args], evaluate=False)
        return e.func(*[visit(a) for a in e.args])

    body = visit(expr)
    return body, [(s_, e) for e, s_ in found.items()] + [(s_, e) for e, s_ in wide.items()]


def _merge_equal_branches(e: sp.Expr) -> sp.Expr:
    """Piecewise branches with the same value (e.g. the two sides of a symmetric form) become one."""
    if isinstance(e, sp.Piecewise):
        args = [(_merge_equal_branches(v), c) for v, c in e.args]
        out = []
        for v, c in args:
            if out and out[-1][0] == v:
                out[-1] = (v, sp.Or(out[-1][1], c) if c is not sp.true else sp.true)
            else:
                out.append((v, c))
        return out[0][0] if len(out) == 1 and out[0][1] is sp.true else sp.Piecewise(*out, evaluate=False)
    if e.is_Atom:
        return e
    return e.func(*[_merge_equal_branches(a) for a in e.args])


def _negate(c):
    """Not c, pushed down to the relations (De Morgan), so that :func:`_x_range` can read it."""
    if isinstance(c, sp.And):
        return sp.Or(*[_negate(a) for a in c.args], evaluate=False)
    if isinstance(c, sp.Or):
        return sp.And(*[_negate(a) for a in c.args], evaluate=False)
    if isinstance(c, sp.Not):
        return c.args[0]
    if isinstance(c, sp.Rel):
        return c.negated
    return sp.Not(c)


def _meet(a, b):
    """The intersection of two ranges ``(lo, hi)`` (None: unbounded on that side)."""
    lo = a[0] if b[0] is None else b[0] if a[0] is None else sp.Max(a[0], b[0])
    hi = a[1] if b[1] is None else b[1] if a[1] is None else sp.Min(a[1], b[1])
    return lo, hi


def _x_range(c) -> tuple:
    """A range ``(lo, hi)`` of x that contains every x where the condition c holds (None: unbounded).

    Only ever too wide, never too narrow: clamping x into it changes nothing where c holds."""
    if isinstance(c, sp.And):
        return reduce(_meet, [_x_range(a) for a in c.args], (None, None))
    if isinstance(c, sp.Or):
        rs = [_x_range(a) for a in c.args]
        lo = None if any(r[0] is None for r in rs) else sp.Min(*[r[0] for r in rs])
        hi = None if any(r[1] is None for r in rs) else sp.Max(*[r[1] for r in rs])
        return lo, hi
    if isinstance(c, (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan)):
        g = c.lhs - c.rhs if isinstance(c, (sp.StrictLessThan, sp.LessThan)) else c.rhs - c.lhs  # c: g <= 0
        a = sp.diff(g, x)
        if a.is_number and a != 0 and not (g - a * x).has(x):
            bound = -(g - a * x) / a
            return (None, bound) if a > 0 else (bound, None)
    return None, None


def _clamp_branches(e: sp.Expr, rng=(None, None), wide: bool = False) -> sp.Expr:
    """Each Piecewise value with x clamped into the range of x where it is selected.

    The branch-free loop evaluates every branch for every x and selects one; clamping leaves the selected value
    as it is and keeps the others finite (a polynomial in x/delta meant for |x| < delta overflows float32 at
    x = 1000, delta = 1e-8, and NumPy would warn of an overflow though no result is wrong). With ``wide`` the
    clamp is a :class:`Clamp` (computed in float64, as the conditions are: bounds ``b +- delta`` rounded to
    float32 would move an x of the cell by an ulp, which a cell's formula in ``(x - b)/delta`` magnifies)."""
    if isinstance(e, sp.Piecewise):
        args, rest = [], rng
        for v, c in e.args:
            args.append((_clamp_branches(v, _meet(rest, _x_range(c)), wide), c))
            rest = _meet(rest, _x_range(_negate(c)))
        return sp.Piecewise(*args, evaluate=False)
    if not e.has(x):
        return e
    if e.has(sp.Piecewise):
        return e.func(*[_clamp_branches(a, rng, wide) for a in e.args])
    lo, hi = rng
    if wide and not all(b is None or exact_bound(b) for b in rng):
        return e if lo is None and hi is None else e.xreplace(
            {x: Clamp(x, sp.S.NegativeInfinity if lo is None else lo, sp.oo if hi is None else hi)})
    xc = x if lo is None else sp.Max(x, lo)
    xc = xc if hi is None else sp.Min(xc, hi)
    return e.xreplace({x: xc})


def fast_formula(sym: sp.Expr, wide: bool = False):
    """The fast-path formula: (body in x, E, p_i; N with E = exp(-|x|/N) or None; [(p_i, delta-only expr)]).
    With ``wide``, x is clamped by :class:`Clamp` with bounds q_i (listed after the p_i, computed in float64)."""
    sym = accurate_functions(sym)
    sym, n = _shared_exponential(sym)
    sym = _merge_equal_branches(sym)
    sym = _clamp_branches(sym, wide=wide)
    body, hoisted = _hoist_delta(sym)
    return body, n, hoisted


def branch_free_lines(vp: NumbaPrinter, body: sp.Expr, n: int | None, prefix: str) -> tuple[list[str], str]:
    """Lines computing a :func:`fast_formula` body with the vector printer ``vp``: ``(lines, printed value)``.
    With a shared exponential (``n`` not None) the first line sets ``E = exp(-|x|/n)``."""
    lines = []
    if n is not None:
        vp.names[sp.Symbol("E", positive=True)] = "E"
        lines.append(f"E = {vp.function('exp')}(-abs(x) / T({n}.0))")
    more, (val,) = assignments(vp, [body], prefix)
    return lines + more, val


def fast_source(pr: NumbaPrinter, sym: sp.Expr, lo, hi) -> str:
    """``_prep(delta)`` (the delta-only subexpressions) and ``_kfast(x, delta, P)``: branch-light, vectorizable."""
    body, n, hoisted = fast_formula(sym, wide=True)
    blk = Block()
    blk.add(njit(python=True))
    blk.add("def _prep(delta):")
    blk.add('"""The parts of the formula that depend on delta only (computed once per call of the ufunc loop)."""', 1)
    blk.add("T = type(delta)", 1)
    narrow = [e for s_, e in hoisted if s_.name.startswith("p")]
    wide = [e for s_, e in hoisted if s_.name.startswith("q")]
    lines, vals = assignments(pr, narrow or ([] if wide else [sp.Integer(0)]), "_h")
    if wide:
        wp = pr.wide()
        more, wvals = assignments(wp, wide, "_hw")
        pr.helpers |= wp.helpers
        lines, vals = lines + more, vals + wvals
    for ln in lines:
        blk.add(ln, 1)
    blk.add(f"return ({', '.join(vals)},)", 1)
    blk.add()
    blk.add(njit(', fastmath={"contract"}, inline="always"', python=True))
    blk.add("def _kfast(x, delta, P):")
    blk.add('"""kernel(x, delta) for 0 < delta < inf, without branches that stop LLVM from vectorizing."""', 1)
    blk.add("T = type(x)", 1)
    names = [str(s_) for s_, _ in hoisted] or ["_unused"]
    blk.add(f"{', '.join(names)}, = P", 1)
    for s_, _ in hoisted:
        pr.names[s_] = str(s_)
    vp = NumbaPrinter(dict(pr.names), vector_math=True, wide_conditions=True)
    lines, val = branch_free_lines(vp, body, n, "_k")
    pr.helpers |= vp.helpers
    for ln in lines:
        blk.add(ln, 1)
    blk.add(f"v = {val}", 1)
    blk.add(f"v = {pr.doprint(hi)} if x == T(math.inf) else v", 1)
    blk.add(f"v = {pr.doprint(lo)} if x == -T(math.inf) else v", 1)
    blk.add("return x if x != x else v", 1)
    return blk.text()
