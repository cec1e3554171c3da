"""A SymPy -> Python printer for Numba scalar code, dtype-generic and real-valued.

Only the constructs the code generator emits are supported; anything else is refused with an
error naming the construct. Numbers become ``T(c)`` with ``T`` the float type of the arguments,
so a float32 call computes in float32 throughout. Numerically better library functions are
chosen where SymPy's form would lose accuracy: ``log(1 + a) -> log1p(a)``,
``exp(a) - 1 -> expm1(a)``, ``log(1 + exp(u)) -> _log1pexp(u)``, ``Li_s(-exp(u)) -> _li{s}_negexp(u)`` (orders
2 to 4; ``_polylog_negexp(s, u)`` for any other) (these special functions run in float64: see
:func:`.specfun.call`).

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> p = NumbaPrinter()
>>> p.doprint(sp.log(1 + sp.exp(x)) / delta**2)
'T(_log1pexp_d(np.float64(x))) / (delta * delta)'
>>> p.doprint(sp.Piecewise((0, x < 0), (x / delta, True)))
'(T(0.0) if x < T(0.0) else x / delta)'
"""

from __future__ import annotations

import sympy as sp

from ..symbols import delta as _delta
from ..symbols import x as _x
from . import specfun


class PrinterError(ValueError):
    """The expression contains something the code generator cannot compile."""


_MATH1 = {
    sp.exp: "math.exp", sp.log: "math.log", sp.sin: "math.sin", sp.cos: "math.cos", sp.tan: "math.tan",
    sp.sinh: "math.sinh", sp.cosh: "math.cosh", sp.tanh: "math.tanh", sp.asin: "math.asin",
    sp.acos: "math.acos", sp.atan: "math.atan", sp.asinh: "math.asinh", sp.acosh: "math.acosh",
    sp.atanh: "math.atanh", sp.erf: "math.erf", sp.erfc: "math.erfc", sp.gamma: "math.gamma",
    sp.loggamma: "math.lgamma",
}

_PREC = {"atom": 100, "call": 100, "pow": 60, "unary": 50, "mul": 40, "add": 30, "cmp": 20, "not": 15,
         "and": 12, "or": 10, "ternary": 5}


def number_literal(value) -> str:
    """The Python literal of a real constant (17 significant digits)."""
    v = sp.N(value, 30)
    if not v.is_real:
        raise PrinterError(f"complex constant {value} in a real expression")
    return repr(float(v))


class NumbaPrinter:
    """Print SymPy expressions as dtype-generic Python for ``numba.njit``.

    ``names`` maps symbols to variable names (default: ``x`` and ``delta`` keep theirs);
    ``helpers`` collects the special functions the printed code calls (see :mod:`.specfun`).
    """

    #: Functions replaced by the branch-free versions of :mod:`.specfun` when ``vector_math`` is set.
    VECTOR = {"math.exp": "_vexp", "math.log": "_vlog", "math.log1p": "_vlog1p"}

    def __init__(self, names: dict | None = None, vector_math: bool = False):
        self.vector_math = vector_math
        self.names = {_x: "x", _delta: "delta"}
        self.names.update(names or {})
        self.helpers: set[str] = set()

    # ------------------------------------------------------------------ entry
    def doprint(self, expr) -> str:
        out = self._p(sp.sympify(expr))[0]
        if self.vector_math:
            for lib, vec in self.VECTOR.items():
                if lib + "(" in out:
                    out = out.replace(lib + "(", vec + "(")
                    self.helpers.add(vec)
        return out

    def _wrap(self, expr, prec: int) -> str:
        s, p = self._p(expr)
        return f"({s})" if p < prec else s

    # ------------------------------------------------------------------ dispatch
    def _p(self, e) -> tuple[str, int]:
        if e is sp.true:
            return "True", _PREC["atom"]
        if e is sp.false:
            return "False", _PREC["atom"]
        if isinstance(e, sp.Symbol):
            if e not in self.names:
                raise PrinterError(f"free symbol {e} (only x and delta may appear)")
            return self.names[e], _PREC["atom"]
        if isinstance(e, sp.UnevaluatedExpr):  # (a grouping the caller asked SymPy to keep)
            return self._p(e.args[0])
        if isinstance(e, (sp.Rel, sp.And, sp.Or, sp.Not, sp.Piecewise)):
            return getattr(self, "_p_" + type(e).__name__.lower(), self._p_rel)(e)
        if e is sp.nan:  # (the limits of D at +-inf where there is none)
            return "T(math.nan)", _PREC["call"]
        if e is sp.oo or e is sp.S.NegativeInfinity:  # (the limits of D where f' grows without bound: x**2)
            return ("T(math.inf)", _PREC["call"]) if e is sp.oo else ("-T(math.inf)", _PREC["unary"])
        if e.is_number:
            if e.has(sp.I) or e.is_real is False:
                raise PrinterError(f"complex constant {e}: the expression is not real")
            if e.is_zero:
                return "T(0.0)", _PREC["call"]
            lit = number_literal(e)
            if lit.startswith("-"):
                return f"-T({lit[1:]})", _PREC["unary"]
            return f"T({lit})", _PREC["call"]
        if isinstance(e, sp.Add):
            return self._p_add(e)
        if isinstance(e, sp.Mul):
            return self._p_mul(e)
        if isinstance(e, sp.Pow):
            return self._p_pow(e)
        if isinstance(e, (sp.Function, sp.Min, sp.Max)):  # Min and Max are not Functions
            return self._p_func(e)
        if isinstance(e, sp.Integral):
            raise PrinterError("cannot compile an unevaluated Integral (a pair without closed form): pass the "
                               "NonlocalDerivative itself to jit_scalar or make_ufunc, which integrate numerically")
        raise PrinterError(f"cannot compile {type(e).__name__}: {e}")

    # ------------------------------------------------------------------ arithmetic
    def _p_add(self, e):
        ones = [a for a in e.args if a == 1]
        rest = [a for a in e.args if a != 1]
        # exp(a) - 1 -> expm1(a)
        if len(e.args) == 2 and -1 in e.args:
            other = e.args[0] if e.args[1] == -1 else e.args[1]
            if isinstance(other, sp.exp):
                return f"math.expm1({self.doprint(other.args[0])})", _PREC["call"]
        del ones, rest
        split = self._split_constant(e)
        if split is not None:
            return split, _PREC["add"]
        terms = sorted(e.args, key=lambda a: (a.is_number, sp.default_sort_key(a)))
        out = ""
        for i, t in enumerate(terms):
            neg = t.could_extract_minus_sign()
            s = self._wrap(-t if neg else t, _PREC["add"] + 1)
            out = (f"-{s}" if neg else s) if i == 0 else out + (f" - {s}" if neg else f" + {s}")
        return out, _PREC["add"]

    def _split_constant(self, e) -> str | None:
        """``x + c`` (or ``c - x``, plus other terms) with a rational c that no float holds (1/3, the kink of
        ``Max(x - 1/3, 0)``), as ``(rest + T(c_hi)) + T(c_lo)``, ``c_lo`` the part of c that ``T(c_hi)`` misses
        (computed in float64, so that float32 code gets it too): near x = -c, where a closed form such as
        ``sqrt(1/3 - x)`` and the cut of a quadrature at the kink are most sensitive, the sum keeps every bit of
        the exact difference (1/3 rounded alone: 9e-13 relative at 1e-8 from the kink)."""
        consts = [a for a in e.args if a.is_Rational]
        if len(consts) != 1 or not any(abs(a.as_coeff_Mul()[0]) == 1 and a.as_coeff_Mul()[1] == _x for a in e.args):
            return None
        c = consts[0]
        q = int(c.q)
        if q & (q - 1) == 0:  # a dyadic rational: exact as a float (for the exponents that occur)
            return None
        op = "-" if c < 0 else "+"
        hi = float(abs(c))
        lo = float(sp.N(abs(c) - sp.Rational(hi), 30))
        rest = self._wrap(e - c, _PREC["add"])
        return f"({rest} {op} T({hi!r})) {op} T(({hi!r} - np.float64(T({hi!r}))) + ({lo!r}))"

    def _p_mul(self, e):
        if e.could_extract_minus_sign():
            s = self._wrap(-e, _PREC["mul"] + 1)
            return f"-{s}", _PREC["unary"]
        num, den = [], []
        for f in sp.Mul.make_args(e):
            if isinstance(f, sp.Pow) and f.exp.is_number and f.exp.is_negative:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            elif isinstance(f, sp.Rational) and not isinstance(f, sp.Integer) and abs(f.p) == 1:
                den.append(sp.Integer(f.q))
            else:
                num.append(f)
        ns = " * ".join(self._wrap(f, _PREC["mul"]) for f in num) if num else "T(1.0)"
        if not den:
            return ns, _PREC["mul"]
        ds = " * ".join(self._wrap(f, _PREC["mul"]) for f in den)
        if len(den) > 1:
            ds = f"({ds})"
        else:
            ds = self._wrap(den[0], _PREC["mul"] + 1)
        return f"{ns} / {ds}", _PREC["mul"]

    def _p_pow(self, e):
        b, p = e.base, e.exp
        if b == sp.E:
            return self._p_func(sp.exp(p))
        if p.is_Integer:
            n = int(p)
            if n < 0:
                return f"T(1.0) / {self._wrap(sp.Pow(b, -n, evaluate=False), _PREC['mul'] + 1)}", _PREC["mul"]
            if n <= 8:
                bs = self._wrap(b, _PREC["mul"] + 1)
                return " * ".join([bs] * n), _PREC["mul"]
            return f"{self._wrap(b, _PREC['pow'] + 1)} ** {n}", _PREC["pow"]
        if p.is_Rational and p.q == 2:
            root = f"math.sqrt({self.doprint(b)})"
            k = (abs(p.p) - 1) // 2
            s = " * ".join([root] + [self._wrap(b, _PREC["mul"] + 1)] * k)
            if p < 0:
                return f"T(1.0) / ({s})", _PREC["mul"]
            return s, _PREC["mul"]
        if p.is_number:
            return f"math.pow({self.doprint(b)}, T({number_literal(p)}))", _PREC["call"]
        return f"math.pow({self.doprint(b)}, {self.doprint(p)})", _PREC["call"]

    # ------------------------------------------------------------------ functions
    def _special(self, name: str, arg) -> str:
        """A call of one of :mod:`.specfun`'s float64 special functions."""
        self.helpers.add(name)
        return specfun.call(name, self.doprint(arg))

    def _polylog(self, fixed: str, general: str, s: int, arg) -> str:
        """A polylogarithm of order s: the helper of that order where there is one (``fixed``, formatted with s),
        else the helper of any order (``general``, s its first argument)."""
        if s in specfun.FIXED_ORDERS:
            return self._special(fixed.format(s=s), arg)
        self.helpers.add(general)
        return specfun.call_order(general, s, self.doprint(arg))

    def _p_func(self, e):
        f = e.func
        if f is sp.log:
            a = e.args[0]
            if isinstance(a, sp.Add) and 1 in a.args:
                rest = a - 1
                if isinstance(rest, sp.exp):
                    return self._special("_log1pexp", rest.args[0]), _PREC["call"]
                return f"math.log1p({self.doprint(rest)})", _PREC["call"]
        if f is sp.polylog:
            s, a = e.args
            if not (s.is_Integer and int(s) >= 0):
                raise PrinterError(f"polylog of order {s} (supported: integer orders >= 0)")
            s = int(s)
            if s == 0:
                return self._p(a / (1 - a))
            if s == 1:
                return f"-math.log1p({self.doprint(-a)})", _PREC["unary"]
            neg = -a
            if isinstance(neg, sp.exp):
                return self._polylog("_li{s}_negexp", "_polylog_negexp", s, neg.args[0]), _PREC["call"]
            return self._polylog("_li{s}", "_polylog", s, a), _PREC["call"]
        if f.__name__ in ("expm1", "log1p", "erfc"):
            return f"math.{f.__name__}({self.doprint(e.args[0])})", _PREC["call"]
        if f.__name__ == "LiNegExp":
            if not (e.args[0].is_Integer and int(e.args[0]) >= 0):
                raise PrinterError(f"polylog of order {e.args[0]} (supported: integer orders >= 0)")
            s = int(e.args[0])
            if s == 1:
                return "-" + self._special("_log1pexp", e.args[1]), _PREC["unary"]
            return self._polylog("_li{s}_negexp", "_polylog_negexp", s, e.args[1]), _PREC["call"]
        if f.__name__ == "Log1pExp":
            return self._special("_log1pexp", e.args[0]), _PREC["call"]
        if f is sp.erfi:
            return self._special("_erfi", e.args[0]), _PREC["call"]
        if f in _MATH1:
            return f"{_MATH1[f]}({self.doprint(e.args[0])})", _PREC["call"]
        if f is sp.Abs:
            return f"abs({self.doprint(e.args[0])})", _PREC["call"]
        if f is sp.sign:
            a = self._wrap(e.args[0], _PREC["cmp"] + 1)
            return f"(T(1.0) if {a} > T(0.0) else (-T(1.0) if {a} < T(0.0) else {a} * T(0.0)))", _PREC["atom"]
        if f is sp.Heaviside:
            a = self._wrap(e.args[0], _PREC["cmp"] + 1)
            h0 = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
            return f"(T(1.0) if {a} > T(0.0) else (T(0.0) if {a} < T(0.0) else T({number_literal(h0)})))", _PREC["atom"]
        if f in (sp.Max, sp.Min):
            name = "max" if f is sp.Max else "min"
            args = [self.doprint(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = f"{name}({out}, {a})"
            return out, _PREC["call"]
        if f in (sp.floor, sp.ceiling):
            name = "math.floor" if f is sp.floor else "math.ceil"
            return f"T({name}({self.doprint(e.args[0])}))", _PREC["call"]
        if f is sp.atan2:
            return f"math.atan2({self.doprint(e.args[0])}, {self.doprint(e.args[1])})", _PREC["call"]
        raise PrinterError(f"cannot compile the function {f.__name__} (in {e})")

    # ------------------------------------------------------------------ logic
    _OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}

    def _p_rel(self, e):
        if not isinstance(e, sp.Rel) or e.rel_op not in self._OPS:
            raise PrinterError(f"cannot compile the condition {e}")
        lhs, rhs = e.lhs, e.rhs
        a = self._wrap(lhs, _PREC["cmp"] + 1)
        b = self._wrap(rhs, _PREC["cmp"] + 1)
        return f"{a} {self._OPS[e.rel_op]} {b}", _PREC["cmp"]

    def _p_and(self, e):
        return " and ".join(self._wrap(a, _PREC["and"] + 1) for a in e.args), _PREC["and"]

    def _p_or(self, e):
        return " or ".join(self._wrap(a, _PREC["or"] + 1) for a in e.args), _PREC["or"]

    def _p_not(self, e):
        return f"not {self._wrap(e.args[0], _PREC['not'])}", _PREC["not"]

    def _p_piecewise(self, e):
        out = None
        for val, cond in reversed(e.args):
            v = self._wrap(val, _PREC["ternary"] + 1)
            if out is None:
                if cond is not sp.true:
                    out = f"({v} if {self._wrap(cond, _PREC['ternary'] + 1)} else T(math.nan))"
                else:
                    out = v
                continue
            out = f"({v} if {self._wrap(cond, _PREC['ternary'] + 1)} else {out})"
        return out, _PREC["atom"]
