"""A study in words: numbers formatted for reading, the summary lines and the Markdown table."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

from .. import markup

if TYPE_CHECKING:
    from .result import ConvergenceStudy


def fmt(v: Any, n: int = 8) -> str:
    if v is None:
        return "-"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = mpmath.mpf(v)
    if v == 0:
        return "0"
    return mpmath.nstr(v, n, min_fixed=-4, max_fixed=6)


def fixed(v: float, digits: int) -> str:
    """Fixed-point text without a negative zero (-0.0000 reads as a sign where there is none)."""
    return f"{round(v, digits) + 0.0:.{digits}f}"


def short(c: sp.Expr) -> str:
    """A SymPy constant as text: exact when short, else 15 digits."""
    text = sp.sstr(c)
    return text if len(text) <= 40 else mpmath.nstr(mpmath.mpf(sp.N(c, 20)), 15)


def fmt_order(q: float | None, digits: int = 4) -> str:
    if q is None:
        return "-"
    fr = Fraction(q).limit_denominator(12)
    if abs(float(fr) - q) < 1e-9:
        return str(fr)
    return f"{q:.{digits}f}"


def mode_words(s: ConvergenceStudy) -> str:
    if s.mode == "pointwise":
        return "pointwise error"
    return f"{s.mode} norm of D_mu f - f' on [{fmt(s.interval[0], 6)}, {fmt(s.interval[1], 6)}]"


def summary(study: ConvergenceStudy) -> str:
    """A few lines in words: order, constant, limit, cross-check."""
    lines = [f"{study.label}: {mode_words(study)} ({study.method}, {study.dps} digits)"]
    if study.limit is not None:
        lines.append(f"limit as delta -> 0: {fmt(study.limit, 15)} ({study.limit_kind})")
    if study.observed_order is not None:
        rng = f"delta in [{fmt(study.fit_range[0], 3)}, {fmt(study.fit_range[1], 3)}], {study.fit_points} points"
        lines.append(f"observed order {fixed(study.observed_order, 4)} ({rng})")
    if study.exact_below is not None:
        lines.append(f"error zero to working precision for every delta <= {fmt(study.exact_below, 6)}")
    pred = "none" if study.predicted_order is None else fmt_order(study.predicted_order)
    lines.append(f"predicted order {pred}")
    if study.predicted_constant is not None or study.observed_constant is not None:
        lines.append(
            f"constant: observed {fmt(study.observed_constant, 10)}, predicted {fmt(study.predicted_constant, 10)}"
        )
    if study.theory:
        lines.append(f"theory: {study.theory}")
    checked = sum(c is not None for c in study.crosscheck)
    if checked:
        worst = max(c for c in study.crosscheck if c is not None)
        lines.append(f"quadrature cross-check: {checked} values, max |closed form - quadrature| = {fmt(worst, 3)}")
    for d in study.disagreements:
        lines.append(f"DISAGREEMENT: {d}")
    return "\n".join(lines)


def table(study: ConvergenceStudy) -> str:
    """The study as a Markdown table, with the summary above it."""
    pointwise = study.mode == "pointwise"
    head = ["delta"]
    if pointwise:
        head += ["D_mu f(x)", "error D_mu f(x) - limit" if study.limit is not None else "(no limit)"]
    else:
        head += [f"{study.mode} norm of D_mu f - f'"]
    head += ["local order", "error / delta^q" if study.predicted_order is not None else "", "closed vs quadrature"]
    head = [h for h in head if h]
    rows = []
    local = study.local_orders
    for i, (d, e) in enumerate(zip(study.deltas, study.errors)):
        row = [fmt(d, 6)]
        if pointwise:
            row.append(fmt(study.values[i], 20))
            row.append(fmt(e, 10) if study.limit is not None else "")
        else:
            row.append(fmt(e, 10))
        row.append("" if local[i] is None else fixed(local[i], 4))
        if study.predicted_order is not None:
            row.append(fmt(e / mpmath.mpf(d) ** study.predicted_order, 10) if e != 0 else "0")
        c = study.crosscheck[i] if i < len(study.crosscheck) else None
        row.append("" if c is None else fmt(c, 2))
        rows.append(row[: len(head)])
    title, *facts = summary(study).splitlines()
    bullets = [f"- {markup.prose(t, cell=False)}" for t in facts]
    return "\n".join([f"**{markup.escape(title)}**", "", *bullets, "",
                      markup.table([markup.escape(h) for h in head], rows)]) + "\n"
