"""f' of the activation as compiled code (``_fp(t)``, piece by piece), its value at delta = 0 and at +-inf, and
the limits of D at +-inf."""

from __future__ import annotations

from functools import cache

import sympy as sp

from ..symbols import x
from ..timeouts import attempt
from .emit import T_VAR, TR_VAR, Block, assignments, njit
from .printer import NumbaPrinter
from .stable import (
    exp_rational,
)


def activation_pieces(D):
    act = D.activation
    return list(act.pieces), list(act.breakpoints)


def jumps_at_kinks(pieces: list[sp.Expr], bps: list[sp.Expr]) -> list[sp.Expr]:
    """The jump f(b+) - f(b-) of the activation at each kink b."""
    return [sp.simplify(pieces[i + 1].subs(x, b) - pieces[i].subs(x, b)) for i, b in enumerate(bps)]


def _stable_expr_forms(pr: NumbaPrinter, e: sp.Expr, tag: str) -> list[str]:
    """Lines setting ``r`` to ``e`` (a function of t), via exponential-rational forms when possible."""
    er = exp_rational(e.subs(T_VAR, x)) if e.has(T_VAR) else None
    if er is not None:
        # t clamped to the side of its form: LLVM may evaluate both sides (a select), and exp(t) of the side not
        # taken would overflow (elu's f' at t = 1000: an FP warning from an array call whose values are right)
        # (in a real t: SymPy takes Min(t, 0) for 0 with the positive t of the weights)
        neg, pos = (f.subs(x, c) for f, c in zip(er, (sp.Min(TR_VAR, 0), sp.Max(TR_VAR, 0))))
        ln_n, (vn,) = assignments(pr, [neg], f"_{tag}n")
        ln_p, (vp,) = assignments(pr, [pos], f"_{tag}p")
        return (["if t < T(0.0):"] + ["    " + s for s in ln_n] + [f"    r = {vn}", "else:"]
                + ["    " + s for s in ln_p] + [f"    r = {vp}"])
    lines, (v,) = assignments(pr, [e], f"_{tag}")
    return lines + [f"r = {v}"]


def fprime_source(D) -> tuple[str, list[sp.Expr]]:
    """``_fp(t)``: f'(t) piece by piece (right-continuous), in stable forms; also returns the jumps."""
    pieces, bps = activation_pieces(D)
    pr = NumbaPrinter({T_VAR: "t", TR_VAR: "t"})
    blk = Block()
    blk.add(njit())
    blk.add("def _fp(t):")
    blk.add("T = type(t)", 1)
    for i, p in enumerate(pieces):
        d = sp.diff(p, x).subs(x, T_VAR)
        lines = _stable_expr_forms(pr, d, f"p{i}_")
        if i < len(bps):
            blk.add(f"{'if' if i == 0 else 'elif'} t < {pr.doprint(bps[i])}:", 1)
        elif bps:
            blk.add("else:", 1)
        ind = 2 if bps else 1
        for ln in lines:
            blk.add(ln, ind)
    blk.add("return r", 1)
    return blk.text(), jumps_at_kinks(pieces, bps), pr.helpers


def piece_source(D) -> tuple[str, set]:
    """``_fpk(t, k)``: f' of the activation's piece k at t, whichever side of the kinks t lies on. The quadrature
    picks the piece of a panel from the kinks' distances to x: where s is below half an ulp of x, ``x + s``
    rounds to x itself, and ``_fp`` would take x's piece for both sides of a kink at x (for kernels near
    p = -2 a fraction ~(2^-53 |x| / delta)^(p+2) of the weight lies there: 18 % at p = -39/20)."""
    pieces, _ = activation_pieces(D)
    pr = NumbaPrinter({T_VAR: "t", TR_VAR: "t"})
    blk = Block()
    blk.add(njit())
    blk.add("def _fpk(t, k):")
    blk.add("T = type(t)", 1)
    for i, p in enumerate(pieces):
        lines = _stable_expr_forms(pr, sp.diff(p, x).subs(x, T_VAR), f"k{i}_")
        blk.add("else:" if i == len(pieces) - 1 else f"{'if' if i == 0 else 'elif'} k == {i}:", 1)
        for ln in lines:
            blk.add(ln, 2)
    blk.add("return r", 1)
    return blk.text(), pr.helpers


def deriv0_lines(D, done: str = "") -> list[str]:
    """Kernel lines for delta = 0: f'(x), with the average of the one-sided derivatives at a kink (each
    returned value followed by ``done``)."""
    pieces, bps = activation_pieces(D)
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


#: CPU seconds Gruntz gets for lim f' at one end, for the whole f' and then for each of its terms (the limits of
#: the catalogue's activations take under 0.5 s; for f = sigmoid(x) atan(x)/2 + erf(log(1 + (x - 1/2)^2)) one
#: limit ran past 240 s and the whole compilation past 900 s). A limit not found in time is NaN (x = +-inf -> NaN).
LIMIT_STEP = 5.0


def _limit(fp: sp.Expr, end: sp.Expr) -> sp.Expr:
    """``lim fp`` at ``end`` within :data:`LIMIT_STEP` CPU seconds (then term by term), else NaN.

    >>> _limit(x * sp.exp(-x), sp.oo), _limit(sp.sin(x), sp.oo)
    (0, nan)
    """
    def one(e):
        try:
            return attempt(LIMIT_STEP, lambda: sp.limit(e, x, end))
        except (NotImplementedError, ValueError):
            return sp.nan

    lim = one(fp)
    if lim is None and isinstance(fp, sp.Add):
        parts = [one(t) for t in fp.args]
        lim = sp.Add(*parts) if all(p is not None and p.is_finite for p in parts) else None
    return sp.nan if lim is None or lim.has(sp.AccumBounds) or lim.has(sp.Limit) else lim


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
            lim = _limit(fp, end)
        if lim.has(sp.AccumBounds) or lim.has(sp.Limit):
            lim = sp.nan
        out.append(lim)
    return tuple(out)


def fprime_limits(D) -> tuple[sp.Expr, sp.Expr]:
    """``lim_{x -> -oo, +oo} f'`` (nan where there is none)."""
    pieces, _ = activation_pieces(D)
    return _end_limits(pieces[0], pieces[-1])


def limits(D) -> tuple[sp.Expr, sp.Expr]:
    """``lim_{x -> -oo, +oo} D f = lim f' * M_1`` (M_1 the first moment of the kernel: 1 if it is normalized, which
    saves SymPy's integral, 0.24 s for the Gaussian)."""
    m1 = sp.Integer(1) if D.kernel.normalize else D.kernel.moment(1)
    return tuple(lim * m1 for lim in fprime_limits(D))  # (nan * m1 is nan)
