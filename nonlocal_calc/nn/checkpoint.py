"""Atomic checkpoints of a training run: one ``.npz`` file, replaced in a single step.

A checkpoint holds the configuration (JSON), the data fingerprint, the iteration, the parameters, the
optimizer state, the dropout generator state, the early-stopping state and the history so far. It is
written with :func:`nonlocal_calc.cache.write_atomic`, so a crash while saving leaves the previous one.
:class:`RunCheckpoint` ties a file to one run: it resumes only the same configuration on the same data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cache import write_atomic
from .config import TrainConfig
from .data import Dataset, to_bytes_npz

if TYPE_CHECKING:
    from .state import RunState

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to another run."""


def save(path: str | Path, *, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (JSON-able) and ``arrays`` to ``path`` atomically."""
    payload = {f"a_{k}": np.asarray(v) for k, v in arrays.items()}
    payload["meta"] = np.frombuffer(json.dumps({"format": FORMAT, **meta}).encode(), dtype=np.uint8)
    write_atomic(path, to_bytes_npz(**payload))


def load(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` from a checkpoint written by :func:`save`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            arrays = {k[2:]: z[k] for k in z.files if k.startswith("a_")}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc}); delete it to start afresh") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')}, expected {FORMAT}")
    return meta, arrays


class RunCheckpoint:
    """The checkpoint file of one run (``path`` ``None``: no file, saving does nothing).

    The file records the configuration and a fingerprint of the data; :meth:`resume` refuses a file saved for
    other options (the iteration count aside, so a run can be continued further) or for other data.
    """

    def __init__(self, path: str | Path | None, config: TrainConfig, dataset: Dataset) -> None:
        self.path = Path(path) if path else None
        self.config = config
        self.fingerprint = dataset.fingerprint() if path else ""

    def save(self, state: RunState) -> None:
        if self.path is None:
            return
        meta, arrays = state.to_checkpoint()
        save(self.path, meta={"config": self.config.to_dict(), "fingerprint": self.fingerprint, **meta},
             arrays=arrays)

    def resume(self, state: RunState) -> None:
        """Continue ``state`` from the file, when there is one."""
        if self.path is None or not self.path.exists():
            return
        meta, arrays = load(self.path)
        self._check(meta)
        state.restore(meta, arrays, self.config.log_every)

    def _check(self, meta: dict) -> None:
        saved, mine = dict(meta["config"]), self.config.to_dict()
        diff = sorted(k for k in mine if k != "iters" and saved.get(k) != mine[k])
        if diff:
            raise CheckpointError(
                f"{self.path}: saved for another configuration (differs in {', '.join(diff)}); "
                "use another checkpoint path or the same options"
            )
        if meta["fingerprint"] != self.fingerprint:
            raise CheckpointError(f"{self.path}: saved for another data set; use the same data or another path")
        if int(meta["iteration"]) > self.config.iters:
            raise CheckpointError(f"{self.path}: already at iteration {meta['iteration']} > iters = {self.config.iters}")
