"""The generated JAX module of a pair: planned (in float64, with 64-bit types enabled for the planning),
written to the cache, imported (:mod:`nonlocal_calc.codegen.tensor.orders` with JAX's :data:`BACKEND`)."""

from __future__ import annotations

import contextlib
from types import ModuleType

from ..codegen.tensor import orders as _plan
from .generate import JAX_CODEGEN_VERSION, module_source

__all__ = ["BACKEND", "load", "write_module"]


def _array(a):
    import jax.numpy as jnp

    return jnp.asarray(a, dtype=jnp.float64)


@contextlib.contextmanager
def x64():
    """64-bit types enabled within (jax_enable_x64), as they were after."""
    import jax

    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@contextlib.contextmanager
def _planning():
    """The planning's context: 64-bit types, and evaluated now even when the first use of a pair is inside a
    function being traced (``jax.jit`` of a function that calls ``nonlocal_activation``)."""
    import jax

    with x64(), jax.ensure_compile_time_eval():
        yield


def _jit(fn):
    import jax

    return jax.jit(fn)


BACKEND = _plan.Backend("jax", JAX_CODEGEN_VERSION, module_source, _array, _planning, _jit)


def load(D) -> ModuleType:
    """The imported module of D (built, planned and cached on disk on first use)."""
    return _plan.load(D, BACKEND)


def write_module(D, path) -> str:
    """Write D's standalone JAX module (imports only math and jax) to ``path``; returns its text."""
    return _plan.write_module(D, path, BACKEND)
