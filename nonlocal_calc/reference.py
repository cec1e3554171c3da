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

from functools import lru_cache

import mpmath
import sympy as sp

from .symbols import delta, x, z


@lru_cache(maxsize=128)
def _mp_function(expr: sp.Expr, args: tuple):
    return sp.lambdify(args, expr, "mpmath")


def nonlocal_quad(activation, kernel, xv, deltav, dps: int = 30, method: str = "tanh-sinh") -> mpmath.mpf:
    """D_mu f(xv) for horizon ``deltav`` by numerical quadrature at ``dps`` digits (plus guard digits)."""
    with mpmath.workdps(dps + 20):
        xv, dv = mpmath.mpf(xv), mpmath.mpf(deltav)
        f = _mp_function(activation.expr, (x,))
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
            total += sigma * mpmath.quad(lambda w, s=sigma: (f(xv + s * w) - fx) * mu(w, dv), pts, method=method)
        return +total
