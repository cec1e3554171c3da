"""Independent reference values: mpmath quadrature of the defining integral.

``nonlocal_quad`` integrates ``[f(x+z) - f(x)] mu(z)`` over the horizon with mpmath's
tanh-sinh rule, cut at 0 and at every kink of f, so that each piece is smooth (the rule
copes with the integrable endpoint singularities of singular kernels). It shares no
code with the symbolic engine: it is the yardstick the closed forms are checked against,
and the evaluator for pairs without a closed form.

>>> import mpmath
>>> from nonlocal_calc import activations, kernels
>>> v = nonlocal_quad(activations.get("relu"), kernels.sign(), "0.03", "0.1", dps=25)
>>> mpmath.nstr(v, 20)
'0.755'
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import mpmath
import sympy as sp

from .symbols import delta, x, z


def _quad(fn, pts, method: str = "tanh-sinh"):
    """Integrate over consecutive points; pieces that end at 0 use s = +-t**2, which removes the
    s**q endpoint singularities of singular kernels (tanh-sinh alone stalls near 1e-17 for q = -1/2)."""
    total = mpmath.mpf(0)
    for a, b in zip(pts, pts[1:]):
        if a == 0:
            total += mpmath.quad(lambda t: 2 * t * fn(t * t), [0, mpmath.sqrt(b)], method=method)
        elif b == 0:
            total += mpmath.quad(lambda t: 2 * t * fn(-t * t), [0, mpmath.sqrt(-a)], method=method)
        else:
            total += mpmath.quad(fn, [a, b], method=method)
    return total


@lru_cache(maxsize=128)
def _mp_function(expr: sp.Expr, args: tuple):
    return sp.lambdify(args, expr, "mpmath")


#: The working precision (digits) beyond which the references stop raising it, and warn instead.
MAX_WORKING_DPS = 4000


class PrecisionWarning(UserWarning):
    """A reference value could not be made correct to the digits asked for within ``MAX_WORKING_DPS``."""


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


def activation_working_dps(activation, xv, deltav, dps: int) -> int:
    """:func:`working_dps` for an activation (its f' from SymPy)."""
    return working_dps(_mp_function(activation.expr, (x,)), xv, deltav, dps, _mp_function(activation.derivative, (x,)))


def nonlocal_quad(activation, kernel, xv, deltav, dps: int = 30, method: str = "tanh-sinh") -> mpmath.mpf:
    """D_mu f(xv) for horizon ``deltav`` by numerical quadrature, correct to ``dps`` digits: the working
    precision has 20 guard digits plus those that ``f(x +- delta) - f(x)`` cancels (see :func:`working_dps`)."""
    f = _mp_function(activation.expr, (x,))
    with mpmath.workdps(activation_working_dps(activation, xv, deltav, dps)):
        xv, dv = mpmath.mpf(xv), mpmath.mpf(deltav)
        if kernel.discrete:
            mass = _mp_function(kernel.mu_plus, (delta,))(dv)
            return mass * (f(xv + dv) - f(xv - dv))
        mu = _mp_function(kernel.mu_plus, (z, delta))
        fx = f(xv)
        total = mpmath.mpf(0)
        for sigma in (1, -1):
            cuts = {mpmath.mpf(0), dv}
            cuts.update(sigma * (mpmath.mpf(b) - xv) for b in activation.breakpoints)
            pts = sorted(c for c in cuts if 0 <= c <= dv)
            total += sigma * _quad(lambda w, s=sigma: (f(xv + s * w) - fx) * mu(w, dv), pts, method)
        return +total


def rho_quad(activation, kernel, xv, deltav, dps: int = 30) -> mpmath.mpf:
    """D_mu f(xv) through the smoothing profile: ``int f'(x+s) rho(s) ds + sum_b jump_b(f) rho(b - x)``.

    A second, independent route to the same number (a different integrand: f' against rho
    instead of differences of f against mu; the jumps ``jump_b(f) = f(b+) - f(b-)`` at the kinks add point terms).
    """
    if kernel.discrete:
        return nonlocal_quad(activation, kernel, xv, deltav, dps)
    with mpmath.workdps(dps + 20):
        xv, dv = mpmath.mpf(xv), mpmath.mpf(deltav)
        fp = _mp_function(activation.derivative, (x,))
        rho = _mp_function(kernel.rho, (z, delta))
        cuts = {-dv, mpmath.mpf(0), dv}
        cuts.update(mpmath.mpf(b) - xv for b in activation.breakpoints)
        pts = sorted(c for c in cuts if -dv <= c <= dv)
        total = _quad(lambda s: fp(xv + s) * rho(s, dv), pts)
        for i, b in enumerate(activation.breakpoints):
            s = mpmath.mpf(b) - xv
            if -dv < s < dv:
                jump = _mp_function(activation.pieces[i + 1] - activation.pieces[i], (x,))(mpmath.mpf(b))
                total += jump * rho(s, dv)
        return +total
