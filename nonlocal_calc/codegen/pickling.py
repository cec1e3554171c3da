"""Pickling of the ufuncs that :mod:`nonlocal_calc.codegen` makes at run time.

NumPy pickles a ufunc by its name, to be looked up in a module on unpickling; ours are made at run time and
live in no module, so that fails. A ufunc registered here pickles instead as a call that makes it again in
the receiving process (from the cache on disk, or from the derivation it was compiled from), so it can be sent
to joblib/loky, spawn-based ``multiprocessing`` and Dask workers. Every other ufunc pickles as NumPy pickles it.

The hook is a :mod:`copyreg` entry for ``numpy.ufunc`` that the pickle module and ``cloudpickle`` both
consult; it wraps NumPy's own entry rather than replacing it.

>>> import pickle
>>> import numpy as np
>>> pickle.loads(pickle.dumps(np.add)) is np.add  # NumPy's ufuncs are untouched
True
"""

from __future__ import annotations

import copyreg
from collections.abc import Callable

import numpy as np

#: id(ufunc) -> (the ufunc, its reduce value): the ufunc is kept alive, so its id is never reused.
_RECIPES: dict[int, tuple[np.ufunc, tuple]] = {}
_numpy_reduce: Callable | None = None


def register(u: np.ufunc, rebuild: Callable[..., np.ufunc], args: tuple) -> np.ufunc:
    """Make ``u`` pickle as ``rebuild(*args)`` (a module-level function, so that it pickles by name); returns ``u``."""
    _install()
    _RECIPES[id(u)] = (u, (rebuild, args))
    return u


def _reduce(u: np.ufunc):
    entry = _RECIPES.get(id(u))
    if entry is not None and entry[0] is u:
        return entry[1]
    return _numpy_reduce(u) if _numpy_reduce is not None else u.__name__


def _install() -> None:
    global _numpy_reduce
    current = copyreg.dispatch_table.get(np.ufunc)
    if current is not _reduce:
        _numpy_reduce = current
        copyreg.pickle(np.ufunc, _reduce)
