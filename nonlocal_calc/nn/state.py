"""The state of a training run between two iterations, and its round-trip through a checkpoint.

Everything a step reads or writes besides the data and the model's shape lives here: the iteration, the
parameters (the model's own vector), the optimizer's slots, the dropout generator, the logged history, the
running sums of the current logging interval and the early-stopping record. :meth:`RunState.to_checkpoint`
and :meth:`RunState.restore` carry all of it, so a resumed run continues bit for bit.

>>> import numpy as np
>>> from nonlocal_calc.nn.optim import make
>>> p = np.zeros(2)
>>> s = RunState(p, make("sgd", 2, p.dtype, lr=0.5), np.random.default_rng(0), new_history(0),
...              EarlyStopping(0, p.copy()), IntervalSums(full_batch=True))
>>> s.step(np.array([1.0, -2.0])); s.t, p.tolist()
(1, [-0.5, 1.0])
>>> meta, arrays = s.to_checkpoint()
>>> saved = {k: v.copy() for k, v in arrays.items()}
>>> s.step(np.array([1.0, 1.0])); s.restore(meta, saved, log_every=10); s.t, p.tolist()
(1, [-0.5, 1.0])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .optim import Optimizer

#: The columns every history has; adaptive networks add ``slope_mean_k`` and ``slope_std_k`` per hidden layer.
HISTORY_COLUMNS = ("iteration", "time", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                   "slope_recovery")


def new_history(n_slope_layers: int) -> dict[str, list]:
    """An empty history: one list per column (``n_slope_layers``: hidden layers with adaptive slopes)."""
    history: dict[str, list] = {k: [] for k in HISTORY_COLUMNS}
    for k in range(1, n_slope_layers + 1):
        history[f"slope_mean_{k}"] = []
        history[f"slope_std_{k}"] = []
    return history


@dataclass
class IntervalSums:
    """The training loss and accuracy of the current logging interval, summed as the iterations pass.

    With the full batch every iteration sees the whole set, and the interval reports its last iteration;
    with mini-batches it reports the mean over the interval's batches.
    """

    full_batch: bool
    loss: float = 0.0
    correct: int = 0
    n: int = 0
    iters: int = 0

    def add(self, loss: float, correct: int, n: int) -> None:
        if self.full_batch:
            self.loss, self.correct, self.n = loss, correct, n
        else:
            self.loss += loss
            self.correct += correct
            self.n += n
        self.iters += 1

    def train_loss(self) -> float:
        return self.loss if self.full_batch else self.loss / self.iters

    def accuracy(self) -> float:
        return self.correct / self.n

    def reset(self) -> None:
        self.loss, self.correct, self.n, self.iters = 0.0, 0, 0, 0

    def to_list(self) -> list:
        return [self.loss, self.correct, self.n, self.iters]

    def load(self, values: list) -> None:
        self.loss, self.correct, self.n, self.iters = values


@dataclass
class EarlyStopping:
    """The best held-out loss so far, its parameters, and the evaluations since (``patience`` 0: off)."""

    patience: int
    best_params: np.ndarray
    best_loss: float = math.inf
    since_best: int = 0

    def update(self, held_out_loss: float, params: np.ndarray) -> bool:
        """Record an evaluation; ``True`` when patience runs out, ``params`` then hold the best ones again."""
        if not self.patience:
            return False
        if held_out_loss < self.best_loss:
            self.best_loss, self.since_best = held_out_loss, 0
            self.best_params[:] = params
            return False
        self.since_best += 1
        if self.since_best < self.patience:
            return False
        params[:] = self.best_params
        return True


@dataclass
class RunState:
    """A run between two iterations (see the module docstring). ``params`` is updated in place."""

    params: np.ndarray
    optimizer: Optimizer
    dropout_rng: np.random.Generator
    history: dict[str, list]
    early: EarlyStopping
    interval: IntervalSums
    t: int = 0
    status: str = "completed"
    message: str = ""
    elapsed_before: float = 0.0  # seconds of training before the run was resumed
    previous: np.ndarray = field(init=False)  # the parameters before the last step
    _clock: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.previous = self.params.copy()

    def step(self, grad: np.ndarray) -> None:
        """One optimizer step; the parameters before it are kept, to step back to."""
        self.previous[:] = self.params
        self.optimizer.step(self.params, grad)
        self.t += 1

    def step_back(self) -> None:
        """Go back to the parameters before the last step."""
        self.params[:] = self.previous

    def stop(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    def start_clock(self) -> None:
        self._clock = time.perf_counter()

    def seconds(self) -> float:
        """Training time of this call since :meth:`start_clock`."""
        return time.perf_counter() - self._clock

    def elapsed(self) -> float:
        """Training time of the whole run, earlier resumed parts included."""
        return self.elapsed_before + self.seconds()

    def to_checkpoint(self) -> tuple[dict, dict[str, np.ndarray]]:
        """``(meta, arrays)``: JSON-able fields and arrays that :meth:`restore` reads back (the arrays are the
        live ones: write them out before the next step)."""
        meta = {"iteration": self.t, "rng": self.dropout_rng.bit_generator.state, "history": self.history,
                "best_loss": self.early.best_loss, "since_best": self.early.since_best,
                "acc": self.interval.to_list(), "elapsed": self.elapsed()}
        arrays = {"params": self.params, "best_params": self.early.best_params,
                  **{f"opt_{k}": v for k, v in self.optimizer.state().items()}}
        return meta, arrays

    def restore(self, meta: dict, arrays: dict[str, np.ndarray], log_every: int) -> None:
        """Continue from :meth:`to_checkpoint`'s output. A history row written at the end of a run that
        stopped between two logging iterations is dropped: the resumed run logs that interval again."""
        self.t = int(meta["iteration"])
        self.params[:] = arrays["params"]
        self.previous[:] = self.params
        self.early.best_params[:] = arrays["best_params"]
        self.early.best_loss, self.early.since_best = meta["best_loss"], meta["since_best"]
        self.optimizer.load_state({k[4:]: v for k, v in arrays.items() if k.startswith("opt_")})
        self.dropout_rng.bit_generator.state = meta["rng"]
        self.history = {k: list(v) for k, v in meta["history"].items()}
        if self.history["iteration"] and self.history["iteration"][-1] % log_every:
            for column in self.history.values():
                column.pop()
        self.interval.load(meta["acc"])
        self.elapsed_before = meta["elapsed"]
