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

import math

import sympy as sp

from ..codegen.printer import PrinterError
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

EXACT_CONDITION = '''
def _signed_powers(n):
    """n (an int) as a sum of signed powers of two (its non-adjacent form): ((sign, exponent), ...)."""
    out, j = [], 0
    while n:
        if n & 1:
            d = 2 - (n & 3)
            out.append((d, j))
            n -= d
        n >>= 1
        j += 1
    return out


def _float32_chunks(n):
    """The int n as a sum of ints of 24 significant bits at most (exact in float32)."""
    out = []
    while n:
        shift = max(abs(n).bit_length() - 24, 0)
        out.append(n >> shift << shift)
        n -= out[-1]
    return out


def _two_sum(a, b):
    """a + b as s + e exactly (Knuth's TwoSum; round to nearest)."""
    s = a + b
    bv = s - a
    return s, (a - (s - bv)) + (b - bv)


def _grown(terms):
    """The arrays ``terms`` summed exactly into a nonoverlapping expansion, by TwoSum (Shewchuk's
    Grow-Expansion): components of increasing magnitude, zeros aside, whose largest nonzero one has the sign of
    the sum."""
    expansion = []
    for t in terms:
        grown = []
        for h in expansion:
            t, err = _two_sum(t, h)
            grown.append(err)
        expansion = grown + [t]
    return expansion


def _exact_sign(x, delta, a, c, r):
    """An array whose sign is that of a x + c delta + r (ints a, c, r), decided exactly in the data's type. The
    terms are delta and x times signed powers of two (exact) and r in float pieces, summed exactly by
    :func:`_grown`. Exact wherever x and delta are multiples of 2^-126 (|x| >= 2^-103 or 0, delta alike: no
    intermediate falls below the normal range, which XLA flushes to zero) and |x|, delta <= 2^100 (beyond,
    clamped there). The multipliers and the pieces of r pass through an optimization barrier: XLA folds ``(u +
    c1) + c2`` into ``u + (c1 + c2)``, which loses the errors TwoSum recovers."""
    big = 2.0**100
    xs, ds = jnp.clip(x, -big, big), jnp.clip(delta, -big, big)
    parts = [(ds, float(s * 2.0**j)) for s, j in _signed_powers(c)]
    parts += [(xs, float(s * 2.0**j)) for s, j in _signed_powers(a)]
    consts = [m for _, m in parts] + [float(v) for v in _float32_chunks(r)]
    k = jax.lax.optimization_barrier(jnp.asarray(consts, dtype=xs.dtype))
    terms = [k[i] for i in range(len(parts), len(consts))] + [v * k[i] for i, (v, _) in enumerate(parts)]
    top = jnp.zeros_like(xs + ds)
    for h in _grown(terms):
        top = jnp.where(h != 0.0, h, top)
    return top


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _exact_condition(x, delta, a, c, r, op):
    """Whether ``a x + c delta + r op 0`` (ints a, c, r; op one of <, <=, >, >=), decided exactly in the data's
    type: whether x lies below a cell end b + k delta that rounds in it, where no wider type decides it (64-bit
    types disabled). With one delta (a 0-d array) the end e = -(c delta + r)/a is placed once among the floats:
    e rounded, the nearest floats around it signed exactly (:func:`_exact_sign`), t the largest at or below e;
    then x < e is x < t, or x <= t where e > t (no float lies between t and e), and each x costs a comparison.
    With an array of deltas, the sign of each a x + c delta + r exactly."""
    if a == 0 or jnp.ndim(delta) != 0:
        e = _exact_sign(x, delta, a, c, r)
        return {"<": e < 0.0, "<=": e <= 0.0, ">": e > 0.0, ">=": e >= 0.0}[op]
    if a < 0:
        a, c, r, op = -a, -c, -r, _FLIPPED[op]
    big = 2.0**100
    # c delta + r rounded from its exact expansion (within an ulp), over a: within 2 ulps of e
    approx = jnp.zeros_like(delta)
    for h in _exact_sign_terms(delta, c, r):
        approx = approx + h
    t = jnp.clip(-approx / jax.lax.optimization_barrier(jnp.asarray(float(a), dtype=delta.dtype)), -big, big)
    window = [t]
    for side in (-jnp.inf, jnp.inf):
        u = t
        for _ in range(4):
            u = jnp.nextafter(u, jnp.asarray(side, dtype=t.dtype))
            window.append(u)
    ts = jnp.stack(window)
    below = _exact_sign(ts, delta, a, c, r)  # <= 0 where ts <= e
    t = jnp.max(jnp.where(below <= 0.0, ts, -jnp.inf))
    at = jnp.max(jnp.where(below == 0.0, 1.0, 0.0)) > 0.0  # e is t itself
    if op == "<":
        return jnp.where(at, x < t, x <= t)
    if op == "<=":
        return x <= t
    if op == ">":
        return x > t
    return jnp.where(at, x >= t, x > t)


def _exact_sign_terms(delta, c, r):
    """The exact expansion of c delta + r (ints c, r) on delta's shape (:func:`_exact_sign`'s first terms)."""
    big = 2.0**100
    ds = jnp.clip(delta, -big, big)
    consts = [float(s * 2.0**j) for s, j in _signed_powers(c)] + [float(v) for v in _float32_chunks(r)]
    k = jax.lax.optimization_barrier(jnp.asarray(consts, dtype=ds.dtype))
    nc = len(_signed_powers(c))
    return _grown([k[i] for i in range(nc, len(consts))] + [ds * k[i] for i in range(nc)])
'''

#: The helper functions a printed module defines (those its code calls).
HELPERS = {
    "_log1pexp": ("def _log1pexp(u):\n"
                  "    \"\"\"log(1 + exp(u)) without overflow or cancellation.\"\"\"\n"
                  "    return jnp.maximum(u, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(u)))\n"),
    "_exact_condition": EXACT_CONDITION.strip("\n") + "\n",
}

#: The float64 copies of x and delta in the conditions that choose a cell of the closed form
#: (:func:`nonlocal_calc.codegen.tensor.source.wide_conditions`), by name.
_WIDE = {"_xw": "x", "_dw": "delta"}


def linear_integers(expr) -> tuple[int, int, int]:
    """``(a, c, r)``, ints, with ``a x + c delta + r`` a positive multiple of ``expr``, linear in x and delta
    (as ``_xw`` and ``_dw``) with rational coefficients; a PrinterError otherwise.

    >>> xw, dw = sp.Symbol("_xw", real=True), sp.Symbol("_dw", positive=True)
    >>> linear_integers(xw - (sp.Rational(1, 3) - dw))
    (3, 3, -1)
    """
    syms = {s.name: s for s in expr.free_symbols}
    xw, dw = syms.get("_xw", sp.Symbol("_xw")), syms.get("_dw", sp.Symbol("_dw"))
    if set(syms) - set(_WIDE):
        raise PrinterError(f"a condition in more than x and delta: {expr}")
    e = sp.expand(expr)
    coeffs = [e.coeff(xw), e.coeff(dw), e.subs({xw: 0, dw: 0})]
    if sp.expand(coeffs[0] * xw + coeffs[1] * dw + coeffs[2] - e) != 0 or not all(v.is_Rational for v in coeffs):
        raise PrinterError(f"a condition not linear in x and delta with rational coefficients: {expr}")
    scale = math.lcm(*(int(v.q) for v in coeffs))
    return tuple(int(v * scale) for v in coeffs)


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

    def _print_Relational(self, expr):
        wide = super()._print_Relational(expr)
        full = self.expanded(expr)
        if not {s.name for s in full.free_symbols} & set(_WIDE):
            return wide
        if expr.rel_op not in ("<", "<=", ">", ">="):
            raise PrinterError(f"cannot decide the condition {expr} exactly")
        a, c, r = linear_integers(full.lhs - full.rhs)
        self.helpers.add("_exact_condition")
        # without 64-bit types the float64 copies are the float32 data: decided exactly in float32 instead
        return f"({wide} if _x64() else _exact_condition(x, delta, {a}, {c}, {r}, {expr.rel_op!r}))"

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
