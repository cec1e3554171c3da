"""Activation functions: the lecture's table, plus softplus, ELU, SiLU and GELU.

An activation is a SymPy expression in ``nlc.x``; a piecewise one is stored as its
smooth pieces between kinks (``breakpoints``), right-continuous at each kink.

>>> from nonlocal_calc import activations
>>> relu = activations.get("relu")
>>> relu.expr
Piecewise((0, x < 0), (x, True))
>>> relu.breakpoints
(0,)
>>> activations.get("sigmoid").name
'logistic'
>>> activations.get("leaky_relu").params
{'slope': 1/100}
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, wraps

import sympy as sp

from . import parameters as _parameters
from .parameters import Parameter, ParameterError
from .parsing import ExpressionError, parse_expr
from .symbols import x


class ActivationError(ValueError):
    """An activation could not be built or found."""


@dataclass(frozen=True, eq=False)
class Activation:
    """An activation function s(x), stored as smooth ``pieces`` between sorted ``breakpoints``.

    ``pieces[i]`` is the formula on ``(breakpoints[i-1], breakpoints[i])`` (the ends are -oo and oo).
    """

    name: str
    pieces: tuple[sp.Expr, ...]
    breakpoints: tuple[sp.Expr, ...] = ()
    params: dict = field(default_factory=dict)
    description: str = ""
    #: Free parameters (their symbols appear in the pieces); :meth:`subs` gives them values.
    parameters: tuple[Parameter, ...] = ()
    #: ``rebuild(values, remaining)``: the activation with ``values`` ({symbol: number}) substituted, built as a
    #: direct call with those numbers would build it (None: substitute in the pieces).
    rebuild: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if len(self.pieces) != len(self.breakpoints) + 1:
            raise ActivationError("an activation needs one more piece than breakpoints")
        symbolic_params = set().union(*(sp.sympify(v).free_symbols for v in self.params.values()),
                                      {p.symbol for p in self.parameters})
        for p in self.pieces:
            extra = sp.sympify(p).free_symbols - {x} - symbolic_params
            if extra:
                raise ActivationError(
                    f"activation {self.name}: symbols other than x ({', '.join(map(str, extra))}); give them values"
                )

    @cached_property
    def expr(self) -> sp.Expr:
        """The activation as one SymPy expression (a Piecewise if it has kinks)."""
        if not self.breakpoints:
            return self.pieces[0]
        branches = [(p, x < b) for p, b in zip(self.pieces, self.breakpoints)]
        return sp.Piecewise(*branches, (self.pieces[-1], True))

    @cached_property
    def derivative(self) -> sp.Expr:
        """s'(x) away from the kinks (right-continuous Piecewise); at a kink see :meth:`kink_derivative`."""
        d = [_tidy(sp.diff(p, x)) for p in self.pieces]
        return Activation(self.name + "'", tuple(d), self.breakpoints).expr

    def kink_derivative(self, b: sp.Expr) -> sp.Expr:
        """The average of the one-sided derivatives at kink ``b``: the delta -> 0 limit of D_mu s(b)."""
        i = self.breakpoints.index(b)
        left, right = (sp.diff(self.pieces[j], x).subs(x, b) for j in (i, i + 1))
        return _tidy((left + right) / 2)

    def piece_at(self, value: float) -> sp.Expr:
        """The formula that holds at the number ``value`` (right-continuous at kinks)."""
        for p, b in zip(self.pieces, self.breakpoints):
            if value < b:
                return p
        return self.pieces[-1]

    @property
    def is_smooth(self) -> bool:
        return not self.breakpoints

    @property
    def is_piecewise_polynomial(self) -> bool:
        return all(sp.sympify(p).is_polynomial(x) for p in self.pieces)

    def key(self) -> str:
        """A string that identifies the function (for caches); a parameter's range is part of it."""
        ranges = "".join(f"|{p.name} in {p.domain}" for p in self.parameters)
        return sp.srepr((self.pieces, self.breakpoints)) + ranges

    def subs(self, **values) -> Activation:
        """The activation with numbers for some or all of its parameters, each checked against its range.

        >>> swish = Activation.from_expr("x/(1+exp(-beta*x))", params={"beta": "positive"})
        >>> swish.subs(beta=2).expr
        x/(1 + exp(-2*x))
        >>> swish.subs(beta=0)
        Traceback (most recent call last):
        ...
        nonlocal_calc.parameters.ParameterError: parameter beta = 0 is outside its range (0, oo) (declared 'positive')
        """
        vals = _parameters.values(self.parameters, values)
        remaining = tuple(p for p in self.parameters if p.symbol not in vals)
        if not vals:
            return self
        if self.rebuild is not None:
            return self.rebuild(vals, remaining)
        return replace(self, pieces=tuple(p.subs(vals) for p in self.pieces), parameters=remaining,
                       params={k: sp.sympify(v).subs(vals) for k, v in self.params.items()})

    def __repr__(self) -> str:
        return f"Activation({self.name}: {self.expr})"

    # ------------------------------------------------------------------ builders
    @staticmethod
    def from_expr(text: str | sp.Expr, name: str | None = None, params: dict | None = None) -> Activation:
        """An activation from a formula in ``x``; ``abs``, ``max``, ``min``, ``sign`` and ``heaviside`` become kinks.

        ``params`` declares free parameters by name and range (see :mod:`nonlocal_calc.parameters`): they stay
        symbolic through :func:`~nonlocal_calc.derivation.derive`, and :meth:`subs` gives them values.

        >>> Activation.from_expr("x/(1+exp(-x))", name="swish").expr
        x/(1 + exp(-x))
        >>> Activation.from_expr("max(0, x) - max(0, x - 1)", name="hardclip").breakpoints
        (0, 1)
        >>> Activation.from_expr("x/(1+exp(-beta*x))", params={"beta": "positive"}).parameters
        (Parameter(name='beta', assumption='positive'),)
        """
        try:
            declared = _parameters.declare(params)
        except ParameterError as exc:
            raise ActivationError(f"activation {text}: {exc}") from None
        symbols = {p.name: p.symbol for p in declared}
        if isinstance(text, str):
            try:
                expr = parse_expr(text, {"x"}, extra=symbols)
            except ExpressionError as exc:
                raise ActivationError(str(exc)) from None
        else:
            expr = sp.sympify(text)
        extra = expr.free_symbols - {x} - set(symbols.values())
        if extra:
            raise ActivationError(
                f"activation {expr} has symbols other than x: {', '.join(sorted(map(str, extra)))}; give them values, "
                "or declare them as parameters (params={'name': 'positive'}, or a range such as '> -1')"
            )
        unused = [p.name for p in declared if p.symbol not in expr.free_symbols]
        if unused:
            raise ActivationError(f"activation {expr}: the parameter(s) {', '.join(unused)} do not appear in it")
        act = _split(expr, name or str(expr), declared)
        if not declared:
            return act

        def rebuild(vals, remaining):
            return Activation.from_expr(expr.subs(vals), name, {p.name: p for p in remaining})

        return replace(act, parameters=declared, rebuild=rebuild)


def _split(expr: sp.Expr, name: str, parameters: tuple[Parameter, ...] = ()) -> Activation:
    """Cut an expression with Abs/Max/Min/sign/Heaviside/Piecewise into smooth pieces."""
    kinky = (sp.Abs, sp.Max, sp.Min, sp.sign, sp.Heaviside, sp.Piecewise)
    if not expr.has(*kinky):
        return Activation(name, (expr,), (), parameters=parameters)
    pw = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
    points: set[sp.Expr] = set()
    for _, cond in pw.args if isinstance(pw, sp.Piecewise) else []:
        for rel in cond.atoms(sp.Rel):
            sol = sp.solve(sp.Eq(rel.lhs, rel.rhs), x)
            points.update(s for s in sol if s.is_real)
    if any(b.free_symbols for b in points):
        raise ActivationError(f"activation {name}: kinks must be at numbers, got {tuple(points)}")
    bps = tuple(sorted(points, key=lambda b: float(b)))
    probes = _probes(bps)
    pieces = tuple(_piece_formula(pw, pt) for pt in probes)
    return Activation(name, pieces, bps, parameters=parameters)


#: Pieces with more operations than this are kept as written: SymPy's simplify grows steeply with the size (a
#: 33-operation piece of a typed three-term sum took 10 s, its neighbour 42 s, and both came out larger).
SIMPLIFY_OPS = 20


def _tidy(e: sp.Expr) -> sp.Expr:
    """``simplify(e)`` for a small formula; a large one unchanged (the same function, in bounded time).

    >>> _tidy(sp.sympify("(1/2 - x)*(x - 1/2)"))
    -x**2 + x - 1/4
    """
    return sp.simplify(e) if sp.count_ops(e) <= SIMPLIFY_OPS else e


def _probes(bps: tuple[sp.Expr, ...]) -> list[sp.Expr]:
    """One point inside each interval between kinks."""
    if not bps:
        return [sp.Integer(0)]
    pts = [bps[0] - 1]
    pts += [(a + b) / 2 for a, b in zip(bps, bps[1:])]
    return pts + [bps[-1] + 1]


def _piece_formula(pw: sp.Expr, point: sp.Expr) -> sp.Expr:
    """The branch of a Piecewise that holds around ``point``."""
    if not isinstance(pw, sp.Piecewise):
        return pw
    for e, c in pw.args:
        if c.subs(x, point) == sp.true:
            return _tidy(_piece_formula(e, point))
    raise ActivationError(f"no branch of {pw} holds at x = {point}")


# ------------------------------------------------------------------ catalogue
def _pw(name, left, right, b=0, **kw) -> Activation:
    return Activation(name, (sp.sympify(left), sp.sympify(right)), (sp.sympify(b),), **kw)


def _param(value, name):
    if isinstance(value, Parameter):
        return value.symbol
    v = sp.sympify(value)
    v = v if v.free_symbols else sp.nsimplify(v, rational=True)  # a Symbol keeps the parameter symbolic
    if not v.is_real:
        raise ActivationError(f"parameter {name} must be a real number, got {value!r}")
    return v


def _family(build):
    """A catalogue constructor that also takes :class:`~nonlocal_calc.parameters.Parameter` values: the activation
    keeps them free, and its ``subs`` calls the constructor again with the numbers."""

    @wraps(build)
    def wrapper(*args, **kwargs):
        bound = dict(zip(build.__code__.co_varnames, args), **kwargs)
        free = tuple(v for v in bound.values() if isinstance(v, Parameter))
        act = build(**bound)
        if not free:
            return act

        def rebuild(vals, remaining):
            return wrapper(**{k: vals.get(v.symbol, v) if isinstance(v, Parameter) else v for k, v in bound.items()})

        return replace(act, parameters=_parameters.merge(free), rebuild=rebuild)

    return wrapper


def identity() -> Activation:
    return Activation("identity", (x,))


def binary_step() -> Activation:
    return _pw("binary_step", 0, 1)


def logistic() -> Activation:
    return Activation("logistic", (1 / (1 + sp.exp(-x)),))


def tanh() -> Activation:
    return Activation("tanh", (sp.tanh(x),))


def arctan() -> Activation:
    return Activation("arctan", (sp.atan(x),))


def softsign() -> Activation:
    return _pw("softsign", x / (1 - x), x / (1 + x))


@_family
def isru(alpha=1) -> Activation:
    a = _param(alpha, "alpha")
    if not a.is_positive:
        raise ActivationError(f"ISRU needs alpha > 0, got {alpha!r}")
    return Activation("isru", (x / sp.sqrt(1 + a * x**2),), params={"alpha": a})


def relu() -> Activation:
    return _pw("relu", 0, x)


@_family
def leaky_relu(slope=0.01) -> Activation:
    a = _param(slope, "slope")
    return _pw("leaky_relu", a * x, x, params={"slope": a})


@_family
def prelu(alpha=0.25) -> Activation:
    a = _param(alpha, "alpha")
    return _pw("prelu", a * x, x, params={"alpha": a})


def softplus() -> Activation:
    return Activation("softplus", (sp.log(1 + sp.exp(x)),))


@_family
def elu(alpha=1) -> Activation:
    a = _param(alpha, "alpha")
    return _pw("elu", a * (sp.exp(x) - 1), x, params={"alpha": a})


@_family
def silu(beta=1) -> Activation:
    """SiLU, and swish ``x sigmoid(beta x)`` for beta > 0 (``silu(Parameter("beta", "positive"))``: every beta).

    >>> silu("1/2").expr
    x/(1 + exp(-x/2))
    """
    b = _param(beta, "beta")
    if not b.is_positive:
        raise ActivationError(f"swish needs beta > 0, got {beta!r}")
    return Activation("silu", (x / (1 + sp.exp(-b * x)),), params={"beta": b} if b != 1 else {})


def gelu() -> Activation:
    return Activation("gelu", (x * (1 + sp.erf(x / sp.sqrt(2))) / 2,))


#: The catalogue, in the lecture's order followed by the additions.
CATALOGUE = {
    f.__name__: f
    for f in (identity, binary_step, logistic, tanh, arctan, softsign, isru, relu, leaky_relu, prelu,
              softplus, elu, silu, gelu)
}
ALIASES = {
    "linear": "identity", "id": "identity", "step": "binary_step", "heaviside": "binary_step",
    "sigmoid": "logistic", "soft_step": "logistic", "atan": "arctan", "lrelu": "leaky_relu",
    "leaky": "leaky_relu", "swish": "silu", "smooth_relu": "softplus",
}


def names() -> list[str]:
    """The catalogue names (aliases such as ``sigmoid`` are accepted by :func:`get` too)."""
    return list(CATALOGUE)


def get(name: str | Activation, **params) -> Activation:
    """A catalogue activation by name (or alias), with its parameters, e.g. ``get("elu", alpha=0.5)``."""
    if isinstance(name, Activation):
        return name
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in CATALOGUE:
        raise ActivationError(
            f"unknown activation {name!r}; known: {', '.join(CATALOGUE)} (aliases: {', '.join(sorted(ALIASES))}); "
            "or give a formula with Activation.from_expr / --activation-expr"
        )
    try:
        return CATALOGUE[key](**params)
    except TypeError:
        raise ActivationError(f"activation {key} does not take parameters {sorted(params)}") from None
