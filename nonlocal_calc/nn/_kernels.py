"""The trainer's Numba kernels: everything between the BLAS matrix products, one pass each.

* :func:`activation_kernels` builds, for a compiled activation ``f`` and a compiled backward derivative ``g``
  (both ``(x, delta) -> float``), a forward kernel (bias, slope, activation, dropout in one pass) and a
  backward kernel that fuses the derivative with the incoming gradient and also reduces the bias and slope
  gradients in the same pass.
* :func:`softmax_xent` and :func:`mse` add the output bias and return the loss and the output gradient.
* :func:`sgd_step`, :func:`momentum_step`, :func:`adam_step` update the flat parameter vector in place.
* :func:`spmm` is the first layer's products for a sparse input (MNIST is four fifths zeros).

Kernels are serial (the dense matrix products use the BLAS threads) except :func:`spmm`, whose threads
each own whole output rows; either way a run is bit-for-bit repeatable.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

_jit = numba.njit(cache=False, nogil=True, fastmath=False)


@functools.cache
def activation_kernels(f, g, g_fast=None):  # noqa: ANN001, ANN201 (Numba dispatchers)
    """``(forward, backward)`` kernels for activation ``f`` and backward derivative ``g``.

    ``g_fast``, optional, is ``(prep, kfast)`` with ``kfast(x, delta, prep(delta)) == g(x, delta)`` for
    0 < delta < inf (see :func:`nonlocal_calc.codegen.fast_kernel`): the backward pass then calls ``prep``
    once instead of once per element.

    ``forward(Z, b, s, mask, delta, A)``: ``Z += b`` in place, ``A = f(s * Z, delta) * mask`` (``mask`` of
    shape (0, 0) means no dropout). ``s`` holds the per-neuron slopes ``n * a`` (ones without adaptation).

    ``backward(dA, Z, s, mask, delta, dZ, gb, ga)``: ``dH = dA * mask * g(s * Z, delta)``, ``dZ = s * dH``
    (``dZ`` may be ``dA``), ``gb[j] = sum_i dZ[i, j]`` and ``ga[j] = sum_i dH[i, j] * Z[i, j]`` (the slope
    gradient before the factor n).
    """

    @_jit
    def forward(Z, b, s, mask, delta, A):  # noqa: ANN001, ANN202
        m, n = Z.shape
        drop = mask.shape[0] > 0
        for i in range(m):
            for j in range(n):
                zij = Z[i, j] + b[j]
                Z[i, j] = zij
                a = f(s[j] * zij, delta)
                if drop:
                    a *= mask[i, j]
                A[i, j] = a

    hoist = g_fast is not None
    if hoist:
        prep, kfast = g_fast
    else:  # stand-ins so that both branches below type-check; never called

        @_jit
        def prep(d):  # noqa: ANN001, ANN202
            return d

        @_jit
        def kfast(x, d, P):  # noqa: ANN001, ANN202
            return g(x, d)

    @_jit
    def backward(dA, Z, s, mask, delta, dZ, gb, ga):  # noqa: ANN001, ANN202
        m, n = Z.shape
        drop = mask.shape[0] > 0
        accb = np.zeros(n)
        acca = np.zeros(n)
        fast = hoist and delta > 0.0 and delta < math.inf
        dT = type(s[0])(delta)  # the kernel computes in the array's precision
        P = prep(dT if fast else type(s[0])(1.0))
        gv = np.empty(n, Z.dtype)
        for i in range(m):
            # the derivative of the row first, in a loop of its own: LLVM turns the branches of a piecewise
            # derivative into selects there (vectorized), instead of mispredicted jumps in the loop below
            if fast:
                for j in range(n):
                    gv[j] = kfast(s[j] * Z[i, j], dT, P)
            else:
                for j in range(n):
                    gv[j] = g(s[j] * Z[i, j], delta)
            for j in range(n):
                d = dA[i, j]
                if drop:
                    d *= mask[i, j]
                zij = Z[i, j]
                dh = d * gv[j]
                dz = dh * s[j]
                dZ[i, j] = dz
                accb[j] += dz
                acca[j] += dh * zij
        for j in range(n):
            gb[j] = accb[j]
            ga[j] = acca[j]

    return forward, backward


def softmax_xent(Z, b, y, want_grad, dZ, gb):  # noqa: ANN001, ANN201
    """Mean softmax cross-entropy of logits ``Z + b`` (``Z`` updated in place) against labels ``y``.

    Returns ``(loss, n_correct)``; with ``want_grad`` fills ``dZ = (softmax - onehot) / m`` and ``gb``
    (``dZ`` is scratch space either way). Two Numba passes around NumPy's exp, which is SIMD-vectorized
    (Numba's scalar exp is not, and was most of this function's time).
    """
    if not _xent_shift(Z, b, dZ):  # overflow or NaN in the logits: report it, the trainer stops the run
        return math.nan, 0
    np.exp(dZ, out=dZ)
    return _xent_finish(Z, dZ, y, want_grad, gb)


@_jit
def _xent_shift(Z, b, E):  # noqa: ANN001, ANN202
    """``Z += b`` and ``E[i] = Z[i] - max_j Z[i, j]``; False if a row's maximum is not finite."""
    m, k = Z.shape
    for i in range(m):
        mx = Z[i, 0] + b[0]
        for j in range(k):
            zij = Z[i, j] + b[j]
            Z[i, j] = zij
            mx = max(mx, zij)
        if not math.isfinite(mx):
            return False
        for j in range(k):
            E[i, j] = Z[i, j] - mx
    return True


@_jit
def _xent_finish(Z, E, y, want_grad, gb):  # noqa: ANN001, ANN202
    """From ``E = exp(Z - rowmax)``: ``(mean loss, n_correct)``; with ``want_grad``, ``E = (softmax - onehot) / m``."""
    m, k = Z.shape
    loss = 0.0
    correct = 0
    accb = np.zeros(k)
    inv_m = 1.0 / m
    for i in range(m):
        best = 0
        total = 0.0
        for j in range(k):
            total += E[i, j]
            if Z[i, j] > Z[i, best]:
                best = j
        yi = y[i]
        loss += math.log(total) + Z[i, best] - Z[i, yi]  # log-sum-exp minus the label's logit
        if best == yi:
            correct += 1
        if want_grad:
            scale = inv_m / total
            for j in range(k):
                p = E[i, j] * scale
                if j == yi:
                    p -= inv_m
                E[i, j] = p
                accb[j] += p
    if want_grad:
        for j in range(k):
            gb[j] = accb[j]
    return loss * inv_m, correct


@_jit
def mse(Z, b, Y, want_grad, dZ, gb):  # noqa: ANN001, ANN201
    """Mean over samples of the squared error ``|Y_i - (Z_i + b)|^2`` (``Z`` updated in place).

    Returns ``(loss, n_correct)`` where ``n_correct`` counts argmax agreement (meaningful for one-hot
    targets only); with ``want_grad`` fills ``dZ = 2 (Z + b - Y) / m`` and ``gb``.
    """
    m, k = Z.shape
    loss = 0.0
    correct = 0
    accb = np.zeros(k)
    two_m = 2.0 / m
    for i in range(m):
        best = 0
        besty = 0
        for j in range(k):
            zij = Z[i, j] + b[j]
            Z[i, j] = zij
            r = zij - Y[i, j]
            loss += r * r
            if zij > Z[i, best]:
                best = j
            if Y[i, j] > Y[i, besty]:
                besty = j
            if want_grad:
                dz = two_m * r
                dZ[i, j] = dz
                accb[j] += dz
        if best == besty:
            correct += 1
    if want_grad:
        for j in range(k):
            gb[j] = accb[j]
    return loss / m, correct


@_jit
def sgd_step(p, g, lr):  # noqa: ANN001, ANN201
    """``p -= lr * g``."""
    for i in range(p.shape[0]):
        p[i] -= lr * g[i]


@_jit
def momentum_step(p, g, v, lr, mu):  # noqa: ANN001, ANN201
    """Heavy-ball momentum (PyTorch form): ``v = mu * v + g``, ``p -= lr * v``."""
    for i in range(p.shape[0]):
        v[i] = mu * v[i] + g[i]
        p[i] -= lr * v[i]


@_jit
def adam_step(p, g, m1, m2, lr, beta1, beta2, eps, t):  # noqa: ANN001, ANN201
    """Adam (Kingma and Ba, Algorithm 1) at step ``t >= 1``, with bias-corrected moments."""
    c1 = 1.0 - beta1**t
    c2 = 1.0 - beta2**t
    for i in range(p.shape[0]):
        gi = g[i]
        m1[i] = beta1 * m1[i] + (1.0 - beta1) * gi
        m2[i] = beta2 * m2[i] + (1.0 - beta2) * gi * gi
        p[i] -= lr * (m1[i] / c1) / (math.sqrt(m2[i] / c2) + eps)


SPMM_WIDTH = 10  # spmm's column count: twenty scalar accumulators stay in registers (a column loop did not)


@functools.cache
def cached_kernels():  # noqa: ANN201 (a module)
    """The module :mod:`._cached_kernels`, imported from its copy in the toolkit's cache directory, so that
    Numba's disk cache of its kernels is there too (not beside the installed package)."""
    from pathlib import Path

    from ..cache import key_hash
    from ..codegen import modcache

    src = Path(__file__).with_name("_cached_kernels.py").read_text()
    return modcache.load_module(src, "nn_" + key_hash("nn kernels", src, numba.__version__))


def spmm(ptr, idx, val, B, out):  # noqa: ANN001, ANN201
    """``out[r, :] = sum_p val[p] * B[idx[p], :]`` over ``p`` in ``ptr[r]:ptr[r + 1]``, ``B`` and ``out``
    C-contiguous with :data:`SPMM_WIDTH` columns: :func:`._cached_kernels.spmm`."""
    cached_kernels().spmm(ptr, idx, val, B, out)


def sparse_matmul(mat, B, out):  # noqa: ANN001, ANN201
    """``out = S @ B`` for ``mat = (ptr, idx, val)``, the compressed rows of ``S``, and any number of columns:
    :func:`spmm` on blocks of :data:`SPMM_WIDTH` columns, the last one padded with zeros."""
    w = SPMM_WIDTH
    if B.shape[1] == w and B.flags.c_contiguous and out.flags.c_contiguous:
        spmm(*mat, B, out)
        return
    Bc = np.zeros((B.shape[0], w), B.dtype)
    oc = np.empty((out.shape[0], w), out.dtype)
    for c in range(0, B.shape[1], w):
        n = min(w, B.shape[1] - c)
        Bc[:, :n] = B[:, c : c + n]
        Bc[:, n:] = 0
        spmm(*mat, Bc, oc)
        out[:, c : c + n] = oc[:, :n]


@_jit
def all_finite(a):  # noqa: ANN001, ANN201
    """Whether every entry of the 1-D array ``a`` is finite."""
    for i in range(a.shape[0]):
        if not math.isfinite(a[i]):
            return False
    return True
