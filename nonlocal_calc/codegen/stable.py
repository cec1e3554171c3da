"""Rewrite closed forms into numerically stable forms (driven by the expression, not by the pair).

Each transformation is general and either applies or returns ``None``:

* :func:`realify` removes the ``I*pi`` bookkeeping of logarithms of negative numbers in a cell.
* :func:`homogeneous` writes a branch that is ``delta**m * g(x/delta)`` as a polynomial (or
  algebraic function) of ``w = (x - w0*delta)/delta``, centred on the end of the cell where it is
  smallest: no overflow or underflow of ``delta**k`` in float32 and no cancellation near zeros.
* :func:`exp_rational` writes a rational function of exponentials ``exp(a*x + b*delta)`` as two
  forms, one in ``X = exp(x/N)`` for ``x < 0`` and one in ``Y = exp(-x/N)`` for ``x >= 0``, so
  nothing overflows, with the numerator factored and differences of monomials as ``expm1``.
* :func:`log_combine` turns ``sum_i c_i log(A_i)`` (integer c_i, A_i exponential-rational) into
  ``log1p((P - M)/M)`` with ``P - M`` simplified symbolically: the second differences of
  ``log cosh``-type antiderivatives become cancellation-free.
* :func:`invert_exponentials` splits a cell where an argument ``u`` of ``Li_s(-exp(u))`` or
  ``log(1 + exp(u))`` changes sign and uses the inversion formulas for ``u > 0``, so that the
  polynomial parts (``u**2/2``, ``u``...) cancel symbolically instead of numerically.

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x, delta
>>> neg, pos = exp_rational(sp.exp(x) / (1 + sp.exp(x)))
>>> neg, pos
(exp(x)/(exp(x) + 1), 1/(1 + exp(-x)))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, reduce

import sympy as sp

from ..symbols import delta, x

_X = sp.Symbol("X", positive=True)
_Y = sp.Symbol("Y", positive=True)
_Q = sp.Symbol("Q", positive=True)
_W = sp.Symbol("w", real=True)
_HYP = (sp.tanh, sp.sinh, sp.cosh, sp.sech, sp.csch, sp.coth)


class LiNegExp(sp.Function):
    """``LiNegExp(s, u) = Li_s(-exp(u))``, kept unevaluated (SymPy's polylog evaluation is slow)."""

    nargs = 2

    def _eval_evalf(self, prec):
        return sp.polylog(self.args[0], -sp.exp(self.args[1]))._eval_evalf(prec)


class Log1pExp(sp.Function):
    """``Log1pExp(u) = log(1 + exp(u))``, kept unevaluated."""

    nargs = 1

    def _eval_evalf(self, prec):
        return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)


class expm1(sp.Function):  # (lower case: printed by name, as the printers' expm1)
    """``expm1(a) = exp(a) - 1``, kept unevaluated; its derivative is ``exp(a)``, so that SymPy differentiates
    rewritten forms (an undefined function left ``Derivative(expm1(a))``, which no printer prints).

    >>> from nonlocal_calc import x
    >>> sp.diff(expm1(-x**2), x), sp.N(expm1(sp.Rational(1, 10**20)), 3)
    (-2*x*exp(-x**2), 1.00e-20)
    """

    # (no nargs: SymPy orders it as the undefined function it replaced, and printed forms keep their order)
    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])


class log1p(sp.Function):  # (lower case: printed by name, as the printers' log1p)
    """``log1p(a) = log(1 + a)``, kept unevaluated; its derivative is ``1/(1 + a)``.

    >>> from nonlocal_calc import x
    >>> sp.diff(log1p(x**2), x)
    2*x/(x**2 + 1)
    """

    def fdiff(self, argindex=1):  # (no nargs: as expm1)
        return 1 / (1 + self.args[0])


def expm1_form(t: sp.Add) -> sp.Expr | None:
    """The sum ``t`` as a multiple of ``expm1``: ``exp(a) - 1 -> expm1(a)``, ``c - c exp(a) -> -c expm1(a)``; None
    for any other sum. The one place of this rewrite: :func:`accurate_functions` applies it to whole expressions,
    :meth:`.printer.NumbaPrinter._print_Add` to each sum it prints.

    >>> from nonlocal_calc import x
    >>> expm1_form(sp.exp(x) - 1), expm1_form(3 - 3 * sp.exp(-x**2)), expm1_form(x - 1)
    (expm1(x), -3*expm1(-x**2), None)
    """
    if len(t.args) != 2:
        return None
    if -1 in t.args:
        other = t.args[0] if t.args[1] == -1 else t.args[1]
        if isinstance(other, sp.exp):
            return expm1(other.args[0])
    if t.args[0].is_Number and t.args[0] != 0:  # c - c exp(a) = -c expm1(a)
        c, m = t.args[1].as_coeff_Mul()
        if c == -t.args[0] and isinstance(m, sp.exp):
            return c * expm1(m.args[0])
    return None


def accurate_functions(expr: sp.Expr) -> sp.Expr:
    """``log(1 + r) -> log1p(r)`` and the sums of :func:`expm1_form` (before CSE could split the patterns)."""
    def lg(t):
        a = t.args[0]
        if isinstance(a, sp.Add) and 1 in a.args:
            return log1p(a - 1)
        return t

    def em(t):
        out = expm1_form(t)
        return t if out is None else out

    return expr.replace(lambda t: isinstance(t, sp.log), lg).replace(lambda t: isinstance(t, sp.Add), em)


def protect(expr: sp.Expr) -> sp.Expr:
    """Replace ``Li_s(-exp(u))`` and ``log(1 + exp(u))`` by the unevaluated :class:`LiNegExp`, :class:`Log1pExp`."""
    def poly(p):
        neg = -p.args[1]
        if isinstance(neg, sp.exp) and p.args[0].is_Integer:
            return LiNegExp(p.args[0], neg.args[0])
        return p

    def lg(t):
        a = t.args[0]
        if isinstance(a, sp.Add) and len(a.args) == 2 and 1 in a.args:
            other = a - 1
            if isinstance(other, sp.exp):
                return Log1pExp(other.args[0])
        return t

    return expr.replace(lambda t: isinstance(t, sp.polylog), poly).replace(lambda t: isinstance(t, sp.log), lg)


# ---------------------------------------------------------------- regions
@dataclass(frozen=True)
class Region:
    """A cell ``lo < x < hi`` (``None`` = unbounded) for ``dlo < delta < dhi``."""

    lo: sp.Expr | None = None
    hi: sp.Expr | None = None
    dlo: sp.Expr = sp.Integer(0)
    dhi: sp.Expr | None = None

    def holds_delta(self, d: sp.Expr) -> bool:
        """Whether ``dlo < d < dhi``."""
        return bool(d > self.dlo) and (self.dhi is None or bool(d < self.dhi))

    def delta_rep(self) -> sp.Expr:
        if self.dhi is None:
            return self.dlo + sp.Rational(1, 3) if self.dlo == 0 else self.dlo * 2
        return (self.dlo + self.dhi) / 2

    def points(self, d: sp.Expr | None = None) -> list[tuple[sp.Expr, sp.Expr]]:
        """A few representative points (x, delta) inside the cell, for the given delta (default: a typical one)."""
        d = self.delta_rep() if d is None else sp.sympify(d)
        lo = None if self.lo is None else self.lo.subs(delta, d)
        hi = None if self.hi is None else self.hi.subs(delta, d)
        if lo is None and hi is None:
            xs = [sp.Rational(-7, 5), sp.Rational(3, 10), sp.Rational(17, 10)]
        elif lo is None:
            xs = [hi - sp.Rational(1, 7), hi - 2]
        elif hi is None:
            xs = [lo + sp.Rational(1, 7), lo + 2]
        else:
            xs = [lo + (hi - lo) * sp.Rational(k, 7) for k in (1, 4, 6)]
        return [(xv, d) for xv in xs]

    def split(self, cuts: list[sp.Expr]) -> list[Region]:
        """Cut the cell at ``x = c`` for the cut points strictly inside it (ordered at delta_rep)."""
        d = self.delta_rep()
        val = lambda e: float(e.subs(delta, d))  # noqa: E731
        lo = -float("inf") if self.lo is None else val(self.lo)
        hi = float("inf") if self.hi is None else val(self.hi)
        inside = sorted({c for c in cuts if lo < val(c) < hi}, key=val)
        bounds = [self.lo, *inside, self.hi]
        return [Region(a, b, self.dlo, self.dhi) for a, b in zip(bounds, bounds[1:])]


# ---------------------------------------------------------------- realify
def realify(expr: sp.Expr, region: Region) -> sp.Expr:
    """Drop the imaginary bookkeeping of a real cell: ``log(a) -> log(-a) + I*pi`` where ``a < 0``."""
    if not expr.has(sp.log) and not expr.has(sp.I):
        return expr
    x0, d0 = region.points()[0]

    def fix(e):
        if isinstance(e, sp.log):
            a = e.args[0]
            v = complex(sp.N(a.subs({x: x0, delta: d0})))
            if abs(v.imag) < 1e-30 and v.real < 0:
                return sp.log(-a) + sp.I * sp.pi
        return e

    e = expr.replace(lambda e: isinstance(e, sp.log), fix)
    if not e.has(sp.I):
        return e
    e = sp.expand(e)
    re_part = sp.Add(*[t for t in sp.Add.make_args(e) if not t.has(sp.I)])
    im_part = sp.Add(*[t for t in sp.Add.make_args(e) if t.has(sp.I)])
    for xv, dv in region.points():
        if abs(complex(sp.N(im_part.subs({x: xv, delta: dv})))) > 1e-20:
            raise ValueError(f"the branch {expr} is not real on {region}")
    if re_part.has(sp.I):
        raise ValueError(f"cannot separate the real part of {expr}")
    return re_part


# ---------------------------------------------------------------- homogeneous branches
def homogeneous(expr: sp.Expr, region: Region):
    """``(m, g)`` with ``expr = delta**m * g(w)``, ``w = x/delta``, if the branch is homogeneous, else None."""
    if not expr.free_symbols & {x} or expr.atoms(sp.Function):
        return None  # only algebraic functions of x and delta can be homogeneous
    e = sp.expand(sp.powsimp(sp.expand(expr.subs(x, _W * delta), power_base=True), force=True), force=True)
    m = None
    terms = []
    for t in sp.Add.make_args(e):
        c, dpow = t.as_independent(delta, as_Add=False)
        pw = sp.Integer(0) if dpow == 1 else (dpow.exp if isinstance(dpow, sp.Pow) and dpow.base == delta
                                              else (1 if dpow == delta else None))
        if pw is None or (m is not None and pw != m):
            return None
        m = pw
        terms.append(c)
    g = sp.Add(*terms)
    if g.has(delta) or m is None:
        return None
    return m, g


def centred_poly(g: sp.Expr, region: Region, m) -> tuple[sp.Expr, sp.Expr] | None:
    """For polynomial ``g(w)``: ``(w0, p)`` with ``g = p(w - w0)`` and w0 the cell end where |g| is smallest."""
    if not g.is_polynomial(_W):
        return None
    ends = []
    for b in (region.lo, region.hi):
        if b is None:
            continue
        w0 = sp.simplify(b / delta)
        if w0.has(delta) or w0.free_symbols:
            continue
        ends.append((abs(g.subs(_W, w0)), w0))
    if not ends:
        return sp.Integer(0), sp.expand(g)
    _, w0 = min(ends, key=lambda t: (float(t[0]), abs(float(t[1]))))
    return w0, sp.expand(g.subs(_W, _W + w0))


# ---------------------------------------------------------------- exponential-rational forms
def _hyp_to_exp(e: sp.Expr) -> sp.Expr:
    return e.replace(lambda t: isinstance(t, _HYP), lambda t: t.rewrite(sp.exp))


def _exp_atoms(e: sp.Expr):
    return [a for a in e.atoms(sp.exp)]


def _linear_coeffs(arg: sp.Expr):
    """``(a, b, c)`` with ``arg = a*x + b*delta + c`` (rational a, b; c a number), else None."""
    p = sp.expand(arg)
    a, b = p.coeff(x), p.coeff(delta)
    c = sp.expand(p - a * x - b * delta)
    if not (a.is_Rational and b.is_Rational and c.is_number):
        return None
    return a, b, c


def to_exp_poly(e: sp.Expr):
    """Substitute ``exp(a x + b delta + c) -> exp(c) X^(a N) Q^(b M)``; ``(rational in X, Q, N, M)`` or None."""
    e = _hyp_to_exp(e)
    atoms = _exp_atoms(e)
    if not atoms:
        return None
    coeffs = {}
    for at in atoms:
        lc = _linear_coeffs(at.args[0])
        if lc is None:
            return None
        coeffs[at] = lc
    den_x = reduce(sp.ilcm, [sp.Rational(a).q for a, _, _ in coeffs.values()], 1)
    den_d = reduce(sp.ilcm, [sp.Rational(b).q for _, b, _ in coeffs.values()], 1)
    rep = {at: sp.exp(c) * _X ** (a * den_x) * _Q ** (b * den_d) for at, (a, b, c) in coeffs.items()}
    r = e.xreplace(rep)
    if r.has(sp.exp) and any(a.has(x, delta) for a in r.atoms(sp.exp)):
        return None
    # any other function of x or delta makes it non-rational
    for f in r.atoms(sp.Function):
        if f.has(x, delta, _X, _Q):
            return None
    if not r.is_rational_function(_X, _Q):
        return None
    return sp.cancel(sp.together(r)), den_x, den_d


def _back(e: sp.Expr, nx: int, nd: int) -> sp.Expr:
    return e.xreplace({_X: sp.exp(x / nx), _Y: sp.exp(-x / nx), _Q: sp.exp(delta / nd)})


def _stable_factor(f: sp.Expr, nx: int, nd: int) -> sp.Expr:
    """One irreducible factor, back in exponentials, written without cancellation where possible."""
    f = sp.expand(f)
    terms = sp.Add.make_args(f)
    if len(terms) == 2:
        t1, t2 = terms
        c1, m1 = t1.as_coeff_Mul()
        c2, m2 = t2.as_coeff_Mul()
        if c1 == -c2 and not (m1.has(x, delta) or m2.has(x, delta)):
            # c (m1 - m2) = c m2 expm1(log(m1/m2)): a difference of two monomials
            pos, neg = (m1, m2) if c1 > 0 else (m2, m1)
            lg = sp.expand_log(sp.log(_back(pos / neg, nx, nd)), force=True)
            lg = sp.expand(sp.powsimp(lg, force=True))
            return abs(c1) * _back(neg, nx, nd) * expm1(lg)
    return _back(f, nx, nd)


def _factored(expr: sp.Expr, nx: int, nd: int) -> sp.Expr:
    num, den = sp.fraction(sp.cancel(expr))
    out = sp.Integer(1)
    for part, sgn in ((num, 1), (den, -1)):
        c, facs = sp.factor_list(sp.expand(part))
        out *= sp.Integer(1) * c ** sgn
        for f, k in facs:
            out *= _stable_factor(f, nx, nd) ** (k * sgn)
    return out


def exp_rational(expr: sp.Expr):
    """Two overflow-free forms ``(for x < 0, for x >= 0)`` of a rational function of exponentials, or None."""
    if expr.has(LiNegExp, Log1pExp, sp.polylog):
        return None
    res = to_exp_poly(expr)
    if res is None:
        return None
    r, nx, nd = res
    neg = _factored(r, nx, nd)
    pos = _factored(sp.cancel(r.xreplace({_X: 1 / _Y})).xreplace({_Y: _X}), nx, nd)
    pos = _swap_x(pos, nx)
    return _finish(neg), _finish(pos)


def _swap_x(e: sp.Expr, nx: int) -> sp.Expr:
    """In the x >= 0 form X stood for Y = exp(-x/N): turn exp(k x/N) into exp(-k x/N)."""
    def flip(t):
        lc = _linear_coeffs(t.args[0])
        if lc is None:
            return t
        a, b, c = lc
        return sp.exp(-a * x + b * delta + c)
    out = e.replace(lambda t: isinstance(t, sp.exp), flip)
    # expm1 arguments were built from X too
    def flip_expm1(t):
        lc = _linear_coeffs(t.args[0])
        if lc is None:
            return t
        a, b, c = lc
        return expm1(-a * x + b * delta + c)
    return out.replace(lambda t: isinstance(t, sp.Function) and t.func.__name__ == "expm1", flip_expm1)


def _finish(e: sp.Expr) -> sp.Expr:
    return sp.powsimp(e, combine="exp")


# ---------------------------------------------------------------- log combination
def log_combine(expr: sp.Expr):
    """``expr = pref * sum c_i log(A_i) + linear`` -> ``pref * log1p(R)`` with R in stable forms, or None.

    Returns ``(pref, (R_neg, R_pos))``. For algebraic ``A_i`` (no linear part), R is the cancelled, factored
    ratio ``prod A_i^c_i - 1``: ``(2 log(x + 1) - log(x + 1 - delta) - log(x + 1 + delta)) / delta^2`` becomes
    ``log1p(delta^2 / ((x + 1 - delta) (x + 1 + delta))) / delta^2``.
    """
    if expr.has(LiNegExp):
        return None
    e = sp.expand(expr.replace(lambda t: isinstance(t, Log1pExp), lambda t: sp.log(1 + sp.exp(t.args[0]))), log=False)
    logs = [a for a in e.atoms(sp.log) if a.has(x)]
    if len(logs) < 2:
        return None
    # a common prefactor: c_i = c0 * n_i / L with integers n_i
    logs.sort(key=sp.default_sort_key)
    c0 = e.coeff(logs[0])
    if c0 == 0 or c0.has(x):
        return None
    ratios = [sp.simplify(e.coeff(lg) / c0) for lg in logs]
    if not all(r.is_Rational for r in ratios):
        return None
    L = reduce(sp.ilcm, [sp.Rational(r).q for r in ratios], 1)
    c0 = c0 / L
    s = sp.expand(e / c0)
    ints = {}
    rest = s
    for lg in logs:
        c = s.coeff(lg)
        if not c.is_Integer:
            return None
        ints[lg] = int(c)
        rest = rest - c * lg
    rest = sp.expand(rest)
    if rest.has(sp.log, sp.polylog) or rest.has(sp.Function):
        return None
    lin = sp.Poly(rest, x, delta) if rest != 0 else None
    if lin is not None and lin.total_degree() > 1:
        return None
    P, M = sp.Integer(1), sp.Integer(1)
    for lg, c in ints.items():
        if c > 0:
            P *= lg.args[0] ** c
        else:
            M *= lg.args[0] ** (-c)
    if rest != 0:
        P *= sp.exp(rest)
    if not P.has(sp.exp) and not M.has(sp.exp):  # algebraic arguments: R = (P - M) / M, cancelled and factored
        R = sp.factor(sp.cancel((P - M) / M))
        return c0, (R, R)
    res = to_exp_poly(P - M)
    if res is None or to_exp_poly(M) is None:
        return None
    r_diff, _, _ = res
    ratio = (P - M) / M
    forms = exp_rational(ratio)
    if forms is None:
        return None
    del r_diff
    return c0, forms


# ---------------------------------------------------------------- inversion of exponential arguments
def _inv_args(e: sp.Expr):
    """Arguments u of ``LiNegExp(s, u)`` and ``Log1pExp(u)`` in ``e``."""
    out = {t.args[1] for t in e.atoms(LiNegExp)}
    out |= {t.args[0] for t in e.atoms(Log1pExp)}
    return out


def _inversion(s: int, u: sp.Expr) -> sp.Expr:
    """``Li_s(-e^u)`` in terms of ``Li_s(-e^-u)`` (exact identity)."""
    pw = sp.bernoulli(s, sp.Rational(1, 2) + u / (2 * sp.pi * sp.I))
    poly = sp.expand(-((2 * sp.pi * sp.I) ** s) / sp.factorial(s) * pw)
    return (-1) ** (s - 1) * LiNegExp(s, sp.expand(-u)) + poly


def invert_exponentials(expr: sp.Expr, region: Region):
    """Split ``region`` where the arguments of ``Li_s(-e^u)``/``log(1+e^u)`` change sign; invert where u > 0.

    Returns ``[(subregion, expr_in_subregion)]`` or None when there is nothing to invert.
    """
    args = _inv_args(expr)
    if not args:
        return None
    cuts = []
    for u in args:
        lc = _linear_coeffs(u)
        if lc is None or lc[0] == 0:
            continue
        a, b, c = lc
        cuts.append(sp.expand(-(b * delta + c) / a))
    out = []
    for sub in region.split(cuts):
        xv, dv = sub.points()[0]

        def positive(u, xv=xv, dv=dv):
            return float(u.subs({x: xv, delta: dv})) > 0

        def inv_poly(p, positive=positive):
            s_, u = p.args
            if s_.is_Integer and int(s_) >= 2 and positive(u):
                return _inversion(int(s_), u)
            return p

        def inv_log(lg, positive=positive):
            u = lg.args[0]
            if positive(u):
                return u + Log1pExp(sp.expand(-u))
            return lg

        e = expr.replace(lambda t: isinstance(t, LiNegExp), inv_poly)
        e = e.replace(lambda t: isinstance(t, Log1pExp), inv_log)
        e = sp.expand(e, log=False, power_exp=False)
        out.append((sub, e))
    return out


# ---------------------------------------------------------------- constants of the horizon that cancel
#: A sum of delta alone is replaced below ``d_s`` when its terms cancel more than this factor there.
CANCEL_FACTOR = 8
#: Relative accuracy of the Taylor polynomial at ``d_s`` (a float64 rounding is 1.1e-16).
SERIES_RTOL = 1e-18


def _growth(e: sp.Expr) -> sp.Expr | None:
    """The part of exp's argument e that grows with delta alone (``a delta^k``, a > 0, k >= 1, plus lower powers),
    or None."""
    g = sp.Add(*[t for t in sp.Add.make_args(sp.expand(e)) if t.free_symbols == {delta}])
    if g == 0 or not g.is_polynomial(delta):
        return None
    lead = sp.Poly(g, delta).LC()
    return g if lead.is_number and lead > 0 else None


def _scaled(factors: list, g: sp.Expr, n) -> sp.Expr:
    """``prod(factors) * exp(-n g)`` with the exponentials combined; a factor ``c - c exp(A)`` (rho's ``1 - exp(a
    (delta^2 - s^2))``) becomes ``c exp(A - g) expm1(-A)`` (A - g bounded; expm1 keeps the small values)."""
    if n == 1:
        for i, F in enumerate(factors):
            if isinstance(F, sp.Add) and len(F.args) == 2 and F.args[0].is_Number:
                c1, m = F.args[1].as_coeff_Mul()
                if c1 == -F.args[0] and isinstance(m, sp.exp):
                    A = m.args[0]
                    new = -c1 * sp.exp(sp.expand(A - g)) * expm1(-A)
                    return sp.powsimp(sp.Mul(*factors[:i], *factors[i + 1:]), combine="exp") * new
    return sp.powsimp(sp.Mul(*factors) * sp.exp(-n * g), combine="exp")


def scale_growing_exponentials(expr: sp.Expr) -> sp.Expr:
    """A quotient ``P / Q`` whose denominator holds ``exp(g)``, g growing with delta (a fixed-width factor's
    normalization ``20 delta - sqrt(10 pi) exp(10 delta^2) erf(sqrt(10) delta)``), as ``(P exp(-g)) / (Q exp(-g))``:
    exp(g) overflows past delta ~ 37 widths and the quotient became inf/inf = NaN; scaled, nothing overflows.

    >>> from nonlocal_calc.symbols import delta, x
    >>> Q = 20 * delta - 3 * sp.exp(2 * delta**2) * sp.erf(delta)
    >>> scale_growing_exponentials(sp.exp(2 * delta**2 - 2 * x**2) / Q)
    exp(-2*x**2)/(20*delta*exp(-2*delta**2) - 3*erf(delta))
    >>> scale_growing_exponentials((1 - sp.exp(2 * delta**2 - 2 * x**2)) / Q)
    expm1(-2*delta**2 + 2*x**2)*exp(-2*x**2)/(20*delta*exp(-2*delta**2) - 3*erf(delta))
    """
    def walk(e):
        if not e.args:
            return e
        e = e.func(*[walk(a) for a in e.args])
        if not isinstance(e, sp.Mul):
            return e
        for f in e.args:
            if isinstance(f, sp.Pow) and isinstance(f.base, sp.Add) and f.exp.is_Integer and f.exp < 0:
                gs = [g for a in f.base.atoms(sp.exp)  # (exp(delta) alone: exp(delta - x) is not overflow)
                      if a.args[0].free_symbols == {delta} and (g := _growth(a.args[0])) is not None]
                if not gs:
                    continue
                g = max(gs, key=lambda g_: sp.Poly(g_, delta).degree())
                q = sp.Add(*[sp.powsimp(t * sp.exp(-g), combine="exp") for t in f.base.args])
                return _scaled([a for a in e.args if a is not f], g, -f.exp) * q**f.exp
        return e

    return walk(expr)


def small_horizon_series(expr: sp.Expr) -> sp.Expr:
    """Sums of delta alone that cancel for a small horizon become ``Piecewise((Taylor polynomial, delta < d_s),
    (sum, True))``.

    A kernel with a fixed-width factor has a normalization such as ``20 delta - sqrt(10 pi) exp(10 delta^2)
    erf(sqrt(10) delta)``, which is ``~ delta^3`` while its terms are ``~ delta``: printed as it is, it keeps
    ``1e-16 / delta^2`` of itself. Below the horizon ``d_s`` where the terms cancel more than
    :data:`CANCEL_FACTOR`, the sum is its Taylor polynomial, ``delta^k0 (b_0 + b_1 delta + ...)`` (see
    :func:`_taylor`), as many terms as make it :data:`SERIES_RTOL`-accurate at ``d_s``. A sum without such a
    polynomial (not analytic at 0) is kept.

    >>> from nonlocal_calc.symbols import delta
    >>> A = 20 * delta - sp.sqrt(10 * sp.pi) * sp.exp(10 * delta**2) * sp.erf(sp.sqrt(10) * delta)
    >>> (series, cond), (same, _) = small_horizon_series(A).args
    >>> cond, same == A, sp.Poly(series, delta).monoms()[-1]
    (delta < 0.25, True, (3,))
    """
    def walk(e):
        if isinstance(e, sp.Add) and e.free_symbols == {delta} and not e.is_polynomial(delta):
            return _horizon_piecewise(e)
        if not e.args or not e.has(delta):
            return e
        args = [walk(a) for a in e.args]
        return e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)  # (unchanged: not rebuilt)

    return walk(expr)


@lru_cache(maxsize=256)  # (one constant appears in many cells)
def _horizon_piecewise(A: sp.Expr) -> sp.Expr:
    import mpmath

    terms = sp.Add.make_args(A)
    fA = sp.lambdify(delta, A, "mpmath")
    fts = [sp.lambdify(delta, t, "mpmath") for t in terms]
    with mpmath.workdps(60):
        def cancel(d):
            v = abs(fA(d))
            return mpmath.inf if v == 0 else sum(abs(f(d)) for f in fts) / v

        ds = None
        for j in range(4, -80, -1):  # delta = 16 down to 2^-79: the smallest d_s with no cancellation above it
            d = mpmath.ldexp(1, j)
            try:
                c = cancel(d)
            except (ZeroDivisionError, ValueError, OverflowError):
                return A
            if c > CANCEL_FACTOR:
                ds = mpmath.ldexp(1, j + 1)
                break
        if ds is None:
            return A
        poly = _taylor(A, fA, ds)
    return A if poly is None else sp.Piecewise((poly, delta < sp.Float(float(ds))), (A, True))


def _taylor(A: sp.Expr, fA, ds) -> sp.Expr | None:
    """``delta^k0 * sum b_j delta^j`` accurate to SERIES_RTOL on (0, ds], or None.

    k0 from the decay of A between two tiny horizons (it must be a whole number: A analytic at 0), the b_j as
    the discrete Cauchy integral of ``g = A / delta^k0`` on the circle of radius ``2 ds`` (128 points: the
    aliasing error is ``b_(j+128) (2 ds)^128``)."""
    import mpmath

    t = mpmath.mpf(10) ** -12
    ratio = mpmath.log(abs(fA(t) / fA(t / 2)), 2)
    k0 = int(mpmath.nint(ratio))
    if k0 < 1 or abs(ratio - k0) > 1e-6:
        return None
    r, N = 2 * ds, 128
    vals = [fA(r * mpmath.expjpi(2 * mpmath.mpf(i) / N)) / (r * mpmath.expjpi(2 * mpmath.mpf(i) / N)) ** k0
            for i in range(N)]
    b = [sum(v * mpmath.expjpi(-2 * mpmath.mpf(i * j) / N) for i, v in enumerate(vals)) / N / r**j
         for j in range(N // 2)]
    scale = max(abs(c) * r**j for j, c in enumerate(b))
    b = [c.real if abs(c) * r**j > mpmath.mpf(10) ** -40 * scale else 0 for j, c in enumerate(b)]
    for n in (4, 8, 12, 16, 24, 32, 48, 64):
        p = lambda d, n=n: d**k0 * mpmath.polyval(b[:n][::-1], d)  # noqa: E731
        if all(abs(p(d) / fA(d) - 1) < SERIES_RTOL for d in (ds, ds / 2, ds / 16, ds / 1024)):
            return sp.Add(*[sp.Float(c, 20) * delta ** (k0 + j) for j, c in enumerate(b[:n]) if c != 0])
    return None
