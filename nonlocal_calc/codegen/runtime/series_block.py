"""The moment series evaluated for a block of elements at once (``make_ufunc(..., vectorize_series=True)``).

The same series and error estimate as :mod:`.series`, for up to 256 elements with one scalar delta: elements are
grouped by the piece of f and the side of 0 they lie on, and the innermost loops run over the elements, so that
LLVM vectorizes them. ``done[i]`` tells where the series is certified; the loop evaluates the other elements one by
one. Generated modules of the fast route contain this source (see :mod:`nonlocal_calc.codegen.runtime`) with the
pair's series tables (``series_tables.series_source``); the placeholders below stand for those names, so that this file
imports on its own.
"""

import math

import numba
import numpy as np

# ---- what a generated module defines (placeholders here; a generated module does not contain these lines)
_scratch = _vexp = None  # internals.loop_support, runtime.vmath
RTOL32 = RTOL64 = ATOL32 = ATOL64 = 0.0  # the tolerances of the checked paths
#: The series tables: moments, the P and D coefficient tables with their index rows, the groups (piece and side
#: of 0), the breakpoints of f, the number of terms.
_SM = _SP = _SD = _SB = np.zeros(0)
_SPI = _SDI = _SG = np.zeros((0, 5), dtype=np.int64)
_SPI_NT = 0

@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _vpoly(C, off, nx, nX, xv, Xv, k, acc, tmp):
    """acc[:k] = sum C[off + b*nx + a] x^a X^b elementwise (innermost loops over the elements vectorize)."""
    T = type(xv[0])
    for i in range(k):
        acc[i] = T(0.0)
    for b in range(nX - 1, -1, -1):
        c0 = T(C[off + b * nx + nx - 1])
        for i in range(k):
            tmp[i] = c0
        for a in range(nx - 2, -1, -1):
            ca = T(C[off + b * nx + a])
            for i in range(k):
                tmp[i] = tmp[i] * xv[i] + ca
        for i in range(k):
            acc[i] = acc[i] * Xv[i] + tmp[i]


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _series_block(xs, d, out, start, stop, done, work):
    """The series for the elements start..stop - 1 (scalar delta > 0), whose x are xs[0:stop - start] (a copy),
    vectorized over the elements; done[i - start] tells where it is certified (the caller evaluates the other
    elements with the scalar kernel)."""
    T = type(d)
    IS32 = T(1.0) + T(1e-08) == T(1.0)
    EPS = T(5.960464477539063e-08) if IS32 else T(1.1102230246251565e-16)
    rt = T(RTOL32) if IS32 else T(RTOL64)
    at = T(ATOL32) if IS32 else T(ATOL64)
    idx = _scratch(256, np.int64)
    xv = work[0:256]
    Xv = work[256:512]
    acc = work[512:768]
    tmp = work[768:1024]
    p0 = work[1024:1280]
    s0 = work[1280:1536]
    tot = work[1536:1792]
    asum = work[1792:2048]
    tl = work[2048:2304]
    tp = work[2304:2560]
    nb = _SB.shape[0]
    d2 = d * d
    for i in range(stop - start):
        done[i] = False
    if True:
        for g in range(_SG.shape[0]):
            piece = g // 2
            neg = g % 2 == 0
            k = 0
            for i in range(start, stop):
                x = xs[i - start]
                if not (abs(x) < T(math.inf)):
                    continue
                if (x < T(0.0)) != neg:
                    continue
                pc = 0
                ok = True
                for bi in range(nb):
                    bb = T(_SB[bi])
                    if x >= bb:
                        pc += 1
                    if abs(x - bb) <= d:
                        ok = False
                if ok and pc == piece:
                    idx[k] = i
                    k += 1
            if k == 0:
                continue
            r0 = _SG[g, 0]
            d0 = _SG[g, 1]
            nd = _SG[g, 2]
            sc = T(1.0) / T(_SG[g, 3]) if neg else -T(1.0) / T(_SG[g, 3])
            for i in range(k):
                xv[i] = xs[idx[i] - start]
            if _SG[g, 4] == 1:
                for i in range(k):
                    Xv[i] = _vexp(xv[i] * sc)
            else:
                for i in range(k):
                    Xv[i] = T(1.0)
            for i in range(k):
                p0[i] = T(1.0)
                s0[i] = T(1.0)
            for j in range(nd):
                _vpoly(_SD, _SDI[d0 + j, 0], _SDI[d0 + j, 1], _SDI[d0 + j, 2], xv, Xv, k, acc, tmp)
                q = _SDI[d0 + j, 4]
                for i in range(k):
                    bq = T(1.0) / acc[i] if q == 1 else T(1.0) / math.sqrt(acc[i])
                    pw = T(1.0)
                    for _ in range(_SDI[d0 + j, 3]):
                        pw = pw * bq
                    st = T(1.0)
                    for _ in range(2 * q):
                        st = st * bq
                    p0[i] = p0[i] * pw
                    s0[i] = s0[i] * st
            for i in range(k):
                tot[i] = T(0.0)
                asum[i] = T(0.0)
                tl[i] = T(0.0)
                tp[i] = T(0.0)
            dp = T(1.0)
            small = 0
            for jj in range(_SPI_NT):
                r = r0 + jj
                _vpoly(_SP, _SPI[r, 0], _SPI[r, 1], _SPI[r, 2], xv, Xv, k, acc, tmp)
                m = T(_SM[jj]) * dp
                yp = _SPI[r, 3]
                worst = T(0.0)
                for i in range(k):
                    t = m * acc[i] * p0[i]
                    for _ in range(yp):
                        t = t * Xv[i]
                    for _ in range(-yp):
                        t = t / Xv[i]
                    tot[i] += t
                    asum[i] += abs(t)
                    tp[i] = tl[i]
                    tl[i] = abs(t)
                    worst = max(worst, abs(t) / max(abs(tot[i]), T(1e-300)))
                    p0[i] = p0[i] * s0[i]
                dp = dp * d2
                small = small + 1 if worst <= T(0.0625) * EPS else 0
                if small >= 2:
                    break
            for i in range(k):
                v = tot[i]
                e = T(2.0) * max(tl[i], tp[i]) + T(2.0) * EPS * asum[i]
                if small >= 2:
                    e = T(2.0) * EPS * asum[i]
                if e <= max(rt * abs(v), at) and abs(v) < T(math.inf):
                    out[idx[i]] = v
                    done[idx[i] - start] = True
