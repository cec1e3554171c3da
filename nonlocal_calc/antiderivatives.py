"""Repeated antiderivatives, the raw material of closed-form nonlocal derivatives.

SymPy integrates polynomials, arctan, GELU, ISRU and the like; it does not integrate
``log(1 + exp(x))`` or ``x/(1 + exp(-x))``. Those belong to a class closed under
integration: polynomials in ``u`` times ``exp(a*u)`` or ``Li_n(-c*exp(a*u))``, since

    1/(1 + c e^{au}) = 1 + Li_0(-c e^{au}),   log(1 + c e^{au}) = -Li_1(-c e^{au}),
    int u^k Li_n(y) du = u^k Li_{n+1}(y)/a - (k/a) int u^{k-1} Li_{n+1}(y) du,   y = -c e^{au}.

:func:`antiderivatives` tries that rule set first, then SymPy.

>>> import sympy as sp
>>> u = sp.Symbol("u", real=True)
>>> antiderivatives(sp.log(1 + sp.exp(u)), u, 2)
[-polylog(2, -exp(u)), -polylog(3, -exp(u))]
>>> antiderivatives(sp.tanh(u), u, 1)
[-u + log(exp(2*u) + 1)]
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .timeouts import check_deadline

_T = sp.Symbol("T", positive=True)  # stands for exp(g*u)


class NoAntiderivative(Exception):
    """No closed-form antiderivative was found."""


# ----------------------------------------------------------------- the rule set
def _exp_linear(e: sp.Expr, u: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(a, b) with e = a*u + b, a rational or a parameter's multiple whose sign is known (``beta*u`` with beta
    positive: the rules hold for every such slope); raise if e is not of that form."""
    e = sp.expand(e)
    a = e.coeff(u, 1)
    b = sp.expand(e - a * u)
    known = a.is_Rational or (not a.has(u) and (a.is_positive or a.is_negative))
    if b.has(u) or not known or a == 0:
        raise NoAntiderivative(f"exponent {e} is not linear in {u} with a rational slope or one of known sign")
    return a, b


def _to_T(expr: sp.Expr, u: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """Rewrite hyperbolic functions and exponentials as powers of T = exp(g*u); return (expression, g)."""
    hyper = {sp.tanh: lambda a: 1 - 2 / (1 + sp.exp(2 * a)), sp.cosh: lambda a: (sp.exp(a) + sp.exp(-a)) / 2,
             sp.sinh: lambda a: (sp.exp(a) - sp.exp(-a)) / 2}
    for fn, rule in hyper.items():
        expr = expr.replace(fn, rule)
    # polylog arguments are handled with their own exponent; collect all exponents first
    exps = [a for a in expr.atoms(sp.exp)]
    slopes = [_exp_linear(a.args[0], u)[0] for a in exps]
    if not slopes:
        raise NoAntiderivative("no exponential")
    g = slopes[0]
    for s in slopes[1:]:
        g = sp.gcd(g, s)
    g = abs(g)
    repl = {}
    for a in exps:
        sl, b = _exp_linear(a.args[0], u)
        repl[a] = sp.exp(b) * _T ** (sl / g)
    return expr.xreplace(repl), g


def _atoms(expr: sp.Expr, u: sp.Symbol) -> list[tuple[sp.Expr, int, tuple]]:
    """Decompose into terms (coeff, k, atom): coeff * u**k * atom, atom one of
    ('1',), ('exp', a) for exp(a u), ('li', n, c, a) for Li_n(-c exp(a u)) with c > 0."""
    e, g = _to_T(expr, u)
    out = []
    for term in sp.Add.make_args(sp.expand(e)):
        coeff_u, rest = term.as_independent(_T, as_Add=False)
        c, upow = coeff_u.as_independent(u, as_Add=False)
        k = 0 if upow == 1 else sp.degree(upow, u)
        if upow != 1 and upow != u**k:
            raise NoAntiderivative(f"{upow} is not a power of {u}")
        for cc, atom in _t_atoms(rest, g):
            out.append((c * cc, int(k), atom))
    return out


def _t_atoms(rest: sp.Expr, g: sp.Expr) -> list[tuple[sp.Expr, tuple]]:
    """Split a function of T into atoms (see :func:`_atoms`)."""
    if rest.has(sp.polylog):
        if not isinstance(rest, sp.polylog):
            c, pl = rest.as_independent(sp.polylog, as_Add=False)
            return [(c * cc, atom) for cc, atom in _t_atoms(pl, g)]
        n, arg = rest.args
        c, tp = (-arg).as_independent(_T, as_Add=False)
        m = sp.degree(tp, _T) if tp != 1 else 0
        if tp != _T**m or not c.is_positive or m == 0:
            raise NoAntiderivative(f"polylog argument {arg} is not -c*exp(a*u), c > 0")
        return [(sp.Integer(1), ("li", int(n), c, m * g))]
    if rest.has(sp.log):
        out = []
        for t in sp.Add.make_args(sp.expand_log(rest, force=True)):
            c, lg = t.as_independent(sp.log, as_Add=False)
            if not isinstance(lg, sp.log):
                raise NoAntiderivative(f"cannot integrate {t}")
            out += [(c * cc, atom) for cc, atom in _log_atoms(lg.args[0], g)]
        return out
    # a rational function of T: partial fractions
    out = []
    for t in sp.Add.make_args(sp.apart(sp.together(rest), _T)):
        num, den = sp.fraction(sp.together(t))
        if den.has(_T):
            pden = sp.Poly(den, _T)
            degs = [m[0] for m in pden.monoms()]
            j = sp.gcd(degs) if len(degs) > 1 else degs[0]
            if num.has(_T) or pden.degree() // j not in (1,) or len(degs) != 2 or min(degs) != 0:
                raise NoAntiderivative(f"cannot integrate {t} (denominator {den})")
            alpha, beta = pden.coeff_monomial(_T**j), pden.coeff_monomial(1)
            if not (alpha / beta).is_positive:
                raise NoAntiderivative(f"{den} vanishes on the real line")
            # num / (alpha T^j + beta) = (num/beta) * (1 + Li_0(-(alpha/beta) exp(j g u)))
            out += [(num / beta, ("1",)), (num / beta, ("li", 0, alpha / beta, j * g))]
        else:
            c, tp = t.as_independent(_T, as_Add=False)
            m = 0 if tp == 1 else sp.Poly(tp, _T).degree() if tp.is_polynomial(_T) else sp.degree(1 / tp, _T) * -1
            if tp != _T**m:
                raise NoAntiderivative(f"cannot integrate {t}")
            out.append((c, ("1",)) if m == 0 else (c, ("exp", m * g)))
    return out


def _log_atoms(arg: sp.Expr, g: sp.Expr) -> list[tuple[sp.Expr, tuple]]:
    """log(P(T)) as atoms: log(T) = g*u; log(alpha*T^j + beta) = log(beta) - Li_1(-(alpha/beta) T^j)."""
    num, den = sp.fraction(sp.together(arg))
    out = []
    for part, sgn in ((num, 1), (den, -1)):
        lc, facs = sp.factor_list(part, _T)
        if not lc.is_positive:
            raise NoAntiderivative(f"log of {part} is not real")
        out.append((sgn * sp.log(lc), ("1",)))
        for f, mult in facs:
            pf = sp.Poly(f, _T)
            degs = [m[0] for m in pf.monoms()]
            if degs == [1] and pf.coeff_monomial(_T) == 1:  # the factor T itself: log T = g u
                out.append((sgn * mult * g, ("u",)))
                continue
            if len(degs) != 2 or min(degs) != 0:
                raise NoAntiderivative(f"cannot integrate log({f})")
            j = max(degs)
            alpha, beta = pf.coeff_monomial(_T**j), pf.coeff_monomial(1)
            if not (beta.is_positive and alpha.is_positive):
                raise NoAntiderivative(f"log({f}) is not real for all u")
            out.append((sgn * mult * sp.log(beta), ("1",)))
            out.append((-sgn * mult, ("li", 1, alpha / beta, j * g)))
    return out


def _int_atom(c: sp.Expr, k: int, atom: tuple, u: sp.Symbol) -> sp.Expr:
    """int c * u**k * atom du."""
    kind = atom[0]
    if kind == "1":
        return c * u ** (k + 1) / (k + 1)
    if kind == "u":
        return c * u ** (k + 2) / (k + 2)
    if kind == "exp":
        return sp.integrate(c * u**k * sp.exp(atom[1] * u), u)
    _, n, cc, a = atom
    y = -cc * sp.exp(a * u)
    # int u^k Li_n(y) = u^k Li_{n+1}(y)/a - (k/a) int u^{k-1} Li_{n+1}(y)
    res = c * u**k * sp.polylog(n + 1, y) / a
    if k:
        res -= _int_atom(c * k / a, k - 1, ("li", n + 1, cc, a), u)
    return res


def _rule_antiderivative(expr: sp.Expr, u: sp.Symbol) -> sp.Expr:
    return sp.Add(*[_int_atom(c, k, atom, u) for c, k, atom in _atoms(expr, u)])


# -------------------------------------------------------------------- tidy up
def elementary_polylogs(expr: sp.Expr) -> sp.Expr:
    """Write Li_1, Li_0 and Li_-1 as the elementary functions they are."""
    def rule(n, y):
        if n == 1:
            return -sp.log(1 - y)
        if n == 0:
            return y / (1 - y)
        if n == -1:
            return y / (1 - y) ** 2
        return sp.polylog(n, y)

    return expr.replace(sp.polylog, rule)


def _tidy(expr: sp.Expr) -> sp.Expr:
    return sp.expand(elementary_polylogs(expr), power_exp=False, log=False)


# ----------------------------------------------------------------- public API
@lru_cache(maxsize=512)
def _cached(expr: sp.Expr, u: sp.Symbol, n: int) -> tuple[sp.Expr, ...]:
    out = []
    cur = expr
    for _ in range(n):
        check_deadline()
        cur = _one(cur, u)
        out.append(cur)
    return tuple(out)


def _one(expr: sp.Expr, u: sp.Symbol) -> sp.Expr:
    if expr.is_polynomial(u):
        return sp.integrate(sp.expand(expr), u)
    if expr.has(sp.exp, sp.tanh, sp.cosh, sp.sinh, sp.polylog):
        try:
            return _tidy(_rule_antiderivative(expr, u))
        except NoAntiderivative:
            pass
        except (sp.PolynomialError, sp.PolificationFailed, sp.GeneratorsNeeded, TypeError, ValueError):
            pass
    res = sp.integrate(expr, u)
    if res.has(sp.Integral):
        raise NoAntiderivative(f"SymPy finds no antiderivative of {expr}")
    return res


def antiderivatives(expr: sp.Expr, u: sp.Symbol, n: int) -> list[sp.Expr]:
    """``[F_1, ..., F_n]``: F_1 is an antiderivative of ``expr`` in ``u``, F_{j+1} one of F_j.

    Raises :class:`NoAntiderivative` when some F_j has no closed form that this module finds.
    """
    return list(_cached(sp.sympify(expr), u, n))
