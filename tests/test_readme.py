"""README.md: its generated blocks are fresh (tools/readme.py), its setup commands are the ones CI runs."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "readme.py"
_spec = importlib.util.spec_from_file_location("readme_tool", TOOL)
readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme)


def test_generated_blocks_are_up_to_date():
    text = (ROOT / "README.md").read_text()
    assert readme.render(text) == text, "README is stale: run python tools/readme.py"


def test_the_tool_checks_and_rewrites_a_stale_block(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text("intro\n<!-- coverage:start -->\nold table\n<!-- coverage:end -->\nend\n")
    check = [sys.executable, str(TOOL), "--check", "--path", str(stale)]
    r = subprocess.run(check, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 1 and "out of date: run python tools/readme.py" in r.stderr
    assert subprocess.run([sys.executable, str(TOOL), "--path", str(stale)], cwd=tmp_path, timeout=600).returncode == 0
    text = stale.read_text()
    assert "old table" not in text and "| `relu` |" in text and text.startswith("intro\n") and text.endswith("end\n")
    assert subprocess.run(check, cwd=tmp_path, timeout=600).returncode == 0


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_same_test_command():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert "pip install ." in commands[0] and "nonlocal-calc" in commands[0]
    test_cmd = commands[1].split("&&")[-1].strip()
    assert 'pip install -e ".[test,jax]"' in commands[1]  # the JAX tests run too (CPU jaxlib from PyPI)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()
    slow = re.search(r"the slow layer, alone: `([^`]+)`", text.replace("\n", " ")).group(1)  # and CI runs it
    assert slow == f"NLC_SLOW_TESTS=1 {test_cmd} -m slow"
    assert any(slow in line for line in ci.splitlines() if not line.lstrip().startswith("#"))
    assert 'pip install --quiet -e ".[test,torch,jax]"' in ci  # the optional frameworks' tests run in CI
    assert ci.index('"torch==2.13.0"') < ci.index('".[test,torch,jax]"')  # the pinned CPU build first
