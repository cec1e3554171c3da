"""Kernel quantities SymPy has no closed form for, by mpmath quadrature.

A smooth compact bump such as ``z*exp(-delta**2/(delta**2 - z**2))`` has no elementary moments. When the kernel
is a fixed shape rescaled with the horizon, ``mu(delta u) = delta**a g(u)``, each moment is a number times a
power of delta, ``M_k = delta**(k + a + 1) * 2 int_0^1 u**k g(u) du``, and the number is computed here to
:data:`DIGITS` significant digits (two working precisions and two quadrature rules must agree). Otherwise a
quantity stays the unevaluated defining integral in delta (exact; evaluated by quadrature where it is used).

>>> import sympy as sp
>>> from nonlocal_calc.symbols import delta, z
>>> scaling_exponent(z * sp.exp(-delta**2 / (delta**2 - z**2)), z)
1
>>> scaling_exponent(z * sp.exp(-z**2), z) is None
True
>>> m1 = moment(z * sp.exp(-delta**2 / (delta**2 - z**2)), z, 1)
>>> m1.as_coeff_exponent(delta)[1], sp.N(m1.as_coeff_exponent(delta)[0], 20)
(3, 0.070201476752975409988)
"""

from __future__ import annotations

import mpmath
import sympy as sp

from .kernel_checks import kinks, quad0
from .symbols import delta

#: Significant digits of a kernel constant computed by quadrature (a result computed from such a kernel is good
#: to at most these digits).
DIGITS = 60
#: Points (u, delta) at which a scaling law mu(delta u) = delta**a g(u) is verified.
_POINTS = (("0.1373", "0.3"), ("0.4619", "3"), ("0.8537", "0.07"), ("0.2711", "17"))


def _value(fn, *args):
    try:
        v = fn(*args)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None
    return mpmath.re(v) if mpmath.isfinite(v) and mpmath.im(v) == 0 else None


def scaling_exponent(expr: sp.Expr, var: sp.Symbol) -> sp.Rational | None:
    """The exponent a with ``expr(var = delta u) = delta**a expr(var = u, delta = 1)`` for all u in (0, 1) and
    delta > 0 (a rational with a denominator up to 1000, verified at several points to 30 digits), or None."""
    fn = sp.lambdify((var, delta), expr, "mpmath")
    with mpmath.workdps(40):
        u0, d0 = mpmath.mpf("0.4619"), mpmath.mpf(3)
        top, unit = _value(fn, d0 * u0, d0), _value(fn, u0, 1)
        if not top or not unit or top / unit <= 0:
            return None
        a = sp.Rational(str(mpmath.nstr(mpmath.log(top / unit) / mpmath.log(d0), 25))).limit_denominator(1000)
        am = mpmath.mpf(a.p) / a.q
        for us, ds in _POINTS:
            u, d = mpmath.mpf(us), mpmath.mpf(ds)
            lhs, rhs = _value(fn, d * u, d), _value(fn, u, 1)
            if lhs is None or rhs is None or abs(lhs - d**am * rhs) > mpmath.mpf(10) ** -30 * abs(lhs):
                return None
    return a


def unit_integral(fn, cuts=()) -> mpmath.mpf | None:
    """``int_0^1 fn(u) du`` to :data:`DIGITS` digits, or None: tanh-sinh at two working precisions and once more
    with the interval split at 1/2 (other nodes) must agree; a singularity ``u**b`` at 0 is removed by a
    substitution (:func:`~nonlocal_calc.kernel_checks.quad0`)."""
    results = []
    for dps, extra in ((DIGITS + 10, []), (DIGITS + 30, []), (DIGITS + 30, ["0.5"])):
        with mpmath.workdps(dps):
            pts = sorted({mpmath.mpf(c) for c in [*cuts, *extra]})
            try:
                results.append(quad0(fn, mpmath.mpf(1), pts, m=1))
            except (ZeroDivisionError, ValueError, TypeError, OverflowError):
                return None
    ref = results[1]
    if not mpmath.isfinite(ref) or any(abs(r - ref) > mpmath.mpf(10) ** -DIGITS * abs(ref) for r in results):
        return None
    return ref


def moment(mu_plus: sp.Expr, var: sp.Symbol, k: int) -> sp.Expr | None:
    """``M_k = 2 int_0^delta t**k mu(t) dt`` as ``C delta**e`` with C a number of :data:`DIGITS` digits, when the
    kernel is a rescaled fixed shape; None otherwise (or when the quadrature is not accurate)."""
    a = scaling_exponent(mu_plus, var)
    if a is None:
        return None
    fn = sp.lambdify(var, mu_plus.subs(delta, 1), "mpmath")
    with mpmath.workdps(DIGITS + 30):
        cuts = kinks(mu_plus, var, mpmath.mpf(1))
    c = unit_integral(lambda u: u**k * fn(u), cuts)
    if c is None:
        return None
    with mpmath.workdps(DIGITS + 30):
        return sp.Float(2 * c, DIGITS) * delta ** (k + a + 1)


def profile(mu_plus: sp.Expr, var: sp.Symbol, s: sp.Expr) -> sp.Expr:
    """rho(s) = int_s^delta mu(t) dt as the unevaluated integral (exact; SymPy has no closed form for it)."""
    t = sp.Dummy("t", positive=True)
    return sp.Integral(mu_plus.subs(var, t), (t, s, delta))


def tail_nonnegative(mu_plus: sp.Expr, var: sp.Symbol) -> bool:
    """Whether ``rho(s) = int_s^delta mu`` is >= 0 on (0, delta), at delta = 0.01, 1, 100, without evaluating the
    integral on a grid: rho(delta) = 0 and rho' = -mu, so rho is negative somewhere iff mu < 0 just below delta or
    rho < 0 at a local minimum, a point where mu changes sign from + to - (found on a grid of 2001 points)."""
    for ds in ("0.01", "1", "100"):
        d = mpmath.mpf(ds)
        fn = sp.lambdify(var, mu_plus.subs(delta, d), "mpmath")
        grid = [d * i / 2001 for i in range(1, 2001)]
        vals = [_value(fn, t) for t in grid]
        if vals[-1] is not None and vals[-1] < 0:
            return False
        for a, b, fa, fb in zip(grid, grid[1:], vals, vals[1:]):
            if fa is not None and fb is not None and fa > 0 > fb:
                root = mpmath.findroot(fn, (a, b), solver="anderson")
                if mpmath.quad(fn, [root, *[c for c in kinks(mu_plus, var, d) if c > root], d]) < 0:
                    return False
    return True
