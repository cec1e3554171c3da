"""Reference values: mpmath quadrature of the defining integral, certified at two working precisions.

For an odd kernel the defining integral folds onto the right half of the horizon:

    D_mu f(x) = int_{-delta}^{delta} [f(x+z) - f(x)] mu(z) dz = int_0^delta [f(x+w) - f(x-w)] mu(w) dw.

``nonlocal_quad`` integrates the folded form with mpmath's tanh-sinh rule (:func:`horizon_quad`), cut at the
distances of f's kinks and the kernel's own kinks. Two things make it exact where a plain quadrature is not:

* near w = 0 a singular kernel ``mu ~ w**q`` (-2 < q < 0) makes the integrand ``~ w**(q+1)``; the substitution
  ``w = c u**m`` on the first piece, with m from the integrand's exponent at 0, leaves ``u**(>= 1)``;
* ``f(x+w) - f(x-w)`` cancels the digits of ``(1 + |x|) / w`` and those f loses in a tail: each difference is
  computed with that many more digits (:func:`symmetric_difference`), so the tiny w that carry a fraction
  ``w**(q+2)`` of the integral (most of it for q near -2) and the horizons down to 1e-300 lose nothing.

The result is computed at ``dps + 20`` and more working digits until two precisions agree (:func:`certify`); a
``PrecisionWarning`` says when they do not. It shares no code with the symbolic engine: it is the evaluator of the
pairs without a closed form, and the check of the closed forms.

>>> import mpmath
>>> from nonlocal_calc import activations, kernels
>>> v = nonlocal_quad(activations.get("relu"), kernels.sign(), "0.03", "0.1", dps=25)
>>> mpmath.nstr(v, 20)
'0.755'
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache

import mpmath
import sympy as sp

from .kernel_checks import exponent_at_zero, kinks
from .symbols import delta, x, z

#: The working precision (digits) beyond which the references stop raising it, and warn instead.
MAX_WORKING_DPS = 4000
#: Guard digits: the first working precision is dps + GUARD_DPS.
GUARD_DPS = 20


class PrecisionWarning(UserWarning):
    """A value could not be certified to the digits asked for (two working precisions did not agree)."""


@lru_cache(maxsize=128)
def _mp_function(expr: sp.Expr, args: tuple):
    return sp.lambdify(args, expr, "mpmath")


# ------------------------------------------------------------------ precision
def working_dps(f, xv, deltav, dps: int, fprime=None) -> int:
    """Digits to work with so that ``f(x +- delta) - f(x)`` keeps ``dps`` + 20 digits: in a tail it cancels
    ``log10(|f| / |f(x + delta) - f(x)|)`` of them (41 for tanh at x = 40, delta = 1e-6). Where every digit
    cancels, ``fprime`` (f') tells how many there are; without it f is taken as constant there.

    >>> working_dps(mpmath.tanh, 40, "1e-6", 20)
    81
    """
    wp = dps + 20
    for _ in range(8):  # (the estimate settles in two or three rounds)
        with mpmath.workdps(wp):
            xm, dm = mpmath.mpf(xv), mpmath.mpf(deltav)
            fx = f(xm)
            if fx == 0:  # nothing to cancel against
                return wp
            diff = max(abs(f(xm + dm) - fx), abs(f(xm - dm) - fx))
            if diff == 0 and fprime is not None:  # every digit cancelled: f' * delta is the size of the difference
                diff = abs(fprime(xm)) * dm
        if diff == 0:  # constant around x
            return dps + 20
        need = max(0, int(mpmath.ceil(mpmath.log10(abs(fx) / diff)))) + dps + 20
        if need <= wp:
            return wp
        if need > MAX_WORKING_DPS:
            warnings.warn(f"f(x +- delta) - f(x) at x = {xv}, delta = {deltav} cancels more than "
                          f"{MAX_WORKING_DPS - dps - 20} digits: the value is not correct to {dps} digits",
                          PrecisionWarning, stacklevel=3)
            return MAX_WORKING_DPS
        wp = need
    return wp


def cancelled_digits(activation, xv, deltav, dps: int) -> int:
    """Digits that ``f(x + delta) - f(x - delta)`` cancels: those of ``|x| / delta`` (x + delta must keep delta's
    digits) or those f loses in a tail (:func:`working_dps`, which warns past :data:`MAX_WORKING_DPS` for
    ``dps`` digits), whichever is more.

    >>> from nonlocal_calc import activations
    >>> cancelled_digits(activations.get("tanh"), "0.2", "1e-150", 30), cancelled_digits(activations.get("relu"), 5, "1e-6", 30)
    (150, 7)
    """
    f, fp = _mp_function(activation.expr, (x,)), _mp_function(activation.derivative, (x,))
    tail = working_dps(f, xv, deltav, dps, fp) - dps - 20
    with mpmath.workdps(30):
        ratio = abs(mpmath.mpf(xv)) / mpmath.mpf(deltav)
        return max(tail, int(mpmath.ceil(mpmath.log10(ratio))) if ratio > 1 else 0)


def _agree(a: mpmath.mpf, b: mpmath.mpf, dps: int) -> bool:
    if mpmath.isinf(b):
        return a == b
    return abs(a - b) <= mpmath.mpf(10) ** -(dps + 1) * abs(b)


def _noise(a: mpmath.mpf, b: mpmath.mpf, dps: int) -> bool:
    """b is rounding noise around 0: it shrank by 10**-dps from the previous precision, and is below 10**-(2 dps)."""
    return abs(b) <= mpmath.mpf(10) ** -dps * min(abs(a), mpmath.mpf(10) ** -dps)


def next_dps(wp: int) -> int:
    """The working precision tried after ``wp``: half as many digits again (at least 20 more)."""
    return wp + max(20, wp // 2)


def certify(compute: Callable[[int], mpmath.mpf | None], dps: int, wp: int, cap: int) -> tuple[mpmath.mpf | None, bool]:
    """``(value, certified)``: ``compute(p)`` at working precisions ``p = wp, next_dps(wp), ...`` (at most ``cap``)
    until two agree to ``dps + 1`` digits, or shrink like rounding noise (the value is then 0). Not certified: the
    last value and False. ``compute`` returning nan (too few digits to evaluate) goes on to the next precision;
    returning None (not finite at any precision) ends the search with ``(None, False)``.

    Two agreeing zeros certify 0 here; a caller whose zero may be a cancelled value checks it another way.

    >>> certify(lambda p: mpmath.mpf(1) / 3, 15, 35, 100)
    (mpf('0.33333333333333331'), True)
    """
    prev = None
    while True:
        val = compute(wp)
        if val is None:
            return None, False
        with mpmath.workdps(wp):
            if prev is not None and _agree(prev, val, dps):
                return val, True
            if prev is not None and _noise(prev, val, dps):
                return mpmath.mpf(0), True
        if wp >= cap:
            return val, False
        prev, wp = val, min(next_dps(wp), cap)


def precision_warning(what: str, dps: int, cap: int) -> None:
    warnings.warn(f"{what}: two working precisions up to {cap} digits did not agree; the value is not certified "
                  f"to {dps} digits", PrecisionWarning, stacklevel=4)


# ------------------------------------------------------------------ quadrature
def horizon_quad(F, pts, m: int = 1) -> mpmath.mpf:
    """``int F(w) dw`` over consecutive points ``pts`` (from 0), tanh-sinh on each piece; the piece ``(0, c)`` uses
    ``w = c u**m``, which turns an integrand ``~ w**a`` at 0 into ``~ u**(m (a + 1) - 1)``, and a piece ``(a, b)``
    with ``b > 8 a`` is integrated in ``log w``. Each piece is divided
    by its sampled size (times its length) first: mpmath stops on an absolute error of ``10**-dps``, too coarse for a
    small piece (relu with the sign kernel at delta = 1e-300 was 2e-14 off).

    >>> with mpmath.workdps(30):
    ...     mpmath.nstr(horizon_quad(lambda w: w ** mpmath.mpf("-0.9"), [0, 1], m=20), 25)
    '10.0'
    """
    total = mpmath.mpf(0)
    for a, b in zip(pts, pts[1:]):
        if a == 0:
            G, lo, hi = (lambda u, b=b: F(b * u**m) * m * b * u ** (m - 1)), mpmath.mpf(0), mpmath.mpf(1)
        elif b > 8 * a:  # many decades (a kink 1e-80 from x): in log w the power law near a is smooth
            G, lo, hi = (lambda s: F(mpmath.exp(s)) * mpmath.exp(s)), mpmath.log(a), mpmath.log(b)
        else:
            G, lo, hi = F, a, b
        size = max(abs(G(lo + (hi - lo) * t)) for t in (mpmath.mpf("0.3"), mpmath.mpf("0.6"), mpmath.mpf("0.9")))
        size = size * (hi - lo) or mpmath.mpf(1)
        total += size * mpmath.quad(lambda u, G=G, size=size: G(u) / size, [lo, hi])
    return total


def substitution_power(F, c: mpmath.mpf) -> int | None:
    """The m of ``w = c u**m`` that makes ``u**(m (a + 1) - 1)`` at least linear, where ``F ~ w**a`` at 0+
    (measured, see :func:`~nonlocal_calc.kernel_checks.exponent_at_zero`); None where the integral diverges
    (a <= -1: a jump of f at x against a kernel with q <= -1); 2 where F vanishes near 0."""
    a = exponent_at_zero(F, c)
    if a is None:
        return 2
    if a <= -1 + mpmath.mpf(10) ** -6:
        return None
    return max(1, min(10**6, int(mpmath.ceil(2 / (a + 1)))))


def symmetric_difference(f, xm: mpmath.mpf, dm: mpmath.mpf, digits: int, first_cut: mpmath.mpf | None = None,
                         sign: int = -1):
    """``g(w) = f(x + w) - f(x - w)`` (``+`` for ``sign=1``) at the current precision.

    Computed with ``digits`` (what g cancels at w = delta, see :func:`cancelled_digits`) plus the digits of
    delta / w more: ``g ~ w**k`` near 0, so the difference cancels that many more there, and x +- w keeps every digit
    of w (a kink of f at x is then seen on the right side by f's Piecewise conditions). Below the point where g is
    a power law to the working precision (:func:`power_tail`, searched well inside ``first_cut``, the distance of
    the nearest kink of f) it is that power law: a kernel ``~ w**(-39/20)`` puts nodes at w = 1e-2000 after its
    substitution, where f would cost 2000 digits.
    """
    bits = int(digits * 3.33) + 16

    def exact(w):
        with mpmath.workprec(mpmath.mp.prec + bits + max(0, mpmath.mag(dm) - mpmath.mag(w))):
            val = f(xm + w) + sign * f(xm - w)
        return +val

    tail = power_tail(exact, first_cut) if first_cut is not None else None
    if tail is None:
        return exact
    w0, g0, k = tail
    return lambda w: exact(w) if w >= w0 else g0 * (w / w0) ** k


def power_tail(g, c: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf] | None:
    """``(w0, g(w0), k)`` with ``g(w) = g(w0) (w / w0)**k`` for ``0 < w <= w0`` to the working precision: the
    local exponents of g between ``w0 * 10``, w0 and ``w0 / 10`` agree to ``10**-(dps + 2)`` (for a g analytic on
    each side of 0 they differ by ``O(w0**2)``). Searched from ``w0 = c 10**-(dps/2)`` down to ``c 10**-(3 dps)``,
    where g has no kink below c; None where g vanishes there or is no power law (then g is computed everywhere)."""
    dps = mpmath.mp.dps
    tol = mpmath.mpf(10) ** -(dps + 2)
    for j in range(dps // 2, 3 * dps, max(5, dps // 4)):
        w1 = c * mpmath.mpf(10) ** -j
        v1, v2, v3 = g(w1), g(w1 / 10), g(w1 / 100)
        if not (v1 * v2 > 0 and v2 * v3 > 0):
            continue
        k12, k23 = mpmath.log10(v1 / v2), mpmath.log10(v2 / v3)
        if abs(k12 - k23) <= tol * (1 + abs(k23)):
            return w1 / 10, v2, k23
    return None


def _constant_and_shape(expr: sp.Expr, dm: mpmath.mpf, dps: int):
    """``expr`` (in z and delta) at the horizon dm as ``c * shape(z)``: the z-free factor c certified to ``dps``
    digits (a Gaussian kernel's normalization cancels ~ 3 log10(1/delta) digits), the shape at working precision."""
    const, shape = expr.as_independent(z, as_Add=False)
    c_fn, s_fn = _mp_function(const, (delta,)), _mp_function(shape, (z, delta))

    def at(p: int) -> mpmath.mpf:  # nan where the precision is too low to evaluate it: certify goes on
        with mpmath.workdps(p):
            try:
                v = c_fn(mpmath.mpf(dm))
            except ZeroDivisionError:
                return mpmath.mpf("nan")
            return mpmath.re(v) if mpmath.isfinite(v) and mpmath.im(v) == 0 else mpmath.mpf("nan")

    c, ok = certify(at, dps, dps + GUARD_DPS, MAX_WORKING_DPS)
    if not ok:
        precision_warning(f"the factor {const} of the kernel at delta = {dm}", dps, MAX_WORKING_DPS)
    return c, (lambda w: s_fn(w, dm))


def _x_and_delta(xv, deltav, digits: int) -> tuple[mpmath.mpf, mpmath.mpf]:
    """x and delta as mpmath numbers with the digits of the whole computation (x + w must keep w's digits)."""
    with mpmath.workdps(digits):
        return mpmath.mpf(xv), mpmath.mpf(deltav)


def _cuts(activation, kernel, xm: mpmath.mpf, dm: mpmath.mpf) -> list[mpmath.mpf]:
    """0, the distances |b - x| of f's kinks and the kernel's kinks inside the horizon, delta."""
    inner = {abs(mpmath.mpf(b) - xm) for b in activation.breakpoints} | set(kinks(kernel.mu_plus, z, dm))
    return [mpmath.mpf(0), *sorted(c for c in inner if 0 < c < dm), dm]


def _integral(activation, kernel, xv, deltav, digits: int):
    """``compute(p)`` for :func:`certify`: the folded defining integral at p working digits."""
    f = _mp_function(activation.expr, (x,))

    def compute(p: int) -> mpmath.mpf:
        xm, dm = _x_and_delta(xv, deltav, p + digits + 10)
        with mpmath.workdps(p):
            c, mu = _constant_and_shape(kernel.mu_plus, dm, p)
            if kernel.discrete:
                return c * symmetric_difference(f, xm, dm, digits)(dm)
            pts = _cuts(activation, kernel, xm, dm)
            g = symmetric_difference(f, xm, dm, digits, pts[1])

            def F(w):
                return g(w) * mu(w)

            m = substitution_power(F, pts[1])
            if m is None:  # a jump of f at x against a kernel ~ w**q, q <= -1: the integral diverges
                return mpmath.inf * mpmath.sign(c * F(pts[1] / 2))
            return c * horizon_quad(F, pts, m)

    return compute


def nonlocal_quad(activation, kernel, xv, deltav, dps: int = 30) -> mpmath.mpf:
    """D_mu f(xv) for horizon ``deltav`` by quadrature of the folded defining integral (see the module's
    description), certified to ``dps`` digits: computed at ``dps + 20`` and more working digits until two agree
    (up to four times as many; a ``PrecisionWarning`` says when they did not)."""
    digits = cancelled_digits(activation, xv, deltav, dps)
    wp = dps + GUARD_DPS
    cap = min(MAX_WORKING_DPS, 4 * wp)
    val, ok = certify(_integral(activation, kernel, xv, deltav, digits), dps, wp, cap)
    if not ok:
        precision_warning(f"D_mu {activation.name} at x = {xv}, delta = {deltav} by quadrature", dps, cap)
    with mpmath.workdps(dps):
        return +val


def rho_quad(activation, kernel, xv, deltav, dps: int = 30) -> mpmath.mpf:
    """D_mu f(xv) through the smoothing profile: ``int f'(x+s) rho(s) ds + sum_b jump_b(f) rho(b - x)``.

    A second route to the same number (a different integrand: f' against rho instead of differences of f
    against mu; the jumps ``jump_b(f) = f(b+) - f(b-)`` at the kinks add point terms). Folded like
    :func:`nonlocal_quad`, ``[f'(x+s) + f'(x-s)] rho(s)`` over (0, delta); computed at one working precision,
    ``dps + 20`` digits (f' and rho do not cancel; x + s keeps the digits of s).
    """
    if kernel.discrete:
        return nonlocal_quad(activation, kernel, xv, deltav, dps)
    wp = dps + GUARD_DPS
    digits = cancelled_digits(activation, xv, deltav, dps)
    xm, dv = _x_and_delta(xv, deltav, wp + digits + 10)
    with mpmath.workdps(wp):
        pts = _cuts(activation, kernel, xm, dv)
        fsum = symmetric_difference(_mp_function(activation.derivative, (x,)), xm, dv, digits, pts[1], sign=1)
        rho = _mp_function(kernel.rho, (z, delta))

        def F(s):
            return fsum(s) * rho(s, dv)

        total = horizon_quad(F, pts, substitution_power(F, pts[1]) or 2)
        for i, b in enumerate(activation.breakpoints):
            s = mpmath.mpf(b) - xm
            if -dv < s < dv:
                jump = _mp_function(activation.pieces[i + 1] - activation.pieces[i], (x,))(mpmath.mpf(b))
                total += jump * rho(s, dv)
        return +total
