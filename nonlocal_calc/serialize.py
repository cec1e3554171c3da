"""Store SymPy expressions as JSON trees and read them back without ``eval``.

Only the node types listed in :data:`NODES` are rebuilt; a file naming anything
else is rejected, so a foreign or tampered cache entry cannot run code.

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> e = sp.Piecewise((0, x < -delta), ((x + delta)**2 / (2*delta**2), x < 0), (1, True))
>>> from_json(to_json(e)) == e
True
"""

from __future__ import annotations

import json

import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from .symbols import delta, x, z

_SYMBOLS = {"x": x, "z": z, "delta": delta}

#: The SymPy classes a stored expression may contain.
NODES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        sp.Add, sp.Mul, sp.Pow, sp.Piecewise, ExprCondPair, sp.exp, sp.log, sp.sin, sp.cos,
        sp.tan, sp.sinh, sp.cosh, sp.tanh, sp.asin, sp.acos, sp.atan, sp.asinh, sp.acosh, sp.atanh,
        sp.erf, sp.erfc, sp.erfi, sp.Abs, sp.sign, sp.Heaviside, sp.polylog, sp.Min, sp.Max,
        sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan, sp.Eq, sp.Ne,
        sp.And, sp.Or, sp.Not, sp.uppergamma, sp.lowergamma, sp.gamma, sp.expint, sp.Ei,
        sp.li, sp.hyper, sp.Tuple, sp.zeta, sp.LambertW,
    )
}
_ATOMS = {"pi": sp.pi, "E": sp.E, "oo": sp.oo, "-oo": -sp.oo, "zoo": sp.zoo, "nan": sp.nan,
          "I": sp.I, "true": sp.true, "false": sp.false, "EulerGamma": sp.EulerGamma, "Catalan": sp.Catalan}


def _enc(e: sp.Basic, extra: frozenset = frozenset()):
    if isinstance(e, sp.Symbol):
        if e.name not in _SYMBOLS and e not in extra:
            raise ValueError(f"cannot store symbol {e.name!r}: only x, z, delta and the symbols given are stored")
        return {"s": e.name}
    if isinstance(e, sp.Integer):
        return {"i": str(e)}
    if isinstance(e, sp.Rational):
        return {"q": [str(e.p), str(e.q)]}
    if isinstance(e, sp.Float):
        return {"f": sp.srepr(e)[7:-1].split(",")[0].strip("'"), "prec": e._prec}
    for name, atom in _ATOMS.items():
        if e == atom:
            return {"a": name}
    name = type(e).__name__
    if name not in NODES:
        raise ValueError(f"cannot store SymPy node {name}")
    return {"n": name, "args": [_enc(a, extra) for a in e.args]}


def _dec(d, table: dict = _SYMBOLS):
    if "s" in d:
        return table[d["s"]]
    if "i" in d:
        return sp.Integer(int(d["i"]))
    if "q" in d:
        return sp.Rational(int(d["q"][0]), int(d["q"][1]))
    if "f" in d:
        return sp.Float(str(d["f"]), precision=int(d["prec"]))
    if "a" in d:
        return _ATOMS[d["a"]]
    cls = NODES[d["n"]]  # KeyError for anything not whitelisted
    args = [_dec(a, table) for a in d["args"]]
    if cls is ExprCondPair:
        return tuple(args)
    # the stored tree is already in canonical form: rebuilding it without evaluation is faithful and fast
    # (evaluating polylog(2, -exp(...)) alone costs SymPy a quarter of a second)
    return cls(*args, evaluate=False)


def to_json(expr: sp.Basic, symbols=()) -> str:
    """Serialize ``expr`` (a tree of whitelisted nodes in x, z, delta and the ``symbols`` given: parameters) to a
    JSON string. A symbol is stored by its name: :func:`from_json` gets the symbols back from its caller, with
    their assumptions."""
    return json.dumps(_enc(sp.sympify(expr), frozenset(symbols)), separators=(",", ":"))


def from_json(text: str, symbols=()) -> sp.Basic:
    """Rebuild an expression written by :func:`to_json` (with the same ``symbols``); raise ``ValueError`` on
    anything else.

    >>> p = sp.Symbol("p", real=True)
    >>> e = sp.Piecewise((delta**(p + 1) / (p + 1), sp.Ne(p, -1)), (sp.log(delta), True))
    >>> from_json(to_json(e, [p]), [p]) == e
    True
    """
    table = {**_SYMBOLS, **{s.name: s for s in symbols}}
    try:
        return _dec(json.loads(text), table)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a stored nonlocal-calc expression ({type(exc).__name__}: {exc})") from None
