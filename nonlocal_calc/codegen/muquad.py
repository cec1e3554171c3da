"""The quadrature of kernels whose smoothing profile has no compiled code: ``_fallback(x, delta, tol)`` from mu.

Some kernels have a smoothing profile rho that only special functions the generator has no code for express
(a singular power times a Gaussian: rho in ``lowergamma``; a compact bump: rho in ``expint``), while mu itself is
the elementary formula the user typed. For them the pair's quadrature is the defining integral

    D f(x) = int_0^delta A(z) 2 z mu(z) dz,    A(z) = (f(x + z) - f(x - z)) / (2 z),

with the substitution ``z = delta t^m`` that makes the weight ``2 z mu(z) dz/dt`` smooth in t (m from the powers
of z in mu), and, for a normalized kernel, divided by ``int_0^delta 2 z mu(z) dz`` on the same nodes (mu's factors
free of z, such as a normalization in lowergamma, cancel). The weight grows like ``z^(p+1)`` at 0 for mu ~ z^p, so
the rounding of the difference ``f(x + z) - f(x - z)`` (about ``eps |f|``) would be amplified without bound as
p -> -2. Below ``Z_INNER`` the secant slope A is therefore the mean of f' over ``[x - z, x + z]``: a
Gauss-Legendre sum of f' split at the kinks (plus the jumps of f inside), with no cancellation; above it the
difference is taken directly, where its rounding integrates to about ``eps |f| (p+2)/|p+1| (Z_INNER/delta)^(p+1)``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..symbols import delta, x, z
from .emit import S_VAR, T_VAR, TR_VAR, Block, njit
from .fprime import _stable_expr_forms, activation_pieces, jumps_at_kinks, piece_source
from .printer import NumbaPrinter, PrinterError
from .quadrature import MAX_CUTS, add_cuts, add_kronrod, substitution_power, weight_in_t
from .scales import feature_tables
from .stable import accurate_functions

#: Below this distance the secant slope is the mean of f' by Gauss-Legendre (no difference of f's values).
Z_INNER = 2.0**-7
#: Gauss-Legendre nodes of the mean of f' on each smooth part of ``[x - z, x + z]`` (length <= 2 Z_INNER: exact to
#: rounding for f' analytic within a few Z_INNER of the real axis).
N_INNER = 12


def mu_weight(D) -> tuple[sp.Expr, int, bool]:
    """``(2 s mu(s), m, ratio)``: the weight in s > 0, the substitution power m (s = delta t^m), and whether the
    result is divided by the weight's integral (a normalized kernel: z-free factors of mu that the printer cannot
    compile are dropped, the ratio restores them)."""
    mu = D.kernel.mu_plus.subs(z, S_VAR)
    ratio = bool(D.kernel.normalize)
    if ratio:
        keep = []
        for f in sp.Mul.make_args(mu):
            if not f.has(S_VAR):
                try:
                    NumbaPrinter().doprint(f)
                except PrinterError:
                    continue
            keep.append(f)
        mu = sp.Mul(*keep)
    w = accurate_functions(2 * S_VAR * mu)
    return w, substitution_power(w), ratio


def rho_at_zero_is_infinite(w: sp.Expr) -> bool:
    """Whether ``rho(0) = int_0^delta mu`` diverges, from the weight ``w = 2 s mu(s)``: mu ~ s^p with p <= -1 (a jump
    of f at x then makes D infinite, as the rho route's jump term ``J rho(0)`` says).

    >>> from nonlocal_calc.codegen.emit import S_VAR as s
    >>> rho_at_zero_is_infinite(2 * s * s**sp.Rational(-53, 27)), rho_at_zero_is_infinite(2 * s * s)
    (True, False)
    """
    lim = sp.limit(w / 2, S_VAR, 0, "+")
    return bool(lim != 0)


def _value_source(D) -> tuple[str, set]:
    """``_fvk(t, k)``: f of the activation's piece k at t."""
    pieces, _ = activation_pieces(D)
    pr = NumbaPrinter({T_VAR: "t", TR_VAR: "t"})
    blk = Block()
    blk.add(njit())
    blk.add("def _fvk(t, k):")
    blk.add("T = type(t)", 1)
    for i, p in enumerate(pieces):
        lines = _stable_expr_forms(pr, p.subs(x, T_VAR), f"v{i}_")
        if len(pieces) == 1:
            blk.lines += ["    " + ln for ln in lines]
            break
        blk.add("else:" if i == len(pieces) - 1 else f"{'if' if i == 0 else 'elif'} k == {i}:", 1)
        for ln in lines:
            blk.add(ln, 2)
    blk.add("return r", 1)
    return blk.text(), pr.helpers


def _slope_source(D) -> tuple[str, set]:
    """``_slope(x, z)``: the secant slope ``(f(x + z) - f(x - z)) / (2 z)``, by the mean of f' below Z_INNER."""
    pieces, bps = activation_pieces(D)
    pr = NumbaPrinter()
    jumps = jumps_at_kinks(pieces, bps)
    xs, ws = np.polynomial.legendre.leggauss(N_INNER)
    blk = Block()
    src, h = _value_source(D)
    blk.lines += src.splitlines()
    blk.add()
    if bps:
        src, h2 = piece_source(D)
        blk.lines += src.splitlines()
        blk.add()
        h |= h2
    fpk = "_fpk(x + v, k)" if bps else "_fp(x + v)"
    blk.add(f"_GLX = np.array({[float(v) for v in xs]!r})")
    blk.add(f"_GLW = np.array({[float(v) for v in ws]!r})")
    blk.add(f"_BPS = np.array({[float(b) for b in bps] or [0.0]!r})")
    blk.add(f"_JUMPS = np.array({[float(j) for j in jumps] or [0.0]!r})")
    blk.add(f"_NB = {len(bps)}")
    blk.add()
    blk.add(njit())
    blk.add("def _fmean(x, lo, hi, k):")
    blk.add('"""int of f\' of piece k over [x + lo, x + hi] (Gauss-Legendre)."""', 1)
    blk.add("c = (lo + hi) * 0.5", 1)
    blk.add("h = (hi - lo) * 0.5", 1)
    blk.add("acc = 0.0", 1)
    blk.add(f"for i in range({N_INNER}):", 1)
    blk.add("v = c + h * _GLX[i]", 2)
    blk.add(f"acc += _GLW[i] * {fpk}", 2)
    blk.add("return acc * h", 1)
    blk.add()
    blk.add(njit())
    blk.add("def _piece(u):")
    blk.add('"""The index of the piece of f at u (f is right-continuous at its kinks)."""', 1)
    blk.add("k = 0", 1)
    blk.add("for j in range(_NB):", 1)
    blk.add("if _BPS[j] <= u:", 2)
    blk.add("k += 1", 3)
    blk.add("return k", 1)
    blk.add()
    blk.add(njit())
    blk.add("def _slope(x, z):")
    blk.add('"""(f(x + z) - f(x - z)) / (2 z) for z > 0: below Z_INNER the mean of f\' (split at the kinks, plus the '
            'jumps inside),\n    with no cancellation; above it the difference itself."""', 1)
    blk.add("z = max(z, 2.2250738585072014e-308)  # (delta t^m underflows near t = 0 for m ~ 100: A there is f'(x))", 1)
    blk.add(f"if z >= {Z_INNER!r}:", 1)
    blk.add("return (_fvk(x + z, _piece(x + z)) - _fvk(x - z, _piece(x - z))) / (2.0 * z)", 2)
    blk.add("lo = -z", 1)
    blk.add("k = 0", 1)
    blk.add("acc = 0.0", 1)
    blk.add("for j in range(_NB):", 1)
    blk.add("d = _BPS[j] - x", 2)
    blk.add("if d <= -z:", 2)
    blk.add("k += 1", 3)
    blk.add("elif d <= z:", 2)
    blk.add("if d > lo:", 3)
    blk.add("acc += _fmean(x, lo, d, k)", 4)
    blk.add("lo = d", 4)
    blk.add("acc += _JUMPS[j]", 3)
    blk.add("k += 1", 3)
    blk.add("acc += _fmean(x, lo, z, k)", 1)
    blk.add("return acc / (2.0 * z)", 1)
    return blk.text(), h | pr.helpers


def mu_fallback_source(D) -> tuple[str, set]:
    """``_fallback(x, delta, tol)`` (float64): Gauss-Kronrod 7/15 of ``int_0^1 A(s(t)) w(t) dt`` (s = delta t^m),
    split where A is not smooth (the kinks' distances to x) and around the features of f and mu (:mod:`.scales`),
    each part refined uniformly (1, 2, 4... 256 panels);
    for a normalized kernel divided by ``int_0^1 w(t) dt`` on the same nodes."""
    w, m, ratio = mu_weight(D)
    _, bps = activation_pieces(D)
    pr = NumbaPrinter({S_VAR: "s", T_VAR: "t"})
    g, s_of_t = weight_in_t(w, m)
    wsrc, ssrc = pr.doprint(g), pr.doprint(s_of_t)
    src, h = _slope_source(D)
    blk = Block()
    blk.lines += src.splitlines()
    blk.add()
    # the integrand of the rule of runtime/kronrod.py: A w, or w alone (the normalization) at the same nodes
    add_kronrod(blk, "x, delta, weighted",
                "The integrand in t: the weight w(t), times the secant slope A at s = delta t^m if weighted.",
                f"(_slope(x, {ssrc}) if weighted else T(1.0)) * ({wsrc})")
    blk.add(njit())
    blk.add("def _mgk(x, delta, a, b):")
    blk.add('"""Gauss-Kronrod 7/15 over t in [a, b]: (int A w, |K - G| of it, int w, |K - G| of it)."""', 1)
    blk.add("ys = _scratch(15, np.float64)", 1)
    blk.add("v, _, e = _gk15(_gkf, a, b, (x, delta, True), ys)", 1)
    blk.add("wv, _, we = _gk15(_gkf, a, b, (x, delta, False), ys)", 1)
    blk.add("return v, e, wv, we", 1)
    blk.add()
    blk.add(njit())
    blk.add("def _mpart(x, delta, a, b, tol):")
    blk.add('"""int_a^b A w dt and int_a^b w dt, [a, b] refined uniformly (1, 2, 4... 256 panels) to the tolerance."""', 1)
    blk.add("n = 1", 1)
    blk.add("while True:", 1)
    blk.add("part = 0.0", 2)
    blk.add("err = 0.0", 2)
    blk.add("wpart = 0.0", 2)
    blk.add("werr = 0.0", 2)
    blk.add("hp = (b - a) / n", 2)
    blk.add("for i in range(n):", 2)
    blk.add("v, e, wv, we = _mgk(x, delta, a + hp * i, a + hp * (i + 1))", 3)
    blk.add("part += v", 3)
    blk.add("err += e", 3)
    blk.add("wpart += wv", 3)
    blk.add("werr += we", 3)
    blk.add("if ((err <= tol * abs(part) or err <= tol * 1e-3 * abs(wpart)) and werr <= tol * abs(wpart)) or n >= 256 "
            "or err != err:", 2)
    blk.add("return part, wpart", 3)
    blk.add("n *= 2", 2)
    blk.add()
    pieces, _ = activation_pieces(D)
    add_cuts(blk, *feature_tables(sp.Add(*pieces), w, x, S_VAR, delta, m))
    blk.add(njit())
    blk.add("def _fallback(x, delta, tol):")
    blk.add('"""Split at the kinks\' distances to x (where A is not smooth), nearest first, and at points graded around '
            'the features\n    of f and mu (runtime/cuts.py)."""', 1)
    if rho_at_zero_is_infinite(w) and any(j != 0 for j in jumps_at_kinks(*activation_pieces(D))):
        blk.add("for j in range(_NB):", 1)
        blk.add("if _BPS[j] == x and _JUMPS[j] != 0.0:  # a jump at x against rho(0) = inf", 2)
        blk.add("return math.inf if _JUMPS[j] > 0.0 else -math.inf", 3)
    blk.add(f"cuts = _scratch({MAX_CUTS}, np.float64)", 1)
    blk.add("total = 0.0", 1)
    blk.add("norm = 0.0", 1)
    blk.add("a = 0.0", 1)
    blk.add("done = 0.0", 1)
    blk.add("while True:", 1)
    blk.add("c = delta", 2)
    blk.add("for j in range(_NB):", 2)
    blk.add("d = abs(_BPS[j] - x)", 3)
    blk.add("if done < d < c:", 3)
    blk.add("c = d", 4)
    blk.add("nc = _feature_cuts(cuts, done, c, _FC, _FW, x, 0.0)  # (f at x + z and x - z)", 2)
    blk.add("for q in range(nc + 1):", 2)
    blk.add("e = c if q == nc else cuts[q]", 3)
    blk.add("tc = 1.0 if e == delta else " + (f"min((e / delta) ** {1.0 / m!r}, 1.0)" if m != 1 else "e / delta"), 3)
    blk.add("if tc > a:", 3)
    blk.add("v, wv = _mpart(x, delta, a, tc, tol)", 4)
    blk.add("total += v", 4)
    blk.add("norm += wv", 4)
    blk.add("a = tc", 4)
    blk.add("if c == delta:", 2)
    blk.add("break", 3)
    blk.add("done = c", 2)
    blk.add("return total / norm" if ratio else "return total", 1)
    return blk.text(), h | pr.helpers


__all__ = ["mu_fallback_source", "mu_weight", "Z_INNER", "N_INNER"]
