"""The Gauss-Legendre block of a pair (``_gauss_order``, ``_gauss_prep``, ``_gauss_block``): fixed-order rules
for a scalar delta, vectorized over the elements (the plan: :mod:`.gauss`)."""

from __future__ import annotations

import sympy as sp

from ..symbols import delta
from .emit import T_VAR, Block, njit
from .fastpath import branch_free_lines, fast_formula
from .printer import NumbaPrinter
from .shared import runtime_calls


def _gfp_lines(fp: sp.Expr, bits: int) -> tuple[list[str], str, set]:
    """The lines of the Gauss block's branch-free f' in float``bits``, its value, the helpers they call."""
    body, n, _ = fast_formula(fp)
    vp = NumbaPrinter(vector_math=True, width=bits)  # (the generic _vexp would compile both widths)
    lines, val = branch_free_lines(vp, body, n, "_g")
    return lines, val, vp.helpers


def gauss_calls(fp: sp.Expr) -> set[str]:
    """The shared functions the float64 Gauss block calls for ``f' = fp``."""
    lines, val, _ = _gfp_lines(fp, 64)
    return runtime_calls("\n".join(lines + [val]))


def gauss_source(gp, lo, hi) -> tuple[str, set, str, bool]:
    """``_gauss_order``, ``_gauss_prep`` and ``_gauss_block`` for a :class:`.gauss.GaussPlan`: (source, helpers,
    note). The block evaluates ``sum_k W_k [f'(x + S_k) + f'(x - S_k)]`` in float64 over blocks of elements
    (innermost loop over the elements, so LLVM vectorizes it); NaN and +-inf are replaced by 0 for the rule and
    their results overwritten afterwards with ``lo, hi`` (the limits of D at x = -inf, +inf) or NaN (no call of
    ``kernel`` here: inlined, LLVM may speculate its arithmetic on inf and raise FP flags)."""
    from . import gauss

    lp = NumbaPrinter({delta: "d"})  # (the limits of a raw kernel depend on delta)
    lo_s, hi_s = lp.doprint(lo), lp.doprint(hi)

    blk = Block()
    orders = sorted(gp.nodes)
    offs, ts, ws = [-1] * (gauss.NMAX + 1), [], []
    for nn in orders:
        offs[nn] = len(ts)
        ts += gp.nodes[nn][0]
        ws += gp.nodes[nn][1]
    blk.add("_EXPMASK = np.int64(0x7FF0000000000000)")
    blk.add("_MANMASK = np.int64(0x000FFFFFFFFFFFFF)")
    blk.add(f"_GEMIN = {gauss.EMIN}")
    blk.add(f"_GEMAX = {gauss.EMAX}")
    blk.add(f"_GN = np.array({list(gp.table)!r}, dtype=np.int64)")
    blk.add(f"_GN32 = np.array({list(gp.table32)!r}, dtype=np.int64)")
    blk.add(f"_GO = np.array({offs!r}, dtype=np.int64)")
    blk.add(f"_GT = np.array({[float(v) for v in ts]!r})")
    blk.add(f"_GW = np.array({[float(v) for v in ws]!r})")
    blk.add()
    # f' > 0: float32 data may sum in float32 (positive terms: a few ulps, far below the float32 target) with
    # twice the SIMD lanes; a sign-changing f' (GELU, SiLU) sums in float64
    f32 = bool(gp.fp.is_positive)
    for bits in (64, 32) if f32 else (64,):
        lines, val, helpers = _gfp_lines(gp.fp, bits)  # (the same helpers for both widths)
        blk.add(njit(', fastmath={"contract"}, inline="always"'))
        blk.add(f"def _gfp{'32' if bits == 32 else ''}(x):")
        blk.add(f'"""f\'(x) without branches (both sides of x = 0 computed and selected): vectorizable; float{bits}."""', 1)
        blk.add("T = type(x)", 1)
        for ln in lines + [f"return {val}"]:
            blk.add(ln, 1)
        blk.add()
    blk.add(njit())
    blk.add("def _gauss_order(delta):")
    blk.add('"""The order N of the rule for this delta (its type: the loop\'s), 0 where the scalar kernel is used."""', 1)
    blk.add("T = type(delta)", 1)
    blk.add("e = math.frexp(np.float64(delta))[1]", 1)
    blk.add("if not (delta > T(0.0)) or e > _GEMAX:", 1)
    blk.add("return 0", 2)
    blk.add("if T(1.0) + T(1e-08) == T(1.0):", 1)
    blk.add("return _GN32[max(e, _GEMIN) - _GEMIN]", 2)
    blk.add("return _GN[max(e, _GEMIN) - _GEMIN]", 1)
    blk.add()
    pr = NumbaPrinter({T_VAR: "t"})
    blk.add(njit())
    blk.add("def _gauss_prep(delta, n, S, W):")
    blk.add('"""S[:n], W[:n] = abscissae S_k = delta t_k^m, weights W_k = w_k g(t_k, delta) (float64)."""', 1)
    blk.add("T = type(delta)", 1)
    blk.add("o = _GO[n]", 1)
    blk.add("for k in range(n):", 1)
    blk.add("t = _GT[o + k]", 2)
    blk.add(f"S[k] = {pr.doprint(gp.s_of_t)}", 2)
    blk.add(f"W[k] = _GW[o + k] * ({pr.doprint(gp.g)})", 2)
    blk.add()
    for bits in (64, 32) if f32 else (64,):
        ft = "np.float32" if bits == 32 else "np.float64"
        blk.add(njit(', fastmath={"contract"}'))
        blk.add(f"def _gauss_block{'32' if bits == 32 else ''}(xs, out, S, W, n, d):")
        blk.add(f'"""out[i] = sum_k W_k [f\'(x_i + S_k) + f\'(x_i - S_k)] in float{bits}; the limits (or NaN) where x_i is '
                'not finite"""', 1)
        blk.add(f"acc = _scratch(256, {ft})", 1)
        blk.add(f"xb = _scratch(256, {ft})", 1)
        blk.add("xo = _scratch(256, np.float64)", 1)
        blk.add("T = type(d)", 1)
        blk.add("for start in range(0, xs.shape[0], 256):", 1)
        blk.add("m = min(start + 256, xs.shape[0]) - start", 2)
        blk.add("bad = 0", 2)
        blk.add("# the whole block is read before any of it is written: out may be xs itself, or overlap it", 2)
        blk.add("for i in range(m):", 2)
        blk.add("xv = np.float64(xs[start + i])", 3)
        blk.add("xo[i] = xv", 3)
        blk.add("nf = (xv.view(np.int64) & _EXPMASK) == _EXPMASK  # NaN or inf, tested on the bits: no FP flag", 3)
        blk.add(f"xb[i] = {ft}(0.0 if nf else xv)  # the rule never sees them (f' of inf would raise FP flags)", 3)
        blk.add("bad += nf", 3)
        blk.add("for i in range(m):", 2)
        blk.add(f"acc[i] = {ft}(0.0)", 3)
        blk.add("for k in range(n):", 2)
        blk.add(f"s = {ft}(S[k])", 3)
        blk.add(f"w = {ft}(W[k])", 3)
        blk.add("for i in range(m):", 3)
        g = "_gfp32" if bits == 32 else "_gfp"
        blk.add(f"acc[i] += w * ({g}(xb[i] + s) + {g}(xb[i] - s))", 4)
        blk.add("for i in range(m):", 2)
        blk.add("out[start + i] = acc[i]", 3)
        blk.add("if bad:", 2)
        blk.add("for i in range(m):", 3)
        blk.add("xv = np.float64(xo[i])", 4)
        blk.add("bits = xv.view(np.int64)  # (an ordered comparison with NaN raises the invalid flag once vectorized)", 4)
        blk.add("if (bits & _EXPMASK) == _EXPMASK:", 4)
        blk.add(f"out[start + i] = T(xv) if bits & _MANMASK else ({hi_s} if bits > 0 else {lo_s})", 5)
        blk.add()

    def runs(table):
        groups = []  # [N, first e, last e]
        for e, nn in zip(range(gauss.EMIN, gauss.EMAX + 1), table):
            if groups and groups[-1][0] == nn:
                groups[-1][2] = e
            else:
                groups.append([nn, e, e])
        return ", ".join(f"{nn} below 2^{hi}" if nn else f"none from 2^{lo - 1}" for nn, lo, hi in groups)

    where = "in float64 (float32 data: in float32, as f' > 0)" if f32 else "in float64"
    note = (f"scalar delta: fixed-order Gauss-Legendre on the rho form, sum_k W_k [f'(x + S_k) + f'(x - S_k)] "
            f"{where} (vectorized over the elements; N chosen at build time per binade of delta against a "
            f"(2N + 8)-point rule, +{gauss.MARGIN} nodes, +{gauss.MARGIN32} for float32; the scalar kernel where no N "
            f"is tabulated): "
            f"float64 N = {runs(gp.table)}; float32 N = {runs(gp.table32)}")
    return blk.text(), helpers, note, f32
