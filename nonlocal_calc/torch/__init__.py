"""Nonlocal derivatives inside PyTorch: activations whose backward is D_mu f, and surrogate gradients.

Imported explicitly (``import nonlocal_calc.torch``; the package itself never imports torch). The code is
printed from the derivation to torch operations (:mod:`.generate`), so it runs on any device and under
``torch.compile``; it is built once per pair and cached on disk with the code generator's modules.

>>> import torch
>>> from nonlocal_calc.torch import nonlocal_activation
>>> x = torch.tensor([-1.0, -0.05, 0.0, 0.05, 1.0], dtype=torch.float64, requires_grad=True)
>>> y = nonlocal_activation(x, "relu", "sign", 0.1)
>>> y.sum().backward()
>>> x.grad
tensor([0.0000, 0.1250, 0.5000, 0.8750, 1.0000], dtype=torch.float64)

``spike`` gives the Heaviside step with the smoothing profile of the kernel as its gradient (a surrogate
gradient, D_mu H = rho):

>>> s = spike("sign", delta=1.0)
>>> v = torch.tensor([-0.5, 0.5], requires_grad=True)
>>> s(v).sum().backward()
>>> s(v).detach(), v.grad
(tensor([0., 1.]), tensor([0.5000, 0.5000]))
"""

from __future__ import annotations

from functools import cache

import torch

__all__ = ["nonlocal_activation", "NonlocalActivation", "spike", "pair", "AdaptiveActivation", "slope_recovery"]


def __getattr__(name: str):
    if name in ("AdaptiveActivation", "slope_recovery"):  # (their own module: torch.nn only)
        from . import adaptive

        return getattr(adaptive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _pair(act_key, ker_key, activation, kernel):
    import warnings

    import nonlocal_calc as nlc

    from ..derivation import QuadratureFallbackWarning
    from .compiled import load

    with warnings.catch_warnings():  # (a pair without closed form: the torch code integrates numerically)
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        D = nlc.derive(activation, kernel)
    return load(D)


def pair(activation="relu", kernel="sign"):
    """The generated module of a pair (built and cached on first use): its autograd Functions
    ``pair(...).Activation.apply(x, delta)`` and ``pair(...).Derivative.apply(x, delta)``, and the plain functions
    ``value(x, delta)``, ``derivs(x, delta)`` (d/dx and d/ddelta of D_mu f), ``activation(x)``; ``activation`` and
    ``kernel`` as :func:`nonlocal_calc.derive` takes them (names, specs such as ``"power(2)"``, or objects)."""
    import nonlocal_calc as nlc

    act = nlc.activations.get(activation) if isinstance(activation, str) else activation
    ker = nlc.kernels.get(kernel) if isinstance(kernel, str) else kernel
    return _pair(act.key(), ker.key(), act, ker)


def _delta(delta, x: torch.Tensor) -> torch.Tensor:
    if isinstance(delta, torch.Tensor):
        if not delta.is_floating_point():
            raise TypeError(f"delta must be a floating-point tensor or a number, not a {delta.dtype} tensor")
        return delta
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise TypeError(f"delta must be a positive number or a tensor, not {type(delta).__name__}")
    if not delta > 0:
        raise ValueError(f"delta must be positive (the horizon of the kernel), got {delta}")
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    return torch.tensor(float(delta), dtype=dtype, device=x.device)


def _order(mod, delta, dtype) -> int | None:
    """The quadrature order planned for a number delta and data of ``dtype``; None (the largest planned for the
    dtype) for a tensor."""
    return None if isinstance(delta, torch.Tensor) else mod.order_for(float(delta), dtype)


def _check(x) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch tensor (float64, float32, float16 or bfloat16)")


def nonlocal_activation(x: torch.Tensor, activation="relu", kernel="sign", delta=0.1) -> torch.Tensor:
    """``f(x)`` whose gradient is the nonlocal derivative ``D_mu f(x)`` of horizon ``delta``.

    ``delta`` is a positive number or a tensor broadcastable against x (it may require grad: its gradient
    comes from the backward, e.g. with ``create_graph=True``; the forward f does not depend on it).
    """
    _check(x)
    mod = pair(activation, kernel)
    return mod.Activation.apply(x, _delta(delta, x), _order(mod, delta, x.dtype))


class NonlocalActivation(torch.nn.Module):
    """The activation ``f`` with backward ``D_mu f`` as a module (``delta`` kept as a buffer; given as a number,
    the quadrature uses the order planned for it, given as a tensor, the largest planned order).

    >>> import torch
    >>> m = NonlocalActivation("tanh", "sign", delta=0.5)
    >>> m
    NonlocalActivation(activation='tanh', kernel='sign', delta=0.5)
    >>> m(torch.zeros(2)).tolist()
    [0.0, 0.0]
    """

    def __init__(self, activation="relu", kernel="sign", delta=0.1):
        super().__init__()
        if isinstance(delta, bool) or not isinstance(delta, (int, float, torch.Tensor)):
            raise TypeError(f"delta must be a positive number or a tensor, not {type(delta).__name__}")
        if not isinstance(delta, torch.Tensor) and not delta > 0:
            raise ValueError(f"delta must be positive (the horizon of the kernel), got {delta}")
        self._names = (activation, kernel)
        self._pair = pair(activation, kernel)
        self._number = None if isinstance(delta, torch.Tensor) else float(delta)
        self.register_buffer("delta", torch.as_tensor(delta, dtype=torch.get_default_dtype())
                             if not isinstance(delta, torch.Tensor) else delta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x)
        order = None if self._number is None else self._pair.order_for(self._number, x.dtype)
        return self._pair.Activation.apply(x, self.delta, order)

    def extra_repr(self) -> str:
        a, k = (n if isinstance(n, str) else getattr(n, "name", n) for n in self._names)
        d = self.delta.item() if self.delta.numel() == 1 else tuple(self.delta.shape)
        return f"activation={a!r}, kernel={k!r}, delta={d!r}"


def spike(kernel="sign", delta: float = 1.0):
    """A spike function for surrogate-gradient training: forward the Heaviside step (1 for x >= 0), backward
    ``D_mu H(x) = rho(x)``, the smoothing profile of the kernel of horizon ``delta`` (usable where snnTorch takes
    ``spike_grad=``).

    A kernel from :meth:`nonlocal_calc.Kernel.from_surrogate` of a surrogate on the whole line takes
    ``delta=float("inf")``: the backward is then the surrogate itself (on a finite horizon, the surrogate
    truncated, ``rho(x) - rho(delta)`` for ``|x| < delta``).

    >>> import nonlocal_calc as nlc
    >>> s = spike(nlc.Kernel.from_surrogate("1/(1 + (pi*x)**2)"), delta=float("inf"))
    >>> v = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    >>> s(v).sum().backward()
    >>> v.grad.tolist() == [1.0, 1 / (1 + torch.pi**2)]
    True
    """
    if isinstance(delta, (int, float)) and not isinstance(delta, bool) and delta == float("inf"):
        return _infinite_spike(kernel)
    p = pair("binary_step", kernel)

    def fn(x: torch.Tensor) -> torch.Tensor:
        _check(x)
        return p.Activation.apply(x, _delta(delta, x), _order(p, delta, x.dtype))

    fn.__name__ = "spike"
    return fn


def _infinite_spike(kernel):
    """The spike function of a whole-line surrogate at the infinite horizon (:mod:`.surrogate`)."""
    from .surrogate import Spike, profile_function

    if isinstance(kernel, str) or kernel.info.get("support") != "line":
        name = kernel if isinstance(kernel, str) else kernel.name
        raise ValueError(f"delta = inf needs a kernel of a surrogate on the whole line (Kernel.from_surrogate of a "
                         f"formula in x alone), not {name!r}; give a finite delta")
    profile = profile_function(kernel)

    def fn(x: torch.Tensor) -> torch.Tensor:
        _check(x)
        return Spike.apply(x, profile)

    fn.__name__ = "spike"
    return fn
