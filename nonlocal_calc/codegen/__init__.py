"""Compiled code for nonlocal derivatives: NumPy ufuncs, Numba scalar functions, standalone modules.

>>> import numpy as np
>>> import nonlocal_calc as nlc
>>> u = make_ufunc(nlc.derive("relu", "sign"))
>>> u(np.array([-1.0, 0.0, 0.05, 1.0]), 0.1)
array([0.   , 0.5  , 0.875, 1.   ])
>>> u(np.float32(0.05), np.float32(0.1)).dtype
dtype('float32')

Numba is imported only when one of these functions is called.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .printer import PrinterError

__all__ = ["make_ufunc", "jit_scalar", "write_module", "PrinterError", "CodegenError", "CODEGEN_VERSION"]

#: Bumped whenever the generated code changes: part of every cache key.
CODEGEN_VERSION = "41"


def _numba_version() -> str:
    """Numba's version, read from its installed metadata without importing it (0.2 s): a cache hit of the
    shared library (:mod:`.native`) does not import Numba at all."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("numba")
    if spec is not None and spec.submodule_search_locations:
        site = Path(spec.submodule_search_locations[0]).parent
        found = [p.name[len("numba-"):-len(".dist-info")] for p in site.glob("numba-*.dist-info")]
        if len(found) == 1:
            return found[0]
    import numba

    return numba.__version__


def _versions() -> str:
    """The versions a generated module depends on, and its route (:mod:`.internals`: fast or public APIs only)."""
    from . import internals

    route = "fast" if internals.enabled() else "public"
    return (f"codegen={CODEGEN_VERSION}|numba={_numba_version()}|numpy={np.__version__}|sympy={sp.__version__}"
            f"|loops={route}")


def _describe(D) -> str:
    k = D.kernel
    norm = "normalized so that D_mu x = 1" if k.normalize else "not normalized (raw kernel)"
    return (f"D_mu {D.activation.name}(x) for the kernel {k.name}: mu(z) = {k.expr} on (-delta, delta), {norm}.\n"
            f"Activation: f(x) = {D.activation.expr}\nMethod: {D.method}\n")


def _key(D, target: str, vectorize_series: bool = False) -> str:
    from ..cache import key_hash

    return key_hash("ufunc", D.activation.key(), D.kernel.key(), D.method, sp.srepr(D.expr), target,
                    vectorize_series, _versions())


#: The docstring line that names how the compiled code evaluates (read back by :func:`_compiled_method`).
_METHOD_LINE = "Compiled method: "


def _doc(D, gen_notes=(), accuracy: str = "", method: str | None = None) -> str:
    body = _describe(D) + f"{_METHOD_LINE}{method or D.method}\n"
    if D.method == "closed-form":
        body += f"\nClosed form:\n    D(x, delta) = {D.expr}\n"
    else:
        body += f"\nNo closed form: {D.note}\n"
    if gen_notes:
        body += "\nEvaluation (chosen inside the compiled code, point by point):\n"
        body += "".join(f"  - {n}\n" for n in dict.fromkeys(gen_notes))
    body += ("\nSpecial values: NaN in -> NaN; delta < 0 -> NaN; delta = 0 -> f'(x) (average of the one-sided\n"
             "derivatives at a kink); x = +-inf -> the limits.\n")
    if accuracy:
        body += "\n" + accuracy
    return body.replace('"""', "'''").replace("\\", "\\\\")


def _module(D, target: str = "cpu", vectorize_series: bool = False, key: str | None = None):
    """The imported generated module for D (built and cached on first use); ``key``: its cache key, if known."""
    from . import modcache

    if target not in ("cpu", "parallel"):
        raise ValueError(f"unknown target {target!r}: use 'cpu' or 'parallel'")
    with modcache.gc_paused():  # (imports Numba on first use)
        return _load(D, target, vectorize_series, key or _key(D, target, vectorize_series))


def _load(D, target: str, vectorize_series: bool, key: str):
    from . import modcache

    name = f"D_{D.activation.name}_{D.kernel.name}".replace("(", "_").replace(")", "").replace("/", "_")
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)

    rt = _runtime()

    def build():
        from . import internals
        from .build import module_source  # not imported when the module is cached
        from .shared import use_runtime

        def kernel_written(names: set[str]) -> None:  # the helper compiles the runtime functions it calls meanwhile
            modcache.warm(rt, names)

        src, gen = module_source(D, name, "", parallel=(target == "parallel"), vectorize_series=vectorize_series,
                                 on_kernel=kernel_written, fast=internals.enabled())
        doc = _doc(D, gen.notes, method=getattr(gen, "method", None))
        return use_runtime(src.replace('""""""', f'"""{doc}"""', 1), rt.__name__)

    return modcache.load_module(None, key, build, needs=(rt,))


def _runtime():
    """The module of helpers shared by all cached modules (compiled by Numba once, not once per pair)."""
    from ..cache import key_hash
    from . import modcache

    def build():
        from . import internals
        from .shared import runtime_source

        return runtime_source() if internals.enabled() else internals.public_source(runtime_source())

    return modcache.load_module(None, "rt_" + key_hash("runtime", _versions()), build)


#: The ufuncs made in this process, by cache key (a library loaded twice would make a second ufunc).
_UFUNCS: dict = {}


def make_ufunc(D, target: str = "cpu", vectorize_series: bool = False):
    """The NumPy ufunc ``u(x, delta)`` of a nonlocal derivative (loops for float32 and float64).

    ``target="parallel"`` returns a multi-threaded ufunc (worth it only for very large arrays; see
    ``benchmarks/bench_ufunc.py``). ``vectorize_series=True`` adds a loop that evaluates the small-delta
    series vectorized over blocks of elements (3-5x faster for pairs that need the series, e.g. softplus or
    SiLU with the sign kernel at delta = 0.1, but about twice the compile time). Generated code is cached on
    disk and reused across processes.

    ``u.method`` is ``"closed-form"`` or ``"quadrature"`` (how the compiled code evaluates; its docstring says it
    too). The ufunc takes everything a NumPy ufunc takes (``out=``, ``where=``, ``dtype=``, ``casting=``,
    ``order=``, broadcasting, any strides, 0-d inputs, ``u.outer``, ``u.at``), whether its loops come from
    the shared library or from Numba; on the public-API route of :mod:`.internals` (its switch, or a Numba or NumPy
    the fast loops were not verified on) the same values come from ``numba.vectorize``, slower, without ``where=``
    and without the vectorized series. ``u.reduce`` and ``u.accumulate`` are NumPy's, applying ``u`` to
    successive pairs of elements: that has no meaning for a derivative. It pickles (as a call that makes it
    again from the cache, or from the derivation where the cache lacks it), so it can be sent to worker
    processes:

    >>> import pickle
    >>> import numpy as np
    >>> import nonlocal_calc as nlc
    >>> u = make_ufunc(nlc.derive("relu", "sign"))
    >>> pickle.loads(pickle.dumps(u)) is u
    True
    >>> u.method
    'closed-form'
    >>> y = np.full(3, -1.0)
    >>> u(np.array([-0.05, 0.05, 1.0]), 0.1, where=[True, False, True], out=y)
    array([ 0.125, -1.   ,  1.   ])
    """
    from . import internals

    if D.parameters:
        return _make_family(D, target)
    vectorize_series = vectorize_series and internals.enabled()  # (the public route has no vectorized paths)
    return _make(D, target, vectorize_series, _key(D, target, vectorize_series))


def _make_family(D, target: str):
    """The ufunc ``u(x, delta, *parameters)`` of a parametric family (:mod:`.parametric`): one module for every
    member, parameters in the order of ``D.parameters``."""
    from ..cache import key_hash
    from . import modcache, parametric, pickling

    if target != "cpu":
        raise ValueError(f"target {target!r}: a parametric family's ufunc has the 'cpu' target only")
    key = "fam_" + key_hash("family", D.activation.key(), D.kernel.key(), _versions())
    if key not in _UFUNCS:
        def build():
            return parametric.module_source(D, _family_doc(D))

        with modcache.gc_paused():
            mod = modcache.load_module(None, key, build)
        u = mod.ufunc if isinstance(mod.ufunc, np.ufunc) else mod.ufunc.ufunc
        u.method = "quadrature"
        _UFUNCS[key] = pickling.register(u, _rebuild_family, (key,))
    return _UFUNCS[key]


def _rebuild_family(key: str):
    """A pickled family's ufunc in another process: its module from the cache (a family's kernel may hold functions
    that do not pickle, so the recipe is the cache key alone)."""
    from . import modcache, pickling

    if key not in _UFUNCS:
        def missing():
            raise CodegenError(f"the module {key} of a parametric family is not in this machine's cache: call "
                               "D.ufunc() in this process first (it compiles it)")

        u = modcache.load_module(None, key, missing).ufunc
        u = u if isinstance(u, np.ufunc) else u.ufunc
        u.method = "quadrature"
        _UFUNCS[key] = pickling.register(u, _rebuild_family, (key,))
    return _UFUNCS[key]


def _make(D, target: str, vectorize_series: bool, key: str):
    from . import internals, native, pickling

    if key not in _UFUNCS:  # (one ufunc per pair and process, as the imported module's was)
        fast = internals.enabled()
        if not fast:  # Numba's ufunc (numba.vectorize may wrap it in its DUFunc)
            mod = _module(D, target, vectorize_series, key)
            u = mod.ufunc_parallel if target == "parallel" else mod.ufunc
            u = u if isinstance(u, np.ufunc) else u.ufunc
        elif target == "parallel":
            u = internals.remake(_module(D, target, vectorize_series, key).ufunc_parallel)  # (Numba's: no where=)
        else:
            u = native.load(key)  # the loops as a shared library: no Numba import
            if u is None:
                mod = _module(D, target, vectorize_series, key)
                u = native.from_module(mod)  # the same kind of ufunc as the library's
                native.export(mod, key)
        u.method = _compiled_method(u, D)
        recipe = (type(D).from_parts, D.portable_parts())  # (pickles as the class's method, by name)
        _UFUNCS[key] = pickling.register(u, _rebuild, (key, target, vectorize_series, *recipe, fast))
    return _UFUNCS[key]


def _compiled_method(u, D) -> str:
    """"closed-form" or "quadrature": how the compiled code evaluates, as its docstring says (the same on both
    routes: the shared library keeps the module's docstring); D's method where the docstring does not say."""
    for line in (u.__doc__ or "").splitlines():
        if line.startswith(_METHOD_LINE):
            return line[len(_METHOD_LINE):].strip()
    return D.method


def _rebuild(key: str, target: str, vectorize_series: bool, from_parts, parts: tuple, fast: bool):
    """A pickled ufunc in a new process: by its cache key from the cache, or compiled again from the derivation
    ``from_parts(parts)`` (:meth:`NonlocalDerivative.portable_parts`: this package is imported by the derivation
    module, not the other way round) under that key; under a key of its own if this process takes the other
    route (``fast``: the sender's, see :mod:`.internals`)."""
    from . import internals

    D = from_parts(parts)
    if fast != internals.enabled():
        vectorize_series = vectorize_series and internals.enabled()
        key = _key(D, target, vectorize_series)
    return _make(D, target, vectorize_series, key)


def scalar_kernel(D):
    """The Numba scalar function ``kernel(x, delta)`` behind :func:`make_ufunc` (stable, all special values)."""
    return _module(D).kernel


def fast_kernel(D):
    """``(prep, kfast)`` of :func:`scalar_kernel`'s module when it has a branch-light path, else ``None``.

    For 0 < delta < inf and x, delta of one float type, ``kfast(x, delta, prep(delta))`` is
    ``kernel(x, delta)`` with the delta-only work (``prep``) hoisted out, as the ufunc loop does; callers
    that evaluate many x for one delta (the trainer's backward pass) call ``prep`` once.
    """
    m = _module(D)
    return (m._prep, m._kfast) if hasattr(m, "_kfast") else None


def _is_derivative(obj) -> bool:
    """Whether ``obj`` is a :class:`~nonlocal_calc.NonlocalDerivative`, told by what it holds: the derivation
    module imports this package, so this package does not import it (no import cycle)."""
    return not isinstance(obj, sp.Basic) and all(hasattr(obj, a) for a in ("activation", "kernel", "method"))


def jit_scalar(expr, name: str | None = None, args=None):
    """A Numba ``njit`` scalar function compiled from a SymPy expression (default arguments ``(x, delta)``).

    ``expr`` may be any real SymPy expression or Piecewise in ``nlc.x`` and ``nlc.delta`` (an activation,
    a transcribed formula...), or a :class:`~nonlocal_calc.NonlocalDerivative`, for which the stable kernel
    of :func:`make_ufunc` is returned. The result works for float32 (computing in float32) and float64 and
    can be called from other ``njit`` functions.

    >>> import sympy as sp
    >>> from nonlocal_calc import x, delta
    >>> f = jit_scalar(sp.Piecewise((0, x < 0), (x, True)))
    >>> f(-2.0, 0.0), f(3.0, 0.0)
    (0.0, 3.0)
    """
    from ..symbols import delta, x
    from . import internals, modcache
    from .emit import Block, assignments, njit
    from .printer import NumbaPrinter

    if _is_derivative(expr):
        return scalar_kernel(expr)
    expr = sp.sympify(expr)
    args = tuple(args) if args is not None else (x, delta)
    bad = expr.free_symbols - set(args)
    if bad:
        raise PrinterError(f"free symbols {sorted(map(str, bad))} are not arguments {[str(a) for a in args]}; "
                           "substitute values for them first")
    from ..cache import key_hash

    fname = "".join(c if c.isalnum() or c == "_" else "_" for c in (name or "f"))
    if not fname.isidentifier():
        fname = "f_" + fname
    key = key_hash("jit_scalar", sp.srepr(expr), tuple(map(str, args)), fname, _versions())

    def build():
        from . import specfun

        pr = NumbaPrinter({a: str(a) for a in args})
        lines, (val,) = assignments(pr, [expr], "_c")
        blk = Block()
        blk.add(njit(python=True))
        blk.add(f"def {fname}({', '.join(map(str, args))}):")
        blk.add(f'"""{str(expr)[:2000]}"""'.replace("\\", "\\\\"), 1)
        a0 = str(args[0])
        blk.add(f"T = type({a0} + np.float32(0.0))", 1)
        for a in args:
            blk.add(f"{a} = T({a})", 1)
        for ln in lines:
            blk.add(ln, 1)
        blk.add(f"return {val}", 1)
        head = "import math\n\nimport numba\nimport numpy as np\n\n" + specfun.source(pr.helpers) + "\n\n"
        src = '"""Compiled by nonlocal_calc.codegen.jit_scalar."""\n\n' + head + blk.text()
        return src if internals.enabled() else internals.public_source(src)

    mod = modcache.load_module(None, key, build)
    return getattr(mod, fname)


def write_module(D, path, measure: bool = True, fast_internals: bool = False) -> str:
    """Write a standalone module (imports only numpy, numba and math) for D to ``path``; returns its text.

    The docstring states the formula, the kernel, its normalization and (``measure=True``) the accuracy
    measured against mpmath on the accuracy grid. The module uses Numba's public API only (``numba.njit``,
    ``numba.vectorize``), so that later Numba releases run it; ``fast_internals=True`` writes the fast loops of
    :func:`make_ufunc` instead (vectorized paths; Numba's internals, see :mod:`.internals`), tied to the Numba
    versions they were verified on.
    """
    from pathlib import Path

    from ..cache import write_atomic
    from . import internals
    from .build import module_source

    if fast_internals and not internals.supported():
        raise ValueError(f"fast internals: Numba {_numba_version()} with NumPy {np.__version__} is not a combination "
                         "the fast loops were verified on (nonlocal_calc.codegen.internals.NUMBA_VERSIONS, "
                         "NUMPY_VERSIONS): write the default module (public API) instead")
    if D.parameters:
        return _write_family(D, Path(path))
    name = f"D_{D.activation.name}_{D.kernel.name}"
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    src, gen = module_source(D, name, "", fast=fast_internals)
    doc = _doc(D, gen.notes, "", getattr(gen, "method", None))
    write_atomic(Path(path), src.replace('""""""', f'"""{doc}"""', 1))
    mod = _import_written(Path(path))  # what ships is checked, and measured: not the cache's own variant
    if measure:
        from .accuracy import accuracy_text, measure_kernel

        method = getattr(gen, "method", None) or D.method
        acc = accuracy_text(measure_kernel(D, (mod.kernel, mod.ufunc), method=method), method)
        src = src.replace('""""""', f'"""{_doc(D, gen.notes, acc, getattr(gen, "method", None))}"""', 1)
        write_atomic(Path(path), src)
    else:
        src = src.replace('""""""', f'"""{doc}"""', 1)
    return src


def _family_doc(D) -> str:
    from ..parameters import _show

    return (_describe(D) + "Parameters (ufunc arguments after delta): "
            + ", ".join(f"{p.name} in {_show(p.domain)}" for p in D.parameters)
            + f"\n{_METHOD_LINE}quadrature\n(nonlocal_calc.codegen.parametric; targets: float64 1e-12, float32 2e-6, "
              "relative to max(|value|, 1e-2))\n"
              "A parameter outside its range, or NaN, gives NaN.\n").replace('"""', "'''").replace("\\", "\\\\")


def _write_family(D, path) -> str:
    """write_module for a family with free parameters: ``ufunc(x, delta, *parameters)`` (:mod:`.parametric`)."""
    from ..cache import write_atomic
    from . import parametric

    src = parametric.module_source(D, _family_doc(D))
    write_atomic(path, src)
    _import_written(path)
    return src


class CodegenError(ValueError):
    """A generated module failed to load (a bug of the code generator for this pair: please report it)."""


def _import_written(path):
    """Import the module just written at ``path``, under its own name (Numba's cache beside it records that name:
    the user's ``import`` then finds its machine code), restoring ``sys.modules`` afterwards; on any failure remove
    the file and raise :class:`CodegenError` (a module that does not load is never left behind)."""
    import importlib.util
    import sys

    name = path.stem
    before = sys.modules.get(name)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod
    except Exception as exc:  # noqa: BLE001 - Numba's typing and lowering errors, whatever their class
        path.unlink(missing_ok=True)
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise CodegenError(f"the module generated for {path.name} failed to compile ({type(exc).__name__}: "
                           f"{first[:300]}); it was not written. This is a bug of the code generator: please "
                           "report the activation and the kernel") from exc
    finally:
        if before is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = before
