"""Two builds of the compiled ufuncs timed side by side in one process: the shared libraries of two caches.

A change of the code generator that must not change speed is measured here: both caches (one filled by the old
tree, one by the new, e.g. by ``tools/output_hashes.py``) hold each pair's loops as a shared library
(``codegen/native.py``); this loads both without Numba, matches them by ufunc name (and whether the module has
the vectorized series), and times them on the same arrays, interleaved, keeping the minimum of ``--repeat``
runs: contiguous x with a scalar delta (the block paths) and a delta array (the element-by-element loop).

    python benchmarks/bench_side_by_side.py /tmp/cache-old /tmp/cache-new --n 1000000 --repeat 7
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def libraries(cache: Path) -> dict[tuple[str, bool], np.ufunc]:
    """``(ufunc name, vectorized series) -> ufunc`` for every shared library of the cache ``cache``."""
    from nonlocal_calc.codegen import internals

    out = {}
    for record in sorted((cache / "codegen").glob("nlc_*.json")):
        so = record.with_suffix(".so")
        module = record.parent / (record.name.split(".")[0] + ".py")
        if not so.exists() or not module.exists():
            continue
        rec = json.loads(record.read_text())
        lib = ctypes.CDLL(str(so))
        addresses = [ctypes.cast(lib[s], ctypes.c_void_p).value for s in rec["symbols"]]
        vseries = "def _series_block(" in module.read_text()
        out[(rec["name"], vseries)] = internals.ufunc_from_loops(addresses, rec["name"], "")
    return out


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--delta", type=float, default=0.1)
    args = ap.parse_args(argv)
    old, new = libraries(args.old), libraries(args.new)
    common = sorted(set(old) & set(new))
    rng = np.random.default_rng(0)
    ratios = []
    print(f"{'pair':40s} {'path':10s} {'dtype':8s} {'old ns':>8s} {'new ns':>8s} {'new/old':>8s}")
    for key in common:
        for dt in (np.float64, np.float32):
            x = rng.uniform(-3.0, 3.0, args.n).astype(dt)
            out = np.empty_like(x)
            d_arr = np.full(args.n, args.delta, dtype=dt)
            for path, dl in (("scalar-d", dt(args.delta)), ("array-d", d_arr)):
                n = args.n if path == "scalar-d" else args.n // 10
                xs, ds, os_ = x[:n], dl if path == "scalar-d" else dl[:n], out[:n]
                best = {"old": np.inf, "new": np.inf}
                with np.errstate(all="ignore"):
                    for _ in range(args.repeat):
                        for side, lib in (("old", old), ("new", new)):
                            u = lib[key]
                            best[side] = min(best[side], _time(lambda u=u, xs=xs, ds=ds, os_=os_: u(xs, ds, out=os_)))
                r = best["new"] / best["old"]
                ratios.append(r)
                name = key[0][2:] + (" (vseries)" if key[1] else "")
                print(f"{name:40s} {path:10s} {np.dtype(dt).name:8s} {1e9 * best['old'] / n:8.2f} "
                      f"{1e9 * best['new'] / n:8.2f} {r:8.3f}", flush=True)
    if ratios:
        print(f"{len(ratios)} timings: new/old median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, "
              f"max {max(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
