"""A cached ufunc's two loops as a shared library, loaded in a new process without importing Numba.

Loading a cached module goes through Numba (``import numba`` alone takes 0.17-0.30 s on the reference machine,
most of the 0.3 s budget of a cache hit). So after a module's loops are compiled, their machine code (the
object code Numba keeps in its cache, which holds everything the loops call) is linked with the system's C
compiler into ``nlc_<key>.<cpu>.so`` beside the module, with a JSON record of the loop symbols and the ufunc's
name and docstring. A new process then opens that library with :mod:`ctypes` and makes the ufunc with NumPy's
C API (``PyUFunc_FromFuncAndData``, the call Numba makes too): no Numba, no compiling.

It is an accelerator only, and part ``library`` of the fast route of :mod:`.internals` (which reads Numba's cache
file and calls NumPy's C API): without a C compiler, on a platform other than Linux, without that part, or whenever
anything does not match (another CPU, another module text, a damaged library: checked by SHA-256), :func:`load`
returns None and the caller takes the Numba route, which also re-exports. The library is tied to the CPU it was
built on (the name carries a hash of the CPU model and its instruction-set flags), as Numba's cache is.

The loops call a few C helpers of Numba's that live in its extension ``_helperlib`` (not exported from it):
``numba_frexp`` and the error-reporting ones. The library gets its own versions of them (:data:`SHIM`): the
same ``frexp``; an error raised inside a loop (none is expected: the loops raise no Python exceptions) is
reported as a RuntimeError through ``PyErr_WriteUnraisable`` as Numba's wrapper does, without Numba's message.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from functools import cache
from pathlib import Path

import numpy as np

from ..cache import write_atomic
from . import internals
from .internals import DTYPES
from .modcache import CorruptedModuleWarning, check_file, module_path

#: Seconds the link may take.
LINK_TIMEOUT = 60.0


@cache
def cpu_tag() -> str | None:
    """A short hash of this CPU's model and instruction-set flags (Linux), or None where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as fh:
            info = fh.read().split("\n\n")[0]
    except OSError:
        return None
    keep = [ln for ln in info.splitlines() if ln.split(":")[0].strip() in ("vendor_id", "model name", "flags")]
    if not keep:
        return None
    return hashlib.sha256("\n".join([platform.machine(), *keep]).encode()).hexdigest()[:12]


def paths(key: str) -> tuple[Path, Path] | None:
    """(library, record) of the module with cache key ``key`` on this CPU; None when the CPU is unknown or the
    shared libraries are not in use (:func:`.internals.enabled`)."""
    tag = cpu_tag()
    if tag is None or not internals.enabled("library"):
        return None
    base = module_path(key)
    return base.with_name(f"{base.stem}.{tag}.so"), base.with_name(f"{base.stem}.{tag}.json")


def _python() -> str:
    """The Python the library was linked for (its error paths call the C API; Numba's cache is per version too)."""
    return f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _module_sha(key: str) -> str | None:
    """The SHA-256 of the generated module's text, if the file is intact."""
    path = module_path(key)
    if not path.exists() or check_file(path, key) is not None:
        return None
    return _sha(path.read_bytes())


# ---------------------------------------------------------------------------------------------- export
#: C definitions of the helpers of Numba's ``_helperlib`` that compiled loops call, without Python.h (which a
#: user's machine may lack): the Python C-API functions they use resolve in the process that loads the library.
SHIM = r"""
#include <math.h>
#include <stddef.h>
typedef int PyGILState_STATE;
extern PyGILState_STATE PyGILState_Ensure(void);
extern void PyGILState_Release(PyGILState_STATE);
extern void PyErr_SetString(void *, const char *);
extern void *PyExc_RuntimeError;
static const char MSG[] = "error raised inside a nonlocal-calc compiled loop (loaded without Numba)";

double numba_frexp(double x, int *exp) {
    if (!isfinite(x) || !x) *exp = 0; else x = frexp(x, exp);
    return x;
}
float numba_frexpf(float x, int *exp) {
    if (!isfinite(x) || !x) *exp = 0; else x = frexpf(x, exp);
    return x;
}
void numba_gil_ensure(PyGILState_STATE *state) { *state = PyGILState_Ensure(); }
void numba_gil_release(PyGILState_STATE *state) { PyGILState_Release(*state); }
void *numba_unpickle(const char *data, int n, const char *hashed) {
    PyErr_SetString(PyExc_RuntimeError, MSG);
    return NULL;
}
void *numba_runtime_build_excinfo_struct(void *struct_gv, void *exc_args) {
    PyErr_SetString(PyExc_RuntimeError, MSG);
    return NULL;
}
int numba_do_raise(void *exc_packed) {
    PyErr_SetString(PyExc_RuntimeError, MSG);
    return 0;
}
"""


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def export(mod, key: str) -> bool:
    """Link the float32 and float64 loops of the imported generated module ``mod`` (cache key ``key``) into this
    CPU's shared library. Best effort: False (and nothing written) when it cannot be done here."""
    where, cc = paths(key), _compiler()
    module_sha = _module_sha(key)
    if where is None or cc is None or module_sha is None:  # (where: None off Linux, see cpu_tag)
        return False
    so, record = where
    try:
        loops = [mod._LOOPS[np.dtype(dt).type] for dt in DTYPES]
        objs = [internals.object_code(lp) for lp in loops]
    except (AttributeError, KeyError, LookupError, TypeError):  # another Numba: its cache looks different
        return False
    with tempfile.TemporaryDirectory(dir=so.parent, prefix=".link.") as tmp:
        files = [os.path.join(tmp, "shim.c")]
        Path(files[0]).write_text(SHIM)
        for dt, obj in zip(DTYPES, objs):
            files.append(os.path.join(tmp, f"{dt}.o"))
            Path(files[-1]).write_bytes(obj)
        out = os.path.join(tmp, "loops.so")
        # the objects are Numba's JIT code (absolute relocations): the linker adds text relocations
        try:
            done = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", out, *files, "-lm"], capture_output=True,
                                  timeout=LINK_TIMEOUT)
            if done.returncode != 0:
                return False
            ctypes.CDLL(out, mode=os.RTLD_NOW)  # every symbol resolves (else it would fail in the next process)
        except (OSError, subprocess.SubprocessError):
            return False
        lib = Path(out).read_bytes()
    write_atomic(so, lib)
    write_atomic(record, json.dumps({
        "name": mod.ufunc.__name__, "doc": mod.__doc__ or "", "symbols": [lp.native_name for lp in loops],
        "sha256": _sha(lib), "module_sha256": module_sha, "python": _python()}))
    return True


# ---------------------------------------------------------------------------------------------- load
def from_module(mod) -> np.ufunc:
    """The ufunc of the imported generated module ``mod`` (of the fast route), made from its compiled loops exactly
    as :func:`load` makes it from the shared library, so that both routes give the same object (Numba's own ufunc,
    ``mod.ufunc``, marks its output read-write, and NumPy then refuses ``where=``)."""
    addresses = [mod._LOOPS[np.dtype(dt).type].address for dt in DTYPES]
    return internals.ufunc_from_loops(addresses, mod.ufunc.__name__, mod.__doc__ or "")


def load(key: str) -> np.ufunc | None:
    """The ufunc of the module with cache key ``key`` from its shared library, or None (use the Numba route)."""
    where = paths(key)
    if where is None or not (where[0].exists() and where[1].exists()):  # not written (yet): not damaged
        return None
    so, record = where
    try:
        rec = json.loads(record.read_text())
        if _module_sha(key) != rec["module_sha256"] or rec.get("python") != _python():
            return None  # the module was rebuilt (or is damaged), or another Python wrote it: re-exported later
        if _sha(so.read_bytes()) != rec["sha256"]:
            raise ValueError("checksum mismatch")
        lib = ctypes.CDLL(str(so))
        addresses = [ctypes.cast(lib[s], ctypes.c_void_p).value for s in rec["symbols"]]
        return internals.ufunc_from_loops(addresses, rec["name"], rec["doc"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(f"compiled library {so} is corrupted ({type(exc).__name__}: {exc}); rebuilding it",
                      CorruptedModuleWarning, stacklevel=3)
        return None
