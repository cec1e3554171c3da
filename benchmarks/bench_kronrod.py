"""The compiled quadratures of two caches timed side by side in one process: the users of the Gauss-Kronrod rule.

Every pair's kernel falls back to an adaptive Gauss-Kronrod quadrature, and the pairs without a closed form and the
parametric families evaluate by nothing else. A change of that code that must not change speed is measured here:
fill one cache with the old tree and one with the new (``--fill``: the quadrature pairs and three families below,
each compiled by ``D.ufunc()``), then time both in one process, interleaved, keeping the minimum of ``--repeat``
runs, with delta an array (the element-by-element loop: a scalar delta takes the fixed pairs' Gauss-Legendre
block instead): the fixed pairs' loops as shared libraries (as ``bench_side_by_side.py`` loads them), the families' modules
imported from their files (their machine code from Numba's cache).

    PYTHONPATH=/old/tree python benchmarks/bench_kronrod.py --fill /tmp/cache-old
    PYTHONPATH=/new/tree python benchmarks/bench_kronrod.py --fill /tmp/cache-new
    python benchmarks/bench_kronrod.py /tmp/cache-old /tmp/cache-new --repeat 7
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

#: Catalogue pairs compiled by quadrature (no closed form).
PAIRS = ("tanh/power(-1/2)", "softsign/gaussian", "arctan/power(-1/2)", "logistic/gaussian")
#: Parametric families (built in :func:`fill`), timed with their parameter at :data:`PARAMETER`.
FAMILIES = ("relu/power(p)", "swish(beta)/sign", "relu/gaussian(sigma)")
PARAMETER = 0.5


def _family(name: str):
    import nonlocal_calc as nlc
    from nonlocal_calc import Parameter, kernels

    if name == "relu/power(p)":
        return nlc.derive("relu", kernels.power(Parameter("p", "> -2")))
    if name == "swish(beta)/sign":
        return nlc.derive(nlc.Activation.from_expr("x/(1+exp(-beta*x))", params={"beta": "positive"}), "sign")
    return nlc.derive("relu", kernels.gaussian(Parameter("sigma", "positive")))


def fill(cache: Path) -> None:
    """Compile the quadrature pairs and the families into ``cache`` with the tree on ``sys.path``."""
    os.environ["NONLOCAL_CALC_CACHE"] = str(cache)
    import nonlocal_calc as nlc

    for pair in PAIRS:
        act, ker = pair.split("/", 1)
        t0 = time.perf_counter()
        nlc.derive(act, ker).ufunc()
        print(f"{pair}: {time.perf_counter() - t0:.1f} s", flush=True)
    for name in FAMILIES:
        t0 = time.perf_counter()
        _family(name).ufunc()
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)


def modules(cache: Path) -> dict[str, tuple[str, object]]:
    """``docstring's first line -> (kind, ufunc)`` of the quadrature users in ``cache``: the fixed quadrature
    pairs' shared libraries ("pair"), the families' ``numba.vectorize`` ufuncs ("family")."""
    import json

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_side_by_side import libraries

    out = {}
    libs = {name: u for (name, vseries), u in libraries(cache).items() if not vseries}
    for record in sorted((cache / "codegen").glob("nlc_*.json")):
        rec = json.loads(record.read_text())
        if "Compiled method: quadrature" in rec["doc"] and rec["name"] in libs:
            out[rec["doc"].split("\n")[0]] = ("pair", libs[rec["name"]])
    for path in sorted((cache / "codegen").glob("nlc_*.py")):
        text = path.read_text()
        if "def _adapt(" in text:  # a family's module, imported under its own name (Numba's cache needs it)
            if path.stem in sys.modules:
                raise SystemExit(f"{path.stem} is in both caches: fill them with trees of different CODEGEN_VERSION")
            sys.path.insert(0, str(path.parent))
            try:
                mod = importlib.import_module(path.stem)
            finally:
                sys.path.remove(str(path.parent))
            out[text.split("\n", 2)[1]] = ("family", mod.ufunc)
    return out


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(old: Path, new: Path, n: int, repeat: int, delta: float) -> int:
    a, b = modules(old), modules(new)
    common = sorted(set(a) & set(b))
    rng = np.random.default_rng(0)
    ratios = []
    print(f"{'module':60s} {'dtype':8s} {'old us':>8s} {'new us':>8s} {'new/old':>8s}")
    for key in common:
        kind, u = a[key]
        params = (PARAMETER,) * (u.nin - 2)
        for dt in (np.float64, np.float32):
            x = rng.uniform(-3.0, 3.0, n).astype(dt)
            best = {"old": np.inf, "new": np.inf}
            with np.errstate(all="ignore"):
                for _ in range(repeat):
                    for side, table in (("old", a), ("new", b)):
                        u = table[key][1]
                        args = (x, np.full(n, delta, dtype=dt), *[dt(p) for p in params])
                        best[side] = min(best[side], _time(lambda u=u, args=args: u(*args)))
            r = best["new"] / best["old"]
            ratios.append(r)
            print(f"{key[:60]:60s} {np.dtype(dt).name:8s} {1e6 * best['old'] / n:8.2f} {1e6 * best['new'] / n:8.2f} "
                  f"{r:8.3f}", flush=True)
    if ratios:
        print(f"{len(ratios)} timings: new/old median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, "
              f"max {max(ratios):.3f}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("caches", type=Path, nargs="*", help="OLD NEW: two filled caches to compare")
    ap.add_argument("--fill", type=Path, help="compile the quadrature pairs and families into this cache")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--delta", type=float, default=0.5)
    args = ap.parse_args(argv)
    if args.fill:
        fill(args.fill)
        return 0
    if len(args.caches) != 2:
        ap.error("give two caches (OLD NEW), or --fill CACHE")
    return compare(*args.caches, args.n, args.repeat, args.delta)


if __name__ == "__main__":
    sys.exit(main())
