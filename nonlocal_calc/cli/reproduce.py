"""``nonlocal-calc reproduce poster|laaf``: the poster's tables and the LAAF paper's section 3.1, with error bars."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import n_jobs, positive_int

EXAMPLES = """examples:
  nonlocal-calc reproduce poster --seeds 5 --n-jobs 2 --out docs/results/poster
  nonlocal-calc reproduce laaf --seeds 5 --iters 10000 --n-jobs 2 --out docs/results/laaf
  nonlocal-calc reproduce laaf --scheduler tcp://scheduler:8786     runs spread over a Dask cluster

Runs are independent: --n-jobs N runs N at a time in separate processes (joblib); --scheduler ADDRESS hands
them to a Dask cluster through joblib's Dask backend (pip install "dask[distributed]").
"""


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser(
        "reproduce", help="reproduce the poster's tables or the LAAF paper's section 3.1 (several seeds)",
        description="Re-run a published experiment for several seeds and write tables (mean ± std, the published "
                    "number beside each cell), per-run CSV, a JSON summary and figures.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("experiment", choices=("poster", "laaf"))
    p.add_argument("--seeds", type=positive_int, default=5, help="seeds per cell (default 5)")
    p.add_argument("--iters", type=positive_int, default=None,
                   help="iterations of every run (default: poster 1500 for Tables 1-2 and 500, 600 for Table 3; "
                        "laaf 10000)")
    p.add_argument("--table3-iters", type=positive_int, nargs=2, metavar=("A", "B"),
                   help="poster: iterations of Table 3's two rows (default 500 600, or --iters)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="poster: precision (default float32)")
    p.add_argument("--n-jobs", type=n_jobs, default=1, help="parallel processes (default 1; -1 = all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address: run on a cluster")
    p.add_argument("--out", metavar="DIR", help="output directory (default reproductions/EXPERIMENT)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..nn import reproduce

    out = Path(args.out or f"reproductions/{args.experiment}")
    progress = False if args.no_progress else None
    if args.experiment == "poster":
        iters = 1500 if args.iters is None else args.iters
        t3_iters = args.table3_iters or ((500, 600) if args.iters is None else (args.iters, args.iters))
        reproduce.reproduce_poster(out, seeds=args.seeds, n_jobs=args.n_jobs, scheduler=args.scheduler,
                                   iters=iters, t3_iters=tuple(t3_iters), progress=progress, dtype=args.dtype)
        print((out / "tables.md").read_text())
        print(f"written: {out}/tables.md, runs.csv, summary.json, curves.png")
    else:
        if args.table3_iters:
            raise ValueError("--table3-iters belongs to the poster experiment (laaf has no Table 3)")
        iters = 10000 if args.iters is None else args.iters
        reproduce.reproduce_laaf(out, seeds=args.seeds, iters=iters, n_jobs=args.n_jobs, scheduler=args.scheduler,
                                 progress=progress)
        print((out / "table.md").read_text())
        print(f"written: {out}/table.md, runs.csv, summary.json, loss.png, slopes.png, solution.png")
    return 0
