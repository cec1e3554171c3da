"""A SymPy -> JAX printer for the stable forms of the code generator.

:class:`JaxCodePrinter` is the ``jax.numpy`` dialect of
:class:`~nonlocal_calc.codegen.tensor.printer.TensorCodePrinter`: numbers are Python floats (weakly typed: a
float32 array stays float32), a Piecewise is a chain of ``jnp.where`` whose constant branches take the dtype of a
reference array, and the functions of :mod:`nonlocal_calc.codegen.stable` get their accurate counterparts
(``jnp.expm1``, ``jnp.log1p``, ``Log1pExp -> _log1pexp``). Anything without a counterpart (polylogarithms,
``erfi``) raises :class:`~nonlocal_calc.codegen.PrinterError`, so that the caller takes the quadrature instead.
Its code is differentiated again by JAX's automatic differentiation (``derivs``, for derivatives of third
order), so it keeps the unselected branches of the quadrature's ``where`` finite (``SAFE_GRADIENTS``). JAX is
not imported by this module (it writes text).

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> p = JaxCodePrinter()
>>> p.doprint(sp.Piecewise((0, x < -delta), ((x + delta) ** 2 / (2 * delta**2), x < 0), (1, True)))
'jnp.where((delta < -x), jnp.full_like(x, 0.0), jnp.where((x < 0.0), (0.5)*(delta + x)**2/delta**2, jnp.full_like(x, 1.0)))'
>>> p.doprint(sp.erf(x) + sp.Max(x, 0))
'jax.scipy.special.erf(x) + jnp.maximum(x, 0.0)'
"""

from __future__ import annotations

from ..codegen.tensor.printer import TensorCodePrinter, assignments

__all__ = ["JaxCodePrinter", "JaxPlanningPrinter", "assignments", "FUNCTIONS", "HELPERS"]

#: The functions and operations of :data:`~nonlocal_calc.codegen.tensor.printer.ONE_ARGUMENT` and their JAX names.
FUNCTIONS = {
    "exp": "jnp.exp", "log": "jnp.log", "sin": "jnp.sin", "cos": "jnp.cos", "tan": "jnp.tan",
    "sinh": "jnp.sinh", "cosh": "jnp.cosh", "tanh": "jnp.tanh", "asin": "jnp.arcsin", "acos": "jnp.arccos",
    "atan": "jnp.arctan", "asinh": "jnp.arcsinh", "acosh": "jnp.arccosh", "atanh": "jnp.arctanh",
    "erf": "jax.scipy.special.erf", "erfc": "jax.scipy.special.erfc", "expm1": "jnp.expm1", "log1p": "jnp.log1p",
    "Abs": "jnp.abs", "sign": "jnp.sign", "loggamma": "jax.scipy.special.gammaln", "Log1pExp": "_log1pexp",
    "sqrt": "jnp.sqrt", "rsqrt": "jax.lax.rsqrt", "pow": "jnp.power", "atan2": "jnp.arctan2",
    "maximum": "jnp.maximum", "minimum": "jnp.minimum", "where": "jnp.where",
}

#: The helper functions a printed module defines (those its code calls).
HELPERS = {
    "_log1pexp": ("def _log1pexp(u):\n"
                  "    \"\"\"log(1 + exp(u)) without overflow or cancellation.\"\"\"\n"
                  "    return jnp.maximum(u, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(u)))\n"),
}


class JaxCodePrinter(TensorCodePrinter):
    """Print real SymPy expressions in ``x``, ``delta`` (and other named symbols) as ``jax.numpy`` expressions.

    ``names`` maps symbols to variable names; ``ref`` is the name of an array whose dtype and shape constant
    branches of a Piecewise take. ``helpers`` collects the :data:`HELPERS` the printed code calls.
    """

    printmethod = "_jaxcode_nonlocal"
    MODULE = "jnp"
    FUNCTIONS = FUNCTIONS
    HELPERS = HELPERS
    SAFE_GRADIENTS = True

    def rounded(self, value: str) -> str:
        # XLA folds (x + c_hi) + c_lo into x + (c_hi + c_lo), which c_lo was meant to correct (Max(x - 1/3, 0) with
        # dirac_pair under jax.jit: 0.99917966 for 0.99979820 at x = 0.33334136, delta = 8.03e-6)
        return f"jax.lax.optimization_barrier{value}"


class JaxPlanningPrinter(JaxCodePrinter):
    """The dialect of the module the orders are planned with: the quadrature's nodes along a last axis, so that
    one compilation serves every order (the rules padded to one length). The module itself loops over the nodes
    (unrolled under ``jax.jit``): XLA's CPU backend vectorizes that loop and not the sum over a short last axis
    (GELU with the sign kernel, 6 nodes, 10^6 float32 values: 35 ms against 308 ms)."""

    NODE_AXIS = True
