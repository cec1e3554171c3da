"""The SymPy symbols shared by every formula in the toolkit.

>>> from nonlocal_calc.symbols import x, z, delta
>>> x.is_real, z.is_real, delta.is_positive
(True, True, True)
"""

import sympy as sp

#: The point at which a nonlocal derivative is taken.
x = sp.Symbol("x", real=True)
#: The offset of a neighbour, ``y = x + z``; kernels are functions of z.
z = sp.Symbol("z", real=True)
#: The horizon: kernels are supported on ``(-delta, delta)``.
delta = sp.Symbol("delta", positive=True)
