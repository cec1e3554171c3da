"""The observed order: a least-squares slope of log|error| against log(delta) over the asymptotic range."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import mpmath

if TYPE_CHECKING:
    from .result import ConvergenceStudy


def fit_order(deltas: Sequence, errors: Sequence, *, tol: float = 0.01, min_points: int = 3,
              floor: float | mpmath.mpf = 0) -> tuple[float, float, int, int] | None:
    """Least-squares slope of log|error| against log(delta) over the asymptotic range.

    ``deltas`` decrease. The range is the longest run of the smallest horizons (errors above
    ``floor``) on which every local slope stays within ``tol`` (relative, at least 0.01 absolute)
    of the fitted slope; it has at least ``min_points`` points (fewer if fewer are available).
    Returns ``(slope, intercept, first, last)`` with ``deltas[first:last]`` the range, or None.

    >>> fit_order([0.1, 0.01, 0.001, 0.0001], [3e-2, 3e-4, 3e-6, 3e-8])[:1]
    (2.0,)
    """
    pts = [(mpmath.log(mpmath.mpf(d)), mpmath.log(abs(mpmath.mpf(e)))) for d, e in zip(deltas, errors)]
    ok = [abs(mpmath.mpf(e)) > floor for e in errors]
    last = len(pts)
    while last > 0 and not ok[last - 1]:
        last -= 1
    first = last
    while first > 0 and ok[first - 1]:
        first -= 1
    if last - first < 2:
        return None
    start = max(first, last - min_points)
    slope, icpt = _lsq(pts[start:last])
    while start > first:
        (x0, y0), (x1, y1) = pts[start - 1], pts[start]
        local = (y1 - y0) / (x1 - x0)
        if abs(local - slope) > max(0.01, tol * abs(slope)):
            break
        start -= 1
        slope, icpt = _lsq(pts[start:last])
    return float(slope), float(icpt), start, last


def _lsq(pts):
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pts)
    slope = sxy / sxx
    return slope, my - slope * mx


def fit_into(out: ConvergenceStudy, floor: mpmath.mpf) -> None:
    """Fill in the observed order, its range and constant, and the horizons below which the error is zero
    (errors at most ``floor`` count as zero)."""
    errs = out.errors
    zero = [abs(e) <= floor for e in errs]
    if zero[-1]:
        k = len(zero)
        while k > 0 and zero[k - 1]:
            k -= 1
        out.exact_below = float(out.deltas[k]) if k < len(zero) else None
    fit = fit_order(out.deltas, errs, floor=floor)
    if fit is None or zero[-1]:
        return
    slope, _, i0, i1 = fit
    out.observed_order = slope
    out.fit_range = (float(out.deltas[i1 - 1]), float(out.deltas[i0]))
    out.fit_points = i1 - i0
    q = out.predicted_order if out.predicted_order is not None else slope
    d, e = out.deltas[i1 - 1], errs[i1 - 1]
    out.observed_constant = e / d ** mpmath.mpf(q)
