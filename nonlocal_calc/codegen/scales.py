"""Where a quadrature's integrand varies: the centres and widths of its features, read from the formulas.

An adaptive rule stops when two estimates on the same nodes agree; a feature far narrower than the interval that
no node comes near is missed by both, and they agree on a wrong sum (a Gaussian kernel 0.3 wide on a horizon of
1000, where the 15 nodes of one panel all lie past the bump). The generated quadratures therefore cut each
interval more than 16 widths long at points graded around every feature (see :mod:`.runtime.cuts`): its
centre and the distances ``w 2^k`` from it, so that a piece is never much longer than its distance to the
nearest feature.

A feature is an atom of the formula (a function such as ``exp``, ``tanh``, ``atan``, ``erf``, ``log`` or a
non-integer or negative power) whose argument is a polynomial in the variable with numeric coefficients: for
``a (v - c)^n + ...`` the centre is ``c`` (the mean of the roots of the argument's derivative) and the width
``|a|^(-1/n)``. An argument that is not such a polynomial adds no feature (its atoms may still add some).
"""

from __future__ import annotations

import math

import sympy as sp
from sympy.polys.polyerrors import BasePolynomialError

#: At most this many features per formula (the nearest-to-zero centres are kept): each adds about
#: ``2 log2(horizon / width)`` cuts.
MAX_FEATURES = 8


def _polynomial_feature(arg: sp.Expr, var: sp.Symbol) -> tuple[float, float] | None:
    """``(centre, width)`` of an argument polynomial in ``var`` of degree >= 1, else None.

    >>> v = sp.Symbol("v")
    >>> _polynomial_feature(-(v - 1)**2 / 2, v)
    (1.0, 1.4142135623730951)
    >>> _polynomial_feature(10 * v + 5, v), _polynomial_feature(sp.log(v), v)
    ((-0.5, 0.1), None)
    """
    try:
        p = sp.Poly(arg, var)
    except BasePolynomialError:  # (not a polynomial in var, or no generator at all)
        return None
    n = p.degree()
    if n < 1 or not all(c.is_number and c.is_real for c in p.all_coeffs()):
        return None
    a, b = (float(c) for c in p.all_coeffs()[:2])
    if not (math.isfinite(a) and a != 0.0 and math.isfinite(b)):
        return None
    centre, width = -b / (n * a) + 0.0, abs(a) ** (-1.0 / n)  # (+ 0.0: no -0.0)
    if not (math.isfinite(centre) and math.isfinite(width) and width > 0.0):
        return None
    return centre, width


def _is_monomial(arg: sp.Expr, var: sp.Symbol) -> bool:
    try:
        return len(sp.Poly(arg, var).terms()) == 1
    except BasePolynomialError:
        return False


def features(expr: sp.Expr, var: sp.Symbol, free_of: tuple[sp.Symbol, ...] = ()) -> list[tuple[float, float]]:
    """The ``(centre, width)`` of each feature of ``expr`` in ``var`` (atoms that hold a symbol of ``free_of``
    are skipped: their scale moves with it), distinct, nearest-to-zero centres first.

    >>> v, d = sp.symbols("v d")
    >>> features(sp.tanh(v) + sp.exp(-(v - 3)**2 / 2), v)
    [(0.0, 1.0), (3.0, 1.4142135623730951)]
    >>> features(sp.exp(-v**2 / 2) - sp.exp(-d**2 / 2) + (1 - v / d) + sp.sqrt(v) * sp.log(3 * v), v, free_of=(d,))
    [(0.0, 1.4142135623730951)]
    >>> features(sp.Piecewise((sp.exp(-v**2), v > 0), (sp.tanh(3 * v - 1), True)) + sp.exp(sp.sqrt(v + 1)), v)
    [(0.0, 1.0), (0.3333333333333333, 0.3333333333333333), (-1.0, 1.0)]
    """
    found = set()
    for atom in sp.preorder_traversal(expr):
        if not isinstance(atom, (sp.Function, sp.Pow)) or not atom.has(var) or atom.has(*free_of):
            continue
        if isinstance(atom, sp.Pow):
            if atom.exp.is_Integer and atom.exp > 0:
                continue
            args = (atom.base,)
        else:
            args = atom.args
        for arg in args:
            if not isinstance(arg, sp.Expr) or arg.has(sp.Piecewise):
                continue  # (a Piecewise's (expression, condition) pairs: its expressions are atoms of their own)
            if isinstance(atom, (sp.Pow, sp.log)) and _is_monomial(arg, var):
                continue  # a power or log of c v^k has no scale of its own
            f = _polynomial_feature(arg, var) if arg.has(var) else None
            if f is not None:
                found.add(f)
    return sorted(found, key=lambda f: (abs(f[0]), f[1]))[:MAX_FEATURES]


def feature_tables(in_x: sp.Expr, in_s: sp.Expr, x: sp.Symbol, s: sp.Symbol, delta: sp.Symbol,
                   m: int = 1) -> tuple[list[float], list[float]]:
    """The tables a generated quadrature reads (``_FC``, ``_FW``): the features of ``in_x`` (the activation's part
    of the integrand, at fixed points x) as (centre, width), then those of ``in_s`` (the kernel's, at fixed
    distances s from x, free of delta) as (centre, -width). With the substitution ``s = delta t^m``, m >= 4, the
    nodes already crowd at s = 0 (a panel over [0, 1] has nodes at s/delta = 3e-10, 4e-7, 2e-5, 3e-4...): the
    kernel's features there get no cuts, which would only cost time.

    >>> x, s, d = sp.symbols("x s d")
    >>> feature_tables(sp.tanh(x - 1), sp.exp(-s**2) * (1 - s / d), x, s, d)
    ([1.0, 0.0], [1.0, -1.0])
    >>> feature_tables(sp.tanh(x - 1), sp.exp(-s**2) * (1 - s / d), x, s, d, m=27)
    ([1.0], [1.0])
    """
    fs, ks = features(in_x, x), features(in_s, s, free_of=(delta,))
    if m >= 4:
        ks = [(c, w) for c, w in ks if c != 0.0]
    return [c for c, _ in fs] + [c for c, _ in ks], [w for _, w in fs] + [-w for _, w in ks]


__all__ = ["MAX_FEATURES", "feature_tables", "features"]
