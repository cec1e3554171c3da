"""The training loop: full-batch gradient descent or mini-batch SGD, momentum or Adam, with logging,
held-out evaluation, early stopping, divergence detection, atomic checkpoints and resume.

A run is a pure function of its :class:`TrainConfig` and data set: the same seed gives the same parameters
bit for bit (initialization, batch order and dropout masks all derive from the seed), and a run resumed
from a checkpoint ends exactly where an uninterrupted run ends.

>>> from nonlocal_calc.nn import TrainConfig, train, load_dataset
>>> ds = load_dataset("mnist10k").subset(500, 200)
>>> r = train(TrainConfig(hidden=(16,), iters=30, lr=0.5, seed=1), ds, progress=False)
>>> r.status, r.iterations, r.train_accuracy > 0.5
('completed', 30, True)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _kernels as K
from .batches import Batches
from .checkpoint import RunCheckpoint
from .config import TrainConfig
from .data import Dataset, load_dataset
from .derivatives import Pointwise, resolve
from .model import MLP
from .optim import make as make_optimizer
from .state import EarlyStopping, IntervalSums, RunState, new_history

STATUS = ("completed", "diverged", "early_stopped")


@dataclass
class TrainResult:
    """What a run produced. ``final_loss`` is the objective (data loss + slope recovery term) on the whole
    training set at the final parameters; accuracies are ``None`` for regression."""

    config: dict
    dataset: str
    status: str
    message: str
    iterations: int
    train_accuracy: float | None
    test_accuracy: float | None
    final_loss: float
    train_loss: float
    test_loss: float
    slope_recovery: float
    time_per_iteration: float
    train_time: float
    n_params: int
    derivative: dict
    history: dict = field(repr=False)
    slopes: list = field(repr=False)
    params: np.ndarray = field(repr=False)
    model: MLP | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """The scalar results and the configuration, JSON-ready (no history, no parameters)."""
        keys = ("dataset", "status", "message", "iterations", "test_accuracy", "train_accuracy", "final_loss",
                "train_loss", "test_loss", "slope_recovery", "time_per_iteration", "train_time", "n_params")
        out = {k: getattr(self, k) for k in keys}
        out["config"] = self.config
        out["derivative"] = self.derivative
        if self.slopes:
            out["slopes_mean"] = [float(np.mean(s)) for s in self.slopes]
        return out


def build_model(config: TrainConfig, dataset: Dataset, pointwise: Pointwise | None = None) -> MLP:
    """The :class:`MLP` a configuration describes, for a data set (parameters drawn from the seed)."""
    if pointwise is None:
        pointwise = resolve(config.activation, config.derivative, config.kernel, config.delta)
    loss = config.loss
    if loss == "auto":
        loss = "cross_entropy" if dataset.n_classes is not None else "mse"
    if loss == "cross_entropy" and dataset.n_classes is None:
        raise ValueError("cross-entropy needs class labels; this data set has real targets: use loss 'mse'")
    sizes = [dataset.n_features, *config.hidden, dataset.n_outputs]
    return MLP(sizes, pointwise, loss=loss, adaptive=config.adaptive, slope_scale=config.slope_scale,
               slope_recovery=config.slope_recovery, dropout=config.dropout, dtype=config.dtype,
               init=config.init, seed=config.seed)


def train(
    config: TrainConfig,
    dataset: Dataset | None = None,
    *,
    pointwise: Pointwise | None = None,
    progress: bool | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    curves: str | Path | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train a network as ``config`` says on ``dataset`` (default: the embedded ``mnist10k``).

    ``pointwise`` overrides the activation/derivative pair built from the configuration (e.g. a custom
    expression). ``progress``: show a progress bar (``None``: only on a terminal). ``checkpoint``: a file
    written atomically every ``checkpoint_every`` iterations and at the end; with ``resume`` an existing
    checkpoint of the same configuration and data is continued. ``curves``: a path prefix for the learning
    curves (``.csv`` and ``.png``). ``threads``: limit the BLAS and Numba threads for this run (one thread is
    faster for small layers and on a busy machine).
    """
    if threads:
        with _thread_limits(blas=threads, numba=threads):
            return train(config, dataset, pointwise=pointwise, progress=progress, checkpoint=checkpoint,
                         checkpoint_every=checkpoint_every, resume=resume, curves=curves)
    dataset = dataset if dataset is not None else load_dataset("mnist10k")
    model = build_model(config, dataset, pointwise)
    data = _Arrays.of(dataset, model)
    batches = Batches(data.x, data.y, config.batch_size, config.seed)
    state = _start(config, model, batches.full)
    saved = RunCheckpoint(checkpoint, config, dataset)
    if resume:
        saved.resume(state)
    _warm_up(model, data)
    first = state.t
    bar = _progress_bar(config.iters, first, progress)
    state.start_clock()
    try:
        with _threads_for(batches):
            while state.t < config.iters:
                xb, yb = batches.get(state.t)
                loss, correct = model.loss_and_grad(xb, yb, state.dropout_rng, prepared=batches.prepared)
                if _diverged(state, loss + model.slope_recovery_term(), model.grad, config.lr):
                    break
                state.interval.add(loss, correct, len(xb))
                state.step(model.grad)
                bar.update(1)
                if state.t % config.log_every == 0 or state.t == config.iters:
                    if _log(state, model, data, config, bar):  # early stopping
                        break
                if checkpoint_every and state.t % checkpoint_every == 0:
                    saved.save(state)
    except KeyboardInterrupt:
        saved.save(state)
        bar.close()
        raise
    train_time = state.seconds()
    bar.close()
    saved.save(state)
    result = _result(config, dataset, model, data, state, train_time, state.t - first)
    if curves:
        from .curves import write_curves

        write_curves(state.history, curves,
                     title=f"{dataset.name}: {model.pointwise.name}, {config.optimizer} lr={config.lr:g}")
    return result


@dataclass
class _Arrays:
    """The data in the model's dtype, targets as its loss reads them (one-hot labels for ``mse``)."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classification: bool

    @classmethod
    def of(cls, dataset: Dataset, model: MLP) -> _Arrays:
        x, y, xt, yt = dataset.arrays(model.dtype)
        k = dataset.n_classes
        if k is not None and (y.max() >= model.sizes[-1] or yt.max() >= model.sizes[-1]):
            raise ValueError("labels exceed the number of output units")
        if model.loss == "mse" and k is not None:
            y, yt = _one_hot(y, k, model.dtype), _one_hot(yt, k, model.dtype)
        return cls(x, y, xt, yt, k is not None)


def _one_hot(y: np.ndarray, k: int, dtype: np.dtype) -> np.ndarray:
    out = np.zeros((len(y), k), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def _start(config: TrainConfig, model: MLP, full_batch: bool) -> RunState:
    """The state at iteration 0: the model's initial parameters, a fresh optimizer, the seeded dropout stream."""
    params = model.params
    return RunState(params, make_optimizer(config.optimizer, model.n_params, model.dtype, config.lr, config.momentum),
                    np.random.default_rng([config.seed, 1]),
                    new_history(model.n_hidden if model.adaptive != "none" else 0),
                    EarlyStopping(config.early_stopping, params.copy()), IntervalSums(full_batch))


def _warm_up(model: MLP, data: _Arrays) -> None:
    """Compile the kernels outside the timed loop, on two samples, without touching the run's random streams."""
    m = min(2, len(data.x))
    model.loss_and_grad(data.x[:m], data.y[:m], np.random.default_rng(0))
    model.evaluate(data.x_test[:m], data.y_test[:m])


def _diverged(state: RunState, loss: float, grad: np.ndarray, lr: float) -> bool:
    """Stop when the loss or the gradient is not finite, keeping the last parameters with a finite loss."""
    if not math.isfinite(loss):
        state.step_back()
        state.stop("diverged", f"the loss became {loss} at iteration {state.t + 1}; stopped and kept the parameters "
                               f"of iteration {state.t} (the last finite loss); lower the learning rate (now {lr:g})")
        return True
    if not K.all_finite(grad):
        state.stop("diverged", f"the gradient overflowed at iteration {state.t + 1}; stopped and kept the parameters "
                               f"of iteration {state.t}; lower the learning rate (now {lr:g})")
        return True
    return False


def _log(state: RunState, model: MLP, data: _Arrays, config: TrainConfig, bar: Any) -> bool:
    """Append a history row (held-out loss and accuracy measured now); ``True`` when early stopping ends the run.

    Only the regular rows (every ``log_every`` iterations) close the interval and count for early stopping; the
    row of a run that ends in between leaves the interval open, so that a resumed run logs what an
    uninterrupted one logs.
    """
    test_loss, test_acc = model.evaluate(data.x_test, data.y_test)
    train_loss = state.interval.train_loss()
    classification = data.classification
    row = {"iteration": state.t, "time": state.elapsed(), "train_loss": float(train_loss),
           "train_accuracy": state.interval.accuracy() if classification else None,
           "test_loss": float(test_loss), "test_accuracy": float(test_acc) if classification else None,
           "slope_recovery": model.slope_recovery_term()}
    if model.adaptive != "none":
        for k, s in enumerate(model.slope_values(), 1):
            row[f"slope_mean_{k}"], row[f"slope_std_{k}"] = float(s.mean()), float(s.std())
    for column, value in row.items():
        state.history[column].append(value)
    bar.set_postfix(loss=f"{train_loss:.4g}", **({"acc": f"{test_acc:.3f}"} if classification else {}))
    if state.t % config.log_every:
        return False
    state.interval.reset()
    if state.early.update(test_loss, state.params):
        e = state.early
        state.stop("early_stopped", f"held-out loss did not improve for {e.since_best} evaluations; stopped at "
                                    f"iteration {state.t} and restored the best parameters (held-out loss "
                                    f"{e.best_loss:.6g})")
        return True
    return False


def _result(config: TrainConfig, dataset: Dataset, model: MLP, data: _Arrays, state: RunState, train_time: float,
            n_done: int) -> TrainResult:
    """The result, with the final losses and accuracies measured on the whole training and held-out sets."""
    train_loss, train_acc = model.evaluate(data.x, data.y)
    test_loss, test_acc = model.evaluate(data.x_test, data.y_test)
    S = model.slope_recovery_term()
    classification = data.classification
    return TrainResult(
        config=config.to_dict(), dataset=dataset.name, status=state.status, message=state.message,
        iterations=state.t, train_accuracy=float(train_acc) if classification else None,
        test_accuracy=float(test_acc) if classification else None,
        final_loss=float(train_loss + S), train_loss=float(train_loss), test_loss=float(test_loss),
        slope_recovery=float(S), time_per_iteration=train_time / n_done if n_done else 0.0, train_time=train_time,
        n_params=model.n_params, derivative=model.pointwise.describe(), history=state.history,
        slopes=[s.tolist() for s in model.slope_values()] if model.adaptive != "none" else [],
        params=state.params.copy(), model=model,
    )


def _progress_bar(total: int, initial: int, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=(not progress) if progress is not None else None,
                desc="train", unit="it", leave=False, dynamic_ncols=True)


def _threads_for(batches: Batches) -> contextlib.AbstractContextManager:
    """One BLAS thread while the sparse first layer runs on Numba's threads: idle OpenBLAS threads spin against
    them (a loop three times slower, docs/dev/performance.md), and the other products of such a network are too
    small for threads."""
    if batches.prepared is not None and batches.prepared.sparse:
        return _thread_limits(blas=1)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _thread_limits(blas: int | None = None, numba: int | None = None) -> Iterator[None]:
    """Limit the BLAS threads (threadpoolctl) and Numba's threads within the block."""
    import numba as nb
    from threadpoolctl import threadpool_limits

    before = nb.get_num_threads()
    if numba:
        nb.set_num_threads(min(numba, nb.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=blas, user_api="blas"):
            yield
    finally:
        nb.set_num_threads(before)
