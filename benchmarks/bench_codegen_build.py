"""First generation and cache-load time of the compiled ufuncs, each in a fresh process.

For every pair (the symbolic derivation is warmed up first, so it is not counted):

* ``build``: a fresh process calls ``D.ufunc()`` with an empty code-generation cache: print the closed form,
  write the module, compile it with Numba (goal: <= 5 s). The first module of a cache also compiles the
  shared runtime (special functions, series evaluator) for the signatures it uses;
* ``build, runtime warm``: the same in a cache that already holds the other pairs (their shared runtime
  compiled), after removing this pair's module and its Numba files: the time of a new pair in a cache in use;
* ``load``: another fresh process calls ``D.ufunc()`` again and finds the loops in the cache (goal: <= 0.3 s):
  by default as a shared library (``codegen/native.py``: no Numba import);
* ``load, Numba route``: the same without the shared library (``NONLOCAL_CALC_INTERNALS=loops,cache-hooks``, as
  where there is no C compiler): the module and Numba's machine code, which includes ``import numba``;
  ``import numba alone`` is the time of that import in yet another fresh process, for scale;
* ``process``: wall time of the whole loading process (interpreter start-up, ``import nonlocal_calc``,
  ``derive`` from its cache, ``D.ufunc()``, one call).

    python benchmarks/bench_codegen_build.py                      # the pairs of the speed goals
    python benchmarks/bench_codegen_build.py --pairs relu/sign,tanh/sign
    python benchmarks/bench_codegen_build.py --rounds 3               # medians of 3 rounds (a noisy machine)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

#: Seconds after which one process of the benchmark is stopped and its pair reported as failed.
TIMEOUT = 600.0
DEFAULT = "relu/sign,tanh/sign,logistic/sign,softplus/sign,silu/sign,elu/sign,arctan/linear,tanh/power(2)"

PROBE = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import nonlocal_calc as nlc
act, ker, what = sys.argv[1:4]
D = nlc.derive(act, ker)
t0 = time.perf_counter()
if what == "numba":
    import numba  # noqa: F401
else:
    u = D.ufunc()  # imports Numba on first use
t1 = time.perf_counter()
if what != "numba":
    u(0.05, 0.1)
print(json.dumps(t1 - t0))
"""


def probe(act: str, ker: str, env: dict, what: str = "ufunc") -> tuple[float, float]:
    """(time of ``D.ufunc()``, or of ``import numba`` alone if ``what == "numba"``, in a fresh process; the
    wall time of that whole process)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, act, ker, what], env=env, capture_output=True, text=True,
                         check=True, timeout=TIMEOUT).stdout
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - t0


FORGET = """
import sys
import nonlocal_calc as nlc
from nonlocal_calc.codegen import _key, modcache
path = modcache.module_path(_key(nlc.derive(sys.argv[1], sys.argv[2]), "cpu"))
path.unlink()
modcache._clear_numba_cache(path)
"""


def _env(cache: str) -> dict:
    return {**os.environ, "NONLOCAL_CALC_CACHE": cache, "NUMBA_CACHE_DIR": os.path.join(cache, "numba")}


def _run(code: str, env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True,
                   timeout=TIMEOUT)


def _failure(exc: Exception) -> str:
    """One line saying why a pair's process failed (the last line of its error output, or the signal)."""
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"timed out after {TIMEOUT:.0f} s"
    if exc.returncode < 0:
        return f"killed by signal {-exc.returncode}" + (" (out of memory?)" if exc.returncode == -9 else "")
    err = (exc.stderr or "").strip().splitlines()
    return err[-1] if err else f"exit status {exc.returncode}"


def _measure(act: str, ker: str, derive: str, shared: dict) -> dict:
    """One round of every measurement for one pair (fresh processes; a new empty cache for the build)."""
    env = _env(tempfile.mkdtemp(prefix="nlc-bench-codegen-"))
    _run(derive, env, act, ker)  # warm this cache's derivation (not timed): derive only, no ufunc
    build, _ = probe(act, ker, env)
    load, wall = probe(act, ker, env)
    load_numba, _ = probe(act, ker, {**env, "NONLOCAL_CALC_INTERNALS": "loops,cache-hooks"})
    numba_alone, _ = probe(act, ker, env, "numba")
    _run(FORGET, shared, act, ker)
    warm, _ = probe(act, ker, shared)
    return {"build": build, "warm": warm, "load": load, "load_numba": load_numba, "numba_alone": numba_alone,
            "wall": wall}


def _row(act: str, ker: str, t: dict) -> str:
    return (f"{act + '/' + ker:16s} {t['build']:8.2f} {t['warm']:22.2f} {t['load']:7.3f} {t['load_numba']:20.3f} "
            f"{t['numba_alone']:19.3f} {t['wall']:10.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default=DEFAULT, help=f"comma-separated activation/kernel pairs (default: {DEFAULT})")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every pair this many times, pair after pair in each round, and print the median "
                         "(and the range): this machine's speed drifts by 15-50 %% within minutes (default: 1)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, not {args.rounds}")
    pairs = [p.split("/", 1) for p in args.pairs.split(",")]
    derive = "import sys, nonlocal_calc as n; n.derive(sys.argv[1], sys.argv[2])"
    # the warm-runtime cache: every pair built once (not timed)
    shared = _env(tempfile.mkdtemp(prefix="nlc-bench-codegen-shared-"))
    failed = {}
    for act, ker in pairs:
        try:
            _run(derive + ".ufunc()", shared, act, ker)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            failed[act, ker] = _failure(exc)
    print(f"{'pair':16s} {'build s':>8s} {'build, runtime warm s':>22s} {'load s':>7s} {'load, Numba route s':>20s} "
          f"{'import numba alone':>19s} {'process s':>10s}")
    keys = ("build", "warm", "load", "load_numba", "numba_alone", "wall")
    times = {(act, ker): {k: [] for k in keys} for act, ker in pairs}
    for r in range(args.rounds):
        if args.rounds > 1:
            print(f"round {r + 1} of {args.rounds}", flush=True)
        for act, ker in pairs:
            if (act, ker) in failed:
                continue
            try:
                got = _measure(act, ker, derive, shared)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                failed[act, ker] = _failure(exc)
                continue
            for k in keys:
                times[act, ker][k].append(got[k])
            print(_row(act, ker, got), flush=True)
    if args.rounds > 1:
        print(f"median of {args.rounds} rounds (range):")
    worst = {"build": 0.0, "warm": 0.0, "load": 0.0, "load_numba": 0.0}
    for act, ker in pairs:
        if (act, ker) in failed:
            print(f"{act + '/' + ker:16s} FAILED: {failed[act, ker]}", flush=True)
            continue
        t = times[act, ker]
        med = {k: statistics.median(v) for k, v in t.items()}
        for k in worst:
            worst[k] = max(worst[k], med[k])
        if args.rounds > 1:
            print(_row(act, ker, med))
            print(f"{'  range':16s} " + " ".join(f"{min(t[k]):.2f}-{max(t[k]):.2f}" for k in ("build", "warm"))
                  + " " + " ".join(f"{min(t[k]):.3f}-{max(t[k]):.3f}" for k in ("load", "load_numba")), flush=True)
    if len(failed) == len(pairs):
        print("no pair was measured")
        return 1
    verdict = {k: "met" if v <= goal else "NOT met" for (k, v), goal in zip(worst.items(), (5, 5, 0.3, 0.3))}
    print(f"worst build {worst['build']:.2f} s (goal <= 5: {verdict['build']}); worst build with the runtime warm "
          f"{worst['warm']:.2f} s ({verdict['warm']}); worst load {worst['load']:.3f} s (goal <= 0.3: {verdict['load']}); "
          f"worst load by the Numba route {worst['load_numba']:.3f} s ({verdict['load_numba']})")
    if failed:
        print(f"{len(failed)} pair(s) failed: " + ", ".join(f"{a}/{k}" for a, k in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
