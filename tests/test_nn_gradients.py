"""Backpropagation checked against central finite differences of an independent NumPy implementation.

For the ``exact`` derivative the gradient is the gradient of the loss. For ``nonlocal`` and ``poster`` the
backward pass replaces f' by another function g, so it is not the gradient of the loss; it is, exactly, the
gradient of the loss of the network in which every hidden activation is linearized around the current
pre-activations H0: ``A = f(H0) + g(H0) (H - H0)`` (same values at the current parameters, derivative g).
Finite differences of that linearized loss check every option, with no kink anywhere near the steps.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from nonlocal_calc.nn import MLP, Pointwise, prepare_input
from nonlocal_calc.symbols import delta, x

H = 1e-6


def ref_objective(net: MLP, theta: np.ndarray, X: np.ndarray, Y: np.ndarray, *, H0=None, masks=None) -> tuple:
    """The objective (data loss + S(a)) in plain NumPy float64 from the flat parameters ``theta``.

    Independent of the trainer's kernels: the activation and the backward derivative are evaluated through
    ``sympy.lambdify(..., "numpy")`` and the slope recovery term is written out from the paper.
    Returns ``(objective, list of pre-activations H per hidden layer)``.
    """
    with np.errstate(all="ignore"):  # NumPy evaluates every branch of a Piecewise, even where it is invalid
        return _ref_objective(net, theta, X, Y, H0=H0, masks=masks)


def _ref_objective(net: MLP, theta: np.ndarray, X: np.ndarray, Y: np.ndarray, *, H0=None, masks=None) -> tuple:
    f = sp.lambdify((x, delta), net.pointwise.forward_expr, "numpy")
    g = sp.lambdify((x, delta), net.pointwise.backward_expr, "numpy")
    d = net.pointwise.delta
    theta = np.asarray(theta, dtype=np.float64)
    n = net.slope_scale
    a = theta[net.slope_slice]
    hidden = net.sizes[1:-1]
    A = X.astype(np.float64)
    Hs = []
    off = 0
    for k, L in enumerate(net.layers):
        W = theta[L.w].reshape(L.fan_in, L.fan_out)
        Z = A @ W + theta[L.b]
        if k == len(net.layers) - 1:
            break
        if net.adaptive == "global":
            s = n * a[0]
        elif net.adaptive == "layer":
            s = n * a[k]
        elif net.adaptive == "neuron":
            s = n * a[off : off + hidden[k]]
        else:
            s = 1.0
        off += hidden[k]
        Hk = s * Z
        Hs.append(Hk)
        fv = np.broadcast_to(np.asarray(f(Hk, d) if H0 is None else f(H0[k], d), dtype=float), Hk.shape)
        if H0 is not None:
            fv = fv + np.broadcast_to(np.asarray(g(H0[k], d), dtype=float), Hk.shape) * (Hk - H0[k])
        A = fv if masks is None or masks[k].size == 0 else fv * masks[k]
    m = X.shape[0]
    if net.loss == "cross_entropy":
        Zs = Z - Z.max(axis=1, keepdims=True)
        logp = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(m), Y].mean()
    else:
        loss = ((Z - Y) ** 2).sum(axis=1).mean()
    if net.slope_recovery:
        D1 = len(hidden)
        if net.adaptive == "global":
            means = np.full(D1, a[0])
        elif net.adaptive == "layer":
            means = a
        else:
            cuts = np.cumsum([0, *hidden])
            means = np.array([a[cuts[k] : cuts[k + 1]].mean() for k in range(D1)])
        loss += 1.0 / (np.exp(means).sum() / D1)  # S(a) = 1 / ((1/(D-1)) sum_k exp(mean a^k))
    return loss, Hs


def fd_gradient(net: MLP, X, Y, *, linearized: bool, masks=None) -> np.ndarray:
    theta0 = net.params.astype(np.float64).copy()
    H0 = ref_objective(net, theta0, X, Y, masks=masks)[1] if linearized else None
    grad = np.empty_like(theta0)
    for i in range(theta0.size):
        tp, tm = theta0.copy(), theta0.copy()
        tp[i] += H
        tm[i] -= H
        grad[i] = (ref_objective(net, tp, X, Y, H0=H0, masks=masks)[0]
                   - ref_objective(net, tm, X, Y, H0=H0, masks=masks)[0]) / (2 * H)
    return grad


def check(net: MLP, X, Y, *, linearized: bool = True, dropout_rng=None, tol: float = 1e-6) -> None:
    loss, _ = net.loss_and_grad(X, Y, dropout_rng)
    analytic = net.grad.astype(np.float64).copy()
    masks = [m.copy() for m in net.masks]
    fd = fd_gradient(net, X, Y, linearized=linearized, masks=masks)
    ref_loss = ref_objective(net, net.params, X, Y, masks=masks)[0] - net.slope_recovery_term()
    assert loss == pytest.approx(ref_loss, rel=1e-10)
    err = np.max(np.abs(analytic - fd)) / max(1.0, np.max(np.abs(fd)))
    assert err < tol, f"max relative gradient error {err:.2e}"
    assert np.max(np.abs(fd)) > 1e-3  # the check is not vacuous


def data(n_in: int = 5, m: int = 7, k: int = 3, seed: int = 0, regression: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_in))
    Y = rng.standard_normal((m, k)) if regression else rng.integers(0, k, m).astype(np.int64)
    return X, Y


TANH = Pointwise(sp.tanh(x), 1 - sp.tanh(x) ** 2, name="tanh/exact", info={"activation": "tanh"})
# A backward function unrelated to the forward one: the check must still pass (it tests the plumbing).
ODD = Pointwise(sp.tanh(x), sp.cos(3 * x) + x**2 * delta, delta=0.3, name="tanh/custom")


@pytest.mark.parametrize("pw", [TANH, ODD], ids=["exact", "custom"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_custom_pointwise_two_hidden_layers(pw: Pointwise, loss: str) -> None:
    X, Y = data(regression=loss == "mse")
    net = MLP([5, 4, 3, 3], pw, loss=loss, seed=1)
    check(net, X, Y, linearized=pw is ODD)
    if pw is TANH:
        check(net, X, Y, linearized=True)


@pytest.mark.parametrize("adaptive", ["global", "layer", "neuron"])
@pytest.mark.parametrize("recovery", [False, True])
def test_adaptive_slopes_and_slope_recovery(adaptive: str, recovery: bool) -> None:
    X, Y = data(regression=True, k=1)
    net = MLP([5, 4, 3, 1], TANH, loss="mse", adaptive=adaptive, slope_scale=10.0, slope_recovery=recovery, seed=2)
    rng = np.random.default_rng(5)  # move the slopes away from their common initial value 1/n
    net.params[net.slope_slice] += 0.05 * rng.standard_normal(net.slope_slice.stop - net.slope_slice.start)
    check(net, X, Y, linearized=False)
    check(net, X, Y, linearized=True)


def test_dropout_gradient_uses_the_same_mask() -> None:
    X, Y = data()
    net = MLP([5, 6, 3], TANH, dropout=0.5, seed=3)
    check(net, X, Y, linearized=False, dropout_rng=np.random.default_rng(0))
    assert any((m == 0).any() for m in net.masks)


def test_float32_gradient_close_to_float64() -> None:
    X, Y = data()
    net64 = MLP([5, 4, 3], TANH, seed=4)
    net32 = MLP([5, 4, 3], TANH, seed=4, dtype="float32")
    net64.loss_and_grad(X, Y)
    net32.loss_and_grad(X.astype(np.float32), Y)
    np.testing.assert_allclose(net32.grad, net64.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("sizes", [[6, 5, 3], [6, 12, 3], [6, 3]])
def test_prepared_input_gives_the_same_gradient(sparse, sizes) -> None:
    """Full-batch training passes prepare_input(X): sparse (compressed rows and columns, products over the
    nonzeros, in blocks of 10 output columns) or dense (X transposed, all-zero columns left out)."""
    X, Y = data(n_in=6, m=9)
    X[:, [1, 4]] = 0.0  # two features that are zero in every example
    X[X < -0.5] = 0.0  # and scattered zeros
    net = MLP(sizes, ODD, adaptive="neuron" if len(sizes) > 2 else "none", seed=6)
    net.loss_and_grad(X, Y)
    plain = net.grad.copy()
    prepared = prepare_input(X, sparse=sparse)
    assert prepared.sparse == sparse
    if not sparse:
        assert prepared.cols.tolist() == [0, 2, 3, 5] and prepared.xt.flags.c_contiguous
    loss, _ = net.loss_and_grad(X, Y, prepared=prepared)
    np.testing.assert_allclose(net.grad, plain, rtol=1e-12, atol=1e-15)
    gW0 = net.grad[net.layers[0].w].reshape(6, sizes[1])
    assert not gW0[[1, 4]].any() and gW0[[0, 2, 3, 5]].any()
    fd = fd_gradient(net, X, Y, linearized=True, masks=[m.copy() for m in net.masks])
    assert np.max(np.abs(net.grad - fd)) / np.max(np.abs(fd)) < 1e-6
    with pytest.raises(ValueError, match="prepare_input\\(X\\) of this very array"):
        net.loss_and_grad(X.copy(), Y, prepared=prepared)


def test_prepare_input_chooses_the_layout_by_density() -> None:
    full = prepare_input(np.ones((3, 6)))
    assert not full.sparse and full.cols is None and full.xt.shape == (6, 3)
    mostly_zero = np.zeros((4, 6))
    mostly_zero[[0, 3], [2, 5]] = [1.5, -2.0]
    s = prepare_input(mostly_zero)
    assert s.sparse
    ptr, idx, val = s.columns
    assert ptr.tolist() == [0, 0, 0, 1, 1, 1, 2] and idx.tolist() == [0, 3] and val.tolist() == [1.5, -2.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 10, 23])
def test_sparse_products_match_numpy(dtype, width) -> None:
    """spmm on MNIST-like data (80 % zeros, rows of every length including empty ones) against NumPy."""
    rng = np.random.default_rng(width)
    X = (rng.random((57, 31)) * (rng.random((57, 31)) < 0.2)).astype(dtype)
    X[5] = 0.0
    p = prepare_input(X, sparse=True)
    W = rng.standard_normal((31, width)).astype(dtype)
    D = rng.standard_normal((57, width)).astype(dtype)
    out, gout = np.empty((57, width), dtype), np.empty((31, width), dtype)
    p.times(W, out)
    p.transpose_times(D, gout)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, X.astype(float) @ W.astype(float), rtol=tol, atol=tol)
    np.testing.assert_allclose(gout, X.T.astype(float) @ D.astype(float), rtol=tol, atol=tol)
    assert not out[5].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hoisted_nonlocal_kernel_equals_the_kernel(dtype) -> None:
    """The backward pass calls ``kfast(x, delta, prep(delta))``; it must be the ufunc's kernel (to an ulp: where
    LLVM fuses a multiply-add depends on the call site)."""
    from nonlocal_calc.nn import resolve

    pw = resolve("relu", "nonlocal", "sign", 0.1)
    assert pw.g_fast is not None
    prep, kfast = pw.g_fast
    d = dtype(0.1)
    P = prep(d)
    xs = np.concatenate([np.linspace(-0.3, 0.3, 601), [0.0, -0.1, 0.1, np.inf, -np.inf, np.nan]]).astype(dtype)
    fast = np.array([kfast(v, d, P) for v in xs], dtype=dtype)
    ref = np.array([pw.g(v, d) for v in xs], dtype=dtype)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fast, ref, rtol=2 * eps, atol=eps)
    assert fast.dtype == dtype and np.isnan(fast[-1]) and fast[-3] == 1.0 and fast[-2] == 0.0
