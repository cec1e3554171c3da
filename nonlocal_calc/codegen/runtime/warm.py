"""The argument types for which the build's helper process compiles the shared functions ahead.

The shared runtime of nonlocal-calc's cache contains this source (see :mod:`nonlocal_calc.codegen.runtime`); the
helper process of a parallel build (``codegen/build_helper.py``) asks the runtime module for them.

>>> import numba
>>> _warm_types("_vexp64", numba.float64)
(float64,)
"""

def _warm_types(name, T):
    """The argument types with which the generated modules call ``name`` for x of type T (None: ``(T,)`` if it
    takes one argument). The ``_d`` bodies are called in float64 for both types (``specfun.call``), the
    functions of one width (``_vexp64``) in that width."""
    from numba import types
    f8 = types.float64
    f1 = types.Array(f8, 1, "C", readonly=True)
    i2 = types.Array(types.int64, 2, "C", readonly=True)
    i8 = types.int64
    if name == "_series_eval_d":
        return (f8, f8, f8, f1, i2, i8, i8, f1, i2, i8, i8, f1, f8)
    if name in ("_polylog_d", "_polylog_negexp_d", "_polylog_small"):  # (the order s, then the argument)
        return (i8, f8)
    if name in ("_eta_at", "_zeta_at"):
        return (i8,)
    if name.endswith(("_d", "64")):
        return (f8,)
    return (types.float32,) if name.endswith("32") else None
