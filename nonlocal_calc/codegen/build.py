"""A pair's generated module, assembled: the per-pair code, the fixed code it needs, the ufunc's loops.

The stages, each in its module:

* :mod:`.kernel`: the scalar ``kernel(x, delta)`` and the functions it calls (special values, checked paths, the
  quadrature), from :mod:`.fprime` (f' and the limits), :mod:`.cells` (the closed form, cell by cell, in stable
  forms), :mod:`.fastpath` (the branch-free formula), :mod:`.series_tables` (the moment series) and
  :mod:`.quadrature` (Gauss-Kronrod), all printed by :class:`.printer.NumbaPrinter` through :mod:`.emit`;
* :mod:`.gaussblock`: the Gauss-Legendre block for a scalar delta (its plan: :mod:`.gauss`);
* here, :func:`module_source`: the module text: imports, that code, the fixed code of :mod:`.runtime` it needs (the
  loops of ``runtime/loops.py`` with the flags that select its paths), the ufunc; or, on the public-API route
  (:mod:`.internals`), ``numba.vectorize`` over one element;
* :mod:`.shared`: the shared runtime of the cache, which generated modules there import instead of containing.

>>> import nonlocal_calc as nlc
>>> src, gen = module_source(nlc.derive("relu", "sign"), "D_relu_sign", "")
>>> "_FAST = True" in src and "def _make_loop(" in src
True
"""

from __future__ import annotations

from . import internals, runtime, specfun
from .emit import Block, njit
from .fprime import limits
from .gaussblock import gauss_calls, gauss_source
from .kernel import Generated, kernel_source
from .quadrature import rho_parts, weight_in_t
from .shared import called_names, runtime_calls


def public_loops(gauss: bool, f32: bool) -> str:
    """The ufunc of the public-API route (:mod:`.internals`): ``numba.vectorize`` over ``_ufunc_elem(x, d)``, the
    value the fast loops give for one element: where the fast loop takes the Gauss-Legendre block (a scalar delta),
    that very block applied to an array of one element; else the scalar kernel (the fast loops' element path, and
    on their branch-free path the same ``_kfast``). (A copy of the block's sum for one element, with the sum in a
    register or in arrays of one element, came out 1-2 ulps off: LLVM fuses other multiply-adds there.)"""
    from .gauss import NMAX

    blk = Block()
    if gauss:
        blk.add(njit())
        blk.add("def _gauss_one(x, d, n):")
        blk.add('"""The Gauss-Legendre block of order n applied to the one element x."""', 1)
        blk.add("T = type(x)", 1)
        blk.add(f"S = _scratch({NMAX}, np.float64)", 1)
        blk.add(f"W = _scratch({NMAX}, np.float64)", 1)
        blk.add("_gauss_prep(np.float64(d), n, S, W)", 1)
        blk.add("xs = _scratch(1, T)", 1)
        blk.add("xs[0] = x", 1)
        blk.add("out = _scratch(1, T)", 1)
        if f32:
            blk.add("if T(1.0) + T(1e-08) == T(1.0):  # float32 data: the float32 block", 1)
            blk.add("_gauss_block32(xs, out, S, W, n, d)", 2)
            blk.add("else:", 1)
            blk.add("_gauss_block(xs, out, S, W, n, d)", 2)
        else:
            blk.add("_gauss_block(xs, out, S, W, n, d)", 1)
        blk.add("return out[0]", 1)
        blk.add()
        blk.add()
    blk.add("def _ufunc_elem(x, d):")
    blk.add('"""The ufunc at one element, as the fast loops compute it."""', 1)
    if gauss:
        blk.add("if d > 0 and d < np.inf:", 1)
        blk.add("gn = _gauss_order(d)", 2)
        blk.add("if gn > 0:", 2)
        blk.add("return _gauss_one(x, d, gn)", 3)
    blk.add("return kernel(x, d)", 1)
    blk.add()
    blk.add()
    blk.add('ufunc = numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], cache=True)'
            '(_ufunc_elem)')
    blk.add("_PARALLEL_BUILD = False")
    return "\n\n" + blk.text()


TARGET_PARALLEL = '''

ufunc_parallel = numba.vectorize(["float32(float32, float32)", "float64(float64, float64)"], target="parallel",
                                 cache=True)(kernel.py_func if hasattr(kernel, "py_func") else kernel)
'''


def module_source(D, name: str, doc: str, parallel: bool = False, vectorize_series: bool = False,
                  on_kernel=None, fast: bool = True) -> tuple[str, Generated]:
    """The complete module: imports, helpers, kernel, ufunc loops, the ufunc itself. ``on_kernel(names)``, if
    given, is called with the shared runtime's functions that the float64 loop will call as soon as they are
    known (before the Gauss-Legendre plan). ``fast=False``: the public-API route of :mod:`.internals` (the same
    values from ``numba.vectorize``; ``vectorize_series`` has no effect)."""
    lims = limits(D)
    gen = kernel_source(D)
    kernel_src = gen.source
    warm = runtime_calls(kernel_src)
    gauss_block = False
    f32 = False
    if not gen.fast:
        from . import gauss

        weight = weight_in_t(*rho_parts(D))
        if gauss.applies(D, weight[0]):  # the shared functions its block would call, known before its plan
            warm |= gauss_calls(gauss.stable_fprime(D))
    if on_kernel is not None:
        on_kernel(warm)
    if not gen.fast:
        gp = gauss.plan(D, *weight)
        if gp is not None:
            gsrc, ghelp, gnote, f32 = gauss_source(gp, *lims)
            need = {h for h in ghelp if f"def {h}(" not in gen.source}
            gen.source += "\n" + specfun.source(need) + "\n" + gsrc
            gen.notes.append(gnote)
            gauss_block = True
    if vectorize_series and gen.has_series and not gen.fast and fast:
        gen.source += "\n" + runtime.source("series_block")
        if "def _vexp(" not in gen.source:
            gen.source += specfun.source(["_vexp"])
    head = f'"""{doc}"""\n\nimport math\n\nimport numba\nimport numpy as np\n'
    if not fast:
        tail = "\n\n" + internals.public_support_source() + public_loops(gauss_block, f32)
        if parallel:
            tail += TARGET_PARALLEL
        return internals.public_source(head + "\n" + gen.source + tail), gen
    head += "\n"
    vseries = vectorize_series and gen.has_series and not gen.fast
    flags = {"_CHECKED": gen.core, "_GAUSS": gauss_block, "_GAUSS32": f32, "_VSERIES": vseries, "_FAST": gen.fast}
    # _BUILD: set by nonlocal-calc's cache before the import, to build the two loops in parallel processes; worth
    # it where the loops are heavy (checked paths or the Gauss loop: 40 % less for SiLU), not for a light module
    # (ReLU: 1.4 s alone, 1.8 s with the helper's start-up)
    first = ", ".join(f"({fn}, {kind!r})" for fn, kind in _compile_first(gen.source, warm))
    tail = ("\n\n" + internals.loop_support_source() + runtime.source("loops") + "\n\n"
            + "".join(f"{k} = {v}\n" for k, v in flags.items())
            + f"_COMPILE_FIRST = ({first}{',' if first else ''})\n_LOOPS = {{}}\n"
            f"_PARALLEL_BUILD = {gen.core or gauss_block}\n"
            f"ufunc = _build_ufunc({name!r}, __doc__, **globals().get('_BUILD', {{}}))\n")
    if parallel:
        tail += TARGET_PARALLEL
    return head + gen.source + tail, gen


def _compile_first(src: str, warmed: set[str]) -> list[tuple[str, str]]:
    """``(function, kind)`` (kinds: ``runtime/loops.py``'s ``_first_signature``) of the functions the loops call
    that reach none of the ``warmed`` functions (those the helper of a parallel build compiles meanwhile, see
    ``modcache.warm``): the build compiles them while it waits for those (``_build_ufunc``'s ``ready``)."""
    calls = called_names(src, passed=True)

    def pure(n, seen):
        out = {m for m in calls[n] if m != n and (m in calls or m in warmed)}
        return not out & warmed and all(pure(m, seen | {n}) for m in out - seen if m in calls)

    # first those the helper needs too (it then finds them in the cache), then this loop's own; the last: the
    # float32 loop's own, compiled here only if the helper is still busy warming up by then
    b32 = "_gauss_block32" if "_gauss_block32" in calls else "_gauss_block"
    wanted = [("_gauss_prep", "prep"), ("_fallback", "fallback"), ("_gauss_block", "block"), (b32, "block32")]
    return [(n, kind) for n, kind in wanted if n in calls and pure(n, set())]
