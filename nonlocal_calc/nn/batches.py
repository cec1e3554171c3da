"""The batches of a training run: the whole training set, or mini-batches in a seeded order.

Batch ``t`` is a pure function of ``(seed, t)``: epoch ``e`` visits the samples in a permutation drawn from
``(seed, e)``, so a resumed run sees the batches an uninterrupted run sees.

>>> import numpy as np
>>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
>>> b = Batches(x, y, batch_size=2, seed=0)
>>> b.full, b.per_epoch, len(b.get(2)[0])   # batches 0, 1 of two samples, batch 2 holds the fifth
(False, 3, 1)
>>> Batches(x, y, batch_size=0, seed=0).get(7)[1].tolist()   # batch size 0: the full set, every time
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import math

import numpy as np

from .model import PreparedInput, prepare_input

#: A full batch of at least this many input values is laid out once for the first layer's products.
PREPARE_MIN_SIZE = 1 << 20


class Batches:
    """Batch ``t`` of ``(x, y)``: the whole set when ``batch_size`` is 0 (or covers it), else a mini-batch.

    ``prepared`` is the full batch laid out for the first layer's products (:func:`~.model.prepare_input`),
    built once when the full batch is reused every iteration and large enough for it to pay (the poster's
    9,000 x 784 inputs, not the LAAF problem's 300 x 1); ``None`` otherwise.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> None:
        self.x, self.y, self.n, self.seed = x, y, len(x), seed
        self.full = batch_size == 0 or batch_size >= self.n
        self.size = self.n if self.full else batch_size
        self.per_epoch = math.ceil(self.n / self.size)
        self.prepared: PreparedInput | None = (
            prepare_input(x) if self.full and x.size >= PREPARE_MIN_SIZE else None
        )
        self._epoch, self._perm = -1, np.empty(0, dtype=np.intp)
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # by batch length (the last may be short)

    def get(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x_batch, y_batch)`` of iteration ``t`` (mini-batches are views of reused buffers)."""
        if self.full:
            return self.x, self.y
        e, j = divmod(t, self.per_epoch)
        if e != self._epoch:
            self._epoch, self._perm = e, np.random.default_rng([self.seed, 2, e]).permutation(self.n)
        idx = self._perm[j * self.size : (j + 1) * self.size]
        xb, yb = self._buffer(len(idx))
        np.take(self.x, idx, axis=0, out=xb)
        np.take(self.y, idx, axis=0, out=yb)
        return xb, yb

    def _buffer(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        if m not in self._buffers:
            self._buffers[m] = (np.empty((m, self.x.shape[1]), dtype=self.x.dtype),
                                np.empty((m, *self.y.shape[1:]), dtype=self.y.dtype))
        return self._buffers[m]
