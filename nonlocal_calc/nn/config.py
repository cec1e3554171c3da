"""The configuration of a training run: everything that defines it, saved in checkpoints and results.

>>> c = TrainConfig(hidden=(16, 8), optimizer="adam", lr=0.01)
>>> TrainConfig.from_dict(c.to_dict()) == c
True
>>> TrainConfig(iters=-1)
Traceback (most recent call last):
...
ValueError: iters must be >= 0, got -1
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


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
