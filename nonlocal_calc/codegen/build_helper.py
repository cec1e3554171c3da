"""The helper process of a parallel build (:mod:`.modcache`), run as a script: ``python build_helper.py [path name]...``.

Started before the module is generated, so that its start-up (Python, Numba, the generated modules the new one
imports, given as ``path name`` pairs on the command line: 0.3-0.5 s) overlaps with that. Then it reads lines on
its standard input:

* ``warm module name...``: compile those functions of an imported module for float64, answer ``warmed``, then for
  float32 unless a job is waiting (the builder then finds them in Numba's cache instead of compiling them);
* ``path name``: import that module with ``_BUILD = {"only": "float32"}``, which compiles its float32 loop only;
* nothing (end of input): exit.

It is run by path, not as ``-m``: importing the package would add SymPy's import to the start-up it must keep short.
"""

import importlib.util
import os
import select
import sys

if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]  # (the script's directory: its modules must not shadow top-level ones)

import numba  # noqa: E402


def load(path: str, name: str, build: dict | None = None) -> None:
    """Import the module file ``path`` as ``name`` (with ``_BUILD = build`` set before it runs, if given)."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    if build is not None:
        mod._BUILD = build
    spec.loader.exec_module(mod)


def job_waiting() -> bool:
    """Whether the builder has sent the next line."""
    try:
        return bool(select.select([sys.stdin], [], [], 0)[0])
    except (OSError, ValueError):  # cannot tell (not a pipe that select takes): stop warming
        return True


def signatures(mod, names, ty):
    """``(function, argument types)`` for those of ``names`` whose argument types the module knows (the float64
    bodies: float64 in both passes), and for the one-argument functions."""
    typed = getattr(mod, "_warm_types", lambda name, ty: None)
    for name in names:
        fn = getattr(mod, name)
        sig = typed(name, ty) or ((ty,) if fn.py_func.__code__.co_argcount == 1 else None)
        if sig is not None:
            yield fn, sig


def compile_all(mod, names, ty, stop) -> None:
    """Compile the functions ``names`` of ``mod`` for x of type ``ty``, until ``stop()``."""
    for fn, sig in signatures(mod, names, ty):
        if stop():
            break
        try:
            fn.compile(sig)
        except Exception:  # noqa: BLE001 - a hint only
            pass


def main(args: list[str]) -> None:
    for i in range(0, len(args), 2):  # the generated modules it imports first
        load(args[i], args[i + 1])
    job = sys.stdin.readline().split()
    while job[:1] == ["warm"]:
        mod = sys.modules[job[1]]
        # float64 (the builder's, which waits for them instead of compiling them too), then float32 (this
        # process's own, later) unless the builder has sent the module meanwhile
        compile_all(mod, job[2:], numba.float64, lambda: False)
        print("warmed", flush=True)
        compile_all(mod, job[2:], numba.float32, job_waiting)
        job = sys.stdin.readline().split()
    if job:
        load(job[0], job[1], {"only": "float32"})


if __name__ == "__main__":
    main(sys.argv[1:])
    # no interpreter teardown (0.1-0.4 s with Numba loaded, which the builder would wait for): Numba's cache files
    # are complete, nothing else is left to write
    os._exit(0)
