"""Accuracy of compiled derivatives against mpmath, on the accuracy grid.

x in {0, +-1e-3*delta, +-1e-2*delta, +-0.1*delta, +-0.5*delta, +-delta, +-2*delta, +-1, +-10, +-50, +-1000}
plus random points, for delta in {1e-8, 1e-6, 1e-4, 1e-2, 0.1, 1, 2}; the reference is ``D.evaluate`` at
40 digits at the exact (rounded) input values. Targets: float64 relative 1e-13 (absolute 1e-15 where
|value| < 1e-2), float32 relative 2e-6 (absolute 1e-7); compiled quadrature (pairs without a closed form, or whose
closed form the generator has no code for) float64 relative 1e-12 (absolute 1e-14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DELTAS = (1e-8, 1e-6, 1e-4, 1e-2, 0.1, 1.0, 2.0)
#: The accuracy promised to users, (relative, absolute where |value| < SMALL), per dtype.
TARGETS = {"float64": (1e-13, 1e-15), "float32": (2e-6, 1e-7)}
#: The generated code aims this many times below TARGETS, so that rounding in the loops and the
#: error of the reference leave the promise intact.
SAFETY = 4
#: The targets of compiled quadrature: float64 1e-12 relative to max(|value|, 1e-2); float32 as above.
QUADRATURE_TARGETS = {"float64": (1e-12, 1e-14), "float32": TARGETS["float32"]}
SMALL = 1e-2  # below this |value| the absolute target applies


def grid_x(d: float, n_random: int = 6, seed: int = 0) -> list[float]:
    rel = [1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0]
    pts = [0.0] + [s * r * d for r in rel for s in (-1, 1)] + [s * a for a in (1.0, 10.0, 50.0, 1000.0) for s in (-1, 1)]
    rng = np.random.default_rng(seed)
    pts += list(rng.uniform(-3 * d, 3 * d, n_random // 2)) + list(rng.uniform(-20, 20, n_random - n_random // 2))
    return pts


@dataclass
class Worst:
    dtype: str
    rel: float = 0.0  # worst relative error where |value| >= SMALL
    rel_at: tuple = ()
    abs: float = 0.0  # worst absolute error where |value| < SMALL
    abs_at: tuple = ()
    points: int = 0
    failures: int = 0

    @property
    def ok(self) -> bool:
        return self.failures == 0


def reference(D, xv: float, dv: float, dps: int = 40):
    """D at (xv, dv) to ``dps`` correct digits (``D.evaluate`` raises its working precision until two agree:
    a closed form can cancel like x**4/delta**4 in mpmath too, up to 1e44 on the grid, e.g. tanh with
    power(2) at x = 1000, delta = 1e-8; and f(x + delta) - f(x) 868-876 digits for tanh at x = 1000, delta
    2 to 1e-8)."""
    return D.evaluate(xv, dv, dps=dps)


def _values(kernel, xs: np.ndarray, d) -> list[float]:
    """``kernel`` at every x of ``xs`` for one delta: a ufunc gets the whole array with a scalar delta (the loop
    its users run, e.g. the Gauss-Legendre rule; one element at a time it would take another path)."""
    if isinstance(kernel, np.ufunc):
        return [float(v) for v in kernel(xs, d)]
    return [float(kernel(xv, d)) for xv in xs]


def targets(method: str) -> dict[str, tuple[float, float]]:
    """The (relative, absolute) targets per dtype for compiled code that evaluates by ``method``.

    >>> targets("quadrature")["float64"], targets("closed-form")["float64"]
    ((1e-12, 1e-14), (1e-13, 1e-15))
    """
    return QUADRATURE_TARGETS if method == "quadrature" else TARGETS


def _method(D, kernels) -> str:
    """How the compiled code evaluates: a ufunc's ``method`` (quadrature where the closed form has no code), else D's."""
    return next((k.method for k in kernels if isinstance(getattr(k, "method", None), str)), D.method)


def measure_kernel(D, kernel, deltas=DELTAS, n_random: int = 6, dps: int = 40, points=None,
                   method: str | None = None) -> dict[str, Worst]:
    """Worst errors of ``kernel(x, delta)`` (a Numba scalar function or ufunc) per dtype, against the targets of
    ``method`` (default: the ufunc's ``method`` attribute, else ``D.method``; see :func:`targets`).

    ``kernel`` may also be a tuple of such functions (e.g. the scalar kernel and the ufunc, whose loop for a
    scalar delta can take another path): each point counts the worst of them.
    """
    import mpmath

    kernels = kernel if isinstance(kernel, tuple) else (kernel,)
    goal = targets(method or _method(D, kernels))
    out = {}
    for dt in (np.float64, np.float32):
        name = np.dtype(dt).name
        rtol, atol = goal[name]
        w = Worst(name)
        by_delta: dict[float, list[float]] = {}
        for xv, dv in points or [(xv, d) for d in deltas for xv in grid_x(d, n_random)]:
            by_delta.setdefault(dv, []).append(xv)
        for d, xvs in by_delta.items():
            xs, ds = np.array(xvs, dtype=dt), dt(d)
            if ds <= 0:
                continue
            got = [_values(k, xs, ds) for k in kernels]
            for i, xv in enumerate(xs):
                ref = reference(D, float(xv), float(ds), dps)
                if not mpmath.isfinite(ref):
                    continue
                err = max(float(abs(mpmath.mpf(g[i]) - ref)) if np.isfinite(g[i]) else float("inf") for g in got)
                w.points += 1
                if abs(ref) >= SMALL:
                    r = err / float(abs(ref))
                    if r > w.rel:
                        w.rel, w.rel_at = r, (float(xv), float(ds))
                    bad = r > rtol
                else:
                    if err > w.abs:
                        w.abs, w.abs_at = err, (float(xv), float(ds))
                    bad = err > atol
                w.failures += bool(bad)
        out[name] = w
    return out


def accuracy_text(res: dict[str, Worst], method: str = "closed-form") -> str:
    lines = ["Accuracy measured against mpmath (40 digits) on the accuracy grid:"]
    for name, w in res.items():
        rtol, atol = targets(method)[name]
        lines.append(f"  {name}: worst relative error {w.rel:.2e} (target {rtol:g}), worst absolute error "
                     f"{w.abs:.2e} where |value| < {SMALL:g} (target {atol:g}); {w.points} points, "
                     f"{w.failures} outside the targets")
    return "\n".join(lines) + "\n"
