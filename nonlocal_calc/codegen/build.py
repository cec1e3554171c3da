"""From a :class:`~nonlocal_calc.NonlocalDerivative` to the source of a compiled module.

The generated scalar ``kernel(x, delta)`` decides, point by point and inside the compiled code:

1. special values: NaN in, or ``delta < 0`` -> NaN; ``delta == 0`` -> f'(x) (the average of the
   one-sided derivatives at a kink); ``x = +-inf`` -> ``lim f' * M_1`` (the first moment);
2. for small delta, where no kink lies within the horizon, the moment series
   ``sum_j M_(2j+1)/(2j+1)! f^(2j+1)(x)``; it is accepted when its error estimate (the last term,
   plus rounding) is below the tolerance of the dtype;
3. the closed form, cell by cell, rewritten into stable forms (:mod:`.stable`); cells that are still
   sums of terms carry the rounding estimate ``2 eps sum |t_i|`` and are accepted below the tolerance;
4. otherwise exact quadrature of ``int f'(x+s) rho(s) ds`` (adaptive Gauss-Kronrod 7/15 split at 0
   and at the kinks, with ``s = delta t^m`` where rho has powers |s|^(k/m)): no cancellation.

Pairs without a closed form use 1 and 4 only. The module also defines the NumPy ufunc (float32 and
float64 loops written as Numba ``cfunc``s, so that the common path vectorizes) and a docstring
with the formula and the measured accuracy.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field

import sympy as sp

from ..symbols import delta, x, z
from . import specfun
from .derivs import odd_derivatives
from .printer import NumbaPrinter, PrinterError, number_literal
from .stable import (
    _W,
    _X,
    _Y,
    Region,
    centred_poly,
    exp_rational,
    homogeneous,
    invert_exponentials,
    log_combine,
    realify,
)

#: Tolerances the generated code aims at (a safety factor below the issue's targets).
RTOL = {"float64": 1e-13 / 4, "float32": 2e-6 / 4}
ATOL = {"float64": 1e-15 / 4, "float32": 1e-7 / 4}
#: Terms of the small-delta series (up to delta**(2*SERIES_TERMS - 2)).
SERIES_TERMS = 8

_S = sp.Symbol("s", real=True)
_T = sp.Symbol("t", positive=True)
_NJ = 'numba.njit(cache=True, error_model="numpy"{extra})'


def njit(extra: str = "") -> str:
    return "@" + _NJ.format(extra=extra)


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
    repl, reduced = sp.cse(exprs, symbols=syms, optimizations="basic")
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
    note: str = ""


def _x_of_w(w0) -> sp.Expr:
    return (x - w0 * delta) / delta


def _poly_leaf(pr: NumbaPrinter, m, g, region: Region) -> Leaf | None:
    cp = centred_poly(g, region, m)
    if cp is None:
        return None
    w0, p = cp
    hp = sp.horner(p, _W) if p.has(_W) else p
    pr.names[_W] = "w"
    ws = pr.doprint(_x_of_w(w0))
    val = pr.doprint(hp)
    scale = "" if m == 0 else f" * {pr.doprint(delta ** m)}"
    lines = [f"w = {ws}", f"v = {val}{scale}", "e = T(0.0)"]
    # is the centred polynomial well conditioned on the cell? sum |c_k w^k| / |p| at sample points
    ends = [b / delta for b in (region.lo, region.hi) if b is not None]
    checked = False
    if len(ends) == 2:
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
        lines[-1] = f"e = T(2.0) * EPS * ({pr.doprint(absp)}){scale.replace(' * ', ' * abs(') + ')' if scale else ''}"
    return Leaf(lines, checked, "centred polynomial in w = x/delta")


def _sum_leaf(pr: NumbaPrinter, expr: sp.Expr, tag: str) -> Leaf:
    """A sum of terms with the rounding estimate 2*eps*sum|t_i| (a common factor is taken out)."""
    e = sp.expand(expr, log=False, power_exp=False) if expr.is_Add or expr.is_Mul else expr
    terms = list(sp.Add.make_args(e))
    if len(terms) == 1:
        # a product: estimate over its largest inner sum
        inner = [f for f in sp.Mul.make_args(e) if f.is_Add]
        if not inner:
            lines, (val,) = _assignments(pr, [e], f"_{tag}")
            return Leaf(lines + [f"v = {val}", "e = T(0.0)"], False, "single term")
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


def _forms_leaf(pr: NumbaPrinter, pref: sp.Expr, forms, wrap, tag: str, split_at=sp.Integer(0)) -> Leaf:
    neg, pos = forms
    ln_n, (vn,) = _assignments(pr, [pref * wrap(neg)], f"_{tag}n")
    ln_p, (vp,) = _assignments(pr, [pref * wrap(pos)], f"_{tag}p")
    lines = [f"if x < {pr.doprint(split_at)}:"] + ["    " + s for s in ln_n] + [f"    v = {vn}", "else:"]
    lines += ["    " + s for s in ln_p] + [f"    v = {vp}", "e = T(0.0)"]
    return Leaf(lines, False, "exponential-rational form without cancellation")


def _validate(expr_f, D, region: Region, n: int = 6) -> bool:
    """Check a candidate form against the mpmath value of D at sample points of the cell (float64)."""
    import mpmath

    f = sp.lambdify((x, delta), expr_f, modules=[{"expm1": math.expm1, "log1p": math.log1p}, "math"])
    for dv in ("1e-6", "1e-3", "0.1", "1", "2"):
        for xv, _ in region.points():
            d = float(dv)
            xs = float(sp.N(xv)) if region.lo is None or region.hi is None else None
            if xs is None:
                lo, hi = (float(sp.N(b.subs(delta, d))) for b in (region.lo, region.hi))
                xs = lo + (hi - lo) * 0.37
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


def _leaf(pr: NumbaPrinter, expr: sp.Expr, region: Region, D, tag: str) -> tuple[list[str], bool, list[str]]:
    """Source lines for one cell (possibly split further); returns (lines, checked, notes)."""
    expr = realify(sp.sympify(expr), region)
    if not expr.has(x) and not expr.has(delta):
        return [f"v = {pr.doprint(expr)}", "e = T(0.0)"], False, ["constant"]
    hom = homogeneous(expr, region)
    if hom is not None:
        leaf = _poly_leaf(pr, *hom, region)
        if leaf is not None:
            return leaf.lines, leaf.checked, [leaf.kind]
    lc = log_combine(expr)
    if lc is not None:
        pref, forms = lc
        cand = sp.Piecewise((pref * sp.log(1 + forms[0]), x < 0), (pref * sp.log(1 + forms[1]), True))
        if _validate(cand, D, region):
            leaf = _forms_leaf(pr, pref, forms, lambda r: sp.log(1 + r), tag)
            return leaf.lines, False, ["log-combination: log1p of a factored ratio"]
    er = exp_rational(expr)
    if er is not None:
        cand = sp.Piecewise((er[0], x < 0), (er[1], True))
        if _validate(cand, D, region):
            leaf = _forms_leaf(pr, sp.Integer(1), er, lambda r: r, tag)
            return leaf.lines, False, ["exponential-rational form"]
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
        return lines, True, notes
    leaf = _sum_leaf(pr, expr, tag)
    return leaf.lines, leaf.checked, [leaf.kind]


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


def closed_form_block(pr: NumbaPrinter, D) -> tuple[Block, bool, list[str]]:
    """The cells of the closed form: a block setting v and e; (block, any cell checked, notes)."""
    counter = [0]
    notes: list[str] = []

    def walk(expr, region, ind, blk: Block) -> bool:
        cells = _cells(expr, region)
        if cells is None:
            counter[0] += 1
            lines, checked, nts = _leaf(pr, expr, region, D, f"c{counter[0]}_")
            notes.extend(nts)
            for ln in lines:
                blk.add(ln, ind)
            return checked
        any_checked = False
        for i, (cond, val, sub, _) in enumerate(cells):
            if cond is None:
                blk.add("else:", ind)
            else:
                blk.add(f"{'if' if i == 0 else 'elif'} {pr.doprint(cond)}:", ind)
            any_checked |= walk(val, sub, ind + 1, blk)
        return any_checked

    blk = Block()
    checked = walk(D.expr, Region(), 0, blk)
    return blk, checked, notes


# ====================================================================== derivative, limits, series
def _pieces(D):
    act = D.activation
    return list(act.pieces), list(act.breakpoints)


def _stable_expr_forms(pr: NumbaPrinter, e: sp.Expr, tag: str) -> list[str]:
    """Lines setting ``r`` to ``e`` (a function of t), via exponential-rational forms when possible."""
    er = exp_rational(e.subs(_T, x)) if e.has(_T) else None
    if er is not None:
        neg, pos = (f.subs(x, _T) for f in er)
        ln_n, (vn,) = _assignments(pr, [neg], f"_{tag}n")
        ln_p, (vp,) = _assignments(pr, [pos], f"_{tag}p")
        return (["if t < T(0.0):"] + ["    " + s for s in ln_n] + [f"    r = {vn}", "else:"]
                + ["    " + s for s in ln_p] + [f"    r = {vp}"])
    lines, (v,) = _assignments(pr, [e], f"_{tag}")
    return lines + [f"r = {v}"]


def fprime_source(D) -> tuple[str, list[sp.Expr]]:
    """``_fp(t)``: f'(t) piece by piece (right-continuous), in stable forms; also returns the jumps."""
    pieces, bps = _pieces(D)
    pr = NumbaPrinter({_T: "t"})
    blk = Block()
    blk.add(njit(', inline="always"'))
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


def deriv0_source(D) -> tuple[str, set]:
    """``_deriv0(x)``: the delta = 0 value, f'(x), with the average of the one-sided values at kinks."""
    pieces, bps = _pieces(D)
    pr = NumbaPrinter()
    blk = Block()
    blk.add(njit())
    blk.add("def _deriv0(x):")
    blk.add("T = type(x)", 1)
    for b, (l, r) in zip(bps, zip(pieces, pieces[1:])):
        avg = sp.nsimplify((sp.diff(l, x).subs(x, b) + sp.diff(r, x).subs(x, b)) / 2)
        jump = sp.simplify(r.subs(x, b) - l.subs(x, b))
        val = "T(math.inf)" if jump != 0 else pr.doprint(avg)
        if jump != 0:
            val = "T(math.inf)" if jump > 0 else "-T(math.inf)"
        blk.add(f"if x == {pr.doprint(b)}:", 1)
        blk.add(f"return {val}", 2)
    blk.add("return _fp(x)", 1)
    return blk.text(), pr.helpers


def limits(D) -> tuple[sp.Expr, sp.Expr]:
    """``lim_{x -> -oo, +oo} D f = lim f' * M_1`` (M_1 the first moment of the kernel)."""
    pieces, _ = _pieces(D)
    m1 = D.kernel.moment(1)
    out = []
    for p, end in ((pieces[0], -sp.oo), (pieces[-1], sp.oo)):
        try:
            lim = sp.limit(sp.diff(p, x), x, end)
        except (NotImplementedError, ValueError):
            lim = sp.nan
        if lim.has(sp.AccumBounds) or lim.has(sp.Limit):
            lim = sp.nan
        out.append(sp.nan if lim is sp.nan else lim * m1)
    return tuple(out)


def series_source(D, terms: int = SERIES_TERMS):
    """``_series(x, delta) -> (value, error)``: the moment series of f' on the piece holding x, or None."""
    pieces, bps = _pieces(D)
    reps = []
    for p in pieces:
        r = odd_derivatives(sp.diff(p, x), terms)
        if r is None:
            return None
        reps.append(r)
    moments = [sp.simplify(D.kernel.moment(2 * j + 1) / sp.factorial(2 * j + 1)) for j in range(terms)]
    if any(m.has(z) or m.free_symbols - {delta} for m in moments):
        return None
    pr = NumbaPrinter()
    blk = Block()
    blk.add(njit())
    blk.add("def _series(x, delta):")
    blk.add("T = type(x)", 1)
    blk.add("EPS = T(5.960464477539063e-08) if T(1.0) + T(1e-08) == T(1.0) else T(1.1102230246251565e-16)", 1)
    for i, rs in enumerate(reps):
        ind = 1
        if bps:
            if i < len(bps):
                blk.add(f"{'if' if i == 0 else 'elif'} x < {pr.doprint(bps[i])}:", 1)
            else:
                blk.add("else:", 1)
            ind = 2
        n = rs[0].N
        for side, var, sym in (("neg", f"math.exp(x / T({n}.0))", _X), ("pos", f"math.exp(-x / T({n}.0))", _Y)):
            forms = [r.forms()[0 if side == "neg" else 1] for r in rs]
            exprs = [sp.simplify(moments[j]) * forms[j] for j in range(terms)]
            pr.names[sym] = str(sym)
            lines, vals = _assignments(pr, exprs, f"_s{i}{side[0]}")
            blk.add(f"{'if' if side == 'neg' else 'else'}{' x < T(0.0)' if side == 'neg' else ''}:", ind)
            blk.add(f"{sym} = {var}", ind + 1)
            for ln in lines:
                blk.add(ln, ind + 1)
            for j, v in enumerate(vals):
                blk.add(f"s{j} = {v}", ind + 1)
    names = [f"s{j}" for j in range(terms)]
    blk.add(f"v = {' + '.join(names)}", 1)
    blk.add(f"e = T(2.0) * abs(s{terms - 1}) + T(2.0) * EPS * ({' + '.join(f'abs({n})' for n in names)})", 1)
    blk.add("return v, e", 1)
    return blk.text(), pr.helpers


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


def _rho_parts(D):
    """rho(s) for s > 0 as an expression in s and delta, and the substitution power m (s = delta t^m)."""
    rho = D.kernel.rho.subs(z, _S)
    rho = rho.replace(lambda e: isinstance(e, sp.Abs), lambda e: e.args[0])  # s > 0
    rho = sp.simplify(rho) if rho.has(sp.Abs) else rho
    m = 1
    for p in rho.atoms(sp.Pow):
        if p.base.has(_S) and p.exp.is_Rational and not p.exp.is_Integer:
            m = sp.ilcm(m, p.exp.q)
    return rho, int(m)


def fallback_source(D) -> tuple[str, set]:
    """``_fallback(x, delta)``: adaptive Gauss-Kronrod quadrature of ``int f'(x+s) rho(s) ds`` (+ jumps)."""
    rho, m = _rho_parts(D)
    pieces, bps = _pieces(D)
    jumps = [sp.simplify(pieces[i + 1].subs(x, b) - pieces[i].subs(x, b)) for i, b in enumerate(bps)]
    pr = NumbaPrinter({_S: "s"})
    # integrand in t on one side: f'(x + side*s) rho(s) ds/dt with s = delta t^m
    s_of_t = delta * _T**m
    dsdt = m * delta * _T ** (m - 1)
    g = sp.powsimp(sp.expand_power_base(rho.subs(_S, s_of_t) * dsdt, force=True), force=True)
    g = sp.simplify(g)
    pr.names[_T] = "t"
    blk = Block()
    blk.add(njit(', inline="always"'))
    blk.add("def _weight(t, delta):")
    blk.add("T = type(t)", 1)
    blk.add(f"return {pr.doprint(g)}", 1)
    blk.add()
    blk.add(njit())
    blk.add("def _gk(x, delta, side, a, b):")
    blk.add('"""Gauss-Kronrod 7/15 of the integrand over t in [a, b]: (Kronrod value, |K - G|)."""', 1)
    blk.add("T = type(x)", 1)
    blk.add("c = (a + b) * T(0.5)", 1)
    blk.add("h = (b - a) * T(0.5)", 1)
    blk.add("k = T(0.0)", 1)
    blk.add("g = T(0.0)", 1)
    for i, (xk, wk) in enumerate(zip(GK_XK, GK_WK)):
        if xk == 0.0:
            blk.add("t = c", 1)
            blk.add(f"y = _fp(x + side * {pr.doprint(s_of_t)}) * _weight(t, delta)", 1)
            blk.add(f"k += T({wk!r}) * y", 1)
            blk.add(f"g += T({GK_WG[3]!r}) * y", 1)
            continue
        blk.add(f"t = c - h * T({xk!r})", 1)
        blk.add(f"y = _fp(x + side * {pr.doprint(s_of_t)}) * _weight(t, delta)", 1)
        blk.add(f"t = c + h * T({xk!r})", 1)
        blk.add(f"y += _fp(x + side * {pr.doprint(s_of_t)}) * _weight(t, delta)", 1)
        blk.add(f"k += T({wk!r}) * y", 1)
        if i % 2 == 1:
            blk.add(f"g += T({GK_WG[i // 2]!r}) * y", 1)
    blk.add("return k * h, abs(k - g) * h", 1)
    blk.add()
    blk.add(njit())
    blk.add("def _adaptive(x, delta, side, a, b, tol):")
    blk.add('"""Uniform refinement (1, 2, 4, ... 256 panels) until the Kronrod error estimate is below tol."""', 1)
    blk.add("T = type(x)", 1)
    blk.add("n = 1", 1)
    blk.add("while True:", 1)
    blk.add("total = T(0.0)", 2)
    blk.add("err = T(0.0)", 2)
    blk.add("hp = (b - a) / T(n)", 2)
    blk.add("for i in range(n):", 2)
    blk.add("v, e = _gk(x, delta, side, a + hp * T(i), a + hp * T(i + 1))", 3)
    blk.add("total += v", 3)
    blk.add("err += e", 3)
    blk.add("if err <= tol(total) or n >= 256 or err != err:", 2)
    blk.add("return total", 3)
    blk.add("n *= 2", 2)
    blk.add()
    inv_m = f"T({1.0 / m!r})"
    blk.add(njit())
    blk.add("def _fallback(x, delta):")
    blk.add("T = type(x)", 1)
    blk.add("total = T(0.0)", 1)
    # the kinks of f seen from x, on each side: cut the t range there
    blk.add("for side in (T(-1.0), T(1.0)):", 1)
    blk.add("a = T(0.0)", 2)
    cuts = [f"side * ({pr.doprint(b)} - x)" for b in bps]
    if cuts:
        blk.add(f"cs = ({', '.join(cuts)},)" if len(cuts) > 1 else f"cs = ({cuts[0]},)", 2)
        blk.add("for c in sorted(cs):" if len(cuts) > 1 else "for c in cs:", 2)
        blk.add("if c > T(0.0) and c < delta:", 3)
        blk.add(f"tc = (c / delta) ** {inv_m}" if m != 1 else "tc = c / delta", 4)
        blk.add("total += _adaptive(x, delta, side, a, tc, _tol)", 4)
        blk.add("a = tc", 4)
    blk.add("total += _adaptive(x, delta, side, a, T(1.0), _tol)", 2)
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


def kernel_source(D) -> Generated:
    """Source of all the njit functions for D; the entry point is ``kernel(x, delta)``."""
    helpers: set[str] = set()
    parts = []
    notes = []
    closed = D.method == "closed-form"
    lo, hi = limits(D)
    pieces, bps = _pieces(D)
    fp_src, _, h = fprime_source(D)
    helpers |= h
    parts.append(fp_src)
    d0, h = deriv0_source(D)
    helpers |= h
    parts.append(d0)
    pr = NumbaPrinter()
    if closed:
        blk, checked, cnotes = closed_form_block(pr, D)
        helpers |= pr.helpers
        notes += cnotes
    else:
        checked = True
        notes.append(f"no closed form ({D.note}); adaptive Gauss-Kronrod quadrature of int f'(x+s) rho(s) ds")
    ser = None
    if checked:
        try:
            ser = series_source(D)
        except (PrinterError, NotImplementedError, sp.PolynomialError):
            ser = None
        fb, h = fallback_source(D)
        helpers |= h
        parts.append(fb)
        parts.append("\n@" + _NJ.format(extra=', inline="always"') + "\ndef _tol(v):\n    T = type(v)\n"
                     "    if T(1.0) + T(1e-08) == T(1.0):\n        return max(T(RTOL32) * abs(v), T(ATOL32))\n"
                     "    return max(T(RTOL64) * abs(v), T(ATOL64))\n")
    if ser is not None:
        s_src, h = ser
        helpers |= h
        parts.append(s_src)
        notes.append(f"small delta: moment series with {SERIES_TERMS} terms, accepted by its error estimate")
    k = Block()
    k.add(njit())
    k.add("def kernel(x, delta):")
    k.add('"""D_mu f(x) for the horizon delta (float32 in, float32 out; float64 otherwise)."""', 1)
    k.add("T = type(x + np.float32(0.0))", 1)
    k.add("x = T(x)", 1)
    k.add("delta = T(delta)", 1)
    k.add("if x != x or not delta >= T(0.0):", 1)
    k.add("return T(math.nan)", 2)
    k.add("if delta == T(0.0):", 1)
    k.add("return _deriv0(x)", 2)
    k.add("if x == T(math.inf):", 1)
    k.add(f"return {pr.doprint(hi)}" if hi is not sp.nan else "return T(math.nan)", 2)
    k.add("if x == -T(math.inf):", 1)
    k.add(f"return {pr.doprint(lo)}" if lo is not sp.nan else "return T(math.nan)", 2)
    if checked:
        k.add("EPS = T(5.960464477539063e-08) if T(1.0) + T(1e-08) == T(1.0) else T(1.1102230246251565e-16)", 1)
    if ser is not None:
        window = " and ".join(f"abs(x - {pr.doprint(b)}) > delta" for b in bps) or "True"
        k.add(f"if {window}:", 1)
        k.add("v, e = _series(x, delta)", 2)
        k.add("if e <= _tol(v):", 2)
        k.add("return v", 3)
    if closed:
        k.extend(blk, 1)
        if checked:
            k.add("if e <= _tol(v):", 1)
            k.add("return v", 2)
            k.add("return _fallback(x, delta)", 1)
        else:
            k.add("return v", 1)
    else:
        k.add("return _fallback(x, delta)", 1)
    parts.append(k.text())
    head = specfun.source(helpers)
    consts = (f"RTOL64 = {RTOL['float64']!r}\nATOL64 = {ATOL['float64']!r}\n"
              f"RTOL32 = {RTOL['float32']!r}\nATOL32 = {ATOL['float32']!r}\n")
    src = consts + head + "\n" + "\n\n".join(parts)
    return Generated(src, notes, has_fallback=checked, has_series=ser is not None)


# ====================================================================== the ufunc loops
LOOPS = '''

@intrinsic
def _load(typingctx, ptr, off, ty):
    """Read a value of type ``ty`` at byte offset ``off`` of a raw pointer."""
    dt = ty.dtype
    def codegen(context, builder, sig, args):
        p = builder.gep(builder.bitcast(args[0], cgutils.voidptr_t), [args[1]])
        return builder.load(builder.bitcast(p, context.get_value_type(dt).as_pointer()))
    return dt(ptr, off, ty), codegen


@intrinsic
def _store(typingctx, ptr, off, val):
    """Write ``val`` at byte offset ``off`` of a raw pointer."""
    def codegen(context, builder, sig, args):
        p = builder.gep(builder.bitcast(args[0], cgutils.voidptr_t), [args[1]])
        builder.store(args[2], builder.bitcast(p, context.get_value_type(sig.args[2]).as_pointer()))
        return context.get_dummy_value()
    return types.void(ptr, off, val), codegen


_LOOP_SIG = types.void(types.CPointer(types.voidptr), types.CPointer(types.intp), types.CPointer(types.intp),
                       types.voidptr)


def _make_loop(dtype):
    """A NumPy inner loop ``(x, delta) -> out`` for one dtype, with a contiguous fast path."""
    size = np.dtype(dtype).itemsize

    @numba.cfunc(_LOOP_SIG, cache=True, error_model="numpy")
    def loop(args, dims, steps, data):
        n = dims[0]
        sx = steps[0]
        sd = steps[1]
        so = steps[2]
        if sx == size and so == size and sd == 0:
            xs = numba.carray(args[0], (n,), dtype=dtype)
            out = numba.carray(args[2], (n,), dtype=dtype)
            d = _load(args[1], 0, dtype)
            for i in range(n):
                out[i] = kernel(xs[i], d)
        elif sx == size and so == size and sd == size:
            xs = numba.carray(args[0], (n,), dtype=dtype)
            ds = numba.carray(args[1], (n,), dtype=dtype)
            out = numba.carray(args[2], (n,), dtype=dtype)
            for i in range(n):
                out[i] = kernel(xs[i], ds[i])
        else:
            for i in range(n):
                _store(args[2], i * so, kernel(_load(args[0], i * sx, dtype), _load(args[1], i * sd, dtype)))
    return loop


def _build_ufunc(name, doc):
    loops = [_make_loop(np.float32), _make_loop(np.float64)]
    try:
        from numba.np.ufunc import _internal
        types_ = [[np.dtype(np.float32).num] * 3, [np.dtype(np.float64).num] * 3]
        return _internal.fromfunc(name, doc, [lp.address for lp in loops], types_, 2, 1, [None, None],
                                  loops, _internal.PyUFunc_None)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - other Numba versions
        return numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], cache=True)(kernel)
'''

TARGET_PARALLEL = '''

ufunc_parallel = numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], target="parallel",
                                 cache=True)(kernel.py_func if hasattr(kernel, "py_func") else kernel)
'''


def module_source(D, name: str, doc: str, parallel: bool = False) -> tuple[str, Generated]:
    """The complete module: imports, helpers, kernel, ufunc loops, the ufunc itself."""
    gen = kernel_source(D)
    head = f'"""{doc}"""\n\n' + textwrap.dedent('''\
        import math

        import numba
        import numpy as np
        from numba import types
        from numba.core import cgutils
        from numba.extending import intrinsic

        ''')
    tail = LOOPS + f"\n\nufunc = _build_ufunc({name!r}, __doc__)\n"
    if parallel:
        tail += TARGET_PARALLEL
    return head + gen.source + tail, gen
