"""nonlocal-calc: the calculus of nonlocal operators, from closed forms to fast code.

The 1-D nonlocal derivative of f for an odd kernel mu on (-delta, delta) is
``D_mu f(x) = int_{-delta}^{delta} [f(x+z) - f(x)] mu(z) dz``.

>>> import nonlocal_calc as nlc
>>> D = nlc.derive("relu", "sign")
>>> D.method
'closed-form'

The subpackages ``audit``, ``codegen``, ``convergence``, ``nn`` and ``properties`` are imported on first
use (``nlc.convergence.study(...)`` works without an import of its own), so that ``import nonlocal_calc``
does not pay for Numba or matplotlib.
"""

import importlib

from . import activations, kernels
from ._version import __version__
from .activations import Activation
from .derivation import NonlocalDerivative, QuadratureFallbackWarning, coverage_matrix, derive
from .kernels import Kernel, KernelError
from .parameters import Parameter, ParameterError
from .parsing import ExpressionError
from .reference import PrecisionWarning
from .symbols import delta, x, z

#: Subpackages imported on first attribute access (they import Numba, matplotlib or the trainer).
_LAZY = ("audit", "codegen", "convergence", "nn", "properties")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")  # the import also sets it as an attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Activation", "ExpressionError", "Kernel", "KernelError", "NonlocalDerivative", "Parameter", "ParameterError",
    "PrecisionWarning",
    "QuadratureFallbackWarning", "__version__", "activations", "coverage_matrix", "delta", "derive", "kernels", "x", "z",
]
