"""A SymPy -> PyTorch printer for the stable forms of the code generator.

:class:`TorchCodePrinter` is a SymPy code printer built like SymPy's own
:class:`~sympy.printing.pytorch.TorchPrinter` (on ``AbstractPythonCodePrinter``: ``_print_<Class>`` methods, a
function table, helpers recorded while printing), but strict and dtype-generic where that one is neither:
numbers are Python floats (weakly typed: a float32 tensor stays float32), a Piecewise is a chain of
``torch.where`` whose constant branches take the dtype of a reference tensor, conditions are Python operators on
tensors, and the functions of :mod:`nonlocal_calc.codegen.stable` get their accurate torch counterparts
(``expm1``, ``log1p``, ``Log1pExp -> _log1pexp``). Anything without a torch counterpart (polylogarithms,
``erfi``) raises :class:`~nonlocal_calc.codegen.PrinterError`, so that the caller takes the quadrature instead.
Torch is not imported by this module (it writes text; SymPy's printer module imports torch).

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> p = TorchCodePrinter()
>>> p.doprint(sp.Piecewise((0, x < -delta), ((x + delta) ** 2 / (2 * delta**2), x < 0), (1, True)))
'torch.where((delta < -x), torch.full_like(x, 0.0), torch.where((x < 0.0), (0.5)*(delta + x)**2/delta**2, torch.full_like(x, 1.0)))'
>>> p.doprint(sp.log(1 + sp.exp(x)))
'_log1pexp(x)'
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.pycode import AbstractPythonCodePrinter

from ..codegen.printer import PrinterError, number_literal

#: One-argument functions and their torch names (SymPy's, the stable module's and :mod:`.codegen.gauss`'s
#: unevaluated ones, matched by name).
FUNCTIONS = {
    "exp": "torch.exp", "log": "torch.log", "sin": "torch.sin", "cos": "torch.cos", "tan": "torch.tan",
    "sinh": "torch.sinh", "cosh": "torch.cosh", "tanh": "torch.tanh", "asin": "torch.asin", "acos": "torch.acos",
    "atan": "torch.atan", "asinh": "torch.asinh", "acosh": "torch.acosh", "atanh": "torch.atanh",
    "erf": "torch.special.erf", "erfc": "torch.special.erfc", "expm1": "torch.expm1", "log1p": "torch.log1p",
    "Abs": "torch.abs", "sign": "torch.sign", "loggamma": "torch.special.gammaln", "Log1pExp": "_log1pexp",
}

#: The helper functions a printed module defines (those its code calls).
HELPERS = {
    "_log1pexp": ("def _log1pexp(u):\n"
                  "    \"\"\"log(1 + exp(u)) without overflow or cancellation.\"\"\"\n"
                  "    return torch.clamp(u, min=0.0) + torch.log1p(torch.exp(-torch.abs(u)))\n"),
}


class TorchCodePrinter(AbstractPythonCodePrinter):
    """Print real SymPy expressions in ``x``, ``delta`` (and other named symbols) as torch expressions.

    ``names`` maps symbols to variable names; ``ref`` is the name of a tensor whose dtype, device and shape
    constant branches of a Piecewise take. ``helpers`` collects the :data:`HELPERS` the printed code calls.
    """

    printmethod = "_torchcode_nonlocal"
    _default_settings = dict(AbstractPythonCodePrinter._default_settings, ref="x", fully_qualified_modules=True)

    def __init__(self, names: dict | None = None, ref: str = "x"):
        super().__init__({"ref": ref})
        self.names = {s: n for s, n in (names or {}).items()}
        self.helpers: set[str] = set()

    def _print(self, expr, **kwargs):
        # a constant subexpression (sqrt(2), 2*pi, exp(-1/2)) is one float literal: no torch call on a number
        if isinstance(expr, sp.Expr) and not expr.is_Atom and expr.is_number:
            return self._number(expr)
        return super()._print(expr, **kwargs)

    # ------------------------------------------------------------------ atoms
    def _print_Symbol(self, expr):
        if expr in self.names:
            return self.names[expr]
        if expr.name in ("x", "delta", "t", "s") or expr.name.startswith("_"):
            return expr.name
        raise PrinterError(f"free symbol {expr} (only x, delta and temporaries may appear)")

    def _number(self, expr) -> str:
        if expr.has(sp.I) or expr.is_real is False:
            raise PrinterError(f"complex constant {expr}: the expression is not real")
        if expr is sp.oo or expr is sp.S.NegativeInfinity or expr is sp.nan:
            return {sp.oo: "math.inf", sp.S.NegativeInfinity: "(-math.inf)", sp.nan: "math.nan"}[expr]
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

    # ------------------------------------------------------------------ arithmetic
    def _print_Pow(self, expr):
        b, p = expr.base, expr.exp
        if b == sp.E:
            return f"torch.exp({self._print(p)})"
        base = self.parenthesize(b, precedence(expr))
        if p.is_Integer:
            n = int(p)
            if n == -1:
                return f"(1.0/{base})"
            if n < 0:
                return f"(1.0/{self.parenthesize(sp.Pow(b, -n, evaluate=False), precedence(expr))})"
            return f"{base}**{n}"
        if p.is_Rational and p.q == 2:
            root = "torch.sqrt" if p > 0 else "torch.rsqrt"
            k = abs(int(p.p))
            inner = f"{root}({self._print(b)})"
            return inner if k == 1 else f"{inner}**{k}"
        if p.is_number:
            return f"{base}**{self._number(p)}"
        return f"torch.pow({self._print(b)}, {self._print(p)})"

    # ------------------------------------------------------------------ functions
    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in ("Max", "Min"):
            return self._minmax(expr, name)
        if name == "Heaviside":
            a = self._print(expr.args[0])
            h0 = self._print(expr.args[1] if len(expr.args) > 1 else sp.S.Half)
            ref = self._settings["ref"]
            return (f"torch.where({a} > 0.0, torch.full_like({ref}, 1.0), torch.where({a} < 0.0, "
                    f"torch.full_like({ref}, 0.0), torch.full_like({ref}, {h0})))")
        if name == "atan2":
            return f"torch.atan2({self._print(expr.args[0])}, {self._print(expr.args[1])})"
        if name not in FUNCTIONS or len(expr.args) != 1:
            raise PrinterError(f"no torch code for the function {name} (in {expr})")
        fn = FUNCTIONS[name]
        if fn in HELPERS:
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
            return f"torch.log1p({self._print(rest)})"
        return f"torch.log({self._print(a)})"

    def _minmax(self, expr, name: str) -> str:
        nums = [a for a in expr.args if a.is_number]
        rest = [self._print(a) for a in expr.args if not a.is_number]
        if not rest:
            return self._number(expr)
        out = rest[0]
        for a in rest[1:]:
            out = f"torch.{'maximum' if name == 'Max' else 'minimum'}({out}, {a})"
        if nums:
            bound = max(nums) if name == "Max" else min(nums)
            out = f"torch.clamp({out}, {'min' if name == 'Max' else 'max'}={self._number(bound)})"
        return out

    def _print_polylog(self, expr):
        raise PrinterError(f"no torch code for the polylogarithm {expr}")

    def _print_Integral(self, expr):
        raise PrinterError("cannot print an unevaluated Integral (a pair without closed form): the quadrature "
                           "evaluates it")

    # ------------------------------------------------------------------ logic
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
            return f"torch.full_like({self._settings['ref']}, {self._number(value)})"
        return self._print(value)

    def _print_Piecewise(self, expr):
        args = list(expr.args)
        if args[-1][1] is not sp.true:
            args.append((sp.nan, sp.true))  # outside every condition: no value
        out = self._branch(args[-1][0])
        for val, cond in reversed(args[:-1]):
            out = f"torch.where({self._print(cond)}, {self._branch(val)}, {out})"
        return out

    def emptyPrinter(self, expr):
        raise PrinterError(f"cannot print {type(expr).__name__}: {expr}")


def assignments(pr: TorchCodePrinter, exprs: list[sp.Expr], prefix: str) -> tuple[list[str], list[str]]:
    """Common subexpressions of ``exprs`` as assignment lines (temporaries ``{prefix}{i}``), and the printed results.

    >>> import sympy as sp
    >>> from nonlocal_calc.symbols import x, delta
    >>> assignments(TorchCodePrinter(), [sp.exp(x / delta) + sp.exp(x / delta) ** 2], "_a")
    (['_a0 = torch.exp(x/delta)'], ['_a0*(_a0 + 1.0)'])
    """
    syms = sp.numbered_symbols(prefix, real=True)
    repl, reduced = sp.cse([sp.sympify(e) for e in exprs], symbols=syms, optimizations="basic")
    lines = []
    for s, e in repl:
        pr.names[s] = str(s)
        lines.append(f"{s} = {pr.doprint(e)}")
    return lines, [pr.doprint(e) for e in reduced]
