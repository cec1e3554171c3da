"""The on-disk cache shared by derivations and generated code.

Entries are files in one directory, written atomically (a temporary file in the
same directory, then :func:`os.replace`), so a crash never leaves half an entry.
``NONLOCAL_CALC_CACHE`` overrides the default per-user cache directory.

>>> import pathlib, tempfile
>>> target = pathlib.Path(tempfile.mkdtemp()) / "demo.txt"
>>> write_atomic(target, "hello")
>>> target.read_text()
'hello'
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

ENV_VAR = "NONLOCAL_CALC_CACHE"


def cache_dir(sub: str = "") -> Path:
    """The cache directory (created if missing), optionally a subdirectory of it."""
    root = os.environ.get(ENV_VAR)
    if root:
        path = Path(root).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("nonlocal-calc"))
    path = path / sub if sub else path
    path.mkdir(parents=True, exist_ok=True)
    return path


def key_hash(*parts: object) -> str:
    """A short stable hash of ``parts`` (their ``str``), for cache file names."""
    from ._version import __version__

    h = hashlib.sha256()
    for part in (__version__, *parts):
        h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def write_atomic(path: Path | str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    The file gets the permissions a newly created file gets (``0o666`` less the process's umask), as
    ``open(path, "w")`` would give it, so a shared cache or results directory stays readable to whoever the
    umask lets read it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path``, open for writing: ``(descriptor, name)``. Created with mode ``0o666`` so
    that the kernel applies the umask (``tempfile.mkstemp`` would make it ``0o600`` whatever the umask)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")
