"""The quadrature every pair has: adaptive Gauss-Kronrod 7/15 of ``int f'(x+s) rho(s) ds`` after the
substitution ``s = delta t^m`` that makes the weight smooth (``_fallback(x, delta, tol)``)."""

from __future__ import annotations

import sympy as sp

from ..symbols import delta, x, z
from . import runtime
from .emit import S_VAR, T_VAR, Block, njit
from .fprime import activation_pieces, jumps_at_kinks, piece_source
from .printer import NumbaPrinter, number_literal
from .scales import feature_tables
from .stable import accurate_functions, scale_growing_exponentials, small_horizon_series

#: What a module takes from :mod:`.runtime.kronrod`: the Gauss-Kronrod 7/15 rule and its node tables.
KRONROD = ("_GKX", "_GKW", "_GGW", "_gk15")

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


def add_kronrod(blk: Block, unpack: str, doc: str, expr: str) -> None:
    """Append the rule of :mod:`.runtime.kronrod` and its integrand ``_gkf(t, data)`` to ``blk``: ``data``
    unpacked as ``unpack`` (which names x; ``T`` is its type), docstring ``doc``, value ``expr``. (One integrand per
    module: two of different types, passed to two inlined copies of the rule, made a loop 3-5 times slower.)

    >>> b = Block()
    >>> add_kronrod(b, "x, delta", "t times x.", "x * t")
    >>> [ln for ln in b.lines if ln.startswith("def ")][-1], b.lines[-2]
    ('def _gkf(t, data):', '    return x * t')
    """
    blk.lines += runtime.source("kronrod", KRONROD).lstrip("\n").splitlines()
    blk.add()
    blk.add()
    blk.add(njit())
    blk.add("def _gkf(t, data):")
    blk.add(f'"""{doc}"""', 1)
    blk.add(f"{unpack} = data", 1)
    blk.add("T = type(x)", 1)
    blk.add(f"return {expr}", 1)
    blk.add()


def add_cuts(blk: Block, fc: list[float], fw: list[float]) -> None:
    """Append the functions of :mod:`.runtime.cuts` and the feature tables ``_FC``, ``_FW`` they read
    (:func:`.scales.feature_tables`) to ``blk``."""
    blk.lines += runtime.source("cuts").lstrip("\n").splitlines()
    blk.add()
    blk.add()
    blk.add(f"_FC = np.array({fc!r}, dtype=np.float64)")
    blk.add(f"_FW = np.array({fw!r}, dtype=np.float64)")
    blk.add()


#: Room for the cut points of one interval between kinks (runtime/cuts.py keeps the first this many: those nearest
#: the features, as each feature's points are added outward).
MAX_CUTS = 512


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
    # the integrand of the rule of runtime/kronrod.py: f'(x + side s) rho(s) ds/dt at t, s = delta t^m
    add_kronrod(blk, "x, delta, side, piece",
                "The integrand in t on one side: f' of the panel's piece at x + side s times rho(s) ds/dt.",
                f"{fp.format(f'x + side * {ss}')} * ({ws})")
    add_cuts(blk, *feature_tables(sp.Add(*(sp.diff(p, x) for p in pieces)), rho, x, S_VAR, delta, m))
    blk.add(njit())
    blk.add("def _fallback(x, delta, tol):")
    blk.add('"""Both sides, cut at the kinks (nearest first) and at points graded around the features of f\' and rho '
            '(runtime/cuts.py);\n    each piece refined uniformly (1, 2, 4... 256 panels)."""', 1)
    blk.add("T = type(x)", 1)
    blk.add("ys = _scratch(15, np.float64)", 1)
    blk.add(f"cuts = _scratch({MAX_CUTS}, np.float64)", 1)
    blk.add("total = T(0.0)", 1)
    blk.add("for side in (T(-1.0), T(1.0)):", 1)
    blk.add("a = T(0.0)", 2)
    blk.add("sa = T(0.0)", 2)
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
    blk.add("c = delta", 4)
    blk.add("elif c <= T(0.0) or c >= delta:", 3)
    blk.add("continue", 4)
    blk.add("nc = _feature_cuts(cuts, sa, c, _FC, _FW, x, side)", 3)
    blk.add("for q in range(nc + 1):", 3)
    blk.add("if q == nc:", 4)
    blk.add("tc = T(1.0) if j == last else " + (f"(c / delta) ** {inv_m}" if m != 1 else "c / delta"), 5)
    blk.add("else:", 4)
    blk.add(f"tc = (cuts[q] / delta) ** {inv_m}" if m != 1 else "tc = cuts[q] / delta", 5)
    blk.add("n = 1", 4)
    blk.add("while True:", 4)
    blk.add("part = T(0.0)", 5)
    blk.add("err = T(0.0)", 5)
    blk.add("hp = (tc - a) / T(n)", 5)
    blk.add("for i in range(n):", 5)
    blk.add("v, e, _ = _gk15(_gkf, a + hp * T(i), a + hp * T(i + 1), (x, delta, side, piece), ys)", 6)
    blk.add("part += v", 6)
    blk.add("err += e", 6)
    blk.add("if err <= tol * abs(part) or err <= tol * T(1e-3) or n >= 256 or err != err:", 5)
    blk.add("break", 6)
    blk.add("n *= 2", 5)
    blk.add("total += part", 4)
    blk.add("a = tc", 4)
    blk.add("sa = c", 3)
    blk.add("piece += step", 3)
    for b, J in zip(bps, jumps):
        if J != 0:
            rho_at = pr.doprint(rho.subs(S_VAR, sp.Abs(b - x)))
            blk.add(f"if abs({pr.doprint(b)} - x) < delta:", 1)
            blk.add(f"total += T({number_literal(J)}) * ({rho_at})", 2)
    blk.add("return total", 1)
    return blk.text(), pr.helpers
