"""The outcome of a convergence study: :class:`ConvergenceStudy`, and the warning of a failed cross-check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mpmath

from . import text
from .text import fmt


class ConvergenceWarning(UserWarning):
    """The closed form and the independent quadrature disagree (the study records where)."""


@dataclass
class ConvergenceStudy:
    """The outcome of :func:`study`: errors per horizon, observed and predicted order and constant.

    ``errors`` are signed (``D_mu f(x) - limit``) for a pointwise study and norms of
    ``D_mu f - f'`` for a study over an interval. ``observed_order`` is the least-squares slope of
    ``log|error|`` against ``log(delta)`` over ``fit_range`` (the smallest horizons on which the
    local slopes agree); ``observed_constant`` is ``error / delta**order`` at the smallest horizon,
    with the predicted order when there is one. ``None`` means "does not apply" and ``theory`` says why.
    """

    label: str
    mode: str  # "pointwise", "L1", "L2" or "Linf"
    deltas: list[mpmath.mpf]
    errors: list[mpmath.mpf]
    dps: int
    x: mpmath.mpf | None = None
    interval: tuple[mpmath.mpf, mpmath.mpf] | None = None
    values: list[mpmath.mpf] | None = None  # D_mu f(x) (pointwise studies)
    limit: mpmath.mpf | None = None  # what D_mu f(x) converges to (pointwise studies)
    limit_kind: str = ""  # "derivative", "kink average", "divergent"
    predicted_order: float | None = None
    predicted_constant: mpmath.mpf | None = None
    observed_order: float | None = None
    observed_constant: mpmath.mpf | None = None
    fit_range: tuple[float, float] | None = None
    fit_points: int = 0
    exact_below: float | None = None  # errors vanish (to working precision) for every delta <= this
    theory: str = ""
    method: str = ""  # the derivative's method: "closed-form" or "quadrature"
    crosscheck: list[mpmath.mpf | None] = field(default_factory=list)  # |closed form - quadrature| per delta
    disagreements: list[str] = field(default_factory=list)
    seconds: float = 0.0

    # ---------------------------------------------------------------- derived numbers
    @property
    def local_orders(self) -> list[float | None]:
        """Slopes between consecutive horizons (``None`` where an error vanishes)."""
        out: list[float | None] = [None]
        for (d0, e0), (d1, e1) in zip(zip(self.deltas, self.errors), zip(self.deltas[1:], self.errors[1:])):
            if e0 == 0 or e1 == 0:
                out.append(None)
            else:
                out.append(float(mpmath.log(abs(e0 / e1)) / mpmath.log(d0 / d1)))
        return out

    def summary(self) -> str:
        """A few lines in words: order, constant, limit, cross-check."""
        return text.summary(self)

    def table(self) -> str:
        """The study as a Markdown table, with the summary above it."""
        return text.table(self)

    def plot(self, ax: Any = None, label: str | None = None, reference: bool = True) -> Any:
        """Log-log plot of |error| against delta, with the predicted slope drawn (matplotlib ``Axes``)."""
        from .plot import plot

        return plot(self, ax, label, reference)

    def to_dict(self) -> dict:
        """A JSON-ready description (numbers as strings with 20 significant digits)."""
        def num(v):
            return None if v is None else fmt(v, 20)

        return {
            "label": self.label, "mode": self.mode, "dps": self.dps, "method": self.method,
            "x": num(self.x), "interval": None if self.interval is None else [num(v) for v in self.interval],
            "deltas": [num(d) for d in self.deltas], "errors": [num(e) for e in self.errors],
            "values": None if self.values is None else [num(v) for v in self.values],
            "limit": num(self.limit), "limit_kind": self.limit_kind,
            "predicted_order": self.predicted_order, "predicted_constant": num(self.predicted_constant),
            "observed_order": self.observed_order, "observed_constant": num(self.observed_constant),
            "fit_range": None if self.fit_range is None else list(self.fit_range), "fit_points": self.fit_points,
            "exact_below": self.exact_below, "theory": self.theory,
            "crosscheck": [num(c) for c in self.crosscheck], "disagreements": list(self.disagreements),
        }
