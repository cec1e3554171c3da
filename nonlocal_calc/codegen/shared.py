"""The shared runtime of nonlocal-calc's cache: one module of the helpers every generated module may call
(special functions, branch-free exp/log, the series evaluator), compiled by Numba once for all pairs; which of
its functions a source calls, and the import that replaces their definitions in a generated module."""

from __future__ import annotations

from functools import cache

from . import runtime, specfun

RUNTIME_HEAD = "import math\n\nimport numba\nimport numpy as np\n\n"


def runtime_source() -> str:
    """The helpers every generated module may call (special functions, branch-free exp/log, the series
    evaluator), as one module: the cache compiles them once for all pairs (see :func:`use_runtime`)."""
    return ('"""Helpers shared by the generated modules of nonlocal-calc\'s cache."""\n\n' + RUNTIME_HEAD
            + specfun.source(specfun.HELPERS) + "\n" + runtime.source("series") + "\n" + runtime.source("warm"))


def _defs(src: str) -> dict[str, tuple[int, int]]:
    """Top-level functions of ``src``: name -> (first line incl. decorators, last line), 1-based."""
    import ast

    return {n.name: (min([n.lineno] + [d.lineno for d in n.decorator_list]), n.end_lineno)
            for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)}


@cache
def _runtime_names() -> frozenset[str]:
    return frozenset(_defs(runtime_source()))


def called_names(src: str, passed: bool = False) -> dict[str, set[str]]:
    """The names each top-level function of ``src`` calls (key ``""``: the statements outside functions); with
    ``passed``, also the names it passes to a call (the integrand given to the Gauss-Kronrod rule is called by it)."""
    import ast

    out: dict[str, set[str]] = {"": set()}
    for node in ast.parse(src).body:
        key = node.name if isinstance(node, ast.FunctionDef) else ""
        found = set()
        for c in ast.walk(node):
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Name):
                found |= {c.func.id} | ({a.id for a in c.args if isinstance(a, ast.Name)} if passed else set())
        out[key] = out.get(key, set()) | found
    return out


def runtime_calls(src: str) -> set[str]:
    """The functions of :func:`runtime_source` that ``src`` calls outside their own definitions."""
    shared = _runtime_names()
    return {n for f, called in called_names(src).items() if f not in shared for n in called & shared}


def use_runtime(src: str, runtime: str) -> str:
    """``src`` (a module of :func:`module_source`) with the helpers of :func:`runtime_source` imported from the
    module ``runtime`` instead of defined: Numba compiles them once, not once per pair (a new pair's build
    then compiles only its own code; measured in ``benchmarks/bench_codegen_build.py``)."""
    shared = _runtime_names()
    lines = src.splitlines(keepends=True)
    drop = set()
    names = []
    for name, (a, b) in _defs(src).items():
        if name in shared:
            names.append(name)
            drop.update(range(a - 1, b))
    if not names:
        return src
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    at = next(i for i, ln in enumerate(kept) if ln.startswith("import numpy as np"))
    kept.insert(at + 1, f"from {runtime} import {', '.join(sorted(names))}  # noqa: F401\n")
    return "".join(kept)
