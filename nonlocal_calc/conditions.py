"""SymPy's conditional answers (``Piecewise`` with conditions) resolved under known assumptions.

``integrate`` guards its results with conditions it cannot decide, e.g. for ``int_s^delta t exp(-t**2) dt``
of a normalized kernel it returns ``Piecewise((A, Ne(2*delta - sqrt(pi)*exp(delta**2)*erf(delta), 0)), (B,
True))``. The caller knows more (delta > 0, 0 < s < delta, numeric parameters) than SymPy's assumptions can
express, so :func:`resolve` decides each condition over sample points of that region: a branch true at every
sample is taken, one false at every sample is dropped, and a Piecewise whose conditions change inside the
region is kept (it is then a genuine case distinction). Sampling cannot prove a condition: callers check the
resolved quantity against its defining identities afterwards (see :mod:`nonlocal_calc.kernels`).

>>> import sympy as sp
>>> d = sp.Symbol("d", positive=True)
>>> pw = sp.Piecewise((1 / d, sp.Ne(d - sp.exp(d), -1)), (0, True))
>>> resolve(pw, [{d: sp.Rational(1, 10)}, {d: 3}])
1/d
>>> resolve(sp.Piecewise((d, d < 1), (1, True)), [{d: sp.Rational(1, 10)}, {d: 3}])
Piecewise((d, d < 1), (1, True))
"""

from __future__ import annotations

import sympy as sp

#: Differences below this (absolute, at 40 digits) count as zero when a sampled (in)equality is decided.
_ZERO = sp.Float("1e-30")

_OPS = {"==": lambda v, zero: zero, "!=": lambda v, zero: not zero,
        "<": lambda v, zero: v < 0 and not zero, "<=": lambda v, zero: v < 0 or zero,
        ">": lambda v, zero: v > 0 and not zero, ">=": lambda v, zero: v > 0 or zero}


def truth(cond: sp.Basic, values: dict) -> bool | None:
    """The truth of ``cond`` at the point ``values`` (a substitution), or None where it cannot be decided.

    >>> x = sp.Symbol("x")
    >>> truth(sp.And(x > 0, sp.Ne(x, 2)), {x: 1}), truth(sp.Eq(sp.sin(x)**2 + sp.cos(x)**2, 1), {x: 3})
    (True, True)
    """
    if cond in (sp.true, sp.false):
        return bool(cond)
    if isinstance(cond, (sp.And, sp.Or)):
        parts = [truth(a, values) for a in cond.args]
        decisive = isinstance(cond, sp.Or)  # a True decides an Or, a False decides an And
        if decisive in parts:
            return decisive
        return None if None in parts else not decisive
    if isinstance(cond, sp.Not):
        inner = truth(cond.args[0], values)
        return None if inner is None else not inner
    if isinstance(cond, sp.core.relational.Relational) and cond.rel_op in _OPS:
        try:
            diff = sp.N((cond.lhs - cond.rhs).subs(values), 40)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        if not (diff.is_number and diff.is_extended_real) or diff.has(sp.nan, sp.zoo):
            return None
        zero = abs(diff) < _ZERO
        return _OPS[cond.rel_op](diff, zero)
    return None


def _decide(cond: sp.Basic, samples: list[dict]) -> bool | None:
    """True (False) when ``cond`` is true (false) at every sample, None otherwise."""
    seen = {truth(cond, s) for s in samples}
    return seen.pop() if len(seen) == 1 and None not in seen else None


def _resolve_one(pw: sp.Piecewise, samples: list[dict]) -> sp.Expr:
    kept = []
    for val, cond in pw.args:
        verdict = _decide(cond, samples)
        if verdict is False:
            continue
        if verdict is True and not kept:
            return val
        kept.append((val, sp.true if verdict else cond))
        if verdict is True:
            break
    if not kept:
        return pw  # no branch holds anywhere sampled: leave SymPy's answer alone (the caller's checks decide)
    return sp.Piecewise(*kept) if len(kept) > 1 or kept[0][1] != sp.true else kept[0][0]


def resolve(expr: sp.Expr, samples: list[dict]) -> sp.Expr:
    """``expr`` with every Piecewise resolved over ``samples`` (substitutions covering the assumed region)."""
    if not expr.has(sp.Piecewise):
        return expr
    return expr.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: _resolve_one(e, samples))
