"""Closed forms of the nonlocal derivative, and the object that carries them.

``derive(activation, kernel)`` computes

    D_mu f(x) = int_{-delta}^{delta} [f(x+z) - f(x)] mu(z) dz

as a Piecewise in x and delta. The x axis is cut at the points ``b - delta, b, b + delta``
for every kink b of f; inside each cell the integration range (-delta, delta) is cut at
0 and at the kinks ``b - x`` it contains, and each piece is integrated in closed form:

* polynomial kernels, any activation with enough antiderivatives: integration by parts,
  ``int g(x+w) w^k dw = sum_j (-1)^j k!/(k-j)! w^(k-j) G_(j+1)(x+w)``;
* piecewise-polynomial activations, any kernel: ``int w^j mu(w) dw`` term by term;
* otherwise SymPy's ``integrate`` within the time budget.

When none succeeds in the budget, the derivative is evaluated by exact numerical quadrature
of the defining integral (``method == "quadrature"``), and says so.

>>> import nonlocal_calc as nlc
>>> D = nlc.derive("relu", "sign")
>>> D.method
'closed-form'
>>> D.expr
Piecewise((0, x < -delta), (1/2 + x/delta + x**2/(2*delta**2), x < 0), (1/2 + x/delta - x**2/(2*delta**2), x < delta), (1, True))
>>> D.evaluate("0.03", "0.1", dps=20)
mpf('0.755')
"""

from __future__ import annotations

import json
import warnings
from functools import cached_property, lru_cache

import mpmath
import sympy as sp
from sympy.polys.polyerrors import BasePolynomialError  # (ExactQuotientFailed: Risch on float coefficients)

from . import activations as _activations
from . import kernels as _kernels
from . import parameters as _parameters
from .activations import Activation
from .antiderivatives import NoAntiderivative, antiderivatives, elementary_polylogs
from .arguments import series_order
from .cache import cache_dir, key_hash, write_atomic
from .kernels import Kernel
from .markup import code
from .markup import table as markdown_table
from .serialize import from_json, to_json
from .symbols import delta, x, z
from .timeouts import DEFAULT_TIMEOUT, DerivationTimeout, check_deadline, time_budget

_w = sp.Symbol("w", positive=True)  # |z| on one side of the horizon
_u = sp.Symbol("u", real=True)  # the argument of an activation piece

class NoClosedForm(Exception):
    """The symbolic engine found no closed form (the reason is the message)."""


class QuadratureFallbackWarning(UserWarning):
    """A nonlocal derivative is evaluated by numerical quadrature: no closed form was found."""


# ============================================================== the result
class NonlocalDerivative:
    """D_mu f for one activation f and one kernel mu: a closed form or, failing that, quadrature.

    Attributes: ``activation``, ``kernel``, ``method`` ("closed-form" or "quadrature"),
    ``expr`` (the Piecewise, or the defining Integral when ``method == "quadrature"``), ``note``.
    """

    def __init__(self, activation: Activation, kernel: Kernel, method: str, expr: sp.Expr, note: str = ""):
        self.activation = activation
        self.kernel = kernel
        self.method = method
        self.expr = expr
        self.note = note

    # ------------------------------------------------------------ parameters
    @property
    def parameters(self) -> tuple[_parameters.Parameter, ...]:
        """The free parameters of the activation and the kernel (empty for a derivative of fixed functions)."""
        return _parameters.merge(self.activation.parameters, self.kernel.parameters)

    def subs(self, **values) -> NonlocalDerivative:
        """The derivative for numbers given to some or all parameters (each checked against its range): the
        closed form with the numbers substituted, for the activation and kernel built with those numbers.

        >>> import nonlocal_calc as nlc
        >>> swish = nlc.Activation.from_expr("x/(1+exp(-beta*x))", params={"beta": "positive"})
        >>> D = nlc.derive(swish, "sign")
        >>> D.subs(beta=1).evaluate("0.3", "0.1", dps=20) == nlc.derive("silu", "sign").evaluate("0.3", "0.1", dps=20)
        True
        """
        vals = _parameters.values(self.parameters, values)
        act = self.activation.subs(**{k: v for k, v in values.items() if k in {p.name for p in self.activation.parameters}})
        ker = self.kernel.subs(**{k: v for k, v in values.items() if k in {p.name for p in self.kernel.parameters}})
        if self.method == "quadrature":
            return NonlocalDerivative(act, ker, self.method, defining_integral(act, ker), self.note)
        expr = _parameters.decide(self.expr.subs(vals), _parameters.merge(act.parameters, ker.parameters))
        return NonlocalDerivative(act, ker, self.method, expr, self.note)

    def _refuse_free_parameters(self, what: str) -> None:
        if self.parameters:
            names = ", ".join(p.name for p in self.parameters)
            example = ", ".join(f"{p.name}={p.samples()[1]}" for p in self.parameters)
            raise ValueError(f"D_mu {self.activation.name} has free parameters ({names}): {what} needs numbers for "
                             f"them; call D.subs({example}) first")

    # ------------------------------------------------------------ rebuilding in another process
    def portable_parts(self) -> tuple:
        """What rebuilds this derivative in another process (:meth:`from_parts`), without the values it has cached
        since: the activation's and the kernel's fields, the method, the closed form as the derivation cache stores
        it (SymPy's pickles rebuild expressions by evaluating them: ``x < -delta`` comes back as ``delta < -x``, a
        condition the code generator does not take; the expression itself if that cannot store it; None for a
        quadrature pair, rebuilt from the activation and the kernel), the note. Compiled ufuncs pickle with it.

        >>> import nonlocal_calc as nlc
        >>> D = nlc.derive("relu", "sign")
        >>> E = NonlocalDerivative.from_parts(D.portable_parts())
        >>> (E.activation.name, E.kernel.name, E.method, E.expr == D.expr)
        ('relu', 'sign', 'closed-form', True)
        """
        expr = None
        if self.method == "closed-form":
            try:
                expr = to_json(self.expr)
            except ValueError:
                expr = self.expr
        return (_fields(self.activation), _fields(self.kernel), self.method, expr, self.note)

    @classmethod
    def from_parts(cls, parts: tuple) -> NonlocalDerivative:
        """The derivative that :meth:`portable_parts` describes."""
        (act_cls, act), (ker_cls, ker), method, expr, note = parts
        act, ker = act_cls(**act), ker_cls(**ker)
        expr = defining_integral(act, ker) if expr is None else from_json(expr) if isinstance(expr, str) else expr
        return cls(act, ker, method, expr, note)

    # ------------------------------------------------------------ display
    def latex(self) -> str:
        """LaTeX of ``D_mu f(x) = ...``."""
        return rf"D_{{\mu}} \mathrm{{{self.activation.name}}}(x) = " + sp.latex(self.expr)

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def __repr__(self) -> str:
        return f"NonlocalDerivative({self.activation.name}, {self.kernel.name}, {self.method}): {self.expr}"

    def to_dict(self) -> dict:
        """A JSON-ready summary (used by ``nonlocal-calc derive --json``)."""
        return {
            "activation": self.activation.name,
            "activation_expr": str(self.activation.expr),
            "kernel": self.kernel.name,
            "kernel_expr": str(self.kernel.expr),
            "normalized": self.kernel.normalize,
            "method": self.method,
            "expr": str(self.expr),
            "latex": self.latex(),
            "note": self.note,
        }

    # ------------------------------------------------------------ numbers
    @cached_property
    def _mp_closed(self):
        return sp.lambdify((x, delta), self.expr, "mpmath")

    def evaluate(self, xv, deltav, dps: int = 30) -> mpmath.mpf:
        """D_mu f(x) at ``x = xv`` for the horizon ``deltav``, as an mpmath number correct to ``dps`` digits.

        The value is certified: computed at two working precisions that agree to ``dps + 1`` digits (more are tried,
        half as many again each time). The closed form starts at ``dps + 20`` digits plus those it cancels: in a tail
        (tanh with the sign kernel at x = 40, delta = 1e-6 loses 47), and k per digit of 1/delta for a closed form
        with ``1/delta**k`` (see :func:`~nonlocal_calc.evaluation.closed_form_value`). Quadrature pairs, points where
        the closed form is not finite (a kink exactly on a cell boundary) or would cancel more than 150 digits for a
        small delta (below 1e-50 for ``1/delta**3``), and zeros of the closed form (which may be everything cancelled)
        use the quadrature of the defining integral (:func:`~nonlocal_calc.reference.nonlocal_quad`), which removes a
        singular kernel's singularity and computes each difference of f with the digits it cancels.
        A ``PrecisionWarning`` says when no two precisions agreed (up to ``reference.MAX_WORKING_DPS``).

        ``xv`` may be nan (the value is nan) or +-inf (the limit, see :mod:`nonlocal_calc.evaluation`); a delta that
        is not a finite positive number, an x that is not a real number, or a dps outside 1..1000 is refused with
        a ValueError.

        >>> import nonlocal_calc as nlc
        >>> mpmath.nstr(nlc.derive("tanh", "sign").evaluate(40, "1e-6", dps=20), 15)
        '7.21940555138407e-35'
        >>> nlc.derive("tanh", "sign").evaluate("-inf", "0.1")
        mpf('0.0')
        """
        from .evaluation import evaluate

        self._refuse_free_parameters("evaluate")
        return evaluate(self, xv, deltav, dps)

    # ------------------------------------------------------------ limits
    @property
    def derivative_expr(self) -> sp.Expr:
        """f'(x): the limit of D_mu f as delta -> 0 away from kinks (at a kink: the one-sided average)."""
        return self.activation.derivative

    def series(self, n: int = 4, order: bool = True, timeout: float | None = DEFAULT_TIMEOUT) -> sp.Expr:
        """The moment expansion ``f'(x) + M_3/3! f'''(x) + ...`` in powers of delta, up to ``O(delta**n)``.

        Valid where f is smooth on (x - delta, x + delta). ``n`` is a whole number from 1 to
        :data:`~nonlocal_calc.arguments.MAX_SERIES_ORDER`; the symbolic derivatives of f get ``timeout`` seconds of CPU time (they grow
        quickly: the 17th derivative of tanh takes seconds), past which a ValueError asks for fewer terms.

        >>> import nonlocal_calc as nlc
        >>> nlc.derive("tanh", "sign").series(4)
        1 - tanh(x)**2 - delta**2*(tanh(x)**2 - 1)*(3*tanh(x)**2 - 1)/6 + O(delta**4)
        >>> nlc.derive("tanh", "sign").series(-1)
        Traceback (most recent call last):
        ...
        ValueError: n must be a whole number from 1 to 60 (series(n) keeps the powers of delta below delta**n, e.g. series(4)), got -1
        """
        n = series_order(n)
        budget = None
        try:
            with time_budget(timeout) as budget:
                return self._series(n, order)
        except DerivationTimeout as exc:
            if exc.budget is not budget:
                raise  # a budget of the caller ran out
            raise ValueError(f"the moment series of D_mu {self.activation.name} up to O(delta**{n}) needs more than "
                             f"{timeout:g} s of CPU time (derivatives of f up to order {n + 1}); ask for fewer terms "
                             "or pass timeout=None") from None

    def _series(self, n: int, order: bool) -> sp.Expr:
        f = self.activation.expr
        moments = [(k, self.kernel.moment(k)) for k in range(1, n + 2, 2)]
        derivs = {k: sp.diff(f, x, k) for k, _ in moments}  # (SymPy's n-th derivatives come out factored)
        monomial = [m.as_coeff_exponent(delta) for _, m in moments]
        if all(not c.has(delta) for c, _ in monomial):
            # M_k = c_k delta**e_k (every scale-invariant kernel): keep the terms below delta**n, no series needed
            s = sum((c * delta**e / sp.factorial(k) * derivs[k]
                     for (k, _), (c, e) in zip(moments, monomial) if e < n), sp.Integer(0))
            return s + sp.Order(delta**n) if order else s
        terms = sum((m / sp.factorial(k) * derivs[k] for k, m in moments), sp.Integer(0))
        s = sp.series(terms, delta, 0, n)
        return s if order else s.removeO()

    # ------------------------------------------------------------ compiled code
    def ufunc(self, **options):
        """The derivative as a compiled NumPy ufunc ``u(x, delta)`` (see :mod:`nonlocal_calc.codegen`); for a
        family with free parameters ``u(x, delta, *parameters)``, in the order of ``D.parameters`` (see
        :mod:`nonlocal_calc.codegen.parametric`)."""
        from .codegen import make_ufunc

        return make_ufunc(self, **options)

    def jit_scalar(self):
        """The closed form as a Numba scalar function ``f(x, delta)``, callable from other jitted code."""
        from .codegen import jit_scalar

        self._refuse_free_parameters("a compiled function")
        return jit_scalar(self.expr, name=f"D_{self.activation.name}_{self.kernel.name}")


# ============================================================== the engine
def _cells(breakpoints: tuple[sp.Expr, ...]):
    """Yield ``(delta_upper, [(x_upper, x_rep)], delta_rep)`` for each delta regime.

    Critical points ``b + s*delta`` keep their order inside a regime; regimes change where two meet.
    """
    crit = [(b, s) for b in breakpoints for s in (-1, 0, 1)]
    meets = set()
    for b1, s1 in crit:
        for b2, s2 in crit:
            if s1 != s2:
                d = (b2 - b1) / (s1 - s2)
                if d > 0:
                    meets.add(sp.nsimplify(d))
    meets = sorted(meets)
    ends = [*meets, None]
    lows = [sp.Integer(0), *meets]
    for lo, hi in zip(lows, ends):
        drep = lo + 1 if hi is None else (lo + hi) / 2
        pts = sorted(crit, key=lambda c: c[0] + c[1] * drep)
        vals = [b + s * drep for b, s in pts]
        cells = []
        for i in range(len(pts) + 1):
            left = vals[i - 1] if i else vals[0] - 2
            right = vals[i] if i < len(pts) else vals[-1] + 2
            upper = pts[i][0] + pts[i][1] * delta if i < len(pts) else None
            cells.append((upper, (left + right) / 2))
        yield hi, cells, drep


def _poly_in(expr: sp.Expr, var: sp.Symbol) -> sp.Poly | None:
    try:
        return sp.Poly(sp.expand(expr), var) if sp.expand(expr).is_polynomial(var) else None
    except sp.PolynomialError:
        return None


def _piece_integral(g: sp.Expr, gx: sp.Expr, sigma: int, lo: sp.Expr, hi: sp.Expr, kernel: Kernel) -> sp.Expr:
    """``int_lo^hi [g(x + sigma*w) - gx(x)] mu_plus(w) dw`` in closed form (0 <= lo < hi <= delta)."""
    check_deadline()
    mu = kernel.mu_plus.subs(z, _w)
    shifted = g.subs(x, x + sigma * _w)
    at = lambda F, w: F.subs(_w, w) if w != 0 else sp.limit(F, _w, 0, "+")  # noqa: E731
    kpoly = _poly_in(mu, _w)
    if kpoly is not None:
        # integration by parts against the monomials w^k of the kernel
        kmax = kpoly.degree()
        Gs = antiderivatives(g.subs(x, _u), _u, kmax + 1)
        total = sp.Integer(0)
        for (k,), a in kpoly.terms():
            A = sum(
                (-1) ** j * sp.ff(k, j) * sigma ** (j + 1) * _w ** (k - j) * Gs[j].subs(_u, x + sigma * _w)
                for j in range(k + 1)
            )
            total += a * (A.subs(_w, hi) - A.subs(_w, lo))
            total -= a * gx * (hi ** (k + 1) - lo ** (k + 1)) / (k + 1)
        return total
    gpoly = _poly_in(shifted - gx, _w)
    mono = _parametric_monomials(kernel, mu)
    if gpoly is not None and mono is not None:
        # a polynomial piece against sum_i a_i w**e_i with exponents in the parameters: exact power integrals
        total = sum((c * a * _power_integral(j + e, lo, hi) for (j,), c in gpoly.terms() if c != 0 for a, e in mono),
                    sp.Integer(0))
        return _parameters.decide(total, kernel.parameters)
    if gpoly is not None:
        # a polynomial activation piece: moments of the kernel, term by term
        total = sp.Integer(0)
        for (j,), c in gpoly.terms():
            if c == 0:
                continue  # (a zero piece against log(w) at w = 0, for p = -1, would be 0 * oo = nan)
            K = _kernel_primitive(kernel, j)
            total += c * (at(K, hi) - at(K, lo))
        return total
    res = sp.integrate((shifted - gx) * mu, (_w, lo, hi))
    if res.has(sp.Integral) or res.has(sp.Piecewise):
        raise NoClosedForm(f"SymPy finds no closed form of int ({shifted - gx})*({mu}) dw")
    return res


def _parametric_monomials(kernel: Kernel, mu: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]] | None:
    """``[(a_i, e_i)]`` with ``mu = sum a_i w**e_i`` when some exponent e_i holds a parameter (``power(p)``), else
    None (fixed kernels keep the general route)."""
    if not kernel.parameters:
        return None
    out = []
    for term in sp.Add.make_args(sp.expand(sp.powsimp(mu))):
        a, wpart = term.as_independent(_w, as_Add=False)
        base, e = wpart.as_base_exp() if wpart != 1 else (_w, sp.Integer(0))
        if base != _w or e.has(_w):
            return None
        out.append((a, e))
    return out if any(e.free_symbols for _, e in out) else None


def _power_integral(e: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """``int_lo^hi w**e dw`` for 0 <= lo < hi, with the case e = -1 as its own branch (kept unless the parameters'
    ranges decide it); from lo = 0 it converges for e > -1 only, and the result says so."""
    k = e + 1
    if lo == 0:
        return sp.Piecewise((hi**k / k, k > 0), (sp.oo, True))
    return sp.Piecewise(((hi**k - lo**k) / k, sp.Ne(k, 0)), (sp.log(hi / lo), True))


@lru_cache(maxsize=256)
def _kernel_primitive_cached(mu: sp.Expr, j: int) -> sp.Expr:
    res = sp.integrate(_w**j * mu, _w)
    if res.has(sp.Integral):
        raise NoClosedForm(f"SymPy finds no antiderivative of w**{j}*({mu})")
    return res


def _kernel_primitive(kernel: Kernel, j: int) -> sp.Expr:
    return _kernel_primitive_cached(kernel.mu_plus.subs(z, _w), j)


def _cell_value(act: Activation, kernel: Kernel, xr: sp.Expr, dr: sp.Expr) -> sp.Expr:
    """D_mu f on the cell containing the representative point (xr, dr)."""
    gx = act.piece_at(xr)
    if kernel.discrete:
        plus, minus = act.piece_at(xr + dr), act.piece_at(xr - dr)
        return kernel.mu_plus * (plus.subs(x, x + delta) - minus.subs(x, x - delta))
    total = sp.Integer(0)
    for sigma in (1, -1):
        # on this side the activation's kinks sit at w = sigma*(b - x)
        cuts = [sp.Integer(0), delta] + [sigma * (b - x) for b in act.breakpoints if 0 < sigma * (b - xr) < dr]
        cuts.sort(key=lambda c: c.subs({x: xr, delta: dr}))
        for lo, hi in zip(cuts, cuts[1:]):
            wr = ((lo + hi) / 2).subs({x: xr, delta: dr})
            g = act.piece_at(xr + sigma * wr)
            total += sigma * _piece_integral(g, gx, sigma, lo, hi, kernel)
    return total


def _tidy(expr: sp.Expr, parametric: bool = False) -> sp.Expr:
    """A short, readable form: Li_0/Li_1 as elementary functions, expanded if that is shorter (with parameters in
    exponents, powers of delta combined: delta**(p + 2)/(delta**2*delta**p) is 1)."""
    expr = elementary_polylogs(expr)
    candidates = [sp.expand(expr, power_exp=False, log=False)]
    if not expr.has(sp.polylog, sp.erf, sp.atan, sp.asinh):
        candidates.append(sp.factor_terms(sp.together(candidates[0])))
    if parametric:
        candidates += [sp.powsimp(c) for c in candidates]
    return min(candidates, key=sp.count_ops)


def _merge(branches: list[tuple[sp.Expr, sp.Expr | None]]) -> sp.Expr:
    """Build a Piecewise from (value, upper) pairs, merging neighbours with equal values."""
    merged: list[list] = []
    for val, upper in branches:
        if merged and sp.simplify(merged[-1][0] - val) == 0:
            merged[-1][1] = upper
        else:
            merged.append([val, upper])
    if len(merged) == 1:
        return merged[0][0]
    args = [(v, x < u) for v, u in merged[:-1]] + [(merged[-1][0], True)]
    return sp.Piecewise(*args, evaluate=False)


def closed_form(act: Activation, kernel: Kernel) -> sp.Expr:
    """The closed form of D_mu f as a Piecewise in x and delta; raises :class:`NoClosedForm`."""
    par = bool(act.parameters or kernel.parameters)
    if not act.breakpoints:
        return _tidy(_cell_value(act, kernel, sp.Integer(0), sp.Integer(1)), par)
    regimes = []
    for dupper, cells, drep in _cells(act.breakpoints):
        branches = [(_tidy(_cell_value(act, kernel, xr, drep), par), upper) for upper, xr in cells]
        regimes.append((_merge(branches), dupper))
    if len(regimes) == 1:
        return regimes[0][0]
    return sp.Piecewise(*[(e, delta < d) for e, d in regimes[:-1]], (regimes[-1][0], True), evaluate=False)


def _fields(obj) -> tuple[type, dict]:
    """A dataclass instance as (class, fields): what rebuilds it, without the values it has cached since."""
    import dataclasses

    return type(obj), {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}


def defining_integral(act: Activation, kernel: Kernel) -> sp.Expr:
    """The definition of D_mu f as an unevaluated SymPy Integral (shown for quadrature pairs)."""
    if kernel.discrete:
        return kernel.mu_plus * (act.expr.subs(x, x + delta) - act.expr.subs(x, x - delta))
    return sp.Integral((act.expr.subs(x, x + z) - act.expr) * kernel.expr, (z, -delta, delta))


# ============================================================== cache + entry point
#: Version of the cache entries' format (2: a fallback caused by the time budget records that budget).
CACHE_FORMAT = 2
#: Revision of the symbolic engine, recorded on quadrature entries: an entry that says "no closed form" from an
#: older engine is searched again (1: a zero coefficient of a polynomial piece is skipped, so relu with power(-1)
#: no longer meets 0 * log(0)). Closed forms stay valid across revisions (they were verified).
ENGINE_REVISION = 1


def _cache_path(act: Activation, kernel: Kernel):
    key = key_hash("derive", CACHE_FORMAT, act.key(), kernel.key(), sp.__version__)
    return cache_dir("derivations") / f"{key}.json"


class ChangedCacheEntryWarning(UserWarning):
    """A cached derivation changed since it was written; it was checked against the defining integral."""


def _checksum(path, data: dict) -> str:
    """SHA-256 of a cache entry's content and of its file name (the cache key): an entry edited, damaged or copied
    from another pair's file does not match."""
    import hashlib

    body = {k: v for k, v in data.items() if k != "sha256"}
    return hashlib.sha256(json.dumps([path.name, body], sort_keys=True).encode()).hexdigest()


def _store(path, data: dict) -> None:
    """Write a cache entry with its checksum (best effort: a cache that cannot be written costs time, not results)."""
    try:
        write_atomic(path, json.dumps({**data, "sha256": _checksum(path, data)}))
    except OSError as exc:
        warnings.warn(f"derivation not cached: {path} cannot be written ({exc})", stacklevel=3)


def _load(path, act: Activation, ker: Kernel) -> tuple[str, sp.Expr, str, float | None] | None:
    """The cached derivation in ``path``, or None (then derived afresh). An entry whose checksum does not match
    its content (edited, damaged, or written without one) is used only if its closed form agrees with quadrature
    of the defining integral at points in every cell (:func:`_recheck`), and then stored again with its checksum.
    The last item is the CPU time the closed-form search had when it ran out of time (a fallback to search again
    with more time), None otherwise."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        method, note = data["method"], data["note"]
        symbols = [p.symbol for p in _parameters.merge(act.parameters, ker.parameters)]
        expr = from_json(data["expr"], symbols) if method == "closed-form" else None
        if method not in ("closed-form", "quadrature"):
            raise ValueError(f"unknown method {method!r}")
        budget = data.get("budget_exhausted")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0):
            raise ValueError(f"bad budget {budget!r}")
    except (ValueError, KeyError, TypeError, OSError) as exc:
        warnings.warn(f"corrupted derivation cache entry {path} ({exc}); rebuilding it", stacklevel=3)
        return None
    if method == "quadrature" and data.get("engine", 0) < ENGINE_REVISION:
        return None  # an older engine found no closed form: this one may
    if data.get("sha256") != _checksum(path, data):
        if method == "closed-form":
            try:
                _recheck(act, ker, expr)
            except NoClosedForm as exc:
                warnings.warn(f"derivation cache entry {path} changed since it was written and its closed form is "
                              f"wrong ({exc}); deriving it again", ChangedCacheEntryWarning, stacklevel=3)
                return None
        warnings.warn(f"derivation cache entry {path} changed since it was written (checksum mismatch); its "
                      "closed form agrees with the defining integral at points in every cell: kept" if
                      method == "closed-form" else f"derivation cache entry {path} changed since it was written "
                      "(checksum mismatch); it says quadrature, which is the defining integral itself: kept",
                      ChangedCacheEntryWarning, stacklevel=3)
        _store(path, {k: v for k, v in data.items() if k != "sha256"})
    return method, expr, note, budget


def derive(
    activation: str | Activation,
    kernel: str | Kernel = "sign",
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    cache: bool = True,
) -> NonlocalDerivative:
    """The nonlocal derivative of ``activation`` for ``kernel``: a closed form, or quadrature if none is found.

    ``activation`` is a catalogue name or an :class:`~nonlocal_calc.activations.Activation`;
    ``kernel`` a kernel spec (``"sign"``, ``"linear"``, ``"power(-1/2)"``, ``"dirac_pair"``...) or a
    :class:`~nonlocal_calc.kernels.Kernel`.

    The symbolic search gets ``timeout`` seconds of **CPU time** (None: no limit; see
    :mod:`nonlocal_calc.timeouts`): time the process spends waiting for a core on a loaded machine does not
    count, so the answer does not depend on the machine's load. Results are cached on disk (``cache=False``
    neither reads nor writes the cache). A closed form, or a fallback to quadrature because SymPy finds none,
    is cached for good; a fallback because the budget ran out is cached with that budget and searched again
    by a later call that allows more time (or ``timeout=None``).

    >>> derive("binary_step", "linear").expr
    Piecewise((0, x < -delta), (3/(4*delta) - 3*x**2/(4*delta**3), x < delta), (0, True))
    """
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0):
        raise ValueError(f"timeout must be a number of seconds >= 0 (CPU time), or None for no limit; got {timeout!r}")
    act = _activations.get(activation)
    ker = _kernels.get(kernel)
    symbols = [p.symbol for p in _parameters.merge(act.parameters, ker.parameters)]  # (one name, two ranges: refused)
    path = _cache_path(act, ker) if cache else None
    hit = _load(path, act, ker) if cache else None
    if hit is not None and hit[3] is not None and (timeout is None or timeout > hit[3]):
        hit = None  # the last search ran out of time, and this call allows more: search again
    if hit is not None:
        method, expr, note, _ = hit
    else:
        method, expr, note, exhausted = _search(act, ker, timeout)
        if cache:
            stored = to_json(expr, symbols) if method == "closed-form" else None
            _store(path, {"method": method, "expr": stored, "note": note, "budget_exhausted": exhausted,
                          "engine": ENGINE_REVISION})
    if method == "quadrature":
        expr = defining_integral(act, ker)
        note = note + "; evaluated by exact numerical quadrature of the defining integral (mpmath)"
        warnings.warn(f"D_mu {act.name} for kernel {ker.name}: {note}", QuadratureFallbackWarning, stacklevel=2)
    return NonlocalDerivative(act, ker, method, expr, note)


def _search(act: Activation, ker: Kernel, timeout: float | None) -> tuple[str, sp.Expr | None, str, float | None]:
    """``(method, expr, note, exhausted)``: the verified closed form, or the reason there is none; ``exhausted`` is
    ``timeout`` when the budget ran out (SymPy may turn the interrupt into another error: the budget decides)."""
    budget = None
    try:
        with time_budget(timeout) as budget:
            expr = closed_form(act, ker)
            params = _parameters.merge(act.parameters, ker.parameters)
            expr = _parameters.decide(expr, params)
        if params:
            _verify_parametric(act, ker, expr, params)
        else:
            _verify(act, ker, expr)
        return "closed-form", expr, "", None
    except DerivationTimeout as exc:
        if exc.budget is not budget:
            raise  # a budget of the caller ran out: not this search's answer
        reason = None
    except (NoClosedForm, NoAntiderivative) as exc:
        reason = f"no closed form found: {exc}"
    except (NotImplementedError, BasePolynomialError, ValueError, TypeError, RecursionError) as exc:
        reason = f"no closed form found (SymPy: {type(exc).__name__}: {exc})"
    if reason is None or (budget is not None and budget.expired):
        return "quadrature", None, f"no closed form found within the time budget of {timeout:g} s of CPU time", timeout
    return "quadrature", None, reason, None


def _verify(act: Activation, ker: Kernel, expr: sp.Expr, probes=None) -> None:
    """Check the closed form against quadrature at one point of every cell, or at the points ``probes`` (SymPy's
    integrals can be wrong: ``integrate(1/(1 + x + t**2), t)`` returns 0 for real x in SymPy 1.14). Raise
    NoClosedForm on a mismatch."""
    from .reference import nonlocal_quad

    f = sp.lambdify((x, delta), expr, "mpmath")
    if probes is None:
        probes = [(xr, dr) for _, cells, dr in _cells(act.breakpoints) for _, xr in cells] if act.breakpoints \
            else [(sp.Rational(37, 100), sp.Rational(1, 2)), (sp.Rational(-161, 100), sp.Rational(3, 10))]
    with mpmath.workdps(25):
        for xr, dr in probes:
            xm, dm = mpmath.mpf(sp.Rational(xr).p) / sp.Rational(xr).q, mpmath.mpf(sp.Rational(dr).p) / sp.Rational(dr).q
            try:
                got = f(xm, dm)
            except (ZeroDivisionError, ValueError, TypeError) as exc:
                raise NoClosedForm(f"the symbolic result cannot be evaluated at x = {xr}, delta = {dr} ({exc})") from None
            ref = nonlocal_quad(act, ker, xm, dm, dps=20)
            if not (mpmath.isfinite(got) and abs(got - ref) <= mpmath.mpf(10) ** -12 * (1 + abs(ref))):
                raise NoClosedForm(
                    f"the symbolic result failed the numerical check at x = {xr}, delta = {dr} "
                    f"({mpmath.nstr(got, 15)} vs quadrature {mpmath.nstr(ref, 15)})"
                )


def _verify_parametric(act: Activation, ker: Kernel, expr: sp.Expr, params: tuple) -> None:
    """:func:`_verify` for parameter values spread over their ranges and at the values where a branch on a
    parameter holds alone (p = -1): each specialization against quadrature of the specialized pair."""
    act_names = {p.name for p in act.parameters}
    for vals in _parameters.sample_points(params, expr):
        given = {p.name: vals[p.symbol] for p in params}
        a = act.subs(**{n: v for n, v in given.items() if n in act_names})
        k = ker.subs(**{n: v for n, v in given.items() if n not in act_names}) if ker.parameters else ker
        try:
            _verify(a, k, _parameters.decide(expr.subs(vals), ()))
        except NoClosedForm as exc:
            shown = ", ".join(f"{n} = {v}" for n, v in given.items())
            raise NoClosedForm(f"at {shown}: {exc}") from None


def _recheck(act: Activation, ker: Kernel, expr: sp.Expr) -> None:
    """:func:`_verify` at more points: three in every bounded cell of every delta regime (a quarter, half and
    three quarters across) and two in each unbounded one, or six spread over x and delta for a smooth activation
    (an edited expression may be wrong in part of a cell only). Raise NoClosedForm on a mismatch."""
    params = _parameters.merge(act.parameters, ker.parameters)
    if params:
        _verify_parametric(act, ker, expr, params)
        return
    q = sp.Rational
    if not act.breakpoints:
        probes = [(q(37, 100), q(1, 2)), (q(-161, 100), q(3, 10)), (q(0), q(1, 10)), (q(-3, 7), q(2)),
                  (q(49, 10), q(1, 20)), (q(-23, 4), q(7, 5))]
    else:
        probes = []
        for _, cells, dr in _cells(act.breakpoints):
            edges = [upper.subs(delta, dr) for upper, _ in cells[:-1]]
            for i, (_, xr) in enumerate(cells):
                if 0 < i < len(cells) - 1:
                    lo, hi = edges[i - 1], edges[i]
                    probes += [(lo + (hi - lo) * k / 4, dr) for k in (1, 2, 3)]
                else:
                    probes += [(xr, dr), (xr + (1 if i else -1), dr)]
    _verify(act, ker, expr, probes)


def coverage(activation_names=None, kernel_specs=None) -> dict[tuple[str, str], str]:
    """``{(activation, kernel): method}`` for the given pairs (default: the catalogue x the five test kernels)."""
    acts = activation_names or [n for n in _activations.names() if n not in ("isru", "gelu")] + ["isru", "gelu"]
    kers = kernel_specs or COVERAGE_KERNELS
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        for a in acts:
            for k in kers:
                out[(a, k)] = derive(a, k).method
    return out


#: The kernels of the coverage matrix.
COVERAGE_KERNELS = ["sign", "linear", "power(2)", "power(-1/2)", "dirac_pair"]


def coverage_matrix(activation_names=None, kernel_specs=None) -> str:
    """The coverage matrix as Markdown: which pairs have closed forms (CF) and which use quadrature (Q)."""
    cov = coverage(activation_names, kernel_specs)
    acts = list(dict.fromkeys(a for a, _ in cov))
    kers = list(dict.fromkeys(k for _, k in cov))
    rows = [[code(a)] + ["closed form" if cov[(a, k)] == "closed-form" else "quadrature" for k in kers] for a in acts]
    n_cf = sum(v == "closed-form" for v in cov.values())
    return markdown_table(["activation"] + [code(k) for k in kers], rows) + f"\n\n{n_cf} of {len(cov)} pairs have closed forms."


__all__ = ["NonlocalDerivative", "derive", "closed_form", "coverage", "coverage_matrix", "defining_integral",
           "QuadratureFallbackWarning", "ChangedCacheEntryWarning", "NoClosedForm"]
