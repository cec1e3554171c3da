"""SHA-256 of the compiled kernels' outputs, pair by pair: a refactoring of the code generator must not change them.

For every pair of the accuracy table (the catalogue's activations with the coverage kernels and the Gaussian: 84
pairs) the outputs, as raw float32 and float64 bytes, on the accuracy grid (``codegen.accuracy.grid_x`` for its
``DELTAS``) plus the special values (NaN, +-inf, delta = 0, delta < 0), through:

* ``ufunc``: the ufunc on contiguous x with a scalar delta (the vectorized paths, Gauss-Legendre blocks);
* ``strided``: the ufunc with delta an array (the element-by-element loop);
* ``kernel``: the Numba scalar kernel;
* ``vseries``: the ufunc made with ``vectorize_series=True``.

On the public-API route (``NONLOCAL_CALC_INTERNALS=0``) ``vseries`` is the plain ufunc again. Compare two runs::

    python tools/output_hashes.py --out /tmp/before.json             # on the old tree
    python tools/output_hashes.py --out /tmp/after.json --compare /tmp/before.json
    python tools/output_hashes.py --pairs relu/sign,silu/sign --out /tmp/few.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings

import numpy as np


def grid() -> tuple[np.ndarray, np.ndarray]:
    """``(x, delta)`` as float64 arrays: the accuracy grid and the special values."""
    from nonlocal_calc.codegen.accuracy import DELTAS, grid_x

    xs, ds = [], []
    for d in DELTAS:
        g = grid_x(d)
        xs += g
        ds += [d] * len(g)
    special = [(np.nan, 0.1), (np.inf, 0.1), (-np.inf, 0.1), (0.5, 0.0), (0.0, 0.0), (1.0, -0.1), (0.3, np.inf),
               (0.3, np.nan), (np.inf, 1e-6), (-np.inf, 2.0)]
    xs += [a for a, _ in special]
    ds += [b for _, b in special]
    return np.array(xs), np.array(ds)


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def pair_hashes(act: str, ker: str) -> dict[str, str]:
    """The hashes of one pair's outputs, per route of evaluation and dtype."""
    import nonlocal_calc as nlc
    from nonlocal_calc.codegen import scalar_kernel

    D = nlc.derive(act, ker)
    xs, ds = grid()
    out = {}
    u = D.ufunc()
    uv = D.ufunc(vectorize_series=True)
    k = scalar_kernel(D)
    for dt in (np.float32, np.float64):
        x, d = xs.astype(dt), ds.astype(dt)
        blocks = [(dv, x[d == dv] if dv == dv else x[d != d]) for dv in dict.fromkeys(d.tolist())]
        name = np.dtype(dt).name
        with np.errstate(all="ignore"):
            out[f"ufunc/{name}"] = _digest([u(xb, dt(dv)) for dv, xb in blocks])
            out[f"vseries/{name}"] = _digest([uv(xb, dt(dv)) for dv, xb in blocks])
            out[f"strided/{name}"] = _digest([u(x, d)])
            out[f"kernel/{name}"] = _digest([np.array([k(a, b) for a, b in zip(x, d)], dtype=dt)])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", help="comma-separated activation/kernel pairs (default: the accuracy table's 84)")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--compare", help="JSON file of an earlier run: list the differences (exit 1 if any)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import nonlocal_calc as nlc

    if args.pairs:
        pairs = [tuple(p.split("/", 1)) for p in args.pairs.split(",")]
    else:
        from nonlocal_calc.derivation import COVERAGE_KERNELS

        pairs = [(a, k) for a in nlc.activations.names() for k in [*COVERAGE_KERNELS, "gaussian"]]
    res = {}
    for a, k in pairs:
        res[f"{a}/{k}"] = pair_hashes(a, k)
        print(f"{a}/{k}", flush=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1, sort_keys=True)
    if args.compare:
        old = json.load(open(args.compare))
        diff = [f"{p} {r}" for p in res for r in res[p] if old.get(p, {}).get(r) != res[p][r]]
        print(f"{len(res)} pairs, {sum(len(v) for v in res.values())} hashes, {len(diff)} differ")
        for line in diff:
            print("  differs:", line)
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
