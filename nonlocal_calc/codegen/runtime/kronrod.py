"""The Gauss-Kronrod 7/15 rule of the compiled quadratures, written once with the integrand passed in.

``_gk15(f, a, b, data, ys)`` integrates ``f(t, data)`` over ``[a, b]`` and estimates the error as QUADPACK does
(and returns the plain ``|K - G|`` too, the estimate of the quadrature through mu).
Each quadrature of a generated module (the fallback of every pair, the adaptive rule of a parametric family)
defines only its integrand, an ``njit`` function of the node ``t`` and a tuple ``data`` (the point, the horizon,
the side...), and passes it. The rule is inlined where it is called (``inline="always"``, in Numba's IR, so each
caller calls its integrand directly): a compiled function passed as a value that LLVM does not inline away keeps
the function object's address in the machine code, and Numba then cannot cache the caller (nor anything calling
it). So call the rule from one place per integrand (a small function of the module that the others call). The
arithmetic is in the type of ``a`` (``T``); ``ys`` is scratch space for the 15 values (float64, from the caller:
on its stack in the fast route's modules).

>>> from nonlocal_calc.codegen import runtime
>>> "_GKX = np.array(" in runtime.source("kronrod", ["_GKX", "_gk15"])
True
"""

import numba
import numpy as np

#: The nodes of the 15-point Kronrod rule on [-1, 1] (QUADPACK's ``xgk``): the positive ones in decreasing order,
#: then 0; the odd-indexed ones are the 7-point Gauss rule's.
_GKX = np.array([0.9914553711208126, 0.9491079123427585, 0.8648644233597691, 0.7415311855993945,
                 0.5860872354676911, 0.4058451513773972, 0.20778495500789848, 0.0])
#: The Kronrod weights of those nodes (``wgk``).
_GKW = np.array([0.022935322010529224, 0.06309209262997856, 0.10479001032225019, 0.14065325971552592,
                 0.1690047266392679, 0.19035057806478542, 0.20443294007529889, 0.20948214108472782])
#: The Gauss weights of the same nodes (``wg``; 0 at the nodes that are Kronrod's only).
_GGW = np.array([0.0, 0.1294849661688697, 0.0, 0.27970539148927664, 0.0, 0.3818300505051189, 0.0,
                 0.4179591836734694])


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", inline="always")
def _gk15(f, a, b, data, ys):
    """Gauss-Kronrod 7/15 of ``f(t, data)`` over ``t`` in [a, b]: ``(K, error estimate, |K - G|)``. The estimate is
    QUADPACK's: ``|K - G|`` (G the 7-point Gauss value) bounds the Gauss error; the Kronrod error is far smaller,
    hence ``asc min(1, (200 |K - G| / asc)^1.5)``, asc the integral of ``|f - mean|``. ``|K - G|`` is returned too: it
    is the smaller of the two while ``|K - G| > asc / 8e6`` (QUADPACK's is then up to 200 times larger), the larger
    below."""
    T = type(a)
    c = (a + b) * T(0.5)
    h = (b - a) * T(0.5)
    k = T(0.0)
    g = T(0.0)
    for i in range(8):
        y1 = f(c - h * T(_GKX[i]), data)
        y2 = T(0.0)
        if i < 7:
            y2 = f(c + h * T(_GKX[i]), data)
            ys[14 - i] = y2
        ys[i] = y1
        k += T(_GKW[i]) * (y1 + y2)
        g += T(_GGW[i]) * (y1 + y2)
    mean = k * T(0.5)
    asc = T(0.0)
    for i in range(8):
        asc += T(_GKW[i]) * abs(T(ys[i]) - mean)
        if i < 7:
            asc += T(_GKW[i]) * abs(T(ys[14 - i]) - mean)
    asc = asc * h
    diff = abs(k - g) * h
    err = diff
    if asc > T(0.0) and err > T(0.0):
        err = asc * min(T(1.0), (T(200.0) * err / asc) ** T(1.5))
    return k * h, err, diff

