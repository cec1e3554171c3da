"""The ufuncs as NumPy ufuncs: the whole call protocol, the same on both routes; pickling to worker processes.

A ufunc comes either from the shared library (a process that finds it in the cache: no Numba) or from the loops
Numba compiled or loaded (the first call on an empty cache, or ``NONLOCAL_CALC_INTERNALS=loops,cache-hooks``). Both must behave
identically, so the protocol is exercised in fresh processes on each route and the answers compared.
"""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nonlocal_calc as nlc
from nonlocal_calc.codegen import _key, make_ufunc, native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
NATIVE = native.cpu_tag() is not None and native._compiler() is not None
#: a pair whose float32 loop hands some points to the float64 loop (through the loop's data pointer)
PAIR = ("softplus", "sign")


def _child(code: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, PYTHONPATH=ROOT, **env))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bits(a) -> list[str]:
    return [float(v).hex() for v in np.ravel(a)]


def _describe(res) -> dict:
    a = np.asarray(res)
    return {"type": type(res).__name__, "dtype": str(a.dtype), "shape": list(a.shape), "v": _bits(a),
            "c": bool(a.flags.c_contiguous), "f": bool(a.flags.f_contiguous)}


def protocol(u) -> dict:
    """What ``u`` answers to every form of call NumPy documents for a ufunc: {case: result or error}."""
    x = np.array([-np.inf, -3.0, -1.0, -0.05, 0.0, 0.03, 0.1, 0.7, 2.5, 40.0, np.inf, np.nan])
    x32 = x.astype(np.float32)
    deltas = np.array([0.0, 1e-3, 0.1, 1.0, -0.1, np.inf])
    X2 = np.asfortranarray(np.linspace(-2, 2, 12).reshape(3, 4))
    mask = np.isfinite(x) & (x > -1.5)

    def where_out(dtype):
        y = np.full(x.shape, -7.0, dtype)
        r = u(x.astype(dtype), dtype(0.1), where=mask, out=y)
        assert r is y
        return y

    def where_no_out():  # the unmasked entries are left uninitialised: only the masked ones count
        return u(x, 0.1, where=mask)[mask]

    def out_and_same(out):
        r = u(x, 0.1, out=out)
        assert r is (out[0] if isinstance(out, tuple) else out)
        return r

    def in_place():
        a = x.copy()
        u(a, 0.1, out=a)
        return a

    def overlapping():
        a = x.copy()
        u(a[1:], 0.1, out=a[:-1])
        return a

    def at():
        a = x.copy()
        u.at(a, [1, 5, 5, 8], 0.1)
        return a

    cases = {
        "plain": lambda: u(x, 0.1),
        "float32": lambda: u(x32, np.float32(0.1)),
        "python scalars": lambda: u(0.3, 0.1),
        "0-d arrays": lambda: u(np.array(0.3), np.array(0.1)),
        "0-d float32": lambda: u(np.float32(0.3), np.float32(0.1)),
        "0-d out": lambda: u(0.3, 0.1, out=np.empty(())),
        "lists": lambda: u([0.1, 0.2, -3], [0.1, 0.5, 1]),
        "integers": lambda: u(np.arange(-3, 4), 1),
        "float16": lambda: u(x.astype(np.float16), np.float16(0.5)),
        "broadcast": lambda: u(x[:, None], deltas[None, :]),
        "broadcast 3-d": lambda: u(X2[None, :, :], deltas[:3, None, None]),
        "out": lambda: out_and_same(np.empty_like(x)),
        "out tuple": lambda: out_and_same((np.empty_like(x),)),
        "out float32": lambda: u(x, 0.1, out=np.empty(x.shape, np.float32)),
        "out int": lambda: u(x, 0.1, out=np.empty(x.shape, np.int64)),
        "out wrong shape": lambda: u(x, 0.1, out=np.empty(3)),
        "where out float64": lambda: where_out(np.float64),
        "where out float32": lambda: where_out(np.float32),
        "where no out": where_no_out,
        "where broadcast": lambda: u(x[:, None], deltas[None, :], out=np.zeros((12, 6)), where=deltas > 0),
        "where False": lambda: u(x, 0.1, out=np.ones_like(x), where=False),
        "dtype float32": lambda: u(x, 0.1, dtype=np.float32),
        "dtype float64": lambda: u(x32, np.float32(0.1), dtype=np.float64),
        "dtype int": lambda: u(x, 0.1, dtype=np.int64),
        "signature": lambda: u(x, 0.1, signature="ff->f"),
        "casting no": lambda: u(x32, 0.1, dtype=np.float64, casting="no"),
        "casting safe": lambda: u(x, 0.1, out=np.empty(x.shape, np.float32), casting="safe"),
        "casting unsafe": lambda: u(x, 0.1, out=np.empty(x.shape, np.float32), casting="unsafe"),
        "order F": lambda: u(X2, 0.1, order="F"),
        "order C": lambda: u(X2, 0.1, order="C"),
        "order K": lambda: u(X2, 0.1),
        "strided": lambda: u(x[::3], deltas[::-2][:4]),
        "reversed": lambda: u(x[::-1], 0.1),
        "transposed": lambda: u(X2.T, np.linspace(0.1, 1, 3)),
        "in place": in_place,
        "overlapping": overlapping,
        "subok": lambda: u(np.ma.masked_array(x, mask=~mask), 0.1),
        "complex": lambda: u(x + 0j, 0.1),
        "string": lambda: u("a", 0.1),
        "axis": lambda: u(x, 0.1, axis=0),
        "three inputs": lambda: u(x, 0.1, 0.2),
        "outer": lambda: u.outer(x[:6], [0.1, 0.5]),
        "at": at,
        "reduce": lambda: u.reduce(np.array([0.3, 0.1, 0.2])),
        "reduce empty": lambda: u.reduce(np.array([])),
        "accumulate": lambda: u.accumulate(np.array([0.3, 0.1, 0.2])),
        "reduceat": lambda: u.reduceat(np.array([0.3, 0.1, 0.2, 0.5]), [0, 2]),
    }
    out = {}
    for name, call in cases.items():
        try:
            out[name] = _describe(call())
        except Exception as exc:  # noqa: BLE001 - the error is the answer compared
            out[name] = {"error": type(exc).__name__, "message": str(exc)}
    out["attributes"] = {a: repr(getattr(u, a)) for a in ("nin", "nout", "nargs", "ntypes", "types", "identity",
                                                         "signature", "__name__", "__doc__", "method")}
    return out


_PROTOCOL_CHILD = f"""
    import json, sys
    sys.path.insert(0, {HERE!r})
    import warnings
    import nonlocal_calc as nlc
    from test_codegen_protocol import protocol
    u = nlc.derive(*{PAIR!r}).ufunc()
    print(json.dumps({{"numba": "numba" in sys.modules, "protocol": protocol(u)}}))
"""


@pytest.fixture(scope="module")
def routes():
    """The protocol answers of the pair's ufunc in a fresh process on each route."""
    D = nlc.derive(*PAIR)
    make_ufunc(D)  # the module, and the shared library where one can be linked, are in the cache
    numba_route = _child(_PROTOCOL_CHILD, NONLOCAL_CALC_INTERNALS="loops,cache-hooks")
    assert numba_route["numba"]
    if not NATIVE:
        return numba_route, None
    assert native.load(_key(D, "cpu")) is not None
    native_route = _child(_PROTOCOL_CHILD)
    assert not native_route["numba"]  # the shared library: Numba not even imported
    return numba_route, native_route


@pytest.mark.skipif(not NATIVE, reason="no C compiler or not Linux: there is only the Numba route")
def test_call_protocol_is_identical_on_both_routes(routes):
    numba_route, native_route = routes
    differ = [k for k in numba_route["protocol"] if numba_route["protocol"][k] != native_route["protocol"][k]]
    assert not differ, {k: (numba_route["protocol"][k], native_route["protocol"][k]) for k in differ}


def test_call_protocol_answers_are_numpys(routes):
    """The answers are right, not only equal: every keyword does what NumPy documents, values agree with the
    plain call element by element, and what NumPy refuses is refused with NumPy's errors."""
    p = routes[0]["protocol"]
    D = nlc.derive(*PAIR)
    u = make_ufunc(D)
    x = np.array([-np.inf, -3.0, -1.0, -0.05, 0.0, 0.03, 0.1, 0.7, 2.5, 40.0, np.inf, np.nan])
    mask = np.isfinite(x) & (x > -1.5)
    plain = u(x, 0.1)
    plain32 = u(x.astype(np.float32), np.float32(0.1))
    assert p["plain"]["v"] == _bits(plain) and p["float32"]["v"] == _bits(plain32)
    assert p["out"]["v"] == p["out tuple"]["v"] == _bits(plain)
    assert p["casting unsafe"]["v"] == p["out float32"]["v"] == _bits(plain.astype(np.float32))
    assert p["dtype float64"]["v"] == _bits(u(x.astype(np.float32).astype(np.float64), np.float64(np.float32(0.1))))
    assert p["where out float64"]["v"] == _bits(np.where(mask, plain, -7.0))
    assert p["where out float32"]["v"] == _bits(np.where(mask, plain32, np.float32(-7.0)))
    assert p["where no out"]["v"] == _bits(plain[mask])
    assert p["where False"]["v"] == _bits(np.ones_like(x))
    deltas = np.array([0.0, 1e-3, 0.1, 1.0, -0.1, np.inf])
    full = np.array([[u(xv, dv) for dv in deltas] for xv in x])
    assert p["broadcast"]["shape"] == [12, 6] and p["broadcast"]["v"] == _bits(full)
    assert p["where broadcast"]["v"] == _bits(np.where(deltas > 0, full, 0.0))
    at = x.copy()
    at[1], at[8] = u(x[1], 0.1), u(x[8], 0.1)  # (element by element: the scalar loop, not the block rule)
    at[5] = u(u(x[5], 0.1), 0.1)  # index 5 twice: applied twice (unbuffered)
    assert p["at"]["v"] == _bits(at)
    assert p["outer"]["shape"] == [6, 2] and p["outer"]["v"] == _bits([[u(a, d) for d in (0.1, 0.5)] for a in x[:6]])
    assert p["python scalars"]["type"] == "float64" and p["0-d arrays"]["type"] == "float64"
    assert p["0-d float32"]["type"] == "float32" and p["0-d out"]["shape"] == []
    assert p["float16"]["dtype"] == "float32" and p["integers"]["dtype"] == "float64"
    assert p["dtype float32"]["dtype"] == "float32" and p["signature"]["dtype"] == "float32"
    assert p["order F"]["f"] and not p["order F"]["c"] and p["order C"]["c"] and p["order K"]["f"]
    assert p["subok"]["type"] == "MaskedArray"
    assert p["reduce"]["v"] == _bits(u(u(0.3, 0.1), 0.2))  # NumPy's meaning: successive pairs
    for case in ("out int", "dtype int", "casting no", "casting safe", "complex", "string"):
        assert p[case].get("error") in ("UFuncTypeError", "UFuncNoLoopError", "TypeError"), (case, p[case])
    assert p["out wrong shape"]["error"] == "ValueError" and p["reduce empty"]["error"] == "ValueError"
    assert p["axis"]["error"] == "TypeError" and p["three inputs"]["error"] == "TypeError"
    assert p["attributes"]["types"] == repr(["ff->f", "dd->d"]) and p["attributes"]["identity"] == "None"
    assert p["attributes"]["method"] == repr("closed-form")


def test_ufunc_says_how_it_evaluates():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gelu/gaussian: a quadrature pair, said so by a warning
        pairs = [(nlc.derive("relu", "sign"), "closed-form"), (nlc.derive("gelu", "gaussian"), "quadrature")]
    for D, want in pairs:
        u = make_ufunc(D)
        assert u.method == want
        assert pickle.loads(pickle.dumps(u)).method == want


def test_call_in_place_is_right(routes):
    u = make_ufunc(nlc.derive(*PAIR))
    x = np.array([-np.inf, -3.0, -1.0, -0.05, 0.0, 0.03, 0.1, 0.7, 2.5, 40.0, np.inf, np.nan])
    plain = u(x, 0.1)
    p = routes[0]["protocol"]
    assert p["in place"]["v"] == _bits(plain)
    assert p["overlapping"]["v"] == _bits(np.append(plain[1:], x[-1]))  # NumPy passes it without a copy, too


@pytest.mark.parametrize("act,ker,vs", [("relu", "sign", False), ("softplus", "sign", False),
                                       ("softplus", "sign", True), ("elu", "power(2)", False)])
def test_every_loop_reads_its_inputs_before_writing(act, ker, vs):
    """Each kind of loop (relu: the branch-free fast path; softplus: the Gauss-Legendre block, or with
    vectorize_series the series block; elu/power(2): checked cells, one element at a time) gives the same values
    in place and with an output that overlaps the input, in blocks of more than 256 elements with non-finite x in
    each block, and raises no FP warning (the Gauss loop's fix-up compared NaN once vectorized)."""
    import warnings

    u = make_ufunc(nlc.derive(act, ker), vectorize_series=vs)
    special = np.array([-np.inf, np.inf, np.nan, 0.0, -0.05, 0.03])
    x = np.concatenate([special, np.linspace(-3.0, 3.0, 300), special, np.linspace(-40.0, 40.0, 300), special])
    for dt in (np.float64, np.float32):
        xx = x.astype(dt)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            plain = u(xx, dt(0.1))
            a = xx.copy()
            u(a, dt(0.1), out=a)
            b = xx.copy()
            u(b[1:], dt(0.1), out=b[:-1])
        assert _bits(a) == _bits(plain)
        assert _bits(b[:-1]) == _bits(plain[1:])
        assert _bits(plain[:3]) == _bits(np.array([u(dt(v), dt(0.1)) for v in special[:3]], dtype=dt))


def test_ufunc_pickles_to_the_same_object_and_copies():
    import copy

    u = make_ufunc(nlc.derive("relu", "sign"))
    assert pickle.loads(pickle.dumps(u)) is u
    assert copy.copy(u) is u and copy.deepcopy(u) is u
    assert pickle.loads(pickle.dumps(np.add)) is np.add  # NumPy's own ufuncs pickle as before


def test_ufunc_pickles_into_fresh_processes_on_both_routes(tmp_path):
    """Unpickled in a new process: from the cache (the shared library, or Numba's route), and, in a process whose
    cache lacks it, compiled again from the derivation the pickle carries."""
    D = nlc.derive("relu", "sign")
    u = make_ufunc(D)
    x = np.linspace(-0.3, 0.3, 61)
    (tmp_path / "u.pickle").write_bytes(pickle.dumps(u))
    code = f"""
        import json, pickle, sys
        import numpy as np
        u = pickle.loads(open({str(tmp_path / "u.pickle")!r}, "rb").read())
        x = np.linspace(-0.3, 0.3, 61)
        from nonlocal_calc.codegen import modcache
        print(json.dumps({{"v": [float(v).hex() for v in u(x, 0.1)], "name": u.__name__,
                          "numba": "numba" in sys.modules, "module": modcache.module_path({_key(D, "cpu")!r}).exists()}}))
    """
    want = {"v": _bits(u(x, 0.1)), "name": "D_relu_sign", "module": True}
    for env, numba in ((dict(NONLOCAL_CALC_INTERNALS="loops,cache-hooks"), True), ({}, not NATIVE),
                       (dict(NONLOCAL_CALC_CACHE=str(tmp_path / "empty")), True)):
        res = _child(code, **env)
        assert res == dict(want, numba=numba), env


def _chunks(x):
    return np.array_split(x, 5)


def test_ufunc_goes_to_spawned_and_loky_workers():
    import multiprocessing

    import joblib

    u = make_ufunc(nlc.derive("relu", "sign"))
    x = np.linspace(-0.3, 0.3, 1001)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.starmap(u, [(c, 0.1) for c in _chunks(x)])
    np.testing.assert_array_equal(np.concatenate(got), u(x, 0.1))
    got = joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(u)(c, 0.1) for c in _chunks(x))
    np.testing.assert_array_equal(np.concatenate(got), u(x, 0.1))


@pytest.mark.parametrize("route", ["native", "numba"])
def test_ufunc_maps_over_a_dask_array_on_a_local_cluster(route, monkeypatch):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("dask.distributed")
    if route == "native" and not NATIVE:
        pytest.skip("no C compiler or not Linux: there is only the Numba route")
    if route == "numba":
        monkeypatch.setenv("NONLOCAL_CALC_INTERNALS", "loops,cache-hooks")  # the workers inherit the environment
    D = nlc.derive("tanh", "sign")
    u = make_ufunc(D)
    x = np.linspace(-3, 3, 20_001)
    deltas = np.geomspace(1e-3, 2, x.size)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        lazy = u(da.from_array(x, chunks=2_000), da.from_array(deltas, chunks=2_000))
        assert isinstance(lazy, da.Array)  # NumPy handed the call to dask: the ufunc itself goes to the workers
        got = client.compute(lazy).result()
        blocks = client.compute(da.from_array(x, chunks=5_000).map_blocks(u, 0.1)).result()
        workers = client.run(lambda: ("numba" in sys.modules, os.getpid()))
    np.testing.assert_array_equal(got, u(x, deltas))
    np.testing.assert_array_equal(blocks, u(x, 0.1))
    assert len({pid for _, pid in workers.values()} | {os.getpid()}) == 3  # two worker processes besides this one
    assert {numba for numba, _ in workers.values()} == {route == "numba"}



def test_parallel_target_takes_where_and_pickles():
    """``target="parallel"`` is Numba's multi-threaded ufunc, remade with NumPy's own output flags: NumPy refused
    ``where=`` for it ("An iterator operand was flagged as the ARRAYMASK...")."""
    D = nlc.derive(*PAIR)
    up, u = make_ufunc(D, target="parallel"), make_ufunc(D)
    x = np.linspace(-3, 3, 40_001)
    d = np.geomspace(1e-3, 2, x.size)
    mask = np.sin(7 * x) > 0
    for dt in (np.float64, np.float32):
        y = np.full(x.shape, -7.0, dt)
        assert up(x.astype(dt), d.astype(dt), where=mask, out=y) is y
        np.testing.assert_array_equal(y, np.where(mask, u(x.astype(dt), d.astype(dt)), dt(-7.0)))  # per-element delta
    assert up.types == ["ff->f", "dd->d"] and up.method == "closed-form"
    assert pickle.loads(pickle.dumps(up)) is up
