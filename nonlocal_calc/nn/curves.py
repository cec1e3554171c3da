"""Learning curves of a run, written as CSV and as a figure (both atomically).

>>> import os, tempfile
>>> hist = {"iteration": [10, 20], "train_loss": [1.0, 0.5], "test_loss": [1.1, 0.6],
...         "train_accuracy": [0.5, 0.8], "test_accuracy": [0.4, 0.7]}
>>> d = tempfile.mkdtemp()
>>> paths = write_curves(hist, os.path.join(d, "run"))
>>> open(paths[0]).read().splitlines()[1]
'10,1.0,1.1,0.5,0.4'
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from ..cache import write_atomic

#: Columns plotted in the loss panel and the accuracy panel.
LOSS_COLS = ("train_loss", "test_loss", "slope_recovery")
ACC_COLS = ("train_accuracy", "test_accuracy")


def history_csv(history: dict[str, list]) -> str:
    """The history as CSV text (one row per logged iteration; columns in the history's order)."""
    cols = [c for c in history if isinstance(history[c], list) and c != "slopes"]
    n = len(history.get("iteration", []))
    lines = [",".join(cols)]
    for i in range(n):
        lines.append(",".join(_fmt(history[c][i]) for c in cols))
    return "\n".join(lines) + "\n"


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return str(v)


def write_curves(history: dict[str, list], prefix: str | Path, title: str = "") -> tuple[Path, Path]:
    """Write ``prefix.csv`` and ``prefix.png`` (loss on a log scale; accuracy when present)."""
    prefix = Path(prefix)
    csv_path, png_path = prefix.with_suffix(".csv"), prefix.with_suffix(".png")
    write_atomic(csv_path, history_csv(history))
    it = history.get("iteration", [])
    has_acc = any(c in history and any(v is not None for v in history[c]) for c in ACC_COLS)
    fig = new_figure((10 if has_acc else 5.5, 4))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)
    ax = axes[0, 0]
    for c in LOSS_COLS:
        vals = history.get(c)
        if vals and any(v for v in vals):
            ax.plot(it, [math.nan if v is None else v for v in vals], label=c.replace("_", " "))
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.legend()
    if has_acc:
        ax = axes[0, 1]
        for c in ACC_COLS:
            if c in history:
                ax.plot(it, [math.nan if v is None else v for v in history[c]], label=c.replace("_", " "))
        ax.set_xlabel("iteration")
        ax.set_ylabel("accuracy")
        ax.legend()
    if title:
        fig.suptitle(title)
    save_figure(fig, png_path)
    return csv_path, png_path


def new_figure(size: tuple[float, float]):  # noqa: ANN201
    """A matplotlib Figure drawn with the Agg canvas (no pyplot, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path, dpi: int = 110) -> None:  # noqa: ANN001
    """Save ``fig`` as PNG atomically."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    write_atomic(path, buf.getvalue())
