"""The on-disk cache shared by derivations and generated code.

Entries are files in one directory, written atomically (a temporary file in the
same directory, then :func:`os.replace`), so a crash never leaves half an entry.
``NONLOCAL_CALC_CACHE`` overrides the default per-user cache directory. A cache
directory that cannot be written (read-only, or a file in its place) is replaced,
with one :class:`CacheFallbackWarning`, by a private temporary directory.

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


class CacheFallbackWarning(UserWarning):
    """The cache directory cannot be written; a temporary directory is used instead."""


#: The directory in use for each configured one (probed once per process).
_USABLE: dict[str, Path] = {}
#: The temporary directory that replaces each unwritable configured root.
_FALLBACK: dict[str, Path] = {}


def configured_root() -> Path:
    """The cache directory the user asked for: ``NONLOCAL_CALC_CACHE``, else the per-user cache directory."""
    root = os.environ.get(ENV_VAR)
    if root:
        return Path(root).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nonlocal-calc"))


def cache_dir(sub: str = "") -> Path:
    """The cache directory (created if missing), optionally a subdirectory of it.

    If it cannot be created or written, a private temporary directory takes its place for this process,
    with one :class:`CacheFallbackWarning`.
    """
    root = configured_root()
    path = root / sub if sub else root
    usable = _USABLE.get(str(path))
    if usable is not None and usable.is_dir():
        return usable
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path)
        usable = path
    except OSError as exc:
        usable = _fallback(root, exc) / sub if sub else _fallback(root, exc)
        usable.mkdir(parents=True, exist_ok=True)
    _USABLE[str(path)] = usable
    return usable


def _probe(path: Path) -> None:
    """Raise OSError unless a file can be created in ``path`` (permissions, read-only file systems, ACLs...)."""
    fd, tmp = _create_temporary(path / ".probe")
    os.close(fd)
    os.unlink(tmp)


def _fallback(root: Path, exc: OSError) -> Path:
    """The temporary directory that replaces ``root`` (the same for the whole process; warned about once)."""
    if str(root) not in _FALLBACK:
        import warnings

        tmp = _private_temp_dir()
        warnings.warn(f"the cache directory {root} cannot be written ({type(exc).__name__}: {exc}); using {tmp} "
                      f"instead. Set {ENV_VAR} to a writable directory to keep compiled code and derivations "
                      "from one run to the next", CacheFallbackWarning, stacklevel=3)
        _FALLBACK[str(root)] = tmp
    return _FALLBACK[str(root)]


def _private_temp_dir() -> Path:
    """``<tmp>/nonlocal-calc-<uid>``, created mode 0700, if it is a directory of this user's that nobody else
    can write (generated modules are imported from it); else a new ``tempfile.mkdtemp`` directory."""
    import getpass
    import stat
    import tempfile

    try:
        user = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
        path = Path(tempfile.gettempdir()) / f"nonlocal-calc-{user}"
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        own = not hasattr(os, "getuid") or st.st_uid == os.getuid()
        if stat.S_ISDIR(st.st_mode) and own and not st.st_mode & 0o022:
            _probe(path)
            return path
    except (OSError, KeyError, ImportError):  # (getpass: no user name)
        pass
    return Path(tempfile.mkdtemp(prefix="nonlocal-calc-"))


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
