"""A second printer of the expression plan: NumPy array code, from the same :class:`ExpressionPlan` the Numba route
prints (the way a PyTorch or JAX printer consumes it).

It is SymPy's ``NumPyPrinter`` with the two functions of ``codegen.stable`` that NumPy has no name for:
``Log1pExp(u) = log(1 + e^u)`` is ``numpy.logaddexp(0, u)``, and ``LiNegExp(s, u) = Li_s(-e^u)`` calls mpmath
element by element (no NumPy polylogarithm; mpmath's is independent of the Numba route's series). The module it
writes evaluates every cell, accepts a checked cell's value where its rounding estimate is below the float64
tolerance (NaN elsewhere: the Numba route would take its moment series or quadrature there), and returns the plan's
limits at x = -inf, +inf and its values at delta = 0.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from nonlocal_calc.codegen.cells import EPS
from nonlocal_calc.codegen.kernel import RTOL


class PlanNumPyPrinter(NumPyPrinter):
    """NumPy code for the plan's expressions (arrays ``x``, ``delta``)."""

    def _print_Log1pExp(self, e):
        return f"numpy.logaddexp(0.0, {self._print(e.args[0])})"

    def _print_LiNegExp(self, e):
        return f"_li_negexp({int(e.args[0])}, {self._print(e.args[1])})"


def _li_negexp(s: int, u) -> np.ndarray:
    """``Li_s(-exp(u))`` element by element, to float64 accuracy."""
    one = np.frompyfunc(lambda v: float(mpmath.polylog(s, -mpmath.exp(v))) if np.isfinite(v) else np.nan, 1, 1)
    return one(np.asarray(u, dtype=float)).astype(float)


def module_source(plan) -> str:
    """The text of a module defining ``D(x, delta)`` for arrays, from ``plan``."""
    pr = PlanNumPyPrinter()
    lo, hi = plan.limits
    lines = [
        "import numpy", "", "",
        "def D(x, delta):",
        "    x, delta = numpy.broadcast_arrays(numpy.asarray(x, dtype=float), numpy.asarray(delta, dtype=float))",
        "    with numpy.errstate(all='ignore'):",
        f"        v = {pr.doprint(plan.value)} + 0 * x",
        f"        e = {pr.doprint(plan.error.subs(EPS, sp.Rational(1, 2**53)))} + 0 * x",
        f"        out = numpy.where(e <= {RTOL['float64']!r} * abs(v), v, numpy.nan)",
        f"        out = numpy.where(x == numpy.inf, {pr.doprint(hi)}, numpy.where(x == -numpy.inf, {pr.doprint(lo)}, out))",
        f"        d0 = numpy.where(x == numpy.inf, {pr.doprint(plan.fprime_limits[1])}, "
        f"numpy.where(x == -numpy.inf, {pr.doprint(plan.fprime_limits[0])}, {pr.doprint(plan.at_zero)} + 0 * x))",
        "        out = numpy.where(delta == 0, d0, out)",
        "    return out",
    ]
    return "\n".join(lines) + "\n"


def compile_plan(plan):
    """``D(x, delta)`` of the module :func:`module_source` writes (run in a namespace that holds ``_li_negexp``)."""
    namespace = {"_li_negexp": _li_negexp}
    exec(compile(module_source(plan), "<numpy plan>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["D"]
