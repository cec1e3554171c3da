"""``nonlocal-calc converge``: a convergence study of D_mu f -> f' as delta -> 0, at a point or in a norm."""

from __future__ import annotations

import argparse
import io
import json

from .derive import add_pair_arguments, resolve_pair
from .options import add_search_arguments

EXAMPLES = """examples:
  nonlocal-calc converge tanh --kernel sign                       pointwise at x = 0.3, ten horizons, 50 digits
  nonlocal-calc converge relu --kernel linear --x 0               at the kink: the limit is the one-sided average
  nonlocal-calc converge relu --kernel linear --interval -1 1 --norm L1 --plot conv.png
  nonlocal-calc converge softsign --kernel "power(-1/2)" --x 0 --deltas 1/8 1/16 1/32 1/64
  nonlocal-calc converge --activation-expr "x*tanh(x)" --kernel-expr "z**3" --json

exit status: 0 on success, 1 when the closed form and the independent quadrature disagree (the study
lists where), 2 on bad input.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "converge",
        help="measure the order of convergence of D_mu f to f' as delta -> 0",
        description="Measure |D_mu f - f'| for shrinking horizons at high precision, fit the observed order and "
        "compare it with the order and constant that theory predicts.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pair_arguments(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--x", default="0.3", help="the point of a pointwise study (default 0.3)")
    where.add_argument("--interval", nargs=2, metavar=("A", "B"), help="study a norm over [A, B] instead")
    p.add_argument("--norm", choices=["L1", "L2", "Linf"], default="L2", help="norm for --interval (default L2)")
    p.add_argument("--deltas", nargs="+", metavar="D", help="horizons, e.g. 1/8 1/16 0.01 (default: 1/2 ... 1/1024)")
    p.add_argument("--dps", type=int, default=None,
                   help="digits of working precision (default 50 pointwise, 30 for a norm)")
    p.add_argument("--plot", metavar="FILE", help="write a log-log plot (PNG, SVG or PDF by extension)")
    p.add_argument("--json", action="store_true", help="print the study as JSON")
    p.add_argument("--no-crosscheck", action="store_true", help="skip the independent quadrature cross-check")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_search_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import warnings

    from .. import convergence
    from ..derivation import QuadratureFallbackWarning, derive

    act, ker = resolve_pair(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)  # the study reports the method itself
        D = derive(act, ker, timeout=args.timeout, cache=not args.no_cache)
    dps = args.dps if args.dps is not None else (30 if args.interval else 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", convergence.ConvergenceWarning)  # printed below, in the report
        s = convergence.study(
            D, x=args.x, deltas=args.deltas, dps=dps, interval=tuple(args.interval) if args.interval else None,
            norm=args.norm, crosscheck=not args.no_crosscheck, progress=False if args.no_progress else None,
        )
    if args.json:
        print(json.dumps(s.to_dict(), indent=2))
    else:
        print(s.table())
    if args.plot:
        write_plot(s, args.plot)
        if not args.json:
            print(f"plot written to {args.plot}")
    return 1 if s.disagreements else 0


def write_plot(s, path: str) -> None:
    """Save the study's plot atomically (a crash leaves the previous file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..cache import write_atomic

    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else "png"
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"--plot {path}: unknown image format {fmt!r}; use a .png, .svg or .pdf file name")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    s.plot(ax=ax)
    ax.set_title(s.label, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120, metadata={"Software": None} if fmt == "png" else None)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
