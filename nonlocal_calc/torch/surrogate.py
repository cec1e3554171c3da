"""The spike function of a surrogate on the whole line at the infinite horizon: forward the Heaviside step,
backward the surrogate itself, ``D_mu H = rho`` for ``delta = inf``.

A kernel from :meth:`nonlocal_calc.Kernel.from_surrogate` with a formula in x alone has no delta in it; on a
finite horizon its profile is the surrogate truncated (``rho(x) - rho(delta)``, the generated pair of
:func:`nonlocal_calc.torch.pair`), and as ``delta -> oo`` it is the surrogate. That limit is printed here to
torch operations from the checked formula, evaluated at ``|x|`` (the profile is even): snnTorch's sigmoid
surrogate ``k exp(-k x)/(exp(-k x) + 1)**2`` overflows to NaN for ``k x < -88`` in float32, its value at
``|x|`` does not.
"""

from __future__ import annotations

from functools import cache

import sympy as sp
import torch

from ..symbols import x
from .printer import HELPERS, TorchCodePrinter


def _function(key: str, expr: sp.Expr):
    """``expr`` (in x) as a torch function: the printed text of a SymPy formula, run once to define it."""
    pr = TorchCodePrinter()
    body = pr.doprint(expr)
    source = "".join(HELPERS[h] for h in sorted(pr.helpers)) + f"def profile(x):\n    return {body}\n"
    namespace = {"torch": torch}
    exec(compile(source, f"<surrogate {key}>", "exec"), namespace)  # noqa: S102  (printed from SymPy, not user text)
    return namespace["profile"]


#: Points (|x|) where the candidate forms of a profile are compared with mpmath: 1e-8 to 1e4.
_CHECK_POINTS = [m * 10.0**e for e in range(-8, 5) for m in (1.0, 1.7, 3.1, 5.3)]


def _worst_error(fn, rho: sp.Expr, dtype) -> float:
    """The largest relative error of ``fn`` on :data:`_CHECK_POINTS` (rounded to dtype) in units of its eps."""
    from ..profiles import exact_function

    v = torch.tensor(_CHECK_POINTS, dtype=dtype)
    with torch.no_grad():
        got = fn(v).double()
    exact = exact_function(rho)
    want = torch.tensor([exact(t) for t in v.double().tolist()], dtype=torch.float64)
    tiny = torch.finfo(dtype).tiny
    err = torch.where(torch.isfinite(got), (got - want).abs() / (want.abs() + tiny), torch.inf)
    return float(err.max()) / torch.finfo(dtype).eps


@cache
def _compiled(key: str, rho: sp.Expr):
    """``profile(x)``: the surrogate at ``|x|`` as a torch function. Of the equivalent forms (as typed, SymPy's
    simplification), the one closest to mpmath on :data:`_CHECK_POINTS` in float32 and float64: ``1 -
    tanh(100 x)**2`` as typed loses every digit from x = 0.09 in float32, ``cosh(100 x)**-2`` none."""
    at_abs = rho.subs(x, sp.Abs(x))
    fns = [_function(key, f) for f in (at_abs, sp.simplify(at_abs))]
    scores = [max(_worst_error(f, rho, d) for d in (torch.float32, torch.float64)) for f in fns]
    return fns[scores.index(min(scores))]


def profile_function(kernel):
    """The surrogate of a whole-line kernel as a torch function of x."""
    rho = kernel.info["surrogate"]
    return _compiled(sp.srepr(rho), rho)


class Spike(torch.autograd.Function):
    """Forward ``H(x)`` (1 for x >= 0), backward ``grad * profile(x)``; the backward is made of torch operations,
    so double backward differentiates the profile."""

    @staticmethod
    def forward(x, profile):
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.profile = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        low = v.dtype in (torch.float16, torch.bfloat16)
        r = ctx.profile(v.float() if low else v)
        return grad * r.to(grad.dtype), None
