"""Bad input on the command line: exit status 2 and one line on stderr, never a traceback; Ctrl-C: one line, 130."""

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nonlocal_calc.cli import main

BAD_INPUTS = [
    # formulas: division by zero, infinite, undefined or complex constants, numbers too large to build
    (["derive", "--activation-expr", "x/0"], "division by zero"),
    (["derive", "--activation-expr", "1e400*x"], "larger than the largest float64"),
    (["derive", "--activation-expr", "inf*x"], "infinite values are not allowed"),
    (["derive", "--activation-expr", "nan*x"], "nan is not allowed"),
    (["derive", "--activation-expr", "zoo*x"], "infinite values are not allowed"),
    (["derive", "--activation-expr", "I*x"], "complex numbers are not allowed"),
    (["derive", "--activation-expr", "log(0)*x"], "undefined or infinite"),
    (["derive", "--activation-expr", "x*10**10**10"], "too large"),
    (["derive", "--activation-expr", "x*9**9**8"], "too large"),
    (["derive", "relu", "--kernel-expr", "z/0"], "division by zero"),
    (["derive", "relu", "--kernel", "power(1/0)"], "division by zero"),
    (["derive", "relu", "--kernel", "gaussian(inf)"], "infinite values are not allowed"),
    (["derive", "leaky_relu", "--param", "slope=1/0"], "division by zero"),
    (["kernels", "--kernel-expr", "z*inf"], "infinite values are not allowed"),
    # numeric options: refused by name, never replaced by a default
    (["derive", "relu", "--series", "0"], "argument --series: must be an integer >= 1"),
    (["derive", "relu", "--series", "-1"], "argument --series: must be an integer >= 1"),
    (["derive", "relu", "--delta", "nan"], "delta must be a positive number"),
    (["derive", "relu", "--delta", "inf"], "delta must be a positive number"),
    (["derive", "relu", "--timeout", "0"], "argument --timeout: must be a finite number > 0"),
    (["derive", "relu", "--timeout", "-1"], "argument --timeout: must be a finite number > 0"),
    (["derive", "relu", "--timeout", "nan"], "argument --timeout: must be a finite number > 0"),
    (["codegen", "relu", "-o", "x.py", "--timeout", "inf"], "argument --timeout: must be a finite number > 0"),
    (["converge", "relu", "--timeout", "0"], "argument --timeout: must be a finite number > 0"),
    (["converge", "relu", "--x", "inf"], "x must be a real number"),
    (["converge", "relu", "--dps", "0"], "dps must be an integer >= 15"),
    (["reproduce", "poster", "--iters", "0"], "argument --iters: must be an integer >= 1"),
    (["reproduce", "laaf", "--iters", "-5"], "argument --iters: must be an integer >= 1"),
    (["reproduce", "poster", "--seeds", "0"], "argument --seeds: must be an integer >= 1"),
    (["reproduce", "poster", "--n-jobs", "0"], "argument --n-jobs: must be N >= 1 processes, or -1"),
    (["reproduce", "poster", "--table3-iters", "0", "600"], "argument --table3-iters: must be an integer >= 1"),
    (["reproduce", "laaf", "--table3-iters", "5", "6"], "--table3-iters belongs to the poster experiment"),
    (["train", "--iters", "-1"], "argument --iters: must be an integer >= 0"),
    (["train", "--lr", "nan"], "argument --lr: must be a finite number > 0"),
    (["train", "--lr", "0"], "argument --lr: must be a finite number > 0"),
    (["train", "--delta", "0"], "argument --delta: must be a finite number > 0"),
    (["train", "--dropout", "2"], "argument --dropout: must be a number in [0, 1)"),
    (["train", "--momentum", "1.5"], "argument --momentum: must be a number in [0, 1)"),
    (["train", "--threads", "0"], "argument --threads: must be an integer >= 1"),
    (["train", "--log-every", "0"], "argument --log-every: must be an integer >= 1"),
    (["train", "--batch-size", "-1"], "argument --batch-size: must be an integer >= 0"),
    (["train", "--data", "/nonexistent/mnist"], "no such file or directory"),
    (["derive", "relu", "--bogus"], "unrecognized arguments: --bogus"),
]


def _in_process(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _in_process(argv, capsys)
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1 and err.endswith("\n"), err
    assert message in err and "error:" in err


def test_a_kernel_too_costly_to_analyse_is_refused_within_the_budget(capsys, monkeypatch):
    from nonlocal_calc import kernels

    def endless(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr(kernels.Kernel, "from_expr", staticmethod(endless))
    code, err = _in_process(["derive", "relu", "--kernel-expr", "z**3", "--timeout", "0.5"], capsys)
    assert code == 2 and err.count("\n") == 1 and "took more than 0.5 s of CPU time" in err, err


def _cli(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nonlocal_calc", *argv], capture_output=True, text=True,
                          timeout=300, **kw)


# one per subcommand and per kind of fault, each in a process of its own, as a user meets them
@pytest.mark.parametrize("argv", [
    ["derive", "--activation-expr", "x/0"],
    ["derive", "--activation-expr", "x*10**10**10"],
    ["derive", "--activation-expr", "1e400*x"],
    ["derive", "relu", "--series", "-1"],
    ["codegen", "relu", "-o", "x.py", "--timeout", "-1"],
    ["kernels", "--kernel-expr", "z*inf"],
    ["converge", "relu", "--dps", "0"],
    ["reproduce", "poster", "--iters", "0"],
    ["train", "--lr", "nan"],
], ids=" ".join)
def test_bad_input_in_a_process_of_its_own(argv, tmp_path):
    r = _cli(*argv, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not list(tmp_path.iterdir())  # nothing written


# ---------------------------------------------------------------- Ctrl-C
def _session(pid: int) -> list[int]:
    """The processes of a session (the process group a terminal's Ctrl-C reaches)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pid:  # field 6 of /proc/PID/stat: the session id
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _interrupt(argv: list[str], ready, cwd) -> subprocess.Popen:
    """Start the command in a session of its own, wait until ``ready(pid)``, then press Ctrl-C (SIGINT to the group)."""
    p = subprocess.Popen([sys.executable, "-m", "nonlocal_calc", *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=cwd)
    deadline = time.monotonic() + 300
    while not ready(p.pid) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.poll() is None, f"the command ended before it could be interrupted: {p.communicate()}"
    os.killpg(p.pid, signal.SIGINT)
    return p


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists() or not hasattr(os, "killpg"),
                                reason="needs Linux /proc and process groups")


@needs_proc
def test_ctrl_c_during_a_derivation_ends_with_one_line(tmp_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    _cli("--version")  # what starting up costs: interrupt only once the derivation itself runs
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    startup = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # about 12 s of CPU, so that the interrupt lands well inside it: a process interrupted while the interpreter
    # shuts down (where Python has restored SIGINT's default action) dies of the signal with no message
    env_argv = ["derive", "elu", "--kernel", "gaussian", "--no-cache", "--timeout", "600"]
    p = _interrupt(env_argv, lambda pid: _cpu_seconds(pid) > startup + 1.5, tmp_path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and err == "nonlocal-calc: interrupted\n", err


@needs_proc
def test_ctrl_c_with_worker_processes_ends_with_one_line_and_no_worker_left(tmp_path):
    def workers_starting(pid):  # interrupted while the two workers import their modules
        return sum("loky" in _cmdline(q) and "popen" in _cmdline(q) for q in _session(pid)) >= 2

    argv = ["reproduce", "poster", "--seeds", "1", "--iters", "300", "--n-jobs", "2", "--no-progress", "--out", "out"]
    p = _interrupt(argv, workers_starting, tmp_path)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and err == "nonlocal-calc: interrupted\n", err
    deadline = time.monotonic() + 30
    while _session(p.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _session(p.pid), "worker processes outlived the interrupted command"
