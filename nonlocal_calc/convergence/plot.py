"""A study drawn: |error| against delta on log-log axes, with the slope theory predicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .text import fixed, fmt, fmt_order

if TYPE_CHECKING:
    from .result import ConvergenceStudy


def plot(study: ConvergenceStudy, ax: Any = None, label: str | None = None, reference: bool = True) -> Any:
    """Log-log plot of |error| against delta, with the predicted slope drawn (matplotlib ``Axes``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    ds = [float(d) for d in study.deltas]
    es = [float(abs(e)) for e in study.errors]
    nz = [(d, e) for d, e in zip(ds, es) if e > 0]
    what = study.mode if study.mode != "pointwise" else ("error" if study.limit is not None else "|D f|")
    obs = "-" if study.observed_order is None else fixed(study.observed_order, 3)
    lab = label or f"{what}, observed order {obs}"
    if nz:
        line = ax.loglog(*zip(*nz), "o-", ms=4, label=lab)[0]
        color = line.get_color()
    else:
        color = "C0"
    zeros = [d for d, e in zip(ds, es) if e == 0]
    if zeros:  # exact values have no logarithm: mark them on the lower edge
        floor = min([e for _, e in nz], default=1e-30) / 10
        ax.loglog(zeros, [floor] * len(zeros), "x", color=color, label=f"{what}: exactly 0")
    q = study.predicted_order
    if reference and q is not None and nz:
        d0, e0 = nz[-1]
        c = float(abs(study.predicted_constant)) if study.predicted_constant else e0 / d0**q
        dd = [min(ds), max(d for d, _ in nz)]
        ax.loglog(dd, [c * t**q for t in dd], "--", color="k", alpha=0.7, lw=1.2, zorder=3,
                  label=f"theory: {fmt(c, 4)} delta^{fmt_order(q)}" if study.predicted_constant
                  else f"theory: slope {fmt_order(q)}")
    ax.set_xlabel("delta")
    ax.set_ylabel("|error|" if study.limit is not None or study.mode != "pointwise" else "|D f|")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return ax
