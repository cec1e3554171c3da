"""Optimizers over the flat parameter vector: gradient descent, momentum and Adam.

Each keeps its state in arrays of the parameter dtype, which :meth:`state` / :meth:`load_state` export for
checkpoints, so that a resumed run continues bit for bit.

>>> import numpy as np
>>> p, g = np.ones(3), np.full(3, 0.5)
>>> opt = make("adam", 3, np.float64, lr=0.1)
>>> opt.step(p, g); p.round(6).tolist()
[0.9, 0.9, 0.9]
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K

OPTIMIZERS = ("sgd", "momentum", "adam")
ALIASES = {"gd": "sgd"}


class Optimizer:
    name = "sgd"

    def __init__(self, n: int, dtype: np.dtype, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, got {lr}")
        self.lr = float(lr)
        self.t = 0
        self.slots: dict[str, np.ndarray] = {}

    def step(self, p: np.ndarray, g: np.ndarray) -> None:
        self.t += 1
        K.sgd_step(p, g, self.lr)

    def state(self) -> dict[str, np.ndarray]:
        return {"t": np.array(self.t), **{k: v.copy() for k, v in self.slots.items()}}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        for k, v in self.slots.items():
            if state[k].shape != v.shape:
                raise ValueError(f"optimizer state {k!r} has shape {state[k].shape}, expected {v.shape}")
            v[:] = state[k]


class Momentum(Optimizer):
    """``v = mu * v + g``, ``p -= lr * v``."""

    name = "momentum"

    def __init__(self, n: int, dtype: np.dtype, lr: float, momentum: float = 0.9) -> None:
        super().__init__(n, dtype, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.mu = float(momentum)
        self.slots = {"v": np.zeros(n, dtype=dtype)}

    def step(self, p: np.ndarray, g: np.ndarray) -> None:
        self.t += 1
        K.momentum_step(p, g, self.slots["v"], self.lr, self.mu)


class Adam(Optimizer):
    """Adam with bias correction (Kingma and Ba 2015), defaults beta1 = 0.9, beta2 = 0.999, eps = 1e-8."""

    name = "adam"

    def __init__(self, n: int, dtype: np.dtype, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        super().__init__(n, dtype, lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.slots = {"m": np.zeros(n, dtype=dtype), "v": np.zeros(n, dtype=dtype)}

    def step(self, p: np.ndarray, g: np.ndarray) -> None:
        self.t += 1
        K.adam_step(p, g, self.slots["m"], self.slots["v"], self.lr, self.beta1, self.beta2, self.eps, self.t)


def make(name: str, n: int, dtype: np.dtype, lr: float, momentum: float = 0.9) -> Optimizer:
    """An optimizer by name: ``sgd`` (alias ``gd``; full-batch gradient descent when the batch is the whole
    training set), ``momentum`` or ``adam``."""
    name = ALIASES.get(name, name)
    if name == "sgd":
        return Optimizer(n, dtype, lr)
    if name == "momentum":
        return Momentum(n, dtype, lr, momentum)
    if name == "adam":
        return Adam(n, dtype, lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of gd, {', '.join(OPTIMIZERS)}")
