"""Free parameters of activations and kernels: a name, the range of values it may take, and its SymPy symbol.

A parameter is declared with an assumption in words or as an interval: ``"positive"``, ``"nonnegative"``,
``"negative"``, ``"nonpositive"``, ``"real"``, a bound (``"> -2"``, ``">= 0"``, ``"< 1"``, ``"<= 1"``) or an
interval (``"(0, 1]"``, ``"[-1, 1]"``, ``"(-2, oo)"``). Its symbol carries the strongest assumption SymPy can
hold (positive, nonnegative, negative, nonpositive, else real); the interval itself decides SymPy's conditions
on the parameter (:func:`decide`) and every numeric value supplied later (:meth:`Parameter.check`).

>>> p = Parameter("p", "> -2")
>>> p.domain, p.symbol.is_real, p.symbol.is_positive
(Interval.open(-2, oo), True, None)
>>> Parameter("beta", "positive").symbol.is_positive
True
>>> p.check("1/2")
1/2
>>> p.check(-3)
Traceback (most recent call last):
...
nonlocal_calc.parameters.ParameterError: parameter p = -3 is outside its range (-2, oo) (declared '> -2')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .parsing import CONSTANTS, FUNCTIONS, SYMBOLS, ExpressionError, exact_number, parse_expr


class ParameterError(ValueError):
    """A parameter's declaration or a value given to it is not acceptable."""


_WORDS = {
    "positive": sp.Interval.open(0, sp.oo), "nonnegative": sp.Interval(0, sp.oo),
    "negative": sp.Interval.open(-sp.oo, 0), "nonpositive": sp.Interval(-sp.oo, 0), "real": sp.Reals,
}
_BOUND = re.compile(r"\s*(>=|<=|>|<)\s*(.+)")
_INTERVAL = re.compile(r"\s*([(\[])\s*(.+?)\s*,\s*(.+?)\s*([)\]])\s*")
_USAGE = ("declare a parameter as 'positive', 'nonnegative', 'negative', 'nonpositive', 'real', a bound such as "
          "'> -2' or '<= 1', or an interval such as '(0, 1]' or '[-1, oo)'")


def _number(text: str, declared: str) -> sp.Expr:
    try:
        v = parse_expr(text, set(), allow_infinity=True)
    except ExpressionError as exc:
        raise ParameterError(f"range {declared!r}: {exc}; {_USAGE}") from None
    if not v.is_extended_real:
        raise ParameterError(f"range {declared!r}: {text} is not a real number; {_USAGE}")
    return v


def parse_domain(text: str | sp.Set) -> sp.Set:
    """The interval of values an assumption allows.

    >>> parse_domain("(0, 1]"), parse_domain(">= -1/2"), parse_domain("nonnegative")
    (Interval.Lopen(0, 1), Interval(-1/2, oo), Interval(0, oo))
    >>> parse_domain("(1, 0)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nonlocal_calc.parameters.ParameterError: range '(1, 0)' is empty; declare a parameter as ...
    """
    if isinstance(text, sp.Set):
        domain = text
    elif not isinstance(text, str):
        raise ParameterError(f"expected an assumption as a string, got {type(text).__name__}; {_USAGE}")
    elif text.strip().lower() in _WORDS:
        domain = _WORDS[text.strip().lower()]
    elif m := _BOUND.fullmatch(text):
        op, v = m.group(1), _number(m.group(2), text)
        if not v.is_finite:
            raise ParameterError(f"range {text!r}: the bound must be a finite number; {_USAGE}")
        domain = {">": sp.Interval.open(v, sp.oo), ">=": sp.Interval(v, sp.oo),
                  "<": sp.Interval.open(-sp.oo, v), "<=": sp.Interval(-sp.oo, v)}[op]
    elif m := _INTERVAL.fullmatch(text):
        lo, hi = _number(m.group(2), text), _number(m.group(3), text)
        domain = sp.Interval(lo, hi, left_open=m.group(1) == "(" or lo == -sp.oo, right_open=m.group(4) == ")"
                             or hi == sp.oo)
    else:
        raise ParameterError(f"cannot read the range {text!r}; {_USAGE}")
    if not isinstance(domain, sp.Interval) or domain.measure == 0:
        raise ParameterError(f"range {text!r} is empty; {_USAGE}")
    return domain


_RESERVED = set(SYMBOLS) | set(CONSTANTS) | set(FUNCTIONS) | {"Piecewise", "oo", "inf", "nan", "I", "True", "False"}


@dataclass(frozen=True)
class Parameter:
    """A free parameter: ``name``, the assumption as declared (``assumption``) and the interval it means."""

    name: str
    assumption: str | sp.Set = "real"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name.startswith("_"):
            raise ParameterError(f"a parameter's name must be a plain identifier such as 'beta', got {self.name!r}")
        if self.name in _RESERVED:
            raise ParameterError(f"{self.name!r} cannot name a parameter: it already means a variable, a constant or "
                                 "a function in formulas; choose another name")
        _ = self.domain  # refuse a bad assumption now

    @cached_property
    def domain(self) -> sp.Interval:
        return parse_domain(self.assumption)

    @cached_property
    def symbol(self) -> sp.Symbol:
        """The SymPy symbol, with the strongest assumption SymPy can hold about the domain."""
        d = self.domain
        for words, interval in (("positive", _WORDS["positive"]), ("nonnegative", _WORDS["nonnegative"]),
                                ("negative", _WORDS["negative"]), ("nonpositive", _WORDS["nonpositive"])):
            if d.is_subset(interval):
                return sp.Symbol(self.name, **{words: True})
        return sp.Symbol(self.name, real=True)

    def check(self, value) -> sp.Expr:
        """``value`` as an exact number, once it is a real number inside the domain (else a ParameterError)."""
        if isinstance(value, sp.Basic):
            v = value
        elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ParameterError(f"parameter {self.name} needs a real number, got {value!r}")
        elif isinstance(value, str):
            try:
                v = parse_expr(value, set())
            except ExpressionError as exc:
                raise ParameterError(f"parameter {self.name}: {exc}") from None
        else:
            if value != value or value in (float("inf"), float("-inf")):
                raise ParameterError(f"parameter {self.name} needs a finite real number, got {value!r}")
            v = exact_number(value)
        if v.free_symbols or not v.is_extended_real or not v.is_finite:
            raise ParameterError(f"parameter {self.name} needs a finite real number, got {value!r}")
        if self.domain.contains(v) is not sp.true:
            raise ParameterError(f"parameter {self.name} = {value} is outside its range {_show(self.domain)} "
                                 f"(declared {self.assumption!r})")
        return v

    def samples(self) -> list[sp.Rational]:
        """A few values spread over the domain, away from simple numbers (where formulas have special cases)."""
        lo, hi = self.domain.inf, self.domain.sup
        if lo.is_finite and hi.is_finite:
            return [lo + (hi - lo) * sp.Rational(k, 100) for k in (13, 52, 87)]
        if lo.is_finite:
            return [lo + sp.Rational(k, 100) for k in (37, 131, 373)]
        if hi.is_finite:
            return [hi - sp.Rational(k, 100) for k in (37, 131, 373)]
        return [sp.Rational(k, 100) for k in (-131, 37, 213)]


def _show(d: sp.Interval) -> str:
    return f"{'(' if d.left_open else '['}{d.inf}, {d.sup}{')' if d.right_open else ']'}"


def declare(params: dict | None) -> tuple[Parameter, ...]:
    """``{"beta": "positive"}`` (or ``{"beta": Parameter(...)}``) as a tuple of parameters.

    >>> declare({"p": "> -2", "beta": "positive"})
    (Parameter(name='p', assumption='> -2'), Parameter(name='beta', assumption='positive'))
    """
    if params is None:
        return ()
    if not isinstance(params, dict):
        raise ParameterError(f"params must be a dict of names and assumptions, e.g. {{'beta': 'positive'}}; "
                             f"got {type(params).__name__}")
    out = []
    for name, spec in params.items():
        if isinstance(spec, Parameter):
            if spec.name != name:
                raise ParameterError(f"params[{name!r}] is the parameter {spec.name!r}: the names differ")
            out.append(spec)
        else:
            out.append(Parameter(name, spec))
    return tuple(out)


def merge(*groups: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
    """The parameters of several objects together; one name with two different ranges is refused."""
    seen: dict[str, Parameter] = {}
    for group in groups:
        for par in group:
            other = seen.setdefault(par.name, par)
            if other.domain != par.domain:
                raise ParameterError(f"parameter {par.name} is declared with two ranges, {_show(other.domain)} and "
                                     f"{_show(par.domain)}; give the activation's and the kernel's parameters "
                                     "different names")
    return tuple(seen.values())


def values(parameters: tuple[Parameter, ...], given: dict) -> dict[sp.Symbol, sp.Expr]:
    """``{symbol: number}`` for the values ``given`` by name, each checked against its parameter's range."""
    byname = {p.name: p for p in parameters}
    unknown = sorted(set(given) - set(byname))
    if unknown:
        known = ", ".join(byname) or "none"
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)}; the parameters here are: {known}")
    return {byname[n].symbol: byname[n].check(v) for n, v in given.items()}


def decide(expr: sp.Expr, parameters: tuple[Parameter, ...]) -> sp.Expr:
    """``expr`` with each Piecewise condition on one parameter alone decided over that parameter's range:
    true on the whole range -> the branch is taken, false on it -> dropped, otherwise kept (a genuine case such
    as ``p = -1``). Conditions on x or delta are left as they are. Decided exactly, with sets, not by sampling.

    >>> p = Parameter("p", "> -1")
    >>> e = sp.Piecewise((1 / (p.symbol + 1), sp.Ne(p.symbol, -1)), (sp.log(2), True))
    >>> decide(e, (p,))
    1/(p + 1)
    >>> decide(e, (Parameter("p", "real"),))
    Piecewise((1/(p + 1), Ne(p, -1)), (log(2), True))
    """
    if not parameters or not expr.has(sp.Piecewise):
        return expr
    domains = {p.symbol: p.domain for p in parameters}

    def verdict(cond) -> bool | None:
        if cond in (sp.true, sp.false):
            return bool(cond)
        syms = cond.free_symbols
        if len(syms) != 1 or next(iter(syms)) not in domains:
            return None
        (s,) = syms
        try:
            where = cond.as_set()
        except (NotImplementedError, TypeError, ValueError):
            return None
        if domains[s].is_subset(where):
            return True
        return False if domains[s].intersect(where) is sp.S.EmptySet else None

    def one(pw: sp.Piecewise) -> sp.Expr:
        kept, changed = [], False
        for val, cond in pw.args:
            v = verdict(cond)
            changed |= v is not None and cond not in (sp.true, sp.false)
            if v is False:
                continue
            kept.append((val, sp.true if v else cond))
            if v:
                break
        if not changed or not kept:
            return pw  # (rebuilt, SymPy would rewrite the engine's conditions x < b - delta as delta < b - x)
        if len(kept) == 1 and kept[0][1] == sp.true:
            return kept[0][0]
        return sp.Piecewise(*kept, evaluate=False)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), one)


def special_values(expr: sp.Expr, parameters: tuple[Parameter, ...]) -> dict[sp.Symbol, list[sp.Expr]]:
    """Values of each parameter where a condition of ``expr`` on it changes (``Ne(p, -1)``, ``p < 0``), inside its
    range: a branch that holds at one point only is checked there.

    >>> p = Parameter("p", "> -2")
    >>> special_values(sp.Piecewise((1, (p.symbol > -1) | (p.symbol < -1)), (0, True)), (p,))
    {p: [-1]}
    """
    out: dict[sp.Symbol, list[sp.Expr]] = {}
    syms = {p.symbol: p for p in parameters}
    for pw in expr.atoms(sp.Piecewise):
        for _, cond in pw.args:
            free = cond.free_symbols
            if len(free) != 1 or (s := next(iter(free))) not in syms:
                continue
            try:
                ends = cond.as_set().boundary
            except (NotImplementedError, TypeError, ValueError):
                continue
            if isinstance(ends, sp.FiniteSet):
                out.setdefault(s, [])
                out[s] += [v for v in ends if syms[s].domain.contains(v) is sp.true and v not in out[s]]
    return out


def sample_points(parameters: tuple[Parameter, ...], expr: sp.Expr | None = None) -> list[dict]:
    """Substitutions that spread the parameters over their ranges (three), plus one for each special value of a
    parameter that a condition of ``expr`` singles out (the others at their first sample)."""
    if not parameters:
        return [{}]
    cols = [p.samples() for p in parameters]
    points = [{p.symbol: col[i] for p, col in zip(parameters, cols)} for i in range(3)]
    if expr is not None:
        for s, vs in special_values(expr, parameters).items():
            points += [{**points[0], s: v} for v in vs]
    return points
