"""The module cache: reuse across processes without recompiling, recovery from corruption, standalone modules."""

import ast
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import from_python

import nonlocal_calc as nlc
from nonlocal_calc.cache import write_atomic
from nonlocal_calc.codegen import _key, _module, make_ufunc, modcache, native, write_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_new_process_loads_from_cache_without_compiling():
    make_ufunc(nlc.derive("relu", "sign"))(0.0, 0.1)  # build (or reuse) in this process
    res = _child("""
        import json, time
        import numba, nonlocal_calc as nlc
        from nonlocal_calc.codegen import make_ufunc, _module
        D = nlc.derive("relu", "sign")
        t = time.perf_counter()
        u = make_ufunc(D)
        dt = time.perf_counter() - t
        mod = _module(D)
        print(json.dumps({"hits": [lp.cache_hits for lp in mod._LOOPS.values()], "t": dt, "v": float(u(0.05, 0.1))}))
    """)
    assert res["v"] == 0.875
    assert len(res["hits"]) == 2 and all(h > 0 for h in res["hits"]), res  # both loops came from Numba's cache: nothing was compiled


def test_cache_hit_needs_neither_numba_runtime_nor_array_module():
    # a pair whose loops use scratch arrays (Gauss-Legendre loop, quadrature, series): they live on the stack,
    # so the loaded machine code calls no Numba runtime (NRT) and its environments need no numba.np.arrayobj
    D = nlc.derive("silu", "sign")
    x = np.array([-1.0, 0.0, 0.03, 2.0, np.inf])
    want = [make_ufunc(D)(x, 0.1).tolist(), make_ufunc(D)(x.astype(np.float32), np.float32(0.1)).tolist()]
    res = _child("""
        import json, os, sys
        os.environ["NONLOCAL_CALC_INTERNALS"] = "loops,cache-hooks"  # the Numba route (a shared library would bypass Numba)
        import numpy as np
        import nonlocal_calc as nlc
        from numba.core.runtime import nrt
        u = nlc.derive("silu", "sign").ufunc()
        x = np.array([-1.0, 0.0, 0.03, 2.0, np.inf])
        print(json.dumps({"arrayobj": "numba.np.arrayobj" in sys.modules, "nrt": nrt.rtsys._init,
                          "v": [u(x, 0.1).tolist(), u(x.astype(np.float32), np.float32(0.1)).tolist()]}))
    """)
    assert res["v"] == want
    assert not res["arrayobj"] and not res["nrt"], res


def test_corrupted_module_is_rebuilt_with_a_warning():
    D = nlc.derive("leaky_relu", "sign")
    make_ufunc(D)
    path = modcache.module_path(_key(D, "cpu"))
    # a damaged file in a fresh process: warning, rebuild, correct values
    path.write_text(path.read_text()[:200] + "\n garbage (((\n")
    res = _child("""
        import json, warnings
        import nonlocal_calc as nlc
        from nonlocal_calc.codegen import make_ufunc
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            u = make_ufunc(nlc.derive("leaky_relu", "sign"))
        print(json.dumps({"warned": any("corrupted" in str(x.message) for x in w), "v": float(u(-1.0, 0.1))}))
    """)
    assert res == {"warned": True, "v": 0.01}
    assert modcache.check_file(path, _key(D, "cpu")) is None


def test_foreign_file_and_bad_numba_cache_are_rebuilt(tmp_path):
    key = "unit_" + str(time.time_ns())
    path = modcache.module_path(key)
    path.write_text("# nonlocal-calc generated module: key=other sha256=0\nx = 1\n")
    with pytest.warns(modcache.CorruptedModuleWarning):
        mod = modcache.load_module("x = 2\n", key)
    assert mod.x == 2
    # a corrupted Numba index next to a generated module: Numba recompiles instead of crashing
    D = nlc.derive("prelu", "sign")
    make_ufunc(D)
    # Numba keeps its index in __pycache__ beside the module, or under NUMBA_CACHE_DIR when that is set
    import numba

    root = numba.config.CACHE_DIR or modcache.module_path(_key(D, "cpu")).parent / "__pycache__"
    damaged = 0
    for f in Path(root).rglob(f"nlc_{_key(D, 'cpu')}*.nbi"):
        f.write_bytes(b"not a pickle")
        damaged += 1
    assert damaged > 0  # the test damages real index files
    res = _child("""
        import json
        import nonlocal_calc as nlc
        from nonlocal_calc.codegen import make_ufunc
        print(json.dumps({"v": float(make_ufunc(nlc.derive("prelu", "sign"))(-1.0, 0.1))}))
    """)
    assert res["v"] == 0.25


#: The Numba API a standalone module of the default (public) route may use: attributes of ``numba`` and options.
PUBLIC_NUMBA = {"njit", "vectorize"}
PUBLIC_OPTIONS = {"cache", "error_model", "fastmath", "inline", "target"}


def numba_use(src: str) -> dict:
    """What the module text ``src`` imports and which attributes of ``numba`` and options of its calls it uses."""
    tree = ast.parse(src)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Name) and n.func.value.id == "numba"]
    return {"imports": {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names},
            "from": {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)},
            "numba": {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                      and isinstance(n.value, ast.Name) and n.value.id == "numba"},
            "options": {k.arg for c in calls for k in c.keywords}}


def _run_standalone(tmp_path, stem: str, code: str) -> list:
    """Run ``code`` after importing the module ``stem`` from tmp_path, in a fresh process without nonlocal_calc."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "nb")
    code = (f"import sys, json, numpy as np; sys.path.insert(0, {str(tmp_path)!r}); import {stem} as m; "
            f"assert 'nonlocal_calc' not in sys.modules; {code}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path),
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_standalone_module_in_a_fresh_interpreter(tmp_path):
    """The default standalone module uses Numba's public API only (a file kept for years runs on later Numba
    releases) and gives the bits of make_ufunc's ufunc on contiguous arrays with a scalar delta."""
    D = nlc.derive("tanh", "sign")
    src = write_module(D, tmp_path / "tanh_sign.py", measure=True)
    use = numba_use(src)
    assert use["imports"] <= {"math", "numpy", "numba"} and not use["from"], use
    assert use["numba"] <= PUBLIC_NUMBA and use["options"] <= PUBLIC_OPTIONS, use
    doc = ast.get_docstring(ast.parse(src))
    assert "kernel sign" in doc and "normalized so that D_mu x = 1" in doc and "Accuracy measured" in doc
    assert "0 outside the targets" in doc
    x = np.linspace(-2, 2, 301)
    v64, v32, bits = _run_standalone(tmp_path, "tanh_sign", (
        "x = np.linspace(-2, 2, 301); "
        "print(json.dumps([float(m.ufunc(0.3, 0.5)), float(m.kernel(np.float32(0.3), np.float32(0.5))), "
        "[float(v).hex() for v in m.ufunc(x, 0.5)] + [float(v).hex() for v in m.ufunc(x.astype(np.float32), "
        "np.float32(0.1))]]))"))
    ref = float(D.evaluate(0.3, 0.5, dps=30))
    assert abs(v64 - ref) < 1e-15 and abs(v32 - ref) < 2e-7
    u = make_ufunc(D)
    assert bits == [float(v).hex() for v in u(x, 0.5)] + [float(v).hex() for v in u(x.astype(np.float32),
                                                                                        np.float32(0.1))]


def test_cli_codegen(tmp_path, capsys):
    """The default module and the --fast-internals one (Numba's internals, the vectorized loops): the same bits."""
    from nonlocal_calc.cli import main

    for stem, extra in (("relu_sign", []), ("relu_sign_fast", ["--fast-internals"])):
        out = tmp_path / f"{stem}.py"
        assert main(["codegen", "relu", "--kernel", "sign", "-o", str(out), "--no-measure", *extra]) == 0
        use = numba_use(out.read_text())
        assert "def kernel(x, delta)" in out.read_text()
        assert (use["numba"] <= PUBLIC_NUMBA and not use["from"]) == (not extra), use
    x = np.linspace(-0.3, 0.3, 61)
    want = [float(v).hex() for v in make_ufunc(nlc.derive("relu", "sign"))(x, 0.1)]
    for stem, fast in (("relu_sign", False), ("relu_sign_fast", True)):
        got = _run_standalone(tmp_path, stem, "x = np.linspace(-0.3, 0.3, 61); "
                              "print(json.dumps([hasattr(m, '_LOOPS'), [float(v).hex() for v in m.ufunc(x, 0.1)]]))")
        assert got == [fast, want], stem
    assert main(["codegen", "relu", "-o", str(tmp_path / "bad-name.py")]) == 2
    assert "valid module name" in capsys.readouterr().err


def test_parallel_target_agrees():
    D = nlc.derive("softplus", "sign")
    up = make_ufunc(D, target="parallel")
    u = make_ufunc(D)
    x = np.linspace(-5, 5, 1001)
    # both evaluate the scalar kernel for per-element deltas; for a scalar delta the cpu loop uses the
    # Gauss-Legendre rule (same accuracy, other rounding)
    np.testing.assert_array_equal(up(x, np.full_like(x, 0.1)), u(x, np.full_like(x, 0.1)))
    np.testing.assert_allclose(up(x, 0.1), u(x, 0.1), rtol=4e-15, atol=0)
    with pytest.raises(ValueError, match="unknown target"):
        make_ufunc(D, target="gpu")


def test_parallel_build_float32_retry_through_the_float64_loop():
    """A fresh heavy module compiles its float32 loop in a helper process (loaded here from Numba's cache) and
    hands float32 values its error check rejects to the float64 loop; all loop paths agree."""
    from nonlocal_calc.codegen.accuracy import reference

    D = nlc.derive("softplus", "sign")
    path = modcache.module_path(_key(D, "cpu"))
    if path.exists():  # a previous run in this cache: build it afresh
        path.unlink()
        modcache._clear_numba_cache(path)
        sys.modules.pop(f"nlc_{_key(D, 'cpu')}", None)
    mod = _module(D)
    assert "\n_PARALLEL_BUILD = True\n" in path.read_text()
    hits = {np.dtype(k).name: lp.cache_hits for k, lp in mod._LOOPS.items()}
    if modcache._cores() > 1:
        assert hits == {"float32": 1, "float64": 0}, hits  # float32 compiled by the helper, float64 here
    # float32 points the float32 checks reject: found on a grid, then computed through the float64 loop
    xs = np.float32([-3.0, -2.0, -1.5, -1.0, -0.01, 0.0, 0.02, 0.4, 2.5, 30.0])
    ds = np.float32([1e-4, 1e-2, 0.3, 2.0])
    tol = (np.float32(mod.RTOL32), np.float32(mod.ATOL32))
    kfirst = from_python(mod._kfirst)
    rejected = [(x, d) for d in ds for x in xs if not kfirst(x, d, *tol)[1]]
    assert rejected, "no float32 point needs the float64 retry: the test does not reach it"
    for x, d in rejected:
        want = float(reference(D, float(x), float(d)))
        got = float(mod.ufunc(x, d))
        assert abs(got - want) <= 2e-6 * abs(want) + 1e-7, (x, d, got, want)
    X = np.repeat(xs, 2)
    for d in ds:  # element-wise (strided x, or delta an array) and the contiguous loop (maybe Gauss-Legendre)
        for u in (mod.ufunc(X[::2], d), mod.ufunc(xs, np.full(xs.shape, d))):
            np.testing.assert_allclose(u, mod.ufunc(xs, d), rtol=3e-6, atol=1e-7)


def test_runtime_calls_are_the_calls_not_the_definitions():
    """The hint sent to the helper of a build (the runtime functions a kernel calls) leaves out the functions
    that are only defined (and call each other) in the source."""
    from nonlocal_calc.codegen.shared import runtime_calls, runtime_source

    rt = runtime_source()
    assert runtime_calls(rt) == set()
    calls = runtime_calls(rt + "\n\ndef k(x):\n    return _li3_negexp_d(x) + _log1pexp_d(x)\n")
    assert calls == {"_li3_negexp_d", "_log1pexp_d"}


def test_warm_types_are_the_signatures_the_modules_call():
    """The build's helper compiles the shared runtime's multi-argument functions ahead with the types of
    ``_warm_types``: they must be the types the generated modules call them with, for both dtypes."""
    import numba

    mod = _module(nlc.derive("tanh", "power(2)"))  # a kernel with the moment series
    # a fresh compile of the checks (the module's own may come from Numba's cache, which types no callee)
    first = numba.njit(_nrt=False, error_model="numpy")(mod._kfirst.py_func)
    for ty in (np.float32, np.float64):
        v, _ = first(ty(0.3), ty(1e-3), ty(mod.RTOL32), ty(mod.ATOL32))
        assert abs(v - 1.0 / np.cosh(0.3) ** 2) < 1e-5
    # both dtypes call the float64 evaluator with x, delta, X and the unit roundoff in float64: the warm-up must
    # compile it with exactly these types
    rt = sys.modules[mod._series_eval_d.py_func.__module__]
    for ty in (numba.float64, numba.float32):
        warm = rt._warm_types("_series_eval_d", ty)
        assert warm in mod._series_eval_d.overloads, (warm, list(mod._series_eval_d.overloads))


# ------------------------------------------------------------------ the loops as a shared library (native.py)
NATIVE = native.cpu_tag() is not None and native._compiler() is not None
NATIVE_PAIRS = [("relu", "sign"), ("softplus", "sign"), ("silu", "sign"), ("tanh", "power(2)"),
                ("elu", "power(-1/2)"), ("gelu", "gaussian")]


def _grid_values(u) -> list:
    """Values on every loop path: contiguous with a scalar delta (the fast, series and Gauss loops), per-element
    deltas, strided x, special values, both dtypes."""
    x = np.concatenate([np.linspace(-3, 3, 601), [0.0, 1e-9, -1e-9, 50.0, -1000.0, np.inf, -np.inf, np.nan]])
    out = []
    for dt in (np.float32, np.float64):
        xs = x.astype(dt)
        for d in (0.0, 1e-6, 1e-2, 0.1, 2.0, -1.0, np.nan):
            out.append(u(xs, dt(d)))
        out.append(u(xs, np.geomspace(1e-8, 4, xs.size).astype(dt)))
        out.append(u(xs[::3], dt(0.3)))
    return [a.tolist() for a in out]


@pytest.mark.skipif(not NATIVE, reason="no C compiler or not Linux: the Numba route only")
@pytest.mark.parametrize("act,ker", NATIVE_PAIRS)
def test_shared_library_loads_without_numba_and_agrees_bit_for_bit(act, ker):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gelu/gaussian: a quadrature pair, said so by a warning
        D = nlc.derive(act, ker)
    want = _grid_values(_module(D).ufunc)  # the Numba-loaded loops
    make_ufunc(D)  # writes the shared library if it is missing
    so, record = native.paths(_key(D, "cpu"))
    assert so.exists() and record.exists()
    res = _child(f"""
        import json, sys, numpy as np
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_codegen_cache import _grid_values
        import nonlocal_calc as nlc
        u = nlc.derive({act!r}, {ker!r}).ufunc()
        print(json.dumps({{"numba": "numba" in sys.modules, "types": u.types, "v": _grid_values(u)}}))
    """)
    assert not res["numba"] and res["types"] == ["ff->f", "dd->d"]
    for got, exp in zip(res["v"], want):
        np.testing.assert_array_equal(np.array(got), np.array(exp))


@pytest.mark.skipif(not NATIVE, reason="no C compiler or not Linux: the Numba route only")
def test_damaged_shared_library_is_rebuilt_with_a_warning_and_can_be_turned_off():
    D = nlc.derive("logistic", "sign")
    v = float(_module(D).ufunc(0.0, 0.1))
    make_ufunc(D)
    key = _key(D, "cpu")
    so, record = native.paths(key)
    good = so.read_bytes()
    # (a new file: overwriting in place the library this process may have mapped would crash it)
    write_atomic(so, good[:1000] + b"garbage" + good[1007:])
    with pytest.warns(modcache.CorruptedModuleWarning, match="compiled library"):
        assert native.load(key) is None
    res = _child("""
        import json, warnings
        import nonlocal_calc as nlc
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            u = nlc.derive("logistic", "sign").ufunc()
        print(json.dumps({"warned": any("compiled library" in str(x.message) for x in w), "v": float(u(0.0, 0.1))}))
    """)
    assert res == {"warned": True, "v": v}
    assert so.read_bytes() != good[:1000] + b"garbage" + good[1007:]  # rewritten by the Numba route
    assert native.load(key) is not None
    # no library part (NONLOCAL_CALC_INTERNALS without it): neither loaded nor written
    so.unlink()
    res = _child("""
        import json, os, sys
        os.environ["NONLOCAL_CALC_INTERNALS"] = "loops,cache-hooks"
        import nonlocal_calc as nlc
        u = nlc.derive("logistic", "sign").ufunc()
        print(json.dumps({"numba": "numba" in sys.modules, "v": float(u(0.0, 0.1))}))
    """)
    assert res == {"numba": True, "v": v} and not so.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a library not written (yet) is no damage
        assert native.load(key) is None
