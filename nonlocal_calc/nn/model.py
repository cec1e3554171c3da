"""A dense multilayer perceptron whose backward pass uses a chosen activation derivative.

All parameters live in one flat vector (``model.params``; gradients in ``model.grad``), layer by layer:
``W_k`` (fan_in x fan_out, row-major) then ``b_k``, then the adaptive slopes ``a`` if any. The matrix
products are NumPy/BLAS calls; everything between them is one fused Numba pass (:mod:`._kernels`).

Adaptive activations (Jagtap, Kawaguchi, Karniadakis): hidden layer k computes ``sigma(n * a^k * L_k(z))``
with one slope for the whole network (``global``, GAAF), one per hidden layer (``layer``, L-LAAF) or one per
neuron (``neuron``, N-LAAF); the slopes are initialized so that ``n * a = 1``. The slope recovery term is
``S(a) = 1 / ((1/(D-1)) sum_k exp(m_k))`` with ``m_k = a^k`` (layer), the neuron mean of ``a_i^k``
(neuron), or the single ``a`` (global), summed over the D-1 hidden layers.

>>> import numpy as np, sympy as sp
>>> from nonlocal_calc.symbols import x
>>> from nonlocal_calc.nn.derivatives import Pointwise
>>> net = MLP([3, 4, 2], Pointwise(sp.tanh(x), 1 - sp.tanh(x)**2), seed=0)
>>> X, y = np.ones((5, 3)), np.array([0, 1, 0, 1, 1])
>>> loss, correct = net.loss_and_grad(X, y)
>>> net.n_params, net.grad.shape
(26, (26,))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _kernels as K
from .derivatives import Pointwise

SPARSE_MAX_DENSITY = 1 / 3  # below this fraction of nonzeros the sparse products beat BLAS here


@dataclass(frozen=True)
class PreparedInput:
    """A batch laid out for the first layer's products ``X W`` and ``X^T dZ``, for a batch reused every iteration.

    Sparse inputs (MNIST is four fifths zeros) are held compressed twice, by rows (``rows``, for ``X W``) and
    by columns (``columns``, for ``X^T dZ``), each a ``(ptr, idx, val)`` triple, and multiplied by a Numba
    kernel that touches only the nonzeros. Dense inputs are ``xt``: the columns ``cols`` of ``x`` that are
    not zero in every example, transposed and C-contiguous (for skinny first layers OpenBLAS computes
    ``W^T X^T`` faster than ``X W``). Either way, weights of all-zero columns get an
    exactly zero gradient. Build it with :func:`prepare_input`.
    """

    x: np.ndarray
    xt: np.ndarray | None = None
    cols: np.ndarray | None = None  # None: every column
    rows: tuple | None = None
    columns: tuple | None = None

    @property
    def sparse(self) -> bool:
        return self.rows is not None

    def times(self, W: np.ndarray, out: np.ndarray) -> None:
        """``out = X @ W``."""
        if self.sparse:
            K.sparse_matmul(self.rows, W, out)
        else:
            W0 = W if self.cols is None else W[self.cols]
            np.copyto(out, (W0.T @ self.xt).T)

    def transpose_times(self, D: np.ndarray, out: np.ndarray) -> None:
        """``out = X.T @ D``."""
        if self.sparse:
            K.sparse_matmul(self.columns, D, out)
        elif self.cols is None:
            np.matmul(self.xt, D, out=out)
        else:
            out.fill(0)
            out[self.cols] = self.xt @ D


def prepare_input(X: np.ndarray, sparse: bool | None = None) -> PreparedInput:
    """The :class:`PreparedInput` of ``X`` (a 2-D array in the model's dtype); ``sparse`` defaults to whether
    at most :data:`SPARSE_MAX_DENSITY` of ``X`` is nonzero.

    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 0.0]])
    >>> p = prepare_input(X, sparse=False)
    >>> p.cols.tolist(), p.xt.shape
    ([1, 2], (2, 2))
    >>> s = prepare_input(X, sparse=True)
    >>> out = np.empty((2, 1))
    >>> s.times(np.ones((3, 1)), out)
    >>> out.ravel().tolist()
    [3.0, 3.0]
    """
    m, n = X.shape
    if sparse is None:
        sparse = np.count_nonzero(X) <= SPARSE_MAX_DENSITY * X.size
    if sparse:
        r, c = np.nonzero(X)  # in row-major order
        by_col = np.argsort(c, kind="stable")  # rows stay ascending within a column
        rows = (_offsets(r, m), c.astype(np.int32), X[r, c])
        columns = (_offsets(c, n), r[by_col].astype(np.int32), rows[2][by_col])
        return PreparedInput(X, rows=rows, columns=columns)
    used = np.flatnonzero(np.any(X != 0, axis=0))
    cols = None if used.size == n else used
    xt = np.ascontiguousarray((X if cols is None else X[:, cols]).T)
    return PreparedInput(X, xt, cols)


def _offsets(i: np.ndarray, n: int) -> np.ndarray:
    """Where each of ``0..n-1`` starts in the sorted index array ``i`` (``n + 1`` offsets)."""
    return np.concatenate([[0], np.cumsum(np.bincount(i, minlength=n))]).astype(np.int64)


ADAPTIVE = ("none", "global", "layer", "neuron")
INITS = ("auto", "he", "glorot", "uniform")
LOSSES = ("cross_entropy", "mse")


@dataclass
class _Layer:
    fan_in: int
    fan_out: int
    w: slice
    b: slice


class MLP:
    """Dense network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with a linear output layer.

    ``loss``: ``cross_entropy`` (softmax on the output, integer labels) or ``mse`` (float targets).
    ``init``: ``he`` (normal, variance 2/fan_in, zero biases), ``glorot`` (normal, variance
    2/(fan_in+fan_out), zero biases), ``uniform`` (weights and biases uniform on [-0.5, 0.5), the NumPy
    from-scratch style of the poster's code) or ``auto`` (he for ReLU-family activations, else glorot).
    ``dropout`` is the probability of zeroing a hidden unit during training (inverted dropout).
    """

    def __init__(
        self,
        sizes: list[int] | tuple[int, ...],
        pointwise: Pointwise,
        *,
        loss: str = "cross_entropy",
        adaptive: str = "none",
        slope_scale: float = 10.0,
        slope_recovery: bool = False,
        dropout: float = 0.0,
        dtype: str | np.dtype = "float64",
        init: str = "auto",
        seed: int = 0,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer sizes must be at least two positive integers, got {sizes}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if adaptive not in ADAPTIVE:
            raise ValueError(f"unknown adaptive mode {adaptive!r}; choose one of {', '.join(ADAPTIVE)}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if adaptive != "none" and not slope_scale > 0:
            raise ValueError(f"slope_scale n must be positive, got {slope_scale}")
        if slope_recovery and adaptive == "none":
            raise ValueError("the slope recovery term needs adaptive slopes: set adaptive to global, layer or neuron")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.sizes = sizes
        self.pointwise = pointwise
        self.loss = loss
        self.adaptive = adaptive
        self.slope_scale = float(slope_scale)
        self.slope_recovery = bool(slope_recovery)
        self.dropout = float(dropout)
        self.n_hidden = len(sizes) - 2
        self.forward_kernel, self.backward_kernel = K.activation_kernels(pointwise.f, pointwise.g, pointwise.g_fast)

        self.layers: list[_Layer] = []
        off = 0
        for fi, fo in zip(sizes[:-1], sizes[1:]):
            w = slice(off, off + fi * fo)
            b = slice(w.stop, w.stop + fo)
            self.layers.append(_Layer(fi, fo, w, b))
            off = b.stop
        self.n_weights = off
        hidden_sizes = sizes[1:-1]
        n_slopes = {"none": 0, "global": 1 if self.n_hidden else 0, "layer": self.n_hidden,
                    "neuron": sum(hidden_sizes)}[adaptive]
        self.slope_slice = slice(off, off + n_slopes)
        self.n_params = off + n_slopes
        self.params = np.zeros(self.n_params, dtype=self.dtype)
        self.grad = np.zeros(self.n_params, dtype=self.dtype)
        # per-hidden-layer offsets into the neuron-wise slope vector
        self._neuron_off = np.concatenate([[0], np.cumsum(hidden_sizes)]).astype(int)
        self._s = [np.ones(n, dtype=self.dtype) for n in hidden_sizes]  # n * a per neuron
        self._ga = [np.zeros(n, dtype=self.dtype) for n in hidden_sizes]  # slope grads per neuron
        self._empty_mask = np.zeros((0, 0), dtype=self.dtype)
        self._buffers: dict[int, dict] = {}
        self.masks: list[np.ndarray] = []
        self.init = init
        self.reset(seed, init)

    # ------------------------------------------------------------------ parameters
    def W(self, k: int) -> np.ndarray:
        """The weight matrix of layer k (a view into ``params``), shape (fan_in, fan_out)."""
        L = self.layers[k]
        return self.params[L.w].reshape(L.fan_in, L.fan_out)

    def b(self, k: int) -> np.ndarray:
        return self.params[self.layers[k].b]

    @property
    def slopes_raw(self) -> np.ndarray:
        """The trainable slope parameters ``a`` (a view; empty without adaptation)."""
        return self.params[self.slope_slice]

    def reset(self, seed: int = 0, init: str | None = None) -> None:
        """Draw fresh parameters from ``seed`` (values drawn in float64, then rounded to the dtype)."""
        init = init or self.init
        if init == "auto":
            name = (self.pointwise.info.get("activation") or self.pointwise.name or "").lower()
            init = "he" if "relu" in name else "glorot"
        rng = np.random.default_rng(seed)
        p = np.zeros(self.n_params)
        for L in self.layers:
            if init == "uniform":
                p[L.w] = rng.random(L.fan_in * L.fan_out) - 0.5
                p[L.b] = rng.random(L.fan_out) - 0.5
            else:
                var = 2.0 / L.fan_in if init == "he" else 2.0 / (L.fan_in + L.fan_out)
                p[L.w] = rng.standard_normal(L.fan_in * L.fan_out) * math.sqrt(var)
        p[self.slope_slice] = 1.0 / self.slope_scale  # n * a = 1
        self.params[:] = p
        self.init_resolved = init

    def slope_values(self) -> list[np.ndarray]:
        """``n * a`` for every neuron of every hidden layer (ones without adaptation)."""
        self._update_slopes()
        return [s.copy() for s in self._s]

    def _layer_means(self) -> np.ndarray:
        a = self.slopes_raw.astype(np.float64)
        if self.adaptive == "global":
            return np.full(self.n_hidden, a[0])
        if self.adaptive == "layer":
            return a
        return np.array([a[self._neuron_off[k] : self._neuron_off[k + 1]].mean() for k in range(self.n_hidden)])

    def slope_recovery_term(self) -> float:
        """S(a) (0 when the term is off)."""
        if not self.slope_recovery or self.n_hidden == 0:
            return 0.0
        return float(self.n_hidden / np.exp(self._layer_means()).sum())

    def _update_slopes(self) -> None:
        if self.adaptive == "none":
            return
        n, a = self.slope_scale, self.slopes_raw
        for k, s in enumerate(self._s):
            if self.adaptive == "global":
                s[:] = n * a[0]
            elif self.adaptive == "layer":
                s[:] = n * a[k]
            else:
                np.multiply(a[self._neuron_off[k] : self._neuron_off[k + 1]], n, out=s)

    # --------------------------------------------------------------------- buffers
    def _buf(self, m: int) -> dict:
        buf = self._buffers.get(m)
        if buf is None:
            dt = self.dtype
            buf = {
                "Z": [np.empty((m, L.fan_out), dtype=dt) for L in self.layers],
                "A": [np.empty((m, L.fan_out), dtype=dt) for L in self.layers[:-1]],
                "dZ": [np.empty((m, L.fan_out), dtype=dt) for L in self.layers],
                "U": [np.empty((m, L.fan_out), dtype=dt) for L in self.layers[:-1]],
            }
            if len(self._buffers) > 4:  # bounded: full batch, mini-batch, last partial batch, evaluation
                self._buffers.clear()
            self._buffers[m] = buf
        return buf

    # ---------------------------------------------------------------- forward/back
    def _forward(self, X: np.ndarray, train: bool, rng: np.random.Generator | None,
                 prepared: PreparedInput | None = None) -> dict:
        if X.dtype != self.dtype or X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"inputs must be a 2-D {self.dtype} array with {self.sizes[0]} columns, got "
                             f"{X.dtype} {X.shape}")
        m = X.shape[0]
        buf = self._buf(m)
        self._update_slopes()
        delta = self.pointwise.delta
        self.masks = []
        A_prev = X
        for k in range(self.n_hidden):
            Z, A = buf["Z"][k], buf["A"][k]
            if k == 0 and prepared is not None:
                prepared.times(self.W(0), Z)
            else:
                np.matmul(A_prev, self.W(k), out=Z)
            mask = self._empty_mask
            if train and self.dropout > 0.0:
                mask = buf["U"][k]
                (rng or np.random.default_rng()).random(out=mask, dtype=self.dtype)
                np.greater_equal(mask, self.dropout, out=mask)  # 1.0 kept, 0.0 dropped
                mask *= self.dtype.type(1.0 / (1.0 - self.dropout))
            self.masks.append(mask)
            self.forward_kernel(Z, self.b(k), self._s[k], mask, delta, A)
            A_prev = A
        np.matmul(A_prev, self.W(self.n_hidden), out=buf["Z"][-1])
        buf["X"] = X
        return buf

    def _targets(self, Y: np.ndarray, m: int) -> np.ndarray:
        if self.loss == "cross_entropy":
            if Y.dtype != np.int64 or Y.shape != (m,):
                raise ValueError(f"cross-entropy needs {m} int64 labels, got {Y.dtype} {Y.shape}")
        elif Y.dtype != self.dtype or Y.shape != (m, self.sizes[-1]):
            raise ValueError(f"mse needs {self.dtype} targets of shape {(m, self.sizes[-1])}, got {Y.dtype} {Y.shape}")
        return Y

    def loss_and_grad(self, X: np.ndarray, Y: np.ndarray, rng: np.random.Generator | None = None,
                      train: bool = True, prepared: PreparedInput | None = None) -> tuple[float, int]:
        """Forward and backward pass on a batch: returns ``(data loss, n_correct)``, fills :attr:`grad`.

        The total objective is the data loss plus :meth:`slope_recovery_term`; :attr:`grad` is its gradient,
        computed with the chosen backward derivative. ``prepared``, optional, is :func:`prepare_input` of ``X``
        (worth building once when the same batch is reused, as in full-batch training).
        """
        m = X.shape[0]
        Y = self._targets(Y, m)
        if prepared is not None and prepared.x is not X:
            raise ValueError("prepared must be prepare_input(X) of this very array X; rebuild it after changing X")
        buf = self._forward(X, train, rng, prepared)
        out = len(self.layers) - 1
        gW = [self.grad[L.w].reshape(L.fan_in, L.fan_out) for L in self.layers]
        gb = [self.grad[L.b] for L in self.layers]
        Zo, dZo = buf["Z"][out], buf["dZ"][out]
        lossfn = K.softmax_xent if self.loss == "cross_entropy" else K.mse
        loss, correct = lossfn(Zo, self.b(out), Y, True, dZo, gb[out])
        if not math.isfinite(loss):
            return loss, correct
        A = buf["A"]
        if out == 0 and prepared is not None:
            prepared.transpose_times(dZo, gW[0])
        else:
            np.matmul((A[out - 1] if out else X).T, dZo, out=gW[out])
        delta = self.pointwise.delta
        dnext = dZo
        for k in range(self.n_hidden - 1, -1, -1):
            dA = buf["dZ"][k]
            np.matmul(dnext, self.W(k + 1).T, out=dA)
            self.backward_kernel(dA, buf["Z"][k], self._s[k], self.masks[k], delta, dA, gb[k], self._ga[k])
            if k == 0 and prepared is not None:
                prepared.transpose_times(dA, gW[0])
            else:
                np.matmul((A[k - 1] if k else X).T, dA, out=gW[k])
            dnext = dA
        self._slope_grads()
        return float(loss), int(correct)

    def _slope_grads(self) -> None:
        if self.adaptive == "none":
            return
        n = self.slope_scale
        g = self.grad[self.slope_slice]
        if self.adaptive == "global":
            g[0] = n * sum(float(ga.sum(dtype=np.float64)) for ga in self._ga)
        elif self.adaptive == "layer":
            for k, ga in enumerate(self._ga):
                g[k] = n * float(ga.sum(dtype=np.float64))
        else:
            for k, ga in enumerate(self._ga):
                np.multiply(ga, n, out=g[self._neuron_off[k] : self._neuron_off[k + 1]])
        if self.slope_recovery and self.n_hidden:
            e = np.exp(self._layer_means())
            dS_dm = -self.n_hidden * e / e.sum() ** 2  # dS/dm_k
            if self.adaptive == "global":
                g[0] += dS_dm.sum()
            elif self.adaptive == "layer":
                g += dS_dm.astype(self.dtype)
            else:
                for k in range(self.n_hidden):
                    lo, hi = self._neuron_off[k], self._neuron_off[k + 1]
                    g[lo:hi] += self.dtype.type(dS_dm[k] / (hi - lo))

    def predict_logits(self, X: np.ndarray) -> np.ndarray:
        """The output layer values (logits for cross-entropy) for ``X``, without dropout."""
        buf = self._forward(np.ascontiguousarray(X, dtype=self.dtype), False, None)
        Z = buf["Z"][-1]
        return Z + self.b(len(self.layers) - 1)

    def evaluate(self, X: np.ndarray, Y: np.ndarray, chunk: int = 10000) -> tuple[float, float]:
        """``(mean data loss, accuracy)`` on ``(X, Y)`` without dropout, in chunks (accuracy is NaN for
        regression targets that are not one-hot)."""
        total, correct, n = 0.0, 0, X.shape[0]
        out = len(self.layers) - 1
        lossfn = K.softmax_xent if self.loss == "cross_entropy" else K.mse
        for lo in range(0, n, chunk):
            Xc, Yc = X[lo : lo + chunk], Y[lo : lo + chunk]
            self._targets(Yc, Xc.shape[0])
            buf = self._forward(Xc, False, None)
            loss, c = lossfn(buf["Z"][out], self.b(out), Yc, False, buf["dZ"][out], self.grad[:0])
            total += loss * Xc.shape[0]
            correct += c
        return total / n, correct / n
