"""The poster audit: its formula and its code for D_mu1 ReLU, compared with the derived closed form.

The poster ("Nonlocal Approaches to Neural Network Training", UNL) gives D_mu1 ReLU as a
formula and as NumPy code (Figure 5). Both are transcribed verbatim below, turned into
SymPy, and compared branch by branch and term by term with ``derive("relu", "sign")``.
Every discrepancy is computed, with what it does to the function.

>>> report = poster()
>>> sorted({d["kind"] for d in report.discrepancies})
['interval', 'term']
>>> code_effects = report.effects["code"]
>>> code_effects["value_at_0"]
'-1/2'
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import mpmath
import sympy as sp

from . import markup
from .derivation import derive
from .parsing import parse_expr
from .symbols import delta, x

#: The poster's formula for D_mu1 ReLU, verbatim: (branch, interval as written).
#: ``x^2/2\delta^2`` is read as x**2/(2*delta**2), the usual reading of that typesetting.
POSTER_FORMULA = [
    ("0", ("-oo", "-delta")),
    ("x/delta + 1/2 + x**2/(2*delta**2)", ("-delta", "0")),
    ("x/delta + 1/2 - x**2/(2*delta**2)", ("-delta", "0")),
    ("1", ("delta", "oo")),
]

#: The poster's Figure 5, verbatim.
POSTER_CODE = """\
def ReLU_deriv(Z, delta=0.1):
    return np.where(Z <= -delta, 0, # Z < -delta, return 0
    np.where(Z >= delta, 1, # Z > delta, return 1 (m)
    np.where(Z < 0, (Z / delta) - 1 / 2 + (Z**2 / 2 * delta**2), # Z between -delta and 0 (*m)
    (Z / delta) - 1 / 2 + (Z**2 / 2 * delta**2)))) # Z between 0 and delta (*m)
"""

#: The horizon used for the numbers of the report (the poster's default).
DELTA = sp.Rational(1, 10)


def poster_code_expr() -> sp.Expr:
    """The poster's Figure 5 code as a SymPy Piecewise in ``x`` (the code's Z) and ``delta``.

    >>> poster_code_expr().args[0]
    (0, x <= -delta)
    """
    func = ast.parse(POSTER_CODE).body[0]
    ret = next(n for n in ast.walk(func) if isinstance(n, ast.Return))
    return parse_expr(ast.unparse(ret.value), {"delta"}, {"Z": x}, numpy_where=True)


# ------------------------------------------------------------------ helpers
def _regions(expr: sp.Piecewise) -> list[tuple[sp.Expr, sp.Expr, sp.Expr]]:
    """(lo, hi, branch) for a Piecewise with conditions ``x < c`` in increasing order."""
    out, lo = [], -sp.oo
    for e, c in expr.args:
        hi = sp.oo if c == sp.true else c.rhs
        out.append((lo, hi, e))
        lo = hi
    return out


def _branch_of(pw: sp.Expr, point: sp.Expr) -> sp.Expr:
    """The branch of a (possibly nested) Piecewise that holds at ``point`` (delta = DELTA)."""
    if not isinstance(pw, sp.Piecewise):
        return pw
    for e, c in pw.args:
        if bool(c.subs({x: point, delta: DELTA})):
            return _branch_of(e, point)
    raise ValueError(f"no branch of {pw} at x = {point}")


def _describe_ratio(poster: sp.Expr, right: sp.Expr) -> str:
    """Name what turns the right coefficient into the poster's: a sign, a power of delta, a factor."""
    if right == 0:
        return "a term that should not be there"
    if poster == 0:
        return "a missing term"
    ratio = sp.simplify(poster / right)
    parts = []
    if ratio.could_extract_minus_sign():
        parts.append("wrong sign")
        ratio = -ratio
    coeff, dpow = ratio.as_independent(delta, as_Add=False)
    if dpow != 1:
        base, exp = dpow.as_base_exp()
        if base == delta and exp % 2 == 0 and exp > 0:
            parts.append(f"delta**{exp // 2} multiplies where it should divide (a factor delta**{exp} too many)")
        else:
            parts.append(f"off by a factor {dpow}")
    if coeff != 1:
        parts.append(f"off by a factor {coeff}")
    return " and ".join(parts)


def _term_diff(poster: sp.Expr, right: sp.Expr) -> list[dict]:
    """Monomial-by-monomial differences in x of two polynomial branches."""
    pp, rp = sp.Poly(sp.expand(poster), x), sp.Poly(sp.expand(right), x)
    out = []
    for k in range(max(pp.degree(), rp.degree(), 0) + 1):
        a, b = pp.coeff_monomial(x**k), rp.coeff_monomial(x**k)
        if sp.simplify(a - b) != 0:
            out.append({"term": str(x**k) if k else "1", "poster": str(sp.simplify(a * x**k)),
                        "right": str(sp.simplify(b * x**k)), "what": _describe_ratio(a, b)})
    return out


def _one_sided(e: sp.Expr, b: sp.Expr, side: str) -> sp.Expr:
    return sp.limit(e.subs(delta, DELTA), x, b.subs(delta, DELTA), side)


def _sign_word(d: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> str:
    """Sign of a polynomial d on [lo, hi], from its values at the ends and its real roots inside."""
    pts = [lo, hi] + [r for r in sp.solve(d, x) if r.is_real and lo < r < hi]
    vals = [d.subs(x, p) for p in pts]
    inside = d.subs(x, (lo + hi) / 2)
    if all(v > 0 for v in vals):
        return "positive"
    if all(v < 0 for v in vals):
        return "negative"
    if all(v >= 0 for v in vals) and inside > 0:
        return "non-negative (zero at an end)"
    if all(v <= 0 for v in vals) and inside < 0:
        return "non-positive (zero at an end)"
    return "changes sign"


def _effects(func: sp.Expr, right: sp.Expr) -> dict:
    """Value at 0, jumps at -delta, 0, delta, sign of f' in the band, max error on [-delta, delta]."""
    pts = (-DELTA, sp.Integer(0), DELTA)
    fr = {p: (_branch_of(func, p - DELTA / 100), _branch_of(func, p + DELTA / 100)) for p in pts}
    jumps = {}
    for p in pts:
        left, rightb = fr[p]
        jumps[str(p) if p != 0 else "0"] = str(sp.nsimplify(_one_sided(rightb, p, "+") - _one_sided(left, p, "-")))
    slopes = {}
    worst = sp.Integer(0)
    for lo, hi in ((-DELTA, sp.Integer(0)), (sp.Integer(0), DELTA)):
        mid = (lo + hi) / 2
        fb, rb = _branch_of(func, mid).subs(delta, DELTA), _branch_of(right, mid).subs(delta, DELTA)
        d = sp.diff(fb, x)
        slopes[f"({lo}, {hi})"] = _sign_word(d, lo, hi)
        err = sp.expand(fb - rb)
        cands = [lo, hi] + [r for r in sp.solve(sp.diff(err, x), x) if r.is_real and lo < r < hi]
        worst = max([worst] + [abs(err.subs(x, c)) for c in cands])
    return {
        "value_at_0": str(sp.nsimplify(_branch_of(func, sp.Integer(0)).subs({x: 0, delta: DELTA}))),
        "right_value_at_0": str(_branch_of(right, sp.Integer(0)).subs({x: 0, delta: DELTA})),
        "jumps": jumps,
        "derivative_sign_in_band": slopes,
        "max_error_on_band": str(worst),
        "max_error_on_band_float": float(worst),
    }


# ------------------------------------------------------------------ the report
@dataclass
class PosterAudit:
    """The audit's findings: ``discrepancies`` (a list of dicts), ``effects`` and the corrected code."""

    closed_form: sp.Expr
    poster_formula: list
    poster_code: sp.Expr
    discrepancies: list = field(default_factory=list)
    effects: dict = field(default_factory=dict)
    corrected_source: str = ""

    def to_dict(self) -> dict:
        return {
            "closed_form": str(self.closed_form),
            "poster_formula": [(str(e), [str(a), str(b)]) for e, (a, b) in self.poster_formula],
            "poster_code": str(self.poster_code),
            "discrepancies": self.discrepancies,
            "effects": self.effects,
            "delta_for_numbers": str(DELTA),
            "corrected_source": self.corrected_source,
        }

    def __str__(self) -> str:
        lines = ["Poster audit: D_mu1 ReLU (sign kernel, normalized so that D_mu x = 1)", "",
                 f"derived closed form: {self.closed_form}", "", "discrepancies:"]
        for d in self.discrepancies:
            where = f"[{d['source']}] on {d['interval']}"
            if d["kind"] == "term":
                lines.append(f"  - {where}: term {d['term']}: poster {d['poster']}, right {d['right']} ({d['what']})")
            else:
                lines.append(f"  - {where}: {d['what']}")
        lines += ["", f"what the poster's code does (delta = {DELTA}):"]
        e = self.effects["code"]
        lines.append(f"  value at 0: {e['value_at_0']} (right: {e['right_value_at_0']})")
        lines.append("  jumps: " + ", ".join(f"at x = {k}: {v}" for k, v in e["jumps"].items()) + " (right: none)")
        lines.append("  sign of the derivative in the band: " +
                     ", ".join(f"{k}: {v}" for k, v in e["derivative_sign_in_band"].items()))
        lines.append(f"  maximum error on [-delta, delta]: {e['max_error_on_band']} "
                     f"(= {e['max_error_on_band_float']:.6g})")
        r = self.effects["closed_form"]
        lines.append("  (the derived closed form: derivative " +
                     ", ".join(f"{k}: {v}" for k, v in r["derivative_sign_in_band"].items()) + "; no jumps)")
        lines += ["", "corrected NumPy function:", self.corrected_source]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The findings and the effects of the code as Markdown tables, then the corrected function.

        Expressions are code spans and intervals typeset math, so ``delta**2`` reads as written:

        >>> md = poster().markdown()
        >>> "(`delta**2` multiplies where it should divide (a factor `delta**4` too many))" in md
        True
        """
        findings = []
        for d in self.discrepancies:
            what = markup.prose(d["what"])
            if d["kind"] == "term":
                what = (f"term {markup.code(d['term'])}: poster {markup.code(d['poster'])}, "
                        f"right {markup.code(d['right'])} ({what})")
            findings.append([markup.escape(d["source"]), _interval_math(d["interval"]), what])
        e = self.effects["code"]
        jumps = markup.escape(", ".join(f"{v} at x = {k}" for k, v in e["jumps"].items() if v != "0"))
        band, horizon = markup.math(r"[-\delta, \delta]"), markup.math(rf"\delta = {float(DELTA)}")
        effects = [["value at 0", e["value_at_0"], e["right_value_at_0"]],
                   ["jumps", jumps or "none", "none"],
                   [f"max error on {band}", f"{e['max_error_on_band']} = {e['max_error_on_band_float']:.6g}", "0"]]
        return (markup.table(["source", "interval", "finding"], findings) + "\n\n"
                + markup.table([f"effect of the poster's code ({horizon})", "poster", "derived"], effects) + "\n\n"
                + "Corrected NumPy function (emitted and checked by `nlc.audit.poster()`):\n\n```python\n"
                + self.corrected_source + "```\n")


def _interval_math(interval: str) -> str:
    """``"-delta < x < 0"`` as inline math."""
    lo, hi = (parse_expr(v, {"delta"}) for v in interval.split(" < x < "))
    return markup.math(f"{sp.latex(lo)} < x < {sp.latex(hi)}")


def corrected_numpy_source(expr: sp.Expr | None = None, name: str = "relu_deriv") -> str:
    """NumPy source of the derived D_mu1 ReLU, in the shape of the poster's code (``np.where``)."""
    from sympy.printing.numpy import NumPyPrinter

    expr = derive("relu", "sign").expr if expr is None else expr
    pr = NumPyPrinter({"fully_qualified_modules": False})
    Z = sp.Symbol("Z", real=True)
    regions = _regions(expr)
    body = f"{float(regions[-1][2])!r}"
    for _lo, hi, e in reversed(regions[:-1]):
        cond = f"Z < {pr.doprint(hi.subs(x, Z))}"
        body = f"np.where({cond}, {pr.doprint(e.subs(x, Z))},\n        {body})"
    return (
        "import numpy as np\n\n\n"
        f"def {name}(Z, delta=0.1):\n"
        '    """D_mu1 ReLU(Z): the nonlocal ReLU derivative for the sign kernel, normalized (D_mu x = 1)."""\n'
        f"    Z = np.asarray(Z, dtype=float)\n    return {body}\n"
    )


def poster() -> PosterAudit:
    """Run the audit; see :class:`PosterAudit` (``str(report)`` is the human-readable version)."""
    right = derive("relu", "sign").expr
    regions = _regions(right)
    formula = [(parse_expr(e, {"x", "delta"}), tuple(parse_expr(v, {"delta"}, allow_infinity=True) for v in iv))
               for e, iv in POSTER_FORMULA]
    code = poster_code_expr()
    disc: list[dict] = []

    def interval(lo, hi):
        return f"{lo} < x < {hi}"

    # the formula: which branch covers which interval, and is it the right expression there
    for lo, hi, e in regions:
        covering = [i for i, (_, iv) in enumerate(formula) if (iv[0], iv[1]) == (lo, hi)]
        if not covering:
            owner = [i for i, (fe, _) in enumerate(formula) if sp.simplify(fe - e) == 0]
            what = "no branch of the formula covers this interval"
            if owner:
                i = owner[0]
                what += (f"; branch {i + 1} has the right expression for it but is written for "
                         f"{interval(*formula[i][1])}: the interval should read {interval(lo, hi)}")
            disc.append({"source": "formula", "kind": "interval", "interval": interval(lo, hi), "what": what})
            continue
        for i in covering:
            fe = formula[i][0]
            if sp.simplify(fe - e) != 0:
                right_here = len(covering) > 1 and any(sp.simplify(formula[j][0] - e) == 0 for j in covering)
                what = (f"branch {i + 1} repeats this interval with a different expression (two branches claim it)"
                        if right_here else f"branch {i + 1} has the wrong expression")
                disc.append({"source": "formula", "kind": "interval", "interval": interval(lo, hi), "what": what})
                if not right_here:
                    for t in _term_diff(fe, e):
                        disc.append({"source": "formula", "kind": "term", "interval": interval(lo, hi), **t})
    # the code: the branch np.where picks on each interval, term by term
    for lo, hi, e in regions:
        probe = ((lo if lo != -sp.oo else hi - 1) + (hi if hi != sp.oo else lo + 1)) / 2
        ce = _branch_of(code, probe.subs(delta, DELTA))
        for t in _term_diff(ce, e):
            disc.append({"source": "code", "kind": "term", "interval": interval(lo, hi), **t})
    # boundary conventions of the code (<= and >= vs the formula's strict inequalities) do not change values:
    # both sides are continuous there in the right function, so they are not reported.
    report = PosterAudit(right, formula, code, disc)
    report.effects = {"code": _effects(code, right), "closed_form": _effects(right, right)}
    report.corrected_source = corrected_numpy_source(right)
    _check_corrected(report.corrected_source, right)
    return report


def _check_corrected(source: str, right: sp.Expr) -> None:
    """The emitted function must agree with the closed form (checked on a grid, in mpmath)."""
    import numpy as np

    namespace: dict = {}
    exec(compile(source, "<corrected relu_deriv>", "exec"), namespace)  # our own generated code, not user text
    f = sp.lambdify((x, delta), right, "mpmath")
    zs = np.linspace(-0.25, 0.25, 101)
    got = namespace["relu_deriv"](zs, 0.1)
    want = np.array([float(f(mpmath.mpf(v), mpmath.mpf(0.1))) for v in zs])
    if not np.allclose(got, want, rtol=1e-14, atol=1e-15):
        raise AssertionError("the emitted NumPy function disagrees with the closed form")
