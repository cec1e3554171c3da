"""Every use of Numba's and NumPy's internals, in one place, with a version check, a switch and public routes.

The compiled ufuncs have a fast route that reaches past the public APIs of Numba and NumPy, in three parts:

* ``loops``: the ufunc's inner loops are Numba ``cfunc``s that read NumPy's raw loop arguments through LLVM-level
  helpers (``numba.extending.intrinsic`` with ``numba.core.cgutils`` and ``numba.np.arrayobj``), keep scratch
  arrays on the stack, compile without Numba's runtime and without a Python entry point where compiled code alone
  calls them (the ``njit`` options ``_nrt=False`` and ``no_cpython_wrapper=True``), are cached under a name of
  their own with Numba's registry refresh skipped (a patched ``_cache.load_overload``) and become the module's
  ufunc through ``numba.np.ufunc._internal.fromfunc``: :func:`loop_support`, whose source is printed into the
  generated modules. Contiguous data with a scalar delta take branch-free or block-vectorized paths. The package
  hands out a ufunc of the same loops made with NumPy's C API (``PyUFunc_FromFuncAndData`` from the
  ``_UFUNC_API`` capsule: :func:`ufunc_from_loops`), and so for Numba's parallel target (:func:`remake`, which
  reads NumPy's ufunc struct): Numba's own ufuncs refuse ``where=``.
* ``library``: the loops' object code, read from Numba's cache files (:func:`object_code`), is linked into a
  shared library that a new process loads without importing Numba (:mod:`.native`).
* ``cache-hooks``: an unreadable file of Numba's cache for a generated module is a cache miss (two methods of
  Numba's ``IndexDataCacheFile`` replaced: :func:`install_cache_hook`).

Each part has a route through public APIs only, which gives the same values:

* ``loops``: ``numba.vectorize`` over a per-element function (:func:`public_support`, :func:`public_source`):
  the scalar kernel, or for a Gauss-Legendre pair the very code of the fast loop's block applied to one element.
  Slower (no vectorized paths; measured in ``docs/dev/performance.md``), and the ufunc is the one Numba makes:
  it refuses ``where=`` (Numba marks its output read-write), and ``vectorize_series=True`` changes nothing.
* ``library``: the ufunc comes from Numba's own cache (which imports Numba: 0.2-0.3 s more for a cache hit).
* ``cache-hooks``: a generated module that fails to import has all generated modules' Numba cache files removed
  before it is imported again (:func:`.numba_cache.clear`).

The fast route is used with the versions it was verified on (:data:`NUMBA_VERSIONS`, :data:`NUMPY_VERSIONS`;
outside them one :class:`InternalsWarning` says so) and as the environment variable :data:`ENV_VAR` allows:
unset or ``1``: every part; ``0``: none (public APIs only); or a comma-separated list of the parts to use, e.g.
``loops,cache-hooks`` (no shared library). ``library`` needs ``loops``.

Changing :func:`loop_support` changes compiled code: bump ``CODEGEN_VERSION``.

>>> sorted(PARTS)
['cache-hooks', 'library', 'loops']
"""

from __future__ import annotations

import ctypes
import os
import warnings
from functools import cache

import numpy as np

#: Set to 0 to use public APIs only, or to a comma-separated list of :data:`PARTS` to use only those.
ENV_VAR = "NONLOCAL_CALC_INTERNALS"
#: The parts of the fast route that the switch names.
PARTS = ("loops", "library", "cache-hooks")
#: The Numba versions the fast route was verified on, ``[first, last)`` as (major, minor): the test suite ran on
#: 0.68; the lower bound is the package's minimum.
NUMBA_VERSIONS = ((0, 59), (0, 69))
#: The NumPy versions the fast route was verified on, ``[first, last)``: the test suite ran on 2.4; the lower bound
#: is the package's minimum.
NUMPY_VERSIONS = ((1, 24), (2, 5))


class InternalsWarning(UserWarning):
    """The installed Numba or NumPy is not one the fast route was verified on: public APIs only (same values)."""


def _version(text: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``0.68.1`` or ``2.4.0rc1``."""
    parts = []
    for p in (text.split(".") + ["0"])[:2]:
        digits = ""
        for c in p:
            if not c.isdigit():
                break
            digits += c
        parts.append(int(digits or 0))
    return parts[0], parts[1]


def verified(numba_version: str, numpy_version: str) -> bool:
    """Whether the fast route was verified on these versions of Numba and NumPy.

    >>> verified("0.68.1", "2.4.0"), verified("0.70.0", "2.4.0")
    (True, False)
    """
    return (NUMBA_VERSIONS[0] <= _version(numba_version) < NUMBA_VERSIONS[1]
            and NUMPY_VERSIONS[0] <= _version(numpy_version) < NUMPY_VERSIONS[1])


@cache
def supported() -> bool:
    """Whether the installed Numba and NumPy are versions the fast route was verified on (Numba's version is read
    from its metadata: no import). The first time they are not, one :class:`InternalsWarning`, unless
    :data:`ENV_VAR` is 0."""
    from . import _numba_version

    numba_v, numpy_v = _numba_version(), np.__version__
    ok = verified(numba_v, numpy_v)
    if not ok and os.environ.get(ENV_VAR, "1").strip() != "0":
        (a, b), (c, d) = NUMBA_VERSIONS
        (e, f), (g, h) = NUMPY_VERSIONS
        warnings.warn(f"Numba {numba_v} with NumPy {numpy_v}: nonlocal-calc's fast ufunc loops were verified on "
                      f"Numba {a}.{b} to {c}.{d - 1} with NumPy {e}.{f} to {g}.{h - 1}; the compiled ufuncs use "
                      f"public APIs only (the same values, slower); set {ENV_VAR}=0 to silence this",
                      InternalsWarning, stacklevel=3)
    return ok


def requested() -> frozenset[str]:
    """The parts :data:`ENV_VAR` asks for (all when unset)."""
    raw = os.environ.get(ENV_VAR, "1").strip().lower()
    if raw in ("", "1", "all"):
        want = set(PARTS)
    elif raw in ("0", "none"):
        want = set()
    else:
        want = {p.strip() for p in raw.split(",") if p.strip()}
        bad = sorted(want - set(PARTS))
        if bad:
            raise ValueError(f"{ENV_VAR}={raw!r} names unknown parts {bad}: use 1 (all), 0 (none) or a "
                             f"comma-separated list of {', '.join(PARTS)}")
    if "loops" not in want:
        want.discard("library")  # (the library holds the fast loops' code)
    return frozenset(want)


def enabled(part: str = "loops") -> bool:
    """Whether the fast route's ``part`` (one of :data:`PARTS`) is in use in this process."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}: one of {', '.join(PARTS)}")
    return part in requested() and supported()


# ---------------------------------------------------------------------------------------------- loops
def loop_support():
    """The fast loops' helpers, defined when called (imports Numba); printed into each generated module of the fast
    route, which calls it once. Returns ``(_load, _store, _carray, _scratch, _nonnull, _call64, _cfunc, _ufunc)``:
    LLVM-level helpers that compiled loops call (raw reads and writes at byte offsets, arrays over raw memory and on
    the stack, a NULL test, a call of the float64 loop on one element), ``_cfunc(fn, tag)`` (a loop compiled as a
    ``cfunc`` and cached under its own name) and ``_ufunc(name, doc, loops)`` (the ufunc of the float32 and float64
    loops)."""
    from numba import types
    from numba.core import cgutils, sigutils
    from numba.core.ccallback import CFunc
    from numba.extending import intrinsic
    from numba.np.ufunc import _internal

    @intrinsic
    def _load(typingctx, ptr, off, ty):
        """Read a value of type ``ty`` at byte offset ``off`` of a raw pointer."""
        dt = ty.dtype

        def codegen(context, builder, sig, args):
            p = builder.gep(builder.bitcast(args[0], cgutils.voidptr_t), [args[1]])
            return builder.load(builder.bitcast(p, context.get_value_type(dt).as_pointer()))
        return dt(ptr, off, ty), codegen

    @intrinsic
    def _store(typingctx, ptr, off, val):
        """Write ``val`` at byte offset ``off`` of a raw pointer."""
        def codegen(context, builder, sig, args):
            p = builder.gep(builder.bitcast(args[0], cgutils.voidptr_t), [args[1]])
            builder.store(args[2], builder.bitcast(p, context.get_value_type(sig.args[2]).as_pointer()))
            return context.get_dummy_value()
        return types.void(ptr, off, val), codegen

    def _array_value(context, builder, dt, data, n):
        """The value of a 1-d C-contiguous array of ``n`` (an LLVM intp) elements of ``dt`` at ``data``, owning no
        memory (as ``numba.carray`` makes; that one is an overload whose cached code makes a cache hit import
        Numba's array module, 0.03 s)."""
        from numba.np.arrayobj import make_array, populate_array  # at compile time only
        ary = make_array(types.Array(dt, 1, "C"))(context, builder)
        size = context.get_abi_sizeof(context.get_data_type(dt))
        populate_array(ary, data=builder.bitcast(data, context.get_data_type(dt).as_pointer()), shape=[n],
                       strides=[context.get_constant(types.intp, size)], itemsize=size, meminfo=None)
        return ary._getvalue()

    @intrinsic
    def _carray(typingctx, ptr, n, ty):
        """The ``n`` values of type ``ty`` at the raw pointer ``ptr`` as a 1-d array (``numba.carray``)."""
        def codegen(context, builder, sig, args):
            return _array_value(context, builder, ty.dtype, args[0], context.cast(builder, args[1], n, types.intp))
        return types.Array(ty.dtype, 1, "C")(ptr, n, ty), codegen

    @intrinsic(prefer_literal=True)
    def _scratch(typingctx, n, ty):
        """An uninitialised 1-d array of ``n`` (a literal) values of type ``ty`` on the caller's stack: scratch
        space without a heap allocation, so a cache hit needs neither Numba's runtime nor its array module."""
        if not isinstance(n, types.IntegerLiteral):
            return None

        def codegen(context, builder, sig, args):
            data = cgutils.alloca_once(builder, context.get_data_type(ty.dtype), size=n.literal_value)
            return _array_value(context, builder, ty.dtype, data, context.get_constant(types.intp, n.literal_value))
        return types.Array(ty.dtype, 1, "C")(n, ty), codegen

    @intrinsic
    def _nonnull(typingctx, p):
        """Whether the raw pointer ``p`` is not NULL."""
        def codegen(context, builder, sig, args):
            return cgutils.is_not_null(builder, args[0])
        return types.boolean(p), codegen

    @intrinsic
    def _call64(typingctx, loop, x, d):
        """The float64 ufunc loop at the address ``loop`` (a void pointer) called on the one element (x, d), with a
        non-NULL data pointer: the float32 target suffices."""
        def codegen(context, builder, sig, args):
            f64 = context.get_value_type(types.float64)
            intp = context.get_value_type(types.intp)
            vp = cgutils.voidptr_t
            cells = [cgutils.alloca_once_value(builder, args[1]), cgutils.alloca_once_value(builder, args[2]),
                     cgutils.alloca_once(builder, f64)]
            argv = cgutils.alloca_once(builder, vp, size=3)
            steps = cgutils.alloca_once(builder, intp, size=3)
            for i, c in enumerate(cells):
                builder.store(builder.bitcast(c, vp), builder.gep(argv, [cgutils.int32_t(i)]))
                builder.store(intp(0), builder.gep(steps, [cgutils.int32_t(i)]))  # strides 0: the element-wise path
            dims = cgutils.alloca_once_value(builder, intp(1))
            fnty = cgutils.ir.FunctionType(cgutils.ir.VoidType(),
                                           [vp.as_pointer(), intp.as_pointer(), intp.as_pointer(), vp])
            builder.call(builder.bitcast(args[0], fnty.as_pointer()), [argv, dims, steps, builder.bitcast(argv, vp)])
            return builder.load(cells[2])
        return types.float64(loop, types.float64, types.float64), codegen

    loop_sig = types.void(types.CPointer(types.voidptr), types.CPointer(types.intp), types.CPointer(types.intp),
                          types.voidptr)

    def _cfunc(fn, tag):
        """``numba.cfunc(<NumPy's inner-loop signature>, cache=True, error_model="numpy", _nrt=False)(fn)``, cached
        under a name of its own (``tag``), whose cache hit skips Numba's refresh of every compiler registry (0.15 s
        of imports in a new process). The loops allocate nothing (scratch arrays live on the stack: ``_scratch``),
        so they are compiled without Numba's runtime and their cached machine code needs none (initialising it:
        0.02 s)."""
        fn.__qualname__ = f"{fn.__qualname__}_{tag}"
        cf = CFunc(fn, sigutils.normalize_signature(loop_sig), locals={},
                   options={"error_model": "numpy", "_nrt": False})
        cf.enable_caching()
        cf._cache.load_overload = cf._cache._load_overload  # the public one refreshes the registries first
        cf.compile()
        return cf

    def _ufunc(name, doc, loops):
        """The two-input ufunc of the compiled float32 and float64 loops (``_cfunc``s, in that order); the float32
        loop gets the float64 loop's address as its data (its float64 retry)."""
        types_ = [[np.dtype(np.float32).num] * 3, [np.dtype(np.float64).num] * 3]
        return _internal.fromfunc(name, doc, [lp.address for lp in loops], types_, 2, 1, [loops[1].address, None],
                                  loops, _internal.PyUFunc_None)

    return _load, _store, _carray, _scratch, _nonnull, _call64, _cfunc, _ufunc


#: The module-level names :func:`loop_support` gives a generated module.
LOOP_NAMES = ("_load", "_store", "_carray", "_scratch", "_nonnull", "_call64", "_cfunc", "_ufunc")


def _source(fn) -> str:
    """The source of the function ``fn`` of this module, as printed into generated modules."""
    import inspect

    src = inspect.getsource(fn)
    if not src.startswith(f"def {fn.__name__}("):  # the file changed since it was imported (read by line numbers)
        raise RuntimeError(f"the source of {__name__} changed since it was imported: restart Python")
    return src


def loop_support_source() -> str:
    """The source that defines :data:`LOOP_NAMES` in a generated module of the fast route."""
    return _source(loop_support) + f"\n\n{', '.join(LOOP_NAMES)} = loop_support()\n"


# ---------------------------------------------------------------------------------------------- public loops
def public_support():
    """The public route's ``_scratch(n, ty)``: ``n`` uninitialised values of type ``ty`` in a new array (the fast
    route keeps them on the caller's stack); defined when called, printed into each generated module of the public
    route."""
    import numba
    import numpy as np

    @numba.njit(inline="always")
    def _scratch(n, ty):
        return np.empty(n, ty)

    return _scratch


#: The options of ``numba.njit`` that are not public API, as the generator prints them, with what they do:
#: ``_nrt=False`` compiles without Numba's runtime (a cache hit then need not initialise it), ``no_cpython_wrapper``
#: skips the Python entry point of a function that only compiled code calls.
PRIVATE_OPTIONS = ("_nrt=False, ", ", no_cpython_wrapper=True")


def public_support_source() -> str:
    """The source that defines ``_scratch`` in a generated module of the public route."""
    return _source(public_support) + "\n\n_scratch = public_support()\n"


def public_source(src: str) -> str:
    """``src``, a generated module (or part of one) of the fast route's text, with the private ``njit`` options
    removed (:data:`PRIVATE_OPTIONS`); a ``ValueError`` if any use of Numba's internals is left."""
    import ast

    for opt in PRIVATE_OPTIONS:
        src = src.replace(opt, "")
    private = {opt.strip(", ").split("=")[0] for opt in PRIVATE_OPTIONS}
    for node in ast.walk(ast.parse(src)):
        bad = None
        if isinstance(node, ast.keyword) and node.arg in private:
            bad = f"the njit option {node.arg}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("numba."):
            bad = f"an import from {node.module}"
        elif isinstance(node, ast.Import) and any(a.name.startswith("numba.") for a in node.names):
            bad = "an import of a Numba submodule"
        if bad:
            raise ValueError(f"generated code meant for public APIs only uses {bad} (line {node.lineno})")
    return src


# ---------------------------------------------------------------------------------------------- library
def object_code(loop) -> bytes:
    """The object code of a compiled loop (a ``_cfunc`` of :func:`loop_support`), as Numba's cache file holds it."""
    from numba.core.registry import cpu_target

    cache_ = loop._cache
    data = cache_._cache_file.load(cache_._index_key(loop._sig, cpu_target.target_context.codegen()))

    def find(o):
        if isinstance(o, bytes) and o[:4] == b"\x7fELF":
            return o
        for a in o if isinstance(o, (tuple, list)) else ():
            found = find(a)
            if found is not None:
                return found
        return None

    obj = find(data) if data is not None else None
    if obj is None:
        raise LookupError(f"no object code in Numba's cache for {loop.native_name}")
    return obj


_KEEP: list = []  # the buffers a ufunc made here points to (NumPy does not copy them): alive for the process


@cache
def _from_func_and_data():
    """NumPy's ``PyUFunc_FromFuncAndData`` (slot 1 of its ufunc C-API table), callable from Python."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as umath
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    table = ctypes.cast(get(umath._UFUNC_API, None), ctypes.POINTER(ctypes.c_void_p))
    vp, i = ctypes.c_void_p, ctypes.c_int
    proto = ctypes.PYFUNCTYPE(ctypes.py_object, vp, vp, vp, i, i, i, i, ctypes.c_char_p, ctypes.c_char_p, i)
    return proto(table[1])


#: The loops of :func:`ufunc_from_loops`, in the order NumPy tries them.
DTYPES = ("float32", "float64")


def ufunc_from_loops(addresses: list[int], name: str, doc: str) -> np.ufunc:
    """A two-input, one-output ufunc from the addresses of its float32 and float64 loops (in :data:`DTYPES`
    order), as the generated modules make it (the float32 loop gets the float64 loop as its data)."""
    types = bytes(np.dtype(dt).num for dt in DTYPES for _ in range(3))
    return _new_ufunc(addresses, [addresses[1], None], types, 2, 1, name, doc)


def _new_ufunc(funcs: list, data: list, types: bytes, nin: int, nout: int, name: str, doc: str,
               keep: object = None) -> np.ufunc:
    """``PyUFunc_FromFuncAndData`` (no identity) with buffers kept alive for the process (NumPy does not copy
    them), and ``keep`` (what owns the loops' code)."""
    n = len(funcs)
    bufs = ((ctypes.c_void_p * n)(*funcs), (ctypes.c_void_p * n)(*data),
            ctypes.create_string_buffer(types, len(types)), name.encode(), doc.encode())
    _KEEP.append((bufs, keep))
    return _from_func_and_data()(*(ctypes.addressof(b) for b in bufs[:3]), n, nin, nout, -1, bufs[3], bufs[4], 0)


class _UFuncHead(ctypes.Structure):
    """The leading fields of NumPy's ``PyUFuncObject`` (unchanged since NumPy 1.0; checked against the Python
    attributes before use)."""

    _fields_ = [("ob_refcnt", ctypes.c_ssize_t), ("ob_type", ctypes.c_void_p), ("nin", ctypes.c_int),
                ("nout", ctypes.c_int), ("nargs", ctypes.c_int), ("identity", ctypes.c_int),
                ("functions", ctypes.POINTER(ctypes.c_void_p)), ("data", ctypes.POINTER(ctypes.c_void_p)),
                ("ntypes", ctypes.c_int), ("reserved1", ctypes.c_int), ("name", ctypes.c_char_p),
                ("types", ctypes.POINTER(ctypes.c_char))]


def remake(u: np.ufunc) -> np.ufunc:
    """The loops of the ufunc ``u`` (one Numba made, e.g. ``numba.vectorize(target="parallel")``) in a ufunc made
    as :func:`ufunc_from_loops` makes them: Numba marks the output read-write, and NumPy then refuses ``where=``.
    ``u`` itself where its fields do not read back as its attributes (another NumPy layout)."""
    head = _UFuncHead.from_address(id(u))
    if (head.nin, head.nout, head.nargs, head.ntypes) != (u.nin, u.nout, u.nargs, u.ntypes) or not u.ntypes:
        return u
    types = ctypes.string_at(head.types, u.ntypes * u.nargs)
    if list(types) != [np.dtype(t).num for sig in u.types for t in sig.replace("->", "")]:
        return u
    funcs = [head.functions[i] for i in range(u.ntypes)]
    data = [head.data[i] if head.data else None for i in range(u.ntypes)]
    doc = (u.__doc__ or "").partition("\n\n")[2]  # (NumPy puts the call signature first)
    return _new_ufunc(funcs, data, types, u.nin, u.nout, u.__name__, doc, keep=u)


# ---------------------------------------------------------------------------------------------- cache hooks
def install_cache_hook(prefix: str, discard) -> bool:
    """Make Numba treat an unreadable index or data file of its cache whose name starts with ``prefix`` as a cache
    miss: ``discard(path, exc)`` removes it (and warns), and the function is compiled and saved again. Replaces two
    methods of Numba's ``IndexDataCacheFile``; False (nothing done) where that class is not as expected."""
    from pathlib import Path

    try:
        from numba.core.caching import IndexDataCacheFile

        load_index, load_data = IndexDataCacheFile._load_index, IndexDataCacheFile._load_data
    except (ImportError, AttributeError):
        return False

    def _load_index(self):  # noqa: ANN001, ANN202 - Numba's signature
        try:
            return load_index(self)
        except Exception as exc:
            if not Path(self._index_path).name.startswith(prefix):
                raise
            discard(self._index_path, exc)
            return {}  # no entries: compiled and saved afresh

    def _load_data(self, name):  # noqa: ANN001, ANN202
        try:
            return load_data(self, name)
        except OSError:
            raise  # a missing file: Numba's own cache miss
        except Exception as exc:
            path = self._data_path(name)
            if not Path(path).name.startswith(prefix):
                raise
            discard(path, exc)
            raise OSError(f"damaged Numba cache file {path} removed") from exc  # Numba: a miss

    IndexDataCacheFile._load_index = _load_index
    IndexDataCacheFile._load_data = _load_data
    return True
