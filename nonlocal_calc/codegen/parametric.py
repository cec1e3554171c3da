"""The compiled module of a parametric family: ``u(x, delta, *parameters)``, one module for every member.

A family's closed form holds for every value of its parameters, but the stable forms, series tables and quadrature
plans of a fixed pair (:mod:`.kernel`) are made of numbers computed for that pair. The family's module evaluates
instead, for each element, the quadrature of the definition in the smoothing-profile form

    D_mu f(x) = int f'(x + delta u) g(|u|) du / int g(|u|) du        (u in (-1, 1), the kernel normalized)

where ``g(u)`` is rho(delta u) with its factors that do not depend on u dropped (they cancel in the ratio), in forms
without cancellation (``1 - u^q`` as ``-expm1(q log u)``, so that q = p + 1 -> 0 loses nothing). The panels are
graded towards u = 0, where g may be singular (|u|^(p+1) for the power kernels, -1 < p + 1 < 0), down to 2^-60;
below that the integral of g is the geometric tail of the last two panels (exact for a power law). The kinks of f'
cut the panels; a jump J of f adds ``J g(|c - x|/delta) / delta``. Global adaptive Gauss-Kronrod 7/15 then bisects
the panel with the largest error until the error is below the float64 target relative to max(|D|, 1e-2).
Everything runs in float64; float32 data are rounded at the end.

Special values follow the fixed ufuncs: NaN in or delta < 0 -> NaN; delta = 0 -> f'(x) (the average of the
one-sided derivatives at a kink); x = +-inf -> the limits of f'; delta = inf -> (f'(+oo) + f'(-oo))/2 for kernels
of the shape mu(z/delta), else NaN; and a parameter outside its range -> NaN (as delta < 0: a ufunc works element by
element and cannot raise for one element; :meth:`NonlocalDerivative.subs` raises instead).

>>> import numpy as np
>>> import nonlocal_calc as nlc
>>> from nonlocal_calc import Parameter, kernels
>>> u = nlc.derive("relu", kernels.power(Parameter("p", "> -2"))).ufunc()
>>> u.nin, u.method
(3, 'quadrature')
>>> u(0.05, 0.1, np.array([0.0, 1.0])).round(12)   # power(0) is the sign kernel, power(1) the linear one
array([0.875  , 0.84375])
>>> float(u(0.05, 0.1, -2.0))             # outside p > -2
nan
"""

from __future__ import annotations

import sympy as sp

from ..symbols import delta, x, z
from .emit import T_VAR, TR_VAR, Block, assignments
from .fprime import _end_limits, _stable_expr_forms, jumps_at_kinks
from .printer import NumbaPrinter, PrinterError, number_literal
from .stable import expm1

U = sp.Symbol("u", positive=True)
_V = sp.Symbol("v", positive=True)
#: Panels are graded towards u = 0 down to 2^-GRADE (further below a kink closer to x than that).
GRADE = 60
#: Bisections of the global adaptive rule, beyond the initial panels.
MAX_SPLITS = 1500
_NJIT = '@numba.njit(cache=True, error_model="numpy")'  # (no exception from a division inside a ufunc)


class FamilyError(ValueError):
    """The family cannot be compiled with its parameters free (the message says why and what to do instead)."""


def _refuse(D, why: str) -> FamilyError:
    example = ", ".join(f"{p.name}={p.samples()[1]}" for p in D.parameters)
    return FamilyError(f"D_mu {D.activation.name} for {D.kernel.name}: {why}; compile a member instead, "
                       f"D.subs({example}).ufunc()")


# ----------------------------------------------------------------------------------------------- the profile g
def _one_minus_power(e: sp.Expr) -> sp.Expr:
    """``c - c u^q`` (q with a parameter) as ``-c expm1(q log u)``: no cancellation as q -> 0."""
    if not (isinstance(e, sp.Add) and len(e.args) == 2):
        return e
    for a, b in (e.args, e.args[::-1]):
        if a.is_number and a != 0:
            rest = sp.powsimp(-b / a)
            if isinstance(rest, sp.Pow) and rest.base == U and not rest.exp.is_number:
                return -a * expm1(rest.exp * sp.log(U))
    return e


def _stable_branch(g: sp.Expr) -> sp.Expr:
    g = sp.expand_log(sp.powsimp(sp.expand_power_base(g, force=True), force=True), force=True)
    g = sp.factor_terms(sp.expand(g))
    _, g = g.as_independent(U, as_Add=False)  # (a factor free of u cancels in the ratio)
    g = _exp_difference(g)
    return g.replace(lambda e: isinstance(e, sp.Add), _one_minus_power)


def _exp_difference(g: sp.Expr) -> sp.Expr:
    """``c (exp(E1) - exp(E2))`` with E1 - E2 = F = a + b(u), a > 0 >= b(u) (the Gaussian's exp(A (1 - u^2)) - 1,
    A = delta^2/(2 sigma^2)) as ``exp(b(u)) * (-expm1(-F))`` times the dropped factor ``c exp(E2 + a)``: exp(A)
    overflows for sigma < delta/38, and the difference cancels for sigma >> delta."""
    if not (isinstance(g, sp.Add) and len(g.args) == 2):
        return g
    parts = []
    for t in g.args:
        factors = sp.Mul.make_args(t)
        c = sp.Mul(*[f for f in factors if not isinstance(f, sp.exp)])
        if c.has(U):
            return g
        parts.append((c, sp.Add(*[f.args[0] for f in factors if isinstance(f, sp.exp)])))
    (c1, e1), (c2, e2) = parts
    if sp.simplify(c1 + c2) != 0:
        return g
    for (ca, ea), (_, eb) in (((c1, e1), (c2, e2)), ((c2, e2), (c1, e1))):
        F = sp.expand(ea - eb)
        a, b = F.as_independent(U, as_Add=True)
        if a.is_positive and b.is_nonpositive:
            return sp.exp(b) * -expm1(-F) * sp.sign(ca)
    return g


def profile(D) -> sp.Expr:
    """``g(u)``, 0 < u < 1: rho(delta u) up to a factor free of u (per branch of a parameter), in stable forms.

    >>> from nonlocal_calc import Parameter, kernels, derive
    >>> profile(derive("relu", kernels.power(Parameter("p", "> -1"))))
    -expm1((p + 1)*log(u))
    >>> profile(derive("relu", "linear"))
    1 - u**2
    """
    k = D.kernel
    if k.discrete or not k.normalize:
        raise _refuse(D, "a parametric module needs a normalized kernel with a density (the ratio of two integrals)")
    _, raw = k.mu_plus.as_independent(z, as_Add=False)
    try:
        g = sp.integrate(raw.subs(z, delta * _V), (_V, U, 1), conds="piecewise")
    except (NotImplementedError, ValueError, TypeError) as exc:
        raise _refuse(D, f"SymPy finds no profile rho for every parameter ({exc})") from None
    if g.has(sp.Integral):
        raise _refuse(D, "SymPy finds no profile rho for every parameter")
    from ..parameters import decide

    g = decide(g, D.parameters)
    if isinstance(g, sp.Piecewise):
        return sp.Piecewise(*[(_stable_branch(v), c) for v, c in g.args], evaluate=False)
    return _stable_branch(g)


# ----------------------------------------------------------------------------------------------- the module
def _printer(D, extra: dict | None = None) -> NumbaPrinter:
    return NumbaPrinter({**{p.symbol: p.name for p in D.parameters}, **(extra or {})})


def _ranges(D, names: str) -> str:
    """The condition that every parameter lies in its range (False for NaN)."""
    conds = []
    for p in D.parameters:
        d = p.domain
        if d.inf.is_finite:
            conds.append(f"{p.name} {'>' if d.left_open else '>='} {number_literal(d.inf)}")
        if d.sup.is_finite:
            conds.append(f"{p.name} {'<' if d.right_open else '<='} {number_literal(d.sup)}")
        conds.append(f"abs({p.name}) < math.inf")
    return " and ".join(conds)


def _horizon_value(D) -> sp.Expr:
    """(f'(+oo) + f'(-oo))/2 where every sampled member's kernel is scale-free and the limits are finite, else nan."""
    from .horizon import scale_free

    lo, hi = _end_limits(D.activation.pieces[0], D.activation.pieces[-1])
    if not all(v.is_finite and v.is_real for v in (lo, hi)) or lo.has(sp.nan, sp.Limit) or hi.has(sp.nan, sp.Limit):
        return sp.nan
    from ..parameters import sample_points

    names = {p.name for p in D.kernel.parameters}
    for vals in sample_points(D.parameters):
        given = {p.name: vals[p.symbol] for p in D.parameters if p.name in names}
        if not scale_free(D.kernel.subs(**given) if given else D.kernel):
            return sp.nan
    return (lo + hi) / 2


def module_source(D, doc: str = "") -> str:
    """The module of a family: ``kernel(x, delta, *params)`` (float64) and ``ufunc`` (float32 and float64)."""
    params = [p.name for p in D.parameters]
    args = ", ".join(params)
    act = D.activation
    pieces, bps = list(act.pieces), list(act.breakpoints)
    if any(not b.is_number for b in bps):
        raise _refuse(D, "the activation's kinks move with a parameter")
    jumps = jumps_at_kinks(pieces, bps)
    lo, hi = _end_limits(pieces[0], pieces[-1])
    g = profile(D)
    try:
        src = _source(D, params, args, pieces, bps, jumps, lo, hi, g)
    except PrinterError as exc:
        raise _refuse(D, f"no compiled code for {exc}") from None
    return f'"""{doc}"""\n\nimport math\n\nimport numba\nimport numpy as np\n\n' + src


def _source(D, params, args, pieces, bps, jumps, lo, hi, g) -> str:
    from . import specfun

    pa = f", {args}" if args else ""
    pr = _printer(D, {T_VAR: "t", TR_VAR: "t", U: "u"})
    blk = Block()
    # f', right-continuous, with its limits where the formula overflows (exp(-beta t) at t = -1000)
    blk.add(_NJIT)
    blk.add(f"def _fp(t{pa}):")
    blk.add("T = type(t)", 1)
    for i, piece in enumerate(pieces):
        lines = _stable_expr_forms(pr, sp.diff(piece, x).subs(x, T_VAR), f"p{i}_")
        if i < len(bps):
            blk.add(f"{'if' if i == 0 else 'elif'} t < {pr.doprint(bps[i])}:", 1)
        elif bps:
            blk.add("else:", 1)
        for ln in lines:
            blk.add(ln, 2 if bps else 1)
    lim = {"lo": pr.doprint(lo) if lo.is_finite else "T(math.nan)", "hi": pr.doprint(hi) if hi.is_finite else "T(math.nan)"}
    blk.add("if not abs(r) < math.inf:", 1)
    blk.add(f"r = {lim['lo']} if t < T(0.0) else {lim['hi']}", 2)
    blk.add("return r", 1)
    blk.add()
    blk.add()
    # the profile
    blk.add(_NJIT)
    blk.add(f"def _g(u, delta{pa}):")
    blk.add("T = type(u)", 1)
    lines, (val,) = assignments(pr, [g], "_g")
    for ln in lines:
        blk.add(ln, 1)
    blk.add(f"return {val}", 1)
    blk.add()
    blk.add()
    blk.add(_gk_source(pa))
    blk.add(_adapt_source(pa))
    # the kernel: special values, then the quadrature
    pk = _printer(D)
    k = Block()
    k.add(_NJIT)
    k.add(f"def kernel(x, delta{pa}):")
    k.add('"""D_mu f(x) for the horizon delta and the parameters (float64)."""', 1)
    k.add("T = np.float64", 1)
    k.add("x = T(x)", 1)
    k.add("delta = T(delta)", 1)
    for n in params:
        k.add(f"{n} = T({n})", 1)
    if params:
        k.add(f"if not ({_ranges(D, args)}):", 1)
        k.add("return T(math.nan)", 2)
    k.add("if x != x or not delta >= T(0.0):", 1)
    k.add("return T(math.nan)", 2)
    k.add("if delta == T(0.0):", 1)
    for b, (left, right), J in zip(bps, zip(pieces, pieces[1:]), jumps):
        avg = (sp.diff(left, x).subs(x, b) + sp.diff(right, x).subs(x, b)) / 2
        val = pk.doprint(avg) if J == 0 else f"(T(math.inf) if {pk.doprint(J)} > 0 else -T(math.inf))"
        k.add(f"if x == {pk.doprint(b)}:", 2)
        k.add(f"return {val}", 3)
    k.add(f"return _fp(x{pa})", 2)
    k.add("if abs(x) == T(math.inf):", 1)
    k.add(f"return {lim['lo']} if x < T(0.0) else {lim['hi']}", 2)
    k.add("if delta == T(math.inf):", 1)
    k.add(f"return {pk.doprint(_horizon_value(D))}", 2)
    cuts = ", ".join(f"{pk.doprint(b)}" for b in bps)
    k.add(f"kinks = np.array([{cuts}{',' if len(bps) == 1 else ''}], dtype=np.float64)" if bps
          else "kinks = np.empty(0, dtype=np.float64)", 1)
    k.add(f"num, den = _adapt(x, delta, kinks, T({_rtol()!r}){pa})", 1)
    for b, J in zip(bps, jumps):
        if J != 0:
            k.add(f"if abs({pk.doprint(b)} - x) < delta:", 1)
            k.add(f"num += {pk.doprint(J)} * _g(abs({pk.doprint(b)} - x) / delta, delta{pa}) / delta", 2)
    k.add("return num / den", 1)
    k.add()
    k.add()
    blk.extend(k)
    helpers = pr.helpers | pk.helpers
    head = specfun.source(helpers) + "\n\n" if helpers else ""
    sig = ", ".join(["{0}"] * (2 + len(params)))
    sigs = [f'"float32({sig.format("float32")})"', f'"float64({sig.format("float64")})"']
    tail = (f"\n\n@numba.vectorize([{', '.join(sigs)}], cache=True)\n"
            f"def ufunc(x, delta{pa}):\n    return type(x)(kernel(x, delta{pa}))\n")
    return head + blk.text() + tail


def _rtol() -> float:
    from .kernel import RTOL

    return RTOL["float64"]


def _gk_source(pa: str) -> str:
    """The rule of :mod:`.runtime.kronrod` (public options only) and its integrand: g at |u|, times
    f'(x + delta u) if weighted."""
    from . import internals, runtime
    from .quadrature import KRONROD

    rule = internals.public_source(runtime.source("kronrod", KRONROD)).lstrip("\n")
    return f'''{rule}

{_NJIT}
def _gkf(u, data):
    x, delta, weighted{pa} = data
    y = _g(abs(u), delta{pa})
    if weighted:
        y *= _fp(x + delta * u{pa})
    return y


{_NJIT}
def _gk(x, delta, a, b, weighted{pa}):
    """Gauss-Kronrod 7/15 over u in [a, b] (signed; g at |u|) of g, or of f'(x + delta u) g if weighted."""
    v, e, _ = _gk15(_gkf, a, b, (x, delta, weighted{pa}), np.empty(15))
    return v, e


'''


def _adapt_source(pa: str) -> str:
    return f'''{_NJIT}
def _integrate(x, delta, cuts, m, weighted, floor, tol{pa}):
    """Global adaptive Gauss-Kronrod over the panels between the sorted points cuts[:m]: (value, error)."""
    cap = m + {MAX_SPLITS}
    A = np.empty(cap)
    B = np.empty(cap)
    V = np.empty(cap)
    E = np.empty(cap)
    n = 0
    for i in range(m - 1):
        if cuts[i + 1] > cuts[i]:
            A[n] = cuts[i]
            B[n] = cuts[i + 1]
            V[n], E[n] = _gk(x, delta, A[n], B[n], weighted{pa})
            n += 1
    while True:
        total = 0.0
        err = 0.0
        worst = 0
        for i in range(n):
            total += V[i]
            err += E[i]
            if E[i] > E[worst]:
                worst = i
        if err <= tol * max(abs(total), floor) or n >= cap or err != err:
            return total, err
        a, b = A[worst], B[worst]
        mid = (a + b) * 0.5
        if not (a < mid < b):
            return total, err
        B[worst] = mid
        V[worst], E[worst] = _gk(x, delta, a, mid, weighted{pa})
        A[n] = mid
        B[n] = b
        V[n], E[n] = _gk(x, delta, mid, b, weighted{pa})
        n += 1


{_NJIT}
def _tail(x, delta, eps{pa}):
    """int_0^eps g, from the last two graded panels (a geometric series, exact for g ~ u^a)."""
    near = _gk(x, delta, eps, 2.0 * eps, False{pa})[0]
    far = _gk(x, delta, 2.0 * eps, 4.0 * eps, False{pa})[0]
    r = near / far
    if not (0.0 < r < 1.0):
        return math.nan if r >= 1.0 else 0.0
    return near * r / (1.0 - r)


{_NJIT}
def _side(x, delta, kinks, K, side, weighted, floor, tol{pa}):
    """The integral over u in (eps, 1) (side 1) or (-1, -eps) (side -1), eps = 2^-K: panels graded towards 0, cut
    at the kinks of f' (weighted) or not (g alone)."""
    eps = 2.0 ** -K
    pts = np.empty(K + 1 + kinks.size)
    m = 0
    for i in range(K + 1):
        pts[m] = side * 2.0 ** -i
        m += 1
    if weighted:
        for c in kinks:
            w = (c - x) / delta
            if eps < side * w < 1.0:
                pts[m] = w
                m += 1
    return _integrate(x, delta, np.sort(pts[:m]), m, weighted, floor, tol{pa})


{_NJIT}
def _adapt(x, delta, kinks, tol{pa}):
    """(int f'(x + delta u) g(|u|) du, int g(|u|) du) over (-1, 1)."""
    K = {GRADE}
    for c in kinks:  # (a kink inside the tail would be missed: grade further down)
        w = abs(c - x) / delta
        while 0.0 < w and w < 4.0 * 2.0 ** -K and K < 1000:
            K += 8
    eps = 2.0 ** -K
    tail = _tail(x, delta, eps{pa})
    den = 2.0 * (_side(x, delta, kinks, K, 1.0, False, 0.0, tol{pa})[0] + tail)
    num = tail * (_fp(x - 0.5 * eps * delta{pa}) + _fp(x + 0.5 * eps * delta{pa}))
    for side in (-1.0, 1.0):
        num += _side(x, delta, kinks, K, side, True, 0.01 * abs(den), tol{pa})[0]
    return num, den
'''
