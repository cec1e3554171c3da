"""The scalar ``kernel(x, delta)`` of a pair and the functions it calls, as source.

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

Pairs without a closed form use 1 and 4 only. Where no cell needs a check, ``kernel`` calls the branch-free
``_kfast`` (:mod:`.fastpath`), which the ufunc loop vectorizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..symbols import delta, x
from . import specfun
from .accuracy import SAFETY, TARGETS
from .cells import Cells, closed_form_block
from .emit import Block, njit
from .fastpath import fast_source
from .fprime import activation_pieces, deriv0_lines, fprime_source
from .muquad import mu_fallback_source
from .plan import expression_plan
from .printer import NumbaPrinter, PrinterError, exact_bound
from .quadrature import fallback_source
from .series_tables import SERIES_TERMS, series_source
from .shared import called_names

#: Tolerances the generated code aims at: the promised accuracy TARGETS divided by the safety factor.
RTOL = {name: rtol / SAFETY for name, (rtol, _) in TARGETS.items()}
ATOL = {name: atol / SAFETY for name, (_, atol) in TARGETS.items()}

@dataclass
class Generated:
    source: str
    notes: list[str] = field(default_factory=list)
    has_fallback: bool = False
    has_series: bool = False
    fast: bool = False
    core: bool = False  # _kfirst defined: special values and checked paths, (value, accepted)
    method: str | None = None  # how the compiled code evaluates, where it differs from the derivation's method


def kernel_source(D) -> Generated:
    """Source of all the njit functions for D; the entry point is ``kernel(x, delta)``. The cells' stable forms,
    the limits and the values at delta = 0 and delta = oo come from the pair's :class:`.plan.ExpressionPlan`."""
    helpers: set[str] = set()
    parts = []
    notes = []
    closed = D.method == "closed-form"
    pieces, bps = activation_pieces(D)
    fp_src, _, h = fprime_source(D)
    helpers |= h
    parts.append(fp_src)
    pr = NumbaPrinter()
    method = None
    cells = None
    if closed:
        try:
            cells = closed_form_block(pr, D)
        except (PrinterError, ValueError, TypeError) as exc:
            # a closed form with a function the generator has no code for (Ei for elu with power(-1)): the
            # quadrature, which every pair has, rather than no ufunc
            closed, method, pr = False, "quadrature", NumbaPrinter()
            notes.append(f"closed form not compiled ({exc}); adaptive Gauss-Kronrod quadrature of int f'(x+s) rho(s) ds")
        else:
            helpers |= pr.helpers
            notes += cells.notes
    else:
        notes.append(f"no closed form ({D.note}); adaptive Gauss-Kronrod quadrature of int f'(x+s) rho(s) ds")
    if not closed:
        cells = Cells(None, True, [], None, None)
    plan = expression_plan(D, cells)
    blk, checked, early = cells.block, plan.checked, cells.early
    fast_sym = None if checked else plan.value
    ser = None
    if checked:
        try:
            ser = series_source(D)
        except (PrinterError, NotImplementedError, sp.PolynomialError):
            ser = None
        try:
            fb, h = fallback_source(D)
        except PrinterError as exc:
            # rho only in functions without compiled code (lowergamma, expint): the defining integral through mu
            fb, h = mu_fallback_source(D)
            notes[:] = [n.replace("int f'(x+s) rho(s) ds", "int (f(x+z) - f(x-z)) mu(z) dz") for n in notes]
            notes.append(f"quadrature through mu: rho not compiled ({exc})")
        helpers |= h
        parts.append(fb)

    if ser is not None:
        s_src, s_lines, h = ser
        helpers |= h
        parts.append(s_src)
        notes.append(f"small delta: moment series with {SERIES_TERMS} terms, accepted by its error estimate")
    fast = (closed and not checked and fast_sym is not None
            and not any(n.startswith("_") for n in called_names(pr.doprint(fast_sym))[""]))  # (no helper calls)
    core = checked and (closed or ser is not None)

    def special(k: Block, done: str) -> None:
        """The special values (NaN, delta < 0, delta = 0, x = +-inf, delta = inf), returned as ``value{done}``."""
        k.add("if x != x or not delta >= T(0.0):", 1)
        k.add(f"return T(math.nan){done}", 2)
        k.add("if delta == T(0.0):", 1)
        for ln in deriv0_lines(D, done):
            k.add(ln, 2)
        k.add("if x == T(math.inf):", 1)
        k.add(f"return {pr.doprint(hi)}{done}", 2)
        k.add("if x == -T(math.inf):", 1)
        k.add(f"return {pr.doprint(lo)}{done}", 2)
        k.add("if delta == T(math.inf):", 1)
        k.add(f"return {pr.doprint(at_inf)}{done}", 2)

    lo, hi = plan.limits
    at_inf = plan.at_infinite_horizon
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
                # (|x - b| > delta is decided right in the float type when b is exact in it: rounding is monotone)
                window = " and ".join(f"abs(x - {pr.doprint(b)}) > delta" if exact_bound(b) else
                                      pr.condition(sp.StrictGreaterThan(sp.Abs(x - b), delta, evaluate=False))
                                      for b in bps) or "True"
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
