"""The study itself: :func:`study` checks its arguments, evaluates D for each horizon, cross-checks every value
and hands the errors to the theory and the fit."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp

from .crosscheck import evaluator, independent, tolerance
from .fitting import fit_into
from .norms import lp_norm
from .pieces import Pieces
from .result import ConvergenceStudy, ConvergenceWarning
from .text import fmt
from .theory import norm_theory, pointwise_theory

#: The horizons of a default study: 1/2, 1/4, ..., 1/1024 (ten values).
DEFAULT_DELTAS: tuple[str, ...] = tuple(f"1/{2**k}" for k in range(1, 11))


#: The norms a study over an interval understands, with their exponent p.
NORMS: dict[str, float] = {"L1": 1.0, "L2": 2.0, "Linf": math.inf}


def study(
    D: Any,
    x: float | str | None = 0.3,
    deltas: Sequence[float | str] | None = None,
    dps: int = 50,
    *,
    interval: tuple[float | str, float | str] | None = None,
    norm: str = "L2",
    crosscheck: bool = True,
    progress: bool | None = None,
) -> ConvergenceStudy:
    """Measure the error of ``D`` (from :func:`nonlocal_calc.derive`) as the horizon shrinks.

    Pointwise (default): the error ``D_mu f(x) - L`` where ``L`` is ``f'(x)`` at smooth points and the
    average of the one-sided derivatives at a kink. Over an interval (``interval=(a, b)``): the
    ``norm`` (``"L1"``, ``"L2"`` or ``"Linf"``) of ``D_mu f - f'``, by mpmath quadrature split at
    the kinks and at kink +- delta. ``deltas`` defaults to :data:`DEFAULT_DELTAS`; numbers given
    as strings (``"1/8"``, ``"0.01"``) are taken exactly. ``crosscheck`` compares each closed-form
    value with an independent quadrature of the defining integral (at every pointwise horizon; at
    five points per horizon in a norm study). ``progress`` shows a tqdm bar (default: only on a
    terminal, and only once the study has run for a second).

    >>> import nonlocal_calc as nlc
    >>> s = study(nlc.derive("softsign", "sign"), x=0)   # f'' jumps at 0: first order
    >>> s.predicted_order, round(s.observed_order, 3), float(s.predicted_constant)
    (1, 0.996, -0.6666666666666666)
    """
    import time

    t0 = time.perf_counter()
    if getattr(D, "parameters", ()):
        names = ", ".join(p.name for p in D.parameters)
        raise ValueError(f"D has free parameters ({names}): study a member, D.subs({D.parameters[0].name}=...), or "
                         f"sweep the family with nonlocal_calc.convergence.sweep(D, {D.parameters[0].name!r}, values)")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if int(dps) != dps or dps < 15:
        raise ValueError(f"dps must be an integer >= 15 (digits of working precision), got {dps!r}")
    dps = int(dps)
    with mpmath.workdps(dps):
        ds = _parse_deltas(deltas)
        if interval is not None:
            a, b = (_num(v, "interval end") for v in interval)
            if not a < b:
                raise ValueError(f"interval must be (a, b) with a < b, got {tuple(interval)}")
            out = _norm_study(D, a, b, norm, ds, dps, crosscheck, progress)
        else:
            if x is None:
                raise ValueError("give a point x or an interval=(a, b)")
            out = _pointwise_study(D, _num(x, "x"), ds, dps, crosscheck, progress)
    out.seconds = time.perf_counter() - t0
    for msg in out.disagreements:
        warnings.warn(f"{out.label}: {msg}", ConvergenceWarning, stacklevel=2)
    return out


def _parse_deltas(deltas: Sequence[float | str] | None) -> list[mpmath.mpf]:
    vals = [_num(d, "delta") for d in (deltas if deltas is not None else DEFAULT_DELTAS)]
    if len(vals) < 2:
        raise ValueError("a convergence study needs at least two horizons (deltas)")
    if any(d <= 0 for d in vals):
        raise ValueError(f"every delta must be positive (a horizon), got {[fmt(d, 6) for d in vals]}")
    if len(set(vals)) != len(vals):
        raise ValueError("the deltas must be distinct")
    return sorted(vals, reverse=True)


def _num(v: Any, what: str) -> mpmath.mpf:
    """An exact-as-possible mpmath number: strings like '1/8' or '0.3' are read as decimals/fractions."""
    try:
        if isinstance(v, str):
            fr = Fraction(v.strip())
            return mpmath.mpf(fr.numerator) / fr.denominator
        if isinstance(v, float):
            fr = Fraction(repr(v))  # 0.3 means 3/10, not the nearest binary double
            return mpmath.mpf(fr.numerator) / fr.denominator
        if isinstance(v, sp.Basic):
            return mpmath.mpf(sp.Rational(v)) if v.is_Rational else mpmath.mpf(sp.N(v, mpmath.mp.dps + 5))
        return mpmath.mpf(v)
    except (ValueError, TypeError, ZeroDivisionError):
        raise ValueError(f"{what} must be a real number, got {v!r}") from None


def _progress(total: int, progress: bool | None, desc: str):
    from tqdm.auto import tqdm

    if progress is None:
        progress = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not progress, delay=1.0, leave=False)


def _pointwise_study(D, x0, ds, dps, crosscheck, progress) -> ConvergenceStudy:
    f = Pieces(D.activation)
    kname = getattr(D.kernel, "name", "kernel")
    label = f"{getattr(D.activation, 'name', 'f')}, {kname} kernel, x = {fmt(x0, 10)}"
    th = pointwise_theory(D, f, x0)
    evaluate, reference = evaluator(D, dps), independent(D, f, dps)
    values, errors, checks, bad = [], [], [], []
    bar = _progress(len(ds), progress, "convergence")
    for d in ds:
        try:
            v = evaluate(x0, d)
        except (ZeroDivisionError, ValueError) as exc:  # e.g. an infinite value at a jump
            raise ValueError(f"{label}: D_mu f(x) cannot be evaluated at delta = {fmt(d, 6)} ({exc})") from None
        values.append(v)
        errors.append(v - th["limit"] if th["limit"] is not None else v)
        if crosscheck:
            ref = reference(x0, d)
            diff = abs(v - ref)
            checks.append(diff)
            if diff > tolerance(v, dps):
                bad.append(f"delta = {fmt(d, 6)}: D.evaluate gives {fmt(v, 25)}, the reference quadrature {fmt(ref, 25)}")
        else:
            checks.append(None)
        bar.update()
    bar.close()
    out = ConvergenceStudy(label=label, mode="pointwise", deltas=ds, errors=errors, dps=dps, x=x0, values=values,
                           limit=th["limit"], limit_kind=th["kind"], theory=th["note"],
                           predicted_order=th["order"], predicted_constant=th["constant"],
                           method=getattr(D, "method", ""), crosscheck=checks, disagreements=bad)
    fit_into(out, floor=mpmath.mpf(10) ** (-(dps - 8)) * max(1, abs(values[-1])))
    return out


def _norm_study(D, a, b, norm, ds, dps, crosscheck, progress) -> ConvergenceStudy:
    f = Pieces(D.activation)
    p = NORMS[norm]
    label = (f"{getattr(D.activation, 'name', 'f')}, {getattr(D.kernel, 'name', 'kernel')} kernel, "
             f"{norm} on [{fmt(a, 6)}, {fmt(b, 6)}]")
    th = norm_theory(D, f, a, b, p)
    evaluate, reference = evaluator(D, dps), independent(D, f, dps)
    errors, checks, bad = [], [], []
    bar = _progress(len(ds), progress, f"convergence {norm}")
    for d in ds:
        cuts = sorted({a, b, *(c for bp in f.bps for c in (bp - d, bp, bp + d) if a < c < b)})

        def e(t, d=d):
            return evaluate(t, d) - f(t, 1)

        errors.append(lp_norm(e, cuts, p))
        if crosscheck:  # five points per horizon: near each kink band edge and inside the pieces
            pts = _check_points(cuts, f.bps, d)
            worst = mpmath.mpf(0)
            for t in pts:
                v, ref = evaluate(t, d), reference(t, d)
                worst = max(worst, abs(v - ref))
                if abs(v - ref) > tolerance(v, dps):
                    bad.append(f"delta = {fmt(d, 6)}, x = {fmt(t, 10)}: D.evaluate gives {fmt(v, 25)}, "
                               f"the reference quadrature {fmt(ref, 25)}")
            checks.append(worst)
        else:
            checks.append(None)
        bar.update()
    bar.close()
    out = ConvergenceStudy(label=label, mode=norm, deltas=ds, errors=errors, dps=dps, interval=(a, b),
                           predicted_order=th["order"], predicted_constant=th["constant"], theory=th["note"],
                           method=getattr(D, "method", ""), crosscheck=checks, disagreements=bad)
    fit_into(out, floor=mpmath.mpf(10) ** (-(dps - 8)))
    return out


def _check_points(cuts: list, bps: list, d: mpmath.mpf) -> list:
    pts = [(lo + hi) / 2 for lo, hi in zip(cuts, cuts[1:])]
    near = [bp + d / 3 for bp in bps if cuts[0] < bp + d / 3 < cuts[-1]]
    chosen = (near + pts)[:5]
    i = 0
    while len(chosen) < 5:  # add quarter points until there are five
        lo, hi = cuts[i % (len(cuts) - 1)], cuts[i % (len(cuts) - 1) + 1]
        chosen.append(lo + (hi - lo) * (1 + (i // (len(cuts) - 1))) / 7)
        i += 1
    return chosen
