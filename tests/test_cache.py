"""The on-disk cache: file permissions, unwritable cache directories, damaged entries."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(code: str, env_extra: dict | None = None, **kw) -> dict:
    """Run ``code`` in a fresh interpreter; its last line of output is JSON."""
    env = dict(os.environ, PYTHONPATH=ROOT, **(env_extra or {}))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         timeout=600, **kw)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_writes_get_the_mode_the_umask_gives(tmp_path, umask):
    res = _child(f"""
        import json, os, stat
        os.umask({umask})
        from nonlocal_calc.cache import write_atomic
        from nonlocal_calc.codegen import modcache
        write_atomic({str(tmp_path / "out.txt")!r}, "text")
        write_atomic({str(tmp_path / "out.bin")!r}, b"bytes")
        mod = modcache.load_module("x = 1\\n", "umask_{umask:o}")
        open({str(tmp_path / "plain.txt")!r}, "w").close()
        modes = {{p: stat.S_IMODE(os.stat(p).st_mode) for p in [{str(tmp_path / "out.txt")!r},
                 {str(tmp_path / "out.bin")!r}, mod.__file__, {str(tmp_path / "plain.txt")!r}]}}
        print(json.dumps(modes))
    """, {"NONLOCAL_CALC_CACHE": str(tmp_path / "cache")})
    assert set(res.values()) == {0o666 & ~umask}, {p: oct(m) for p, m in res.items()}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary file left behind


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from nonlocal_calc.cache import write_atomic

    target = tmp_path / "kept.txt"
    write_atomic(target, "old")

    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # not str or bytes: the write fails after the temporary file exists
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old
