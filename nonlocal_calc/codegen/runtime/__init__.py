"""The fixed code of the compiled derivatives, as ordinary modules (linted, unit-tested, importable).

Generation prints only what differs from pair to pair (the cells of the closed form, coefficient tables, the
integrand); everything else is here:

* :mod:`.vmath`: branch-free ``exp`` and ``log`` (LLVM vectorizes loops that call them);
* :mod:`.special`: special functions of real arguments (``log(1 + e^u)``, ``erfi``);
* :mod:`.series`: the evaluator of the small-delta moment series from its coefficient tables;
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
def _functions(module: str) -> dict[str, str]:
    """The top-level functions of ``runtime/<module>.py``, name -> source (decorators included), in file order."""
    text = (Path(__file__).parent / f"{module}.py").read_text()
    lines = text.splitlines()
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out[node.name] = "\n".join(lines[first - 1:node.end_lineno]) + "\n"
    return out


def names(module: str) -> tuple[str, ...]:
    """The functions that ``runtime/<module>.py`` defines, in file order.

    >>> names("special")
    ('_log1pexp_d', '_erfi_d')
    """
    return tuple(_functions(module))


def source(module: str, wanted=None) -> str:
    """The source of the functions ``wanted`` (all if None) of ``runtime/<module>.py``, in file order, each
    preceded by two blank lines: the text a generated module contains."""
    funcs = _functions(module)
    unknown = set(wanted or ()) - set(funcs)
    if unknown:
        raise KeyError(f"runtime/{module}.py defines no {sorted(unknown)}")
    return "".join("\n\n" + src for name, src in funcs.items() if wanted is None or name in wanted)
