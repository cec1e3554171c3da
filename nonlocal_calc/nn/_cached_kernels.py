"""The trainer's kernels that Numba caches on disk (``cache=True``): the sparse products of the first layer.

Numba writes the machine code of a cached function beside the function's source file, which for an installed
package is a directory the user may not write (a system install). So this file is not imported from the
package: :func:`nonlocal_calc.nn._kernels.cached_kernels` copies it into the toolkit's cache directory and
imports it from there (as a generated module, see :mod:`nonlocal_calc.codegen.modcache`), and Numba's cache
sits beside that copy. Imported from the package (the documentation tests import every module), it compiles
without a disk cache.
"""

from __future__ import annotations

import numba
import numpy as np

#: Cache on disk only in the copy imported from the cache directory (a generated module's name).
CACHED = __name__.startswith("nlc_")


@numba.njit(cache=CACHED, nogil=True, fastmath=False, parallel=True)
def spmm(ptr, idx, val, B, out):  # noqa: ANN001, ANN201
    """``out[r, :] = sum_p val[p] * B[idx[p], :]`` over ``p`` in ``ptr[r]:ptr[r + 1]`` (a compressed sparse
    matrix times a dense ``B``); ``B`` and ``out`` are C-contiguous with 10 columns (see
    :func:`nonlocal_calc.nn._kernels.sparse_matmul` for any width).

    With ``(ptr, idx, val)`` the rows of ``X`` this is ``X @ B``; with its columns, ``X.T @ B``. Each row
    of ``out`` is summed by one thread in a fixed order, so the result does not depend on the number of
    threads. Two interleaved sets of accumulators (``a``, ``e``) hide the latency of the additions.
    """
    zero = np.zeros(1, out.dtype)[0]
    for r in numba.prange(out.shape[0]):
        p1 = ptr[r + 1]
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = zero
        e0 = e1 = e2 = e3 = e4 = e5 = e6 = e7 = e8 = e9 = zero
        p = ptr[r]
        while p + 1 < p1:
            k = idx[p]
            v = val[p]
            k2 = idx[p + 1]
            v2 = val[p + 1]
            a0 += v * B[k, 0]
            e0 += v2 * B[k2, 0]
            a1 += v * B[k, 1]
            e1 += v2 * B[k2, 1]
            a2 += v * B[k, 2]
            e2 += v2 * B[k2, 2]
            a3 += v * B[k, 3]
            e3 += v2 * B[k2, 3]
            a4 += v * B[k, 4]
            e4 += v2 * B[k2, 4]
            a5 += v * B[k, 5]
            e5 += v2 * B[k2, 5]
            a6 += v * B[k, 6]
            e6 += v2 * B[k2, 6]
            a7 += v * B[k, 7]
            e7 += v2 * B[k2, 7]
            a8 += v * B[k, 8]
            e8 += v2 * B[k2, 8]
            a9 += v * B[k, 9]
            e9 += v2 * B[k2, 9]
            p += 2
        if p < p1:
            k = idx[p]
            v = val[p]
            a0 += v * B[k, 0]
            a1 += v * B[k, 1]
            a2 += v * B[k, 2]
            a3 += v * B[k, 3]
            a4 += v * B[k, 4]
            a5 += v * B[k, 5]
            a6 += v * B[k, 6]
            a7 += v * B[k, 7]
            a8 += v * B[k, 8]
            a9 += v * B[k, 9]
        out[r, 0] = a0 + e0
        out[r, 1] = a1 + e1
        out[r, 2] = a2 + e2
        out[r, 3] = a3 + e3
        out[r, 4] = a4 + e4
        out[r, 5] = a5 + e5
        out[r, 6] = a6 + e6
        out[r, 7] = a7 + e7
        out[r, 8] = a8 + e8
        out[r, 9] = a9 + e9
