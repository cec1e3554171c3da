"""Accuracy (and first-generation time) of every compiled pair, against mpmath on the accuracy grid.

For each activation of the catalogue and each kernel of the coverage matrix, and the Gaussian kernel: build the
ufunc from a cold cache (timing it), then measure the worst float64/float32 errors of the scalar kernel and of the ufunc against
``D.evaluate`` on the grid of :mod:`nonlocal_calc.codegen.accuracy` (40 correct digits for closed forms, 25 for
compiled quadratures, whose float64 target is 1e-12 relative: ``accuracy.targets``). ``--powers`` measures the
admissible range of the power kernels sign(z)|z|^p instead (with ``--activations``, default relu, tanh and silu).

    python benchmarks/bench_codegen_accuracy.py                          # all pairs, prints the table
    python benchmarks/bench_codegen_accuracy.py --update-docs docs/ufuncs.md
    python benchmarks/bench_codegen_accuracy.py --pairs relu/sign,tanh/linear
    python benchmarks/bench_codegen_accuracy.py --powers --update-docs docs/ufuncs.md   # the power-kernel table
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

from nonlocal_calc import markup

#: Besides the kernels of the coverage matrix (``derivation.COVERAGE_KERNELS``).
EXTRA_KERNELS = ["gaussian"]
#: The power kernels of ``--powers``: the admissible range -2 < p, from strongly singular to growing.
POWERS = ["-19/10", "-3/2", "-1", "-1/2", "0", "1", "2", "3"]
POWER_ACTIVATIONS = ["relu", "tanh", "silu"]
#: Correct digits of the reference: closed forms, compiled quadratures (25 digits are 10^12 times their target).
DPS = {"closed-form": 40, "quadrature": 25}
MARKERS = {"pairs": "accuracy-table", "powers": "accuracy-powers-table"}


def run_pair(act: str, ker: str) -> dict:
    import nonlocal_calc as nlc
    from nonlocal_calc.codegen import make_ufunc, scalar_kernel
    from nonlocal_calc.codegen.accuracy import measure_kernel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = nlc.derive(act, ker)
    t = time.perf_counter()
    u = make_ufunc(D)
    u(np.float64(0.3), np.float64(0.1))
    build = time.perf_counter() - t
    kern = (scalar_kernel(D), u)  # both paths: the ufunc's loop for a scalar delta may be the Gauss rule
    res = measure_kernel(D, kern, dps=DPS[u.method])  # (the targets of u.method: quadrature where it evaluates so)
    return {"pair": f"{act}/{ker}", "method": u.method, "build": build, **{k: v for k, v in res.items()}}


def table(rows: list[dict]) -> str:
    lines = ["| pair | method | first build s | float64 worst rel | float64 worst abs (value < 1e-2) | float32 worst rel "
             "| float32 worst abs | points | outside target |", "|" + "---|" * 9]
    for r in rows:
        w64, w32 = r["float64"], r["float32"]
        lines.append(f"| {markup.escape(r['pair'])} | {r['method']} | {r['build']:.1f} | {w64.rel:.1e} | {w64.abs:.1e} | {w32.rel:.1e} "
                     f"| {w32.abs:.1e} | {w64.points} | {w64.failures} / {w32.failures} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", help="comma-separated activation/kernel pairs (default: catalogue x kernels)")
    ap.add_argument("--powers", nargs="?", const=",".join(POWERS), metavar="P,P,...",
                    help=f"the kernels power(p) for these p (default {','.join(POWERS)}) with --activations")
    ap.add_argument("--activations", default=",".join(POWER_ACTIVATIONS), help="activations for --powers")
    ap.add_argument("--update-docs", metavar="FILE", help="replace the table between the markers in FILE")
    args = ap.parse_args(argv)
    os.environ.setdefault("NONLOCAL_CALC_CACHE", tempfile.mkdtemp(prefix="nlc-accuracy-"))  # cold cache: honest build times
    import nonlocal_calc as nlc

    if args.pairs:
        pairs = [tuple(p.split("/", 1)) for p in args.pairs.split(",")]
    elif args.powers:
        pairs = [(a, f"power({p})") for a in args.activations.split(",") for p in args.powers.split(",")]
    else:
        from nonlocal_calc.derivation import COVERAGE_KERNELS

        pairs = [(a, k) for a in nlc.activations.names() for k in [*COVERAGE_KERNELS, *EXTRA_KERNELS]]
    rows = []
    for a, k in pairs:
        r = run_pair(a, k)
        rows.append(r)
        print(table([r]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if args.update_docs:
        from nonlocal_calc.cache import write_atomic

        mark = MARKERS["powers" if args.powers else "pairs"]
        begin, end = f"<!-- {mark}:begin -->", f"<!-- {mark}:end -->"
        doc = open(args.update_docs).read()
        i, j = doc.index(begin) + len(begin), doc.index(end)
        import sys

        cmd = "python benchmarks/bench_codegen_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_atomic(args.update_docs, doc[:i] + f"\n<!-- generated by: {cmd.strip()} -->\n\n{text}\n\n" + doc[j:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
