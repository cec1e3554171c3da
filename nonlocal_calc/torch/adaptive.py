"""Adaptive activations in PyTorch (Jagtap, Kawaguchi, Karniadakis): ``sigma(n * a * z)`` with a trainable slope a,
initialized so that ``n * a = 1``, and the slope recovery term.

The scopes are the NumPy trainer's (:class:`nonlocal_calc.nn.model.MLP`): ``"global"`` (GAAF: one slope for the
whole network, a parameter shared by the layers: pass the first layer's ``slope`` to the others), ``"layer"``
(L-LAAF: one per layer) and ``"neuron"`` (N-LAAF: one per neuron, ``features`` of them). :func:`slope_recovery` is
``S(a) = 1 / ((1/(D-1)) sum_k exp(m_k))`` over the adaptive activations of a model, m_k the mean slope of layer k.

>>> import torch
>>> act = AdaptiveActivation("tanh", scope="neuron", features=3, dtype=torch.float64)
>>> act.slope.tolist(), act(torch.zeros(2, 3, dtype=torch.float64)).shape
([0.1, 0.1, 0.1], torch.Size([2, 3]))
>>> model = torch.nn.Sequential(torch.nn.Linear(1, 3, dtype=torch.float64), act)
>>> slope_recovery(model).item()  # 1/exp(0.1)
0.9048374180359595
"""

from __future__ import annotations

import torch

SCOPES = ("global", "layer", "neuron")


def _callable(activation):
    if callable(activation):
        return activation
    fn = getattr(torch, str(activation), None) or getattr(torch.nn.functional, str(activation), None)
    if not callable(fn):
        raise ValueError(f"unknown activation {activation!r}: give a torch function name (tanh, relu, sigmoid, "
                         "silu...) or a callable (e.g. a NonlocalActivation)")
    return fn


class AdaptiveActivation(torch.nn.Module):
    """``activation(n * slope * z)``; ``slope`` a trainable parameter initialized to ``1/n`` (a scalar for the
    ``global`` and ``layer`` scopes, ``features`` values for ``neuron``; for ``global``, pass one shared
    ``slope=`` to every layer)."""

    def __init__(self, activation="tanh", scope: str = "layer", n: float = 10.0, features: int | None = None,
                 slope: torch.nn.Parameter | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
        if not n > 0:
            raise ValueError(f"the scaling factor n must be positive, got {n}")
        if scope == "neuron" and (features is None or features < 1):
            raise ValueError("scope='neuron' needs features, the number of neurons of the layer")
        if slope is not None and scope != "global":
            raise ValueError("slope= shares one slope between layers: only for scope='global'")
        self.fn, self.scope, self.n = _callable(activation), scope, float(n)
        shape = (features,) if scope == "neuron" else ()
        dtype = dtype or torch.get_default_dtype()
        self.slope = slope if slope is not None else torch.nn.Parameter(torch.full(shape, 1.0 / n, dtype=dtype))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(self.n * self.slope * z)

    def extra_repr(self) -> str:
        return f"scope={self.scope!r}, n={self.n:g}, slopes={self.slope.numel()}"


def slope_recovery(model: torch.nn.Module) -> torch.Tensor:
    """``S(a)`` over the model's adaptive activations in order (0 when there are none): add it to the loss."""
    means = [m.slope.mean() for m in model.modules() if isinstance(m, AdaptiveActivation)]
    if not means:
        return torch.zeros(())
    return len(means) / torch.exp(torch.stack(means)).sum()
