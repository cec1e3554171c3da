"""Stable high derivatives of activation pieces, for the small-delta series.

A derivative is kept as ``P(x, X) * prod_i D_i(x, X)**(-k_i)`` with ``X = exp(x/N)`` and P, D_i
polynomials; differentiating is polynomial arithmetic (``d/dx = d_x + X/N d_X``), far faster than
SymPy's ``diff`` on exponentials. Each derivative is printed in two forms, in ``X`` for ``x < 0``
and in ``Y = 1/X`` for ``x >= 0``, so no exponential overflows.

>>> import sympy as sp
>>> from nonlocal_calc.symbols import x
>>> r = Rep.from_expr(1 / (1 + sp.exp(-x)))
>>> r.diff().as_expr()
exp(x)/(exp(x) + 1)**2
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import sympy as sp

from ..symbols import x
from .stable import _X, _Y, _hyp_to_exp, _linear_coeffs


@dataclass
class Rep:
    """``P * prod D_i**(-k_i)``, P and D_i polynomials in (x, X), X = exp(x/N)."""

    P: sp.Poly
    Ds: tuple  # ((Poly, k), ...)
    N: int

    @staticmethod
    def from_expr(expr: sp.Expr) -> Rep | None:
        e = _hyp_to_exp(sp.sympify(expr))
        atoms = e.atoms(sp.exp)
        nx = 1
        rep = {}
        for at in atoms:
            lc = _linear_coeffs(at.args[0])
            if lc is None or lc[1] != 0 or not at.args[0].has(x):
                return None
            nx = sp.ilcm(nx, sp.Rational(lc[0]).q)
        for at in atoms:
            a, _, c = _linear_coeffs(at.args[0])
            rep[at] = sp.exp(c) * _X ** (a * nx)
        r = e.xreplace(rep)
        if any(f.has(x) for f in r.atoms(sp.Function)):
            return None
        r = sp.factor(sp.together(r))
        P = sp.Integer(1)
        Ds = []
        for f in sp.Mul.make_args(r):
            base, ex = f.as_base_exp()
            if not base.has(x, _X):
                P *= f
                continue
            if not base.is_polynomial(x, _X) or not ex.is_Rational:
                return None
            if ex.is_Integer and ex > 0:
                P *= f
            else:
                Ds.append((sp.Poly(base, x, _X), -ex))
        if not P.is_polynomial(x, _X):
            return None
        # negative X powers: fold them into a denominator monomial
        Pp = sp.Poly(sp.expand(P), x, _X) if P.has(x, _X) else sp.Poly(P, x, _X)
        return Rep(Pp, tuple(Ds), int(nx))

    def diff(self) -> Rep:
        def d(p: sp.Poly) -> sp.Poly:
            return p.diff(x) + p.diff(_X) * sp.Poly(_X, x, _X) * sp.Rational(1, self.N)

        # (P prod D^-k)' = (P' prod D - P sum k_i D_i' prod_{j != i} D_j) prod D^-(k+1)
        prodD = reduce(lambda a, b: a * b, [D for D, _ in self.Ds], sp.Poly(1, x, _X))
        new = d(self.P) * prodD
        for i, (D, k) in enumerate(self.Ds):
            others = reduce(lambda a, b: a * b, [Dj for j, (Dj, _) in enumerate(self.Ds) if j != i], sp.Poly(1, x, _X))
            new = new - self.P * d(D) * others * k
        return Rep(new, tuple((D, k + 1) for D, k in self.Ds), self.N)

    def as_expr(self) -> sp.Expr:
        e = self.P.as_expr() * sp.Mul(*[D.as_expr() ** (-k) for D, k in self.Ds])
        return e.xreplace({_X: sp.exp(x / self.N)})

    def forms(self):
        """``(for x < 0, for x >= 0)``: expressions in the symbols X (= exp(x/N)) resp. Y (= exp(-x/N))."""
        neg = sp.horner(self.P.as_expr(), _X) * sp.Mul(*[sp.horner(D.as_expr(), _X) ** (-k) for D, k in self.Ds])
        # x >= 0: X = 1/Y, clear the negative powers of Y
        def flip(p: sp.Poly):
            deg = p.degree(_X)
            q = sp.Poly(sp.expand(p.as_expr().xreplace({_X: 1 / _Y}) * _Y**deg), x, _Y)
            return q, deg
        Pq, dp = flip(self.P)
        ypow = -dp
        fac = sp.Integer(1)
        for D, k in self.Ds:
            Dq, dd = flip(D)
            fac *= sp.horner(Dq.as_expr(), _Y) ** (-k)
            ypow += dd * k
        pos = sp.horner(Pq.as_expr(), _Y) * fac * _Y**ypow
        return neg, pos


def odd_derivatives(fprime: sp.Expr, count: int):
    """``[f', f''', f^(5), ...]`` (``count`` of them) as :class:`Rep`, or None if f' is not representable."""
    r = Rep.from_expr(fprime)
    if r is None:
        return None
    out = [r]
    for _ in range(count - 1):
        r = r.diff().diff()
        out.append(r)
    return out
