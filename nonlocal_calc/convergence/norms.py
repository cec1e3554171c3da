"""L^p norms and suprema of functions that are smooth between given cut points, in mpmath."""

from __future__ import annotations

import math

import mpmath

#: Digits of the quadrature sums in a norm (the integrand keeps the study's precision).
NORM_DPS = 20


def lp_norm(e, cuts: list, p: float) -> mpmath.mpf:
    """The L^p norm (p = inf: sup) of e over [cuts[0], cuts[-1]], e smooth between consecutive cuts.

    e is evaluated at the working precision; the quadrature sums run at (at most) 20 digits, which
    is ample for a norm and spares the integrand the node count of a 50-digit rule.
    """
    if p == math.inf:
        return max(piece_sup(e, lo, hi) for lo, hi in zip(cuts, cuts[1:]))
    dps = mpmath.mp.dps
    total = mpmath.mpf(0)
    for lo, hi in zip(cuts, cuts[1:]):
        pts = [lo, *_sign_changes(e, lo, hi), hi] if p % 2 else [lo, hi]

        def integrand(t):
            with mpmath.workdps(dps):
                return abs(e(t)) ** p

        with mpmath.workdps(min(dps, NORM_DPS)):
            total += mpmath.quad(integrand, pts)
    return total ** (1 / mpmath.mpf(p))


def lp_of(g, cuts: list, p: float) -> mpmath.mpf:
    """||g||_p on [cuts[0], cuts[-1]] for g smooth between cuts (one-sided at the ends)."""
    inner = [(lo, hi) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
    if p == math.inf:
        return max(piece_sup(g, lo, hi) for lo, hi in inner)
    return lp_norm(g, [lo for lo, _ in inner] + [inner[-1][1]], p)


def _grid(lo, hi, n: int = 40) -> list:
    """Points strictly inside (lo, hi), denser near the ends (Chebyshev), plus points just inside the ends."""
    eps = (hi - lo) * mpmath.mpf(10) ** (-(mpmath.mp.dps // 2))
    inner = [lo + (hi - lo) * (1 - mpmath.cos(mpmath.pi * (j + mpmath.mpf(1) / 2) / n)) / 2 for j in range(n)]
    return [lo + eps, *inner, hi - eps]


def _sign_changes(e, lo, hi) -> list:
    """Zeros of e in (lo, hi), located by bracketing on a grid (so |e| is smooth between cut points)."""
    grid = _grid(lo, hi)
    vals = [e(t) for t in grid]
    roots = []
    for (t0, v0), (t1, v1) in zip(zip(grid, vals), zip(grid[1:], vals[1:])):
        if v0 == 0 or v1 == 0 or (v0 > 0) == (v1 > 0):
            continue
        try:
            roots.append(mpmath.findroot(e, (t0, t1), solver="anderson"))
        except (ValueError, ZeroDivisionError):
            roots.append((t0 + t1) / 2)
    return sorted(r for r in roots if lo < r < hi)


def piece_sup(e, lo, hi) -> mpmath.mpf:
    """max |e| on [lo, hi] (one-sided at the ends): grid search, then golden-section refinement."""
    grid = _grid(lo, hi)
    vals = [abs(e(t)) for t in grid]
    best = max(vals)
    j = vals.index(best)
    if 0 < j < len(grid) - 1:
        lo_, hi_ = grid[j - 1], grid[j + 1]
        g = (mpmath.sqrt(5) - 1) / 2
        c, dd = hi_ - g * (hi_ - lo_), lo_ + g * (hi_ - lo_)
        fc, fd = abs(e(c)), abs(e(dd))
        for _ in range(50):
            if fc > fd:
                hi_, dd, fd = dd, c, fc
                c = hi_ - g * (hi_ - lo_)
                fc = abs(e(c))
            else:
                lo_, c, fc = c, dd, fd
                dd = lo_ + g * (hi_ - lo_)
                fd = abs(e(dd))
        best = max(best, fc, fd)
    return best
