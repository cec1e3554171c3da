"""A SymPy -> Python printer for Numba scalar code, dtype-generic and real-valued.

:class:`NumbaPrinter` is a SymPy code printer (on ``AbstractPythonCodePrinter``, like SymPy's own Python and
NumPy printers and :class:`nonlocal_calc.torch.printer.TorchCodePrinter`): one ``_print_<Class>`` method per
construct, the library functions in a table (:data:`FUNCTIONS`), the options in ``_default_settings``, the
special functions a printed expression calls recorded in ``helpers`` as it prints. It is strict: only the
constructs the code generator emits are printed, anything else is refused with an error naming the construct.

Numbers become ``T(c)`` with ``T`` the float type of the arguments, so a float32 call computes in float32
throughout. Numerically better library functions are chosen where SymPy's form would lose accuracy:
``log(1 + a) -> log1p(a)``, ``exp(a) - 1 -> expm1(a)`` and ``c - c exp(a) -> -c expm1(a)`` (:func:`.stable.expm1_form`),
``log(1 + exp(u)) -> _log1pexp(u)``,
``Li_s(-exp(u)) -> _li{s}_negexp(u)`` (orders 2 to 4; ``_polylog_negexp(s, u)`` for any other) (these special
functions run in float64: see :func:`.specfun.call`).

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> p = NumbaPrinter()
>>> p.doprint(sp.log(1 + sp.exp(x)) / delta**2)
'T(_log1pexp_d(np.float64(x))) / (delta * delta)'
>>> p.doprint(sp.Piecewise((0, x < 0), (x / delta, True)))
'(T(0.0) if x < T(0.0) else x / delta)'
>>> sorted(p.helpers)
['_log1pexp']
>>> NumbaPrinter(vector_math=True, width=32).doprint(sp.exp(x) + sp.log(x))
'_vexp32(x) + _vlog32(x)'
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import AbstractPythonCodePrinter

from ..symbols import delta as _delta
from ..symbols import x as _x
from . import specfun
from .stable import expm1_form


class PrinterError(ValueError):
    """The expression contains something the code generator cannot compile."""


#: The library functions of one argument (by SymPy class name, as SymPy's printers key them). The functions of
#: :mod:`.stable` (``expm1``, ``log1p``) print as their ``math`` namesakes.
FUNCTIONS = {
    "exp": "math.exp", "log": "math.log", "sin": "math.sin", "cos": "math.cos", "tan": "math.tan",
    "sinh": "math.sinh", "cosh": "math.cosh", "tanh": "math.tanh", "asin": "math.asin", "acos": "math.acos",
    "atan": "math.atan", "asinh": "math.asinh", "acosh": "math.acosh", "atanh": "math.atanh", "erf": "math.erf",
    "erfc": "math.erfc", "gamma": "math.gamma", "loggamma": "math.lgamma", "expm1": "math.expm1",
    "log1p": "math.log1p", "Abs": "abs", "sqrt": "math.sqrt", "floor": "math.floor", "ceiling": "math.ceil",
    "atan2": "math.atan2", "pow": "math.pow",
}

#: With ``vector_math``: the branch-free versions of :mod:`.runtime.vmath` (LLVM vectorizes loops that call them).
VECTOR_FUNCTIONS = {"exp": "_vexp", "log": "_vlog", "log1p": "_vlog1p"}

#: Binding strength of the outermost operation of printed code: a part is parenthesized inside an operation that
#: binds more strongly (``_print`` returns :class:`Printed` text that carries it).
PREC = {"atom": 100, "call": 100, "pow": 60, "unary": 50, "mul": 40, "add": 30, "cmp": 20, "not": 15, "and": 12,
        "or": 10, "ternary": 5}

#: The SymPy classes printed (functions: those in the table or with a ``_print_<name>`` method of NumbaPrinter).
_PRINTED = (sp.Symbol, sp.Rel, sp.And, sp.Or, sp.Not, sp.Piecewise, sp.Add, sp.Mul, sp.Pow, sp.Function, sp.Min,
            sp.Max, sp.logic.boolalg.BooleanAtom)


def _power_of_two(r: sp.Rational) -> bool:
    p, q = abs(int(r.p)), int(r.q)
    return p & (p - 1) == 0 and q & (q - 1) == 0


def exact_bound(e) -> bool:
    """Whether a bound of x (a cell end) is exact in every float type: x, a dyadic constant (0, 1/2, -3/2), ``+-2^j
    delta`` (or x) or the Min/Max of such. ``x < b`` needs no float64 then (:meth:`NumbaPrinter.condition`).

    >>> from nonlocal_calc.symbols import x, delta
    >>> exact_bound(-delta), exact_bound(delta / 2), exact_bound(delta - sp.Rational(3, 2)), exact_bound(3 * delta)
    (True, True, False, False)
    """
    if e == _x or e == _delta:
        return True
    if isinstance(e, sp.Rational):
        return int(e.q) & (int(e.q) - 1) == 0 and abs(int(e.p)) < 2**24
    if isinstance(e, sp.Mul) and len(e.args) == 2 and e.args[0].is_Rational and e.args[1] in (_x, _delta):
        return _power_of_two(e.args[0])
    if isinstance(e, (sp.Min, sp.Max)):
        return all(exact_bound(a) for a in e.args)
    if e in (sp.oo, sp.S.NegativeInfinity):
        return True
    return False


def exact_condition(c) -> bool:
    """Whether every end the condition ``c`` compares with is exact in every float type (:func:`exact_bound`):
    such a condition is decided right in the data's own type."""
    if isinstance(c, (sp.And, sp.Or, sp.Not)):
        return all(exact_condition(a) for a in c.args)
    if isinstance(c, sp.Rel):
        return exact_bound(c.lhs) and exact_bound(c.rhs)
    return c in (sp.true, sp.false)


def _is_x(e) -> bool:
    """x, or x clamped (``Clamp(x, lo, hi)`` of :mod:`.fastpath`: x itself where its formula is selected)."""
    return e == _x or (type(e).__name__ == "Clamp" and e.args[0] == _x)


def inexact_constant(e, is_var) -> sp.Rational | None:
    """The rational c of a sum ``v + c`` (or ``c - v``, plus other terms; ``is_var(v)`` true) that no float holds
    (1/3, the kink of ``Max(x - 1/3, 0)``), else None. The printers write such a sum as ``(rest + c_hi) + c_lo``:
    near v = -c, where closed forms and cuts are most sensitive, it keeps every bit of the exact difference.

    >>> from nonlocal_calc.symbols import x
    >>> inexact_constant(x - sp.Rational(1, 3), _is_x), inexact_constant(x - sp.Rational(1, 2), _is_x)
    (-1/3, None)
    """
    consts = [a for a in e.args if a.is_Rational]
    if len(consts) != 1 or not any(abs(a.as_coeff_Mul()[0]) == 1 and is_var(a.as_coeff_Mul()[1]) for a in e.args):
        return None
    q = int(consts[0].q)
    return None if q & (q - 1) == 0 else consts[0]  # a dyadic rational is exact (for the exponents that occur)


class Printed(str):
    """Printed code and the :data:`PREC` of its outermost operation."""

    prec: int

    def __new__(cls, text: str, prec: str) -> Printed:
        out = super().__new__(cls, text)
        out.prec = PREC[prec]
        return out


def number_literal(value) -> str:
    """The Python literal of a real constant (17 significant digits)."""
    v = sp.N(value, 30)
    if not v.is_real:
        raise PrinterError(f"complex constant {value} in a real expression")
    return repr(float(v))


class NumbaPrinter(AbstractPythonCodePrinter):
    """Print SymPy expressions as dtype-generic Python for ``numba.njit``.

    Settings: ``names`` maps symbols to variable names (default: ``x`` and ``delta`` keep theirs; callers add the
    temporaries they assign to ``printer.names``); ``vector_math`` prints exp, log and log1p as the branch-free
    functions of :data:`VECTOR_FUNCTIONS`, ``width`` (32 or 64) as their versions of one float width (the generic
    ones dispatch on the type, and Numba would compile both); ``float_type``: the name of the float type that
    constants are converted to. ``helpers`` collects the special functions the printed code calls (see
    :mod:`.specfun`).
    """

    printmethod = "_numbacode_nonlocal"
    _kf = FUNCTIONS
    _default_settings = dict(AbstractPythonCodePrinter._default_settings, names=None, vector_math=False, width=None,
                             float_type="T", wide_conditions=False)
    #: Functions printed by a method of their own rather than from a table.
    _OWN_FUNCTIONS = frozenset({"log", "polylog", "LiNegExp", "sign", "Heaviside", "Max", "Min", "floor", "ceiling",
                                "atan2", "Clamp"})

    def __init__(self, names: dict | None = None, vector_math: bool = False, width: int | None = None,
                 settings: dict | None = None, wide_conditions: bool = False):
        super().__init__({"names": names, "vector_math": vector_math, "width": width, "wide_conditions": wide_conditions,
                          **(settings or {})})
        if width not in (None, 32, 64):
            raise ValueError(f"width {width!r}: use 32, 64 or None (the generic functions)")
        self.names = {_x: "x", _delta: "delta"}
        self.names.update(names or {})
        self.helpers: set[str] = set()
        if vector_math:
            suffix = "" if width is None else str(width)
            self.known_functions.update(VECTOR_FUNCTIONS)
            self.known_functions.update({f: VECTOR_FUNCTIONS[f] + suffix for f in ("exp", "log")})

    # ------------------------------------------------------------------ entry
    def wide(self) -> NumbaPrinter:
        """A printer of float64 code for the same names: x and delta widened (``np.float64(x)``), constants
        ``np.float64(c)``. Float32 code decides with it which formula applies (:meth:`condition`)."""
        names = {s: (f"np.float64({n})" if s in (_x, _delta) else n) for s, n in self.names.items()}
        return NumbaPrinter(names, settings={"float_type": "np.float64"})

    def condition(self, cond) -> str:
        """A condition (``x < b + k*delta``, ``delta < c``) evaluated in float64, whatever the float type: a float32
        ``b + k*delta`` rounds, and a float32 x within that rounding of it took the formula of the wrong cell
        (3.0 where the value is 2.9919718684 at 4.3e-8 from a cell end, with delta = 8e-6).

        >>> from nonlocal_calc.symbols import x, delta
        >>> NumbaPrinter().condition(x < delta - sp.Rational(3, 2))
        'np.float64(x) < np.float64(delta) - np.float64(1.5)'
        >>> NumbaPrinter().condition(x < -delta)  # (exact in float32: see exact_bound)
        'x < -delta'
        """
        if exact_condition(cond):  # (x < +-delta, x < 0: the float type decides them exactly)
            return self.wrap(cond, PREC["ternary"] + 1)
        sub = self.wide()
        out = sub.doprint(cond)
        self.helpers |= sub.helpers
        return out

    def function(self, name: str) -> str:
        """The name a function of :data:`FUNCTIONS` prints as (recording the helper it needs, if any)."""
        out = self.known_functions[name]
        if name in VECTOR_FUNCTIONS and self._settings["vector_math"]:
            self.helpers.add(VECTOR_FUNCTIONS[name])
        return self._module_format(out)

    def wrap(self, expr, level: int) -> str:
        """``expr`` printed, in parentheses if its outermost operation binds less strongly than ``level``."""
        s = self._print(expr)
        return f"({s})" if getattr(s, "prec", PREC["atom"]) < level else str(s)

    def _print(self, expr, **kwargs):
        if isinstance(expr, sp.UnevaluatedExpr):  # (a grouping the caller asked SymPy to keep)
            return self._print(expr.args[0])
        if isinstance(expr, sp.Expr) and not isinstance(expr, sp.Piecewise) and expr.is_number:
            return self._print_number(expr)
        if not isinstance(expr, _PRINTED):
            return self.emptyPrinter(expr)
        if isinstance(expr, sp.Function) and not isinstance(expr, sp.Piecewise) and not self._knows(type(expr).__name__):
            raise PrinterError(f"cannot compile the function {type(expr).__name__} (in {expr})")
        return super()._print(expr, **kwargs)

    def _knows(self, name: str) -> bool:
        return (name in self._OWN_FUNCTIONS or name in specfun.FIXED
                or (name in self.known_functions and name not in ("sqrt", "pow")))

    def emptyPrinter(self, expr):
        if isinstance(expr, sp.Integral):
            raise PrinterError("cannot compile an unevaluated Integral (a pair without closed form): pass the "
                               "NonlocalDerivative itself to jit_scalar or make_ufunc, which integrate numerically")
        raise PrinterError(f"cannot compile {type(expr).__name__}: {expr}")

    def _const(self, literal: str) -> str:
        return f"{self._settings['float_type']}({literal})"

    # ------------------------------------------------------------------ atoms
    def _print_Symbol(self, expr):
        if expr not in self.names:
            raise PrinterError(f"free symbol {expr} (only x and delta may appear)")
        return Printed(self.names[expr], "atom")

    _print_Dummy = _print_Symbol

    def _print_BooleanTrue(self, expr):
        return Printed("True", "atom")

    def _print_BooleanFalse(self, expr):
        return Printed("False", "atom")

    def _print_number(self, e):
        if e is sp.nan:  # (the limits of D at +-inf where there is none)
            return Printed(self._const("math.nan"), "call")
        if e is sp.oo:  # (the limits of D where f' grows without bound: x**2)
            return Printed(self._const("math.inf"), "call")
        if e is sp.S.NegativeInfinity:
            return Printed("-" + self._const("math.inf"), "unary")
        if e.has(sp.I) or e.is_real is False:
            raise PrinterError(f"complex constant {e}: the expression is not real")
        if e.is_zero:
            return Printed(self._const("0.0"), "call")
        lit = number_literal(e)
        if lit.startswith("-"):
            return Printed("-" + self._const(lit[1:]), "unary")
        return Printed(self._const(lit), "call")

    # ------------------------------------------------------------------ arithmetic
    def _print_Add(self, e):
        as_expm1 = expm1_form(e)  # exp(a) - 1, c - c exp(a): the rewrite of stable.accurate_functions
        if as_expm1 is not None:
            return self._print(as_expm1)
        split = self._split_constant(e)
        if split is not None:
            return Printed(split, "add")
        terms = sorted(e.args, key=lambda a: (a.is_number, sp.default_sort_key(a)))
        out = ""
        for i, t in enumerate(terms):
            neg = t.could_extract_minus_sign()
            s = self.wrap(-t if neg else t, PREC["add"] + 1)
            out = (f"-{s}" if neg else s) if i == 0 else out + (f" - {s}" if neg else f" + {s}")
        return Printed(out, "add")

    def _split_constant(self, e) -> str | None:
        """``x + c`` (or ``c - x``, plus other terms) with a rational c that no float holds (1/3, the kink of
        ``Max(x - 1/3, 0)``), as ``(rest + T(c_hi)) + T(c_lo)``, ``c_lo`` the part of c that ``T(c_hi)`` misses
        (computed in float64, so that float32 code gets it too): near x = -c, where a closed form such as
        ``sqrt(1/3 - x)`` and the cut of a quadrature at the kink are most sensitive, the sum keeps every bit of
        the exact difference (1/3 rounded alone: 9e-13 relative at 1e-8 from the kink)."""
        c = inexact_constant(e, _is_x)
        if c is None:
            return None
        op = "-" if c < 0 else "+"
        hi = float(abs(c))
        lo = float(sp.N(abs(c) - sp.Rational(hi), 30))
        rest = self.wrap(e - c, PREC["add"])
        t_hi = self._const(repr(hi))
        return f"({rest} {op} {t_hi}) {op} {self._const(f'({hi!r} - np.float64({t_hi})) + ({lo!r})')}"

    def _print_Mul(self, e):
        if e.could_extract_minus_sign():
            return Printed(f"-{self.wrap(-e, PREC['mul'] + 1)}", "unary")
        num, den = [], []
        for f in sp.Mul.make_args(e):
            if isinstance(f, sp.Pow) and f.exp.is_number and f.exp.is_negative:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            elif isinstance(f, sp.Rational) and not isinstance(f, sp.Integer) and abs(f.p) == 1:
                den.append(sp.Integer(f.q))
            else:
                num.append(f)
        ns = " * ".join(self.wrap(f, PREC["mul"]) for f in num) if num else self._const("1.0")
        if not den:
            return Printed(ns, "mul")
        if len(den) > 1:
            ds = "(" + " * ".join(self.wrap(f, PREC["mul"]) for f in den) + ")"
        else:
            ds = self.wrap(den[0], PREC["mul"] + 1)
        return Printed(f"{ns} / {ds}", "mul")

    def _print_Pow(self, e):
        b, p = e.base, e.exp
        if b == sp.E:
            return self._print(sp.exp(p))
        if p.is_Integer:
            n = int(p)
            if n < 0:
                return Printed(f"{self._const('1.0')} / {self.wrap(sp.Pow(b, -n, evaluate=False), PREC['mul'] + 1)}",
                               "mul")
            if n <= 8:
                return Printed(" * ".join([self.wrap(b, PREC["mul"] + 1)] * n), "mul")
            return Printed(f"{self.wrap(b, PREC['pow'] + 1)} ** {n}", "pow")
        if p.is_Rational and p.q == 2:  # sqrt(b) times integer powers of b
            root = f"{self.function('sqrt')}({self._print(b)})"
            s = " * ".join([root] + [self.wrap(b, PREC["mul"] + 1)] * ((abs(p.p) - 1) // 2))
            return Printed(f"{self._const('1.0')} / ({s})" if p < 0 else s, "mul")
        exponent = self._const(number_literal(p)) if p.is_number else self._print(p)
        return Printed(f"{self.function('pow')}({self._print(b)}, {exponent})", "call")

    # ------------------------------------------------------------------ functions
    def _print_Function(self, e):
        """A function of the table (:data:`FUNCTIONS`) or a special function of fixed code (``specfun.FIXED``)."""
        name = type(e).__name__
        if name in specfun.FIXED:
            return self._special(specfun.FIXED[name], e.args[0])
        return Printed(f"{self.function(name)}({self._print(e.args[0])})", "call")

    def _special(self, name: str, arg) -> Printed:
        """A call of one of :mod:`.specfun`'s float64 special functions."""
        self.helpers.add(name)
        return Printed(specfun.call(name, self._print(arg)), "call")

    def _polylog(self, fixed: str, general: str, s: int, arg) -> Printed:
        """A polylogarithm of order s: the helper of that order where there is one (``fixed``, formatted with s),
        else the helper of any order (``general``, s its first argument)."""
        if s in specfun.FIXED_ORDERS:
            return self._special(fixed.format(s=s), arg)
        self.helpers.add(general)
        return Printed(specfun.call_order(general, s, self._print(arg)), "call")

    @staticmethod
    def _order(s) -> int:
        if not (s.is_Integer and int(s) >= 0):
            raise PrinterError(f"polylog of order {s} (supported: integer orders >= 0)")
        return int(s)

    def _print_log(self, e):
        a = e.args[0]
        if isinstance(a, sp.Add) and 1 in a.args:  # log(1 + exp(u)), log(1 + r): no overflow, no cancellation
            rest = a - 1
            if isinstance(rest, sp.exp):
                return self._special("_log1pexp", rest.args[0])
            return Printed(f"{self.function('log1p')}({self._print(rest)})", "call")
        return self._print_Function(e)

    def _print_polylog(self, e):
        s, a = self._order(e.args[0]), e.args[1]
        if s == 0:
            return self._print(a / (1 - a))
        if s == 1:
            return Printed(f"-{self.function('log1p')}({self._print(-a)})", "unary")
        if isinstance(-a, sp.exp):
            return self._polylog("_li{s}_negexp", "_polylog_negexp", s, (-a).args[0])
        return self._polylog("_li{s}", "_polylog", s, a)

    def _print_LiNegExp(self, e):
        """``Li_s(-exp(u))`` of :mod:`.stable`."""
        s = self._order(e.args[0])
        if s == 1:
            return Printed("-" + self._special("_log1pexp", e.args[1]), "unary")
        return self._polylog("_li{s}_negexp", "_polylog_negexp", s, e.args[1])

    def _print_sign(self, e):
        a = self.wrap(e.args[0], PREC["cmp"] + 1)
        one, zero = self._const("1.0"), self._const("0.0")
        signed_zero = f"{self.wrap(e.args[0], PREC['mul'])} * {zero}"  # (0.0 or -0.0, NaN for NaN)
        return Printed(f"({one} if {a} > {zero} else (-{one} if {a} < {zero} else {signed_zero}))", "atom")

    def _print_Heaviside(self, e):
        a = self.wrap(e.args[0], PREC["cmp"] + 1)
        h0 = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
        one, zero = self._const("1.0"), self._const("0.0")
        return Printed(f"({one} if {a} > {zero} else ({zero} if {a} < {zero} else {self._const(number_literal(h0))}))",
                       "atom")

    def _minmax(self, e, name: str) -> Printed:
        args = [self._print(a) for a in e.args]
        out = args[0]
        for a in args[1:]:
            out = f"{name}({out}, {a})"
        return Printed(out, "call")

    def _print_Max(self, e):
        return self._minmax(e, "max")

    def _print_Min(self, e):
        return self._minmax(e, "min")

    def _print_Clamp(self, e):
        """``Clamp(x, lo, hi)`` of :mod:`.fastpath` (x clamped into [lo, hi]; -oo, oo: no bound): ``min(max(x, lo),
        hi)``; with ``wide_conditions`` in float64 and converted back (x inside the range is returned as it is:
        bounds rounded to the float type could move it by an ulp)."""
        xe, lo, hi = e.args
        if not self._settings["wide_conditions"]:
            out = xe if lo is sp.S.NegativeInfinity else sp.Max(xe, lo)
            return self._print(out if hi is sp.oo else sp.Min(out, hi))
        sub = self.wide()
        out = sub.doprint(xe)
        out = out if lo is sp.S.NegativeInfinity else f"max({out}, {sub.doprint(lo)})"
        out = out if hi is sp.oo else f"min({out}, {sub.doprint(hi)})"
        self.helpers |= sub.helpers
        return Printed(self._const(out), "call")

    def _print_floor(self, e):
        return Printed(self._const(f"{self.function(type(e).__name__)}({self._print(e.args[0])})"), "call")

    _print_ceiling = _print_floor

    def _print_atan2(self, e):
        return Printed(f"{self.function('atan2')}({self._print(e.args[0])}, {self._print(e.args[1])})", "call")

    # ------------------------------------------------------------------ logic
    _OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}

    def _print_Relational(self, e):
        if e.rel_op not in self._OPS:
            raise PrinterError(f"cannot compile the condition {e}")
        a, b = self.wrap(e.lhs, PREC["cmp"] + 1), self.wrap(e.rhs, PREC["cmp"] + 1)
        return Printed(f"{a} {self._OPS[e.rel_op]} {b}", "cmp")

    def _print_And(self, e):
        return Printed(" and ".join(self.wrap(a, PREC["and"] + 1) for a in e.args), "and")

    def _print_Or(self, e):
        return Printed(" or ".join(self.wrap(a, PREC["or"] + 1) for a in e.args), "or")

    def _print_Not(self, e):
        return Printed(f"not {self.wrap(e.args[0], PREC['not'])}", "not")

    def _print_Piecewise(self, e):
        """A chain of conditional expressions; NaN where no condition holds."""
        out = None
        for val, cond in reversed(e.args):
            v = self.wrap(val, PREC["ternary"] + 1)
            c = self.condition(cond) if self._settings["wide_conditions"] else self.wrap(cond, PREC["ternary"] + 1)
            if out is None:
                out = v if cond is sp.true else f"({v} if {c} else {self._const('math.nan')})"
                continue
            out = f"({v} if {c} else {out})"
        return Printed(out, "atom")
