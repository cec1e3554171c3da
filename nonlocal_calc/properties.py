"""The lecture's activation table, recomputed with SymPy and checked against the lecture.

For each activation: its derivative, range, order of continuity, whether it is monotonic,
whether its derivative is monotonic and whether it approximates the identity near the
origin (f(0) = 0, f'(0) = 1). Parameters (PReLU's and ISRU's alpha) stay symbolic, so a
property comes out as a condition on alpha. ``compare_with_lecture()`` lists every cell
where the computation and the lecture's table disagree, with the reason; nothing is
silently "fixed".

>>> row = properties("softsign")
>>> row["range"], row["continuity"], row["monotonic"]
(Interval.open(-1, 1), 1, True)
>>> [d.column for d in compare_with_lecture() if d.activation == "prelu"]
['derivative', 'range']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import mpmath
import sympy as sp
from sympy.calculus.util import function_range

from . import activations as _acts
from .markup import code, escape
from .markup import table as markdown_table
from .parsing import parse_expr
from .symbols import x

#: The symbolic parameter used for PReLU and ISRU in the table.
alpha = sp.Symbol("alpha", real=True)
alpha_pos = sp.Symbol("alpha", positive=True)

#: Activations of the lecture's table, with symbolic parameters where the lecture has them.
LECTURE_ACTIVATIONS = {
    "identity": lambda: _acts.identity(),
    "binary_step": lambda: _acts.binary_step(),
    "logistic": lambda: _acts.logistic(),
    "tanh": lambda: _acts.tanh(),
    "arctan": lambda: _acts.arctan(),
    "softsign": lambda: _acts.softsign(),
    "isru": lambda: _acts.isru(alpha_pos),
    "relu": lambda: _acts.relu(),
    "leaky_relu": lambda: _acts.leaky_relu(),
    "prelu": lambda: _acts.prelu(alpha),
}


# ------------------------------------------------------------------ helpers
def _domains(act):
    """The interval of each piece; right-continuity puts each kink in the piece to its right."""
    ends = [-sp.oo, *act.breakpoints, sp.oo]
    return [sp.Interval(a, b, left_open=(i == 0), right_open=True) for i, (a, b) in enumerate(zip(ends, ends[1:]))]


def _one_sided(expr, b, side):
    return sp.limit(expr, x, b, side)


def _sign_condition(expr, interval, nonneg: bool):
    """A condition (in the parameters) for expr >= 0 (or <= 0) on the interval."""
    expr = sp.simplify(expr)
    if not expr.has(x):
        return sp.simplify(expr >= 0 if nonneg else expr <= 0)
    bad = sp.solveset(expr < 0 if nonneg else expr > 0, x, interval)
    if bad is sp.S.EmptySet:
        return sp.true
    if isinstance(bad, sp.ConditionSet) or bad.free_symbols - {x}:
        # SymPy could not decide: sample densely (parameters, if any, at 1)
        f = sp.lambdify(x, expr.subs({s: 1 for s in expr.free_symbols - {x}}), "mpmath")
        lo = max(float(interval.inf), -50.0)
        hi = min(float(interval.sup), 50.0)
        vals = [f(mpmath.mpf(lo + (hi - lo) * (i + 0.5) / 4001)) for i in range(4001)]
        return sp.true if all((v >= 0) if nonneg else (v <= 0) for v in vals) else sp.false
    return sp.false


def _monotone_condition(pieces, act, jump_of):
    """Non-decreasing everywhere or non-increasing everywhere, pieces and jumps at kinks both counted."""
    doms = _domains(act)
    conds = []
    for nonneg in (True, False):
        parts = [_sign_condition(p, d, nonneg) for p, d in zip(pieces, doms)]
        for b in act.breakpoints:
            j = sp.simplify(jump_of(b))
            parts.append(sp.simplify(j >= 0 if nonneg else j <= 0))
        conds.append(sp.And(*parts))
    return sp.simplify(sp.Or(*conds))


def _range(act):
    params = sorted(set().union(*(sp.sympify(p).free_symbols for p in act.pieces)) - {x}, key=str)
    if params and not all(p.is_positive for p in params):
        # the image depends on the sign of the parameter: one answer per case
        (a,) = params
        out = {}
        for label, val in (("alpha < 0", -sp.Symbol("a", positive=True)), ("alpha = 0", 0),
                           ("alpha > 0", sp.Symbol("a", positive=True))):
            sub = [p.subs(a, val) for p in act.pieces]
            r = sp.Union(*[function_range(p, x, d) for p, d in zip(sub, _domains(act))])
            out[label] = r.subs(val, a) if val != 0 else r
        return out
    return sp.Union(*[function_range(p, x, d) for p, d in zip(act.pieces, _domains(act))])


def _continuity(act, max_order: int = 8):
    """The largest k with f in C^k (-1: f jumps; oo: no derivative ever jumps)."""
    if not act.breakpoints:
        return sp.oo
    for k in range(max_order + 1):
        for i, b in enumerate(act.breakpoints):
            left = _one_sided(sp.diff(act.pieces[i], x, k), b, "-")
            right = _one_sided(sp.diff(act.pieces[i + 1], x, k), b, "+")
            if sp.simplify(left - right) != 0:
                return k - 1
    return sp.oo


def properties(name: str) -> dict:
    """The recomputed row of the lecture's table for one activation (symbolic alpha where it has one)."""
    act = LECTURE_ACTIVATIONS[name]() if name in LECTURE_ACTIVATIONS else _acts.get(name)
    d1 = [sp.simplify(sp.diff(p, x)) for p in act.pieces]
    d2 = [sp.simplify(sp.diff(p, x, 2)) for p in act.pieces]
    idx = {b: i for i, b in enumerate(act.breakpoints)}

    def jump(pieces, b):
        i = idx[b]
        return _one_sided(pieces[i + 1], b, "+") - _one_sided(pieces[i], b, "-")

    f0 = act.piece_at(0).subs(x, 0)
    if 0 in idx:
        slopes = [_one_sided(d1[idx[0]], 0, "-"), _one_sided(d1[idx[0] + 1], 0, "+")]
    else:
        slopes = [sp.diff(act.piece_at(0), x).subs(x, 0)]
    identity = sp.simplify(sp.And(sp.Eq(f0, 0), *[sp.Eq(s, 1) for s in slopes]))
    kinks_in_f = [b for b in act.breakpoints if sp.simplify(jump(act.pieces, b)) != 0]
    return {
        "name": act.name,
        "expr": act.expr,
        "derivative": d1,
        "derivative_exists_at_kinks": {b: sp.simplify(jump(d1, b)) == 0 and b not in kinks_in_f
                                       for b in act.breakpoints},
        "range": _range(act),
        "continuity": _continuity(act),
        "monotonic": _monotone_condition(d1, act, lambda b: jump(act.pieces, b)),
        "derivative_monotonic": _monotone_condition(d2, act, lambda b: jump(d1, b)),
        "identity_near_origin": identity,
    }


# ------------------------------------------------------------------ the lecture
@dataclass(frozen=True)
class Discrepancy:
    """A cell where the recomputed table and the lecture's disagree."""

    activation: str
    column: str
    lecture: str
    computed: str
    why: str

    def __str__(self) -> str:
        return f"{self.activation} / {self.column}: lecture says {self.lecture}; computed {self.computed}. {self.why}"


def lecture_table() -> dict:
    """The lecture's table, transcribed verbatim (package data)."""
    text = resources.files("nonlocal_calc").joinpath("data/lecture_activation_table.json").read_text()
    return json.loads(text)


def _names(params: dict) -> dict:
    return {"alpha": alpha_pos if params.get("alpha") == "positive" else alpha}


def _lecture_condition(value, params) -> sp.Basic:
    if value == "yes":
        return sp.true
    if value == "no":
        return sp.false
    text = value["iff"]
    for op, rel in ((">=", sp.Ge), ("<=", sp.Le), ("=", sp.Eq), (">", sp.Gt), ("<", sp.Lt)):
        if op in text:
            lhs, rhs = text.split(op)
            names = _names(params)
            return rel(parse_expr(lhs, set(), names), parse_expr(rhs, set(), names))
    raise ValueError(f"cannot read lecture condition {value!r}")


def _lecture_range(value, params) -> sp.Set:
    names = _names(params)
    if "set" in value:
        return sp.FiniteSet(*[parse_expr(v, set(), names) for v in value["set"]])
    lo, hi = (parse_expr(v, set(), names, allow_infinity=True) for v in value["interval"])
    return sp.Interval(lo, hi, *value["open"])


def _same_condition(a, b) -> bool:
    if a in (sp.true, sp.false) or b in (sp.true, sp.false):
        return sp.simplify(sp.Equivalent(a, b)) == sp.true
    syms = (a.free_symbols | b.free_symbols)
    if len(syms) != 1:
        return sp.simplify(sp.Equivalent(a, b)) == sp.true
    (s,) = syms
    return a.as_set() == b.as_set() if a.free_symbols and b.free_symbols else False


def _fmt_set(s: sp.Set) -> str:
    """Sets in the lecture's notation: (a, b), [a, b), {0, 1}."""
    if isinstance(s, sp.Interval):
        return f"{'(' if s.left_open or s.inf == -sp.oo else '['}{s.inf}, {s.sup}{')' if s.right_open or s.sup == sp.oo else ']'}"
    if isinstance(s, sp.FiniteSet):
        return "{" + ", ".join(str(e) for e in s.args) + "}"
    if isinstance(s, sp.Union):
        return " U ".join(_fmt_set(a) for a in s.args)
    return str(s)


def _fmt(v) -> str:
    if isinstance(v, sp.Set):
        return _fmt_set(v)
    if isinstance(v, dict):
        return "; ".join(f"{_fmt(r)} if {k}" for k, r in v.items())
    if v is sp.true:
        return "yes"
    if v is sp.false:
        return "no"
    if v == sp.oo:
        return "C^inf"
    return str(v)


def compare_with_lecture() -> list[Discrepancy]:
    """Every cell where the recomputed table disagrees with the lecture, with the reason."""
    out: list[Discrepancy] = []
    for row in lecture_table()["rows"]:
        name, params = row["name"], row["params"]
        got = properties(name)
        f = got["expr"]
        names = {**_names(params), "f": f}
        # derivative: compare piece by piece, then what the lecture says at the kink
        lect = [parse_expr(p, {"x"}, names) for p in row["derivative"]["pieces"]]
        if len(lect) == 1 and len(got["derivative"]) > 1:
            lect = lect * len(got["derivative"])
        for i, (ld, gd) in enumerate(zip(lect, got["derivative"])):
            lpiece = ld.subs(f, LECTURE_ACTIVATIONS[name]().pieces[i]) if ld.has(f) else ld
            lpiece = sp.piecewise_fold(lpiece.rewrite(sp.Piecewise))
            dom = _domains(LECTURE_ACTIVATIONS[name]())[i]
            probe = dom.inf + 1 if dom.inf.is_finite else (dom.sup - 1 if dom.sup.is_finite else sp.Integer(0))
            diff = sp.simplify(sp.piecewise_fold(lpiece - gd).subs(x, x))
            if diff != 0 and sp.simplify(diff.subs(x, probe)) != 0:
                out.append(Discrepancy(name, "derivative", str(ld), str(gd), f"the piece on {dom} differs"))
        at_kink = row["derivative"].get("at_kink")
        for b, exists in got["derivative_exists_at_kinks"].items():
            if at_kink not in (None, "?") and not exists:
                out.append(Discrepancy(
                    name, "derivative", f"f'({b}) = {at_kink}", f"f'({b}) does not exist",
                    "the one-sided derivatives differ at the kink; the table's value there is a convention "
                    "(a subgradient), not a derivative",
                ))
        # range
        lr = _lecture_range(row["range"], params)
        gr = got["range"]
        if isinstance(gr, dict):
            wrong = {k: r for k, r in gr.items() if r != lr}
            if wrong:
                out.append(Discrepancy(name, "range", _fmt(lr), _fmt(gr),
                                       "the lecture's range holds only for " +
                                       ", ".join(k for k in gr if k not in wrong)))
        elif gr != lr:
            out.append(Discrepancy(name, "range", _fmt(lr), _fmt(gr), "the computed image of R differs"))
        # continuity
        lc = sp.oo if row["continuity"] == "inf" else sp.Integer(row["continuity"])
        if lc != got["continuity"]:
            out.append(Discrepancy(name, "continuity", f"C^{row['continuity']}", _fmt(got["continuity"]),
                                   "a derivative of that order jumps at a kink"))
        for col in ("monotonic", "derivative_monotonic", "identity_near_origin"):
            lv = _lecture_condition(row[col], params)
            gv = got[col]
            if not _same_condition(lv, gv):
                why = {
                    "derivative_monotonic": "f' is piecewise monotone with jumps at the kinks; the jumps count",
                    "monotonic": "sign of f' on every piece and of the jumps of f",
                    "identity_near_origin": "needs f(0) = 0 and f'(0) = 1",
                }[col]
                if name == "binary_step" and col == "derivative_monotonic":
                    why = ("f' = 0 wherever it exists (f jumps at 0, where f' does not exist), so f' is monotone; "
                           "the lecture's 'no' holds only if f' is read as a distribution (a Dirac mass at 0)")
                out.append(Discrepancy(name, col, _fmt(lv), _fmt(gv), why))
    return out


def table_markdown() -> str:
    """The recomputed table as Markdown (the lecture's columns); names, formulas and sets are code spans,
    so that ``x**2`` and ``leaky_relu`` read as written (a row: ``| `relu` | `Piecewise((0, x < 0), (x, True))`
    | `0 ; 1` | `[0, oo)` | C^0 | yes | yes | no |``)."""
    head = ["activation", "f(x)", "f'(x)", "range", "continuity", "monotonic", "f' monotonic", "~identity at 0"]
    rows = []
    for name in LECTURE_ACTIVATIONS:
        r = properties(name)
        cont = _fmt(r["continuity"]) if r["continuity"] == sp.oo else f"C^{r['continuity']}"
        rows.append([code(name), code(r["expr"]), code(" ; ".join(str(d) for d in r["derivative"])),
                     code(_fmt(r["range"])), escape(cont)]
                    + [_cell(r[k]) for k in ("monotonic", "derivative_monotonic", "identity_near_origin")])
    return markdown_table(head, rows)


def _cell(v) -> str:
    """yes / no as words, a condition (``alpha >= 0``) as code."""
    text = _fmt(v)
    return text if text in ("yes", "no") else code(text)
