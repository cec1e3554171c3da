"""The small-delta moment series ``sum_j M_(2j+1)/(2j+1)! f^(2j+1)(x) delta^(2j)`` from its coefficient tables.

Each term is ``M[j] delta^(2j) P_j(x, X) prod_i D_i(x, X)^(-k_ij)``, with ``X = exp(-|x|/N)`` and the polynomials
``P_j`` and ``D_i`` stored as coefficient tables (``series_tables.series_source`` writes them per pair): the evaluator is the
same for every pair. Generated modules contain this source (see :mod:`nonlocal_calc.codegen.runtime`).
"""

import math

import numba


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _bpoly(C, off, nx, nX, x, X):
    """sum_(a,b) C[off + b*nx + a] x^a X^b (Horner in X, then in x)."""
    T = type(x)
    r = T(0.0)
    if nx == 1:
        for b in range(nX - 1, -1, -1):
            r = r * X + T(C[off + b])
        return r
    for b in range(nX - 1, -1, -1):
        c = T(0.0)
        for a in range(nx - 1, -1, -1):
            c = c * x + T(C[off + b * nx + a])
        r = r * X + c
    return r


@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", fastmath={"contract"})
def _series_eval_d(x, delta, X, P, PI, r0, nt, Dc, DI, d0, nd, M, EPS):
    """sum_j M[j] delta^(2j) P_j(x, X) prod_i D_i(x, X)^(-k_ij), stopped when the terms are negligible against
    the unit roundoff EPS."""
    T = type(x)
    b0 = T(1.0)
    b1 = T(1.0)
    s0 = T(1.0)
    s1 = T(1.0)
    for i in range(nd):
        d = _bpoly(Dc, DI[d0 + i, 0], DI[d0 + i, 1], DI[d0 + i, 2], x, X)
        q = DI[d0 + i, 4]
        b = T(1.0) / d if q == 1 else (T(1.0) / math.sqrt(d) if q == 2 else math.pow(d, -T(1.0) / T(q)))
        p = T(1.0)
        for _ in range(DI[d0 + i, 3]):
            p = p * b
        st = T(1.0)
        for _ in range(2 * q):
            st = st * b
        if i == 0:
            b0 = p
            s0 = st
        else:
            b1 = p
            s1 = st
    d2 = delta * delta
    dp = T(1.0)
    total = T(0.0)
    absum = T(0.0)
    last = T(0.0)
    prev = T(0.0)
    for j in range(nt):
        r = r0 + j
        t = T(M[j]) * dp * _bpoly(P, PI[r, 0], PI[r, 1], PI[r, 2], x, X) * b0 * b1
        for _ in range(PI[r, 3]):
            t = t * X
        for _ in range(-PI[r, 3]):
            t = t / X
        total += t
        absum += abs(t)
        # stop after two consecutive negligible terms (one alone may sit at a zero of f^(2j+1))
        if j >= 2 and abs(t) <= T(0.0625) * EPS * abs(total) and last <= T(0.0625) * EPS * abs(total):
            return total, T(2.0) * EPS * absum
        # give up early when the observed decay cannot reach the tolerance within the remaining terms
        if j == 2 and last > T(0.0):
            q = abs(t) / last
            rest = abs(t)
            for _ in range(nt - 3):
                rest = rest * q
            if q >= T(1.0) or rest > EPS * abs(total):
                return total, T(math.inf)
        prev = last
        last = abs(t)
        dp = dp * d2
        b0 = b0 * s0
        b1 = b1 * s1
    # truncation: the larger of the last two terms (one of them may sit at a zero of f^(2j+1))
    return total, T(2.0) * max(last, prev) + T(2.0) * EPS * absum



@numba.njit(cache=True, _nrt=False, no_cpython_wrapper=True, error_model="numpy", inline="always")
def _series_one_factor(sd, delta, C, g, k, q, last, EPS):
    """The series when every term is ``c_j delta^(2j) D^(-k/q - 2j)`` (one factor ``D = sd``; the c_j in row g of
    C, j = 0..last): ``(value, error estimate)`` as ``_series_eval_d`` gives them (the larger of the last two terms,
    twice, plus 2 eps sum |t_j|), as one Horner sum in ``z = delta^2 / D^2`` (no tables to walk: softsign/linear
    outside the horizon, 114-123 -> 17 ns per element in float64). Inlined into its caller, in the caller's type."""
    T = type(sd)
    sb = T(1.0) / sd if q == 1 else T(1.0) / math.sqrt(sd)
    sk = T(1.0)
    for _ in range(k):
        sk = sk * sb
    z = delta * delta / (sd * sd)
    s = T(0.0)
    a = T(0.0)
    for j in range(last, -1, -1):
        s = s * z + T(C[g, j])
        a = a * z + abs(T(C[g, j]))
    p = T(1.0)
    for _ in range(last - 1):
        p = p * z
    e = (T(2.0) * max(abs(T(C[g, last - 1])), abs(T(C[g, last])) * z) * p + T(2.0) * EPS * a) * abs(sk)
    return s * sk, e
