"""Convergence studies: how fast does ``D_mu f`` approach ``f'`` as the horizon shrinks?

:func:`study` measures the error of a nonlocal derivative for a sequence of horizons, either at a
point or in an ``L1``/``L2``/``Linf`` norm over an interval, at high precision (mpmath). It fits the
observed order, compares it with the order and constant that theory predicts (the moment expansion
``D.series`` at smooth points; the one-sided expansion at kinks; the band estimate in norms, see the
Theory page of the docs), and cross-checks every closed-form value against an independent mpmath
quadrature of the defining integral: a disagreement is reported in the study, never hidden.

>>> import nonlocal_calc as nlc
>>> s = nlc.convergence.study(nlc.derive("tanh", "sign"), x=0.3)
>>> s.predicted_order, round(s.observed_order, 3), s.fit_range
(2, 1.999, (0.0009765625, 0.25))
>>> import mpmath
>>> mpmath.nstr(s.predicted_constant, 15)       # delta**2/12 * tanh'''(0.3): the moment expansion
'-0.113692175508427'
>>> mpmath.nstr(s.observed_constant, 15)        # error / delta**2 at delta = 1/1024
'-0.113692159312643'
>>> relu = nlc.derive("relu", "sign")
>>> k = nlc.convergence.study(relu, x=0)       # at the kink: the average of the one-sided slopes
>>> float(k.limit), k.exact_below
(0.5, 0.5)
>>> n = nlc.convergence.study(relu, interval=(-1, 1), norm="L1", dps=30)
>>> n.predicted_order, round(n.observed_order, 6), round(n.observed_constant, 6) == round(n.predicted_constant, 6)
(1, 1.0, True)
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp

from . import markup
from .symbols import delta, x, z

#: The horizons of a default study: 1/2, 1/4, ..., 1/1024 (ten values).
DEFAULT_DELTAS: tuple[str, ...] = tuple(f"1/{2**k}" for k in range(1, 11))
#: The norms a study over an interval understands, with their exponent p.
NORMS: dict[str, float] = {"L1": 1.0, "L2": 2.0, "Linf": math.inf}
#: Digits of the quadrature sums in a norm (the integrand keeps the study's precision).
_NORM_DPS = 20
#: Highest derivative order the expansions look at.
_KMAX = 9

_s = sp.Symbol("s", positive=True)
_zp = sp.Symbol("z_p", positive=True)


class ConvergenceWarning(UserWarning):
    """The closed form and the independent quadrature disagree (the study records where)."""


# --------------------------------------------------------------------------- result object
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
        lines = [f"{self.label}: {_mode_words(self)} ({self.method}, {self.dps} digits)"]
        if self.limit is not None:
            lines.append(f"limit as delta -> 0: {_fmt(self.limit, 15)} ({self.limit_kind})")
        if self.observed_order is not None:
            rng = f"delta in [{_fmt(self.fit_range[0], 3)}, {_fmt(self.fit_range[1], 3)}], {self.fit_points} points"
            lines.append(f"observed order {_fixed(self.observed_order, 4)} ({rng})")
        if self.exact_below is not None:
            lines.append(f"error zero to working precision for every delta <= {_fmt(self.exact_below, 6)}")
        pred = "none" if self.predicted_order is None else _fmt_order(self.predicted_order)
        lines.append(f"predicted order {pred}")
        if self.predicted_constant is not None or self.observed_constant is not None:
            lines.append(
                f"constant: observed {_fmt(self.observed_constant, 10)}, predicted {_fmt(self.predicted_constant, 10)}"
            )
        if self.theory:
            lines.append(f"theory: {self.theory}")
        checked = sum(c is not None for c in self.crosscheck)
        if checked:
            worst = max(c for c in self.crosscheck if c is not None)
            lines.append(f"quadrature cross-check: {checked} values, max |closed form - quadrature| = {_fmt(worst, 3)}")
        for d in self.disagreements:
            lines.append(f"DISAGREEMENT: {d}")
        return "\n".join(lines)

    def table(self) -> str:
        """The study as a Markdown table, with the summary above it."""
        pointwise = self.mode == "pointwise"
        head = ["delta"]
        if pointwise:
            head += ["D_mu f(x)", "error D_mu f(x) - limit" if self.limit is not None else "(no limit)"]
        else:
            head += [f"{self.mode} norm of D_mu f - f'"]
        head += ["local order", "error / delta^q" if self.predicted_order is not None else "", "closed vs quadrature"]
        head = [h for h in head if h]
        rows = []
        local = self.local_orders
        for i, (d, e) in enumerate(zip(self.deltas, self.errors)):
            row = [_fmt(d, 6)]
            if pointwise:
                row.append(_fmt(self.values[i], 20))
                row.append(_fmt(e, 10) if self.limit is not None else "")
            else:
                row.append(_fmt(e, 10))
            row.append("" if local[i] is None else _fixed(local[i], 4))
            if self.predicted_order is not None:
                row.append(_fmt(e / mpmath.mpf(d) ** self.predicted_order, 10) if e != 0 else "0")
            c = self.crosscheck[i] if i < len(self.crosscheck) else None
            row.append("" if c is None else _fmt(c, 2))
            rows.append(row[: len(head)])
        title, *facts = self.summary().splitlines()
        bullets = [f"- {markup.prose(t, cell=False)}" for t in facts]
        return "\n".join([f"**{markup.escape(title)}**", "", *bullets, "",
                          markup.table([markup.escape(h) for h in head], rows)]) + "\n"

    def plot(self, ax: Any = None, label: str | None = None, reference: bool = True) -> Any:
        """Log-log plot of |error| against delta, with the predicted slope drawn (matplotlib ``Axes``)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.6))
        ds = [float(d) for d in self.deltas]
        es = [float(abs(e)) for e in self.errors]
        nz = [(d, e) for d, e in zip(ds, es) if e > 0]
        what = self.mode if self.mode != "pointwise" else ("error" if self.limit is not None else "|D f|")
        obs = "-" if self.observed_order is None else _fixed(self.observed_order, 3)
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
        q = self.predicted_order
        if reference and q is not None and nz:
            d0, e0 = nz[-1]
            c = float(abs(self.predicted_constant)) if self.predicted_constant else e0 / d0**q
            dd = [min(ds), max(d for d, _ in nz)]
            ax.loglog(dd, [c * t**q for t in dd], "--", color="k", alpha=0.7, lw=1.2, zorder=3,
                      label=f"theory: {_fmt(c, 4)} delta^{_fmt_order(q)}" if self.predicted_constant
                      else f"theory: slope {_fmt_order(q)}")
        ax.set_xlabel("delta")
        ax.set_ylabel("|error|" if self.limit is not None or self.mode != "pointwise" else "|D f|")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        return ax

    def to_dict(self) -> dict:
        """A JSON-ready description (numbers as strings with 20 significant digits)."""
        def num(v):
            return None if v is None else _fmt(v, 20)

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


# --------------------------------------------------------------------------- the study
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
        raise ValueError(f"every delta must be positive (a horizon), got {[_fmt(d, 6) for d in vals]}")
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


def _exact(v: mpmath.mpf) -> sp.Expr:
    """The SymPy number for an mpmath value read from a short decimal (0.3 -> 3/10)."""
    r = sp.nsimplify(mpmath.nstr(v, 30), rational=True)
    return r


def _progress(total: int, progress: bool | None, desc: str):
    from tqdm.auto import tqdm

    if progress is None:
        progress = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not progress, delay=1.0, leave=False)


# ---------------------------------------------------------------- activation and kernel numerics
class _Fn:
    """An activation's pieces, their derivatives and one-sided values at the kinks, in mpmath."""

    def __init__(self, activation: Any):
        pieces = getattr(activation, "pieces", None)
        if pieces is None:  # a duck-typed activation with only ``expr``
            pieces, bps = (activation.expr,), ()
        else:
            bps = tuple(activation.breakpoints)
        self.pieces = tuple(sp.sympify(p) for p in pieces)
        self.bps_exact = tuple(sp.sympify(b) for b in bps)
        self.bps = [mpmath.mpf(sp.N(b, 60)) for b in self.bps_exact]
        self._num: dict[tuple[int, int], Any] = {}

    def piece_index(self, t: mpmath.mpf) -> int:
        """Right-continuous: the piece that holds at t."""
        for i, b in enumerate(self.bps):
            if t < b:
                return i
        return len(self.bps)

    def diff(self, i: int, k: int) -> sp.Expr:
        return _diff(self.pieces[i], k)

    def fn(self, i: int, k: int):
        key = (i, k)
        if key not in self._num:
            self._num[key] = sp.lambdify(x, self.diff(i, k), "mpmath")
        return self._num[key]

    def __call__(self, t: mpmath.mpf, k: int = 0, piece: int | None = None) -> mpmath.mpf:
        i = self.piece_index(t) if piece is None else piece
        return mpmath.mpf(self.fn(i, k)(t))

    def polynomial_degree(self, i: int) -> int | None:
        p = self.pieces[i]
        return sp.Poly(p, x).degree() if p.is_polynomial(x) else None


@lru_cache(maxsize=512)
def _diff(expr: sp.Expr, k: int) -> sp.Expr:
    return sp.diff(expr, x, k) if k else expr


def _kernel_halfmoment(kernel: Any, k: int) -> sp.Expr:
    """``A_k = int_0^delta z**k mu(z) dz`` (``A_0 = rho(0)``, possibly infinite for singular kernels)."""
    return _halfmoment(kernel.mu_plus, bool(getattr(kernel, "discrete", False)), k)


@lru_cache(maxsize=512)
def _halfmoment(mu_plus: sp.Expr, discrete: bool, k: int) -> sp.Expr:
    if discrete:
        return sp.simplify(mu_plus * delta**k)
    val = sp.integrate((z**k * mu_plus).subs(z, _zp), (_zp, 0, delta))
    if isinstance(val, sp.Piecewise):  # SymPy's convergence guard for the power family
        val = val.args[0][0]
    return sp.simplify(val)


def _is_zero(c: sp.Expr) -> bool:
    """Whether a constant SymPy expression vanishes (numerically at 60 digits, symbolically if that fails)."""
    c = sp.sympify(c)
    if c == 0:
        return True
    try:
        return abs(mpmath.mpmathify(sp.N(c, 60))) < mpmath.mpf(10) ** -45
    except (TypeError, ValueError):
        return sp.simplify(c) == 0


def _leading(expr: sp.Expr, _series: bool = True) -> tuple[sp.Expr, sp.Expr] | None:
    """(coefficient, exponent) of the leading term of expr as delta -> 0+, None if expr vanishes."""
    expr = sp.expand(expr)
    groups: dict[sp.Expr, sp.Expr] = {}
    for t in sp.Add.make_args(expr):
        c, e = t.as_coeff_exponent(delta)
        if c.has(delta):  # not a sum of powers of delta (e.g. a Gaussian kernel's moments): expand first
            if not _series:
                return None
            return _leading(sp.series(expr, delta, 0, 12).removeO(), _series=False)
        groups[e] = groups.get(e, sp.Integer(0)) + c
    for e in sorted(groups, key=float):
        if not _is_zero(groups[e]):
            return groups[e], e
    return None


def _order_number(e: sp.Expr) -> float | int:
    e = sp.nsimplify(e)
    return int(e) if e.is_Integer else float(e)


# ---------------------------------------------------------------- evaluation of D and its cross-check
def _evaluator(D: Any, dps: int):
    """(t, delta) -> D_mu f(t) as mpmath numbers: the closed form in mpmath, or quadrature (D.evaluate)."""
    return lambda t, d: mpmath.mpf(D.evaluate(t, d, dps=dps))


def _reference(D: Any, f: _Fn, dps: int):
    """An independent value of D_mu f(t) to check D.evaluate against.

    For a closed form: :func:`nonlocal_calc.reference.nonlocal_quad` (tanh-sinh quadrature of the
    defining integral). A quadrature pair is evaluated by that very routine, so it is checked with
    a different integrand instead: the folded form ``int_0^delta [f(t+z) - f(t-z)] mu(z) dz``.
    """
    if getattr(D, "method", "") == "quadrature":
        return lambda t, d: _folded_quad(f, D.kernel, t, d, dps)
    from .reference import nonlocal_quad

    return lambda t, d: nonlocal_quad(D.activation, D.kernel, t, d, dps=dps)


def _folded_quad(f: _Fn, kernel: Any, t: mpmath.mpf, d: mpmath.mpf, dps: int) -> mpmath.mpf:
    """``int_0^d [f(t+z) - f(t-z)] mu(z) dz`` by tanh-sinh, cut where t +- z crosses a kink."""
    with mpmath.workdps(dps + 10):
        mu = _mu_numeric(kernel.mu_plus)
        if getattr(kernel, "discrete", False):
            return +(mpmath.mpf(mu(d, d)) * (f(t + d) - f(t - d)))
        cuts = sorted({abs(b - t) for b in f.bps if 0 < abs(b - t) < d})
        return +mpmath.quad(lambda w: (f(t + w) - f(t - w)) * mu(w, d), [0, *cuts, d])


@lru_cache(maxsize=128)
def _mu_numeric(mu_plus: sp.Expr):
    return sp.lambdify((z, delta), mu_plus, "mpmath")


def _crosscheck_tol(value: mpmath.mpf, dps: int) -> mpmath.mpf:
    """Largest |D.evaluate - reference| accepted as rounding: 12 digits short of the working precision."""
    return mpmath.mpf(10) ** (-(dps - 12)) * max(1, abs(value))


# ---------------------------------------------------------------- pointwise study
def _pointwise_study(D, x0, ds, dps, crosscheck, progress) -> ConvergenceStudy:
    f = _Fn(D.activation)
    kname = getattr(D.kernel, "name", "kernel")
    label = f"{getattr(D.activation, 'name', 'f')}, {kname} kernel, x = {_fmt(x0, 10)}"
    th = _pointwise_theory(D, f, x0)
    evaluate, reference = _evaluator(D, dps), _reference(D, f, dps)
    values, errors, checks, bad = [], [], [], []
    bar = _progress(len(ds), progress, "convergence")
    for d in ds:
        try:
            v = evaluate(x0, d)
        except (ZeroDivisionError, ValueError) as exc:  # e.g. an infinite value at a jump
            raise ValueError(f"{label}: D_mu f(x) cannot be evaluated at delta = {_fmt(d, 6)} ({exc})") from None
        values.append(v)
        errors.append(v - th["limit"] if th["limit"] is not None else v)
        if crosscheck:
            ref = reference(x0, d)
            diff = abs(v - ref)
            checks.append(diff)
            if diff > _crosscheck_tol(v, dps):
                bad.append(f"delta = {_fmt(d, 6)}: D.evaluate gives {_fmt(v, 25)}, the reference quadrature {_fmt(ref, 25)}")
        else:
            checks.append(None)
        bar.update()
    bar.close()
    out = ConvergenceStudy(label=label, mode="pointwise", deltas=ds, errors=errors, dps=dps, x=x0, values=values,
                           limit=th["limit"], limit_kind=th["kind"], theory=th["note"],
                           predicted_order=th["order"], predicted_constant=th["constant"],
                           method=getattr(D, "method", ""), crosscheck=checks, disagreements=bad)
    _fit_into(out, floor=mpmath.mpf(10) ** (-(dps - 8)) * max(1, abs(values[-1])))
    return out


def _pointwise_theory(D, f: _Fn, x0: mpmath.mpf) -> dict:
    """The limit of D_mu f(x0) and the leading term of the error, from the expansions of the Theory page."""
    at_kink = [i for i, b in enumerate(f.bps) if abs(b - x0) <= mpmath.mpf(10) ** (-(mpmath.mp.dps - 5))]
    dps = mpmath.mp.dps + 5
    if not at_kink:  # smooth at x0: the moment expansion (what D.series computes)
        xe = _exact(x0)
        piece = f.piece_index(x0)
        limit = mpmath.mpf(sp.N(f.diff(piece, 1).subs(x, xe), dps))
        lead = _moment_leading(D.kernel, f, piece, xe)
        dist = min((abs(b - x0) for b in f.bps), default=None)
        where = "f is smooth at x" + (f" (asymptotic once delta < {_fmt(dist, 6)}, the distance to the nearest kink)"
                                      if dist is not None else "")
        if lead is None:
            deg = f.polynomial_degree(piece)
            why = ("f is a polynomial of degree <= 2 near x, so D_mu f(x) = f'(x) exactly once the horizon stays "
                   "inside that piece" if deg is not None and deg <= 2 else f"no error term up to order {_KMAX}")
            return {"limit": limit, "kind": "derivative", "order": None, "constant": None, "note": f"{where}; {why}"}
        return _lead_dict(limit, "derivative", lead, where)
    # At a kink: sum_k A_k/k! [f^(k)(b+) - (-1)^k f^(k)(b-)] (Theory page, "At a kink").
    i = at_kink[0]
    xe = f.bps_exact[i]

    def sides(k):
        return f.diff(i + 1, k).subs(x, xe), f.diff(i, k).subs(x, xe)

    r0, l0 = sides(0)
    if not _is_zero(r0 - l0):
        jump = sp.nsimplify(r0 - l0)
        a0 = _kernel_halfmoment(D.kernel, 0)
        note = (f"f jumps by {jump} at x: D_mu f(x) ~ jump * rho(0) = {sp.simplify(a0 * jump)} "
                "diverges as delta -> 0 (the values are reported)")
        lead = None if a0.has(sp.oo, sp.zoo, sp.nan) else _leading(a0 * jump)
        return _lead_dict(None, "divergent", lead, note, sep="; ") if lead else {
            "limit": None, "kind": "divergent", "order": None, "constant": None, "note": note}
    r1, l1 = sides(1)
    kink = not _is_zero(r1 - l1)
    limit = mpmath.mpf(sp.N((r1 + l1) / 2, dps))
    for k in range(2, _KMAX + 1):
        r, lft = sides(k)
        bracket = r - (-1) ** k * lft
        if _is_zero(bracket):
            continue
        lead = _leading(_kernel_halfmoment(D.kernel, k) / sp.factorial(k) * bracket)
        if lead is None:
            continue
        if kink:
            where = f"at the kink the limit is the average of the one-sided derivatives ({sp.sstr(l1)} and {sp.sstr(r1)})"
        else:
            jump = [sp.Add(r, -lft) for r, lft in (sides(j) for j in range(k + 1))]
            m = next((j for j in range(2, k + 1) if not _is_zero(jump[j])), None)
            where = (f"f^({m}) jumps by {_short(sp.nsimplify(jump[m]))} at x" if m is not None
                     else "f is smooth at x (a breakpoint where no derivative jumps)")
        return _lead_dict(limit, "kink average" if kink else "derivative", lead, where)
    note = ("at the kink the limit is the average of the one-sided derivatives "
            f"({sp.sstr(l1)} and {sp.sstr(r1)}); every further term of the one-sided expansion vanishes "
            "(f is a polynomial of degree <= 2 on both sides), so the error is zero")
    return {"limit": limit, "kind": "kink average" if kink else "derivative", "order": None, "constant": None,
            "note": note}


def _lead_dict(limit, kind, lead, where, sep="; ") -> dict:
    c, e = lead
    note = f"{where}{sep}error = C*delta**{sp.sstr(e)} + ... with C = {_short(c)}"
    return {"limit": limit, "kind": kind, "order": _order_number(e),
            "constant": mpmath.mpf(sp.N(c, mpmath.mp.dps + 5)), "note": note}


def _moment_leading(kernel: Any, f: _Fn, piece: int, xe: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """Leading term of sum_{k odd >= 3} M_k/k! f^(k)(x), the expansion ``D.series`` computes, term by term.

    (Equal to the leading term of ``D.series(n) - f'(x)``, which the tests check; evaluating the
    terms one at a time at the point avoids expanding the whole series symbolically.)
    """
    for k in range(3, _KMAX + 1, 2):
        dk = f.diff(piece, k).subs(x, xe)
        if _is_zero(dk):
            continue
        lead = _leading(2 * _kernel_halfmoment(kernel, k) / sp.factorial(k) * dk)
        if lead is not None:
            return lead
    return None


# ---------------------------------------------------------------- norm study
def _norm_study(D, a, b, norm, ds, dps, crosscheck, progress) -> ConvergenceStudy:
    f = _Fn(D.activation)
    p = NORMS[norm]
    label = (f"{getattr(D.activation, 'name', 'f')}, {getattr(D.kernel, 'name', 'kernel')} kernel, "
             f"{norm} on [{_fmt(a, 6)}, {_fmt(b, 6)}]")
    th = _norm_theory(D, f, a, b, p)
    evaluate, reference = _evaluator(D, dps), _reference(D, f, dps)
    errors, checks, bad = [], [], []
    bar = _progress(len(ds), progress, f"convergence {norm}")
    for d in ds:
        cuts = sorted({a, b, *(c for bp in f.bps for c in (bp - d, bp, bp + d) if a < c < b)})

        def e(t, d=d):
            return evaluate(t, d) - f(t, 1)

        errors.append(_norm(e, cuts, p))
        if crosscheck:  # five points per horizon: near each kink band edge and inside the pieces
            pts = _check_points(cuts, f.bps, d)
            worst = mpmath.mpf(0)
            for t in pts:
                v, ref = evaluate(t, d), reference(t, d)
                worst = max(worst, abs(v - ref))
                if abs(v - ref) > _crosscheck_tol(v, dps):
                    bad.append(f"delta = {_fmt(d, 6)}, x = {_fmt(t, 10)}: D.evaluate gives {_fmt(v, 25)}, "
                               f"the reference quadrature {_fmt(ref, 25)}")
            checks.append(worst)
        else:
            checks.append(None)
        bar.update()
    bar.close()
    out = ConvergenceStudy(label=label, mode=norm, deltas=ds, errors=errors, dps=dps, interval=(a, b),
                           predicted_order=th["order"], predicted_constant=th["constant"], theory=th["note"],
                           method=getattr(D, "method", ""), crosscheck=checks, disagreements=bad)
    _fit_into(out, floor=mpmath.mpf(10) ** (-(dps - 8)))
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


def _norm(e, cuts: list, p: float) -> mpmath.mpf:
    """The L^p norm (p = inf: sup) of e over [cuts[0], cuts[-1]], e smooth between consecutive cuts.

    e is evaluated at the working precision; the quadrature sums run at (at most) 20 digits, which
    is ample for a norm and spares the integrand the node count of a 50-digit rule.
    """
    if p == math.inf:
        return max(_piece_sup(e, lo, hi) for lo, hi in zip(cuts, cuts[1:]))
    dps = mpmath.mp.dps
    total = mpmath.mpf(0)
    for lo, hi in zip(cuts, cuts[1:]):
        pts = [lo, *_sign_changes(e, lo, hi), hi] if p % 2 else [lo, hi]

        def integrand(t):
            with mpmath.workdps(dps):
                return abs(e(t)) ** p

        with mpmath.workdps(min(dps, _NORM_DPS)):
            total += mpmath.quad(integrand, pts)
    return total ** (1 / mpmath.mpf(p))


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


def _piece_sup(e, lo, hi) -> mpmath.mpf:
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


def _norm_theory(D, f: _Fn, a, b, p: float) -> dict:
    """Predicted order and constant of ||D_mu f - f'||_p on [a, b] (Theory page, "In L^p norms")."""
    terms = []  # (order, constant or None, words)
    notes = []
    # Bulk: the first odd moment beyond M_1 that meets a derivative of f not identically zero on [a, b].
    pieces = [i for i in range(len(f.pieces)) if _piece_meets(f, i, a, b)]
    for k in range(3, _KMAX + 1, 2):
        mk = 2 * _kernel_halfmoment(D.kernel, k)
        if _is_zero(mk.subs(delta, sp.Rational(7, 10))):
            continue
        if all(f.diff(i, k) == 0 for i in pieces):
            continue
        lead = _leading(mk / sp.factorial(k))
        if lead is None:
            continue
        c, e = lead
        nk = _lp_of(lambda t, k=k: f(t, k), [a, *[bp for bp in f.bps if a < bp < b], b], p)
        terms.append((_order_number(e), abs(mpmath.mpf(sp.N(c, mpmath.mp.dps + 5))) * nk,
                      f"bulk M_{k}/{k}! f^({k}): order {_fmt_order(_order_number(e))}"))
        break
    # Bands around the singular points in [a, b].
    for i, bp in enumerate(f.bps):
        if not a <= bp <= b:
            continue
        xe = f.bps_exact[i]
        jumps = [f.diff(i + 1, k).subs(x, xe) - f.diff(i, k).subs(x, xe) for k in range(4)]
        m = next((k for k, j in enumerate(jumps) if not _is_zero(j)), None)
        if m is None or m >= 3 and p != math.inf:
            continue
        q = (m - 1) + (0 if p == math.inf else 1 / p)
        u_range = (-1 if bp > a else 0, 1 if bp < b else 0)
        if m >= 3:  # ties with the bulk in Linf; the constant then mixes both
            terms.append((_order_number(sp.nsimplify(q)), None, f"kink of f^({m}) at {xe}"))
            continue
        const = _band_constant(D.kernel, m, p, u_range)
        const = None if const is None else abs(mpmath.mpf(sp.N(jumps[m], mpmath.mp.dps + 5))) * const
        word = {0: "f jumps", 1: "f' jumps", 2: "f'' jumps"}[m]
        terms.append((_order_number(sp.nsimplify(q)), const, f"{word} at {xe}: band order {_fmt_order(q)}"))
    if not terms:
        return {"order": None, "constant": None,
                "note": "D_mu f = f' exactly on the interval (f is piecewise polynomial of degree <= 2 "
                        "and has no kink in it)"}
    q = min(t[0] for t in terms)
    lead = [t for t in terms if abs(t[0] - q) < 1e-12]
    consts = [t[1] for t in lead]
    if any(c is None for c in consts) or (p == math.inf and len(lead) > 1):
        const = None
    elif p == math.inf:
        const = consts[0]
    else:
        const = sum(c ** p for c in consts) ** (1 / mpmath.mpf(p))
    notes = "; ".join(t[2] for t in terms)
    words = f"order min over contributions = {_fmt_order(q)} ({notes})"
    if q < 0 or (q == 0 and const is not None):
        words += "; the error does not tend to zero in this norm"
    return {"order": q, "constant": const, "note": words}


def _piece_meets(f: _Fn, i: int, a, b) -> bool:
    lo = f.bps[i - 1] if i > 0 else -mpmath.inf
    hi = f.bps[i] if i < len(f.bps) else mpmath.inf
    return lo < b and hi > a


def _lp_of(g, cuts: list, p: float) -> mpmath.mpf:
    """||g||_p on [cuts[0], cuts[-1]] for g smooth between cuts (one-sided at the ends)."""
    inner = [(lo, hi) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
    if p == math.inf:
        return max(_piece_sup(g, lo, hi) for lo, hi in inner)
    return _norm(g, [lo for lo, _ in inner] + [inner[-1][1]], p)


def _band_constant(kernel, m: int, p: float, u_range: tuple[int, int]) -> mpmath.mpf | None:
    """||g_m||_p over u_range, with g_m the blown-up error profile of a jump in f^(m) (delta = 1)."""
    rho1 = _unit_profile(kernel)
    if rho1 is None:
        return None
    lo, hi = u_range
    if m == 0:  # a jump of f: the error is rho itself
        if p == math.inf:
            return rho1(mpmath.mpf(0)) if kernel_is_bounded(kernel) else mpmath.inf
        return _norm(lambda u: rho1(u), [mpmath.mpf(lo), mpmath.mpf(0), mpmath.mpf(hi)][(0 if lo else 1):(3 if hi else 2)], p)

    def R(u):  # int_{-1}^{1} (u+v)_+^{m-1}/(m-1)! rho1(v) dv, for |u| < 1
        if m == 1:
            return mpmath.quad(rho1, [-u, 0, 1] if u > 0 else [-u, 1])
        return mpmath.quad(lambda v: (u + v) * rho1(v), [-u, 0, 1] if u > 0 else [-u, 1])

    def g(u):
        kpart = (1 if u >= 0 else 0) if m == 1 else max(u, 0)
        return R(u) - kpart

    cuts = [mpmath.mpf(c) for c in sorted({lo, 0, hi})]
    with mpmath.workdps(min(mpmath.mp.dps, 30)):
        return +_lp_of(g, cuts, p)


def kernel_is_bounded(kernel: Any) -> bool:
    """Whether rho(0) = int_0^delta mu is finite (false for singular kernels with p <= -1)."""
    a0 = _kernel_halfmoment(kernel, 0)
    return not a0.has(sp.oo, sp.zoo, sp.nan)


@lru_cache(maxsize=64)
def _unit_profile_expr(rho: sp.Expr) -> sp.Expr | None:
    """rho at delta = 1 when the kernel is a rescaling of a fixed shape (delta*rho(delta*u) free of delta)."""
    u = sp.Symbol("u", real=True)
    scaled = sp.simplify(delta * rho.subs(z, delta * u))
    if scaled.has(delta):
        return None
    return scaled.subs(u, z)


def _unit_profile(kernel: Any):
    expr = _unit_profile_expr(sp.sympify(kernel.rho))
    if expr is None:
        return None
    fn = sp.lambdify(z, expr, "mpmath")
    return lambda u: mpmath.mpf(fn(u)) if abs(u) < 1 else mpmath.mpf(0)


# ---------------------------------------------------------------- fitting
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


def _fit_into(out: ConvergenceStudy, floor: mpmath.mpf) -> None:
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


# ---------------------------------------------------------------- formatting
def _fmt(v: Any, n: int = 8) -> str:
    if v is None:
        return "-"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = mpmath.mpf(v)
    if v == 0:
        return "0"
    return mpmath.nstr(v, n, min_fixed=-4, max_fixed=6)


def _fixed(v: float, digits: int) -> str:
    """Fixed-point text without a negative zero (-0.0000 reads as a sign where there is none)."""
    return f"{round(v, digits) + 0.0:.{digits}f}"


def _short(c: sp.Expr) -> str:
    """A SymPy constant as text: exact when short, else 15 digits."""
    text = sp.sstr(c)
    return text if len(text) <= 40 else mpmath.nstr(mpmath.mpf(sp.N(c, 20)), 15)


def _fmt_order(q: float | None, digits: int = 4) -> str:
    if q is None:
        return "-"
    fr = Fraction(q).limit_denominator(12)
    if abs(float(fr) - q) < 1e-9:
        return str(fr)
    return f"{q:.{digits}f}"


def _mode_words(s: ConvergenceStudy) -> str:
    if s.mode == "pointwise":
        return "pointwise error"
    return f"{s.mode} norm of D_mu f - f' on [{_fmt(s.interval[0], 6)}, {_fmt(s.interval[1], 6)}]"
