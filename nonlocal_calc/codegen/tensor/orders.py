"""The quadrature orders of a framework's module, planned at build time, and the on-disk cache of the modules.

For each delta of :data:`PLAN_DELTAS`, the planned order is the smallest N of :data:`ORDERS` whose value and
derivatives agree with the (2N + 8)-point rule on a grid of x (float64 data: the value to 1e-14 relative (the
ufunc aims at 2.5e-14) plus 32 ulps of the same sum of the magnitudes of the terms of f', the derivatives to
1e-12, which their users compare to finite differences; float32 data get their own, shorter table:
:data:`TOLS`). The module is evaluated by its framework (a :class:`Backend`), the agreement in NumPy.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import sympy as sp

#: Orders tried by the planner (nodes per panel).
ORDERS = (2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128)
#: The horizons the plan covers: those of the accuracy grid, more between 1e-3 and 1, and twice the largest
#: (a delta between two of them takes the order of the larger; above the last, the last order).
PLAN_DELTAS = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
#: (relative tolerance of the value, of its rounding noise, of the derivatives) per computing dtype: float32
#: (also float16 and bfloat16, computed in float32) asks 25 times less than the float32 target 5e-7 of the ufunc.
TOLS = {"float64": (1e-14, 32 * 2.0**-53, 1e-12), "float32": (2e-8, 32 * 2.0**-53, 1e-7)}


@dataclass(frozen=True)
class Backend:
    """What the planner and the cache need of a framework."""

    #: "torch", "jax": the cache's subdirectory and the prefix of the modules' names
    name: str
    #: the version of the framework's generated code (part of the cache key)
    version: str
    #: ``(D, plans) -> (source, info)``: the module of a pair (``plans`` None: the placeholder for the planning)
    module_source: Callable
    #: a float64 NumPy array as the framework's float64 array
    asarray: Callable
    #: the context the planning runs in (JAX: with 64-bit types enabled)
    planning: Callable = contextlib.nullcontext
    #: a compiler of functions of arrays (``jax.jit``) for a module whose quadrature takes its rule as arrays
    #: (nodes along an axis): the planner then passes every rule padded to one length, and compiles once
    jit: Callable | None = None


def _key(D, backend: Backend) -> str:
    from ...cache import key_hash
    from .. import CODEGEN_VERSION

    return key_hash(backend.name, D.activation.key(), D.kernel.key(), D.method, sp.srepr(D.expr), backend.version,
                    CODEGEN_VERSION, sp.__version__, ORDERS, PLAN_DELTAS, TOLS)


def import_path(path, name: str) -> ModuleType:
    """Import the module file ``path`` as ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


#: The grids of x have this many points (the last repeated): one shape for every horizon, so that a framework
#: that compiles each operation for a shape (JAX, eagerly) compiles it once.
GRID_SIZE = 1024


def _grid(d: float) -> np.ndarray:
    from ..accuracy import grid_x

    near = d * np.linspace(-3, 3, 61)
    xs = np.unique(np.concatenate([grid_x(d, 40), np.linspace(-20, 20, 161), near]))
    return np.concatenate([xs, np.full(max(0, GRID_SIZE - len(xs)), xs[-1])])


def _ratio(err, tol, ref) -> float:
    """The largest ``|err| / tol`` where the reference is finite (a kink term is infinite at the kink itself, as
    D is: a jump of f under a kernel singular at 0); inf where the reference is finite and err is not.

    >>> _ratio(np.array([1e-3, np.nan, 5.0]), np.array([1e-2, 1.0, 1.0]), np.array([1.0, 2.0, np.inf]))
    inf
    """
    fin = np.isfinite(ref)
    if not fin.any():
        return 0.0
    return float(np.nan_to_num(np.abs(err[fin]) / tol[fin], nan=np.inf).max())


def plan_orders(mod: ModuleType, dtype: str = "float64", asarray: Callable = np.asarray,
                jit: Callable | None = None) -> tuple[tuple[tuple[float, int], ...], float]:
    """``(((delta, N), ...), worst agreement)``: the planned order for each delta of :data:`PLAN_DELTAS`
    (nondecreasing in delta) for data of ``dtype`` (:data:`TOLS`; the agreement is measured in float64), for a
    module generated with the placeholder order whose functions take arrays made by ``asarray``. With ``jit``
    (:attr:`Backend.jit`), the rules are arrays padded with nodes of weight 0 to the length of the largest."""
    from ..gauss import legendre01

    def rule(n):
        tk, wk = legendre01(n)
        return tuple(map(float, tk)), tuple(map(float, wk))

    def evaluate(xs, d, r):
        v = mod._quad_value(xs, d, r)
        a = mod._quad_value(xs, d, r, mag=True)
        gx, gd = mod._quad_derivs(xs, d, r)
        return v, a, gx, gd

    if jit is not None:
        size = 2 * ORDERS[-1] + 8
        compiled = jit(lambda xs, d, tk, wk: evaluate(xs, d, (tk, wk)))

        def padded(n):  # (the extra nodes at t = 1/2, inside every panel: their terms are exactly 0)
            tk, wk = rule(n)
            return asarray(np.array(tk + (0.5,) * (size - n))), asarray(np.array(wk + (0.0,) * (size - n)))

    def run(n, xs, d):
        out = evaluate(xs, d, rule(n)) if jit is None else compiled(xs, d, *padded(n))
        return tuple(np.asarray(o, dtype=np.float64) for o in out)

    rtol, noise, dtol = TOLS[dtype]

    def agreement(n, xs, d) -> float:
        v, _, gx, gd = run(n, xs, d)
        rv, ra, rx, rd = run(2 * n + 8, xs, d)
        ev = _ratio(v - rv, rtol * np.abs(rv) + noise * ra + 1e-300, rv)
        ed = max(_ratio(gx - rx, dtol * (1 + np.abs(rx)), rx), _ratio(gd - rd, dtol * (1 + np.abs(rd)), rd))
        return max(ev, ed)

    table, worst, i = [], 0.0, 0
    for d in PLAN_DELTAS:
        xs, dt = asarray(_grid(d)), asarray(np.array(d, dtype=np.float64))
        while True:
            a = agreement(ORDERS[i], xs, dt)
            if a <= 1 or i == len(ORDERS) - 1:
                break
            i += 1
        worst = max(worst, a)
        table.append((d, ORDERS[i]))
    return tuple(table), worst


_LOADED: dict = {}


def load(D, backend: Backend) -> ModuleType:
    """The imported module of D for ``backend`` (built, planned and cached on disk on first use)."""
    from ...cache import cache_dir, write_atomic

    key = _key(D, backend)
    if key in _LOADED:
        return _LOADED[key]
    folder = cache_dir(backend.name)
    path = folder / f"nlc_{backend.name}_{key}.py"
    name = f"nonlocal_calc_{backend.name}_{key}"
    if not path.exists():
        src, _ = backend.module_source(D)
        tmp = folder / f"nlc_{backend.name}_plan_{key}.py"
        write_atomic(tmp, src)
        try:
            with backend.planning():
                plan = import_path(tmp, name + "_plan")
                tables = {dt: plan_orders(plan, dt, backend.asarray, backend.jit)[0] for dt in TOLS}
        finally:
            sys.modules.pop(name + "_plan", None)
            tmp.unlink(missing_ok=True)
        src, _ = backend.module_source(D, tables)
        write_atomic(path, src)
    _LOADED[key] = mod = import_path(path, name)
    return mod


def write_module(D, path, backend: Backend) -> str:
    """Write D's standalone module for ``backend`` to ``path`` (it imports only the standard library and the framework);
    returns its text."""
    from pathlib import Path

    from ...cache import write_atomic

    src = Path(load(D, backend).__file__).read_text()
    write_atomic(Path(path), src)
    return src
