"""The expression plan: what the rewriting stages make of a derivation, and what every backend's printer consumes.

The pipeline is ``derivation -> cells (stable rewrites) -> ExpressionPlan -> printer``. The plan holds only SymPy
expressions (in ``x`` and ``delta``, with the accurate functions of :mod:`.stable`: ``expm1``, ``log1p``,
``Log1pExp``, ``LiNegExp``), no code: a backend prints its parts with its own printer (Numba: :mod:`.kernel` with
:class:`.printer.NumbaPrinter`; PyTorch: :mod:`nonlocal_calc.torch.generate`; a NumPy printer in the tests).

>>> import nonlocal_calc as nlc
>>> p = expression_plan(nlc.derive("relu", "sign"))
>>> p.closed, p.checked, p.limits, p.error
(True, False, (0, 1), 0)
>>> p.value.args[0]
(0, x < -delta)
>>> p.at_zero
Piecewise((1/2, Eq(x, 0)), (Piecewise((0, x < 0), (1, True)), True))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..symbols import x
from .fprime import activation_pieces, fprime_limits, limits
from .horizon import infinite_horizon


@dataclass
class ExpressionPlan:
    """A pair's formulas in stable SymPy forms.

    * ``value``: D(x, delta) as a Piecewise of the stable cell values, in the order of the closed form's cells
      (conditions ``x < a + s delta`` and ``delta < c``, the last one ``True``); ``None`` for a pair without a
      closed form (or one with a function no printer has): the backends integrate numerically;
    * ``error``: the rounding estimate of each cell, in ``EPS`` (:data:`.cells.EPS`, the unit roundoff of the
      float type), 0 where the cell's form is stable by construction; ``checked``: some cell has one, a sum of
      terms that may cancel: its value is accepted only where ``error <= rtol |value|`` (the Numba route then
      tries the moment series first and falls back to quadrature); ``closed``: ``value`` is not ``None``;
    * ``fprime``: f'(x) piece by piece (right-continuous at the kinks);
    * ``at_zero``: the value at delta = 0, f'(x) with the average of the one-sided derivatives at a kink (``+-oo``
      where f jumps), and ``fprime_limits``: its values at x = -oo, +oo;
    * ``limits``: D at x = -oo, +oo (for every delta > 0); ``at_infinite_horizon``: D at delta = oo;
    * ``notes``: how each cell was rewritten.
    """

    value: sp.Expr | None
    error: sp.Expr
    checked: bool
    closed: bool
    fprime: sp.Expr
    at_zero: sp.Expr
    fprime_limits: tuple[sp.Expr, sp.Expr]
    limits: tuple[sp.Expr, sp.Expr]
    at_infinite_horizon: sp.Expr
    notes: list[str] = field(default_factory=list)


def fprime_piecewise(D) -> sp.Expr:
    """f' of the activation as one Piecewise over its pieces (the kinks belong to the piece on their right)."""
    pieces, bps = activation_pieces(D)
    d = [sp.diff(p, x) for p in pieces]
    if not bps:
        return d[0]
    return sp.Piecewise(*[(di, x < b) for di, b in zip(d, bps)], (d[-1], True))


def at_zero(D) -> sp.Expr:
    """The value at delta = 0: f'(x), at a kink the average of the one-sided derivatives (``+-oo`` at a jump of f)."""
    pieces, bps = activation_pieces(D)
    kinks = []
    for b, (left, right) in zip(bps, zip(pieces, pieces[1:])):
        jump = sp.simplify(right.subs(x, b) - left.subs(x, b))
        avg = sp.nsimplify((sp.diff(left, x).subs(x, b) + sp.diff(right, x).subs(x, b)) / 2)
        kinks.append((avg if jump == 0 else sp.oo if jump > 0 else -sp.oo, sp.Eq(x, b)))
    fp = fprime_piecewise(D)
    return sp.Piecewise(*kinks, (fp, True)) if kinks else fp


def expression_plan(D, cells=None) -> ExpressionPlan:
    """The plan of D. ``cells``: the pair's :class:`.cells.Cells` if already made (the Numba route makes them with
    its printer, which prints the checked cells as it goes); else they are made here."""
    if cells is None:
        cells = _cells(D)
    return ExpressionPlan(value=cells.forms, error=cells.error, checked=cells.checked, closed=cells.block is not None,
                          fprime=fprime_piecewise(D), at_zero=at_zero(D), fprime_limits=fprime_limits(D),
                          limits=limits(D), at_infinite_horizon=infinite_horizon(D), notes=list(cells.notes))


def _cells(D):
    """The cells of D's closed form (none for a pair without one, or with a function no printer has)."""
    from .cells import Cells, closed_form_block
    from .printer import NumbaPrinter, PrinterError

    if D.method != "closed-form":
        return Cells(None, True, [], None, None)
    try:
        return closed_form_block(NumbaPrinter(), D)
    except (PrinterError, ValueError, TypeError) as exc:
        return Cells(None, True, [f"closed form not compiled ({exc})"], None, None)
