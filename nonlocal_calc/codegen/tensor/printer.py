"""A SymPy printer of the code generator's stable forms as elementwise array operations, in a framework's dialect.

:class:`TensorCodePrinter` is a SymPy code printer built like SymPy's own framework printers (on
``AbstractPythonCodePrinter``: ``_print_<Class>`` methods, a function table, helpers recorded while printing),
but strict and dtype-generic where those are neither: numbers are Python floats (weakly typed: float32 data
stays float32), a Piecewise is a chain of ``where`` whose constant branches take the dtype of a reference array,
conditions are Python operators on arrays, and the functions of :mod:`nonlocal_calc.codegen.stable` get their
accurate counterparts (``expm1``, ``log1p``, ``Log1pExp -> _log1pexp``). Anything without a counterpart
(polylogarithms, ``erfi``) raises :class:`~nonlocal_calc.codegen.PrinterError`, so that the caller takes the
quadrature instead.

A framework is a subclass that sets :attr:`~TensorCodePrinter.FUNCTIONS` (the names of its functions),
:attr:`~TensorCodePrinter.HELPERS` (the text of the helpers its code calls) and the few operations whose
spelling differs (``where``, ``full_like``, ``zeros_like``, ``clip``, ``bound``, ``cast``):

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> class Numpy(TensorCodePrinter):
...     MODULE = "np"
...     FUNCTIONS = {"exp": "np.exp", "sqrt": "np.sqrt", "where": "np.where"}
>>> Numpy().doprint(sp.Piecewise((sp.exp(x), x < -delta), (sp.sqrt(x), True)))
'np.where((delta < -x), np.exp(x), np.sqrt(x))'
>>> Numpy().doprint(sp.Derivative(sp.Function("g")(x), x))  # SymPy's refusals are PrinterErrors too
Traceback (most recent call last):
...
nonlocal_calc.codegen.printer.PrinterError: no np code for Derivative: Derivative(g(x), x)
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.pycode import AbstractPythonCodePrinter

try:  # (SymPy >= 1.13; before, the same refusal was a NotImplementedError)
    from sympy.printing.codeprinter import PrintMethodNotImplementedError
except ImportError:  # pragma: no cover
    PrintMethodNotImplementedError = NotImplementedError

from ..printer import PrinterError, inexact_constant, number_literal

#: The SymPy functions of one argument a framework may print, by name (SymPy's, the stable module's and
#: :mod:`.codegen.gauss`'s unevaluated ones, matched by name); each framework maps those it has to its names,
#: together with the operations ``sqrt``, ``rsqrt``, ``pow``, ``atan2``, ``maximum``, ``minimum``, ``where``.
ONE_ARGUMENT = ("exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan", "asinh",
                "acosh", "atanh", "erf", "erfc", "expm1", "log1p", "Abs", "sign", "loggamma", "Log1pExp")


def _is_variable(e) -> bool:
    """x, or y (the variable of a function the module defines)."""
    return isinstance(e, sp.Symbol) and e.name in ("x", "y")


class TensorCodePrinter(AbstractPythonCodePrinter):
    """Print real SymPy expressions in ``x``, ``delta`` (and other named symbols) as array expressions.

    ``names`` maps symbols to variable names; ``ref`` is the name of an array whose dtype, device and shape
    constant branches of a Piecewise take. ``helpers`` collects the :attr:`HELPERS` the printed code calls.
    """

    printmethod = "_tensorcode_nonlocal"
    _default_settings = dict(AbstractPythonCodePrinter._default_settings, ref="x", fully_qualified_modules=True)

    #: The framework's module as the printed code names it ("torch", "jnp").
    MODULE = ""
    #: Names of :data:`ONE_ARGUMENT` functions and of the operations listed there, in the framework.
    FUNCTIONS: dict[str, str] = {}
    #: The helper functions a printed module defines (those its code calls), by name: their source.
    HELPERS: dict[str, str] = {}
    #: Whether the printed code is differentiated again by automatic differentiation (JAX): the branches a
    #: ``where`` does not select then get arguments where their derivatives are finite (:mod:`.source`).
    SAFE_GRADIENTS = False
    #: Whether the quadrature puts its nodes along a last axis and sums over it (:mod:`.source`): one operation
    #: per term whatever the order, where a framework that compiles the whole function (``jax.jit``) would
    #: otherwise compile every node's operations (seconds for 32 nodes); else a Python loop over the nodes.
    NODE_AXIS = False
    #: Whether a printed function leaves out the zeros that give it the broadcast shape of its arguments where every
    #: argument already appears in it (:func:`.source.function`), and computes one exponential for both sides of
    #: a form split at 0 (:func:`.source.shared_exponentials`): passes that cost in eager evaluation (PyTorch);
    #: a compiler removes them anyway.
    FEWER_PASSES = False

    def __init__(self, names: dict | None = None, ref: str = "x"):
        super().__init__({"ref": ref})
        self.names = {s: n for s, n in (names or {}).items()}
        self.helpers: set[str] = set()
        #: the expressions of the temporaries :func:`assignments` named (a condition that uses one can be read
        #: whole: :meth:`expanded`)
        self.temporaries: dict = {}

    def expanded(self, expr):
        """``expr`` with the temporaries of :func:`assignments` replaced by what they stand for."""
        while expr.free_symbols & set(self.temporaries):
            expr = expr.xreplace(self.temporaries)
        return expr

    # ------------------------------------------------------------------ the dialect
    def fn(self, name: str) -> str:
        """The framework's name of the function or operation ``name``."""
        return self.FUNCTIONS[name]

    def where(self, cond: str, a: str, b: str) -> str:
        return f"{self.fn('where')}({cond}, {a}, {b})"

    def full_like(self, ref: str, value: str) -> str:
        return f"{self.MODULE}.full_like({ref}, {value})"

    def zeros_like(self, ref: str) -> str:
        return f"{self.MODULE}.zeros_like({ref})"

    def clip(self, value: str, lo: str | None, hi: str | None) -> str:
        """``value`` clipped to ``[lo, hi]`` (None: no bound)."""
        return f"{self.MODULE}.clip({value}, {lo}, {hi})"

    def clip01(self, value: str) -> str:
        """``value`` clipped to [0, 1]."""
        return self.clip(value, "0.0", "1.0")

    def bound(self, value: str, limit: str, upper: bool) -> str:
        """``max(value, limit)`` (``upper`` False) or ``min(value, limit)`` with a number ``limit``."""
        return f"{self.fn('minimum' if upper else 'maximum')}({value}, {limit})"

    def expand(self, value: str) -> str:
        """``value`` with a last axis of length 1 (for the nodes)."""
        return f"{self.MODULE}.expand_dims({value}, -1)"

    def sum_nodes(self, value: str) -> str:
        """The sum of ``value`` over its last axis (the nodes)."""
        return f"{self.MODULE}.sum({value}, axis=-1)"

    def node_array(self, value: str, like: str) -> str:
        """The tuple ``value`` as an array of the dtype of ``like``."""
        return f"{self.MODULE}.asarray({value}, dtype={like}.dtype)"

    def cast(self, value: str, like: str) -> str:
        """``value`` in the dtype of the array ``like``."""
        return f"{value}.astype({like}.dtype)"

    def rounded(self, value: str) -> str:
        """``value`` rounded as written, where a compiler would add a constant to it before it (``(x + c_hi) +
        c_lo``: :meth:`_split_constant`)."""
        return value

    # ------------------------------------------------------------------ printing
    def _print(self, expr, **kwargs):
        # a constant subexpression (sqrt(2), 2*pi, exp(-1/2)) is one float literal: no array call on a number
        if isinstance(expr, sp.Expr) and not expr.is_Atom and expr.is_number:
            return self._number(expr)
        try:
            return super()._print(expr, **kwargs)
        except PrintMethodNotImplementedError as exc:  # SymPy's own refusal: ours, so that the caller falls back
            raise PrinterError(f"no {self.MODULE} code for {type(expr).__name__}: {expr}") from exc

    def _print_Symbol(self, expr):
        if expr in self.names:
            return self.names[expr]
        if expr.name in ("x", "delta", "t", "s") or expr.name.startswith("_"):
            return expr.name
        raise PrinterError(f"free symbol {expr} (only x, delta and temporaries may appear)")

    def _number(self, expr) -> str:
        if expr is sp.oo or expr is sp.S.NegativeInfinity or expr is sp.nan:  # (before: oo.is_real is False)
            return {sp.oo: "math.inf", sp.S.NegativeInfinity: "(-math.inf)", sp.nan: "math.nan"}[expr]
        if expr.has(sp.I) or expr.is_real is False:
            raise PrinterError(f"complex constant {expr}: the expression is not real")
        lit = number_literal(expr)
        return f"({lit})" if lit.startswith("-") else lit

    def _print_Rational(self, expr):
        if expr.q == 1:
            return self._number(expr)
        return f"({expr.p}/{expr.q})" if abs(expr.p) < 2**53 and expr.q < 2**53 else self._number(expr)

    _print_Integer = _print_Float = _print_NumberSymbol = _number
    _print_Exp1 = _print_Pi = _print_Infinity = _print_NegativeInfinity = _print_NaN = _number

    def _print_Zero(self, expr):
        return "0.0"

    def _print_One(self, expr):
        return "1.0"

    def _print_NegativeOne(self, expr):
        return "(-1.0)"

    def _print_Half(self, expr):
        return "0.5"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Add(self, expr):
        split = self._split_constant(expr)
        return super()._print_Add(expr) if split is None else split

    def _split_constant(self, e) -> str | None:
        """``x + c`` (or ``c - x``, plus other terms; x or y, the variable of a function) with a rational c that no
        float holds (1/3, the kink of ``Max(x - 1/3, 0)``) as ``(rest + c_hi) + c_lo``, ``c_hi`` c rounded to
        float32 (exact in float32 and float64 alike), ``c_lo`` the rest of c: near x = -c, where the cells of a
        closed form in ``(x - c)/delta`` are most sensitive, the sum keeps every bit of the exact difference
        (float32 1/3 alone is 1e-8 off: 6e-4 relative in Max(x - 1/3, 0) with dirac_pair at delta = 8e-6), as the
        code generator's :meth:`~nonlocal_calc.codegen.printer.NumbaPrinter._split_constant` does (the first sum
        :meth:`rounded`, where a compiler would fold the constants).

        >>> from nonlocal_calc.symbols import x
        >>> class Numpy(TensorCodePrinter):
        ...     MODULE = "np"
        >>> Numpy().doprint(x - sp.Rational(1, 3)), Numpy().doprint(x - sp.Rational(1, 2))
        ('(x + (-0.3333333432674408)) + 9.934107462565104e-09', 'x + (-1/2)')
        """
        c = inexact_constant(e, _is_variable)
        if c is None:
            return None
        hi = float(np.float32(float(c)))
        lo = float(sp.N(c - sp.Rational(hi), 30))
        head = self.rounded(f"({self._print(e - c)} + {self._number(sp.Float(hi, 30))})")
        return f"{head} + {self._number(sp.Float(lo, 30))}"

    def _print_Pow(self, expr):
        b, p = expr.base, expr.exp
        if b == sp.E:
            return f"{self.fn('exp')}({self._print(p)})"
        base = self.parenthesize(b, precedence(expr))
        if p.is_Integer:
            n = int(p)
            if n == -1:
                return f"(1.0/{base})"
            if n < 0:
                return f"(1.0/{self.parenthesize(sp.Pow(b, -n, evaluate=False), precedence(expr))})"
            return f"{base}**{n}"
        if p.is_Rational and p.q == 2:
            root = self.fn("sqrt" if p > 0 else "rsqrt")
            k = abs(int(p.p))
            inner = f"{root}({self._print(b)})"
            return inner if k == 1 else f"{inner}**{k}"
        if p.is_number:
            return f"{base}**{self._number(p)}"
        return f"{self.fn('pow')}({self._print(b)}, {self._print(p)})"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in ("Max", "Min"):
            return self._minmax(expr, name)
        if name == "Heaviside":
            a = self._print(expr.args[0])
            h0 = self._print(expr.args[1] if len(expr.args) > 1 else sp.S.Half)
            ref = self._settings["ref"]
            return self.where(f"{a} > 0.0", self.full_like(ref, "1.0"),
                              self.where(f"{a} < 0.0", self.full_like(ref, "0.0"), self.full_like(ref, h0)))
        if name == "atan2":
            return f"{self.fn('atan2')}({self._print(expr.args[0])}, {self._print(expr.args[1])})"
        if name not in self.FUNCTIONS or name not in ONE_ARGUMENT or len(expr.args) != 1:
            raise PrinterError(f"no {self.MODULE} code for the function {name} (in {expr})")
        fn = self.fn(name)
        if fn in self.HELPERS:
            self.helpers.add(fn)
        return f"{fn}({self._print(expr.args[0])})"

    _print_Max = _print_Min = _print_Heaviside = _print_Function

    def _print_log(self, expr):
        a = expr.args[0]
        if isinstance(a, sp.Add) and 1 in a.args:  # log(1 + exp(u)) and log(1 + r): no overflow, no cancellation
            rest = a - 1
            if isinstance(rest, sp.exp):
                self.helpers.add("_log1pexp")
                return f"_log1pexp({self._print(rest.args[0])})"
            return f"{self.fn('log1p')}({self._print(rest)})"
        return f"{self.fn('log')}({self._print(a)})"

    def _minmax(self, expr, name: str) -> str:
        nums = [a for a in expr.args if a.is_number]
        rest = [self._print(a) for a in expr.args if not a.is_number]
        if not rest:
            return self._number(expr)
        out = rest[0]
        for a in rest[1:]:
            out = f"{self.fn('maximum' if name == 'Max' else 'minimum')}({out}, {a})"
        if nums:
            limit = max(nums) if name == "Max" else min(nums)
            out = self.bound(out, self._number(limit), upper=name == "Min")
        return out

    def _print_polylog(self, expr):
        raise PrinterError(f"no {self.MODULE} code for the polylogarithm {expr}")

    def _print_Integral(self, expr):
        raise PrinterError("cannot print an unevaluated Integral (a pair without closed form): the quadrature "
                           "evaluates it")

    def _print_Relational(self, expr):
        ops = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}
        if expr.rel_op not in ops:
            raise PrinterError(f"cannot print the condition {expr}")
        return f"({self._print(expr.lhs)} {ops[expr.rel_op]} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " & ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " | ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(~{self._print(expr.args[0])})"

    def _branch(self, value) -> str:
        if value.is_number:
            return self.full_like(self._settings["ref"], self._number(value))
        return self._print(value)

    def _print_Piecewise(self, expr):
        args = list(expr.args)
        if args[-1][1] is not sp.true:
            args.append((sp.nan, sp.true))  # outside every condition: no value
        out = self._branch(args[-1][0])
        for val, cond in reversed(args[:-1]):
            out = self.where(self._print(cond), self._branch(val), out)
        return out

    def emptyPrinter(self, expr):
        raise PrinterError(f"cannot print {type(expr).__name__}: {expr}")


def assignments(pr: TensorCodePrinter, exprs: list[sp.Expr], prefix: str) -> tuple[list[str], list[str]]:
    """Common subexpressions of ``exprs`` as assignment lines (temporaries ``{prefix}{i}``), and the printed results.

    >>> import sympy as sp
    >>> from nonlocal_calc.symbols import x, delta
    >>> class Numpy(TensorCodePrinter):
    ...     FUNCTIONS = {"exp": "np.exp"}
    >>> assignments(Numpy(), [sp.exp(x / delta) + sp.exp(x / delta) ** 2], "_a")
    (['_a0 = np.exp(x/delta)'], ['_a0*(_a0 + 1.0)'])
    >>> assignments(Numpy(), [x / (x + sp.sqrt(2) * sp.erf(sp.sqrt(2)))], "_a")  # (CSE's x0 = sqrt(2) inlined)
    ([], ['x/(x + 1.34986647207931)'])
    """
    syms = sp.numbered_symbols(prefix, real=True)
    repl, reduced = sp.cse([sp.sympify(e) for e in exprs], symbols=syms, optimizations="basic")
    # a constant temporary goes back into its uses: a function of it is then one literal, not a call on a Python
    # float (torch.special.erf(_c0) with _c0 = sqrt(2) is a TypeError)
    consts: dict = {}
    lines = []
    for s, e in repl:
        e = e.xreplace(consts)
        if e.is_number:
            consts[s] = e
            continue
        pr.names[s] = str(s)
        pr.temporaries[s] = e
        lines.append(f"{s} = {pr.doprint(e)}")
    return lines, [pr.doprint(e.xreplace(consts)) for e in reduced]
