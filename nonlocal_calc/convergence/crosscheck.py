"""D_mu f evaluated as a study needs it, and an independent value to check each evaluation against."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp

from ..symbols import delta, z
from .pieces import Pieces


def evaluator(D: Any, dps: int):
    """(t, delta) -> D_mu f(t) as mpmath numbers: the closed form in mpmath, or quadrature (D.evaluate)."""
    return lambda t, d: mpmath.mpf(D.evaluate(t, d, dps=dps))


def independent(D: Any, f: Pieces, dps: int):
    """An independent value of D_mu f(t) to check D.evaluate against.

    For a closed form: :func:`nonlocal_calc.reference.nonlocal_quad` (tanh-sinh quadrature of the
    defining integral). A quadrature pair is evaluated by that very routine, so it is checked with a
    quadrature of its own: plain tanh-sinh of the folded form ``int_0^delta [f(t+z) - f(t-z)] mu(z) dz``,
    on :class:`Pieces` rather than the activation's SymPy formula.
    """
    if getattr(D, "method", "") == "quadrature":
        return lambda t, d: _folded_quad(f, D.kernel, t, d, dps)
    from ..reference import nonlocal_quad

    return lambda t, d: nonlocal_quad(D.activation, D.kernel, t, d, dps=dps)


def _folded_quad(f: Pieces, kernel: Any, t: mpmath.mpf, d: mpmath.mpf, dps: int) -> mpmath.mpf:
    """``int_0^d [f(t+z) - f(t-z)] mu(z) dz`` by tanh-sinh, cut where t +- z crosses a kink."""
    with mpmath.workdps(dps + 10):
        mu = _mu_numeric(kernel.mu_plus)
        if getattr(kernel, "discrete", False):
            return +(mpmath.mpf(mu(d, d)) * (f(t + d) - f(t - d)))
        cuts = sorted({abs(b - t) for b in f.bps if 0 < abs(b - t) < d})
        return +mpmath.quad(lambda w: (f(t + w) - f(t - w)) * mu(w, d), [0, *cuts, d])


@lru_cache(maxsize=128)
def _mu_numeric(mu_plus: sp.Expr):
    return sp.lambdify((z, delta), mu_plus, "mpmath")


def tolerance(value: mpmath.mpf, dps: int) -> mpmath.mpf:
    """Largest |D.evaluate - reference| accepted as rounding: 12 digits short of the working precision."""
    return mpmath.mpf(10) ** (-(dps - 12)) * max(1, abs(value))
