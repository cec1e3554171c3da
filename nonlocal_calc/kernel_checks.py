"""Kernel quantities computed with SymPy, and their checks against the defining identities.

SymPy's definite integrals come with conditions (see :mod:`nonlocal_calc.conditions`) and can be wrong; a
kernel quantity is used only after a numerical check of what defines it, at the horizons :data:`CHECK_DELTAS`:

* the first moment ``M_1 = int z mu(z) dz`` is 1 for a normalized kernel,
* a moment ``M_k`` equals the mpmath quadrature of ``2 int_0^delta t^k mu(t) dt``,
* the smoothing profile has ``rho(delta) = 0``, ``rho'(s) = -mu(s)`` (at points where mu is smooth) and
  ``int rho = M_1``.

Each check returns None when it passes and a sentence naming the failed identity otherwise.

>>> import sympy as sp
>>> from nonlocal_calc import kernels
>>> from nonlocal_calc.symbols import delta
>>> s = sp.Symbol("s", positive=True)
>>> rho_mismatch(kernels.sign(), (delta - s) / delta**2, s) is None
True
>>> rho_mismatch(kernels.sign(), (delta - s) / (2 * delta**2), s)
"at delta = 0.1, s = 0.01373: rho'(s) = -50.0, not -mu(s) = -100.0"
>>> rho_mismatch(kernels.sign(), (2 * delta - s) / delta**2, s)
'at delta = 0.1: rho(delta) = 10.0, not 0'
"""

from __future__ import annotations

import mpmath
import sympy as sp

from .conditions import resolve
from .symbols import delta, z
from .timeouts import DerivationTimeout, attempt

#: Horizons at which a SymPy condition is decided: a wide range, so that a case distinction in delta survives.
CONDITION_DELTAS = (sp.Rational(1, 1000), sp.Rational(3, 10), sp.Rational(7, 10), sp.Integer(1), sp.Integer(3),
                    sp.Integer(100))
#: Points of the horizon (fractions of delta) at which conditions and pointwise identities are sampled; away
#: from simple fractions, where kernels typed by users put their kinks.
FRACTIONS = ("0.1373", "0.4619", "0.8537")
#: Horizons at which kernel quantities are checked against their defining identities.
CHECK_DELTAS = ("0.1", "0.3", "0.7", "1")
#: Relative tolerance of the checks: quadrature at 30 digits of integrands that may have kinks (a kernel with a
#: Heaviside factor) is good to about 1e-12; a wrong branch of SymPy's answer is off by far more.
TOL = mpmath.mpf("1e-10")
#: Working precision (digits) of the checks.
DPS = 20
#: CPU seconds SymPy gets for one way of computing one kernel integral before the next way is tried (a closed
#: form of the catalogue's kernels takes at most 0.3 s; SymPy's heuristic search on some integrands never ends).
SYMBOLIC_STEP = 5.0


def _samples(symbols: set) -> list[dict]:
    """Substitutions covering delta > 0 and 0 < s < delta for the symbols present (delta and s)."""
    others = [v for v in symbols if v != delta]
    out = []
    for d in CONDITION_DELTAS:
        base = {delta: d} if delta in symbols else {}
        out += [{**base, **{v: sp.Rational(f) * d for v in others}} for f in FRACTIONS] if others else [base]
    return out


def _integrate(integrand: sp.Expr, limits: tuple) -> sp.Expr | None:
    """SymPy's integral (definite with ``limits = (var, lo, hi)``, else ``(var,)``) of the var-dependent factor of
    the integrand (times the rest), each way of computing it within :data:`SYMBOLIC_STEP` seconds of CPU time: as
    SymPy chooses; term by term (exponentials multiplied out); without SymPy's heuristic Risch search, which does not
    stop on ``z**(1/20)*exp(-z**2)``. None when no way gives a closed form (an exception inside SymPy counts as
    none: its Risch algorithm raises ExactQuotientFailed on float coefficients)."""
    const, part = integrand.as_independent(limits[0], as_Add=False)
    terms = sp.Add.make_args(sp.expand(part))

    def one(expr, **hints):
        try:
            r = attempt(SYMBOLIC_STEP, lambda: sp.integrate(expr, limits, **hints))
        except DerivationTimeout:
            raise  # a caller's budget
        except Exception:  # noqa: BLE001  (SymPy's integrate fails with many kinds of exceptions)
            return None
        return None if r is None or r.has(sp.Integral) else r

    def termwise():
        parts = [one(t) or one(t, heurisch=False) for t in terms]
        return None if None in parts else sp.Add(*parts)

    ways = [lambda: one(part), termwise] if len(terms) > 1 else [lambda: one(part)]
    for way in [*ways, lambda: one(part, heurisch=False)]:
        r = way()
        if r is not None:
            return const * r
    return None


def unpolar(expr: sp.Expr) -> sp.Expr:
    """``expr`` without SymPy's polar numbers: its incomplete gamma functions come as
    ``lowergamma(13*exp_polar(I*pi)/27, ...)``, which neither lambdify nor the code generator know; exp_polar(w)
    is the number exp(w) (the answers are checked numerically afterwards, branch and all).

    >>> import sympy as sp
    >>> unpolar(sp.lowergamma(13 * sp.exp_polar(sp.I * sp.pi) / 27, sp.Symbol("s")))
    lowergamma(-13/27, s)
    """
    if not expr.has(sp.exp_polar):
        return expr
    return sp.unpolarify(expr.replace(lambda e: isinstance(e, sp.exp_polar), lambda e: sp.exp(e.args[0])))


def definite(integrand: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """SymPy's ``int_lo^hi integrand d(var)`` with its conditions resolved for delta > 0, 0 < lo < hi <= delta
    (the unevaluated Integral when SymPy finds no closed form within its steps of CPU time)."""
    r = _integrate(integrand, (var, lo, hi))
    if r is None:
        return sp.Integral(integrand, (var, lo, hi))
    r = unpolar(sp.piecewise_fold(r))
    return resolve(r, _samples((r.free_symbols | lo.free_symbols) - {var}))


def by_antiderivative(integrand: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """The same integral as ``F(hi) - F(lo)`` with F SymPy's antiderivative (its conditions resolved); the
    value at 0 is a one-sided limit (the unevaluated Integral when SymPy finds neither in its steps)."""
    const, part = integrand.as_independent(var, as_Add=False)
    prim = _integrate(part, (var,))
    if prim is None:
        return sp.Integral(integrand, (var, lo, hi))
    prim = resolve(unpolar(sp.piecewise_fold(prim)), _samples(prim.free_symbols - {var} | {var}))

    def at(w):
        return attempt(SYMBOLIC_STEP, lambda: sp.limit(prim, var, 0, "+")) if w == 0 else prim.subs(var, w)

    ends = at(hi), at(lo)
    return sp.Integral(integrand, (var, lo, hi)) if None in ends else const * (ends[0] - ends[1])


def kink_functions(expr: sp.Expr) -> list[sp.Expr]:
    """The functions whose zeros are the points where ``expr`` may jump or kink (Heaviside, sign, Abs, Min, Max
    and Piecewise conditions)."""
    out = []
    for e in sp.preorder_traversal(expr):
        if isinstance(e, (sp.Heaviside, sp.sign, sp.Abs)):
            out.append(e.args[0])
        elif isinstance(e, (sp.Min, sp.Max)):
            out += [a - b for a, b in zip(e.args, e.args[1:])]
        elif isinstance(e, sp.Piecewise):
            out += [c.lhs - c.rhs for _, c in e.args if isinstance(c, sp.core.relational.Relational)]
    return out


def kinks(expr: sp.Expr, var: sp.Symbol, d: mpmath.mpf) -> list[mpmath.mpf]:
    """The points of (0, d) where ``expr`` (in var and delta) may jump or kink, found by sign changes of the
    functions of :func:`kink_functions` on a grid of 400 cells, refined by bisection (at delta = d)."""
    found = []
    for g in kink_functions(expr.subs(delta, d)):
        if var not in g.free_symbols:
            continue
        fn = sp.lambdify(var, g, "mpmath")
        grid = [d * i / 400 for i in range(1, 400)]
        vals = [_value(fn, t) for t in grid]
        for a, b, fa, fb in zip(grid, grid[1:], vals, vals[1:]):
            if fa is not None and fb is not None and (fa == 0 or fa * fb < 0):
                found.append(a if fa == 0 else mpmath.findroot(fn, (a, b), solver="anderson"))
    return sorted(set(found))


def exponent_at_zero(fn, d: mpmath.mpf) -> mpmath.mpf | None:
    """The exponent a of ``fn(t) ~ c t**a`` as t -> 0+, measured between ``t = d 10**-30`` and ``d 10**-60`` (a
    logarithmic factor shifts it by about -0.01); None where fn vanishes or cannot be evaluated there."""
    with mpmath.workdps(mpmath.mp.dps + 10):
        lo, hi = _value(fn, d * mpmath.mpf(10) ** -60), _value(fn, d * mpmath.mpf(10) ** -30)
        if not lo or not hi:
            return None
        return mpmath.log(abs(hi / lo)) / mpmath.log(mpmath.mpf(10) ** 30)


def quad0(fn, d: mpmath.mpf, cuts=(), m: int = 8) -> mpmath.mpf:
    """``int_0^d fn(t) dt``, split at ``cuts``, with ``t = d u**m``: kernel singularities ``t**a`` (a > -1) at 0
    become mild. (Only integrands singular at 0 need it: for a moment of high order k the factor ``u**(m k)``
    is so peaked at u = 1 that tanh-sinh at 20 digits is off by 3e-7 for k = 17, m = 8.) When ``u**(m(a+1) - 1)``
    would still be singular (a near -1: the first moment of power(p) for p near -2), m is raised to make it
    ``u**(>= 1)``: with m = 8, tanh-sinh gave 0.98865 for the 1 of power(-199/100)."""
    a = exponent_at_zero(fn, d)
    if a is not None and -1 < a and m * (a + 1) < 2:
        m = max(m, int(mpmath.ceil(2 / (a + 1))))
    us = [mpmath.mpf(0), *[(c / d) ** (mpmath.mpf(1) / m) for c in cuts], mpmath.mpf(1)]

    def F(u):
        return fn(d * u**m) * m * d * u ** (m - 1)

    # mpmath.quad stops on an absolute error estimate of 10^-dps: a tiny integral (M_21 = 9e-22 at delta = 0.1)
    # would be accepted at the first degree, 3e-6 off. Integrate F over its sampled size instead.
    sizes = [abs(v) for v in (_value(F, mpmath.mpf(u)) for u in ("0.3", "0.6", "0.9", "0.99")) if v is not None]
    size = max(sizes, default=0) or mpmath.mpf(1)
    return size * mpmath.quad(lambda u: F(u) / size, us)


def at_horizon(expr: sp.Expr, var: sp.Symbol, d: mpmath.mpf):
    """``expr`` (in var and delta) at the horizon d as an mpmath function of var, its var-free factor evaluated
    once (the normalization of a Gaussian kernel costs more than the rest)."""
    const, shape = expr.as_independent(var, as_Add=False)
    c = sp.lambdify(delta, const, "mpmath")(d)
    fn = sp.lambdify((var, delta), shape, "mpmath")
    return lambda t: c * fn(t, d)


def mu_at(kernel, d: mpmath.mpf):
    """mu on (0, d) at the horizon d, as a function of t."""
    return at_horizon(kernel.mu_plus, z, d)


def numeric_moment(kernel, k: int, d: mpmath.mpf, absolute: bool = False) -> mpmath.mpf:
    """``M_k = int z**k mu(z) dz`` at the horizon d by quadrature of mu_plus (``int |z**k mu|`` if absolute)."""
    if kernel.discrete:
        val = 2 * d**k * sp.lambdify(delta, kernel.mu_plus, "mpmath")(d)
        return abs(val) if absolute else val
    mu = mu_at(kernel, d)
    g = (lambda t: abs(mu(t))) if absolute else mu
    # t**k mu(t) ~ t**(k + q) with q > -2: singular at 0 only for k = 1
    return 2 * quad0(lambda t: t**k * g(t), d, kinks(kernel.mu_plus, z, d), 8 if k == 1 else 1)


def _close(got, want, kernel, k: int, d: mpmath.mpf) -> bool:
    """``got`` agrees with the moment-like ``want`` to TOL relative to ``int |z**k mu|`` (computed only when
    needed: it matters where the moment nearly vanishes)."""
    if got is None:
        return False
    return abs(got - want) <= TOL * abs(want) or abs(got - want) <= TOL * numeric_moment(kernel, k, d, True)


def _value(fn, *args) -> mpmath.mpf | None:
    try:
        val = fn(*args)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None
    return mpmath.re(val) if mpmath.isfinite(val) and mpmath.im(val) == 0 else None


def normalization_mismatch(kernel) -> str | None:
    """None when a normalized kernel has first moment 1 at every checked horizon."""
    if not kernel.normalize:
        return None
    with mpmath.workdps(DPS):
        for ds in CHECK_DELTAS:
            m1 = numeric_moment(kernel, 1, mpmath.mpf(ds))
            if not abs(m1 - 1) <= TOL:
                return f"at delta = {ds}: the normalized first moment is {mpmath.nstr(m1, 12)}, not 1"
    return None


def moment_mismatch(kernel, k: int, value: sp.Expr) -> str | None:
    """None when ``value`` (a formula in delta) is the k-th moment of ``kernel`` at every checked horizon."""
    fn = sp.lambdify(delta, value, "mpmath")
    with mpmath.workdps(DPS):
        for ds in CHECK_DELTAS:
            d = mpmath.mpf(ds)
            got, want = _value(fn, d), numeric_moment(kernel, k, d)
            if not _close(got, want, kernel, k, d):
                return f"at delta = {ds}: SymPy's M_{k} = {value} is {got}, quadrature gives {mpmath.nstr(want, 15)}"
    return None


def rho_mismatch(kernel, rho: sp.Expr, s: sp.Symbol) -> str | None:
    """None when ``rho`` (a formula in s > 0 and delta) is the smoothing profile of ``kernel``."""
    if rho.has(sp.Integral, sp.nan, sp.zoo) or rho.free_symbols - {s, delta}:
        return f"SymPy's rho = {rho} is not a closed form in s and delta"
    drho = sp.diff(rho, s)
    with mpmath.workdps(DPS):
        for ds in CHECK_DELTAS:
            d = mpmath.mpf(ds)
            mu, f, df = mu_at(kernel, d), at_horizon(rho, s, d), at_horizon(drho, s, d)
            m1 = numeric_moment(kernel, 1, d)
            size = abs(m1) / d  # the size of rho on the horizon (M_1 is not 0 for an accepted kernel)
            end = _value(f, d)
            if end is None:  # a removable singularity at the horizon (a bump's exp(-1/0)): the one-sided limit
                with mpmath.workdps(3 * DPS):
                    end = _value(f, d - d * mpmath.mpf(10) ** (-2 * DPS))
            if end is None or abs(end) > TOL * size:
                return f"at delta = {ds}: rho(delta) = {end if end is None else mpmath.nstr(end, 12)}, not 0"
            for frac in FRACTIONS:
                t = mpmath.mpf(frac) * d
                slope, m = _value(df, t), _value(mu, t)
                if slope is not None and m is not None and abs(slope + m) > TOL * (abs(m) + size / d):
                    return f"at delta = {ds}, s = {mpmath.nstr(t, 6)}: rho'(s) = {mpmath.nstr(slope, 12)}, not -mu(s) = " \
                           f"{mpmath.nstr(-m, 12)}"
            try:
                total = 2 * quad0(f, d, kinks(kernel.mu_plus, z, d))
            except (ZeroDivisionError, ValueError, TypeError):
                return f"at delta = {ds}: rho cannot be evaluated on the horizon"
            if not _close(total, m1, kernel, 1, d):
                return f"at delta = {ds}: int rho = {mpmath.nstr(total, 12)}, not the first moment {mpmath.nstr(m1, 12)}"
    return None
