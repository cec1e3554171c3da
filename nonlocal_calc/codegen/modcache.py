"""Generated modules on disk: written atomically into the cache, imported as real modules.

A module is a file ``nlc_<key>.py`` in ``cache_dir("codegen")``. Because it is a real file,
Numba's own ``cache=True`` works across processes (its index sits in ``__pycache__`` next to
the file, or under ``NUMBA_CACHE_DIR``). The first line of every file records its key and a
SHA-256 of the rest; a file whose line does not match (truncated, edited, foreign) is rebuilt
with a warning, and so is one that fails to import. Damaged files of Numba's cache are removed and
compiled again (:mod:`.numba_cache`).

A freshly written module that sets ``_PARALLEL_BUILD = True`` compiles its two ufunc loops in two
processes at once (on a machine with more than one core): a helper process imports it with
``_BUILD = {"only": "float32"}`` and compiles the float32 loop into Numba's cache, while this process
compiles the float64 loop, waits for the helper and then loads the float32 loop from that cache. If the
helper fails, this process compiles the loop itself. The helper is started before the module is
generated (its start-up overlaps with that) and exits if the module turns out not to want it.

>>> import os, tempfile
>>> os.environ["NONLOCAL_CALC_CACHE"] = tempfile.mkdtemp()
>>> mod = load_module("x = 42\\n", "demo")
>>> mod.x
42
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import py_compile
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from ..cache import cache_dir, write_atomic
from . import numba_cache
from .numba_cache import CorruptedModuleWarning

_HEADER = "# nonlocal-calc generated module: key={key} sha256={sha}\n"


def module_path(key: str) -> Path:
    """Where the module with cache key ``key`` lives."""
    return cache_dir("codegen") / f"nlc_{key}.py"


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def with_header(body: str, key: str) -> str:
    """The file text: a header line carrying ``key`` and the checksum of ``body``, then ``body``."""
    return _HEADER.format(key=key, sha=_digest(body)) + body


def check_file(path: Path, key: str) -> str | None:
    """``None`` if ``path`` holds an intact module for ``key``, else the reason it does not."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return f"unreadable ({exc})"
    first, _, body = text.partition("\n")
    expected = _HEADER.format(key=key, sha=_digest(body)).rstrip("\n")
    if first != expected:
        return "header or checksum mismatch"
    return None


#: The helper process of a parallel build (a script: see its docstring).
HELPER = Path(__file__).with_name("build_helper.py")
#: How long the builder waits for its helper before compiling the float32 loop itself.
HELPER_TIMEOUT = 600.0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _start_helper(needs: tuple[ModuleType, ...]) -> subprocess.Popen | None:
    """The helper process of a parallel build (:data:`HELPER`), or ``None`` on a single core."""
    if _cores() < 2:
        return None
    pre = [a for m in needs for a in (m.__file__, m.__name__)]
    helper = subprocess.Popen([sys.executable, str(HELPER), *pre], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    helper.warming = 0  # warm jobs sent and not yet answered
    return helper


#: The helper of the build in progress in this process (hints of :func:`warm` go to it).
_building: subprocess.Popen | None = None


def warm(module: ModuleType, names: set[str]) -> None:
    """Ask the helper of the build in progress, if any, to compile ``module``'s functions ``names`` (those with
    one argument, and those whose types ``module._warm_types`` knows) for float64, then float32, now, while this
    process is still generating code: the compile then finds them in Numba's cache (the first pair of a new cache
    otherwise compiles the shared runtime's functions it calls, 0.15-0.3 s each and per dtype, on the way). The
    build waits for the float64 ones (:func:`_await_warm`) rather than compile them a second time."""
    helper = _building
    if helper is not None and names and helper.poll() is None:
        try:
            helper.stdin.write(f"warm {module.__name__} {' '.join(sorted(names))}\n")
            helper.stdin.flush()
            helper.warming += 1
        except OSError:  # pragma: no cover - the helper died: the build goes on without it
            pass


#: How long a build waits for its helper's float64 warm-up before compiling on its own.
WARM_TIMEOUT = 60.0


def _await_warm(helper: subprocess.Popen, timeout: float = WARM_TIMEOUT) -> bool:
    """Wait until the helper has compiled the float64 functions of the warm jobs sent to it (or died, or
    ``timeout`` passed; 0: only look): compiling them here too would double the work on a two-core machine.
    Whether it is done with them."""
    import select
    import time

    deadline = time.monotonic() + timeout
    while helper.warming > 0:
        left = max(0.0, deadline - time.monotonic())
        if not select.select([helper.stdout], [], [], left)[0]:
            return False
        # the descriptor itself: a buffered readline could take two answers at once and leave select waiting
        data = os.read(helper.stdout.fileno(), 4096)
        if not data:  # the helper exited
            return False
        helper.warming -= data.count(b"warmed\n")
    return True


def _stop(helper: subprocess.Popen | None) -> None:
    if helper is None:
        return
    if helper.poll() is None:
        helper.kill()
        helper.wait()
    helper.stdout.close()


def _import(path: Path, name: str, body: str | None = None, needs: tuple[ModuleType, ...] = (),
            helper: subprocess.Popen | None = None) -> ModuleType:
    """Import the module file; ``body``: its just-written source, which may ask for a parallel build (by the
    ``helper`` process if one was started, else by a new one)."""
    numba_cache.install()  # (before Numba reads the cache of the module's functions)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    parallel = body is not None and "\n_PARALLEL_BUILD = True\n" in body
    if parallel and helper is None:
        helper = _start_helper(needs)
    if helper is not None:
        if parallel:
            helper.stdin.write(f"{path} {name}\n")
        helper.stdin.close()  # without a job it exits (reaped below)
    if parallel and helper is not None:  # (helper is None on a single core)

        def between() -> None:
            try:
                helper.wait(timeout=HELPER_TIMEOUT)
            except subprocess.TimeoutExpired:
                helper.kill()

        mod._BUILD = {"between": between, "ready": lambda: _await_warm(helper),
                      "helper_free": lambda: _await_warm(helper, 0.0)}
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        _stop(helper)
    return mod


def load_module(body: str | None, key: str, build=None, needs: tuple[ModuleType, ...] = ()) -> ModuleType:
    """Import the generated module for ``key``, writing it first if it is missing or damaged.

    ``body`` is the module source, or ``None`` with ``build()`` returning it (called only when the
    file has to be written, so a cache hit does no code generation at all). ``needs``: generated modules
    it imports (already imported here; the helper process of a parallel build imports them first).
    """
    name = f"nlc_{key}"
    if name in sys.modules:
        return sys.modules[name]
    path = module_path(key)
    problem = check_file(path, key) if path.exists() else "missing"
    if problem is None:
        try:
            return _import(path, name)
        except Exception as exc:  # a damaged file that still passed the checksum, or a stale Numba cache
            problem = f"import failed ({type(exc).__name__}: {exc})"
    if problem != "missing":
        warnings.warn(f"generated module {path} is corrupted: {problem}; rebuilding it", CorruptedModuleWarning,
                      stacklevel=3)
        _clear_numba_cache(path)
        if problem.startswith("import failed") and not numba_cache.install():
            numba_cache.clear(path.parent)  # the damaged file may be another module's (the runtime's): all of them
    global _building
    helper = None
    if body is None:
        helper = _start_helper(needs) if needs else None  # (a module importing others: a pair's)
        _building = helper
        try:
            body = build()
        except BaseException:
            _stop(helper)
            raise
        finally:
            _building = None
    write_atomic(path, with_header(body, key))
    # its bytecode too, even under PYTHONDONTWRITEBYTECODE: compiling the source on every load costs 0.01 s
    py_compile.compile(str(path), doraise=False)
    importlib.invalidate_caches()
    return _import(path, name, body, needs, helper)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while. Importing Numba and loading a module create many
    long-lived objects, and the collections they trigger walk the whole heap (SymPy's too) for nothing:
    0.04-0.06 s of a 0.25 s cache hit in a new process. Afterwards the objects made meanwhile join the oldest
    generation unexamined (``gc.freeze``, ``gc.unfreeze``): the first collection after a build otherwise
    walked them all at once (0.12 s after silu/power(2)); cycles among them are collected by the next full
    collection."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            mine = gc.get_freeze_count() == 0  # (not if the program keeps objects frozen itself)
            if mine:
                gc.freeze()
            gc.enable()
            if mine:
                gc.unfreeze()


def _clear_numba_cache(path: Path) -> None:
    """Remove Numba's cache entries of a module file we are about to rewrite (next to it, or under
    ``NUMBA_CACHE_DIR``), and its bytecode."""
    for place in numba_cache.places(path.parent):
        for f in place.rglob(f"{path.stem}.*"):
            try:
                f.unlink()
            except OSError:
                pass
