import json
import subprocess
import sys

import pytest

from nonlocal_calc.cli import main


def test_derive_default_pair(capsys):
    assert main(["derive", "relu", "--kernel", "sign"]) == 0
    out = capsys.readouterr().out
    assert "closed-form" in out and "delta" in out


def test_derive_json_latex_series_delta(capsys):
    assert main(["derive", "tanh", "--kernel", "linear", "--json", "--series", "4", "--delta", "0.1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "closed-form" and "delta" not in data["expr"] and data["series"].endswith("O(delta**4)")
    assert main(["derive", "relu", "--latex"]) == 0
    assert r"\delta" in capsys.readouterr().out


def test_derive_user_formulas(capsys):
    assert main(["derive", "--activation-expr", "x/(1+exp(-x))", "--kernel-expr", "z**3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "closed-form"


@pytest.mark.parametrize("argv, message", [
    (["derive", "--activation-expr", "__import__('os').system('id')"], "attribute access"),
    (["derive", "relu", "--kernel-expr", "exec('1')"], "unknown function 'exec'"),
    (["derive", "relu", "--kernel", "power(-3)"], "p <= -2"),
    (["derive", "relu", "--kernel-expr", "z**2"], "not odd"),
    (["derive", "mish"], "unknown activation"),
    (["derive", "relu", "--delta", "-1"], "delta must be a positive number"),
    (["derive", "leaky_relu", "--param", "slope"], "NAME=VALUE"),
])
def test_bad_input_gets_a_clear_error(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_console_script_refuses_injection_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    r = subprocess.run([sys.executable, "-m", "nonlocal_calc", "derive", "--activation-expr",
                        f"__import__('os').system('touch {marker}')"], capture_output=True, text=True)
    assert r.returncode == 2 and "cannot parse" in r.stderr and not marker.exists()


def test_other_commands(capsys):
    assert main(["kernels", "sign", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["M1"] == "1"
    assert main(["audit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["effects"]["code"]["value_at_0"] == "-1/2"
    assert main(["catalogue", "--names"]) == 0
    assert "sigmoid -> logistic" in capsys.readouterr().out
    assert main([]) == 2  # no command: help and a non-zero exit
