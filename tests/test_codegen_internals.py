"""The fast route's uses of Numba's and NumPy's internals and its public-API route (``codegen/internals.py``).

A sample of pairs is compiled in a fresh process on the public route (``NONLOCAL_CALC_INTERNALS=0``, and an
unverified Numba version) and must give the fast route's values bit for bit (the standalone modules, which use the
public route unless asked: ``test_codegen_cache.py``).
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import nonlocal_calc as nlc
from nonlocal_calc.codegen import _module, internals, jit_scalar, make_ufunc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
#: One pair per kind of fast path: the branch-free loop (relu/sign); the checked closed form and series with the
#: float32 loop's retry through the float64 loop (elu/sign); the Gauss-Legendre block in float32 and float64 and the
#: scalar kernel's Gauss-Kronrod quadrature with its scratch array (softplus/power(-1/2), no closed form). In the
#: slow layer also the float64 sums of a sign-changing f' for float32 data (silu/sign), a Gauss-Legendre pair with
#: a checked closed form and series (softplus/sign), and tanh/power(2), gelu/linear.
PAIRS = [("relu", "sign"), ("elu", "sign"), ("softplus", "power(-1/2)")]
MORE_PAIRS = [("silu", "sign"), ("softplus", "sign"), ("tanh", "power(2)"), ("gelu", "linear")]
DELTAS = (1e-6, 0.01, 0.3, 1.5)


def _child(code: str, *argv: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *argv], capture_output=True, text=True,
                         timeout=900, env=dict(os.environ, PYTHONPATH=ROOT, **env))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _derive(act, ker):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nlc.derive(act, ker)


def values(u, kernel) -> dict:
    """The ufunc on contiguous arrays with a scalar delta (the fast loops' vectorized paths), on strided data with
    an array of deltas (their element path: the scalar kernel's values, with the float32 loop's float64 retry
    through the float64 loop), and the scalar kernel: {case: float hex strings}."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-30, 30, 600), rng.uniform(-0.4, 0.4, 300), [0.0, np.inf, -np.inf, np.nan]])
    out = {}
    for dt in (np.float32, np.float64):
        xs = x.astype(dt)
        for d in DELTAS:
            out[f"{dt.__name__} delta={d}"] = u(xs, dt(d))
        out[f"{dt.__name__} strided"] = u(xs[::2], np.geomspace(1e-6, 2, xs[::2].size).astype(dt))
        out[f"{dt.__name__} kernel"] = np.array([kernel(v, dt(0.3)) for v in xs[::25]], dtype=dt)
    return {k: [float(t).hex() for t in v] for k, v in out.items()}


_PUBLIC_CHILD = f"""
    import json, sys, warnings
    sys.path.insert(0, {HERE!r})
    import numpy as np
    import nonlocal_calc as nlc
    from nonlocal_calc.codegen import _module, internals, make_ufunc, modcache, scalar_kernel
    from test_codegen_internals import _derive, values
    res = {{"enabled": internals.enabled(), "values": {{}}, "public": [], "types": []}}
    for act, ker in json.loads(sys.argv[1]):
        D = _derive(act, ker)
        u = make_ufunc(D)
        mod = _module(D)
        res["values"][act + "/" + ker] = values(u, scalar_kernel(D))
        res["types"].append(type(u).__name__)
        text = open(mod.__file__).read()
        internals.public_source(text)  # raises if the module uses Numba's internals
        res["public"].append(not hasattr(mod, "_LOOPS") and "loop_support" not in text)
    try:  # the protocol difference: Numba's ufunc refuses where=
        u(np.zeros(3), 0.1, where=np.array([True, False, True]), out=np.ones(3))
        res["where"] = "accepted"
    except (TypeError, ValueError) as exc:
        res["where"] = type(exc).__name__
    print(json.dumps(res))
"""


def _ulps(a: str, b: str, dtype) -> int:
    """Units in the last place between two values given as float hex strings, in ``dtype`` (0 for two NaNs)."""
    x, y = np.array([float.fromhex(a), float.fromhex(b)], dtype=dtype)
    if np.isnan(x) and np.isnan(y):
        return 0
    if not (np.isfinite(x) and np.isfinite(y)):
        return 0 if x == y else 2**62
    ints = np.array([x, y]).view(np.int32 if dtype == np.float32 else np.int64).astype(np.int64)
    ints = np.where(ints < 0, np.iinfo(ints.dtype).min - ints, ints)  # sign-magnitude to ordered integers
    return int(abs(ints[0] - ints[1]))


@pytest.mark.parametrize("pairs", [PAIRS, pytest.param(MORE_PAIRS, marks=pytest.mark.slow)], ids=["sample", "more"])
def test_public_route_gives_the_fast_routes_values_bit_for_bit(pairs):
    """With the switch off, a fresh process compiles the sample pairs with public APIs only (no ``cfunc`` loops,
    no intrinsics, no private ``njit`` options): the same bits as the fast route on its vectorized paths (the
    branch-free loop, the Gauss-Legendre block applied to one element), on its element path and in the scalar
    kernel. (Where the fast loops take that block for contiguous data and a scalar delta, their element path is
    the scalar kernel, which agrees with it within the accuracy targets, not to the ulp: the public route gives
    the block's values, so strided calls are compared only for the other pairs.)"""
    fast, gauss = {}, set()
    for a, k in pairs:
        D = _derive(a, k)
        fast[f"{a}/{k}"] = values(make_ufunc(D), _module(D).kernel)
        if hasattr(_module(D), "_gauss_block"):
            gauss.add(f"{a}/{k}")
            fast[f"{a}/{k}"] = {c: v for c, v in fast[f"{a}/{k}"].items() if not c.endswith("strided")}
    if pairs == PAIRS:
        assert "float64 strided" in fast["elu/sign"] and "softplus/power(-1/2)" in gauss
    else:
        assert "softplus/sign" in gauss
    res = _child(_PUBLIC_CHILD, json.dumps(pairs), NONLOCAL_CALC_INTERNALS="0")
    assert not res["enabled"] and all(res["public"]), res["public"]
    assert res["types"] == ["ufunc"] * len(pairs)
    assert res["where"] in ("TypeError", "ValueError")  # documented: Numba's ufunc takes no where=
    for pair, cases in fast.items():
        for case, bits in cases.items():
            dtype = np.float32 if case.startswith("float32") else np.float64
            ulps = [_ulps(a, b, dtype) for a, b in zip(bits, res["values"][pair][case])]
            assert max(ulps) == 0, (pair, case, max(ulps), sum(u > 0 for u in ulps))


def test_unverified_numba_takes_the_public_route_with_one_warning():
    """A Numba version outside the verified window: one InternalsWarning, the public route (no shared library,
    Numba imported), the fast route's values."""
    res = _child("""
        import json, sys, warnings
        import numpy as np
        from nonlocal_calc.codegen import internals
        internals.NUMBA_VERSIONS = ((0, 1), (0, 2))  # as if the installed Numba were a later release
        import nonlocal_calc as nlc
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            u = nlc.derive("relu", "sign").ufunc()
            u2 = nlc.derive("relu", "linear").ufunc()
        print(json.dumps({"warnings": [x.category.__name__ for x in w], "numba": "numba" in sys.modules,
                          "v": [float(t).hex() for t in u(np.linspace(-0.2, 0.2, 41), 0.1)]}))
    """)
    want = [float(t).hex() for t in make_ufunc(nlc.derive("relu", "sign"))(np.linspace(-0.2, 0.2, 41), 0.1)]
    assert res == {"warnings": ["InternalsWarning"], "numba": True, "v": want}


def test_jit_scalar_on_the_public_route_is_the_same_function():
    import sympy as sp

    from nonlocal_calc import x

    f = jit_scalar(sp.log(1 + sp.exp(x)) * sp.erf(x), "f")
    res = _child("""
        import json
        import sympy as sp
        from nonlocal_calc import x
        from nonlocal_calc.codegen import jit_scalar
        f = jit_scalar(sp.log(1 + sp.exp(x)) * sp.erf(x), "f")
        print(json.dumps([float(f(v, 0.0)).hex() for v in (-3.0, 0.1, 2.5)]))
    """, NONLOCAL_CALC_INTERNALS="0")
    assert res == [float(f(v, 0.0)).hex() for v in (-3.0, 0.1, 2.5)]


# ------------------------------------------------------------------------------------------------- the switch
@pytest.mark.parametrize("value,parts", [("", set(internals.PARTS)), ("1", set(internals.PARTS)), ("0", set()),
                                         ("none", set()), ("loops,cache-hooks", {"loops", "cache-hooks"}),
                                         (" loops , library ", {"loops", "library"}),
                                         ("library", set())])  # the library holds the fast loops' code
def test_switch_names_the_parts_in_use(value, parts, monkeypatch):
    monkeypatch.setenv(internals.ENV_VAR, value)
    assert internals.requested() == parts
    assert {p for p in internals.PARTS if internals.enabled(p)} == parts  # (the versions here are verified)


def test_bad_switch_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(internals.ENV_VAR, "loops,natve")
    with pytest.raises(ValueError, match=r"unknown parts \['natve'\].*loops, library, cache-hooks"):
        internals.enabled()


def test_versions_are_checked_on_major_and_minor():
    lo, hi = internals.NUMBA_VERSIONS
    numpy_ok = f"{internals.NUMPY_VERSIONS[0][0]}.{internals.NUMPY_VERSIONS[0][1]}.0"
    assert internals.verified(f"{lo[0]}.{lo[1]}.0", numpy_ok)
    assert internals.verified(f"{hi[0]}.{hi[1] - 1}.7rc1", numpy_ok)
    assert not internals.verified(f"{hi[0]}.{hi[1]}.0", numpy_ok)
    assert not internals.verified(f"{lo[0]}.{lo[1] - 1}.9", numpy_ok)
    assert not internals.verified(f"{lo[0]}.{lo[1]}.0", "9.0.0")


def test_public_source_drops_private_options_and_refuses_internals():
    src = ('@numba.njit(cache=True, _nrt=False, error_model="numpy", no_cpython_wrapper=True)\ndef f(x):\n'
           '    return x\n')
    assert internals.public_source(src) == '@numba.njit(cache=True, error_model="numpy")\ndef f(x):\n    return x\n'
    for bad in ("from numba.core import cgutils\n", "import numba.np.arrayobj\n", "numba.njit(_nrt=True)(f)\n"):
        with pytest.raises(ValueError, match="public APIs only"):
            internals.public_source(bad)
