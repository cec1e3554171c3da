"""Speed of a 10-delta pointwise convergence study at 50 digits on the closed-form path (target: <= 2 s).

Run: ``python benchmarks/convergence_speed.py`` (derivations are warmed up first, so the timing is the
study itself: closed-form evaluation, theory, and the independent quadrature cross-check). The study
without the cross-check is timed side by side, and each time is printed as a ratio to the 2 s budget.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings

import nonlocal_calc as nlc
from nonlocal_calc import convergence as cv
from nonlocal_calc.derivation import COVERAGE_KERNELS

BUDGET = 2.0


def main() -> int:
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for act in nlc.activations.names():
            for ker in COVERAGE_KERNELS:
                D = nlc.derive(act, ker)
                if D.method != "closed-form":
                    continue
                x = 0.3
                t0, c0 = time.perf_counter(), time.process_time()
                cv.study(D, x=x, dps=50, progress=False)
                t1, c1 = time.perf_counter(), time.process_time()
                cv.study(D, x=x, dps=50, crosscheck=False, progress=False)
                t2 = time.perf_counter()
                rows.append((act, ker, t1 - t0, t2 - t1, c1 - c0))
    print(f"{'activation':12s} {'kernel':12s} {'study (s)':>10s} {'cpu (s)':>8s} {'/budget':>8s} "
          f"{'no check (s)':>12s} {'check/none':>10s}")
    for a, k, full, bare, cpu in rows:
        print(f"{a:12s} {k:12s} {full:10.3f} {cpu:8.3f} {full / BUDGET:8.2f} {bare:12.3f} {full / bare:10.2f}")
    fulls = [r[2] for r in rows]
    worst = max(rows, key=lambda r: r[2])
    worst_cpu = max(rows, key=lambda r: r[4])
    print(f"\n{len(rows)} closed-form pairs, wall: median {statistics.median(fulls):.3f} s, max {worst[2]:.3f} s "
          f"({worst[0]}, {worst[1]}), max/budget = {worst[2] / BUDGET:.2f}")
    print(f"cpu: max {worst_cpu[4]:.3f} s ({worst_cpu[0]}, {worst_cpu[1]}); wall times include waiting for the CPU "
          f"when other jobs run (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0 if worst[2] <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
