"""nonlocal-calc: the calculus of nonlocal operators, from closed forms to fast code.

The 1-D nonlocal derivative of f for an odd kernel mu on (-delta, delta) is
``D_mu f(x) = int_{-delta}^{delta} [f(x+z) - f(x)] mu(z) dz``.

>>> import nonlocal_calc as nlc
>>> D = nlc.derive("relu", "sign")
>>> D.method
'closed-form'
"""

from . import activations, kernels
from ._version import __version__
from .activations import Activation
from .derivation import NonlocalDerivative, QuadratureFallbackWarning, coverage_matrix, derive
from .kernels import Kernel, KernelError
from .parsing import ExpressionError
from .reference import PrecisionWarning
from .symbols import delta, x, z

__all__ = [
    "Activation", "ExpressionError", "Kernel", "KernelError", "NonlocalDerivative", "PrecisionWarning",
    "QuadratureFallbackWarning", "__version__", "activations", "coverage_matrix", "delta", "derive", "kernels", "x", "z",
]
