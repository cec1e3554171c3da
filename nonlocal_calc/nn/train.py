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
import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _kernels as K
from . import checkpoint as ckpt
from .data import Dataset, load_dataset
from .derivatives import Pointwise, resolve
from .model import MLP, prepare_input
from .optim import make as make_optimizer

STATUS = ("completed", "diverged", "early_stopped")


@dataclass
class TrainConfig:
    """Everything that defines a run (saved in checkpoints and results).

    ``optimizer``: ``sgd`` (alias ``gd``), ``momentum`` or ``adam``; ``batch_size`` 0 means the full training
    set (gradient descent, the poster's setting). ``derivative``: ``exact``, ``nonlocal`` (``kernel``,
    ``delta``) or ``poster``. ``adaptive``: ``none``, ``global`` (GAAF), ``layer`` (L-LAAF), ``neuron``
    (N-LAAF), with scaling factor ``slope_scale`` and optional ``slope_recovery``. ``early_stopping``: patience
    in evaluations (every ``log_every`` iterations) of the held-out loss, 0 = off. ``dropout``: rate, 0 = off.
    """

    hidden: tuple[int, ...] = (10,)
    activation: str = "relu"
    derivative: str = "exact"
    kernel: str = "sign"
    delta: float = 0.1
    loss: str = "auto"
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    iters: int = 1500
    batch_size: int = 0
    seed: int = 0
    dtype: str = "float32"
    init: str = "auto"
    adaptive: str = "none"
    slope_scale: float = 10.0
    slope_recovery: bool = False
    dropout: float = 0.0
    early_stopping: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.iters < 0:
            raise ValueError(f"iters must be >= 0, got {self.iters}")
        if self.batch_size < 0:
            raise ValueError(f"batch_size must be >= 0 (0 = full batch), got {self.batch_size}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")
        if self.early_stopping < 0:
            raise ValueError(f"early_stopping (patience) must be >= 0, got {self.early_stopping}")
        if not (math.isfinite(self.delta) and self.delta > 0):
            raise ValueError(f"delta (the horizon of the nonlocal derivative) must be a finite number > 0, got {self.delta}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown training options {sorted(unknown)}")
        return cls(**d)


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


def _one_hot(y: np.ndarray, k: int, dtype: np.dtype) -> np.ndarray:
    out = np.zeros((len(y), k), dtype=dtype)
    out[np.arange(len(y)), y] = 1
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


_PREPARE_MIN_SIZE = 1 << 20  # input elements


class _Batches:
    """Mini-batch ``t`` is a pure function of (seed, t): epoch e uses a permutation drawn from (seed, e)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> None:
        self.x, self.y, self.n, self.seed = x, y, len(x), seed
        self.full = batch_size == 0 or batch_size >= self.n
        self.B = self.n if self.full else batch_size
        self.per_epoch = math.ceil(self.n / self.B)
        self._epoch, self._perm = -1, None
        # the full batch is reused every iteration: lay it out for the first layer's products once; this pays
        # when those products dominate (the poster's 9,000 x 784 inputs; not the LAAF's 300 x 1)
        self.prepared = prepare_input(x) if self.full and x.size >= _PREPARE_MIN_SIZE else None
        self._xb: dict[int, np.ndarray] = {}
        self._yb: dict[int, np.ndarray] = {}

    def get(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        if self.full:
            return self.x, self.y
        e, j = divmod(t, self.per_epoch)
        if e != self._epoch:
            self._epoch, self._perm = e, np.random.default_rng([self.seed, 2, e]).permutation(self.n)
        idx = self._perm[j * self.B : (j + 1) * self.B]
        m = len(idx)
        if m not in self._xb:
            self._xb[m] = np.empty((m, self.x.shape[1]), dtype=self.x.dtype)
            self._yb[m] = np.empty((m, *self.y.shape[1:]), dtype=self.y.dtype)
        np.take(self.x, idx, axis=0, out=self._xb[m])
        np.take(self.y, idx, axis=0, out=self._yb[m])
        return self._xb[m], self._yb[m]


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
    from tqdm.auto import tqdm

    dataset = dataset if dataset is not None else load_dataset("mnist10k")
    model = build_model(config, dataset, pointwise)
    dtype = model.dtype
    x, y, xt, yt = dataset.arrays(dtype)
    classification = dataset.n_classes is not None
    if model.loss == "mse" and classification:
        y_fit, yt_fit = _one_hot(y, dataset.n_classes, dtype), _one_hot(yt, dataset.n_classes, dtype)
    else:
        y_fit, yt_fit = y, yt
    if dataset.n_classes is not None and (y.max() >= model.sizes[-1] or yt.max() >= model.sizes[-1]):
        raise ValueError("labels exceed the number of output units")
    opt = make_optimizer(config.optimizer, model.n_params, dtype, config.lr, config.momentum)
    batches = _Batches(x, y_fit, config.batch_size, config.seed)
    drop_rng = np.random.default_rng([config.seed, 1])
    params = model.params

    hist: dict[str, list] = {"iteration": [], "time": [], "train_loss": [], "train_accuracy": [], "test_loss": [],
                             "test_accuracy": [], "slope_recovery": []}
    if model.adaptive != "none":
        for k in range(model.n_hidden):
            hist[f"slope_mean_{k + 1}"] = []
            hist[f"slope_std_{k + 1}"] = []
    t = 0
    best_loss, since_best = math.inf, 0
    best_params = params.copy()
    elapsed_before = 0.0
    acc_state = [0.0, 0, 0, 0]  # running sums of the current logging interval
    fingerprint = dataset.fingerprint() if checkpoint else ""

    if checkpoint and resume and Path(checkpoint).exists():
        meta, arrays = ckpt.load(checkpoint)
        saved = dict(meta["config"])
        mine = config.to_dict()
        diff = sorted(k for k in mine if k != "iters" and saved.get(k) != mine[k])
        if diff:
            raise ckpt.CheckpointError(
                f"{checkpoint}: saved for another configuration (differs in {', '.join(diff)}); "
                "use another checkpoint path or the same options"
            )
        if meta["fingerprint"] != fingerprint:
            raise ckpt.CheckpointError(f"{checkpoint}: saved for another data set; use the same data or another path")
        t = int(meta["iteration"])
        if t > config.iters:
            raise ckpt.CheckpointError(f"{checkpoint}: already at iteration {t} > iters = {config.iters}")
        params[:] = arrays["params"]
        best_params[:] = arrays["best_params"]
        opt.load_state({k[4:]: v for k, v in arrays.items() if k.startswith("opt_")})
        drop_rng.bit_generator.state = meta["rng"]
        hist = {k: list(v) for k, v in meta["history"].items()}
        if hist["iteration"] and hist["iteration"][-1] % config.log_every:  # the end-of-run row: redone later
            for v in hist.values():
                v.pop()
        best_loss, since_best = meta["best_loss"], meta["since_best"]
        elapsed_before = meta["elapsed"]
        acc_state = meta["acc"]

    def save_checkpoint() -> None:
        if not checkpoint:
            return
        ckpt.save(checkpoint, meta={
            "config": config.to_dict(), "fingerprint": fingerprint, "iteration": t, "rng": drop_rng.bit_generator.state,
            "history": hist, "best_loss": best_loss, "since_best": since_best,
            "acc": [acc_loss, acc_correct, acc_n, acc_iters],
            "elapsed": elapsed_before + (time.perf_counter() - t_start),
        }, arrays={"params": params, "best_params": best_params,
                   **{f"opt_{k}": v for k, v in opt.state().items()}})

    # Compile the kernels outside the timed loop, on a copy, without touching the run's random streams.
    warm = min(2, len(x))
    model.loss_and_grad(x[:warm], y_fit[:warm], np.random.default_rng(0))
    model.evaluate(xt[:warm], yt_fit[:warm])

    status, message = "completed", ""
    prev = params.copy()
    acc_loss, acc_correct, acc_n, acc_iters = acc_state
    bar = tqdm(total=config.iters, initial=t, disable=(not progress) if progress is not None else None,
               desc="train", unit="it", leave=False, dynamic_ncols=True)
    t_start = time.perf_counter()
    t_first = t
    # the sparse first layer runs on Numba's threads, and idle OpenBLAS threads spin against them (measured:
    # 12.7 ms per iteration instead of 3.8 ms); the other products of such a network are too small for threads
    limits = contextlib.ExitStack()
    if batches.prepared is not None and batches.prepared.sparse:
        limits.enter_context(_thread_limits(blas=1))
    try:
        while t < config.iters:
            Xb, Yb = batches.get(t)
            loss, correct = model.loss_and_grad(Xb, Yb, drop_rng, prepared=batches.prepared)
            total = loss + model.slope_recovery_term()
            if not math.isfinite(total):
                params[:] = prev
                status = "diverged"
                message = (f"the loss became {total} at iteration {t + 1}; stopped and kept the parameters of "
                           f"iteration {t} (the last finite loss); lower the learning rate (now {config.lr:g})")
                break
            if not K.all_finite(model.grad):
                status = "diverged"
                message = (f"the gradient overflowed at iteration {t + 1}; stopped and kept the parameters of "
                           f"iteration {t}; lower the learning rate (now {config.lr:g})")
                break
            if batches.full:
                acc_loss, acc_correct, acc_n = loss, correct, len(Xb)
            else:
                acc_loss += loss
                acc_correct += correct
                acc_n += len(Xb)
            acc_iters += 1
            prev[:] = params
            opt.step(params, model.grad)
            t += 1
            bar.update(1)
            regular = t % config.log_every == 0
            if regular or t == config.iters:
                tl, ta = model.evaluate(xt, yt_fit)
                train_loss = acc_loss if batches.full else acc_loss / acc_iters
                hist["iteration"].append(t)
                hist["time"].append(elapsed_before + time.perf_counter() - t_start)
                hist["train_loss"].append(float(train_loss))
                hist["train_accuracy"].append(acc_correct / acc_n if classification else None)
                hist["test_loss"].append(float(tl))
                hist["test_accuracy"].append(float(ta) if classification else None)
                hist["slope_recovery"].append(model.slope_recovery_term())
                if model.adaptive != "none":
                    for k, s in enumerate(model.slope_values()):
                        hist[f"slope_mean_{k + 1}"].append(float(s.mean()))
                        hist[f"slope_std_{k + 1}"].append(float(s.std()))
                if regular:  # an end-of-run row leaves the interval open, so that a resumed run logs the same
                    acc_loss, acc_correct, acc_n, acc_iters = 0.0, 0, 0, 0
                bar.set_postfix(loss=f"{train_loss:.4g}", **({"acc": f"{ta:.3f}"} if classification else {}))
                if config.early_stopping and regular:
                    if tl < best_loss:
                        best_loss, since_best = tl, 0
                        best_params[:] = params
                    else:
                        since_best += 1
                        if since_best >= config.early_stopping:
                            params[:] = best_params
                            status = "early_stopped"
                            message = (f"held-out loss did not improve for {since_best} evaluations; stopped at "
                                       f"iteration {t} and restored the best parameters (held-out loss {best_loss:.6g})")
                            break
            if checkpoint_every and t % checkpoint_every == 0:
                save_checkpoint()
    except KeyboardInterrupt:
        save_checkpoint()
        bar.close()
        raise
    finally:
        limits.close()
    train_time = time.perf_counter() - t_start
    bar.close()
    save_checkpoint()

    n_done = t - t_first
    train_loss, train_acc = model.evaluate(x, y_fit)
    test_loss, test_acc = model.evaluate(xt, yt_fit)
    S = model.slope_recovery_term()
    result = TrainResult(
        config=config.to_dict(), dataset=dataset.name, status=status, message=message, iterations=t,
        train_accuracy=float(train_acc) if classification else None,
        test_accuracy=float(test_acc) if classification else None,
        final_loss=float(train_loss + S), train_loss=float(train_loss), test_loss=float(test_loss),
        slope_recovery=float(S), time_per_iteration=train_time / n_done if n_done else 0.0, train_time=train_time,
        n_params=model.n_params, derivative=model.pointwise.describe(), history=hist,
        slopes=[s.tolist() for s in model.slope_values()] if model.adaptive != "none" else [],
        params=params.copy(), model=model,
    )
    if curves:
        from .curves import write_curves

        write_curves(hist, curves, title=f"{dataset.name}: {model.pointwise.name}, {config.optimizer} lr={config.lr:g}")
    return result


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
