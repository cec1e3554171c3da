"""The source of a PyTorch module for one nonlocal derivative (imports only ``math`` and ``torch``).

The module defines, for tensors ``x`` and ``delta`` (broadcast together, any float dtype):

* ``value(x, delta)``: D_mu f. Where every cell of the closed form has a stable form
  (:func:`nonlocal_calc.codegen.cells.closed_form_block`: log-combinations, exponential-rational forms,
  centred polynomials), that Piecewise printed as ``torch.where`` chains; otherwise (cells that are sums
  with cancellation, functions torch lacks such as polylogarithms, or no closed form at all) the quadrature.
* ``dx(x, delta)``, ``ddelta(x, delta)``: the derivatives of D_mu f, always by the quadrature.
* ``activation(x)``: f itself.

The quadrature is the smoothing-profile form of the code generator's fallback, with a fixed Gauss-Legendre rule:

    D f(x) = sum_(side = +-1) int_0^1 f'(x + side S(t)) g(t, delta) dt + sum_b J_b rho(|b - x|),

``S = delta t^m`` (m removes the fractional powers of rho at 0), ``g = rho(S) dS/dt``, each side cut at the
kinks b of f into panels on which f' is one analytic piece (J_b: the jump of f at b). Its derivatives follow
from the same rule with f'' (derived with SymPy, piece by piece), the jumps K_b of f' at the kinks and the
derivatives of g and rho in delta:

    d/dx D f = sum_side int f''(x + side S) g dt + sum_b [K_b rho(|b - x|) + J_b d/dx rho(|b - x|)],
    d/ddelta D f = sum_side int [side t^m f''(x + side S) g + f'(x + side S) dg/ddelta] dt
                   + sum_b [K_b (b - x)/delta rho(|b - x|) + J_b drho/ddelta(|b - x|)]

(the kink terms for |b - x| < delta). The order N of the rule is planned at build time, per horizon
(:func:`.compiled.plan_orders`).

>>> import nonlocal_calc as nlc
>>> src, info = module_source(nlc.derive("relu", "sign"))
>>> info["value"]
'closed form'
>>> "def derivs(x, delta, order=None):" in src
True
"""

from __future__ import annotations

import sympy as sp

from ..codegen.cells import closed_form_block
from ..codegen.fprime import limits
from ..codegen.printer import NumbaPrinter, PrinterError
from ..codegen.stable import accurate_functions, exp_rational, protect
from ..symbols import delta, x
from .autograd import FUNCTIONS
from .printer import HELPERS, TorchCodePrinter, assignments

#: Bumped whenever the generated torch code changes: part of its cache key.
TORCH_CODEGEN_VERSION = "11"

_S = sp.Symbol("s", positive=True)
_T = sp.Symbol("t", positive=True)
_Y = sp.Symbol("y", real=True)


class _Source:
    """Lines of Python source with indentation."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, line: str = "", ind: int = 0) -> None:
        self.lines.append("    " * ind + line if line else "")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _function(src: _Source, pr: TorchCodePrinter, name: str, args: str, expr: sp.Expr, doc: str,
              ref: str | None = None) -> None:
    """``def name(args): return expr`` with common subexpressions as temporaries."""
    src.add(f"def {name}({args}):")
    src.add(f'"""{doc}"""', 1)
    lines, (val,) = assignments(pr, [accurate_functions(expr)], "_c")
    for ln in lines:
        src.add(ln, 1)
    src.add(f"return {val}" if ref is None else f"return {val} + torch.zeros_like({ref})", 1)
    src.add()
    src.add()


def stable_form(expr: sp.Expr) -> sp.Expr:
    """A function of x in a form without overflow and cancellation where the code generator has one: two
    exponential-rational forms split at x = 0, ``c (1 +- erf(a))`` as ``c erfc(-+a)``, an algebraic function as
    one factored fraction; else as it is.

    >>> import sympy as sp
    >>> from nonlocal_calc.symbols import x
    >>> stable_form(sp.exp(x) / (1 + sp.exp(x)))
    Piecewise((exp(x)/(exp(x) + 1), x < 0), (1/(1 + exp(-x)), True))
    """
    from ..codegen.gauss import erfc_form

    expr = sp.sympify(expr)
    if not expr.has(x):
        return expr
    er = exp_rational(expr)
    if er is not None:
        return sp.Piecewise((er[0], x < 0), (er[1], True))
    if not expr.atoms(sp.Function):  # algebraic: one fraction (isru's f' = (1 - x**2/(1 + x**2))/sqrt(1 + x**2)
        return sp.factor(sp.together(expr))  # cancels to 1e-10 relative at x = -1000; (1 + x**2)**(-3/2) does not)
    e = sp.expand(expr) if expr.has(sp.erf) else expr
    return protect(erfc_form(e))


def _rho_form(D):
    """``(rho(s, delta) for s > 0, m, g(t, delta), S(t))`` of the code generator's quadrature fallback."""
    from ..codegen.emit import S_VAR as BS
    from ..codegen.emit import T_VAR as BT
    from ..codegen.quadrature import rho_parts, weight_in_t

    rho, m = rho_parts(D)
    g, s_of_t = weight_in_t(rho, m)
    return rho.xreplace({BS: _S}), m, g.xreplace({BT: _T}), s_of_t.xreplace({BT: _T})


def _closed_value(D):
    """The stable closed form as one SymPy Piecewise, or ``(None, why)``."""
    if D.method != "closed-form":
        return None, "no closed form"
    try:
        sym = closed_form_block(NumbaPrinter(), D).value
    except PrinterError as exc:
        return None, f"the closed form does not compile ({exc})"
    if sym is None:
        return None, "cells of the closed form are sums with cancellation"
    try:
        TorchCodePrinter().doprint(accurate_functions(sym))
    except PrinterError as exc:
        return None, str(exc)
    return sym, "closed form"


def _pieces(D):
    act = D.activation
    pieces, bps = list(act.pieces), list(act.breakpoints)
    d1 = [sp.diff(p, x) for p in pieces]
    d2 = [sp.diff(p, x) for p in d1]
    jumps_f = [sp.simplify(pieces[i + 1].subs(x, b) - pieces[i].subs(x, b)) for i, b in enumerate(bps)]
    jumps_fp = [sp.simplify(d1[i + 1].subs(x, b) - d1[i].subs(x, b)) for i, b in enumerate(bps)]
    return pieces, bps, d1, d2, jumps_f, jumps_fp


def _quadrature(src: _Source, D, name: str, what: str) -> None:
    """``name(x, delta, rule=None, mag=False)``: the quadrature of ``what`` ("value" or "derivs"; with
    ``mag``, the same sum of the magnitudes of the terms of f', the scale of its rounding errors, for the planning
    of the order)."""
    pieces, bps, d1, d2, jf, jfp = _pieces(D)
    rho, m, g, s_of_t = _rho_form(D)
    nb = len(bps)
    pr = TorchCodePrinter({_T: "t", _S: "s"}, ref="x")
    src.add(f"def {name}(x, delta, rule=None, mag=False):")
    src.add(f'"""Gauss-Legendre quadrature of the smoothing-profile form: {what}."""', 1)
    src.add("nodes, weights = RULES[ORDER] if rule is None else rule", 1)
    src.add("zero = torch.zeros_like(x + delta)", 1)
    outs = ["acc"] if what == "value" else ["acc_x", "acc_d"]
    for o in outs:
        src.add(f"{o} = zero", 1)
    cuts = [pr.doprint(b - x) for b in bps]
    for side in (1, -1):
        src.add(f"# side {side:+d}: s = {side} * delta * t**{m}", 1)
        if nb:
            tcs = []
            for i, c in enumerate(cuts):
                ratio = f"torch.clamp(({c}) / delta, 0.0, 1.0)" if side == 1 else \
                    f"torch.clamp(-({c}) / delta, 0.0, 1.0)"
                src.add(f"tc{i} = {ratio}" + ("" if m == 1 else f" ** {1.0 / m!r}"), 1)
                tcs.append(f"tc{i}")
            ends = ["zero"] + (tcs if side == 1 else tcs[::-1]) + ["zero + 1.0"]
        else:
            ends = ["0.0", "1.0"]
        for j in range(nb + 1):
            piece = j if side == 1 else nb - j
            a, b = ends[j], ends[j + 1]
            src.add(f"a, h = {a}, ({b}) - ({a})" if nb else "a, h = 0.0, 1.0", 1)
            src.add("for tk, wk in zip(nodes, weights):", 1)
            src.add("t = a + h * tk", 2)
            src.add(f"y = x + ({float(side)!r}) * ({pr.doprint(s_of_t)})", 2)
            if nb:  # into the piece's interval: an empty panel (h = 0) must not meet a pole of the other pieces
                lo = "None" if piece == 0 else pr.doprint(bps[piece - 1])
                hi = "None" if piece == nb else pr.doprint(bps[piece])
                src.add(f"y = torch.clamp(y, min={lo}, max={hi})", 2)
            src.add("w = (wk * h) * _g(t, delta)", 2)
            if what == "value":
                src.add(f"acc = acc + (torch.abs(w) * _fpa{piece}(y) if mag else w * _fp{piece}(y))", 2)
            else:
                src.add(f"f1, f2 = _fp{piece}(y), _fpp{piece}(y)", 2)
                src.add("acc_x = acc_x + w * f2", 2)
                tm = pr.doprint(_T**m)
                src.add(f"acc_d = acc_d + (wk * h) * (({float(side)!r}) * ({tm}) * f2 * _g(t, delta) "
                        f"+ f1 * _gd(t, delta))", 2)
    # the kink terms
    ax = sp.Symbol("_ax", positive=True)
    for i, b in enumerate(bps):
        terms = {}
        dist = sp.Abs(b - x)
        if what == "value":
            if jf[i] != 0:
                terms["acc"] = jf[i] * rho.subs(_S, dist)
        else:
            ex = jfp[i] * rho.subs(_S, dist) + jf[i] * sp.diff(rho.subs(_S, dist), x)
            ed = jfp[i] * (b - x) / delta * rho.subs(_S, dist) + jf[i] * sp.diff(rho, delta).subs(_S, dist)
            if ex != 0:
                terms["acc_x"] = ex
            if ed != 0:
                terms["acc_d"] = ed
        for o, e in terms.items():
            e = e.xreplace({dist: ax})
            pr.names[ax] = "ax"
            src.add(f"ax = torch.abs({pr.doprint(b - x)})", 1)
            src.add(f"{o} = {o} + torch.where(ax < delta, {pr.doprint(e)}, zero)", 1)
    src.add(f"return {', '.join(outs)}", 1)
    src.add()
    src.add()


def _quadrature_helpers(src: _Source, D) -> set[str]:
    """``_fp{i}``, ``_fpp{i}`` (f' and f'' of piece i in stable forms), ``_g``, ``_gd`` (the weight and its
    delta derivative)."""
    pieces, bps, d1, d2, _, _ = _pieces(D)
    _, _, g, _ = _rho_form(D)
    helpers: set[str] = set()
    for i, (a, b) in enumerate(zip(d1, d2)):
        fp = stable_form(a)
        for name, e, doc in ((f"_fp{i}", fp, "f'"), (f"_fpa{i}", _magnitudes(fp), "the sum of |terms| of f'"),
                             (f"_fpp{i}", stable_form(b), "f''")):
            pr = TorchCodePrinter({_Y: "y"}, ref="y")
            _function(src, pr, name, "y", e.xreplace({x: _Y}), f"{doc} of piece {i}", ref="y")
            helpers |= pr.helpers
    for name, e, doc in (("_g", g, "the weight g(t, delta) = rho(S) dS/dt"),
                         ("_gd", sp.diff(g, delta), "d/ddelta of the weight")):
        pr = TorchCodePrinter({_T: "t"}, ref="t")
        _function(src, pr, name, "t, delta", e, doc, ref="t + delta")
        helpers |= pr.helpers
    return helpers


def _magnitudes(e: sp.Expr) -> sp.Expr:
    """The sum of the magnitudes of the terms of ``e`` (branch by branch): the scale of its rounding errors."""
    if isinstance(e, sp.Piecewise):
        return sp.Piecewise(*[(_magnitudes(v), c) for v, c in e.args], evaluate=False)
    return sp.Add(*[sp.Abs(t) for t in sp.Add.make_args(sp.expand(e, deep=False))])


def _activation(src: _Source, D) -> set[str]:
    act = D.activation
    expr = act.expr if not act.breakpoints else sp.Piecewise(
        *[(stable_form(p), x < b) for p, b in zip(act.pieces, act.breakpoints)], (stable_form(act.pieces[-1]), True))
    expr = stable_form(expr) if not act.breakpoints else expr
    pr = TorchCodePrinter(ref="x")
    _function(src, pr, "activation", "x", expr, f"f(x) = {act.expr}", ref="x")
    return pr.helpers


def module_source(D, plans: dict | None = None) -> tuple[str, dict]:
    """The module's source and what it does (``{"value": "closed form" | "quadrature", "why": ...}``).

    ``plans``: ``{"float64": ((delta, N), ...), "float32": ...}``, the number N of Gauss-Legendre nodes per panel
    for horizons up to each delta, per computing dtype (None: a placeholder of 1 node, for the planning itself).
    """
    from ..codegen.gauss import legendre01

    sym, why = _closed_value(D)
    plans = plans or {"float64": ((1e308, 1),), "float32": ((1e308, 1),)}
    info = {"value": "closed form" if sym is not None else "quadrature", "why": why, "plans": plans}
    body = _Source()
    helpers = _activation(body, D)
    helpers |= _quadrature_helpers(body, D)
    _quadrature(body, D, "_quad_value", "value")
    _quadrature(body, D, "_quad_derivs", "derivs")
    lo, hi = limits(D)
    pr = TorchCodePrinter(ref="x")
    if sym is not None:
        _function(body, pr, "_closed", "x, delta", sym, "The stable closed form.", ref="x + delta")
        helpers |= pr.helpers
        main = "_closed(x, delta)"
    else:
        main = ("_quad_value(*_wide(x, delta), RULES[order or _default(x)]).to(x.dtype)" if _wide_value(D)
                else "_quad_value(x, delta, RULES[order or _default(x)])")
    body.add("def value(x, delta, order=None):")
    body.add(f'"""D_mu f(x) for delta > 0 ({info["value"]}); the limits at x = +-inf."""', 1)
    body.add(f"v = {main}", 1)
    body.add(f"v = torch.where(x == math.inf, {_lim(pr, hi)}, v)", 1)
    body.add(f"v = torch.where(x == -math.inf, {_lim(pr, lo)}, v)", 1)
    body.add("return torch.where(delta > 0.0, v, math.nan)", 1)
    body.add()
    body.add()
    body.add("def derivs(x, delta, order=None):")
    body.add('"""(d/dx, d/ddelta) of D_mu f, by the quadrature (``order`` nodes per panel; default: the largest'
             ' planned for the dtype)."""', 1)
    body.add("return _quad_derivs(x, delta, RULES[order or _default(x)])", 1)
    body.add()
    for ln in FUNCTIONS.splitlines():
        body.add(ln)
    head = _Source()
    head.add(f'"""D_mu {D.activation.name} for the kernel {D.kernel.name} in PyTorch (generated by nonlocal_calc.torch).')
    head.add()
    head.add(f"Value: {info['value']} ({why}); derivatives: Gauss-Legendre quadrature, with the number of nodes")
    head.add("per panel planned for each horizon (PLAN).")
    head.add('"""')
    head.add()
    head.add("import math")
    head.add()
    head.add("import torch")
    head.add()
    head.add("#: (largest delta, nodes per panel), planned when the module was built for float64 data (PLAN) and")
    head.add("#: float32, float16, bfloat16 data (PLAN32, computed in float32); ORDER, ORDER32: the largest of them")
    for name, key in (("PLAN", "float64"), ("PLAN32", "float32")):
        head.add(f"{name} = {tuple((float(d), int(n)) for d, n in plans[key])!r}")
    head.add(f"ORDER = {max(n for _, n in plans['float64'])}")
    head.add(f"ORDER32 = {max(n for _, n in plans['float32'])}")
    head.add("#: Gauss-Legendre nodes and weights on [0, 1], by order")
    head.add("RULES = {")
    for n in sorted({n for p in plans.values() for _, n in p}):
        tk, wk = legendre01(n)
        head.add(f"    {n}: ({tuple(float(v) for v in tk)!r}, {tuple(float(v) for v in wk)!r}),")
    head.add("}")
    head.add()
    head.add()
    head.add("def order_for(delta, dtype=torch.float64):")
    head.add('"""The order planned for the horizon ``delta`` (a number) and data of ``dtype``: that of the next'
             ' planned delta."""', 1)
    head.add("plan = PLAN if dtype == torch.float64 else PLAN32", 1)
    head.add("for d, n in plan:", 1)
    head.add("if delta <= d:", 2)
    head.add("return n", 3)
    head.add("return plan[-1][1]", 1)
    head.add()
    head.add()
    head.add("def _default(x):")
    head.add('"""The order for a delta that is a tensor (its value is not read): the largest planned for the dtype."""',
             1)
    head.add("return ORDER if x.dtype == torch.float64 else ORDER32", 1)
    head.add()
    head.add()
    head.add("def _wide(x, delta):")
    head.add('"""The value\'s quadrature of a sign-changing f\' (GELU, SiLU) or a jump of f runs in float64 for every'
             " dtype (with the orders planned for the dtype): in float32 it loses the last bits float32 results"
             " need.\"\"\"", 1)
    head.add("return (x, delta) if x.dtype == torch.float64 else (x.double(), delta.double())", 1)
    head.add()
    head.add()
    for h in sorted(helpers):
        for ln in HELPERS[h].splitlines():
            head.add(ln)
        head.add()
        head.add()
    return head.text() + body.text(), info


def _wide_value(D) -> bool:
    """Whether the value's quadrature runs in float64 for float32 data: where f' may change sign (SymPy cannot
    show every piece nonnegative), as the ufunc's sum does, and where f jumps (the jump term J rho(|b - x|)
    cancels near |b - x| = delta: binary_step with power(-1/2) was 1.9e-6 off in float32)."""
    _, _, d1, _, jf, _ = _pieces(D)
    nonneg = all(d.is_nonnegative or stable_form(d).is_nonnegative for d in d1)
    return not nonneg or any(j != 0 for j in jf)


def _lim(pr: TorchCodePrinter, v: sp.Expr) -> str:
    return "math.nan" if v is sp.nan or not v.is_finite and v not in (sp.oo, -sp.oo) else pr.doprint(v)
