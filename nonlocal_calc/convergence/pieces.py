"""An activation's pieces, their derivatives and one-sided values at the kinks, in mpmath."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp

from ..symbols import x


class Pieces:
    """An activation's pieces, their derivatives and one-sided values at the kinks, in mpmath."""

    def __init__(self, activation: Any):
        pieces = getattr(activation, "pieces", None)
        if pieces is None:  # a duck-typed activation with only ``expr``
            pieces, bps = (activation.expr,), ()
        else:
            bps = tuple(activation.breakpoints)
        self.pieces = tuple(sp.sympify(p) for p in pieces)
        self.bps_exact = tuple(sp.sympify(b) for b in bps)
        self.bps = [mpmath.mpf(sp.N(b, 60)) for b in self.bps_exact]
        self._num: dict[tuple[int, int], Any] = {}

    def piece_index(self, t: mpmath.mpf) -> int:
        """Right-continuous: the piece that holds at t."""
        for i, b in enumerate(self.bps):
            if t < b:
                return i
        return len(self.bps)

    def diff(self, i: int, k: int) -> sp.Expr:
        return _diff(self.pieces[i], k)

    def fn(self, i: int, k: int):
        key = (i, k)
        if key not in self._num:
            self._num[key] = sp.lambdify(x, self.diff(i, k), "mpmath")
        return self._num[key]

    def __call__(self, t: mpmath.mpf, k: int = 0, piece: int | None = None) -> mpmath.mpf:
        i = self.piece_index(t) if piece is None else piece
        return mpmath.mpf(self.fn(i, k)(t))

    def polynomial_degree(self, i: int) -> int | None:
        p = self.pieces[i]
        return sp.Poly(p, x).degree() if p.is_polynomial(x) else None


@lru_cache(maxsize=512)
def _diff(expr: sp.Expr, k: int) -> sp.Expr:
    return sp.diff(expr, x, k) if k else expr
