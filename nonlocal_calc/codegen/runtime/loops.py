"""The NumPy inner loops of the fast route and the ufunc made of them (one ``cfunc`` per float type).

A loop takes NumPy's raw arguments ``(args, dims, steps, data)``. Contiguous x with a scalar delta take a path for
a whole block of elements where the pair has one, in this order: the Gauss-Legendre block (``_GAUSS``), the
vectorized moment series (``_VSERIES``), the branch-free formula (``_FAST``); the other elements, and strided calls,
are evaluated one by one: the checked paths with a float64 retry for float32 data and the quadrature (``_CHECKED``),
else ``kernel``. The flags are constants of the generated module: Numba compiles only the branches they select
(it prunes a branch on a global constant before typing, so the functions of the others need not exist).

The per-element code is written out in each loop rather than called: Numba links a callee's code into its caller
and LLVM optimizes and emits the linked code again at every level of calls (two levels removed: tanh/power(2),
both loops, 5.35 -> 4.78 s of build).

Generated modules contain the functions below (see :mod:`nonlocal_calc.codegen.runtime`), after the helpers of
:func:`nonlocal_calc.codegen.internals.loop_support` and the pair's own functions, and set the flags and
``_COMPILE_FIRST``. The placeholders below stand for those names, so that this file imports on its own.

>>> _first_signature("fallback")
((float64, float64, float64), False)
"""

import numpy as np

# ---- what a generated module defines (placeholders here; a generated module does not contain these lines)
_load = _store = _carray = _scratch = _nonnull = _call64 = _cfunc = _ufunc = None  # internals.loop_support
kernel = _kfirst = _fallback = _prep = _kfast = None  # the scalar kernel, its checked paths and quadrature
_gauss_order = _gauss_prep = _gauss_block = _gauss_block32 = _series_block = None  # the block paths
RTOL32 = RTOL64 = ATOL32 = ATOL64 = 0.0  # the tolerances of the checked paths
#: Which paths the pair has (see the module's docstring); ``_GAUSS32``: a float32 Gauss-Legendre block.
_CHECKED = _GAUSS = _GAUSS32 = _VSERIES = _FAST = False
#: ``(function, kind)``: what a parallel build compiles while it waits (:func:`_first_signature` names the kinds).
_COMPILE_FIRST = ()
#: The compiled loops, by float type (the shared library is made of them).
_LOOPS = {}


def _make_loop(dtype):
    """A NumPy inner loop ``(x, delta) -> out`` for one dtype, with a contiguous fast path."""
    size = np.dtype(dtype).itemsize

    def loop(args, dims, steps, data):
        n = dims[0]
        sx = steps[0]
        sd = steps[1]
        so = steps[2]
        if _CHECKED:
            # data is NULL for float64 data, not NULL for a value handed over by the float32 loop (through
            # _call64), whose target then suffices
            loose = size == 4 or _nonnull(data)
            RT = dtype(RTOL32 if loose else RTOL64)
            AT = dtype(ATOL32 if loose else ATOL64)
        if sx == size and so == size and sd == 0:
            xs = _carray(args[0], n, dtype)
            out = _carray(args[2], n, dtype)
            d = _load(args[1], 0, dtype)
            if _GAUSS:
                if d > 0 and d < np.inf:
                    gn = _gauss_order(d)
                    if gn > 0:
                        S = _scratch(48, np.float64)  # (gauss.NMAX)
                        W = _scratch(48, np.float64)
                        _gauss_prep(np.float64(d), gn, S, W)
                        if _GAUSS32 and size == 4:  # (constants: Numba compiles one branch)
                            _gauss_block32(xs, out, S, W, gn, d)
                        else:
                            _gauss_block(xs, out, S, W, gn, d)
                        return
            if _VSERIES:
                # each block of x is copied before any of its results is written (out may be x itself)
                if d > 0 and d < np.inf:
                    done = _scratch(256, np.bool_)
                    work = _scratch(2560, dtype)
                    xin = _scratch(256, dtype)
                    for start in range(0, n, 256):
                        stop = min(start + 256, n)
                        for i in range(start, stop):
                            xin[i - start] = xs[i]
                        _series_block(xin, d, out, start, stop, done, work)
                        for i in range(start, stop):
                            if not done[i - start]:
                                xv = xin[i - start]
                                if _CHECKED:
                                    v, ok = _kfirst(xv, d, RT, AT)
                                    if not ok:
                                        if size == 4:  # a constant: Numba compiles one branch
                                            v = np.float32(_call64(data, np.float64(xv), np.float64(d)))
                                        else:
                                            v = _fallback(xv, d, RT)
                                else:
                                    v = kernel(xv, d)
                                out[i] = v
                    return
            if _FAST:
                # NaN and +-inf take the scalar kernel afterwards: the branch-free form on them would raise FP
                # flags (NumPy's "invalid value" warnings) though its selected result is right; counted in the same
                # pass, in blocks whose x are kept (out may be x itself: the fix-up must not read x after out was
                # written). A select of the special values in the same pass lets LLVM call _kfast on them (it
                # folds the argument's select into the result's) and raise those flags.
                if d > 0 and d < np.inf:
                    P = _prep(d)
                    xo = _scratch(256, dtype)
                    for start in range(0, n, 256):
                        m = min(start + 256, n) - start
                        bad = 0
                        for i in range(m):
                            xv = xs[start + i]
                            xo[i] = xv
                            ok = abs(xv) < np.inf
                            bad += not ok
                            out[start + i] = _kfast(xv if ok else d, d, P)
                        if bad:
                            for i in range(m):
                                if not (abs(xo[i]) < np.inf):
                                    out[start + i] = kernel(xo[i], d)
                    return
            for i in range(n):
                xv = xs[i]
                if _CHECKED:
                    v, ok = _kfirst(xv, d, RT, AT)
                    if not ok:
                        if size == 4:  # a constant: Numba compiles one branch
                            v = np.float32(_call64(data, np.float64(xv), np.float64(d)))
                        else:
                            v = _fallback(xv, d, RT)
                else:
                    v = kernel(xv, d)
                out[i] = v
        else:
            for i in range(n):
                xv = _load(args[0], i * sx, dtype)
                dv = _load(args[1], i * sd, dtype)
                if _CHECKED:
                    v, ok = _kfirst(xv, dv, RT, AT)
                    if not ok:
                        if size == 4:  # a constant: Numba compiles one branch
                            v = np.float32(_call64(data, np.float64(xv), np.float64(dv)))
                        else:
                            v = _fallback(xv, dv, RT)
                else:
                    v = kernel(xv, dv)
                _store(args[2], i * so, v)
    return _cfunc(loop, np.dtype(dtype).name)


def _loop(dtype):
    """The loop for ``dtype``, compiled (or loaded from Numba's cache) on first use."""
    if dtype not in _LOOPS:
        _LOOPS[dtype] = _make_loop(dtype)
    return _LOOPS[dtype]


def _first_signature(kind):
    """``(argument types, float32 loop's own)`` of a function of ``_COMPILE_FIRST``: ``prep``
    (``_gauss_prep``), ``fallback``, ``block`` (``_gauss_block`` for float64 data), ``block32`` (the block the
    float32 loop calls)."""
    from numba import types

    A, F = types.float64[::1], types.float32[::1]
    sigs = {"prep": ((types.float64, types.int64, A, A), False), "fallback": ((types.float64,) * 3, False),
            "block": ((A, A, A, A, types.int64, types.float64), False),
            "block32": ((F, F, A, A, types.int64, types.float32), True)}
    return sigs[kind]


def _build_ufunc(name, doc, only=None, between=None, ready=None, helper_free=None):
    """The ufunc and its float32 and float64 loops. nonlocal-calc's cache compiles them in two processes at once:
    one compiles only the float32 loop (``only="float32"``, no ufunc), the other compiles the float64 loop, calls
    ``between()`` (waits for the first) and then finds the float32 loop in Numba's cache. ``ready()``: returns
    once the shared functions the other process compiles for this one are in the cache; meanwhile this one
    compiles those of its functions that call none of them (``_COMPILE_FIRST``), and those of the float32 loop if
    the other process is not ``helper_free()`` yet."""
    if only is not None:
        _loop(np.dtype(only).type)
        return None
    if ready is not None:
        for fn, kind in _COMPILE_FIRST:
            sig, theirs = _first_signature(kind)
            if not theirs or not helper_free():
                fn.compile(sig)
        ready()
    lp64 = _loop(np.float64)
    if between is not None:
        between()
    return _ufunc(name, doc, [_loop(np.float32), lp64])
