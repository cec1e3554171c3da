"""Values of a nonlocal derivative: the arguments checked, nan and the limits at +-inf, then the number itself.

:meth:`NonlocalDerivative.evaluate <nonlocal_calc.derivation.NonlocalDerivative.evaluate>` calls :func:`evaluate`.
At ``x = nan`` the value is nan. At ``x = +-inf`` it is the limit: where f'(x) tends to L as x -> +-inf,
``f(x + w) - f(x - w) = 2 L w + o(w)`` uniformly on the horizon, so ``D_mu f(x) -> L M_1`` (L for a normalized
kernel) for every kernel the toolkit accepts (``int |w mu(w)| dw < oo``). An infinite L gives an infinite limit of
the same sign where D_mu f is an average of f' (rho >= 0, or the point masses of the dirac pair); a slope without a
limit (an oscillating f') is refused.

>>> import nonlocal_calc as nlc
>>> D = nlc.derive("relu", "sign")
>>> D.evaluate("inf", "0.1"), D.evaluate("-inf", "0.1"), D.evaluate("nan", "0.1")
(mpf('1.0'), mpf('0.0'), mpf('nan'))
"""

from __future__ import annotations

from functools import lru_cache

import mpmath
import sympy as sp

from .arguments import real_argument, whole_number
from .kernels import check_delta
from .reference import GUARD_DPS, MAX_WORKING_DPS, cancelled_digits, certify, nonlocal_quad
from .symbols import delta, x
from .timeouts import DerivationTimeout, time_budget

#: The largest ``dps`` evaluate accepts (its working precision goes up to ``reference.MAX_WORKING_DPS``).
MAX_DPS = 1000
#: The most digits a closed form may cancel for a small delta (beyond what the quadrature needs too) before the
#: quadrature is used instead.
CLOSED_FORM_EXTRA_DPS = 150
#: CPU seconds for SymPy's limit of f' at +-inf.
LIMIT_TIMEOUT = 20.0


def check_arguments(xv, deltav, dps) -> tuple[object, object, int]:
    """``(x, delta, dps)`` checked: x real (nan and +-inf allowed), delta a finite positive number, dps a whole
    number of digits from 1 to :data:`MAX_DPS`."""
    xv = real_argument(xv, "x")
    dps = whole_number(dps, "dps", 1, MAX_DPS, "the number of correct digits wanted, e.g. dps=30")
    check_delta(deltav)
    return xv, real_argument(deltav, "delta"), dps


def evaluate(D, xv, deltav, dps: int) -> mpmath.mpf:
    """D_mu f(x) correct to ``dps`` digits (see :meth:`~nonlocal_calc.derivation.NonlocalDerivative.evaluate`).

    The closed form where it is cheap and certified and not 0, else the certified quadrature of the defining
    integral: a 0 of the closed form may be everything cancelled, the quadrature cancels nothing.
    """
    xv, deltav, dps = check_arguments(xv, deltav, dps)
    xm = mpmath.mpf(xv)
    if mpmath.isnan(xm):
        return mpmath.mpf("nan")
    if mpmath.isinf(xm):
        return limit_at_infinity(D, 1 if xm > 0 else -1, deltav, dps)
    if D.method == "closed-form":
        val = closed_form_value(D, xv, deltav, dps)
        if val is not None and val != 0:
            return val
    return nonlocal_quad(D.activation, D.kernel, xv, deltav, dps=dps)


def delta_order(expr: sp.Expr) -> sp.Expr:
    """The highest power of 1/delta in ``expr``: a closed form ``sum_j F_j(x +- delta) / delta**k`` cancels about
    k log10(1/delta) digits for a small delta (its terms are Taylor series in delta).

    >>> delta_order(3 * sp.polylog(2, -sp.exp(2 * x + 2 * delta)) / (4 * delta**3) + x / delta**sp.Rational(3, 2))
    3
    """
    return max((-p.exp for p in expr.atoms(sp.Pow) if p.base == delta and p.exp.is_negative), default=sp.Integer(0))


def delta_digits(D, deltav) -> int:
    """The digits the closed form cancels for a small delta beyond those of ``f(x + delta) - f(x - delta)``:
    :func:`delta_order` per digit of 1/delta (tanh with the linear kernel at delta = 1e-150: 450)."""
    with mpmath.workdps(30):
        small = max(mpmath.mpf(0), -mpmath.log10(mpmath.mpf(deltav)))
        return int(mpmath.ceil(small * mpmath.mpf(sp.N(delta_order(D.expr), 30))))


def closed_form_value(D, xv, deltav, dps: int) -> mpmath.mpf | None:
    """The closed form at (xv, deltav), certified to ``dps`` digits by two working precisions, the first dps + 20
    guard digits plus those f's differences cancel (:func:`~nonlocal_calc.reference.cancelled_digits`) plus
    :func:`delta_digits`. None where it is not finite, where :func:`delta_digits` exceeds
    :data:`CLOSED_FORM_EXTRA_DPS` (the quadrature is then cheaper: polylog(3, .) at 1000 digits takes 18 s), or
    where two precisions up to four times the first do not agree."""
    extra = delta_digits(D, deltav)
    if extra > CLOSED_FORM_EXTRA_DPS:
        return None
    wp = min(MAX_WORKING_DPS, dps + GUARD_DPS + cancelled_digits(D.activation, xv, deltav, dps) + extra)

    def at(p: int) -> mpmath.mpf | None:
        with mpmath.workdps(p):
            try:
                val = D._mp_closed(mpmath.mpf(xv), mpmath.mpf(deltav))
            except (ZeroDivisionError, ValueError, TypeError):
                return None
            return mpmath.re(val) if mpmath.isfinite(val) and mpmath.im(val) == 0 else None

    val, certified = certify(at, dps, wp, min(MAX_WORKING_DPS, 4 * wp))
    if not certified:
        return None
    with mpmath.workdps(dps):
        return +val


def _limit(expr: sp.Expr, point: sp.Expr) -> sp.Expr:
    """SymPy's limit of ``expr`` as ``x -> point`` within :data:`LIMIT_TIMEOUT` s of CPU time; ``sp.nan`` when
    SymPy finds none in that time."""
    budget = None
    try:
        with time_budget(LIMIT_TIMEOUT) as budget:
            return sp.limit(expr, x, point)
    except DerivationTimeout as exc:
        if exc.budget is not budget:
            raise
    except (NotImplementedError, ValueError, TypeError, RecursionError):
        pass
    return sp.nan


@lru_cache(maxsize=256)
def slope_at_infinity(piece: sp.Expr, sign: int) -> sp.Expr:
    """``lim f'(x)`` as ``x -> sign * oo`` for the activation's outermost piece; ``sp.nan`` when SymPy finds none."""
    lim = _limit(sp.diff(piece, x), sign * sp.oo)
    return lim if lim in (sp.oo, -sp.oo) or (lim.is_number and lim.is_extended_real) else sp.nan


@lru_cache(maxsize=256)
def slowly_varying(piece: sp.Expr, sign: int) -> bool:
    """Whether ``f'(x + s) / f'(x) -> 1`` as ``x -> sign * oo`` for every real s (polynomial or slower growth of
    f'): then ``D_mu f(x) ~ f'(x) M_1`` for any kernel, and an infinite slope gives a limit of its sign."""
    s = sp.Symbol("s", real=True)
    fp = sp.diff(piece, x)
    return _limit(fp.subs(x, x + s) / fp, sign * sp.oo) == 1


def limit_at_infinity(D, sign: int, deltav, dps: int) -> mpmath.mpf:
    """``lim D_mu f(x)`` as ``x -> sign * oo`` at the horizon ``deltav`` (see the module's description)."""
    piece = D.activation.pieces[-1 if sign > 0 else 0]
    slope = slope_at_infinity(piece, sign)
    where = "+inf" if sign > 0 else "-inf"
    if slope is sp.nan:
        raise ValueError(f"D_mu {D.activation.name} has no limit at x = {where} that the toolkit can find: f'(x) = "
                         f"{sp.diff(piece, x)} has no limit there (SymPy); evaluate at a finite x")
    with mpmath.workdps(dps + 20):
        m1 = sp.lambdify(delta, D.kernel.moment(1), "mpmath")(mpmath.mpf(deltav))
        if slope in (sp.oo, -sp.oo):
            if m1 < 0:
                slope = -slope
            if not (D.kernel.discrete or D.kernel.rho_nonnegative or slowly_varying(piece, sign)):
                raise ValueError(f"D_mu {D.activation.name} at x = {where}: f' tends to {slope} but the kernel "
                                 f"{D.kernel.name} is not an average of f' (its rho changes sign) and f' grows fast, so the "
                                 "sign of the limit is not known; evaluate at a finite x")
            return mpmath.inf if slope == sp.oo else -mpmath.inf
        val = mpmath.mpf(sp.N(slope, dps + 20)) * m1
    with mpmath.workdps(dps):
        return +val
