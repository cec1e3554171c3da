"""Helpers that emit Python source for Numba: decorator lines, indented blocks, CSE assignments."""

from __future__ import annotations

import sympy as sp

from .printer import NumbaPrinter
from .stable import accurate_functions, small_horizon_series

S_VAR = sp.Symbol("s", real=True)
T_VAR = sp.Symbol("t", positive=True)
TR_VAR = sp.Symbol("t", real=True)  # f's argument in _fp
_NJ = 'numba.njit(cache=True, _nrt=False, error_model="numpy"{extra})'


def njit(extra: str = "", python: bool = False) -> str:
    """The decorator line of a generated function. Only ``python=True`` functions (``kernel``, ``_prep``,
    ``_kfast``, jit_scalar's) are callable from Python; the others, called only from compiled code, get no
    CPython wrapper (Numba compiles and optimizes one per function: 10 % of a pair's build), and calling them
    from Python crashes the interpreter: call them from an ``njit`` function."""
    return "@" + _NJ.format(extra=extra if python else extra + ", no_cpython_wrapper=True")


# ====================================================================== small emit helpers
class Block:
    """Lines of Python source with indentation."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, line: str = "", ind: int = 0):
        self.lines.append("    " * ind + line if line else "")

    def extend(self, other: Block, ind: int = 0):
        for ln in other.lines:
            self.add(ln, ind) if ln else self.add()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def assignments(pr: NumbaPrinter, exprs: list[sp.Expr], prefix: str):
    """CSE over ``exprs``: ``(lines, printed results)``; temporaries are named ``{prefix}{i}``."""
    syms = sp.numbered_symbols(prefix, real=True)
    exprs = [accurate_functions(small_horizon_series(sp.sympify(e))) for e in exprs]
    # bases of integer powers are printed as repeated products: make them temporaries
    bases = sorted({p.base for e in exprs for p in sp.sympify(e).atoms(sp.Pow)
                    if p.exp.is_Integer and abs(p.exp) >= 2 and not p.base.is_Atom}, key=sp.default_sort_key)
    repl, reduced = sp.cse([*exprs, *bases], symbols=syms, optimizations="basic")
    reduced = reduced[: len(exprs)]
    lines = []
    for s, e in repl:
        pr.names[s] = str(s)
        lines.append(f"{s} = {pr.doprint(e)}")
    return lines, [pr.doprint(e) for e in reduced]
