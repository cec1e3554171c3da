"""Turn formulas typed by users into SymPy expressions, without ``eval``.

The text is parsed by Python's :mod:`ast` into a syntax tree, and only a small
vocabulary is translated: numbers, the symbols a caller allows, the operators
``+ - * / **`` and a whitelist of functions. Anything else (attribute access,
subscripts, lambdas, unknown names, keyword arguments...) is refused with an
error that names the offending piece.

>>> from nonlocal_calc.parsing import parse_expr
>>> parse_expr("x/(1+exp(-x))", {"x"})
x/(1 + exp(-x))
>>> parse_expr("__import__('os').system('id')", {"x"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
nonlocal_calc.parsing.ExpressionError: cannot parse ...: attribute access ('.system') is not allowed; ...
"""

from __future__ import annotations

import ast

import sympy as sp

from .symbols import delta, x, z

#: Functions a user may call in a formula, by the name they type.
FUNCTIONS: dict[str, object] = {
    "abs": sp.Abs,
    "acos": sp.acos,
    "acosh": sp.acosh,
    "asin": sp.asin,
    "asinh": sp.asinh,
    "atan": sp.atan,
    "atanh": sp.atanh,
    "cos": sp.cos,
    "cosh": sp.cosh,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "exp": sp.exp,
    "heaviside": lambda a: sp.Heaviside(a, 1),
    "log": sp.log,
    "max": sp.Max,
    "min": sp.Min,
    "sign": sp.sign,
    "sin": sp.sin,
    "sinh": sp.sinh,
    "sqrt": sp.sqrt,
    "tan": sp.tan,
    "tanh": sp.tanh,
}
# Aliases that people type out of habit.
_ALIASES = {"Abs": "abs", "arctan": "atan", "ln": "log", "Heaviside": "heaviside", "Max": "max", "Min": "min"}
CONSTANTS = {"pi": sp.pi, "E": sp.E, "e": sp.E, "oo": sp.oo, "inf": sp.oo}
SYMBOLS = {"x": x, "z": z, "delta": delta}

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


class ExpressionError(ValueError):
    """A formula typed by a user could not be accepted."""


def _hint() -> str:
    return "write a formula using +, -, *, /, ** and the functions " + ", ".join(sorted(FUNCTIONS))


_COMPARE = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan, ast.GtE: sp.GreaterThan}


def parse_expr(
    text: str,
    allowed: set[str] | frozenset[str],
    extra: dict[str, sp.Basic] | None = None,
    numpy_where: bool = False,
) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in the symbols named by ``allowed``.

    ``allowed`` is a subset of ``{"x", "z", "delta"}``; ``extra`` adds named
    constants or renamings (for example ``{"Z": x}`` or a parameter ``alpha`` with a value).
    Numbers are kept exact: ``0.01`` becomes ``1/100``. With ``numpy_where=True``,
    ``np.where(cond, a, b)`` is read as ``Piecewise((a, cond), (b, True))`` and comparisons
    are allowed inside it (used to transcribe the poster's code).

    >>> parse_expr("np.where(Z <= -delta, 0, Z/delta)", {"delta"}, {"Z": x}, numpy_where=True)
    Piecewise((0, x <= -delta), (x/delta, True))
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected a formula as a string, got {type(text).__name__}")
    if len(text) > 2000:
        raise ExpressionError("formula too long (over 2000 characters)")
    names = {k: v for k, v in SYMBOLS.items() if k in allowed}
    names.update(CONSTANTS)
    names.update(extra or {})
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: invalid syntax ({exc.msg}); {_hint()}") from None

    def conv(node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Expression):
            return conv(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExpressionError(f"cannot parse {text!r}: {node.value!r} is not a number; {_hint()}")
            return sp.nsimplify(node.value, rational=True) if isinstance(node.value, float) else sp.Integer(node.value)
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            raise ExpressionError(
                f"cannot parse {text!r}: unknown name {node.id!r}; the variables allowed here are "
                f"{', '.join(sorted(k for k in SYMBOLS if k in allowed))} (and pi, E)"
            )
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](conv(node.left), conv(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            val = conv(node.operand)
            return -val if isinstance(node.op, ast.USub) else val
        if numpy_where and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy") and node.func.attr == "where":
                if len(node.args) != 3 or node.keywords:
                    raise ExpressionError(f"cannot parse {text!r}: np.where takes (condition, a, b)")
                cond, a, b = node.args
                return sp.Piecewise((conv(a), conv(cond)), (conv(b), True), evaluate=False)
        if numpy_where and isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return _COMPARE[type(node.ops[0])](conv(node.left), conv(node.comparators[0]))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                return conv(node.func)  # reports the attribute access or other construct
            fname = _ALIASES.get(node.func.id, node.func.id)
            if fname not in FUNCTIONS:
                raise ExpressionError(f"cannot parse {text!r}: unknown function {node.func.id!r}; {_hint()}")
            if node.keywords:
                raise ExpressionError(f"cannot parse {text!r}: keyword arguments are not allowed")
            return FUNCTIONS[fname](*[conv(a) for a in node.args])
        if isinstance(node, ast.Attribute):
            raise ExpressionError(f"cannot parse {text!r}: attribute access ('.{node.attr}') is not allowed; {_hint()}")
        raise ExpressionError(f"cannot parse {text!r}: {type(node).__name__} is not allowed; {_hint()}")

    try:
        return sp.sympify(conv(tree))
    except ExpressionError:
        raise
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"cannot parse {text!r}: {exc}") from None
