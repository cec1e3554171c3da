"""Special functions of real arguments for compiled code, evaluated in float64.

Generated code calls them through ``specfun.call``, which converts a float32 argument and rounds the result once,
so that Numba compiles each body once, not once per float type. Generated modules contain this source (see
:mod:`nonlocal_calc.codegen.runtime`).
"""

import math

import numba


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _log1pexp_d(u):
    """log(1 + exp(u)) without overflow."""
    T = type(u)
    if u > T(0):
        return u + math.log1p(math.exp(-u))
    return math.log1p(math.exp(u))
@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _erfi_d(x):
    """The imaginary error function erfi(x) = -i erf(ix), real x."""
    T = type(x)
    a = abs(x)
    if a != a:
        return x
    if a <= T(6):
        # all terms positive: no cancellation
        x2 = a * a
        term = a
        total = a
        k = 0
        while True:
            k += 1
            term = term * x2 / T(k)
            add = term / T(2 * k + 1)
            total += add
            if add <= total * T(1e-17) or k > 200:
                break
        v = total * T(1.1283791670955126)
    else:
        # asymptotic series; its smallest term is below 1e-16 for a > 6
        r = T(1) / (T(2) * a * a)
        term = T(1)
        total = T(1)
        for k in range(1, 40):
            term = term * T(2 * k - 1) * r
            total += term
            if term < T(1e-17) * total:
                break
        v = math.exp(a * a) / (a * T(1.7724538509055160)) * total
    return v if x >= T(0) else -v
