"""Time the symbolic core: import, cold derivation of every coverage pair, and loading from the cache.

    python benchmarks/bench_derive.py            # all pairs of the coverage matrix
    python benchmarks/bench_derive.py --quick    # a few pairs

Cold derivations run each pair in a fresh process with an empty cache directory; cache loads run
in another fresh process against the filled cache. Times are wall-clock seconds measured inside
the processes (after ``import nonlocal_calc``), so interpreter start-up is not counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from nonlocal_calc.derivation import COVERAGE_KERNELS

ACTS = ["identity", "binary_step", "relu", "leaky_relu", "prelu", "softsign", "tanh", "logistic", "arctan",
        "softplus", "elu", "silu", "isru", "gelu"]

PROBE = """
import json, sys, time, warnings
t0 = time.perf_counter()
import nonlocal_calc as nlc
t1 = time.perf_counter()
warnings.simplefilter("ignore")
out = []
for a, k in json.loads(sys.argv[1]):
    t = time.perf_counter()
    D = nlc.derive(a, k)
    out.append([a, k, D.method, time.perf_counter() - t])
print(json.dumps({"import": t1 - t0, "numba_imported": "numba" in sys.modules, "pairs": out}))
"""


def run(pairs, cache):
    env = {**os.environ, "NONLOCAL_CALC_CACHE": cache}
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(pairs)], env=env, capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def main() -> None:
    quick = "--quick" in sys.argv
    pairs = [(a, k) for a in (ACTS[:4] if quick else ACTS) for k in COVERAGE_KERNELS]
    cache = tempfile.mkdtemp(prefix="bench-derive-")
    cold = []
    for p in pairs:  # one fresh process per pair: nothing warm from the previous one
        cold += run([p], cache)["pairs"]
    warm = run(pairs, cache)
    imports = [run([], cache)["import"] for _ in range(5)]
    print(f"{'activation':12s} {'kernel':12s} {'method':12s} {'cold (s)':>9s} {'cached, new process (s)':>24s}")
    for (a, k, m, tc), (_, _, _, tw) in zip(cold, warm["pairs"]):
        print(f"{a:12s} {k:12s} {m:12s} {tc:9.3f} {tw:24.4f}")
    slow = max(cold, key=lambda r: r[3])
    print(f"\nslowest cold derivation: {slow[0]} x {slow[1]}: {slow[3]:.2f} s (limit 10 s)")
    first = warm["pairs"][0][3]
    rest = max(r[3] for r in warm["pairs"][1:]) if len(warm["pairs"]) > 1 else float("nan")
    print(f"cache load in a new process: first pair {first:.3f} s (includes SymPy warm-up), "
          f"slowest of the others {rest:.4f} s (limit 0.1 s)")
    print(f"import nonlocal_calc: median {sorted(imports)[2]:.3f} s over 5 processes (limit 1 s); "
          f"numba imported: {warm['numba_imported']}")


if __name__ == "__main__":
    main()
