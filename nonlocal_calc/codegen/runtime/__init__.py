"""The fixed code of the compiled derivatives, as ordinary modules (linted, unit-tested, importable).

Generation prints only what differs from pair to pair (the cells of the closed form, coefficient tables, the
integrand); everything else is here:

* :mod:`.vmath`: branch-free ``exp`` and ``log`` (LLVM vectorizes loops that call them);
* :mod:`.special`: special functions of real arguments (``log(1 + e^u)``, ``erfi``);
* :mod:`.series`: the evaluator of the small-delta moment series from its coefficient tables;
* :mod:`.kronrod`: the Gauss-Kronrod 7/15 rule with its error estimate, the integrand passed in;
* :mod:`.cuts`: the cut points of the quadratures, graded around the features of the integrand;
* :mod:`.warm`: the argument types the build's helper process compiles the shared functions for;
* :mod:`.loops`: the NumPy inner loops of the fast route and the ufunc made of them.

A generated module contains the source of the functions it needs (:func:`source`), read from these files, rather
than importing them: Numba keeps the machine code of a function next to the file that defines it, so every
compiled function sits in a file of nonlocal-calc's cache (one directory the package versions, repairs and
clears; the public-API route drops Numba's private options from that text, :func:`.internals.public_source`), and
a module written by ``nonlocal-calc codegen`` runs where nonlocal-calc is not installed. The per-pair parts are
functions with fixed names that these functions call (``kernel``, ``_kfirst``, ``_fallback``...): Numba resolves a
module's global functions at compile time and caches the result, which it does not for a function made by a
factory that closes over compiled functions (its cache key pickles them, with a new id in each process: a cache
miss every time).

>>> "def _vexp64(" in source("vmath", ["_vexp64"])
True
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path


@cache
def _definitions(module: str) -> dict[str, tuple[str, bool]]:
    """The top-level functions and single-name assignments (constant tables) of ``runtime/<module>.py``: name ->
    (source, decorators included; whether it is a function), in file order."""
    text = (Path(__file__).parent / f"{module}.py").read_text()
    lines = text.splitlines()
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out[node.name] = ("\n".join(lines[first - 1:node.end_lineno]) + "\n", True)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ("\n".join(lines[node.lineno - 1:node.end_lineno]) + "\n", False)
    return out


def names(module: str) -> tuple[str, ...]:
    """The functions that ``runtime/<module>.py`` defines, in file order.

    >>> names("special")
    ('_log1pexp_d', '_erfi_d')
    """
    return tuple(name for name, (_, function) in _definitions(module).items() if function)


def source(module: str, wanted=None) -> str:
    """The source of the functions ``wanted`` (all if None) of ``runtime/<module>.py``, in file order, each
    preceded by two blank lines: the text a generated module contains. ``wanted`` may also name the module's
    constant tables (``_GKX = np.array(...)``), which it then contains as well (a module's placeholders for what the
    generated module defines itself are never named)."""
    defs = _definitions(module)
    unknown = set(wanted or ()) - set(defs)
    if unknown:
        raise KeyError(f"runtime/{module}.py defines no {sorted(unknown)}")
    picked = [(name, src, function) for name, (src, function) in defs.items()
              if (function and wanted is None) or name in (wanted or ())]
    return "".join(("\n\n" if function else "\n") + src for _, src, function in picked)
