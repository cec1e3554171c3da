"""First generation and cache-load time of the compiled ufuncs, each in a fresh process.

For every pair, with an empty code-generation cache (the symbolic derivation is warmed up first, so it is
not counted):

* ``build``: a fresh process calls ``D.ufunc()``: print the closed form, write the module, compile it with
  Numba (goal: <= 5 s);
* ``load``: another fresh process calls ``D.ufunc()`` again and finds the module and Numba's machine code
  in the cache (goal: <= 0.3 s). Printed as the time of ``D.ufunc()`` including ``import numba`` (which
  ``import nonlocal_calc`` does not do), and ``import numba`` alone, so the share of each is visible;
* ``process``: wall time of the whole loading process (interpreter start-up, ``import nonlocal_calc``,
  ``derive`` from its cache, ``D.ufunc()``, one call).

    python benchmarks/bench_codegen_build.py                      # the pairs of the speed goals
    python benchmarks/bench_codegen_build.py --pairs relu/sign,tanh/sign
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT = "relu/sign,tanh/sign,logistic/sign,softplus/sign,silu/sign,elu/sign,arctan/linear,tanh/power(2)"

PROBE = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import nonlocal_calc as nlc
act, ker = sys.argv[1], sys.argv[2]
D = nlc.derive(act, ker)
t0 = time.perf_counter()
import numba  # noqa: F401
t1 = time.perf_counter()
u = D.ufunc()
t2 = time.perf_counter()
u(0.05, 0.1)
print(json.dumps({"numba_import": t1 - t0, "ufunc": t2 - t0}))
"""


def probe(act: str, ker: str, env: dict) -> tuple[dict, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, act, ker], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default=DEFAULT, help=f"comma-separated activation/kernel pairs (default: {DEFAULT})")
    args = ap.parse_args(argv)
    print(f"{'pair':16s} {'build s':>8s} {'load s':>7s} {'of which import numba':>22s} {'process s':>10s}")
    worst_build = worst_load = 0.0
    for pair in args.pairs.split(","):
        act, ker = pair.split("/", 1)
        cache = tempfile.mkdtemp(prefix="nlc-bench-codegen-")
        env = {**os.environ, "NONLOCAL_CALC_CACHE": cache, "NUMBA_CACHE_DIR": os.path.join(cache, "numba")}
        # warm this cache's derivation (not timed): derive only, no ufunc
        subprocess.run([sys.executable, "-c", f"import nonlocal_calc as n; n.derive({act!r}, {ker!r})"], env=env,
                       check=True, capture_output=True)
        build, _ = probe(act, ker, env)
        load, wall = probe(act, ker, env)
        worst_build, worst_load = max(worst_build, build["ufunc"]), max(worst_load, load["ufunc"])
        print(f"{pair:16s} {build['ufunc']:8.2f} {load['ufunc']:7.3f} {load['numba_import']:22.3f} {wall:10.2f}",
              flush=True)
    print(f"worst build {worst_build:.2f} s (goal <= 5: {'met' if worst_build <= 5 else 'NOT met'}); "
          f"worst load {worst_load:.3f} s (goal <= 0.3: {'met' if worst_load <= 0.3 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
