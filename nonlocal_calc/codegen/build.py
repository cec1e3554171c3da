"""From a :class:`~nonlocal_calc.NonlocalDerivative` to the source of a compiled module.

The generated scalar ``kernel(x, delta)`` decides, point by point and inside the compiled code:

1. special values: NaN in, or ``delta < 0`` -> NaN; ``delta == 0`` -> f'(x) (the average of the
   one-sided derivatives at a kink); ``x = +-inf`` -> ``lim f' * M_1`` (the first moment);
2. for small delta, where no kink lies within the horizon, the moment series
   ``sum_j M_(2j+1)/(2j+1)! f^(2j+1)(x)``; it is accepted when its error estimate (the larger of the
   last two terms, plus rounding) is below the tolerance of the dtype;
3. the closed form, cell by cell, rewritten into stable forms (:mod:`.stable`); cells that are still
   sums of terms carry the rounding estimate ``2 eps sum |t_i|`` and are accepted below the tolerance;
4. otherwise exact quadrature of ``int f'(x+s) rho(s) ds`` (adaptive Gauss-Kronrod 7/15 split at 0
   and at the kinks, with ``s = delta t^m`` where rho has powers |s|^(k/m)): no cancellation. It runs in
   float64 for both dtypes: for a sign-changing f' (GELU, SiLU) the weighted sum of float32 node values can
   lose the last bits the float32 target needs; it is the rare path, and its result is rounded to float32.

Pairs without a closed form use 1 and 4 only. The module also defines the NumPy ufunc (float32 and
float64 loops written as Numba ``cfunc``s, so that the common path vectorizes) and a docstring
with the formula and the measured accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, reduce

import sympy as sp

from ..symbols import delta, x, z
from . import internals, runtime, specfun
from .accuracy import SAFETY, TARGETS
from .derivs import odd_derivatives
from .printer import _PREC, NumbaPrinter, PrinterError, number_literal
from .stable import (
    _W,
    _X,
    _Y,
    Region,
    accurate_functions,
    centred_poly,
    exp_rational,
    homogeneous,
    invert_exponentials,
    log1p,
    log_combine,
    protect,
    realify,
)

#: Tolerances the generated code aims at: the promised accuracy TARGETS divided by the safety factor.
RTOL = {name: rtol / SAFETY for name, (rtol, _) in TARGETS.items()}
ATOL = {name: atol / SAFETY for name, (_, atol) in TARGETS.items()}
#: Terms of the small-delta series (up to delta**(2*SERIES_TERMS - 2)).
SERIES_TERMS = 10

_S = sp.Symbol("s", real=True)
_T = sp.Symbol("t", positive=True)
_TR = sp.Symbol("t", real=True)  # f's argument in _fp
_NJ = 'numba.njit(cache=True, _nrt=False, error_model="numpy"{extra})'


def njit(extra: str = "", python: bool = False) -> str:
    """The decorator line of a generated function. Only ``python=True`` functions (``kernel``, ``_prep``,
    ``_kfast``, jit_scalar's) are callable from Python; the others, called only from compiled code, get no
    CPython wrapper (Numba compiles and optimizes one per function: 10 % of a pair's build), and calling them
    from Python crashes the interpreter: call them from an ``njit`` function."""
    return "@" + _NJ.format(extra=extra if python else extra + ", no_cpython_wrapper=True")


# ====================================================================== small emit helpers
class Block:
    """Lines of Python source with indentation."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, line: str = "", ind: int = 0):
        self.lines.append("    " * ind + line if line else "")

    def extend(self, other: Block, ind: int = 0):
        for ln in other.lines:
            self.add(ln, ind) if ln else self.add()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _assignments(pr: NumbaPrinter, exprs: list[sp.Expr], prefix: str):
    """CSE over ``exprs``: ``(lines, printed results)``; temporaries are named ``{prefix}{i}``."""
    syms = sp.numbered_symbols(prefix, real=True)
    exprs = [accurate_functions(sp.sympify(e)) for e in exprs]
    # bases of integer powers are printed as repeated products: make them temporaries
    bases = sorted({p.base for e in exprs for p in sp.sympify(e).atoms(sp.Pow)
                    if p.exp.is_Integer and abs(p.exp) >= 2 and not p.base.is_Atom}, key=sp.default_sort_key)
    repl, reduced = sp.cse([*exprs, *bases], symbols=syms, optimizations="basic")
    reduced = reduced[: len(exprs)]
    lines = []
    for s, e in repl:
        pr.names[s] = str(s)
        lines.append(f"{s} = {pr.doprint(e)}")
    return lines, [pr.doprint(e) for e in reduced]


# ====================================================================== leaves of the closed form
@dataclass
class Leaf:
    """How one cell is evaluated: source lines that set ``v`` (value) and ``e`` (abs. error estimate)."""

    lines: list[str]
    checked: bool  # False: e is identically 0 (stable by construction)
    kind: str
    sym: sp.Expr | None = None  # the cell value as SymPy (unchecked cells), for the vectorizable fast path


def _x_of_w(w0) -> sp.Expr:
    return (x - w0 * delta) / delta


def _factored_leaf(pr: NumbaPrinter, m, g, region: Region) -> Leaf | None:
    """``c * prod (w - r_i)**k_i`` when g splits into rational linear factors whose roots are cell ends or far
    from the cell (then ``x - r_i delta`` has no cancellation): accurate everywhere."""
    if not g.is_polynomial(_W) or sp.Poly(g, _W).degree() < 1:
        return None
    ends = [sp.simplify(b / delta) for b in (region.lo, region.hi) if b is not None]
    ends = [e for e in ends if e.is_number]
    c, facs = sp.factor_list(g, _W)
    out = []
    for f, k in facs:
        fp = sp.Poly(f, _W)
        if fp.degree() != 1:
            return None
        a, b = fp.all_coeffs()
        root = -b / a
        if root not in ends:
            lo = min(ends) if len(ends) == 2 else None
            hi = max(ends) if len(ends) == 2 else None
            if lo is None or not (root < lo - max(abs(root), 1) / 2 or root > hi + max(abs(root), 1) / 2):
                return None
        out.append(((x + (b / a) * delta) / delta, k))
        c *= a**k
    expr = c * sp.Mul(*[f**k for f, k in out]) * delta**m
    lines, (val,) = _assignments(pr, [expr], "_f")
    return Leaf(lines + [f"v = {val}", "e = T(0.0)"], False, "product of linear factors in w = x/delta", expr)


def _poly_leaf(pr: NumbaPrinter, m, g, region: Region) -> Leaf | None:
    fl = _factored_leaf(pr, m, g, region)
    if fl is not None:
        return fl
    cp = centred_poly(g, region, m)
    if cp is None:
        return None
    w0, p = cp
    hp = sp.horner(p, _W) if p.has(_W) else p
    pr.names[_W] = "w"
    ws = pr.doprint(_x_of_w(w0))
    val = pr._wrap(hp, _PREC["mul"])  # (the scale multiplies all of it: a sum in parentheses)
    scale = "" if m == 0 else f" * {pr._wrap(delta ** m, _PREC['mul'] + 1)}"
    lines = [f"w = {ws}", f"v = {val}{scale}", "e = T(0.0)"]
    # is the centred polynomial well conditioned on the cell? sum |c_k w^k| / |p| at sample points (ends that move
    # in w, like x < 1 - delta, cannot be sampled: the cell then carries the rounding estimate)
    ends = [sp.simplify(b / delta) for b in (region.lo, region.hi) if b is not None]
    checked = not all(e_.is_number for e_ in ends)
    if len(ends) == 2 and not checked:
        a, b = sorted(float(e_) - float(w0) for e_ in ends)
        absp = sum(abs(c) * _W**k for (k,), c in sp.Poly(p, _W).terms())
        worst = 0.0
        for i in range(1, 40):
            wv = a + (b - a) * i / 40
            pv = abs(float(p.subs(_W, wv)))
            if pv > 0:
                worst = max(worst, float(absp.subs(_W, wv)) / pv)
        checked = worst > 8
    if checked:
        absp = sum(abs(c) * sp.Abs(_W) ** k for (k,), c in sp.Poly(p, _W).terms())
        lines[-1] = f"e = T(2.0) * EPS * ({pr.doprint(absp)})" + (f" * abs({scale[3:]})" if scale else "")
    sym = None if checked else hp.subs(_W, _x_of_w(w0)) * delta**m
    return Leaf(lines, checked, "centred polynomial in w = x/delta", sym)


def _homogeneous_leaf(pr: NumbaPrinter, expr: sp.Expr, region: Region) -> Leaf | None:
    """The cell as ``delta**m g(w)``, g a polynomial, with ``w = (x - c)/delta``: c = 0, or the fixed part of a cell
    end (a kink of f at c puts the cell ends at ``c + k delta``; hardtanh's cells near x = 1 are polynomials in
    ``(x - 1)/delta``, not in ``x/delta``)."""
    shifts = [sp.Integer(0)]
    for b in (region.lo, region.hi):
        c = None if b is None else sp.expand(b).subs(delta, 0)
        if c is not None and c.is_number and c.is_real and c not in shifts and not sp.expand(b - c).has(x):
            shifts.append(c)
    for c in shifts:
        if c == 0:
            hom = homogeneous(expr, region)
            leaf = None if hom is None else _poly_leaf(pr, *hom, region)
            if leaf is not None:
                return leaf
            continue
        moved = Region(None if region.lo is None else region.lo - c, None if region.hi is None else region.hi - c,
                       region.dlo, region.dhi)
        hom = homogeneous(sp.expand(expr.xreplace({x: x + c})), moved)
        if hom is None:
            continue
        sub = NumbaPrinter({**pr.names, x: "xk"})
        leaf = _poly_leaf(sub, *hom, moved)
        if leaf is None:
            continue
        pr.helpers |= sub.helpers
        pr.names.update({k: v for k, v in sub.names.items() if k != x})
        sym = None if leaf.sym is None else leaf.sym.xreplace({x: x - c})
        kind = leaf.kind.replace("w = x/delta", "w = (x - c)/delta, c a kink")
        return Leaf([f"xk = {pr.doprint(x - c)}", *leaf.lines], leaf.checked, kind, sym)
    return None


def _sum_leaf(pr: NumbaPrinter, expr: sp.Expr, tag: str) -> Leaf:
    """A sum of terms with the rounding estimate 2*eps*sum|t_i| (a common factor is taken out)."""
    e = sp.expand(expr, log=False, power_exp=False) if expr.is_Add or expr.is_Mul else expr
    terms = list(sp.Add.make_args(e))
    if len(terms) == 1:
        # a product: estimate over its largest inner sum
        inner = [f for f in sp.Mul.make_args(e) if f.is_Add]
        if not inner:
            lines, (val,) = _assignments(pr, [e], f"_{tag}")
            return Leaf(lines + [f"v = {val}", "e = T(0.0)"], False, "single term", e)
        main = max(inner, key=lambda a: len(a.args))
        pref = sp.Mul(*[f for f in sp.Mul.make_args(e) if f is not main])
        terms = list(main.args)
    else:
        # factor out the lowest power of delta shared by the terms (fewer divisions)
        pref = sp.Integer(1)
    lines, printed = _assignments(pr, [pref, *terms], f"_{tag}")
    ps, ts = printed[0], printed[1:]
    tnames = [f"t{i}" for i in range(len(ts))]
    lines += [f"{n} = {t}" for n, t in zip(tnames, ts)]
    lines.append(f"v = ({' + '.join(tnames)})" + ("" if ps == "T(1.0)" else f" * ({ps})"))
    lines.append(f"e = T(2.0) * EPS * ({' + '.join(f'abs({n})' for n in tnames)})"
                 + ("" if ps == "T(1.0)" else f" * abs({ps})"))
    return Leaf(lines, True, f"sum of {len(ts)} terms with rounding estimate")


def _forms_leaf(pr: NumbaPrinter, pref: sp.Expr, forms, wrap, tag: str) -> Leaf:
    neg, pos = forms
    split_at = sp.Integer(0)
    ln_n, (vn,) = _assignments(pr, [pref * wrap(neg)], f"_{tag}n")
    ln_p, (vp,) = _assignments(pr, [pref * wrap(pos)], f"_{tag}p")
    lines = [f"if x < {pr.doprint(split_at)}:"] + ["    " + s for s in ln_n] + [f"    v = {vn}", "else:"]
    lines += ["    " + s for s in ln_p] + [f"    v = {vp}", "e = T(0.0)"]
    sym = sp.Piecewise((pref * wrap(neg), x < split_at), (pref * wrap(pos), True))
    return Leaf(lines, False, "exponential-rational form without cancellation", sym)


def _log1pexp(u: float) -> float:
    return u + math.log1p(math.exp(-u)) if u > 0 else math.log1p(math.exp(u))


def _linegexp(s, u) -> float:
    import mpmath

    return float(mpmath.polylog(int(s), -mpmath.exp(u)))


#: Float implementations of the functions of :mod:`.stable`, for checking candidate forms.
NUMERIC = {"expm1": math.expm1, "log1p": math.log1p, "Log1pExp": _log1pexp, "LiNegExp": _linegexp}


def _validate(expr_f, D, region: Region) -> bool:
    """Check a candidate form against the mpmath value of D at sample points of the cell (float64), for
    horizons from 1e-6 to 2 (those of the cell's delta range; the x samples move with delta)."""
    import mpmath

    f = sp.lambdify((x, delta), expr_f, modules=[NUMERIC, "math"])
    for dv in ("1e-6", "1e-3", "0.1", "1", "2"):
        if not region.holds_delta(sp.Rational(dv)):
            continue
        d = float(dv)
        for xv, _ in region.points(sp.Rational(dv)):
            xs = float(sp.N(xv))
            try:
                got = f(xs, d)
            except (OverflowError, ValueError, ZeroDivisionError):
                return False
            ref = D.evaluate(xs, d, dps=30)
            if not mpmath.isfinite(ref):
                continue
            err = abs(got - ref)
            if err > max(1e-14 * abs(ref), 1e-16):
                return False
    return True


def _leaf(pr: NumbaPrinter, expr: sp.Expr, region: Region, D, tag: str):
    """Source lines for one cell (possibly split further); returns (lines, checked, notes, sym)."""
    expr = protect(realify(sp.sympify(expr), region))
    if not expr.has(x) and not expr.has(delta):
        return [f"v = {pr.doprint(expr)}", "e = T(0.0)"], False, ["constant"], expr
    leaf = _homogeneous_leaf(pr, expr, region)
    if leaf is not None:
        return leaf.lines, leaf.checked, [leaf.kind], leaf.sym
    lc = log_combine(expr)
    if lc is not None:
        pref, forms = lc
        cand = sp.Piecewise((pref * log1p(forms[0]), x < 0), (pref * log1p(forms[1]), True))
        if _validate(cand, D, region):
            leaf = _forms_leaf(pr, pref, forms, log1p, tag)
            return leaf.lines, False, ["log-combination: log1p of a factored ratio"], leaf.sym
    er = exp_rational(expr)
    if er is not None:
        cand = sp.Piecewise((er[0], x < 0), (er[1], True))
        if _validate(cand, D, region):
            leaf = _forms_leaf(pr, sp.Integer(1), er, lambda r: r, tag)
            return leaf.lines, False, ["exponential-rational form"], leaf.sym
    inv = invert_exponentials(expr, region)
    if inv is not None and len(inv) > 1 or (inv is not None and inv[0][1] != expr):
        lines, notes = [], ["split where exponential arguments change sign; inversion formulas"]
        for i, (sub, e) in enumerate(inv):
            cond = None if i == len(inv) - 1 else f"x < {pr.doprint(sub.hi)}"
            leaf = _sum_leaf(pr, e, f"{tag}{i}")
            head = "if" if i == 0 else "elif"
            if cond is None:
                lines.append("else:" if i else "if True:")
            else:
                lines.append(f"{head} {cond}:")
            lines += ["    " + s for s in leaf.lines]
        return lines, True, notes, None
    leaf = _sum_leaf(pr, expr, tag)
    return leaf.lines, leaf.checked, [leaf.kind], leaf.sym


def _cells(expr: sp.Expr, region: Region):
    """Flatten the Piecewise tree: yields (condition source-expr or None, subtree or leaf, region)."""
    if not isinstance(expr, sp.Piecewise):
        return None
    out = []
    lo_x, lo_d = region.lo, region.dlo
    for val, cond in expr.args:
        if cond is sp.true:
            sub = Region(lo_x, region.hi, region.dlo, region.dhi) if out and out[-1][3] == "x" else \
                Region(region.lo, region.hi, lo_d if out and out[-1][3] == "d" else region.dlo, region.dhi)
            out.append((None, val, sub, out[-1][3] if out else "x"))
            break
        if isinstance(cond, sp.StrictLessThan) and cond.lhs == x:
            sub = Region(lo_x, cond.rhs, region.dlo, region.dhi)
            out.append((cond, val, sub, "x"))
            lo_x = cond.rhs
        elif isinstance(cond, sp.StrictLessThan) and cond.lhs == delta and not cond.rhs.has(x):
            sub = Region(region.lo, region.hi, lo_d, cond.rhs)
            out.append((cond, val, sub, "d"))
            lo_d = cond.rhs
        else:
            raise PrinterError(f"unsupported Piecewise condition {cond} (expected x < ... or delta < ...)")
    return out


def closed_form_block(pr: NumbaPrinter, D) -> tuple[Block, bool, list[str], sp.Expr | None, Block | None]:
    """The cells of the closed form: a block setting v and e; (block, any cell checked, notes, SymPy form,
    early block).

    The SymPy form (a Piecewise of the stable cell values) is returned when no cell needs a check. The early
    block, returned when some cells need a check and others do not, sets ``sure = True`` in the cells that
    need none (constants, single terms, stable forms; conditions only, no cell code): a kernel that tries a
    series first skips it there.
    """
    counter = [0]
    notes: list[str] = []
    kinds: list[bool] = []  # checked, per leaf

    def walk(expr, region, ind, blk: Block, early: Block):
        cells = _cells(expr, region)
        if cells is None:
            counter[0] += 1
            lines, checked, nts, sym = _leaf(pr, expr, region, D, f"c{counter[0]}_")
            notes.extend(nts)
            kinds.append(checked)
            for ln in lines:
                blk.add(ln, ind)
            early.add("pass" if checked else "sure = True", ind)
            return checked, sym
        any_checked = False
        syms = []
        for i, (cond, val, sub, _) in enumerate(cells):
            head = "else:" if cond is None else f"{'if' if i == 0 else 'elif'} {pr.doprint(cond)}:"
            blk.add(head, ind)
            early.add(head, ind)
            chk, sym = walk(val, sub, ind + 1, blk, early)
            any_checked |= chk
            syms.append((sym, sp.true if cond is None else cond))
        if any_checked or any(sy is None for sy, _ in syms):
            return any_checked, None
        return False, sp.Piecewise(*syms, evaluate=False)

    blk, early = Block(), Block()
    checked, sym = walk(D.expr, Region(), 0, blk, early)
    mixed = checked and not all(kinds)
    return blk, checked, notes, sym, early if mixed else None


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
    """Replace the maximal subexpressions that depend on delta but not on x by symbols p0, p1, ..."""
    found: dict = {}

    def visit(e):
        if e.is_Atom:
            return e
        if e.free_symbols == {delta} and not isinstance(e, sp.Rel) and (e.is_Function or e.is_Pow or e.is_Mul
                                                                         or e.is_Add):
            if e not in found:
                found[e] = sp.Symbol(f"p{len(found)}", real=True)
            return found[e]
        if isinstance(e, sp.Piecewise):
            return sp.Piecewise(*[(visit(v), c) for v, c in e.args], evaluate=False)
        return e.func(*[visit(a) for a in e.args])

    return visit(expr), [(s_, e) for e, s_ in found.items()]


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


def _clamp_branches(e: sp.Expr, rng=(None, None)) -> sp.Expr:
    """Each Piecewise value with x clamped into the range of x where it is selected.

    The branch-free loop evaluates every branch for every x and selects one; clamping leaves the selected value
    as it is and keeps the others finite (a polynomial in x/delta meant for |x| < delta overflows float32 at
    x = 1000, delta = 1e-8, and NumPy would warn of an overflow though no result is wrong)."""
    if isinstance(e, sp.Piecewise):
        args, rest = [], rng
        for v, c in e.args:
            args.append((_clamp_branches(v, _meet(rest, _x_range(c))), c))
            rest = _meet(rest, _x_range(_negate(c)))
        return sp.Piecewise(*args, evaluate=False)
    if not e.has(x):
        return e
    if e.has(sp.Piecewise):
        return e.func(*[_clamp_branches(a, rng) for a in e.args])
    lo, hi = rng
    xc = x if lo is None else sp.Max(x, lo)
    xc = xc if hi is None else sp.Min(xc, hi)
    return e.xreplace({x: xc})


def fast_formula(sym: sp.Expr):
    """The fast-path formula: (body in x, E, p_i; N with E = exp(-|x|/N) or None; [(p_i, delta-only expr)])."""
    sym = accurate_functions(sym)
    sym, n = _shared_exponential(sym)
    sym = _merge_equal_branches(sym)
    sym = _clamp_branches(sym)
    body, hoisted = _hoist_delta(sym)
    return body, n, hoisted


def _branch_free_lines(vp: NumbaPrinter, body: sp.Expr, n: int | None, prefix: str) -> tuple[list[str], str]:
    """Lines computing a :func:`fast_formula` body with the vector printer ``vp``: ``(lines, printed value)``.
    With a shared exponential (``n`` not None) the first line sets ``E = exp(-|x|/n)``."""
    lines = []
    if n is not None:
        vp.names[sp.Symbol("E", positive=True)] = "E"
        vp.helpers.add("_vexp")
        lines.append(f"E = _vexp(-abs(x) / T({n}.0))")
    more, (val,) = _assignments(vp, [body], prefix)
    return lines + more, val


def fast_source(pr: NumbaPrinter, sym: sp.Expr, lo, hi) -> str:
    """``_prep(delta)`` (the delta-only subexpressions) and ``_kfast(x, delta, P)``: branch-light, vectorizable."""
    body, n, hoisted = fast_formula(sym)
    blk = Block()
    blk.add(njit(python=True))
    blk.add("def _prep(delta):")
    blk.add('"""The parts of the formula that depend on delta only (computed once per call of the ufunc loop)."""', 1)
    blk.add("T = type(delta)", 1)
    lines, vals = _assignments(pr, [e for _, e in hoisted] or [sp.Integer(0)], "_h")
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
    vp = NumbaPrinter(dict(pr.names), vector_math=True)
    lines, val = _branch_free_lines(vp, body, n, "_k")
    pr.helpers |= vp.helpers
    for ln in lines:
        blk.add(ln, 1)
    blk.add(f"v = {val}", 1)
    blk.add(f"v = {pr.doprint(hi)} if x == T(math.inf) else v", 1)
    blk.add(f"v = {pr.doprint(lo)} if x == -T(math.inf) else v", 1)
    blk.add("return x if x != x else v", 1)
    return blk.text()


# ====================================================================== derivative, limits, series
def _pieces(D):
    act = D.activation
    return list(act.pieces), list(act.breakpoints)


def _stable_expr_forms(pr: NumbaPrinter, e: sp.Expr, tag: str) -> list[str]:
    """Lines setting ``r`` to ``e`` (a function of t), via exponential-rational forms when possible."""
    er = exp_rational(e.subs(_T, x)) if e.has(_T) else None
    if er is not None:
        # t clamped to the side of its form: LLVM may evaluate both sides (a select), and exp(t) of the side not
        # taken would overflow (elu's f' at t = 1000: an FP warning from an array call whose values are right)
        # (in a real t: SymPy takes Min(t, 0) for 0 with the positive t of the weights)
        neg, pos = (f.subs(x, c) for f, c in zip(er, (sp.Min(_TR, 0), sp.Max(_TR, 0))))
        ln_n, (vn,) = _assignments(pr, [neg], f"_{tag}n")
        ln_p, (vp,) = _assignments(pr, [pos], f"_{tag}p")
        return (["if t < T(0.0):"] + ["    " + s for s in ln_n] + [f"    r = {vn}", "else:"]
                + ["    " + s for s in ln_p] + [f"    r = {vp}"])
    lines, (v,) = _assignments(pr, [e], f"_{tag}")
    return lines + [f"r = {v}"]


def fprime_source(D) -> tuple[str, list[sp.Expr]]:
    """``_fp(t)``: f'(t) piece by piece (right-continuous), in stable forms; also returns the jumps."""
    pieces, bps = _pieces(D)
    pr = NumbaPrinter({_T: "t", _TR: "t"})
    blk = Block()
    blk.add(njit())
    blk.add("def _fp(t):")
    blk.add("T = type(t)", 1)
    for i, p in enumerate(pieces):
        d = sp.diff(p, x).subs(x, _T)
        lines = _stable_expr_forms(pr, d, f"p{i}_")
        if i < len(bps):
            blk.add(f"{'if' if i == 0 else 'elif'} t < {pr.doprint(bps[i])}:", 1)
        elif bps:
            blk.add("else:", 1)
        ind = 2 if bps else 1
        for ln in lines:
            blk.add(ln, ind)
    blk.add("return r", 1)
    jumps = [sp.simplify(pieces[i + 1].subs(x, b) - pieces[i].subs(x, b)) for i, b in enumerate(bps)]
    return blk.text(), jumps, pr.helpers


def deriv0_lines(D, done: str = "") -> list[str]:
    """Kernel lines for delta = 0: f'(x), with the average of the one-sided derivatives at a kink (each
    returned value followed by ``done``)."""
    pieces, bps = _pieces(D)
    pr = NumbaPrinter()
    lines = []
    for b, (left, right) in zip(bps, zip(pieces, pieces[1:])):
        avg = sp.nsimplify((sp.diff(left, x).subs(x, b) + sp.diff(right, x).subs(x, b)) / 2)
        jump = sp.simplify(right.subs(x, b) - left.subs(x, b))
        val = pr.doprint(avg) if jump == 0 else ("T(math.inf)" if jump > 0 else "-T(math.inf)")
        lines += [f"if x == {pr.doprint(b)}:", f"    return {val}{done}"]
    # f'(+-inf) is the limit (SiLU's f' = s + x s (1 - s) would give inf * 0 = nan)
    for lim, sign in zip(fprime_limits(D), ("-", "")):
        lines += [f"if x == {sign}T(math.inf):", f"    return {pr.doprint(lim)}{done}"]
    return lines + [f"return _fp(x){done}"]


@cache
def _end_limits(first: sp.Expr, last: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """``lim f'`` of the first piece at -oo and of the last at +oo (cached: the code generator asks twice)."""
    out = []
    for p, end in ((first, -sp.oo), (last, sp.oo)):
        fp = sp.diff(p, x)
        # SymPy's value at the end point where it is a finite number (tanh(oo) = 1, exp(-oo) = 0; its arithmetic
        # of oo gives nan for every indeterminate form): the limit, without Gruntz's 0.2-0.4 s per end
        lim = fp.subs(x, end)
        if not (lim.is_number and lim.is_finite and lim.is_real):
            try:
                lim = sp.limit(fp, x, end)
            except (NotImplementedError, ValueError):
                lim = sp.nan
        if lim.has(sp.AccumBounds) or lim.has(sp.Limit):
            lim = sp.nan
        out.append(lim)
    return tuple(out)


def fprime_limits(D) -> tuple[sp.Expr, sp.Expr]:
    """``lim_{x -> -oo, +oo} f'`` (nan where there is none)."""
    pieces, _ = _pieces(D)
    return _end_limits(pieces[0], pieces[-1])


def limits(D) -> tuple[sp.Expr, sp.Expr]:
    """``lim_{x -> -oo, +oo} D f = lim f' * M_1`` (M_1 the first moment of the kernel: 1 if it is normalized, which
    saves SymPy's integral, 0.24 s for the Gaussian)."""
    m1 = sp.Integer(1) if D.kernel.normalize else D.kernel.moment(1)
    return tuple(lim * m1 for lim in fprime_limits(D))  # (nan * m1 is nan)




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
    pieces, bps = _pieces(D)
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
        # every term one power of one factor: a Horner sum in (delta/D)^2, no tables to walk (softsign/linear
        # outside the horizon: 114-123 -> 17 ns per element in float64)
        (k, q), = kq
        glob.append("_SC = np.array([" + ", ".join(repr([float(c) for c in one[3]]) for one in simple) + "])")
        inv = "T(1.0) / _sd" if q == 1 else "T(1.0) / math.sqrt(_sd)"
        lines += ONE_FACTOR_SERIES.format(k=k, inv=inv, last=terms - 1).splitlines()
    else:
        # int64, never a literal, for the counts: the same signature in every module (see runtime/warm.py)
        # summed in float64 for both float types, with the stopping rule and rounding bound of T (float32: rounded
        # once, within the bound): Numba compiles the evaluator once, not once per dtype
        lines.append("v, e = _series_eval_d(np.float64(x), np.float64(delta), np.float64(X), _SP, _SPI, np.int64(r0), "
                     f"np.int64({terms}), _SD, _SDI, np.int64(d0), np.int64(nd), _SM, np.float64(EPS))")
        lines.append("v, e = T(v), T(e)")
    return "\n".join(glob) + "\n\n" + runtime.source("series") + "\n", lines, pr.helpers


#: The moment series when every term is c_j delta^(2j) D(x)^(-k/q - 2j) (one factor D, constant c_j, set per branch
#: as ``_sd``, ``_sg``): the same value and error estimate as ``_series_eval_d`` (the larger of the last two terms,
#: twice, plus 2 eps sum |t_j|) as one Horner sum in z = delta^2 / D^2.
ONE_FACTOR_SERIES = """\
_sb = {inv}
_sk = T(1.0)
for _ in range({k}):
    _sk = _sk * _sb
_sz = delta * delta / (_sd * _sd)
_ss = T(0.0)
_sa = T(0.0)
for _j in range({last}, -1, -1):
    _ss = _ss * _sz + T(_SC[_sg, _j])
    _sa = _sa * _sz + abs(T(_SC[_sg, _j]))
_sp = T(1.0)
for _ in range({last} - 1):
    _sp = _sp * _sz
v = _ss * _sk
e = (T(2.0) * max(abs(T(_SC[_sg, {last} - 1])), abs(T(_SC[_sg, {last}])) * _sz) * _sp + T(2.0) * EPS * _sa) * abs(_sk)"""


def _one_factor_series(p_, pi_, dc_, di_, mcoef):
    """``(D coefficients in x, k, q, [c_j])`` when every term of one side's series tables is a constant times a
    power of one factor D(x) (see :data:`ONE_FACTOR_SERIES`), else None."""
    if len(di_) != 1 or di_[0][2] != 1 or di_[0][4] not in (1, 2):
        return None
    if any(row[1] != 1 or row[2] != 1 or row[3] != 0 for row in pi_):
        return None
    off, nx, _, k, q = di_[0]
    return dc_[off:off + nx], k, q, [m * p_[row[0]] for m, row in zip(mcoef, pi_)]


# ====================================================================== quadrature fallback
# Gauss-Kronrod 7/15 (QUADPACK); checked against mpmath in the tests.
GK_XK = (0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
         0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
         0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
         0.207784955007898467600689403773245, 0.0)
GK_WK = (0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
         0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
         0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
         0.204432940075298892414161999234649, 0.209482141084727828012999174891714)
GK_WG = (0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
         0.381830050505118944950369775488975, 0.417959183673469387755102040816327)


#: The substitution power for a logarithmic singularity of rho at 0 (rho ~ log s, the kernel 1/|z|): the weight
#: becomes t^(m-1) log t, which the 15-point Gauss-Kronrod rule integrates to 7e-14 on one panel, 3e-16 on two
#: (with m = 1: 2e-4 on 8 panels, the 7e-6 of power(-1) before).
LOG_POWER = 8


def _rho_parts(D):
    """rho(s) for s > 0 as an expression in s and delta, and the substitution power m (s = delta t^m)."""
    rho = D.kernel.rho.subs(z, _S)
    rho = rho.replace(lambda e: isinstance(e, sp.Abs), lambda e: e.args[0])  # s > 0
    rho = sp.simplify(rho) if rho.has(sp.Abs) else rho
    m = 1
    for p in rho.atoms(sp.Pow):
        if p.base.has(_S) and p.exp.is_Rational and not p.exp.is_Integer:
            m = sp.ilcm(m, p.exp.q)
    if any(lg.has(_S) for lg in rho.atoms(sp.log)):
        m *= LOG_POWER
    return rho, int(m)


def _weight_in_t(rho: sp.Expr, m: int) -> tuple[sp.Expr, sp.Expr]:
    """``(g, s(t))`` with ``s = delta t^m`` and ``g = rho(s(t)) ds/dt``: ``int_0^delta F(s) rho(s) ds`` becomes
    ``int_0^1 F(s(t)) g(t, delta) dt``, smooth in t where rho has powers ``s^(k/m)``. The powers of t are
    multiplied out and the logarithms split (``log(delta t^m) - log(delta) = m log t``): no cancellation of
    terms that grow at t = 0 or of ``log delta`` against itself."""
    s_of_t = delta * _T**m
    g = sp.powsimp(sp.expand_power_base(rho.subs(_S, s_of_t) * m * delta * _T ** (m - 1), force=True), force=True)
    g = sp.expand_log(g, force=True) if g.has(sp.log) else g
    return sp.factor_terms(sp.expand(g, power_exp=False, log=False)), s_of_t


def fallback_source(D) -> tuple[str, set]:
    """``_fallback(x, delta, tol)``: Gauss-Kronrod quadrature of ``int f'(x+s) rho(s) ds`` (+ jump terms) to the
    relative tolerance ``tol``."""
    rho, m = _rho_parts(D)
    pieces, bps = _pieces(D)
    jumps = [sp.simplify(pieces[i + 1].subs(x, b) - pieces[i].subs(x, b)) for i, b in enumerate(bps)]
    pr = NumbaPrinter({_S: "s", _T: "t"})
    # integrand in t on one side: f'(x + side*s) rho(s) ds/dt with s = delta t^m
    g, s_of_t = _weight_in_t(rho, m)
    ws, ss = pr.doprint(g), pr.doprint(s_of_t)
    blk = Block()
    blk.add(f"_GKX = np.array({list(GK_XK)!r})")
    blk.add(f"_GKW = np.array({list(GK_WK)!r})")
    blk.add(f"_GGW = np.array({[0.0, GK_WG[0], 0.0, GK_WG[1], 0.0, GK_WG[2], 0.0, GK_WG[3]]!r})")
    blk.add()
    blk.add(njit())
    blk.add("def _gk(x, delta, side, a, b):")
    blk.add('"""Gauss-Kronrod 7/15 over t in [a, b] of the rho-weighted f\' (s = delta t^m): (K, |K - G|)."""', 1)
    blk.add("T = type(x)", 1)
    blk.add("c = (a + b) * T(0.5)", 1)
    blk.add("h = (b - a) * T(0.5)", 1)
    blk.add("k = T(0.0)", 1)
    blk.add("g = T(0.0)", 1)
    blk.add("ys = _scratch(15, np.float64)", 1)
    blk.add("for i in range(8):", 1)
    blk.add("t = c - h * T(_GKX[i])", 2)
    blk.add(f"y1 = _fp(x + side * {ss}) * ({ws})", 2)
    blk.add("y2 = T(0.0)", 2)
    blk.add("if i < 7:", 2)
    blk.add("t = c + h * T(_GKX[i])", 3)
    blk.add(f"y2 = _fp(x + side * {ss}) * ({ws})", 3)
    blk.add("ys[14 - i] = y2", 3)
    blk.add("ys[i] = y1", 2)
    blk.add("k += T(_GKW[i]) * (y1 + y2)", 2)
    blk.add("g += T(_GGW[i]) * (y1 + y2)", 2)
    blk.add("# QUADPACK's estimate: |K - G| bounds the Gauss error; the Kronrod error is far smaller", 1)
    blk.add("mean = k * T(0.5)", 1)
    blk.add("asc = T(0.0)", 1)
    blk.add("for i in range(8):", 1)
    blk.add("asc += T(_GKW[i]) * abs(T(ys[i]) - mean)", 2)
    blk.add("if i < 7:", 2)
    blk.add("asc += T(_GKW[i]) * abs(T(ys[14 - i]) - mean)", 3)
    blk.add("asc = asc * h", 1)
    blk.add("err = abs(k - g) * h", 1)
    blk.add("if asc > T(0.0) and err > T(0.0):", 1)
    blk.add("err = asc * min(T(1.0), (T(200.0) * err / asc) ** T(1.5))", 2)
    blk.add("return k * h, err", 1)
    blk.add()
    blk.add(njit())
    blk.add("def _fallback(x, delta, tol):")
    blk.add('"""Both sides, cut at the kinks; each piece refined uniformly (1, 2, 4... 256 panels)."""', 1)
    blk.add("T = type(x)", 1)
    blk.add("total = T(0.0)", 1)
    blk.add("for side in (T(-1.0), T(1.0)):", 1)
    blk.add("a = T(0.0)", 2)
    inv_m = f"T({1.0 / m!r})"
    cuts = [f"side * ({pr.doprint(b - x)})" for b in bps]
    blk.add(f"cs = ({', '.join(cuts)}, T(2.0) * delta)" if cuts else "cs = (T(2.0) * delta,)", 2)
    blk.add("for c in cs:", 2)
    blk.add("if c <= T(0.0) or c >= delta:", 3)
    blk.add("if c != T(2.0) * delta:", 4)
    blk.add("continue", 5)
    blk.add("tc = T(1.0)", 4)
    blk.add("else:", 3)
    blk.add(f"tc = (c / delta) ** {inv_m}" if m != 1 else "tc = c / delta", 4)
    blk.add("n = 1", 3)
    blk.add("while True:", 3)
    blk.add("part = T(0.0)", 4)
    blk.add("err = T(0.0)", 4)
    blk.add("hp = (tc - a) / T(n)", 4)
    blk.add("for i in range(n):", 4)
    blk.add("v, e = _gk(x, delta, side, a + hp * T(i), a + hp * T(i + 1))", 5)
    blk.add("part += v", 5)
    blk.add("err += e", 5)
    blk.add("if err <= tol * abs(part) or err <= tol * T(1e-3) or n >= 256 or err != err:", 4)
    blk.add("break", 5)
    blk.add("n *= 2", 4)
    blk.add("total += part", 3)
    blk.add("a = tc", 3)
    for b, J in zip(bps, jumps):
        if J != 0:
            rho_at = pr.doprint(rho.subs(_S, sp.Abs(b - x)))
            blk.add(f"if abs({pr.doprint(b)} - x) < delta:", 1)
            blk.add(f"total += T({number_literal(J)}) * ({rho_at})", 2)
    blk.add("return total", 1)
    return blk.text(), pr.helpers


# ====================================================================== the kernel
@dataclass
class Generated:
    source: str
    notes: list[str] = field(default_factory=list)
    has_fallback: bool = False
    has_series: bool = False
    fast: bool = False
    core: bool = False  # _kfirst defined: special values and checked paths, (value, accepted)
    method: str | None = None  # how the compiled code evaluates, where it differs from the derivation's method


def kernel_source(D, lims: tuple[sp.Expr, sp.Expr] | None = None) -> Generated:
    """Source of all the njit functions for D; the entry point is ``kernel(x, delta)``. ``lims``: the
    :func:`limits` of D if known."""
    helpers: set[str] = set()
    parts = []
    notes = []
    closed = D.method == "closed-form"
    lo, hi = lims if lims is not None else limits(D)
    pieces, bps = _pieces(D)
    fp_src, _, h = fprime_source(D)
    helpers |= h
    parts.append(fp_src)
    pr = NumbaPrinter()
    method = None
    if closed:
        try:
            blk, checked, cnotes, fast_sym, early = closed_form_block(pr, D)
        except (PrinterError, ValueError, TypeError) as exc:
            # a closed form with a function the generator has no code for (Ei for elu with power(-1)): the
            # quadrature, which every pair has, rather than no ufunc
            closed, method, pr = False, "quadrature", NumbaPrinter()
            notes.append(f"closed form not compiled ({exc}); adaptive Gauss-Kronrod quadrature of int f'(x+s) rho(s) ds")
        else:
            helpers |= pr.helpers
            notes += cnotes
    else:
        notes.append(f"no closed form ({D.note}); adaptive Gauss-Kronrod quadrature of int f'(x+s) rho(s) ds")
    if not closed:
        checked, early = True, None
    ser = None
    if checked:
        try:
            ser = series_source(D)
        except (PrinterError, NotImplementedError, sp.PolynomialError):
            ser = None
        fb, h = fallback_source(D)
        helpers |= h
        parts.append(fb)

    if ser is not None:
        s_src, s_lines, h = ser
        helpers |= h
        parts.append(s_src)
        notes.append(f"small delta: moment series with {SERIES_TERMS} terms, accepted by its error estimate")
    fast = (closed and not checked and fast_sym is not None
            and not any(n.startswith("_") for n in _called(pr.doprint(fast_sym))[""]))  # (no helper calls)
    core = checked and (closed or ser is not None)

    def special(k: Block, done: str) -> None:
        """The special values (NaN, delta < 0, delta = 0, x = +-inf), returned as ``value{done}``."""
        k.add("if x != x or not delta >= T(0.0):", 1)
        k.add(f"return T(math.nan){done}", 2)
        k.add("if delta == T(0.0):", 1)
        for ln in deriv0_lines(D, done):
            k.add(ln, 2)
        k.add("if x == T(math.inf):", 1)
        k.add(f"return {pr.doprint(hi)}{done}", 2)
        k.add("if x == -T(math.inf):", 1)
        k.add(f"return {pr.doprint(lo)}{done}", 2)

    k = Block()
    k.add(njit(python=True))
    k.add("def kernel(x, delta):")
    k.add('"""D_mu f(x) for the horizon delta (float32 in, float32 out; float64 otherwise)."""', 1)
    k.add("T = type(x + np.float32(0.0))", 1)
    k.add("x = T(x)", 1)
    k.add("delta = T(delta)", 1)
    if checked:
        k.add("IS32 = T(1.0) + T(1e-08) == T(1.0)", 1)
    if not core:
        special(k, "")
    if fast:
        # one copy of the cells: the vectorizable fast path (special values are handled above)
        k.add("return _kfast(x, delta, _prep(delta))", 1)
    elif closed and not checked:
        k.extend(blk, 1)
        k.add("return v", 1)
    else:
        if closed or ser is not None:
            # special values and the checked paths (series, closed form) in the type of x, shared by kernel() and
            # the ufunc loops; float32 retries them in float64 (against the float32 tolerance) before the
            # quadrature: cheaper than quadrature, and the float32 checks are tight
            c = Block()
            c.add(njit())
            c.add("def _kfirst(x, delta, RT, AT):")
            c.add('"""(value, accepted) in the type of x: the special values, then the series and the stable closed '
                  'form,\n    their error estimates checked against the relative and absolute tolerances RT, AT."""', 1)
            c.add("T = type(x)", 1)
            special(c, ", True")
            c.add("IS32 = T(1.0) + T(1e-08) == T(1.0)", 1)
            c.add("EPS = T(5.960464477539063e-08) if IS32 else T(1.1102230246251565e-16)", 1)
            skip = ""
            if ser is not None and early is not None:  # cells that need no check: no series there
                c.add("sure = False", 1)
                c.extend(early, 1)
                skip = "not sure and "
            if ser is not None:
                window = " and ".join(f"abs(x - {pr.doprint(b)}) > delta" for b in bps) or "True"
                c.add(f"if {skip}{window}:", 1)
                for ln in s_lines:
                    c.add(ln, 2)
                c.add("if e <= max(RT * abs(v), AT) and abs(v) < T(math.inf):", 2)
                c.add("return v, True", 3)
            if closed:
                c.extend(blk, 1)
                c.add("return v, e <= max(RT * abs(v), AT) and abs(v) < T(math.inf)", 1)
            else:
                c.add("return T(0.0), False", 1)
            parts.append(c.text())
            k.add("v, ok = _kfirst(x, delta, T(RTOL32) if IS32 else T(RTOL64), T(ATOL32) if IS32 else T(ATOL64))", 1)
            k.add("if ok:", 1)
            k.add("return v", 2)
            k.add("if IS32:  # in float64 against the float32 target (float64's own rounding is far below it)", 1)
            k.add("v64, ok64 = _kfirst(np.float64(x), np.float64(delta), RTOL32, ATOL32)", 2)
            k.add("if ok64:", 2)
            k.add("return T(v64)", 3)
        k.add("return T(_fallback(np.float64(x), np.float64(delta), RTOL32 if IS32 else RTOL64))", 1)
    k.add()
    k.add()
    parts.append(k.text())
    # a branch-light variant for delta > 0 finite when no cell needs a check: the ufunc loop vectorizes it
    if fast:
        parts.insert(len(parts) - 1, fast_source(pr, fast_sym, lo, hi))
        helpers |= pr.helpers
        notes.append("vectorizable fast path (delta-only terms hoisted out of the loop, branch-free exp/log)")
    head = specfun.source(helpers)
    consts = (f"RTOL64 = {RTOL['float64']!r}\nATOL64 = {ATOL['float64']!r}\n"
              f"RTOL32 = {RTOL['float32']!r}\nATOL32 = {ATOL['float32']!r}\n")
    src = consts + head + "\n" + "\n\n".join(parts)
    return Generated(src, notes, has_fallback=checked, has_series=ser is not None, fast=fast, core=core, method=method)


# ====================================================================== Gauss-Legendre loop for a scalar delta
def _gfp_lines(fp: sp.Expr, bits: int) -> tuple[list[str], str, set]:
    """The lines of the Gauss block's branch-free f' in float``bits``, its value, the helpers they call."""
    body, n, _ = fast_formula(fp)
    vp = NumbaPrinter(vector_math=True)
    lines, val = _branch_free_lines(vp, body, n, "_g")
    # the versions of this width by name (the generic _vexp would compile both)
    lines = [ln.replace("_vexp(", f"_vexp{bits}(").replace("_vlog(", f"_vlog{bits}(") for ln in lines]
    return lines, val, vp.helpers


def _gauss_calls(fp: sp.Expr) -> set[str]:
    """The shared functions the float64 Gauss block calls for ``f' = fp``."""
    lines, val, _ = _gfp_lines(fp, 64)
    return runtime_calls("\n".join(lines + [val]))


def gauss_source(gp, lo, hi) -> tuple[str, set, str, bool]:
    """``_gauss_order``, ``_gauss_prep`` and ``_gauss_block`` for a :class:`.gauss.GaussPlan`: (source, helpers,
    note). The block evaluates ``sum_k W_k [f'(x + S_k) + f'(x - S_k)]`` in float64 over blocks of elements
    (innermost loop over the elements, so LLVM vectorizes it); NaN and +-inf are replaced by 0 for the rule and
    their results overwritten afterwards with ``lo, hi`` (the limits of D at x = -inf, +inf) or NaN (no call of
    ``kernel`` here: inlined, LLVM may speculate its arithmetic on inf and raise FP flags)."""
    from . import gauss

    lp = NumbaPrinter({delta: "d"})  # (the limits of a raw kernel depend on delta)
    lo_s, hi_s = lp.doprint(lo), lp.doprint(hi)

    blk = Block()
    orders = sorted(gp.nodes)
    offs, ts, ws = [-1] * (gauss.NMAX + 1), [], []
    for nn in orders:
        offs[nn] = len(ts)
        ts += gp.nodes[nn][0]
        ws += gp.nodes[nn][1]
    blk.add("_EXPMASK = np.int64(0x7FF0000000000000)")
    blk.add("_MANMASK = np.int64(0x000FFFFFFFFFFFFF)")
    blk.add(f"_GEMIN = {gauss.EMIN}")
    blk.add(f"_GEMAX = {gauss.EMAX}")
    blk.add(f"_GN = np.array({list(gp.table)!r}, dtype=np.int64)")
    blk.add(f"_GN32 = np.array({list(gp.table32)!r}, dtype=np.int64)")
    blk.add(f"_GO = np.array({offs!r}, dtype=np.int64)")
    blk.add(f"_GT = np.array({[float(v) for v in ts]!r})")
    blk.add(f"_GW = np.array({[float(v) for v in ws]!r})")
    blk.add()
    # f' > 0: float32 data may sum in float32 (positive terms: a few ulps, far below the float32 target) with
    # twice the SIMD lanes; a sign-changing f' (GELU, SiLU) sums in float64
    f32 = bool(gp.fp.is_positive)
    for bits in (64, 32) if f32 else (64,):
        lines, val, helpers = _gfp_lines(gp.fp, bits)  # (the same helpers for both widths)
        blk.add(njit(', fastmath={"contract"}, inline="always"'))
        blk.add(f"def _gfp{'32' if bits == 32 else ''}(x):")
        blk.add(f'"""f\'(x) without branches (both sides of x = 0 computed and selected): vectorizable; float{bits}."""', 1)
        blk.add("T = type(x)", 1)
        for ln in lines + [f"return {val}"]:
            blk.add(ln, 1)
        blk.add()
    blk.add(njit())
    blk.add("def _gauss_order(delta):")
    blk.add('"""The order N of the rule for this delta (its type: the loop\'s), 0 where the scalar kernel is used."""', 1)
    blk.add("T = type(delta)", 1)
    blk.add("e = math.frexp(np.float64(delta))[1]", 1)
    blk.add("if not (delta > T(0.0)) or e > _GEMAX:", 1)
    blk.add("return 0", 2)
    blk.add("if T(1.0) + T(1e-08) == T(1.0):", 1)
    blk.add("return _GN32[max(e, _GEMIN) - _GEMIN]", 2)
    blk.add("return _GN[max(e, _GEMIN) - _GEMIN]", 1)
    blk.add()
    pr = NumbaPrinter({_T: "t"})
    blk.add(njit())
    blk.add("def _gauss_prep(delta, n, S, W):")
    blk.add('"""S[:n], W[:n] = abscissae S_k = delta t_k^m, weights W_k = w_k g(t_k, delta) (float64)."""', 1)
    blk.add("T = type(delta)", 1)
    blk.add("o = _GO[n]", 1)
    blk.add("for k in range(n):", 1)
    blk.add("t = _GT[o + k]", 2)
    blk.add(f"S[k] = {pr.doprint(gp.s_of_t)}", 2)
    blk.add(f"W[k] = _GW[o + k] * ({pr.doprint(gp.g)})", 2)
    blk.add()
    for bits in (64, 32) if f32 else (64,):
        ft = "np.float32" if bits == 32 else "np.float64"
        blk.add(njit(', fastmath={"contract"}'))
        blk.add(f"def _gauss_block{'32' if bits == 32 else ''}(xs, out, S, W, n, d):")
        blk.add(f'"""out[i] = sum_k W_k [f\'(x_i + S_k) + f\'(x_i - S_k)] in float{bits}; the limits (or NaN) where x_i is '
                'not finite"""', 1)
        blk.add(f"acc = _scratch(256, {ft})", 1)
        blk.add(f"xb = _scratch(256, {ft})", 1)
        blk.add("xo = _scratch(256, np.float64)", 1)
        blk.add("T = type(d)", 1)
        blk.add("for start in range(0, xs.shape[0], 256):", 1)
        blk.add("m = min(start + 256, xs.shape[0]) - start", 2)
        blk.add("bad = 0", 2)
        blk.add("# the whole block is read before any of it is written: out may be xs itself, or overlap it", 2)
        blk.add("for i in range(m):", 2)
        blk.add("xv = np.float64(xs[start + i])", 3)
        blk.add("xo[i] = xv", 3)
        blk.add("nf = (xv.view(np.int64) & _EXPMASK) == _EXPMASK  # NaN or inf, tested on the bits: no FP flag", 3)
        blk.add(f"xb[i] = {ft}(0.0 if nf else xv)  # the rule never sees them (f' of inf would raise FP flags)", 3)
        blk.add("bad += nf", 3)
        blk.add("for i in range(m):", 2)
        blk.add(f"acc[i] = {ft}(0.0)", 3)
        blk.add("for k in range(n):", 2)
        blk.add(f"s = {ft}(S[k])", 3)
        blk.add(f"w = {ft}(W[k])", 3)
        blk.add("for i in range(m):", 3)
        g = "_gfp32" if bits == 32 else "_gfp"
        blk.add(f"acc[i] += w * ({g}(xb[i] + s) + {g}(xb[i] - s))", 4)
        blk.add("for i in range(m):", 2)
        blk.add("out[start + i] = acc[i]", 3)
        blk.add("if bad:", 2)
        blk.add("for i in range(m):", 3)
        blk.add("xv = np.float64(xo[i])", 4)
        blk.add("bits = xv.view(np.int64)  # (an ordered comparison with NaN raises the invalid flag once vectorized)", 4)
        blk.add("if (bits & _EXPMASK) == _EXPMASK:", 4)
        blk.add(f"out[start + i] = T(xv) if bits & _MANMASK else ({hi_s} if bits > 0 else {lo_s})", 5)
        blk.add()

    def runs(table):
        groups = []  # [N, first e, last e]
        for e, nn in zip(range(gauss.EMIN, gauss.EMAX + 1), table):
            if groups and groups[-1][0] == nn:
                groups[-1][2] = e
            else:
                groups.append([nn, e, e])
        return ", ".join(f"{nn} below 2^{hi}" if nn else f"none from 2^{lo - 1}" for nn, lo, hi in groups)

    where = "in float64 (float32 data: in float32, as f' > 0)" if f32 else "in float64"
    note = (f"scalar delta: fixed-order Gauss-Legendre on the rho form, sum_k W_k [f'(x + S_k) + f'(x - S_k)] "
            f"{where} (vectorized over the elements; N chosen at build time per binade of delta against a "
            f"(2N + 8)-point rule, +{gauss.MARGIN} nodes, +{gauss.MARGIN32} for float32; the scalar kernel where no N "
            f"is tabulated): "
            f"float64 N = {runs(gp.table)}; float32 N = {runs(gp.table32)}")
    return blk.text(), helpers, note, f32


# ====================================================================== the ufunc loops
def public_loops(gauss: bool, f32: bool) -> str:
    """The ufunc of the public-API route (:mod:`.internals`): ``numba.vectorize`` over ``_ufunc_elem(x, d)``, the
    value the fast loops give for one element: where the fast loop takes the Gauss-Legendre block (a scalar delta),
    that very block applied to an array of one element; else the scalar kernel (the fast loops' element path, and
    on their branch-free path the same ``_kfast``). (A copy of the block's sum for one element, with the sum in a
    register or in arrays of one element, came out 1-2 ulps off: LLVM fuses other multiply-adds there.)"""
    from .gauss import NMAX

    blk = Block()
    if gauss:
        blk.add(njit())
        blk.add("def _gauss_one(x, d, n):")
        blk.add('"""The Gauss-Legendre block of order n applied to the one element x."""', 1)
        blk.add("T = type(x)", 1)
        blk.add(f"S = _scratch({NMAX}, np.float64)", 1)
        blk.add(f"W = _scratch({NMAX}, np.float64)", 1)
        blk.add("_gauss_prep(np.float64(d), n, S, W)", 1)
        blk.add("xs = _scratch(1, T)", 1)
        blk.add("xs[0] = x", 1)
        blk.add("out = _scratch(1, T)", 1)
        if f32:
            blk.add("if T(1.0) + T(1e-08) == T(1.0):  # float32 data: the float32 block", 1)
            blk.add("_gauss_block32(xs, out, S, W, n, d)", 2)
            blk.add("else:", 1)
            blk.add("_gauss_block(xs, out, S, W, n, d)", 2)
        else:
            blk.add("_gauss_block(xs, out, S, W, n, d)", 1)
        blk.add("return out[0]", 1)
        blk.add()
        blk.add()
    blk.add("def _ufunc_elem(x, d):")
    blk.add('"""The ufunc at one element, as the fast loops compute it."""', 1)
    if gauss:
        blk.add("if d > 0 and d < np.inf:", 1)
        blk.add("gn = _gauss_order(d)", 2)
        blk.add("if gn > 0:", 2)
        blk.add("return _gauss_one(x, d, gn)", 3)
    blk.add("return kernel(x, d)", 1)
    blk.add()
    blk.add()
    blk.add('ufunc = numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], cache=True)'
            '(_ufunc_elem)')
    blk.add("_PARALLEL_BUILD = False")
    return "\n\n" + blk.text()


TARGET_PARALLEL = '''

ufunc_parallel = numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], target="parallel",
                                 cache=True)(kernel.py_func if hasattr(kernel, "py_func") else kernel)
'''


def module_source(D, name: str, doc: str, parallel: bool = False, vectorize_series: bool = False,
                  on_kernel=None, fast: bool = True) -> tuple[str, Generated]:
    """The complete module: imports, helpers, kernel, ufunc loops, the ufunc itself. ``on_kernel(names)``, if
    given, is called with the shared runtime's functions that the float64 loop will call as soon as they are
    known (before the Gauss-Legendre plan). ``fast=False``: the public-API route of :mod:`.internals` (the same
    values from ``numba.vectorize``; ``vectorize_series`` has no effect)."""
    lims = limits(D)
    gen = kernel_source(D, lims)
    kernel_src = gen.source
    warm = runtime_calls(kernel_src)
    gauss_block = False
    f32 = False
    if not gen.fast:
        from . import gauss

        weight = _weight_in_t(*_rho_parts(D))
        if gauss.applies(D, weight[0]):  # the shared functions its block would call, known before its plan
            warm |= _gauss_calls(gauss.stable_fprime(D))
    if on_kernel is not None:
        on_kernel(warm)
    if not gen.fast:
        gp = gauss.plan(D, *weight)
        if gp is not None:
            gsrc, ghelp, gnote, f32 = gauss_source(gp, *lims)
            need = {h for h in ghelp if f"def {h}(" not in gen.source}
            gen.source += "\n" + specfun.source(need) + "\n" + gsrc
            gen.notes.append(gnote)
            gauss_block = True
    if vectorize_series and gen.has_series and not gen.fast and fast:
        gen.source += "\n" + runtime.source("series_block")
        if "def _vexp(" not in gen.source:
            gen.source += specfun.source(["_vexp"])
    head = f'"""{doc}"""\n\nimport math\n\nimport numba\nimport numpy as np\n'
    if not fast:
        tail = "\n\n" + internals.public_support_source() + public_loops(gauss_block, f32)
        if parallel:
            tail += TARGET_PARALLEL
        return internals.public_source(head + "\n" + gen.source + tail), gen
    head += "\n"
    vseries = vectorize_series and gen.has_series and not gen.fast
    flags = {"_CHECKED": gen.core, "_GAUSS": gauss_block, "_GAUSS32": f32, "_VSERIES": vseries, "_FAST": gen.fast}
    # _BUILD: set by nonlocal-calc's cache before the import, to build the two loops in parallel processes; worth
    # it where the loops are heavy (checked paths or the Gauss loop: 40 % less for SiLU), not for a light module
    # (ReLU: 1.4 s alone, 1.8 s with the helper's start-up)
    first = ", ".join(f"({fn}, {kind!r})" for fn, kind in _compile_first(gen.source, warm))
    tail = ("\n\n" + internals.loop_support_source() + runtime.source("loops") + "\n\n"
            + "".join(f"{k} = {v}\n" for k, v in flags.items())
            + f"_COMPILE_FIRST = ({first}{',' if first else ''})\n_LOOPS = {{}}\n"
            f"_PARALLEL_BUILD = {gen.core or gauss_block}\n"
            f"ufunc = _build_ufunc({name!r}, __doc__, **globals().get('_BUILD', {{}}))\n")
    if parallel:
        tail += TARGET_PARALLEL
    return head + gen.source + tail, gen


def _compile_first(src: str, warmed: set[str]) -> list[tuple[str, str]]:
    """``(function, kind)`` (kinds: ``runtime/loops.py``'s ``_first_signature``) of the functions the loops call
    that reach none of the ``warmed`` functions (those the helper of a parallel build compiles meanwhile, see
    ``modcache.warm``): the build compiles them while it waits for those (``_build_ufunc``'s ``ready``)."""
    calls = _called(src)

    def pure(n, seen):
        out = {m for m in calls[n] if m != n and (m in calls or m in warmed)}
        return not out & warmed and all(pure(m, seen | {n}) for m in out - seen if m in calls)

    # first those the helper needs too (it then finds them in the cache), then this loop's own; the last: the
    # float32 loop's own, compiled here only if the helper is still busy warming up by then
    b32 = "_gauss_block32" if "_gauss_block32" in calls else "_gauss_block"
    wanted = [("_gauss_prep", "prep"), ("_fallback", "fallback"), ("_gauss_block", "block"), (b32, "block32")]
    return [(n, kind) for n, kind in wanted if n in calls and pure(n, set())]


# ====================================================================== the shared runtime of the cache
RUNTIME_HEAD = "import math\n\nimport numba\nimport numpy as np\n\n"


def runtime_source() -> str:
    """The helpers every generated module may call (special functions, branch-free exp/log, the series
    evaluator), as one module: the cache compiles them once for all pairs (see :func:`use_runtime`)."""
    return ('"""Helpers shared by the generated modules of nonlocal-calc\'s cache."""\n\n' + RUNTIME_HEAD
            + specfun.source(specfun.HELPERS) + "\n" + runtime.source("series") + "\n" + runtime.source("warm"))


def _defs(src: str) -> dict[str, tuple[int, int]]:
    """Top-level functions of ``src``: name -> (first line incl. decorators, last line), 1-based."""
    import ast

    return {n.name: (min([n.lineno] + [d.lineno for d in n.decorator_list]), n.end_lineno)
            for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)}


@cache
def _runtime_names() -> frozenset[str]:
    return frozenset(_defs(runtime_source()))


def _called(src: str) -> dict[str, set[str]]:
    """The names each top-level function of ``src`` calls (key ``""``: the statements outside functions)."""
    import ast

    out: dict[str, set[str]] = {"": set()}
    for node in ast.parse(src).body:
        key = node.name if isinstance(node, ast.FunctionDef) else ""
        found = {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        out[key] = out.get(key, set()) | found
    return out


def runtime_calls(src: str) -> set[str]:
    """The functions of :func:`runtime_source` that ``src`` calls outside their own definitions."""
    shared = _runtime_names()
    return {n for f, called in _called(src).items() if f not in shared for n in called & shared}


def use_runtime(src: str, runtime: str) -> str:
    """``src`` (a module of :func:`module_source`) with the helpers of :func:`runtime_source` imported from the
    module ``runtime`` instead of defined: Numba compiles them once, not once per pair (a new pair's build
    then compiles only its own code; measured in ``benchmarks/bench_codegen_build.py``)."""
    shared = _runtime_names()
    lines = src.splitlines(keepends=True)
    drop = set()
    names = []
    for name, (a, b) in _defs(src).items():
        if name in shared:
            names.append(name)
            drop.update(range(a - 1, b))
    if not names:
        return src
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    at = next(i for i, ln in enumerate(kept) if ln.startswith("import numpy as np"))
    kept.insert(at + 1, f"from {runtime} import {', '.join(sorted(names))}  # noqa: F401\n")
    return "".join(kept)
