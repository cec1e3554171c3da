"""``nonlocal-calc reproduce poster|laaf``: the poster's tables and the LAAF paper's section 3.1, with error bars."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    p.add_argument("--seeds", type=int, default=5, help="seeds per cell (default 5)")
    p.add_argument("--iters", type=int, default=None,
                   help="iterations per run (default: poster 1500, laaf 10000)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="poster: precision (default float32)")
    p.add_argument("--n-jobs", type=int, default=1, help="parallel processes (default 1; -1 = all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address: run on a cluster")
    p.add_argument("--out", metavar="DIR", help="output directory (default reproductions/EXPERIMENT)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..nn import reproduce

    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    out = Path(args.out or f"reproductions/{args.experiment}")
    progress = False if args.no_progress else None
    if args.experiment == "poster":
        reproduce.reproduce_poster(out, seeds=args.seeds, n_jobs=args.n_jobs, scheduler=args.scheduler,
                                   iters=args.iters or 1500, progress=progress, dtype=args.dtype)
        print((out / "tables.md").read_text())
        print(f"written: {out}/tables.md, runs.csv, summary.json, curves.png")
    else:
        reproduce.reproduce_laaf(out, seeds=args.seeds, iters=args.iters or 10000, n_jobs=args.n_jobs,
                                 scheduler=args.scheduler, progress=progress)
        print((out / "table.md").read_text())
        print(f"written: {out}/table.md, runs.csv, summary.json, loss.png, slopes.png, solution.png")
    return 0
