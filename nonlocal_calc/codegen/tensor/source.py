"""The printed functions of a pair, the same for every array framework (in the dialect of its printer).

A backend's module (``nonlocal_calc.torch``, ``nonlocal_calc.jax``) is a head of its own (imports, the plan of
the quadrature orders, its dtype rules) and the body printed here, for arrays ``x`` and ``delta`` (broadcast
together):

* ``value(x, delta, order=None)``: D_mu f. Where every cell of the closed form has a stable form
  (:func:`nonlocal_calc.codegen.cells.closed_form_block`: log-combinations, exponential-rational forms, centred
  polynomials), that Piecewise printed as chains of ``where``; otherwise (cells that are sums with cancellation,
  functions the framework lacks such as polylogarithms, or no closed form at all) the quadrature.
* ``derivs(x, delta, order=None)``: d/dx and d/ddelta of D_mu f, always by the quadrature.
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
(:func:`.orders.plan_orders`).

A printer with ``SAFE_GRADIENTS`` (JAX, whose users differentiate ``derivs`` again by automatic
differentiation) also keeps the arguments of the branches a ``where`` does not select finite, where a
derivative would otherwise be infinite there: reverse mode multiplies such a derivative by zero, and 0 * inf
is NaN.

>>> import nonlocal_calc as nlc
>>> from nonlocal_calc.torch.printer import TorchCodePrinter
>>> body, helpers, info = module_body(nlc.derive("relu", "sign"), TorchCodePrinter)
>>> info["value"], sorted(helpers)
('closed form', ['_where'])
>>> "def derivs(x, delta, order=None):" in body
True
"""

from __future__ import annotations

import sympy as sp

from ...symbols import delta, x
from ..cells import closed_form_block
from ..fprime import limits
from ..printer import NumbaPrinter, PrinterError, exact_condition
from ..stable import accurate_functions, exp_rational, protect
from .printer import TensorCodePrinter, assignments

_S = sp.Symbol("s", positive=True)
_T = sp.Symbol("t", positive=True)
_Y = sp.Symbol("y", real=True)
#: x and delta in float64 (``_xw, _dw = _wide(x, delta)``: float64 for every dtype where the framework has it), in
#: the conditions that choose a cell of the closed form or a kink term (:func:`wide_conditions`)
_XW = sp.Symbol("_xw", real=True)
_DW = sp.Symbol("_dw", positive=True)

#: The placeholder plan of a module generated for the planning itself (one node per panel).
PLACEHOLDER = {"float64": ((1e308, 1),), "float32": ((1e308, 1),)}


class Source:
    """Lines of Python source with indentation."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, line: str = "", ind: int = 0) -> None:
        self.lines.append("    " * ind + line if line else "")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def function(src: Source, pr: TensorCodePrinter, name: str, args: str, expr: sp.Expr, doc: str,
             ref: str | None = None) -> None:
    """``def name(args): return expr`` with common subexpressions as temporaries (plus zeros of the shape of
    ``ref``, so that a constant comes out as an array)."""
    src.add(f"def {name}({args}):")
    src.add(f'"""{doc}"""', 1)
    expr = accurate_functions(expr)
    if pr.FEWER_PASSES:
        expr = shared_exponentials(expr)
    lines, (val,) = assignments(pr, [expr], "_c")
    if expr.has(_XW, _DW):
        src.add("_xw, _dw = _wide(x, delta)", 1)
    for ln in lines:
        src.add(ln, 1)
    if ref is not None and pr.FEWER_PASSES and not isinstance(expr, sp.Symbol):
        # every argument of ref in expr: the operations broadcast to ref's shape already (a bare argument is
        # returned as a new array all the same)
        ref = None if set(ref.split(" + ")) <= {pr.doprint(s) for s in expr.free_symbols} else ref
    src.add(f"return {val}" if ref is None else f"return {val} + {pr.zeros_like(ref)}", 1)
    src.add()
    src.add()


def wide_conditions(expr: sp.Expr) -> sp.Expr:
    """The conditions of the Piecewise in ``expr`` decided in float64 (x and delta as ``_xw``, ``_dw``), as the
    code generator's ufuncs decide them (:meth:`~nonlocal_calc.codegen.printer.NumbaPrinter.condition`): a cell
    end ``b + k delta`` rounds in float32, and a float32 x within that rounding took the formula of the wrong
    cell (Max(x - 1/3, 0) with dirac_pair at x = 0.33334136, delta = 8.03e-6: 1.0 for 0.99979820). Conditions
    between ends exact in every float type (x, 0, dyadic constants, +-2^j delta:
    :func:`~nonlocal_calc.codegen.printer.exact_bound`) stay as they are; the formulas keep the data's type.

    >>> from nonlocal_calc.symbols import x, delta
    >>> wide_conditions(sp.Piecewise((0, x < -delta), (x, x < sp.Rational(1, 3) - delta), (1, True)))
    Piecewise((0, delta < -x), (x, _xw < 1/3 - _dw), (1, True))
    """
    def wide(pw):
        return sp.Piecewise(*[(v, c if exact_condition(c) else c.xreplace({x: _XW, delta: _DW})) for v, c in pw.args],
                            evaluate=False)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), wide)


def shared_exponentials(expr: sp.Expr) -> sp.Expr:
    """A form split at 0, ``Piecewise((A, v < 0), (B, True))``, with exp(c v) in A (c > 0) and exp(c v) in B
    (c < 0) both written exp(-|c| |v|): the same exponentials on each side (only signs change), one for the two
    sides once common subexpressions are shared (which may regroup the arithmetic around it: rounding changes).

    >>> import sympy as sp
    >>> from nonlocal_calc.symbols import x
    >>> shared_exponentials(sp.Piecewise((sp.exp(x) / (1 + sp.exp(x)), x < 0), (1 / (1 + sp.exp(-x)), True)))
    Piecewise((exp(-Abs(x))/(1 + exp(-Abs(x))), x < 0), (1/(1 + exp(-Abs(x))), True))
    """
    def side(e, v, sign):
        def swap(a):
            c = sp.simplify(a.args[0] / v)
            if c.is_number and c.is_real and sign * c > 0:
                return sp.exp(-abs(c) * sp.Abs(v), evaluate=False)
            return a
        return e.replace(lambda a: isinstance(a, sp.exp) and a.args[0].free_symbols == {v}, swap)

    def split(pw):
        if len(pw.args) != 2 or pw.args[1][1] is not sp.true:
            return pw
        (a, cond), (b, _) = pw.args
        if not (isinstance(cond, sp.StrictLessThan) and cond.rhs == 0 and isinstance(cond.lhs, sp.Symbol)):
            return pw
        v = cond.lhs
        return sp.Piecewise((side(a, v, 1), cond), (side(b, v, -1), True), evaluate=False)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), split)


def stable_form(expr: sp.Expr) -> sp.Expr:
    """A function of x in a form without overflow and cancellation where the code generator has one: two
    exponential-rational forms split at x = 0, ``c (1 +- erf(a))`` as ``c erfc(-+a)``, an algebraic function as
    one factored fraction; else as it is.

    >>> import sympy as sp
    >>> from nonlocal_calc.symbols import x
    >>> stable_form(sp.exp(x) / (1 + sp.exp(x)))
    Piecewise((exp(x)/(exp(x) + 1), x < 0), (1/(1 + exp(-x)), True))
    """
    from ..gauss import erfc_form

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


def rho_form(D):
    """``(rho(s, delta) for s > 0, m, g(t, delta), S(t))`` of the code generator's quadrature fallback."""
    from ..emit import S_VAR as BS
    from ..emit import T_VAR as BT
    from ..quadrature import rho_parts, weight_in_t

    rho, m = rho_parts(D)
    g, s_of_t = weight_in_t(rho, m)
    return rho.xreplace({BS: _S}), m, g.xreplace({BT: _T}), s_of_t.xreplace({BT: _T})


def closed_value(D, printer: type[TensorCodePrinter]):
    """The stable closed form as one SymPy Piecewise the framework can print, or ``(None, why)``."""
    if D.method != "closed-form":
        return None, "no closed form"
    try:
        sym = closed_form_block(NumbaPrinter(), D).value
    except PrinterError as exc:
        return None, f"the closed form does not compile ({exc})"
    if sym is None:
        return None, "cells of the closed form are sums with cancellation"
    try:
        printer().doprint(accurate_functions(sym))
    except PrinterError as exc:
        return None, str(exc)
    return sym, "closed form"


def pieces(D):
    """``(pieces, kinks, f' and f'' of each piece, jumps of f and of f' at the kinks)`` of the activation."""
    act = D.activation
    parts, bps = list(act.pieces), list(act.breakpoints)
    d1 = [sp.diff(p, x) for p in parts]
    d2 = [sp.diff(p, x) for p in d1]
    jumps_f = [sp.simplify(parts[i + 1].subs(x, b) - parts[i].subs(x, b)) for i, b in enumerate(bps)]
    jumps_fp = [sp.simplify(d1[i + 1].subs(x, b) - d1[i].subs(x, b)) for i, b in enumerate(bps)]
    return parts, bps, d1, d2, jumps_f, jumps_fp


def _cut(src: Source, pr: TensorCodePrinter, name: str, ratio: str, m: int) -> None:
    """``name = clip(ratio, 0, 1) ** (1/m)``: where the panels of one side end (as a fraction of t)."""
    root = "" if m == 1 else f" ** {1.0 / m!r}"
    if m == 1 or not pr.SAFE_GRADIENTS:
        src.add(f"{name} = {pr.clip01(ratio)}{root}", 1)
        return
    src.add(f"{name} = {pr.clip01(ratio)}", 1)  # (the root's derivative is infinite at 0)
    pos = f"{name} > 0.0"
    src.add(f"{name} = {pr.where(pos, '(' + pr.where(pos, name, '1.0') + ')' + root, '0.0')}", 1)


def quadrature(src: Source, D, name: str, what: str, printer: type[TensorCodePrinter]) -> None:
    """``name(x, delta, rule=None, mag=False)``: the quadrature of ``what`` ("value" or "derivs"; with
    ``mag``, the same sum of the magnitudes of the terms of f', the scale of its rounding errors, for the planning
    of the order)."""
    _, bps, _, _, jf, jfp = pieces(D)
    rho, m, g, s_of_t = rho_form(D)
    nb = len(bps)
    pr = printer({_T: "t", _S: "s"}, ref="x")
    src.add(f"def {name}(x, delta, rule=None, mag=False):")
    src.add(f'"""Gauss-Legendre quadrature of the smoothing-profile form: {what}."""', 1)
    src.add("nodes, weights = RULES[ORDER] if rule is None else rule", 1)
    src.add(f"zero = {pr.zeros_like('x + delta')}", 1)
    outs = ["acc"] if what == "value" else ["acc_x", "acc_d"]
    for o in outs:
        src.add(f"{o} = zero", 1)
    if pr.NODE_AXIS:  # the nodes along a last axis, summed: one operation per term whatever the order
        src.add(f"tk, wk = {pr.node_array('nodes', 'zero')}, {pr.node_array('weights', 'zero')}", 1)
        src.add(f"xe, de = {pr.expand('x')}, {pr.expand('delta')}", 1)
    cuts = [pr.doprint(b - x) for b in bps]
    # without kinks, one panel from t = 0: a 0-d float64 array in a loop over the nodes (the weight's functions,
    # torch.expm1 of the Gaussian's, take no Python float; float64 as a Python float was)
    whole = "0.0" if pr.NODE_AXIS else f"{pr.MODULE}.zeros((), dtype={pr.MODULE}.float64)"
    for side in (1, -1):
        src.add(f"# side {side:+d}: s = {side} * delta * t**{m}", 1)
        if nb:
            tcs = []
            for i, c in enumerate(cuts):
                _cut(src, pr, f"tc{i}", f"({c}) / delta" if side == 1 else f"-({c}) / delta", m)
                tcs.append(f"tc{i}")
            ends = ["zero"] + (tcs if side == 1 else tcs[::-1]) + ["zero + 1.0"]
        else:
            ends = ["0.0", "1.0"]
        for j in range(nb + 1):
            piece = j if side == 1 else nb - j
            src.add(f"a, h = {ends[j]}, ({ends[j + 1]}) - ({ends[j]})" if nb else f"a, h = {whole}, 1.0", 1)
            lo = None if piece == 0 else pr.doprint(bps[piece - 1])
            hi = None if piece == nb else pr.doprint(bps[piece])
            _panel(src, printer, what, piece, float(side), s_of_t, m, (lo, hi) if nb else None)
    _kinks(src, pr, D, what, rho, bps, jf, jfp)
    src.add(f"return {', '.join(outs)}", 1)
    src.add()
    src.add()


def _panel(src: Source, printer: type[TensorCodePrinter], what: str, piece: int, side: float, s_of_t, m: int,
           bounds: tuple | None) -> None:
    """The sum over the nodes of one panel (``a``, ``h``: its start and length in t; ``bounds``: the interval of
    the piece, into which y is clipped: an empty panel (h = 0) must not meet a pole of the other pieces)."""
    axis = printer.NODE_AXIS
    pr = printer({_T: "t", delta: "de"} if axis else {_T: "t"}, ref="x")
    if axis:
        src.add(f"ae, he = {pr.expand('a')}, {pr.expand('h')}" if bounds else "ae, he = a, h", 1)
        a, h, xx, dd, ind = "ae", "he", "xe", "de", 1
        total = pr.sum_nodes
    else:
        src.add("for tk, wk in zip(nodes, weights):", 1)
        a, h, xx, dd, ind = "a", "h", "x", "delta", 2
        total = str
    src.add(f"t = {a} + {h} * tk", ind)
    src.add(f"y = {xx} + ({side!r}) * ({pr.doprint(s_of_t)})", ind)
    if bounds:
        src.add(f"y = {pr.clip('y', *bounds)}", ind)
    src.add(f"w = (wk * {h}) * _g(t, {dd})", ind)
    if what == "value":
        term = f"({pr.fn('Abs')}(w) * _fpa{piece}(y) if mag else w * _fp{piece}(y))"
        src.add(f"acc = acc + {total(term)}", ind)
        return
    src.add(f"f1, f2 = _fp{piece}(y), _fpp{piece}(y)", ind)
    src.add(f"acc_x = acc_x + {total('w * f2')}", ind)
    tm = pr.doprint(_T**m)
    src.add(f"acc_d = acc_d + {total(f'(wk * {h}) * (({side!r}) * ({tm}) * f2 * _g(t, {dd}) + f1 * _gd(t, {dd}))')}",
            ind)


def _kinks(src: Source, pr: TensorCodePrinter, D, what: str, rho, bps, jf, jfp) -> None:
    """The kink terms of the quadrature, for |b - x| < delta."""
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
            src.add(f"ax = {pr.fn('Abs')}({pr.doprint(b - x)})", 1)
            if pr.SAFE_GRADIENTS:  # rho at |b - x| >= delta is not selected: evaluated at delta/2 instead
                src.add("inside = ax < delta", 1)
                src.add(f"ax = {pr.where('inside', 'ax', '0.5 * delta')}", 1)
                src.add(f"{o} = {o} + {pr.where('inside', pr.doprint(e), 'zero')}", 1)
            else:
                src.add(f"{o} = {o} + {pr.where('ax < delta', pr.doprint(e), 'zero')}", 1)


def quadrature_helpers(src: Source, D, printer: type[TensorCodePrinter]) -> set[str]:
    """``_fp{i}``, ``_fpa{i}``, ``_fpp{i}`` (f', the magnitudes of its terms and f'' of piece i in stable forms),
    ``_g``, ``_gd`` (the weight and its delta derivative); returns the helpers they call."""
    _, _, d1, d2, _, _ = pieces(D)
    _, _, g, _ = rho_form(D)
    helpers: set[str] = set()
    for i, (a, b) in enumerate(zip(d1, d2)):
        fp = stable_form(a)
        for name, e, doc in ((f"_fp{i}", fp, "f'"), (f"_fpa{i}", magnitudes(fp), "the sum of |terms| of f'"),
                             (f"_fpp{i}", stable_form(b), "f''")):
            pr = printer({_Y: "y"}, ref="y")
            function(src, pr, name, "y", e.xreplace({x: _Y}), f"{doc} of piece {i}", ref="y")
            helpers |= pr.helpers
    for name, e, doc in (("_g", g, "the weight g(t, delta) = rho(S) dS/dt"),
                         ("_gd", sp.diff(g, delta), "d/ddelta of the weight")):
        pr = printer({_T: "t"}, ref="t")
        function(src, pr, name, "t, delta", e, doc, ref="t + delta")
        helpers |= pr.helpers
    return helpers


def magnitudes(e: sp.Expr) -> sp.Expr:
    """The sum of the magnitudes of the terms of ``e`` (branch by branch): the scale of its rounding errors.

    >>> from nonlocal_calc.symbols import x
    >>> magnitudes(1 - x)
    Abs(x) + 1
    """
    if isinstance(e, sp.Piecewise):
        return sp.Piecewise(*[(magnitudes(v), c) for v, c in e.args], evaluate=False)
    return sp.Add(*[sp.Abs(t) for t in sp.Add.make_args(sp.expand(e, deep=False))])


def activation(src: Source, D, printer: type[TensorCodePrinter]) -> set[str]:
    """``activation(x)``: f in stable forms, piece by piece; returns the helpers it calls."""
    act = D.activation
    expr = act.expr if not act.breakpoints else sp.Piecewise(
        *[(stable_form(p), x < b) for p, b in zip(act.pieces, act.breakpoints)], (stable_form(act.pieces[-1]), True))
    expr = stable_form(expr) if not act.breakpoints else expr
    pr = printer(ref="x")
    function(src, pr, "activation", "x", expr, f"f(x) = {act.expr}", ref="x")
    return pr.helpers


def wide_value(D) -> bool:
    """Whether the value's quadrature runs in float64 for float32 data: where f' may change sign (SymPy cannot
    show every piece nonnegative), as the ufunc's sum does, and where f jumps (the jump term J rho(|b - x|)
    cancels near |b - x| = delta: binary_step with power(-1/2) was 1.9e-6 off in float32)."""
    _, _, d1, _, jf, _ = pieces(D)
    nonneg = all(d.is_nonnegative or stable_form(d).is_nonnegative for d in d1)
    return not nonneg or any(j != 0 for j in jf)


def _lim(pr: TensorCodePrinter, v: sp.Expr) -> str:
    return "math.nan" if v is sp.nan or not v.is_finite and v not in (sp.oo, -sp.oo) else pr.doprint(v)


def module_body(D, printer: type[TensorCodePrinter]) -> tuple[str, set[str], dict]:
    """The body of a pair's module (f, the quadrature, ``value``, ``derivs``), the helpers it calls and what
    it does (``{"value": "closed form" | "quadrature", "why": ...}``). The head defines ``RULES``, ``ORDER``,
    ``_default(x)`` (the largest order planned for x's dtype) and ``_wide(x, delta)`` (x and delta in float64)."""
    sym, why = closed_value(D, printer)
    info = {"value": "closed form" if sym is not None else "quadrature", "why": why}
    body = Source()
    helpers = activation(body, D, printer)
    helpers |= quadrature_helpers(body, D, printer)
    quadrature(body, D, "_quad_value", "value", printer)
    quadrature(body, D, "_quad_derivs", "derivs", printer)
    lo, hi = limits(D)
    pr = printer(ref="x")
    if sym is not None:
        function(body, pr, "_closed", "x, delta", wide_conditions(sym), "The stable closed form.", ref="x + delta")
        helpers |= pr.helpers
        main = "_closed(x, delta)"
    else:
        main = (pr.cast("_quad_value(*_wide(x, delta), RULES[order or _default(x)])", "x") if wide_value(D)
                else "_quad_value(x, delta, RULES[order or _default(x)])")
    body.add("def value(x, delta, order=None):")
    body.add(f'"""D_mu f(x) for delta > 0 ({info["value"]}); the limits at x = +-inf."""', 1)
    body.add(f"v = {main}", 1)
    body.add(f"v = {pr.where('x == math.inf', _lim(pr, hi), 'v')}", 1)
    body.add(f"v = {pr.where('x == -math.inf', _lim(pr, lo), 'v')}", 1)
    body.add(f"return {pr.where('delta > 0.0', 'v', 'math.nan')}", 1)
    body.add()
    body.add()
    body.add("def derivs(x, delta, order=None):")
    body.add('"""(d/dx, d/ddelta) of D_mu f, by the quadrature (``order`` nodes per panel; default: the largest'
             ' planned for the dtype)."""', 1)
    body.add("return _quad_derivs(x, delta, RULES[order or _default(x)])", 1)
    body.add()
    return body.text(), helpers, info


def plan_lines(src: Source, plans: dict) -> None:
    """``PLAN``, ``PLAN32``, ``ORDER``, ``ORDER32`` and the Gauss-Legendre ``RULES`` they use, as module lines."""
    from ..gauss import legendre01

    src.add("#: (largest delta, nodes per panel), planned when the module was built for float64 data (PLAN) and")
    src.add("#: float32, float16, bfloat16 data (PLAN32, computed in float32); ORDER, ORDER32: the largest of them")
    for name, key in (("PLAN", "float64"), ("PLAN32", "float32")):
        src.add(f"{name} = {tuple((float(d), int(n)) for d, n in plans[key])!r}")
    src.add(f"ORDER = {max(n for _, n in plans['float64'])}")
    src.add(f"ORDER32 = {max(n for _, n in plans['float32'])}")
    src.add("#: Gauss-Legendre nodes and weights on [0, 1], by order")
    src.add("RULES = {")
    for n in sorted({n for p in plans.values() for _, n in p}):
        tk, wk = legendre01(n)
        src.add(f"    {n}: ({tuple(float(v) for v in tk)!r}, {tuple(float(v) for v in wk)!r}),")
    src.add("}")
    src.add()
    src.add()


def helper_lines(src: Source, printer: type[TensorCodePrinter], helpers: set[str]) -> None:
    """The source of the helpers the printed code calls."""
    for h in sorted(helpers):
        for ln in printer.HELPERS[h].splitlines():
            src.add(ln)
        src.add()
        src.add()
