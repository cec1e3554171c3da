"""The closed form, cell by cell: each cell printed in a stable form with its rounding estimate where it
needs one (the leaves of the Piecewise tree), and the block of ``if``/``elif`` that selects the cell."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import sympy as sp

from ..symbols import delta, x
from .emit import Block, assignments
from .printer import PREC, NumbaPrinter, PrinterError
from .stable import (
    _W,
    Region,
    centred_poly,
    exp_rational,
    homogeneous,
    invert_exponentials,
    log1p,
    log_combine,
    protect,
    realify,
    scale_growing_exponentials,
)

#: The unit roundoff of the float type (2**-24, 2**-53) in the rounding estimates of :attr:`Leaf.error`.
EPS = sp.Symbol("EPS", positive=True)


@dataclass
class Leaf:
    """How one cell is evaluated: source lines that set ``v`` (value) and ``e`` (abs. error estimate), and the same
    as SymPy for other printers (``value``, ``error``: in x, delta and :data:`EPS`)."""

    lines: list[str]
    checked: bool  # False: e is identically 0 (stable by construction)
    kind: str
    sym: sp.Expr | None = None  # the cell value as SymPy (unchecked cells), for the vectorizable fast path
    value: sp.Expr | None = None  # the cell value as SymPy (every cell; default: sym)
    error: sp.Expr = sp.Integer(0)  # the rounding estimate of a checked cell

    def __post_init__(self):
        if self.value is None:
            self.value = self.sym


def _x_of_w(w0) -> sp.Expr:
    return (x - w0 * delta) / delta


def _w_factor(w0) -> sp.Expr:
    """``(x - w0 delta)/delta`` as ``(x/2 - w0 delta/2) * (2/delta)``, kept unevaluated: SymPy would expand its k-th
    power into ``(x - w0 delta)**k / delta**k``, whose delta**k overflows for huge horizons (ReLU with the sign
    kernel gave 0 for 1/2 at delta >= 1e155), and ``x - w0 delta`` itself overflows past delta = 9e307 (the
    halves do not, for |x| <= delta and |w0| <= 1)."""
    return sp.UnevaluatedExpr(sp.UnevaluatedExpr(x / 2 - w0 * delta / 2) * (2 / delta))


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
        out.append((_w_factor(-b / a), k))
        c *= a**k
    expr = c * sp.Mul(*[f**k for f, k in out]) * delta**m
    lines, (val,) = assignments(pr, [expr], "_f")
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
    val = pr.wrap(hp, PREC["mul"])  # (the scale multiplies all of it: a sum in parentheses)
    scale = "" if m == 0 else f" * {pr.wrap(delta ** m, PREC['mul'] + 1)}"
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
    value = hp.subs(_W, _w_factor(w0)) * delta**m
    error = sp.Integer(0)
    if checked:
        error = 2 * EPS * absp.subs(_W, _x_of_w(w0)) * delta**m
    return Leaf(lines, checked, "centred polynomial in w = x/delta", None if checked else value, value, error)


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
        # x - c kept as one term (x/2 - c/2 + delta/2 would cancel near x = c - delta: 1e-12 relative at delta = 8e-6
        # for c = 1/3 in float64, 2e-3 in float32)
        back = {x: sp.UnevaluatedExpr(x - c)}
        sym = None if leaf.sym is None else leaf.sym.xreplace(back)
        kind = leaf.kind.replace("w = x/delta", "w = (x - c)/delta, c a kink")
        return Leaf([f"xk = {pr.doprint(x - c)}", *leaf.lines], leaf.checked, kind, sym, leaf.value.xreplace(back),
                    leaf.error.xreplace(back))
    return None


def _sum_leaf(pr: NumbaPrinter, expr: sp.Expr, tag: str) -> Leaf:
    """A sum of terms with the rounding estimate 2*eps*sum|t_i| (a common factor is taken out)."""
    e = sp.expand(expr, log=False, power_exp=False) if expr.is_Add or expr.is_Mul else expr
    terms = list(sp.Add.make_args(e))
    if len(terms) == 1:
        # a product: estimate over its largest inner sum
        inner = [f for f in sp.Mul.make_args(e) if f.is_Add]
        if not inner:
            lines, (val,) = assignments(pr, [e], f"_{tag}")
            return Leaf(lines + [f"v = {val}", "e = T(0.0)"], False, "single term", e)
        main = max(inner, key=lambda a: len(a.args))
        pref = sp.Mul(*[f for f in sp.Mul.make_args(e) if f is not main])
        terms = list(main.args)
    else:
        # factor out the lowest power of delta shared by the terms (fewer divisions)
        pref = sp.Integer(1)
    lines, printed = assignments(pr, [pref, *terms], f"_{tag}")
    ps, ts = printed[0], printed[1:]
    tnames = [f"t{i}" for i in range(len(ts))]
    lines += [f"{n} = {t}" for n, t in zip(tnames, ts)]
    lines.append(f"v = ({' + '.join(tnames)})" + ("" if ps == "T(1.0)" else f" * ({ps})"))
    lines.append(f"e = T(2.0) * EPS * ({' + '.join(f'abs({n})' for n in tnames)})"
                 + ("" if ps == "T(1.0)" else f" * abs({ps})"))
    return Leaf(lines, True, f"sum of {len(ts)} terms with rounding estimate", None, pref * sp.Add(*terms),
                2 * EPS * sp.Add(*[sp.Abs(t) for t in terms]) * sp.Abs(pref))


def _forms_leaf(pr: NumbaPrinter, pref: sp.Expr, forms, wrap, tag: str) -> Leaf:
    neg, pos = forms
    split_at = sp.Integer(0)
    ln_n, (vn,) = assignments(pr, [pref * wrap(neg)], f"_{tag}n")
    ln_p, (vp,) = assignments(pr, [pref * wrap(pos)], f"_{tag}p")
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


def _leaf(pr: NumbaPrinter, expr: sp.Expr, region: Region, D, tag: str) -> tuple[Leaf, list[str]]:
    """How one cell is evaluated (possibly split further), and notes on its forms."""
    expr = protect(realify(scale_growing_exponentials(sp.sympify(expr)), region))
    if not expr.has(x) and not expr.has(delta):
        return Leaf([f"v = {pr.doprint(expr)}", "e = T(0.0)"], False, "constant", expr), ["constant"]
    leaf = _homogeneous_leaf(pr, expr, region)
    if leaf is not None:
        return leaf, [leaf.kind]
    lc = log_combine(expr)
    if lc is not None:
        pref, forms = lc
        cand = sp.Piecewise((pref * log1p(forms[0]), x < 0), (pref * log1p(forms[1]), True))
        if _validate(cand, D, region):
            return _forms_leaf(pr, pref, forms, log1p, tag), ["log-combination: log1p of a factored ratio"]
    er = exp_rational(expr)
    if er is not None:
        cand = sp.Piecewise((er[0], x < 0), (er[1], True))
        if _validate(cand, D, region):
            return _forms_leaf(pr, sp.Integer(1), er, lambda r: r, tag), ["exponential-rational form"]
    inv = invert_exponentials(expr, region)
    if inv is not None and len(inv) > 1 or (inv is not None and inv[0][1] != expr):
        lines, values, errors = [], [], []
        for i, (sub, e) in enumerate(inv):
            last = i == len(inv) - 1
            cond = sp.true if last else x < sub.hi
            leaf = _sum_leaf(pr, e, f"{tag}{i}")
            head = "if" if i == 0 else "elif"
            if last:
                lines.append("else:" if i else "if True:")
            else:
                lines.append(f"{head} {pr.condition(sp.StrictLessThan(x, sub.hi, evaluate=False))}:")
            lines += ["    " + s for s in leaf.lines]
            values.append((leaf.value, cond))
            errors.append((leaf.error, cond))
        split = Leaf(lines, True, "split where exponential arguments change sign; inversion formulas", None,
                     sp.Piecewise(*values, evaluate=False), sp.Piecewise(*errors, evaluate=False))
        return split, [split.kind]
    leaf = _sum_leaf(pr, expr, tag)
    return leaf, [leaf.kind]


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


class Cells(NamedTuple):
    """The closed form, cell by cell: the stable forms (``value``, for :class:`.plan.ExpressionPlan`) and the Numba
    route's code of the cells (``block``, ``early``)."""

    block: Block | None  #: sets v (value) and e (rounding estimate) in the cell of (x, delta)
    checked: bool  #: some cell is a sum whose rounding estimate must be checked
    notes: list[str]  #: how each cell was rewritten
    value: sp.Expr | None  #: a Piecewise of the stable cell values, where no cell needs a check
    early: Block | None  #: where some cells need a check and others not: ``sure = True`` in those that need none
    forms: sp.Expr | None = None  #: the cell values, checked cells included (their sums of terms)
    error: sp.Expr = sp.Integer(0)  #: the cells' rounding estimates (in :data:`EPS`; 0 where no check is needed)


def closed_form_block(pr: NumbaPrinter, D) -> Cells:
    """The cells of the closed form, printed by ``pr``.

    The SymPy form (a Piecewise of the stable cell values) is returned when no cell needs a check. The early
    block, returned when some cells need a check and others do not, sets ``sure = True`` in the cells that
    need none (constants, single terms, stable forms; conditions only, no cell code): a kernel that tries a
    series first skips it there.
    """
    counter = [0]
    notes: list[str] = []
    kinds: list[bool] = []  # checked, per leaf

    def walk(expr, region, ind, blk: Block, early: Block) -> tuple[bool, sp.Expr | None, sp.Expr, sp.Expr]:
        """(any cell checked, SymPy form if none is, value, rounding estimate) of a subtree, its code added."""
        cells = _cells(expr, region)
        if cells is None:
            counter[0] += 1
            leaf, nts = _leaf(pr, expr, region, D, f"c{counter[0]}_")
            notes.extend(nts)
            kinds.append(leaf.checked)
            for ln in leaf.lines:
                blk.add(ln, ind)
            early.add("pass" if leaf.checked else "sure = True", ind)
            return leaf.checked, leaf.sym, leaf.value, leaf.error
        any_checked = False
        syms, values, errors = [], [], []
        for i, (cond, val, sub, _) in enumerate(cells):
            head = "else:" if cond is None else f"{'if' if i == 0 else 'elif'} {pr.condition(cond)}:"
            blk.add(head, ind)
            early.add(head, ind)
            chk, sym, value, error = walk(val, sub, ind + 1, blk, early)
            any_checked |= chk
            where = sp.true if cond is None else cond
            syms.append((sym, where))
            values.append((value, where))
            errors.append((error, where))
        value = sp.Piecewise(*values, evaluate=False)
        error = sp.Piecewise(*errors, evaluate=False) if any(e != 0 for e, _ in errors) else sp.Integer(0)
        if any_checked or any(sy is None for sy, _ in syms):
            return any_checked, None, value, error
        return False, sp.Piecewise(*syms, evaluate=False), value, error

    blk, early = Block(), Block()
    checked, sym, value, error = walk(D.expr, Region(), 0, blk, early)
    mixed = checked and not all(kinds)
    return Cells(blk, checked, notes, sym, early if mixed else None, value, error)
