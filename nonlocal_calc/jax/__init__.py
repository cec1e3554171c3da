"""Nonlocal derivatives inside JAX: activations whose derivative is D_mu f, through ``jax.custom_jvp``.

Imported explicitly (``import nonlocal_calc.jax``; the package itself never imports jax). The code is printed
from the derivation to ``jax.numpy`` operations (:mod:`.generate`, the same formulas as
:mod:`nonlocal_calc.torch`), so it runs under ``jax.jit``, ``jax.grad``, ``jax.vmap`` and ``jax.hessian``; it is
built once per pair and cached on disk with the code generator's modules.

>>> import jax, jax.numpy as jnp
>>> from nonlocal_calc.jax import nonlocal_activation
>>> x = jnp.array([-1.0, -0.05, 0.0, 0.05, 1.0])
>>> jax.grad(lambda v: nonlocal_activation(v, "relu", "sign", 0.1).sum())(x)
Array([0.   , 0.125, 0.5  , 0.875, 1.   ], dtype=float32)

The derivative of the derivative is derived too (d/dx D_mu f, a smoothing of f''; d/ddelta D_mu f as well):

>>> d2 = jax.vmap(jax.grad(jax.grad(lambda v: nonlocal_activation(v, "relu", "sign", 0.1))))
>>> d2(jnp.array([-0.2, -0.05, 0.05])).round(4)     # relu'' = Dirac, smoothed by the sign kernel's rho: 1/(2 delta)
Array([0., 5., 5.], dtype=float32)
"""

from __future__ import annotations

from functools import cache

import jax.numpy as jnp

__all__ = ["nonlocal_activation", "nonlocal_derivative", "pair"]


@cache
def _pair(act_key, ker_key, activation, kernel):
    import warnings

    import nonlocal_calc as nlc

    from ..derivation import QuadratureFallbackWarning
    from .compiled import load

    with warnings.catch_warnings():  # (a pair without closed form: the JAX code integrates numerically)
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        D = nlc.derive(activation, kernel)
    return load(D)


def pair(activation="relu", kernel="sign"):
    """The generated module of a pair (built and cached on first use): its differentiable functions
    ``pair(...).nonlocal_activation(x, delta)`` and ``pair(...).nonlocal_derivative(x, delta)``, and the plain
    ones ``value(x, delta)``, ``derivs(x, delta)`` (d/dx and d/ddelta of D_mu f), ``activation(x)``;
    ``activation`` and ``kernel`` as :func:`nonlocal_calc.derive` takes them (names, specs such as
    ``"power(2)"``, or objects)."""
    import nonlocal_calc as nlc

    act = nlc.activations.get(activation) if isinstance(activation, str) else activation
    ker = nlc.kernels.get(kernel) if isinstance(kernel, str) else kernel
    return _pair(act.key(), ker.key(), act, ker)


def _checked(x, delta):
    """x as a floating-point array; the quadrature order planned for a number delta (None for an array)."""
    if not hasattr(x, "dtype") or not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError("x must be a floating-point JAX or NumPy array (float64, float32, float16 or bfloat16)")
    if hasattr(delta, "dtype"):  # an array (a traced one too)
        if not jnp.issubdtype(delta.dtype, jnp.floating):
            raise TypeError(f"delta must be a floating-point array or a number, not a {delta.dtype} array")
        return None
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise TypeError(f"delta must be a positive number or an array, not {type(delta).__name__}")
    if not delta > 0:
        raise ValueError(f"delta must be positive (the horizon of the kernel), got {delta}")
    return float(delta)


def nonlocal_activation(x, activation="relu", kernel="sign", delta=0.1):
    """``f(x)`` whose derivative is the nonlocal derivative ``D_mu f(x)`` of horizon ``delta``.

    ``delta`` is a positive number or an array broadcastable against x (it may be traced and differentiated:
    its derivative comes through the derivative, e.g. ``jax.grad`` of a function of ``jax.grad``; the forward
    f does not depend on it). For a number delta the quadrature uses the order planned for it, for an array the
    largest planned order.
    """
    number = _checked(x, delta)
    mod = pair(activation, kernel)
    order = None if number is None else mod.order_for(number, x.dtype)
    return mod.nonlocal_activation(x, delta, order)


def nonlocal_derivative(x, activation="relu", kernel="sign", delta=0.1):
    """``D_mu f(x)`` itself, differentiable in x and delta (d/dx and d/ddelta of D_mu f, derived)."""
    number = _checked(x, delta)
    mod = pair(activation, kernel)
    order = None if number is None else mod.order_for(number, x.dtype)
    return mod.nonlocal_derivative(x, delta, order)
