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
