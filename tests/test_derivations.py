"""Every derivation in derivations/ runs (its own assertions are the checks), opens as a notebook, and
produces exactly the tables committed in docs/generated/ (the ones the documentation shows)."""

from __future__ import annotations

import runpy
from pathlib import Path

import mpmath
import pytest

ROOT = Path(__file__).resolve().parents[1]
DERIVATIONS = sorted((ROOT / "derivations").glob("[0-9][0-9]_*.py"))
GENERATED = ROOT / "docs" / "generated"


def test_the_six_derivations_are_there():
    assert [p.name[:2] for p in DERIVATIONS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_derivation_runs_and_its_tables_are_the_committed_ones(path, tmp_path, monkeypatch):
    monkeypatch.setenv("NLC_DERIVATIONS_OUT", str(tmp_path))
    monkeypatch.syspath_prepend(str(path.parent))  # derivations import their shared _common.py
    prec = mpmath.mp.prec
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        mpmath.mp.prec = prec  # derivations work at 30-50 digits; do not leak that into other tests
    produced = sorted(tmp_path.iterdir())
    assert produced, f"{path.name} wrote nothing"
    for out in produced:
        committed = GENERATED / out.name
        assert committed.exists(), f"{out.name} is not committed: run `python docs/generate.py`"
        if out.suffix == ".md":
            assert out.read_text() == committed.read_text(), (
                f"docs/generated/{out.name} is stale: run `python docs/generate.py`")
        else:
            assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_derivation_is_a_jupytext_notebook(path):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 3 and kinds.count("code") >= 4
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
