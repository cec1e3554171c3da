"""Smoothing profiles typed by users (surrogate gradients), checked and turned into the kernel they belong to.

The nonlocal derivative of the Heaviside step is the smoothing profile of the kernel, ``D_mu H = rho``; a
surrogate gradient r(x) of a spiking network is therefore the profile of the kernel ``mu(z) = -r'(z)`` (for
z > 0, odd). :func:`check` validates a profile and returns that kernel's half ``mu_plus`` with what is known
about the profile; :meth:`nonlocal_calc.Kernel.from_surrogate` builds the kernel from it.

Two kinds of profiles:

* **on the horizon** (the formula has ``delta``): r on (-delta, delta), vanishing at ``+-delta`` (else mu would
  need point masses there), e.g. ``(1 - abs(x)/delta)/delta``; the kernel's rho is r exactly.
* **on the whole line** (no ``delta``): r > 0 everywhere and integrable, e.g. snnTorch's arctan surrogate
  ``1/(1 + (pi*x)**2)``. The kernel ``mu = -r'`` has no delta in it; on a finite horizon its profile is r
  truncated and lowered to vanish at the horizon, ``r(x) - r(delta)`` for ``|x| < delta`` (no renormalization:
  ``D_mu x = int rho < int r``), and it is r exactly in the limit ``delta -> oo`` (``spike(kernel, delta=inf)``).

Refused, with the reason: profiles that are not even, negative somewhere, not integrable, or (with
``normalize=True``) not of integral 1.

>>> p = check("1/(1 + (pi*x)**2)")
>>> p.support, p.integral, p.mu_plus
('line', 1, 2*pi**2*z/(pi**2*z**2 + 1)**2)
>>> check("exp(-abs(x - 1))")
Traceback (most recent call last):
...
nonlocal_calc.profiles.ProfileError: profile exp(-Abs(x - 1)) is not even: rho(0.003) = 0.368984736609142, rho(-0.003) = 0.366777456651197 (a smoothing profile is symmetric about the threshold x = 0: rho(-x) = rho(x))
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from .kernel_checks import CHECK_DELTAS, SYMBOLIC_STEP
from .parsing import ExpressionError, parse_expr
from .symbols import delta, x, z
from .timeouts import DerivationTimeout, attempt

#: Points (on the line) where a profile is evaluated for the checks: evenness, sign, decay.
LINE_POINTS = ("0", "0.003", "0.0517", "0.3", "0.77", "1.3", "2.9", "7.1", "23")
#: Fractions of the horizon where a profile on the horizon is evaluated.
HORIZON_FRACTIONS = ("0", "0.0517", "0.1373", "0.3", "0.4619", "0.77", "0.8537", "0.97", "0.999")
#: Relative tolerance of the numerical checks (mpmath at 30 digits).
TOL = mpmath.mpf("1e-12")
_t = sp.Symbol("t", positive=True)


class ProfileError(ValueError):
    """A formula is not a smoothing profile (not even, negative, not integrable, wrong integral)."""


@dataclass(frozen=True)
class Profile:
    """A checked profile: ``rho`` (in x, as typed), ``support`` (``"horizon"`` or ``"line"``), ``integral``
    (its integral over the support, a SymPy number or formula in delta) and ``mu_plus``, the kernel
    ``-rho'(z)`` for ``0 < z < delta``."""

    rho: sp.Expr
    support: str
    integral: sp.Expr
    mu_plus: sp.Expr


def parse(text: str | sp.Expr) -> sp.Expr:
    """The profile's formula in x (and delta), parsed with the restricted vocabulary."""
    if isinstance(text, str):
        try:
            return parse_expr(text, {"x", "delta"})
        except ExpressionError as exc:
            raise ProfileError(str(exc)) from None
    expr = sp.sympify(text)
    extra = expr.free_symbols - {x, delta}
    if extra:
        names = ", ".join(sorted(str(s) for s in extra))
        raise ProfileError(f"profile {expr} has symbols other than x and delta: {names}; give them numeric values")
    return expr


def check(text: str | sp.Expr, normalize: bool = True) -> Profile:
    """Validate a profile and derive its kernel (see the module's description); ``normalize=True`` requires
    ``int rho = 1`` (``D_mu x = 1``), ``normalize=False`` accepts any positive finite integral."""
    rho = parse(text)
    fn = sp.lambdify((x, delta), rho, "mpmath")
    on_horizon = delta in rho.free_symbols
    with mpmath.workdps(30):
        for d in CHECK_DELTAS if on_horizon else ("1",):
            _check_even_and_sign(rho, fn, mpmath.mpf(d), on_horizon)
        if on_horizon:
            for d in CHECK_DELTAS:
                _check_vanishes_at_horizon(rho, fn, mpmath.mpf(d))
        integral = _integral(rho, fn, on_horizon)
    if normalize and integral != 1:
        raise ProfileError(
            f"profile {rho} integrates to {integral}, not 1: as a surrogate gradient it gives D_mu x = {integral}; "
            f"divide it by {integral} for a normalized kernel, or pass normalize=False to keep it as it is")
    mu_plus = sp.simplify(-sp.diff(rho.subs(x, _t), _t)).subs(_t, z)
    return Profile(rho=rho, support="horizon" if on_horizon else "line", integral=integral, mu_plus=mu_plus)


def _value(fn, t, d) -> mpmath.mpf | None:
    try:
        v = fn(t, d)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None
    return mpmath.re(v) if mpmath.isfinite(v) and mpmath.im(v) == 0 else None


def _points(on_horizon: bool, d: mpmath.mpf) -> list[mpmath.mpf]:
    return [mpmath.mpf(f) * d for f in HORIZON_FRACTIONS] if on_horizon else [mpmath.mpf(p) for p in LINE_POINTS]


def _check_even_and_sign(rho: sp.Expr, fn, d: mpmath.mpf, on_horizon: bool) -> None:
    where = f" at delta = {mpmath.nstr(d, 6)}" if on_horizon else ""
    zeros = []
    for t in _points(on_horizon, d):
        a, b = _value(fn, t, d), _value(fn, -t, d)
        if a is None or b is None:
            raise ProfileError(f"profile {rho} is not a finite real number at x = {mpmath.nstr(t, 6)}{where}")
        if abs(a - b) > TOL * max(abs(a), abs(b)):
            raise ProfileError(f"profile {rho} is not even: rho({mpmath.nstr(t, 6)}) = {mpmath.nstr(a, 15)}, "
                               f"rho({mpmath.nstr(-t, 6)}) = {mpmath.nstr(b, 15)} (a smoothing profile is symmetric "
                               "about the threshold x = 0: rho(-x) = rho(x))")
        if a <= 0 and not on_horizon:
            a = _exact_sign(rho, t)  # 1 - tanh(100 x)**2 cancels all 30 digits at x = 0.77
        if a < 0:
            raise ProfileError(f"profile {rho} is negative at x = {mpmath.nstr(t, 6)}{where} ({mpmath.nstr(a, 15)}): "
                               "a surrogate gradient is a nonnegative weight, rho >= 0")
        if a == 0:
            zeros.append(t)
    if zeros and not on_horizon:
        raise ProfileError(
            f"profile {rho} vanishes at x = {mpmath.nstr(zeros[0], 6)}: a profile on the whole line must be positive "
            "everywhere; write one with compact support on its horizon, in x and delta (e.g. "
            "(1 - abs(x)/delta)/delta, with delta the half-width)")


def _exact_sign(rho: sp.Expr, t: mpmath.mpf) -> mpmath.mpf:
    """rho(t) by SymPy's evalf, which raises its working precision until the digits that cancel are recovered
    (0 where they cannot be within its limit)."""
    val = rho.subs(x, sp.Rational(mpmath.nstr(t, 20))).evalf(20, maxn=5000)
    return mpmath.mpf(val) if val.is_real and val.is_finite is not False and val.is_number else mpmath.mpf(0)


def _check_vanishes_at_horizon(rho: sp.Expr, fn, d: mpmath.mpf) -> None:
    end = _value(fn, d * (1 - mpmath.mpf(10) ** -25), d)
    peak = max(abs(_value(fn, t, d) or 0) for t in _points(True, d))
    if end is None or abs(end) > TOL * peak:
        raise ProfileError(
            f"profile {rho} does not vanish at the horizon: rho(delta) = {end if end is None else mpmath.nstr(end, 12)} "
            f"at delta = {mpmath.nstr(d, 6)}; its kernel mu = -rho' would need point masses at +-delta (rho = 1 on "
            "the horizon is the Dirac-pair kernel, kernels.dirac_pair(normalize=False))")


def _integral(rho: sp.Expr, fn, on_horizon: bool) -> sp.Expr:
    """``int rho`` over the support, from SymPy, checked by quadrature; refused when it diverges or is not
    positive."""
    hi = delta if on_horizon else sp.oo
    half = rho.subs(x, _t)
    try:
        val = attempt(SYMBOLIC_STEP, lambda: sp.integrate(half, (_t, 0, hi)))
    except DerivationTimeout:
        raise
    except Exception:  # noqa: BLE001  (SymPy's integrate fails with many kinds of exceptions)
        val = None
    val = None if val is None or val.has(sp.Integral, sp.Piecewise) else sp.simplify(2 * val)
    for d in CHECK_DELTAS if on_horizon else ("1",):
        dd = mpmath.mpf(d)
        num = 2 * mpmath.quad(lambda t, dd=dd: fn(t, dd), [0, dd] if on_horizon else [0, 1, 10, 100, mpmath.inf])
        if not on_horizon and (val is sp.oo or not mpmath.isfinite(num) or _diverges(fn)):
            raise ProfileError(f"profile {rho} is not integrable over the line (int rho dx diverges); a surrogate "
                               "on the whole line must decay faster than 1/|x|")
        if val is None:
            raise ProfileError(f"profile {rho}: SymPy finds no closed form of its integral (quadrature: "
                               f"{mpmath.nstr(num, 15)}); a kernel needs it exactly")
        want = sp.lambdify(delta, val, "mpmath")(dd)
        if not abs(num - want) <= 1e-20 + TOL * abs(want):
            raise ProfileError(f"profile {rho}: SymPy's integral {val} fails its check by quadrature "
                               f"({mpmath.nstr(num, 15)} at delta = {d})")
        if not num > 0:
            raise ProfileError(f"profile {rho} integrates to {val}, not a positive number: it cannot be the profile "
                               "of a kernel (D_mu x = int rho)")
    return val


def _diverges(fn) -> bool:
    """Whether ``x rho(x)`` fails to decay between x = 1e5 and 1e10 (a tail like 1/x is not integrable)."""
    a, b = _value(fn, mpmath.mpf("1e5"), 1), _value(fn, mpmath.mpf("1e10"), 1)
    return a is None or b is None or b * mpmath.mpf("1e10") > 0.5 * a * mpmath.mpf("1e5")


def exact_function(expr: sp.Expr):
    """``expr`` (in x) as a function of a float t, correctly rounded back to a float: mpmath at 420 digits, so that
    the digits a formula cancels are there (``1 - tanh(100 x)**2`` at x = 0.53 is 3.7e-46, 0 at 40 digits; where
    it cancels more than 400 digits the value is below 1e-400, 0 as a float).

    >>> exact_function(1 - sp.tanh(100 * x)**2)(0.53)
    3.68845856917033e-46
    """
    fn = sp.lambdify(x, expr, "mpmath")

    def value(t: float) -> float:
        with mpmath.workdps(420):
            return float(fn(mpmath.mpf(t)))

    return value


def line_moment(rho: sp.Expr, k: int) -> sp.Expr:
    """The k-th moment of the kernel of a whole-line profile at the infinite horizon, ``M_k = int z**k mu dz =
    k int |x|**(k-1) rho(x) dx`` for odd k (by parts), ``oo`` where it diverges; checked by quadrature.

    >>> line_moment(sp.exp(-abs(x)) / 2, 3)
    6
    >>> line_moment(1 / (1 + (sp.pi * x)**2), 3)
    oo
    """
    if k % 2 == 0:
        return sp.Integer(0)
    fn = sp.lambdify(x, rho, "mpmath")
    with mpmath.workdps(30):
        tail = [_value(lambda t, d: t ** (k - 1) * fn(t), mpmath.mpf(v), 1) for v in ("1e6", "1e12")]
        if any(v is None for v in tail) or tail[1] * mpmath.mpf("1e12") > 0.5 * tail[0] * mpmath.mpf("1e6"):
            return sp.oo  # |x|**(k-1) rho(x) decays no faster than 1/|x|
        integrand = rho.subs(x, _t) * _t ** (k - 1)
        try:
            val = attempt(SYMBOLIC_STEP, lambda: sp.integrate(integrand, (_t, 0, sp.oo)))
        except DerivationTimeout:
            raise
        except Exception:  # noqa: BLE001
            val = None
        num = 2 * k * mpmath.quad(lambda t: t ** (k - 1) * fn(t), [0, 1, 10, 100, mpmath.inf])
        if val is not None and not val.has(sp.Integral, sp.Piecewise):
            val = sp.simplify(2 * k * val)
            if val.is_finite and abs(mpmath.mpf(sp.N(val, 30)) - num) <= TOL * abs(num):
                return val
        return sp.Float(num, 30)
