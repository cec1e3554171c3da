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


# ---------------------------------------------------------------------------------------------- unwritable cache
def test_cache_dir_falls_back_to_a_private_temporary_directory_with_one_warning(tmp_path, monkeypatch):
    import tempfile
    import warnings

    from nonlocal_calc import cache

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "a_file").write_text("not a directory")
    for bad in (tmp_path / "a_file", tmp_path / "a_file" / "below"):
        monkeypatch.setenv("NONLOCAL_CALC_CACHE", str(bad))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            dirs = [cache.cache_dir("codegen"), cache.cache_dir("derivations"), cache.cache_dir(), cache.cache_dir()]
        assert [type(x.message) for x in w] == [cache.CacheFallbackWarning], [str(x.message) for x in w]
        assert "cannot be written" in str(w[0].message) and "NONLOCAL_CALC_CACHE" in str(w[0].message)
        root = dirs[2]
        assert dirs[:2] == [root / "codegen", root / "derivations"] and root.parent == tmp_path / "tmp"
        assert stat.S_IMODE(root.stat().st_mode) & 0o077 == 0  # private: modules are imported from it
        cache.write_atomic(dirs[0] / "probe.txt", "ok")
    assert (tmp_path / "a_file").read_text() == "not a directory"


def test_fallback_directory_of_another_user_or_open_to_others_is_not_used(tmp_path, monkeypatch):
    import tempfile

    from nonlocal_calc import cache

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"nonlocal-calc-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could plant a module there
    got = cache._private_temp_dir()
    assert got != shared and got.parent == tmp_path and stat.S_IMODE(got.stat().st_mode) == 0o700


def _without_dac_override() -> None:  # (runs in the child before exec)
    """Drop root's power to write where permissions forbid it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
    CAP_FOWNER) from the capability bounding set: the program run next is root bound by file permissions."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _read_only_child_kwargs(path) -> dict | None:
    """How to run a child for which ``path`` (made read-only here) cannot be written: as is when this is not
    root, else as root without the capability to override file permissions; None if that cannot be arranged."""
    path.chmod(0o555)
    if os.geteuid() != 0:
        return {}
    kw = {"preexec_fn": _without_dac_override}
    try:
        probe = subprocess.run([sys.executable, "-c", f"open({str(path / 'probe')!r}, 'w')"], capture_output=True, **kw)
    except OSError:
        return None
    return kw if probe.returncode != 0 and not (path / "probe").exists() else None


@pytest.mark.parametrize("case", ["file in place", "below a file", "read-only"])
def test_unwritable_cache_derives_and_compiles_in_a_temporary_directory(case, tmp_path_factory):
    base = tmp_path_factory.mktemp("unwritable")
    base.chmod(0o755)
    tmp = tmp_path_factory.getbasetemp() / "shared-tmp"  # the fallback of all cases (one compile)
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    kw: dict | None = {}
    if case == "file in place":
        target = base / "cache"
        target.write_text("a file")
    elif case == "below a file":
        (base / "file").write_text("a file")
        target = base / "file" / "cache"
    else:
        target = base / "cache"
        target.mkdir()
        kw = _read_only_child_kwargs(target)
        if kw is None:
            pytest.skip("running as root, which writes to read-only directories, and its capabilities cannot be dropped")
    res = _child("""
        import json, warnings
        import numpy as np
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import nonlocal_calc as nlc
            from nonlocal_calc.activations import Activation
            D = nlc.derive(Activation.from_expr("Abs(x)/2 + x", name="halfabs"), "sign")  # a new pair: written
            u = D.ufunc()
            v = float(u(0.3, 0.1))
            again = nlc.derive(Activation.from_expr("Abs(x)/2 + x", name="halfabs"), "sign")  # read back
        from nonlocal_calc.cache import cache_dir
        print(json.dumps({"warnings": [f"{type(x.message).__name__}: {x.message}" for x in w], "v": v,
                          "dir": str(cache_dir()), "same": str(again.expr) == str(D.expr)}))
    """, {"NONLOCAL_CALC_CACHE": str(target), "TMPDIR": str(tmp)}, **kw)
    assert len(res["warnings"]) == 1 and res["warnings"][0].startswith("CacheFallbackWarning"), res["warnings"]
    assert res["v"] == pytest.approx(1.5, rel=1e-15) and res["same"]  # f = 3x/2 on (x - delta, x + delta)
    assert res["dir"].startswith(str(tmp)), res["dir"]
    if case != "read-only":
        assert target.is_file() or target.parent.is_file()
    else:
        assert list(target.iterdir()) == []


# ---------------------------------------------------------------------------------------------- damaged entries
PAIRS = ("relu", "tanh")


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    """A cache holding relu/sign and tanh/sign (modules, the shared runtime, Numba's cache, shared libraries,
    derivations), copied from the one the other tests use, to damage."""
    import shutil
    import warnings

    import nonlocal_calc as nlc
    from nonlocal_calc.cache import cache_dir
    from nonlocal_calc.codegen import _key, _runtime
    from nonlocal_calc.derivation import _cache_path

    copy = tmp_path_factory.mktemp("built") / "cache"
    (copy / "codegen" / "__pycache__").mkdir(parents=True)
    (copy / "derivations").mkdir()
    stems = [_runtime().__name__]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for act in PAIRS:
            D = nlc.derive(act, "sign")
            D.ufunc()
            stems.append(f"nlc_{_key(D, 'cpu')}")
            shutil.copy2(_cache_path(D.activation, D.kernel), copy / "derivations")
    src = cache_dir("codegen")
    for stem in stems:  # (copy2 keeps the modification times that Numba's index checks)
        for f in [*src.glob(f"{stem}.*"), *(src / "__pycache__").glob(f"{stem}.*")]:
            shutil.copy2(f, copy / f.relative_to(src.parent))
    return copy


def _fresh_copy(built_cache, tmp_path):
    import shutil

    shutil.copytree(built_cache, tmp_path / "cache", symlinks=True)
    return tmp_path / "cache"


_VALUES_CHILD = f"""
    import json, warnings
    import numpy as np
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        import nonlocal_calc as nlc
        x = np.linspace(-0.3, 0.3, 61)
        v = [[float(t).hex() for t in nlc.derive(a, "sign").ufunc()(x, 0.1)] for a in {PAIRS!r}]
    print(json.dumps({{"warnings": [f"{{type(x.message).__name__}}: {{x.message}}" for x in w], "v": v}}))
"""


def _expected_values() -> list:
    import numpy as np

    import nonlocal_calc as nlc

    x = np.linspace(-0.3, 0.3, 61)
    return [[float(t).hex() for t in nlc.derive(a, "sign").ufunc()(x, 0.1)] for a in PAIRS]


def _damage(files, how: str) -> int:
    """Overwrite each file with garbage, or cut it in half; ``how="mixed"``: every other one each way."""
    for i, f in enumerate(sorted(files)):
        data = f.read_bytes()
        cut = how == "truncate" or (how == "mixed" and i % 2)
        f.write_bytes(data[: len(data) // 2] if cut else b"garbage\n")
    return len(files)


@pytest.mark.parametrize("hooks", ["1", "0"])
def test_damaged_numba_cache_files_heal_with_one_warning(built_cache, tmp_path, hooks):
    """Garbage or truncated index (*.nbi) and data (*.nbc) files of every generated module, the shared runtime's
    included: each new process failed (UnpicklingError, ValueError, EOFError out of Numba's cache). Now one
    warning, the same values, and the next process finds the cache healed. ``hooks="0"``: the fallback used
    without the hook into Numba's cache code."""
    cache = _fresh_copy(built_cache, tmp_path)
    pyc = cache / "codegen" / "__pycache__"
    assert _damage(list(pyc.glob("nlc_*.nbi")), "mixed") + _damage(list(pyc.glob("nlc_*.nbc")), "mixed") > 10
    env = {"NONLOCAL_CALC_CACHE": str(cache), "NONLOCAL_CALC_INTERNALS": "loops,cache-hooks" if hooks == "1" else "loops"}
    first = _child(_VALUES_CHILD, env)
    assert len(first["warnings"]) == 1 and "CorruptedModuleWarning" in first["warnings"][0], first["warnings"]
    assert first["v"] == _expected_values()
    assert _child(_VALUES_CHILD, env) == {"warnings": [], "v": first["v"]}


@pytest.mark.parametrize("what", ["bytecode truncated", "library record garbage", "library truncated",
                                  "derivation garbage"])
def test_damaged_package_files_heal_with_one_warning(built_cache, tmp_path, what):
    import nonlocal_calc as nlc
    from nonlocal_calc.codegen import _key
    from nonlocal_calc.derivation import _cache_path

    cache = _fresh_copy(built_cache, tmp_path)
    codegen = cache / "codegen"
    D = nlc.derive("relu", "sign")
    stem = f"nlc_{_key(D, 'cpu')}"
    files = {"bytecode truncated": (codegen / "__pycache__").glob(f"{stem}.*.pyc"),
             "library record garbage": codegen.glob(f"{stem}.*.json"),
             "library truncated": codegen.glob(f"{stem}.*.so"),
             "derivation garbage": [cache / "derivations" / _cache_path(D.activation, D.kernel).name]}[what]
    assert _damage(list(files), "garbage" if "garbage" in what else "truncate") == 1
    # the bytecode is read only on the Numba route; the library only on the other
    env = {"NONLOCAL_CALC_CACHE": str(cache),
           "NONLOCAL_CALC_INTERNALS": "loops,cache-hooks" if what.startswith("bytecode") else "1"}
    first = _child(_VALUES_CHILD, env)
    assert len(first["warnings"]) == 1, first["warnings"]
    assert first["v"] == _expected_values()
    assert _child(_VALUES_CHILD, env) == {"warnings": [], "v": first["v"]}


# ---------------------------------------------------------------------------------------------- the trainer's kernels
def test_trainer_kernels_are_cached_in_the_toolkit_cache_not_beside_the_package(tmp_path):
    """Numba's cache of the trainer's sparse products was written beside the installed package (read-only in a
    system install); it goes to the toolkit's cache directory."""
    import nonlocal_calc.nn as nn_pkg

    package_cache = os.path.join(os.path.dirname(nn_pkg.__file__), "__pycache__")

    def package_entries():
        return {f: os.stat(os.path.join(package_cache, f)).st_mtime_ns for f in os.listdir(package_cache)
                if f.endswith((".nbi", ".nbc"))} if os.path.isdir(package_cache) else {}

    before = package_entries()
    code = """
        import json
        import numpy as np
        from nonlocal_calc.nn.model import prepare_input
        X = np.eye(12, 7)
        p = prepare_input(X, sparse=True)
        W = np.arange(70.0).reshape(7, 10)
        out = np.empty((12, 10))
        p.times(W, out)
        print(json.dumps({"ok": bool(np.array_equal(out, X @ W))}))
    """
    env = {"NONLOCAL_CALC_CACHE": str(tmp_path / "cache")}
    assert _child(code, env)["ok"]
    assert package_entries() == before  # nothing written beside the package
    pyc = tmp_path / "cache" / "codegen" / "__pycache__"
    entries = {f: f.stat().st_mtime_ns for f in pyc.glob("nlc_nn_*spmm*.nb[ic]")}
    assert len(entries) >= 2  # its index and machine code
    assert _child(code, env)["ok"]
    assert {f: f.stat().st_mtime_ns for f in pyc.glob("nlc_nn_*spmm*.nb[ic]")} == entries  # loaded, not compiled


# ---------------------------------------------------------------------------------------------- cached derivations
def _entry(D):
    from nonlocal_calc.derivation import _cache_path

    return _cache_path(D.activation, D.kernel)


def _rewrite(path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NONLOCAL_CALC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("edit", ["coefficient", "condition"])
def test_edited_cached_derivation_is_checked_and_derived_again(private_cache, edit):
    """An expression replaced in the cache file was used unchecked; its checksum no longer matches, it fails the
    check against the defining integral, and the pair is derived again."""
    import warnings

    import sympy as sp

    import nonlocal_calc as nlc
    from nonlocal_calc import derivation
    from nonlocal_calc.serialize import to_json

    D = nlc.derive("relu", "sign")
    path = _entry(D)
    assert "sha256" in json.loads(path.read_text())
    if edit == "coefficient":  # one coefficient of one branch
        wrong = D.expr.xreplace({sp.Rational(1, 2): sp.Rational(1, 3)})
    else:  # a branch boundary moved: only points between delta/2 and delta see it
        wrong = D.expr.xreplace({nlc.x < nlc.delta: nlc.x < nlc.delta / 2})
    assert wrong != D.expr
    _rewrite(path, expr=to_json(wrong))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        again = nlc.derive("relu", "sign")
    assert again.expr == D.expr
    assert [type(x.message) for x in w] == [derivation.ChangedCacheEntryWarning] and "wrong" in str(w[0].message)
    data = json.loads(path.read_text())
    assert data["expr"] == to_json(D.expr) and "sha256" in data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nlc.derive("relu", "sign").expr == D.expr  # the rewritten entry is trusted again


def test_cached_derivation_without_checksum_is_checked_and_kept(private_cache):
    import nonlocal_calc as nlc
    from nonlocal_calc.derivation import ChangedCacheEntryWarning

    D = nlc.derive("leaky_relu", "sign")
    path = _entry(D)
    data = json.loads(path.read_text())
    del data["sha256"]  # as written before entries carried one, or by hand
    path.write_text(json.dumps(data))
    with pytest.warns(ChangedCacheEntryWarning, match="agrees with the defining integral"):
        assert nlc.derive("leaky_relu", "sign").expr == D.expr
    assert "sha256" in json.loads(path.read_text())
    # an entry copied from another pair's file does not match its own name
    other = _entry(nlc.derive("relu", "sign"))
    other.write_text(path.read_text())
    with pytest.warns(ChangedCacheEntryWarning, match="wrong"):
        assert nlc.derive("relu", "sign").expr != D.expr

