"""Atomic checkpoints of a training run: one ``.npz`` file, replaced in a single step.

A checkpoint holds the configuration (JSON), the data fingerprint, the iteration, the parameters, the
optimizer state, the dropout generator state, the early-stopping state and the history so far. It is
written with :func:`nonlocal_calc.cache.write_atomic`, so a crash while saving leaves the previous one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..cache import write_atomic
from .data import to_bytes_npz

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
