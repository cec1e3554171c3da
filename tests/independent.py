"""Reference values of the nonlocal derivative computed from the raw formulas, sharing nothing with the package.

For an odd kernel mu the defining integral folds onto the right half of the horizon:

    D_mu f(x) = int_{-delta}^{delta} [f(x+z) - f(x)] mu(z) dz = int_0^delta [f(x+w) - f(x-w)] mu(w) dw,

normalized by the first moment M1 = int z mu(z) dz = int_0^delta 2w mu(w) dw (so that D_mu x = 1). Both integrals
are computed here with mpmath from the activation's and the kernel's SymPy formulas as the test wrote them (this
module imports nothing from ``nonlocal_calc``: not its rho, its kernel halves, its breakpoints or its quadrature).

Singular kernels sign(z)|z|^p with -2 < p < 0 make the integrand ~ w^(p+1) near 0, where ``f(x+w) - f(x-w)``
cancels: a plain quadrature loses digits there (at p = -7/4 a 40-digit ``mpmath.quad`` is 1e-13 off) because
the region w < 10^-d, where d digits cancel, still carries a fraction 10^(-d (p+2)) of the integral. Hence:

* the horizon is cut at 0 and at the distances ``|b - x|`` of the activation's kinks b, found here from the Abs,
  sign, Heaviside, Max, Min and Piecewise nodes of its formula (:func:`kinks`), and graded geometrically away
  from 0 and from the distances of its bends (:func:`centers`), where a narrow feature could hide between nodes;
* on the first piece [0, c] the substitution w = c t^m, with m from the integrand's exponent at 0 (measured
  numerically on the kernel), leaves a smooth integrand ~ t^(>= 1);
* below a small w the difference is replaced by its Taylor polynomial, whose coefficients are exact SymPy
  derivatives of the formula's smooth pieces on both sides of x; above it, each difference is computed at the
  working precision plus the digits that x + w, the subtraction and f's own formula cancel (measured at the node);
* pieces [a, b] with b / a > 8 are integrated in log w (the power law is then an exponential), and every piece is
  halved while mpmath's error estimate says so (features of f much narrower than the horizon).

:func:`moment_series` is a second method for smooth f (exact moments of power kernels, Taylor coefficients by
Cauchy's formula), used to test this one.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import mpmath
import sympy as sp

X = sp.Symbol("x", real=True)
Z = sp.Symbol("z", real=True)
DELTA = sp.Symbol("delta", positive=True)

#: Taylor terms kept below the cut-over point (the error test uses the next two).
TAYLOR_ORDER = 6
_KINKY = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min, sp.Piecewise)


class Divergent(ArithmeticError):
    """The defining integral diverges at this point (a jump of f at x against a kernel with p <= -1)."""


class Inaccurate(ArithmeticError):
    """The reference could not certify the digits asked for."""


# ----------------------------------------------------------------------------- formulas
def parse(text: str, variables=(X,)) -> sp.Expr:
    """SymPy's own parser (not the package's) with the test's symbols."""
    names = {"x": X, "z": Z, "delta": DELTA, "Heaviside": sp.Heaviside, "erf": sp.erf}
    expr = sp.sympify(text, locals=names)
    assert expr.free_symbols <= set(variables) | {DELTA}, (text, expr.free_symbols)
    return expr


@lru_cache(maxsize=512)
def kinks(f: sp.Expr) -> tuple[sp.Expr, ...]:
    """Every real x where a branch of f's formula switches (a superset of the kinks and jumps), sorted.

    >>> kinks(parse("Min(Max(x, -1), 1) + Abs(x - 1/3)"))
    (-1, 1/3, 1)
    """
    points = set()
    for node in sp.preorder_traversal(f):
        if isinstance(node, (sp.Abs, sp.sign, sp.Heaviside)):
            zeros = [node.args[0]]
        elif isinstance(node, (sp.Max, sp.Min)):
            zeros = [a - b for a, b in itertools.combinations(node.args, 2)]
        elif isinstance(node, sp.Piecewise):
            zeros = [r.lhs - r.rhs for _, c in node.args for r in c.atoms(sp.Rel)]
        else:
            continue
        for e in zeros:
            sol = sp.solveset(e, X, sp.S.Reals)
            if not isinstance(sol, sp.FiniteSet):
                raise ValueError(f"cannot locate the zeros of {e} in {f}")
            points.update(sol)
    return tuple(sorted(points, key=lambda b: float(b)))


@lru_cache(maxsize=512)
def centers(f: sp.Expr) -> tuple[sp.Expr, ...]:
    """Where f bends: the roots of its sub-expressions linear in x (u = a (x - b) in tanh(u), exp(-u), u/(1 + u**2)...)
    and its kinks, sorted.

    >>> centers(parse("2*(x - 9/8)/(1 + exp(-2*(x - 9/8))) + tanh(x)"))
    (0, 9/8)
    """
    points = set(kinks(f))
    for node in sp.preorder_traversal(f):
        if isinstance(node, sp.Expr) and node.has(X) and node.is_polynomial(X) and sp.degree(node, X) == 1:
            points.update(sp.solve(node, X))
    return tuple(sorted(points, key=lambda b: float(b)))


#: Width of the narrowest bend in the tests' formulas (tanh(3 x), exp(-3 x**2), a Gaussian kernel with sigma =
#: 1/10): a bend much narrower than its piece can hide between the nodes and fool the error estimate (gelu with
#: a Gaussian kernel of width delta/3 at x = 21.9, delta = 1000 came out 0.46 % off), so pieces are graded
#: geometrically away from every bend, width FEATURE * 2^k on each side.
FEATURE = sp.Rational(1, 16)


def _graded(at: sp.Expr, dv: sp.Expr) -> set:
    """Cuts at ``at +- FEATURE 2^k`` inside (0, dv)."""
    out, step = set(), FEATURE
    while step < dv:
        out.update(c for c in (at - step, at + step) if 0 < c < dv)
        step *= 2
    return out


def _value(e: sp.Expr, at: sp.Expr) -> float:
    v = sp.N(e.subs(X, at), 60)
    if not v.is_real:
        raise ValueError(f"{e} is not real at x = {at}")
    return float(v) if v != 0 else 0.0


def piece(f: sp.Expr, at: sp.Expr) -> sp.Expr:
    """The analytic formula that equals f around the point ``at`` (not a kink): every Abs, sign, Heaviside, Max,
    Min and Piecewise replaced by the branch that holds there.

    >>> piece(parse("Max(0, x - 1) + Abs(x)"), sp.Rational(-1, 2))
    -x
    """
    if not f.has(*_KINKY):
        return f
    if isinstance(f, sp.Piecewise):
        for e, c in f.args:
            if bool(c.subs(X, at)):
                return piece(e, at)
        raise ValueError(f"no branch of {f} holds at {at}")
    args = [piece(a, at) for a in f.args]
    if isinstance(f, sp.Abs):
        return args[0] if _value(args[0], at) > 0 else -args[0]
    if isinstance(f, sp.sign):
        return sp.Integer(1 if _value(args[0], at) > 0 else -1)
    if isinstance(f, sp.Heaviside):
        return sp.Integer(1 if _value(args[0], at) > 0 else 0)
    if isinstance(f, (sp.Max, sp.Min)):
        pick = max if isinstance(f, sp.Max) else min
        return pick(args, key=lambda a: _value(a, at))
    return f.func(*args)


def piece_around(f: sp.Expr, at: sp.Rational) -> sp.Expr:
    """:func:`piece` for the interval between kinks that holds ``at`` (cached per interval)."""
    ks = kinks(f)
    i = sum(1 for b in ks if b < at)
    return _piece_of_interval(f, i)


@lru_cache(maxsize=512)
def _piece_of_interval(f: sp.Expr, i: int) -> sp.Expr:
    ks = kinks(f)
    lo = ks[i - 1] if i > 0 else (ks[0] - 1 if ks else sp.Integer(-1))
    hi = ks[i] if i < len(ks) else lo + 2
    return piece(f, (lo + hi) / 2)


@lru_cache(maxsize=512)
def _derivatives(p: sp.Expr, n: int):
    """f, f', ..., f^(n) of an analytic piece as mpmath functions."""
    out, d = [], p
    for _ in range(n + 1):
        out.append(sp.lambdify(X, d, "mpmath"))
        d = sp.diff(d, X)
    return out


@lru_cache(maxsize=256)
def mp_function(expr: sp.Expr, args: tuple):
    return sp.lambdify(args, expr, "mpmath", cse=True)


def _exact(v: mpmath.mpf) -> sp.Rational:
    """An mpf as the exact rational it is."""
    v = mpmath.mpf(v)
    man, exp = v.man_exp  # (the mantissa without its sign)
    return (-1 if v < 0 else 1) * sp.Integer(man) * sp.Integer(2) ** exp


# ----------------------------------------------------------------------------- the integral
def exponent_at_zero(mu, dv: mpmath.mpf) -> mpmath.mpf:
    """q with mu(w) ~ c w^q as w -> 0+, measured from two tiny w (mu is a sum of powers times smooth factors)."""
    w1, w2 = dv * mpmath.mpf(10) ** -60, dv * mpmath.mpf(10) ** -61
    a, b = abs(mu(w1, dv)), abs(mu(w2, dv))
    if a == 0 or b == 0:
        return mpmath.mpf(1)  # vanishes faster than any power (not in the tests' grammar): regular
    return mpmath.log(a / b) / mpmath.log(w1 / w2)


def _first_order(coeffs, tiny) -> int:
    """The lowest k with a nonzero Taylor coefficient (the integrand is ~ w^k mu(w) near 0)."""
    for k, c in enumerate(coeffs):
        if abs(c) > tiny:
            return k
    return len(coeffs)


def _taylor_cutover(coeffs, c: mpmath.mpf, digits: int) -> mpmath.mpf:
    """The largest w = c 10^-j where the terms past the kept polynomial are below 10^-digits of it."""
    head, tail = coeffs[: TAYLOR_ORDER + 1], coeffs[TAYLOR_ORDER + 1:]
    for j in range(1, 400):
        w = c * mpmath.mpf(10) ** -j
        size = max(abs(g) * w**k for k, g in enumerate(head))
        err = sum(abs(g) * w ** (k + TAYLOR_ORDER + 1) for k, g in enumerate(tail))
        if err <= mpmath.mpf(10) ** -digits * size or size == 0 and err == 0:
            return w
    return mpmath.mpf(0)


def _mapped(h, a, b, m: int = 1):
    """(F, lo, hi) with int_a^b h(w) dw = int_lo^hi F(t) dt: w = a + (b - a) t^m from a = 0, log w when b / a > 8."""
    if a == 0:
        return (lambda t: m * b * t ** (m - 1) * h(b * t**m)), mpmath.mpf(0), mpmath.mpf(1)
    if b / a > 8:
        return (lambda u: mpmath.exp(u) * h(mpmath.exp(u))), mpmath.log(a), mpmath.log(b)
    return h, a, b


#: Each piece is halved this many times to start with; tanh-sinh on the piece at 0 (its endpoint behaviour is
#: what tanh-sinh handles), Gauss-Legendre on the others (smooth between kinks, and cheaper at these precisions).
SPLIT = 2
FAR = "gauss-legendre"


def _adaptive(F, lo, hi, tol, method, depth: int = 0):
    """int_lo^hi F, halving the interval while mpmath's error estimate exceeds ``tol`` (a feature of f much
    narrower than the horizon, e.g. SiLU's bend at x + w = 0 for delta = 1000, hides between the nodes)."""
    v, e = mpmath.quad(F, [lo, hi], error=True, method=method)
    if e <= tol or depth >= 12:
        return v, e
    mid = (lo + hi) / 2
    v1, e1 = _adaptive(F, lo, mid, tol / 2, method, depth + 1)
    v2, e2 = _adaptive(F, mid, hi, tol / 2, method, depth + 1)
    return v1 + v2, e1 + e2


def _integrate(pieces, digits: int):
    """Sum of int F over [(F, lo, hi), ...], each cut in SPLIT to start with, then refined to ~10^-digits of the sum.

    The integrands are first divided by their size (sampled): mpmath's error estimate has an absolute part that
    would otherwise keep halving an integral of size 1e-28 (delta = 1e-9) for ever."""
    size = max((abs(F(lo + (hi - lo) * k / 7)) * (hi - lo) for F, lo, hi in pieces for k in (1, 3, 5, 6)),
               default=0) or mpmath.mpf(1)
    parts = []
    for n, (F, lo, hi) in enumerate(pieces):
        step = (hi - lo) / SPLIT
        G = (lambda t, F=F: F(t) / size)
        method = "tanh-sinh" if n == 0 else FAR
        parts += [(G, lo + i * step, lo + (i + 1) * step, method) for i in range(SPLIT)]
    first = [mpmath.quad(F, [lo, hi], error=True, method=m) for F, lo, hi, m in parts]
    scale = sum(abs(v) for v, _ in first)
    tol = mpmath.mpf(10) ** -digits * scale / len(parts)
    total, err = mpmath.mpf(0), mpmath.mpf(0)
    for (F, lo, hi, m), (v, e) in zip(parts, first):
        if e > tol:
            v1, e1 = _adaptive(F, lo, (lo + hi) / 2, tol / 2, m, 1)
            v2, e2 = _adaptive(F, (lo + hi) / 2, hi, tol / 2, m, 1)
            v, e = v1 + v2, e1 + e2
        total, err = total + v, err + e
    return total * size, err * size


#: The most digits :func:`stable` spends on one value (exp(-x**2/2) at x = -1010 is 1e-221500: a value that small
#: next to terms of size 1 does not change the integral, and a reference that needs it fails its two-precision test).
STABLE_DPS = 1000


def _lost(a: mpmath.mpf, v: mpmath.mpf) -> int:
    """Digits fn(v) = a may have lost inside fn's formula: terms of size ~1 + |v| leaving a small value (less 3:
    a value down to 1e-3 (1 + |v|) is taken as it comes)."""
    return int(mpmath.ceil(mpmath.log10((1 + abs(v)) / abs(a)))) - 3 if a != 0 else 10**6


def stable(fn, v: mpmath.mpf, prec: int, floor=0, start: int = 0) -> tuple[mpmath.mpf, int]:
    """``(fn(v), digits used)``: fn(v) to ``prec`` digits (or to 10^-prec * ``floor`` absolute) where its own
    formula cancels. A value much smaller than 1 + |v| (1 + erf(u) in gelu's tail is 1e-197 at u = -30, 0 or
    noise at 45 digits) is evaluated again with the digits it lost, doubled while it comes out 0 (an exact zero,
    e.g. relu's left branch, costs a few cheap evaluations), until the digits used exceed the digits lost by
    ``prec``. ``start``: the digits the last node needed (neighbouring nodes need about as many)."""
    wp, p = prec, max(prec, start)
    while True:
        with mpmath.workdps(p):
            a = fn(v)
        lost = min(_lost(a, v), _lost(mpmath.mpf(floor), v) if floor else 10**6)
        if lost <= p - wp or p >= STABLE_DPS:
            break
        p = min(STABLE_DPS, 2 * p if lost >= 10**6 or lost > p else wp + lost + 5)
    with mpmath.workdps(wp):
        return +a, max(wp, min(p, wp + max(0, lost) + 5))  # (rounded to the digits asked for: a - 1*a is 0)


def _difference(f, xv: mpmath.mpf, wp: int):
    """g(w) = f(x + w) - f(x - w) to wp digits: x + w keeps w's digits, and the digits the subtraction cancels
    are added (measured on a first evaluation)."""

    top = mpmath.mag(1 + abs(xv))
    hint = [0, 0]  # the digits f(x + w) and f(x - w) needed at the last node

    def g(w):
        extra = max(0, (top - mpmath.mag(w)) * 3 // 10 + 1)  # decimal digits of (1 + |x|) / w, rounded up
        prec = wp + extra
        for _ in range(4):
            with mpmath.workdps(prec):
                u, v = xv + w, xv - w
                a, b = f(u), f(v)
                # a value that may have cancelled inside f is needed to the precision of the other one, or in full
                floor = max([abs(t) for t, s in ((a, u), (b, v)) if _lost(t, s) <= 0], default=0)
                if _lost(a, u) > 0:
                    a, hint[0] = stable(f, u, prec, floor, hint[0])
                if _lost(b, v) > 0:
                    b, hint[1] = stable(f, v, prec, floor, hint[1])
                d = a - b
            scale = max(abs(a), abs(b))
            if scale == 0 or d != 0 and abs(d) >= mpmath.mpf(10) ** -8 * scale:
                return d
            lost = wp if d == 0 else int(mpmath.ceil(mpmath.log10(scale / abs(d))))
            if prec >= wp + extra + lost + 5 or prec > 6000:
                return d
            prec = wp + extra + lost + 5
        return d

    return g


def odd_integral(f: sp.Expr | None, mu: sp.Expr, xv, dv, dps: int = 30):
    """``(int_0^delta [f(x+w) - f(x-w)] mu(w) dw, error estimate)`` at ``dps + 15`` working digits.

    ``f`` in X, ``mu`` in Z (and DELTA), evaluated for z in (0, delta); ``f=None`` gives the first moment
    int_0^delta 2 w mu(w) dw. Raises :class:`Divergent` when a jump of f sits at x and mu ~ w^q with q <= -1.
    """
    wp = dps + 15
    with mpmath.workdps(wp + 40):
        xv, dv = mpmath.mpf(xv), mpmath.mpf(dv)
    with mpmath.workdps(wp):
        mu_f = mp_function(mu, (Z, DELTA))
        q = exponent_at_zero(mu_f, dv)
        if f is None:
            cuts = _cuts(_graded(sp.Integer(0), _exact(dv)), dv, wp)
            coeffs = [mpmath.mpf(0), mpmath.mpf(2)] + [mpmath.mpf(0)] * (TAYLOR_ORDER + 1)
            g = lambda w: 2 * w  # noqa: E731
        else:
            xe, de = _exact(xv), _exact(dv)
            dist = {abs(b - xe) for b in kinks(f)}
            bends = set().union(*(_graded(d, de) for d in {abs(b - xe) for b in centers(f)} | {sp.Integer(0)}))
            cuts = _cuts(dist | bends, dv, wp)
            c1 = cuts[1]
            right = piece_around(f, xe + _exact(c1) / 2)
            left = piece_around(f, xe - _exact(c1) / 2)
            dr, dl = _derivatives(right, TAYLOR_ORDER + 2), _derivatives(left, TAYLOR_ORDER + 2)
            coeffs = [(stable(dr[k], xv, wp)[0] - (-1) ** k * stable(dl[k], xv, wp)[0]) / mpmath.factorial(k)
                      for k in range(TAYLOR_ORDER + 3)]
            g = _difference(mp_function(f, (X,)), xv, wp)
        c1 = cuts[1]
        scale = max(abs(c) * c1**k for k, c in enumerate(coeffs)) or mpmath.mpf(1)
        k0 = _first_order(coeffs, mpmath.mpf(10) ** -(wp - 5) * scale)
        if k0 + q <= -1:
            raise Divergent(f"the integrand ~ w^{mpmath.nstr(k0 + q, 5)} is not integrable at w = 0")
        m = max(1, int(mpmath.ceil(2 / (k0 + q + 1))))
        w_tay = _taylor_cutover(coeffs, c1, wp + 5)
        head = coeffs[TAYLOR_ORDER::-1]
        poly = lambda w: mpmath.polyval(head, w)  # noqa: E731

        def near(w):
            return (poly(w) if w <= w_tay else g(w)) * mu_f(w, dv)

        def far(w):
            return g(w) * mu_f(w, dv)

        pieces = [_mapped(near, cuts[0], cuts[1], m)] + [_mapped(far, a, b) for a, b in zip(cuts[1:], cuts[2:])]
        return _integrate(pieces, dps + 3)


def _cuts(points: set, dv: mpmath.mpf, wp: int) -> list:
    """0, the points strictly inside (0, dv) as mpf numbers (exact ones rounded once), dv."""
    de = _exact(dv)
    inner = sorted({mpmath.mpf(sp.N(d, wp + 10)) for d in points if 0 < d < de})
    return [mpmath.mpf(0)] + inner + [dv]


@lru_cache(maxsize=256)
def _first_moment(mu: sp.Expr, dv: mpmath.mpf, dps: int) -> mpmath.mpf:
    return odd_integral(None, mu, 0, dv, dps)[0]


def nonlocal_derivative(f: sp.Expr, mu: sp.Expr, xv, dv, dps: int = 30, normalize: bool = True) -> mpmath.mpf:
    """D_mu f(x), correct to ``dps`` digits (checked: computed at two working precisions that must agree).

    ``mu`` is the raw kernel formula (odd, in Z and DELTA); ``normalize`` divides by its first moment, computed
    here by the same quadrature. Raises :class:`Inaccurate` when the two precisions disagree.
    """
    with mpmath.workdps(dps + 60):  # (exact for floats; strings are read once, at ample precision)
        xv, dv = mpmath.mpf(xv), mpmath.mpf(dv)
    runs = []
    for extra in (0, 12):
        val, _ = odd_integral(f, mu, xv, dv, dps + extra)
        if normalize:
            m1 = _first_moment(mu, dv, dps + extra)
            with mpmath.workdps(dps + extra + 15):
                val = val / m1
        runs.append(val)
    with mpmath.workdps(dps + 30):
        a, b = runs
        if abs(a - b) > mpmath.mpf(10) ** -(dps + 2) * max(abs(b), mpmath.mpf(10) ** -(3 * dps)):
            raise Inaccurate(f"reference at x = {xv}, delta = {dv}: {mpmath.nstr(a, dps)} vs {mpmath.nstr(b, dps)}")
    with mpmath.workdps(dps):
        return +b


def dirac_pair(f: sp.Expr, xv, dv, dps: int = 30, normalize: bool = True) -> mpmath.mpf:
    """Point masses +-1 at +-delta: f(x + delta) - f(x - delta), over 2 delta when normalized."""
    fn = mp_function(f, (X,))
    with mpmath.workdps(dps + 40):
        xv, dv = mpmath.mpf(xv), mpmath.mpf(dv)
        extra = max(0, int(mpmath.ceil(mpmath.log10((1 + abs(xv)) / dv))))
    with mpmath.workdps(dps + 40 + extra):
        d = fn(xv + dv) - fn(xv - dv)
        val = d / (2 * dv) if normalize else d
    with mpmath.workdps(dps):
        return +val


# ----------------------------------------------------------------------------- a second method
def taylor_coefficients(f: sp.Expr, xv, n: int, radius) -> list:
    """f^(k)(x)/k! for k <= n by Cauchy's formula, the trapezoidal rule on the circle |w - x| = radius (exact up to
    (radius/R)^N for f analytic on the disc of radius R > radius, N = 2n + 40 nodes; no SymPy derivatives)."""
    fn = mp_function(f, (X,))
    N = 2 * n + 40
    roots = [mpmath.expjpi(mpmath.mpf(2 * j) / N) for j in range(N)]
    terms = [fn(xv + radius * r) for r in roots]  # f(x + radius w_j) w_j^-k, k = 0, 1, ...
    out = []
    for k in range(n + 1):
        out.append(mpmath.re(mpmath.fsum(terms)) / (N * radius**k))
        terms = [t * mpmath.conj(r) for t, r in zip(terms, roots)]
    return out


def moment_series(f: sp.Expr, p, xv, dv, dps: int = 30, terms: int = 40) -> mpmath.mpf:
    """D f(x) for the normalized power kernel sign(z)|z|^p by its moment series
    sum_j f^(2j+1)(x) delta^(2j) (p+2) / ((2j+1)! (2j+p+2)), with f's Taylor coefficients from
    :func:`taylor_coefficients` on the circle of radius 3 delta (f must be analytic on a wider disc around x);
    raises :class:`Inaccurate` when the terms do not fall below 10^-(dps+5) of the sum."""
    with mpmath.workdps(dps + 30):
        p, xv, dv = mpmath.mpf(sp.N(sp.nsimplify(p), dps + 60)), mpmath.mpf(xv), mpmath.mpf(dv)
        coeffs = taylor_coefficients(f, xv, 2 * terms + 1, 3 * dv)
        total, last = mpmath.mpf(0), None
        for j in range(terms + 1):
            t = coeffs[2 * j + 1] * dv ** (2 * j) * (p + 2) / (2 * j + p + 2)
            total += t
            if j > 3 and abs(t) <= mpmath.mpf(10) ** -(dps + 5) * abs(total) and abs(last) <= abs(total) * 1e-10:
                break
            last = t
        else:
            raise Inaccurate(f"moment series at x = {xv}, delta = {dv} has not converged in {terms} terms")
    with mpmath.workdps(dps):
        return +total


def relu_power(b, p, xv, dv, dps: int = 30) -> mpmath.mpf:
    """D max(0, x - b) for the normalized power kernel sign(z)|z|^p in closed form (derived by hand).

    With y = x - b: max(0, y + w) - max(0, y - w) is 2w for w < y and y + w for w > |y| (0 below -y if y < 0), so
    int_0^delta [...] w^p dw = int_0^u 2 w^(p+1) dw + int_u^delta (y + w) w^p dw with u = max(0, min(y, delta)),
    the second integral starting at max(-y, u) (empty past delta)."""
    with mpmath.workdps(dps + 30):
        p, b = (mpmath.mpf(sp.N(sp.nsimplify(v), dps + 40)) for v in (p, b))
        y, dv = mpmath.mpf(xv) - b, mpmath.mpf(dv)
        P = lambda s, e: s ** (e + 1) / (e + 1) if e != -1 else mpmath.log(s)  # antiderivative of s^e  # noqa: E731
        u = max(mpmath.mpf(0), min(y, dv))
        total = 2 * u ** (p + 2) / (p + 2)
        lo = max(-y, u)
        if lo < dv:
            total += (y * (P(dv, p) - P(lo, p)) if y else 0) + P(dv, p + 1) - (P(lo, p + 1) if lo else 0)
        val = total / (2 * dv ** (p + 2) / (p + 2))
    with mpmath.workdps(dps):
        return +val
