"""Damaged entries of Numba's on-disk cache, for the generated modules: removed and rebuilt, with one warning.

Numba keeps the machine code of a ``cache=True`` function in an index file (``*.nbi``) and data files
(``*.nbc``) beside its module (``__pycache__``) or under ``NUMBA_CACHE_DIR``. It reads them with ``pickle``
and lets every error through: one garbage or truncated file made every later compile that touched it fail,
in every new process (an ``UnpicklingError``, ``ValueError`` or ``EOFError`` out of the cache).

:func:`install` makes Numba treat an unreadable index or data file of a generated module (a file named
``nlc_*``) as a cache miss: the file is removed, the function compiled and saved again, and the first such
file in a process is reported by one :class:`CorruptedModuleWarning`. This replaces two methods
of Numba's ``IndexDataCacheFile``, which is not public API: it is part ``cache-hooks`` of the fast route of
:mod:`.internals` (:func:`.internals.install_cache_hook`), used with the versions that was verified on and as
its switch allows. Without it, :func:`clear` is the fallback: a generated module that fails to import has all
of the generated modules' Numba cache files removed before it is imported again (see
:func:`.modcache.load_module`), which heals the same damage at the cost of compiling everything afresh.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from . import internals


class CorruptedModuleWarning(UserWarning):
    """A cached generated module, or a file of Numba's cache beside it, was unreadable or did not match its
    checksum; it was rebuilt. (Defined here, the lower of the two cache modules, and re-exported by
    :mod:`.modcache`: neither imports the other back.)"""


#: The prefix of every generated module's file name, hence of its Numba cache files.
PREFIX = "nlc_"

_installed: bool | None = None
_removed: list[str] = []


def install() -> bool:
    """Install the hook (once per process; needs Numba); whether it is in place."""
    global _installed
    if _installed is None:
        _installed = internals.enabled("cache-hooks") and internals.install_cache_hook(PREFIX, discard)
    return _installed


def discard(path: str | Path, exc: BaseException) -> None:
    """Remove the damaged cache file ``path``; warn about the first one of the process."""
    try:
        os.unlink(path)
    except OSError:
        pass
    if not _removed:
        warnings.warn(f"damaged Numba cache file {path} ({type(exc).__name__}: {exc}) removed; the code it held is "
                      "compiled again (further damaged files of the cache are removed without a warning)",
                      CorruptedModuleWarning, stacklevel=2)
    _removed.append(str(path))


def places(module_dir: Path) -> list[Path]:
    """Where Numba keeps the cache files of modules in ``module_dir``: its ``__pycache__``, ``NUMBA_CACHE_DIR``."""
    out = [module_dir / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        out.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    return [p for p in out if p.is_dir()]


def clear(module_dir: Path) -> int:
    """Remove Numba's cache files of all generated modules in ``module_dir``; how many were removed."""
    n = 0
    for place in places(module_dir):
        for f in place.rglob(f"{PREFIX}*.nb[ic]"):
            try:
                f.unlink()
                n += 1
            except OSError:
                pass
    return n
