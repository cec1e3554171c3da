"""Turn formulas typed by users into SymPy expressions, without ``eval``.

The text is parsed by Python's :mod:`ast` into a syntax tree, and only a small
vocabulary is translated: numbers, the symbols a caller allows, the operators
``+ - * / **`` and a whitelist of functions. Anything else (attribute access,
subscripts, lambdas, unknown names, keyword arguments...) is refused with an
error that names the offending piece.

Every formula is also bounded, so that parsing any text takes a few milliseconds: at most
:data:`MAX_LENGTH` characters nested at most :data:`MAX_DEPTH` deep; numbers no larger than the
largest float64 (about 1.8e308) with at most :data:`MAX_DIGITS` digits in numerator and denominator;
exponents of at most :data:`MAX_EXPONENT` in size; exact roots of numbers limited by :data:`MAX_ROOT`;
and, behind these bounds, :data:`BUILD_BUDGET` seconds of CPU time. A formula that is infinite,
undefined or complex where it is built (``x/0``, ``log(0)``, ``1e400``, ``sqrt(-1)``) is refused:
the toolkit works with real, finite functions.

>>> from nonlocal_calc.parsing import parse_expr
>>> parse_expr("x/(1+exp(-x))", {"x"})
x/(1 + exp(-x))
>>> parse_expr("__import__('os').system('id')", {"x"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
nonlocal_calc.parsing.ExpressionError: cannot parse ...: attribute access ('.system') is not allowed; ...
>>> parse_expr("x*10**10**10", {"x"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
nonlocal_calc.parsing.ExpressionError: cannot parse 'x*10**10**10': the number 10**10**10 is too large ...
"""

from __future__ import annotations

import ast
import gc
import math
import sys
import warnings
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import sympy as sp

from .symbols import delta, x, z
from .timeouts import DerivationTimeout, check_deadline, time_budget

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
    "clip": lambda a, lo, hi: sp.Min(sp.Max(a, lo), hi),
    "erfc": sp.erfc,
    "exp": sp.exp,
    "expm1": lambda a: sp.exp(a) - 1,
    "heaviside": lambda a: sp.Heaviside(a, 1),
    "log": sp.log,
    "log1p": lambda a: sp.log(1 + a),
    "logaddexp": lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
    "max": sp.Max,
    "min": sp.Min,
    "sign": sp.sign,
    "sin": sp.sin,
    "sinh": sp.sinh,
    "softplus": lambda a: sp.log(1 + sp.exp(a)),
    "sqrt": sp.sqrt,
    "tan": sp.tan,
    "tanh": sp.tanh,
}
#: Functions taking one or more arguments.
_VARIADIC = {"max", "min"}
#: Functions taking a fixed number of arguments other than one: ``logaddexp(a, b) = log(exp(a) + exp(b))``,
#: ``clip(a, lo, hi) = min(max(a, lo), hi)`` (NumPy's names and argument orders).
_ARITY = {"logaddexp": 2, "clip": 3}
# Aliases that people type out of habit.
_ALIASES = {"Abs": "abs", "arctan": "atan", "ln": "log", "Heaviside": "heaviside", "Max": "max", "Min": "min"}
CONSTANTS = {"pi": sp.pi, "E": sp.E, "e": sp.E}
SYMBOLS = {"x": x, "z": z, "delta": delta}
#: Names that are refused with an explanation rather than as unknown.
_REFUSED_NAMES = {
    **dict.fromkeys(("oo", "inf", "infinity", "Infinity", "zoo"), "infinite values are not allowed"),
    **dict.fromkeys(("nan", "NaN"), "nan is not allowed"),
    **dict.fromkeys(("I", "j", "J"), "complex numbers are not allowed (formulas are real)"),
}

#: The longest formula accepted, in characters.
MAX_LENGTH = 1000
#: The deepest nesting of operations and calls accepted (a chain ``a + b - c`` or ``a * b / c`` is one level).
MAX_DEPTH = 20
#: The largest number in a formula, in absolute value: the largest float64 (about 1.8e308).
MAX_NUMBER = sp.Rational(*float.as_integer_ratio(sys.float_info.max))
#: The most digits of a numerator or a denominator in a formula.
MAX_DIGITS = 400
#: The largest exponent, in absolute value, of a power in a formula.
MAX_EXPONENT = 1000
#: The largest root of a number built exactly: digits of the number times the root's order (``sqrt(10**99)``:
#: 100 * 2). SymPy factors the number to simplify the root, at a cost that grows fast with both.
MAX_ROOT = 1000
#: CPU seconds a formula may take to build: a guard behind the bounds above, for SymPy's costlier
#: automatic simplifications (a typical formula takes about a millisecond).
BUILD_BUDGET = 0.05

_ARGUMENTS = {1: "one argument", 2: "two arguments", 3: "three arguments"}
_COMPARE = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan, ast.GtE: sp.GreaterThan}
_INFINITIES = (sp.S.Infinity, sp.S.NegativeInfinity)


class ExpressionError(ValueError):
    """A formula typed by a user could not be accepted."""


def _hint() -> str:
    return ("write a formula using +, -, *, /, ** and the functions " + ", ".join(sorted(FUNCTIONS))
            + ", Piecewise((a, condition), ..., (b, True))")


def parse_expr(
    text: str,
    allowed: set[str] | frozenset[str],
    extra: dict[str, sp.Basic] | None = None,
    numpy_where: bool = False,
    allow_infinity: bool = False,
) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in the symbols named by ``allowed``.

    ``allowed`` is a subset of ``{"x", "z", "delta"}``; ``extra`` adds named
    constants or renamings (for example ``{"Z": x}`` or a parameter ``alpha`` with a value).
    Numbers are kept exact: ``0.01`` becomes ``1/100``. With ``numpy_where=True``,
    ``np.where(cond, a, b)`` is read as ``Piecewise((a, cond), (b, True))`` and comparisons
    are allowed inside it (used to transcribe the poster's code). ``allow_infinity=True``
    accepts ``oo`` and ``-oo`` (for interval ends in the package's own tables, not for user formulas).

    >>> parse_expr("np.where(Z <= -delta, 0, Z/delta)", {"delta"}, {"Z": x}, numpy_where=True)
    Piecewise((0, x <= -delta), (x/delta, True))
    >>> parse_expr("x/0", {"x"})
    Traceback (most recent call last):
    ...
    nonlocal_calc.parsing.ExpressionError: cannot parse 'x/0': division by zero in x/0
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected a formula as a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"formula too long ({len(text)} characters, at most {MAX_LENGTH})")
    source = text.replace("^", "**").strip()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. "1if x": refused below or read as Python does
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: invalid syntax ({exc.msg}); {_hint()}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes; nesting beyond the parser's stack
        raise ExpressionError(f"cannot parse {text!r}: {type(exc).__name__}: {exc}") from None
    _check_depth(tree, text)
    names = {k: v for k, v in SYMBOLS.items() if k in allowed}
    names.update(CONSTANTS)
    if allow_infinity:
        names["oo"] = sp.oo
    names.update(extra or {})
    builder = _Builder(text, source, names, allowed, numpy_where, allow_infinity)
    _warm_up()
    budget, collecting = None, gc.isenabled()
    try:
        gc.disable()  # a collection of the whole process's garbage is not the formula's cost
        with time_budget(BUILD_BUDGET) as budget:
            return sp.sympify(builder.build(tree.body))
    except DerivationTimeout as exc:
        if exc.budget is not budget:
            raise  # the caller's budget
        raise ExpressionError(f"cannot parse {text!r}: too costly to build (over {BUILD_BUDGET} s of CPU time); "
                              "simplify the formula") from None
    finally:
        if collecting:
            gc.enable()


def simplest_fraction(value: float) -> Fraction:
    """The fraction of smallest denominator whose nearest float is ``value``: what a float typed as a number means.

    A float carries about 16 significant digits, so ``-1.6666666666666667`` is read as -5/3 and ``0.1`` as 1/10,
    while a float with no short fraction behind it keeps all its digits (its float is ``value`` again, exactly).

    >>> simplest_fraction(-1.6666666666666667), simplest_fraction(0.1)
    (Fraction(-5, 3), Fraction(1, 10))
    >>> f = simplest_fraction(2.718281828459045); float(f) == 2.718281828459045, f.denominator < 10**15
    (True, True)
    """
    exact = Fraction(value)
    lo, hi = 1, exact.denominator
    while lo < hi:  # the best approximations with denominators <= d come closer to value as d grows
        mid = (lo + hi) // 2
        if float(exact.limit_denominator(mid)) == value:
            hi = mid
        else:
            lo = mid + 1
    found = exact.limit_denominator(lo)
    return found if float(found) == value else exact


def exact_number(value: int | float | str | sp.Basic, what: str = "the number") -> sp.Expr:
    """A number given by a user as an exact SymPy number, read the same way wherever the package takes one.

    An int is itself; a float is the simplest fraction whose float it is (:func:`simplest_fraction`); text is
    parsed exactly (``"2.718281828459045"`` is 2718281828459045/10**15, ``"-1/2"`` is -1/2, ``"sqrt(2)"`` is
    sqrt(2)); a SymPy expression is kept, its floats read as Python floats are.

    >>> exact_number(-1.6666666666666667), exact_number("-1.6666666666666667"), exact_number("sqrt(2)/2")
    (-5/3, -16666666666666667/10000000000000000, sqrt(2)/2)
    >>> exact_number(float("nan"), "p")
    Traceback (most recent call last):
    ...
    nonlocal_calc.parsing.ExpressionError: p must be a finite real number, got nan
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, sp.Basic)):
        raise ExpressionError(f"{what} must be a real number (an int, a float or text such as '1/3'), got {value!r}")
    if isinstance(value, str):
        return parse_expr(value, set())
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(f"{what} must be a finite real number, got {value!r}")
        return sp.Rational(*simplest_fraction(value).as_integer_ratio())
    if isinstance(value, int):
        return sp.Integer(value)
    return value.xreplace({f: exact_number(float(f), what) for f in value.atoms(sp.Float)})


_warm = False


def _warm_up() -> None:
    """Build one formula of every kind once per process outside the budget: SymPy imports modules on first use
    (about 0.1 s), which is not the cost of the formula."""
    global _warm
    if not _warm:
        _warm = True
        text = "max(0, x) + abs(x)*exp(-x)/(1 + x**2) - sqrt(2)*erf(x)*sign(x) + tanh(x)**0.5 + asin(1/2)"
        _Builder(text, text, {"x": x, **CONSTANTS}, {"x"}, False, False).build(ast.parse(text, mode="eval").body)


def _chain_family(op: ast.operator) -> str | None:
    """Operators whose left-nested chains are built in one step (``a + b - c``, ``a * b / c``)."""
    return "add" if isinstance(op, (ast.Add, ast.Sub)) else "mul" if isinstance(op, (ast.Mult, ast.Div)) else None


def _check_depth(tree: ast.AST, text: str) -> None:
    """Refuse formulas nested more than MAX_DEPTH deep (checked without recursion)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"cannot parse {text!r}: nested too deeply (more than {MAX_DEPTH} levels)")
        for child in ast.iter_child_nodes(node):
            same_chain = (isinstance(node, ast.BinOp) and child is node.left and isinstance(child, ast.BinOp)
                          and _chain_family(child.op) is not None
                          and _chain_family(child.op) == _chain_family(node.op))
            stack.append((child, depth if same_chain else depth + 1))


def _decimal(literal: str) -> sp.Rational:
    """The exact value of a float literal as written (``0.1`` is 1/10, ``1e400`` is 10**400), bounded first."""
    try:
        d = Decimal(literal.replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{literal!r} is not a number") from None
    if not d.is_finite() or abs(d.adjusted()) > MAX_DIGITS or len(d.as_tuple().digits) > MAX_DIGITS:
        raise _OutOfRange(f"the number {literal} has too many digits (at most {MAX_DIGITS})")
    return sp.Rational(*d.as_integer_ratio())


class _OutOfRange(ValueError):
    """A number or power beyond the parser's bounds (the message says which and why)."""


def _number_problem(r: sp.Rational) -> str | None:
    if abs(r) > MAX_NUMBER:
        return "is larger than the largest float64 (about 1.8e308)"
    if len(str(abs(r.p))) > MAX_DIGITS or len(str(r.q)) > MAX_DIGITS:
        return f"has too many digits (at most {MAX_DIGITS} in numerator and denominator)"
    return None


class _Builder:
    """Translate one syntax tree into SymPy, checking every piece as it is built."""

    def __init__(self, text: str, source: str, names: dict, allowed, numpy_where: bool, allow_infinity: bool):
        self.text, self.source, self.names, self.allowed = text, source, names, allowed
        self.numpy_where, self.allow_infinity = numpy_where, allow_infinity
        self._checked: set[sp.Basic] = set()

    def fail(self, why: str) -> ExpressionError:
        return ExpressionError(f"cannot parse {self.text!r}: {why}")

    def piece(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def build(self, node: ast.AST) -> sp.Basic:
        check_deadline()  # the budget, in threads without signals
        try:
            value = self._convert(node)
            self._check(value, node)
        except (ExpressionError, DerivationTimeout):
            raise
        except _OutOfRange as exc:
            raise self.fail(str(exc)) from None
        except ZeroDivisionError:
            raise self.fail(f"division by zero in {self.piece(node)}") from None
        except Exception as exc:  # SymPy refusing the arguments (TypeError, ValueError, its own bugs)
            raise self.fail(f"{self.piece(node)}: {type(exc).__name__}: {exc}") from None
        return value

    # ---------------------------------------------------------------- translation
    def _convert(self, node: ast.AST) -> sp.Basic:
        if isinstance(node, ast.Constant):
            return self._number(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp) and _chain_family(node.op) == "add":
            return self._sum(node)
        if isinstance(node, ast.BinOp) and _chain_family(node.op) == "mul":
            return self._product(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self._power(self.build(node.left), self.build(node.right), node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            val = self.build(node.operand)
            return -val if isinstance(node.op, ast.USub) else val
        if self.numpy_where and _is_np_where(node):
            if len(node.args) != 3 or node.keywords:
                raise self.fail("np.where takes (condition, a, b)")
            cond, a, b = (self.build(n) for n in node.args)
            return sp.Piecewise((a, cond), (b, True), evaluate=False)
        if self.numpy_where and isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return _COMPARE[type(node.ops[0])](self.build(node.left), self.build(node.comparators[0]))
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            raise self.fail(f"attribute access ('.{node.attr}') is not allowed; {_hint()}")
        raise self.fail(f"{type(node).__name__} is not allowed; {_hint()}")

    def _number(self, node: ast.Constant) -> sp.Rational:
        value = node.value
        if isinstance(value, complex):
            raise self.fail(f"{self.piece(node)}: complex numbers are not allowed (formulas are real)")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{value!r} is not a number; {_hint()}")
        if isinstance(value, int):
            if len(str(abs(value))) > MAX_DIGITS + 1:  # checked exactly once built
                raise _OutOfRange(f"the number {self.piece(node)} has too many digits (at most {MAX_DIGITS})")
            return sp.Integer(value)
        return _decimal(self.piece(node))

    def _name(self, node: ast.Name) -> sp.Basic:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in _REFUSED_NAMES:
            raise self.fail(f"{node.id}: {_REFUSED_NAMES[node.id]}")
        allowed = ", ".join(sorted(k for k in SYMBOLS if k in self.allowed))
        raise self.fail(f"unknown name {node.id!r}; the variables allowed here are {allowed} (and pi, E); a free "
                        f"parameter is declared with params={{{node.id!r}: 'positive'}} (or a range such as '> -2')")

    def _chain(self, node: ast.BinOp) -> list[tuple[type, ast.AST]]:
        """``a + b - c`` as [(Add, a), (Add, b), (Sub, c)], without recursion."""
        family, items = _chain_family(node.op), []
        while isinstance(node, ast.BinOp) and _chain_family(node.op) == family:
            items.append((type(node.op), node.right))
            node = node.left
        items.append((ast.Add if family == "add" else ast.Mult, node))
        return items[::-1]

    def _sum(self, node: ast.BinOp) -> sp.Expr:
        return sp.Add(*[self.build(n) if op is ast.Add else -self.build(n) for op, n in self._chain(node)])

    def _product(self, node: ast.BinOp) -> sp.Expr:
        factors = []
        for op, n in self._chain(node):
            value = self.build(n)
            if op is ast.Div:
                if value.is_zero:
                    raise self.fail(f"division by zero in {self.piece(node)}")
                value = self._power(value, sp.Integer(-1), n)
            factors.append(value)
        return sp.Mul(*factors)

    def _power(self, base: sp.Basic, exponent: sp.Basic, node: ast.AST) -> sp.Basic:
        """``base**exponent``, refused before it is built when the result would be too large."""
        if base.is_zero and exponent.is_extended_negative:
            raise self.fail(f"division by zero in {self.piece(node)}")
        if exponent.is_Rational and not exponent.is_Integer and base.is_Rational:
            digits = len(str(abs(base.p))) + (len(str(base.q)) if base.q != 1 else 0)
            if digits * exponent.q > MAX_ROOT:
                raise self.fail(f"the root {self.piece(node)} is too costly to simplify exactly (a {digits}-digit number "
                                f"to the power 1/{exponent.q}; at most {MAX_ROOT} digits times the order): "
                                "write it as a decimal number")
        if exponent.is_Rational:
            if base.is_Rational and base != 0:
                digits = abs(float(exponent)) * max(math.log10(abs(base.p)), math.log10(base.q))
                if digits > MAX_DIGITS + 1:  # an estimate: the exact check follows once built
                    raise _OutOfRange(f"the number {self.piece(node)} is too large (over {MAX_DIGITS} digits)")
            elif abs(exponent) > MAX_EXPONENT:
                raise _OutOfRange(f"the power {self.piece(node)} has too large an exponent (at most {MAX_EXPONENT})")
        return base**exponent

    def _call(self, node: ast.Call) -> sp.Basic:
        if not isinstance(node.func, ast.Name):
            return self._convert(node.func)  # reports the attribute access or other construct
        if node.keywords:
            raise self.fail("keyword arguments are not allowed")
        if node.func.id == "Piecewise":
            return self._piecewise(node)
        fname = _ALIASES.get(node.func.id, node.func.id)
        if fname not in FUNCTIONS:
            raise self.fail(f"unknown function {node.func.id!r}; {_hint()}")
        arity = _ARITY.get(fname, 1)
        if len(node.args) != arity and not (fname in _VARIADIC and node.args):
            takes = "one or more arguments" if fname in _VARIADIC else _ARGUMENTS[arity]
            raise self.fail(f"{node.func.id} takes {takes}, got {len(node.args)} in {self.piece(node)}")
        args = [self.build(a) for a in node.args]
        if fname == "clip" and args[1].is_number and args[2].is_number and bool(args[1] > args[2]):
            raise self.fail(f"{self.piece(node)}: clip(a, lo, hi) needs lo <= hi, got lo = {args[1]} > hi = {args[2]}")
        return FUNCTIONS[fname](*args)

    def _piecewise(self, node: ast.Call) -> sp.Expr:
        """``Piecewise((a, cond), ..., (b, True))``: conditions are comparisons (``x < 0``, ``0 <= x < 1``, joined
        by ``&`` or ``|``), the first that holds gives the value, and the last is ``True`` so that every point
        has one."""
        usage = "Piecewise takes pairs (value, condition), the last one (value, True): e.g. Piecewise((0, x < 0), (x, True))"
        if not node.args or not all(isinstance(a, ast.Tuple) and len(a.elts) == 2 for a in node.args):
            raise self.fail(f"{self.piece(node)}: {usage}")
        pairs = [(self.build(a.elts[0]), self._condition(a.elts[1])) for a in node.args]
        if pairs[-1][1] is not sp.true:
            raise self.fail(f"{self.piece(node)}: the last condition must be True (a value everywhere); {usage}")
        return sp.Piecewise(*pairs)

    def _condition(self, node: ast.AST) -> sp.Basic:
        """A comparison (chains allowed), ``True``, or conditions joined by ``&``, ``|`` (with parentheses)."""
        check_deadline()
        if isinstance(node, ast.Constant) and node.value is True:
            return sp.true
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            join = sp.And if isinstance(node.op, ast.BitAnd) else sp.Or
            return join(self._condition(node.left), self._condition(node.right))
        if isinstance(node, ast.Compare):
            if not all(type(op) in _COMPARE for op in node.ops):
                raise self.fail(f"{self.piece(node)}: a condition compares with <, <=, > or >= "
                                "(== and != hold on single points only)")
            sides = [self.build(n) for n in (node.left, *node.comparators)]
            rels = [_COMPARE[type(op)](a, b) for op, a, b in zip(node.ops, sides, sides[1:])]
            if any(r.has(sp.nan, sp.zoo) for r in rels):
                raise self.fail(f"{self.piece(node)}: the comparison is undefined")
            return sp.And(*rels)
        raise self.fail(f"{self.piece(node)} is not a condition: write a comparison such as x < 0 or 0 <= x < 1, "
                        "conditions joined by & or |, or True")

    # ---------------------------------------------------------------- checks
    def _check(self, value: sp.Basic, node: ast.AST) -> None:
        """Refuse infinite, undefined or complex constants and oversized numbers or powers in ``value``.

        Subexpressions already checked (those of the operands) are skipped, so the whole formula is
        walked about once."""
        stack = [value]
        while stack:
            e = stack.pop()
            if e in self._checked:
                continue
            self._checked.add(e)
            self._check_node(e, node)
            stack.extend(a for a in e.args if isinstance(a, sp.Basic))

    def _check_node(self, e: sp.Basic, node: ast.AST) -> None:
        if e is sp.S.NaN or e is sp.S.ComplexInfinity:
            raise self.fail(f"{self.piece(node)} is undefined or infinite (a division by zero?)")
        if e in _INFINITIES and not self.allow_infinity:
            raise self.fail(f"{self.piece(node)} is infinite")
        if e is sp.S.ImaginaryUnit:
            raise self.fail(f"{self.piece(node)} is complex (formulas are real)")
        if e.is_Rational and _number_problem(e):
            raise _OutOfRange(f"the number {self.piece(node)} {_number_problem(e)}")
        if e.is_Pow and e.exp.is_Rational and abs(e.exp) > MAX_EXPONENT:
            raise _OutOfRange(f"the power {self.piece(node)} has too large an exponent (at most {MAX_EXPONENT})")
        if (e.is_Function or e.is_Pow) and e.is_number and e.is_extended_real is False:
            raise self.fail(f"{self.piece(node)} is complex: {e} is not a real number (formulas are real)")


def _is_np_where(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("np", "numpy") and node.func.attr == "where")
