"""Shared test setup: a private cache directory and a non-interactive matplotlib backend."""

import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# Tests never write into the user's cache: CI sets its own directory; local runs get a fresh one.
os.environ.setdefault("NONLOCAL_CALC_CACHE", tempfile.mkdtemp(prefix="nonlocal-calc-test-cache-"))


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
