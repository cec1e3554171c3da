"""Shared test setup: a private cache directory, a non-interactive matplotlib backend, the slow layer."""

import os
import tempfile

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Tests never write into the user's cache: CI sets its own directory; local runs get a fresh one.
os.environ.setdefault("NONLOCAL_CALC_CACHE", tempfile.mkdtemp(prefix="nonlocal-calc-test-cache-"))

#: The slow layer: tests marked ``slow`` (the rest of an exhaustive grid whose representative sample runs by
#: default) run only with NLC_SLOW_TESTS=1; CI runs them alone in a second command
#: (``NLC_SLOW_TESTS=1 python -m pytest -q -m slow``).
SLOW = bool(os.environ.get("NLC_SLOW_TESTS"))
slow = pytest.mark.slow


def grid(sample, every):
    """``every`` as parameters, those outside ``sample`` marked ``slow``: the sample runs by default, the rest in
    the slow layer (each parameter exactly once across the two runs)."""
    sample = list(sample)
    assert set(sample) <= set(every), set(sample) - set(every)
    return sample + [pytest.param(*p, marks=slow) if isinstance(p, tuple) else pytest.param(p, marks=slow)
                     for p in every if p not in sample]


def pytest_collection_modifyitems(config, items):
    if SLOW:
        return
    skip = pytest.mark.skip(reason="slow layer: NLC_SLOW_TESTS=1 python -m pytest -q -m slow runs it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


#: Activations with kinks away from 0 (and those kinks), for the choice of a closed form's cell in float32
#: (points_across_in_float32): one without closed form in the framework packages (cells with cancellation), one
#: whose cells are polynomials in (x - 1/3)/delta, one with checked cells in the ufuncs (a cubic).
KINK_PAIRS = [("Abs(x - 3/2)", ("3/2",)), ("Max(x - 1/3, 0)", ("1/3",)),
              ("Max((3)*(x - (-3/2)), (3)*(x - (-3/2))**3)", ("-5/2", "-3/2", "-1/2"))]


def points_across_in_float32(b, d) -> list[float]:
    """Float32 x within 3 ulps of ``b +- d`` (b a SymPy Rational, d a float32) on which ``x < b +- d`` computed in
    float32 (as printed: ``delta + T(b)``) and exactly disagree: the cell of the closed form x lies in, misjudged by
    a float32 comparison."""
    import numpy as np
    import sympy as sp

    out = []
    for s in (1, -1):
        exact = b + s * sp.Rational(float(d))
        rounded = np.float32(np.float32(s) * d + np.float32(float(b)))
        x0 = np.float32(float(exact))
        for k in range(-3, 4):
            xv = x0
            for _ in range(abs(k)):
                xv = np.nextafter(xv, np.float32(np.sign(k) * np.inf), dtype=np.float32)
            if (xv < rounded) != (sp.Rational(float(xv)) < exact):
                out.append(float(xv))
    return out


def from_python(fn):
    """``fn`` (a generated function without a CPython wrapper, callable only from compiled code) behind a
    Python-callable ``njit`` shim of the same arity (Numba inlines ``inline="always"`` functions, which a
    ``*args`` call cannot reach)."""
    import numba

    names = ", ".join(f"a{i}" for i in range(fn.py_func.__code__.co_argcount))
    scope = {"fn": fn}
    exec(f"def shim({names}):\n    return fn({names})\n", scope)  # fixed text, no user input
    return numba.njit(scope["shim"])


# Property-based tests (Hypothesis) run under one of two profiles: "ci" (the default: few examples, derandomized so
# every run draws the same ones, and bounded in time) and "thorough" (python -m pytest --hypothesis-profile=thorough:
# the long run, fresh random draws). Tests whose examples are expensive scale their own counts from
# settings.default.max_examples. The example database (.hypothesis/) is not kept in the repository.
from hypothesis import HealthCheck, settings  # noqa: E402

_SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=6, deadline=None, derandomize=True, suppress_health_check=_SLOW,
                          print_blob=True)
settings.register_profile("thorough", max_examples=320, deadline=None, suppress_health_check=_SLOW, print_blob=True)
settings.load_profile("ci")
