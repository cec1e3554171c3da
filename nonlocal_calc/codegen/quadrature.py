"""The quadrature every pair has: adaptive Gauss-Kronrod 7/15 of ``int f'(x+s) rho(s) ds`` after the
substitution ``s = delta t^m`` that makes the weight smooth (``_fallback(x, delta, tol)``)."""

from __future__ import annotations

import sympy as sp

from ..symbols import delta, x, z
from .emit import S_VAR, T_VAR, Block, njit
from .fprime import activation_pieces, jumps_at_kinks, piece_source
from .printer import NumbaPrinter, number_literal
from .stable import accurate_functions, scale_growing_exponentials, small_horizon_series

# Gauss-Kronrod 7/15 (QUADPACK); checked against mpmath in the tests.
GK_XK = (0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
         0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
         0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
         0.207784955007898467600689403773245, 0.0)
GK_WK = (0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
         0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
         0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
         0.204432940075298892414161999234649, 0.209482141084727828012999174891714)
GK_WG = (0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
         0.381830050505118944950369775488975, 0.417959183673469387755102040816327)


#: The substitution power for a logarithmic singularity of rho at 0 (rho ~ log s, the kernel 1/|z|): the weight
#: becomes t^(m-1) log t, which the 15-point Gauss-Kronrod rule integrates to 7e-14 on one panel, 3e-16 on two
#: (with m = 1: 2e-4 on 8 panels, the 7e-6 of power(-1) before).
LOG_POWER = 8


def rho_parts(D):
    """rho(s) for s > 0 as an expression in s and delta, and the substitution power m (s = delta t^m)."""
    rho = D.kernel.rho.subs(z, S_VAR)
    rho = rho.replace(lambda e: isinstance(e, sp.Abs), lambda e: e.args[0])  # s > 0
    rho = sp.simplify(rho) if rho.has(sp.Abs) else rho
    rho = accurate_functions(small_horizon_series(scale_growing_exponentials(rho)))  # (a fixed-width factor: 1 - exp(a), a constant ~ delta^3)
    return rho, substitution_power(rho)


def substitution_power(weight: sp.Expr) -> int:
    """The power m of ``s = delta t^m`` that makes a weight in s smooth in t: the common denominator of its
    fractional powers of s, times :data:`LOG_POWER` where it has a logarithm of s."""
    m = 1
    for p in weight.atoms(sp.Pow):
        if p.base.has(S_VAR) and p.exp.is_Rational and not p.exp.is_Integer:
            m = sp.ilcm(m, p.exp.q)
    if any(lg.has(S_VAR) for lg in weight.atoms(sp.log)):
        m *= LOG_POWER
    return int(m)


def weight_in_t(rho: sp.Expr, m: int) -> tuple[sp.Expr, sp.Expr]:
    """``(g, s(t))`` with ``s = delta t^m`` and ``g = rho(s(t)) ds/dt``: ``int_0^delta F(s) rho(s) ds`` becomes
    ``int_0^1 F(s(t)) g(t, delta) dt``, smooth in t where rho has powers ``s^(k/m)``. The powers of t are
    multiplied out and the logarithms split (``log(delta t^m) - log(delta) = m log t``): no cancellation of
    terms that grow at t = 0 or of ``log delta`` against itself."""
    s_of_t = delta * T_VAR**m
    g = sp.powsimp(sp.expand_power_base(rho.subs(S_VAR, s_of_t) * m * delta * T_VAR ** (m - 1), force=True), force=True)
    g = sp.expand_log(g, force=True) if g.has(sp.log) else g
    return sp.factor_terms(sp.expand(g, power_exp=False, log=False)), s_of_t


def fallback_source(D) -> tuple[str, set]:
    """``_fallback(x, delta, tol)``: Gauss-Kronrod quadrature of ``int f'(x+s) rho(s) ds`` (+ jump terms) to the
    relative tolerance ``tol``."""
    rho, m = rho_parts(D)
    pieces, bps = activation_pieces(D)
    jumps = jumps_at_kinks(pieces, bps)
    pr = NumbaPrinter({S_VAR: "s", T_VAR: "t"})
    # integrand in t on one side: f'(x + side*s) rho(s) ds/dt with s = delta t^m
    g, s_of_t = weight_in_t(rho, m)
    ws, ss = pr.doprint(g), pr.doprint(s_of_t)
    fp = "_fpk({}, piece)" if bps else "_fp({})"  # f' of the panel's piece (see piece_source), not of x + s's
    blk = Block()
    if bps:
        src, h = piece_source(D)
        blk.lines += src.splitlines()
        blk.add()
        pr.helpers |= h
    blk.add(f"_GKX = np.array({list(GK_XK)!r})")
    blk.add(f"_GKW = np.array({list(GK_WK)!r})")
    blk.add(f"_GGW = np.array({[0.0, GK_WG[0], 0.0, GK_WG[1], 0.0, GK_WG[2], 0.0, GK_WG[3]]!r})")
    blk.add()
    blk.add(njit())
    blk.add("def _gk(x, delta, side, a, b, piece):")
    blk.add('"""Gauss-Kronrod 7/15 over t in [a, b] of the rho-weighted f\' of that piece (s = delta t^m): (K, |K - G|)."""',
            1)
    blk.add("T = type(x)", 1)
    blk.add("c = (a + b) * T(0.5)", 1)
    blk.add("h = (b - a) * T(0.5)", 1)
    blk.add("k = T(0.0)", 1)
    blk.add("g = T(0.0)", 1)
    blk.add("ys = _scratch(15, np.float64)", 1)
    blk.add("for i in range(8):", 1)
    blk.add("t = c - h * T(_GKX[i])", 2)
    blk.add(f"y1 = {fp.format(f'x + side * {ss}')} * ({ws})", 2)
    blk.add("y2 = T(0.0)", 2)
    blk.add("if i < 7:", 2)
    blk.add("t = c + h * T(_GKX[i])", 3)
    blk.add(f"y2 = {fp.format(f'x + side * {ss}')} * ({ws})", 3)
    blk.add("ys[14 - i] = y2", 3)
    blk.add("ys[i] = y1", 2)
    blk.add("k += T(_GKW[i]) * (y1 + y2)", 2)
    blk.add("g += T(_GGW[i]) * (y1 + y2)", 2)
    blk.add("# QUADPACK's estimate: |K - G| bounds the Gauss error; the Kronrod error is far smaller", 1)
    blk.add("mean = k * T(0.5)", 1)
    blk.add("asc = T(0.0)", 1)
    blk.add("for i in range(8):", 1)
    blk.add("asc += T(_GKW[i]) * abs(T(ys[i]) - mean)", 2)
    blk.add("if i < 7:", 2)
    blk.add("asc += T(_GKW[i]) * abs(T(ys[14 - i]) - mean)", 3)
    blk.add("asc = asc * h", 1)
    blk.add("err = abs(k - g) * h", 1)
    blk.add("if asc > T(0.0) and err > T(0.0):", 1)
    blk.add("err = asc * min(T(1.0), (T(200.0) * err / asc) ** T(1.5))", 2)
    blk.add("return k * h, err", 1)
    blk.add()
    blk.add(njit())
    blk.add("def _fallback(x, delta, tol):")
    blk.add('"""Both sides, cut at the kinks (nearest first); each piece refined uniformly (1, 2, 4... 256 panels)."""',
            1)
    blk.add("T = type(x)", 1)
    blk.add("total = T(0.0)", 1)
    blk.add("for side in (T(-1.0), T(1.0)):", 1)
    blk.add("a = T(0.0)", 2)
    inv_m = f"T({1.0 / m!r})"
    # the kinks' distances in increasing order on each side, and the piece next to x on each side (f is
    # right-continuous: a kink at x belongs to the right side's piece)
    right = [pr.doprint(b - x) for b in bps]
    left = [pr.doprint(x - b) for b in reversed(bps)]
    blk.add(f"cs = ({''.join(c + ', ' for c in right)}T(2.0) * delta,)", 2)
    blk.add("piece = 0", 2)
    blk.add("step = 1", 2)
    blk.add("if side < T(0.0):", 2)
    blk.add(f"cs = ({''.join(c + ', ' for c in left)}T(2.0) * delta,)", 3)
    blk.add("step = -1", 3)
    for b in bps:
        blk.add(f"if {pr.doprint(b)} < x or ({pr.doprint(b)} == x and side > T(0.0)):", 2)
        blk.add("piece += 1", 3)
    # the last entry ends the side (t = 1); the kinks before it are told from it by position, not value: a kink
    # at distance exactly 2 delta (softsign at x = 2, delta = 1) must not end the side before its last panel
    blk.add("last = len(cs) - 1", 2)
    blk.add("for j in range(last + 1):", 2)
    blk.add("c = cs[j]", 3)
    blk.add("if j == last:", 3)
    blk.add("tc = T(1.0)", 4)
    blk.add("elif c <= T(0.0) or c >= delta:", 3)
    blk.add("continue", 4)
    blk.add("else:", 3)
    blk.add(f"tc = (c / delta) ** {inv_m}" if m != 1 else "tc = c / delta", 4)
    blk.add("n = 1", 3)
    blk.add("while True:", 3)
    blk.add("part = T(0.0)", 4)
    blk.add("err = T(0.0)", 4)
    blk.add("hp = (tc - a) / T(n)", 4)
    blk.add("for i in range(n):", 4)
    blk.add("v, e = _gk(x, delta, side, a + hp * T(i), a + hp * T(i + 1), piece)", 5)
    blk.add("part += v", 5)
    blk.add("err += e", 5)
    blk.add("if err <= tol * abs(part) or err <= tol * T(1e-3) or n >= 256 or err != err:", 4)
    blk.add("break", 5)
    blk.add("n *= 2", 4)
    blk.add("total += part", 3)
    blk.add("a = tc", 3)
    blk.add("piece += step", 3)
    for b, J in zip(bps, jumps):
        if J != 0:
            rho_at = pr.doprint(rho.subs(S_VAR, sp.Abs(b - x)))
            blk.add(f"if abs({pr.doprint(b)} - x) < delta:", 1)
            blk.add(f"total += T({number_literal(J)}) * ({rho_at})", 2)
    blk.add("return total", 1)
    return blk.text(), pr.helpers
