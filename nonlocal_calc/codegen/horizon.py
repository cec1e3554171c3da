"""The compiled code at an infinite horizon.

For a normalized kernel that is a function of z/delta (every catalogue kernel; a Gaussian whose width is a
multiple of delta) rho(s) = r(s/delta)/delta with r even and int r = 1, so with a = f'(+oo), b = f'(-oo)

    D_mu f(x) = int f'(x + delta t) r(t) dt -> a int_0^1 r + b int_-1^0 r = (a + b)/2    (delta -> oo)

for every finite x, by dominated convergence (the jumps of f add J r((c - x)/delta)/delta -> 0 for x != c).
ReLU: 1/2 at every x; tanh: 0; leaky_relu with slope 1/100: 101/200.

>>> import nonlocal_calc as nlc
>>> infinite_horizon(nlc.derive("relu", "sign")), infinite_horizon(nlc.derive("tanh", "linear"))
(1/2, 0)
>>> scale_free(nlc.kernels.gaussian(sp.Rational(1, 10)))  # a fixed width: the limit is another smoothing of f'
False
"""

from __future__ import annotations

import mpmath
import sympy as sp

from ..symbols import delta, z
from .fprime import fprime_limits

_T = sp.Symbol("t", positive=True)


def _profile(kernel):
    """r(t) = delta rho(delta t) for 0 < t < 1 (an expression in t alone), or None if it depends on delta (checked at
    three horizons and three points: SymPy's simplification takes 0.6-3 s)."""
    if not kernel.normalize or kernel.discrete:
        return None
    r = (delta * kernel.rho.subs(z, _T * delta)).replace(lambda e: isinstance(e, sp.Abs), lambda e: e.args[0])
    f = sp.lambdify((_T, delta), r, "mpmath")
    with mpmath.workdps(30):
        for t in ("0.1", "0.37", "0.8"):
            vals = [f(mpmath.mpf(t), mpmath.mpf(d)) for d in ("0.5", "3", "100")]
            if not all(mpmath.almosteq(v, vals[0], 1e-20) for v in vals):
                return None
    return r.subs(delta, 1)


def scale_free(kernel) -> bool:
    """Whether the normalized kernel's rho is r(s/delta)/delta (its shape does not depend on delta)."""
    return kernel.normalize and (kernel.discrete or _profile(kernel) is not None)


def infinite_horizon(D) -> sp.Expr:
    """``lim_{delta -> oo} D(x, delta) = (f'(+oo) + f'(-oo))/2`` for finite x, or nan where that does not apply (a
    kernel that is not scale-free or not normalized, f' without finite limits at both ends)."""
    lo, hi = fprime_limits(D)
    if not all(v.is_number and v.is_finite and v.is_real for v in (lo, hi)) or not scale_free(D.kernel):
        return sp.nan
    return (lo + hi) / 2
