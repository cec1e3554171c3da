"""Shared by the derivations: where they write their tables and figures.

``NLC_DERIVATIONS_OUT`` overrides the default ``docs/generated`` (the tests write into a temporary directory).
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def out_dir() -> Path:
    """The output directory, read from the environment at each call (the tests change it per run)."""
    return Path(os.environ.get("NLC_DERIVATIONS_OUT") or ROOT / "docs" / "generated")
