"""Compile a SymPy expression in ``x`` (and ``delta``) into a Numba scalar function ``f(x, delta)``.

The trainer's fused kernels call the returned function element by element, so the derivative used in
backpropagation is whatever expression the user chose, compiled, never a hand-written formula.

TEMPORARY SHIM: until ``nonlocal_calc.codegen.jit_scalar`` is on main, the expression is turned into Python
source by ``sympy.lambdify(..., "math")`` and compiled by ``numba.njit``. Switching is the one line marked
below.

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> f = jit_scalar(sp.Piecewise((0, x < -delta), ((x + delta)**2 / (2*delta**2), x < 0), (1, True)))
>>> f(-0.05, 0.1)
0.125
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import sympy as sp

from ..symbols import delta, x


@functools.cache
def _jit_cached(key: str, expr: sp.Expr) -> Callable[[float, float], float]:
    import numba

    fn = sp.lambdify((x, delta), expr, "math")  # the one line to replace by codegen.jit_scalar(expr)
    return numba.njit(cache=False, nogil=True)(fn)


def jit_scalar(expr: sp.Expr) -> Callable[[float, float], float]:
    """A Numba-compiled scalar function ``f(x, delta)`` of ``expr`` (memoized per expression)."""
    expr = sp.sympify(expr)
    extra = expr.free_symbols - {x, delta}
    if extra:
        names = ", ".join(sorted(map(str, extra)))
        raise ValueError(f"cannot compile {expr}: symbols other than x and delta ({names}); give them values")
    return _jit_cached(sp.srepr(expr), expr)
