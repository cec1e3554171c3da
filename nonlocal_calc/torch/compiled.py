"""The generated torch module of a pair: planned, written to the cache, imported
(:mod:`nonlocal_calc.codegen.tensor.orders` with torch's :data:`BACKEND`)."""

from __future__ import annotations

from types import ModuleType

from ..codegen.tensor import orders as _plan
from ..codegen.tensor.orders import ORDERS, PLAN_DELTAS, TOLS
from .generate import TORCH_CODEGEN_VERSION, module_source

__all__ = ["BACKEND", "ORDERS", "PLAN_DELTAS", "TOLS", "load", "plan_orders", "write_module"]


def _tensor(a):
    import torch

    return torch.tensor(a, dtype=torch.float64)


BACKEND = _plan.Backend("torch", TORCH_CODEGEN_VERSION, module_source, _tensor)


def plan_orders(mod: ModuleType, dtype: str = "float64"):
    """The planned orders of a torch module generated with the placeholder order (:func:`.orders.plan_orders`)."""
    return _plan.plan_orders(mod, dtype, _tensor)


def load(D) -> ModuleType:
    """The imported module of D (built, planned and cached on disk on first use)."""
    return _plan.load(D, BACKEND)


def write_module(D, path) -> str:
    """Write D's standalone torch module (imports only math, os, warnings and torch) to ``path``; returns its text."""
    return _plan.write_module(D, path, BACKEND)
