"""Convergence over a parametric family: one :func:`~.studies.study` per member, the observed order and constant
against the parameter.

>>> import sympy as sp
>>> import nonlocal_calc as nlc
>>> from nonlocal_calc import Parameter, kernels
>>> D = nlc.derive(nlc.Activation.from_expr("x**3"), kernels.power(Parameter("p", "> -2")))
>>> s = sweep(D, "p", ["-3/2", 0, 2], x=0.3, deltas=["1/4", "1/8", "1/16"], dps=30)
>>> [round(q, 6) for q in s.observed_orders]
[2.0, 2.0, 2.0]
>>> [float(c) for c in s.predicted_constants]    # (p + 2)/(6 (p + 4)) f''' with f''' = 6
[0.2, 0.5, 0.6666666666666666]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from ..parsing import exact_number
from .result import ConvergenceStudy
from .studies import study


@dataclass
class ParameterSweep:
    """Studies of the members ``D.subs(name=value)`` of a family, one per value (in the order given)."""

    name: str
    values: list[sp.Expr]
    studies: list[ConvergenceStudy]

    @property
    def observed_orders(self) -> list[float | None]:
        return [s.observed_order for s in self.studies]

    @property
    def observed_constants(self) -> list[mpmath.mpf | None]:
        return [s.observed_constant for s in self.studies]

    @property
    def predicted_constants(self) -> list[mpmath.mpf | None]:
        return [s.predicted_constant for s in self.studies]

    def table(self) -> str:
        """A Markdown table: value, predicted and observed order and constant."""
        from .. import markup

        rows = [[str(v), s.predicted_order, "-" if s.observed_order is None else f"{s.observed_order:.4f}",
                 "-" if s.predicted_constant is None else mpmath.nstr(s.predicted_constant, 10),
                 "-" if s.observed_constant is None else mpmath.nstr(s.observed_constant, 10)]
                for v, s in zip(self.values, self.studies)]
        return markup.table([self.name, "predicted order", "observed order", "predicted constant",
                             "observed constant"], rows)

    def plot(self, axes: Any = None, theory: Any = None, xlabel: str | None = None) -> Any:
        """Two panels against the parameter: the observed order, and the observed constant with the predicted one
        (markers) and ``theory`` (a function of the parameter, drawn as a curve over the values' range)."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        vs = [float(v) for v in self.values]
        ax1, ax2 = axes
        ax1.plot(vs, [float("nan") if q is None else q for q in self.observed_orders], "o-", ms=4, label="observed")
        ax1.plot(vs, [float("nan") if s.predicted_order is None else s.predicted_order for s in self.studies], "k--",
                 lw=1, label="predicted")
        ax1.set_ylabel("order")
        ax2.plot(vs, [float("nan") if c is None else float(c) for c in self.observed_constants], "o", ms=4,
                 label="observed (error / delta^order)")
        if theory is not None:
            import numpy as np

            grid = np.linspace(min(vs), max(vs), 200)
            ax2.plot(grid, [theory(g) for g in grid], "k-", lw=1, label="theory")
        else:
            ax2.plot(vs, [float("nan") if c is None else float(c) for c in self.predicted_constants], "k--", lw=1,
                     label="predicted")
        ax2.set_ylabel("constant")
        for ax in axes:
            ax.set_xlabel(xlabel or self.name)
            ax.legend(fontsize=8)
        return axes


def sweep(D: Any, name: str, values, **options) -> ParameterSweep:
    """:func:`~.studies.study` of ``D.subs(name=value)`` for each value (numbers, or strings such as ``"-3/2"``,
    read exactly); ``options`` are the study's (``x``, ``deltas``, ``dps``, ``interval``...). Every other free
    parameter of D must be given too, as ``subs`` in ``options`` (``subs={"beta": 1}``)."""
    if not D.parameters:
        raise ValueError("sweep needs a derivative with a free parameter (a family); study() takes this one")
    names = [p.name for p in D.parameters]
    if name not in names:
        raise ValueError(f"{name!r} is not a parameter of this derivative (its parameters: {', '.join(names)})")
    fixed = dict(options.pop("subs", {}) or {})
    left = sorted(set(names) - {name} - set(fixed))
    if left:
        raise ValueError(f"give the other free parameters values with subs={{...}}: {', '.join(left)}")
    options.setdefault("progress", False)
    exact = [exact_number(v, f"the value of {name}") for v in values]
    if not exact:
        raise ValueError("give at least one value to sweep")
    studies = [study(D.subs(**fixed, **{name: v}), **options) for v in exact]
    return ParameterSweep(name, exact, studies)
