import re
from pathlib import Path

from nonlocal_calc import readme

ROOT = Path(__file__).resolve().parents[1]


def test_generated_blocks_are_up_to_date():
    text = (ROOT / "README.md").read_text()
    assert readme.render(text) == text, "README is stale: run python -m nonlocal_calc.readme"


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_same_test_command():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert "pip install ." in commands[0] and "nonlocal-calc" in commands[0]
    test_cmd = commands[1].split("&&")[-1].strip()
    assert 'pip install -e ".[test]"' in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()
    assert 'pip install --quiet -e ".[test]"' in ci
