"""The generated torch module of a pair: planned, written to the cache, imported.

The order of the Gauss-Legendre rule is planned here, at build time: for each delta of :data:`PLAN_DELTAS`,
the smallest N of :data:`ORDERS` whose value and derivatives agree with the (2N + 8)-point rule on a grid of x
(float64 data: the value to 1e-14 relative (the ufunc aims at 2.5e-14) plus 32 ulps of the same sum of the
magnitudes of the terms of f', the derivatives to 1e-12, which their users compare to finite differences; float32
data get their own, shorter table: :data:`TOLS`).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from types import ModuleType

import numpy as np
import sympy as sp

from .generate import TORCH_CODEGEN_VERSION, module_source

#: Orders tried by the planner (nodes per panel).
ORDERS = (2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128)
#: The horizons the plan covers: those of the accuracy grid, more between 1e-3 and 1, and twice the largest
#: (a delta between two of them takes the order of the larger; above the last, the last order).
PLAN_DELTAS = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
#: (relative tolerance of the value, of its rounding noise, of the derivatives) per computing dtype: float32
#: (also float16 and bfloat16, computed in float32) asks 25 times less than the float32 target 5e-7 of the ufunc.
TOLS = {"float64": (1e-14, 32 * 2.0**-53, 1e-12), "float32": (2e-8, 32 * 2.0**-53, 1e-7)}


def _key(D) -> str:
    from .. import codegen
    from ..cache import key_hash

    return key_hash("torch", D.activation.key(), D.kernel.key(), D.method, sp.srepr(D.expr), TORCH_CODEGEN_VERSION,
                    codegen.CODEGEN_VERSION, sp.__version__, ORDERS, PLAN_DELTAS, TOLS)


def _import(path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _grid(d: float) -> np.ndarray:
    from ..codegen.accuracy import grid_x

    near = d * np.linspace(-3, 3, 61)
    return np.unique(np.concatenate([grid_x(d, 40), np.linspace(-20, 20, 161), near]))


def _ratio(err, tol, ref) -> float:
    """The largest ``|err| / tol`` where the reference is finite (a kink term is infinite at the kink itself, as
    D is: a jump of f under a kernel singular at 0); inf where the reference is finite and err is not."""
    fin = ref.isfinite()
    if not fin.any():
        return 0.0
    return (err[fin].abs() / tol[fin]).nan_to_num(nan=float("inf")).max().item()


def plan_orders(mod: ModuleType, dtype: str = "float64") -> tuple[tuple[tuple[float, int], ...], float]:
    """``(((delta, N), ...), worst agreement)``: the planned order for each delta of :data:`PLAN_DELTAS`
    (nondecreasing in delta) for data of ``dtype`` (:data:`TOLS`; the agreement is measured in float64), for a
    module generated with the placeholder order."""
    import torch

    from ..codegen.gauss import legendre01

    def rule(n):
        tk, wk = legendre01(n)
        return tuple(map(float, tk)), tuple(map(float, wk))

    def run(n, xs, d):
        r = rule(n)
        v = mod._quad_value(xs, d, r)
        a = mod._quad_value(xs, d, r, mag=True)
        gx, gd = mod._quad_derivs(xs, d, r)
        return v, a, gx, gd

    rtol, noise, dtol = TOLS[dtype]

    def agreement(n, xs, d) -> float:
        v, _, gx, gd = run(n, xs, d)
        rv, ra, rx, rd = run(2 * n + 8, xs, d)
        ev = _ratio(v - rv, rtol * rv.abs() + noise * ra + 1e-300, rv)
        ed = max(_ratio(gx - rx, dtol * (1 + rx.abs()), rx), _ratio(gd - rd, dtol * (1 + rd.abs()), rd))
        return max(ev, ed)

    table, worst, i = [], 0.0, 0
    for d in PLAN_DELTAS:
        xs, dt = torch.tensor(_grid(d), dtype=torch.float64), torch.tensor(d, dtype=torch.float64)
        while True:
            a = agreement(ORDERS[i], xs, dt)
            if a <= 1 or i == len(ORDERS) - 1:
                break
            i += 1
        worst = max(worst, a)
        table.append((d, ORDERS[i]))
    return tuple(table), worst


def write_module(D, path) -> str:
    """Write D's standalone torch module (imports only math and torch) to ``path``; returns its text."""
    from pathlib import Path

    from ..cache import write_atomic

    src = Path(load(D).__file__).read_text()
    write_atomic(Path(path), src)
    return src


@cache
def load(D) -> ModuleType:
    """The imported module of D (built, planned and cached on disk on first use)."""
    from ..cache import cache_dir, write_atomic

    key = _key(D)
    path = cache_dir("torch") / f"nlc_torch_{key}.py"
    name = f"nonlocal_calc_torch_{key}"
    if not path.exists():
        src, _ = module_source(D)
        tmp = cache_dir("torch") / f"nlc_torch_plan_{key}.py"
        write_atomic(tmp, src)
        try:
            plan = _import(tmp, name + "_plan")
            tables = {dt: plan_orders(plan, dt)[0] for dt in TOLS}
        finally:
            sys.modules.pop(name + "_plan", None)
            tmp.unlink(missing_ok=True)
        src, _ = module_source(D, tables)
        write_atomic(path, src)
    return _import(path, name)
