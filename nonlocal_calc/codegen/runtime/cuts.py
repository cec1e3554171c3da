"""Cut points graded around the features of an integrand (see :mod:`nonlocal_calc.codegen.scales`).

A quadrature over ``[lo, hi]`` cut at these points never has a piece much longer than its distance to a feature
(or the feature's width), so no feature hides between the nodes of one panel however long the interval. Generated
modules contain this source (see :mod:`nonlocal_calc.codegen.runtime`).
"""

import numba


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy")
def _graded(buf, n, lo, hi, centre, width):
    """Append the points ``centre`` and ``centre +- width 2^k`` (k = 0, 1, ...) that lie strictly inside
    ``(lo, hi)`` to ``buf[n:]`` (as many as fit) and return the new count. None for an interval under 16 widths
    long: the nodes of a panel over it (15, and more as it is refined) already see the feature."""
    if not (width > 0.0 and width < 1e300) or centre != centre or hi - lo <= 16.0 * width:
        return n
    if lo < centre < hi and n < buf.shape[0]:
        buf[n] = centre
        n += 1
    for sign in (-1.0, 1.0):
        d = width
        while d < 1e300:
            p = centre + sign * d
            if (sign > 0.0 and p >= hi) or (sign < 0.0 and p <= lo):
                break
            if lo < p < hi and n < buf.shape[0]:
                buf[n] = p
                n += 1
            d *= 2.0
    return n


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy")
def _sort_unique(buf, n):
    """Sort ``buf[:n]`` in place (insertion sort: a few dozen points) and drop repeats; return the new count."""
    for i in range(1, n):
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v
    m = 0
    for i in range(n):
        if m == 0 or buf[i] > buf[m - 1]:
            buf[m] = buf[i]
            m += 1
    return m


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy")
def _feature_cuts(buf, lo, hi, fc, fw, x, side):
    """The cut points in ``(lo, hi)`` of the feature tables ``fc``, ``fw`` (:func:`.scales.feature_tables`), sorted,
    in ``buf``; returns their count. A width below 0 marks a kernel's feature, its centre a distance already; the
    others are points of f, at the distance ``side (c - x)`` (``side`` +-1: f at x + side s) or, ``side`` 0,
    ``|c - x|`` (f at x + z and x - z)."""
    n = 0
    for i in range(fc.shape[0]):
        if fw[i] < 0.0:
            centre = fc[i]
        elif side == 0.0:
            centre = abs(fc[i] - x)
        else:
            centre = side * (fc[i] - x)
        n = _graded(buf, n, lo, hi, centre, abs(fw[i]))
    return _sort_unique(buf, n)
