"""``nonlocal-calc kernels``: the kernel catalogue with moments and smoothing profiles."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("kernels", help="list kernels with their moments and smoothing profile rho",
                       description="The kernel catalogue. Each kernel is normalized so that D_mu x = 1 unless "
                                   "--no-normalize. rho(s) is the smoothing profile: D_mu f = int f'(x+s) rho(s) ds.")
    p.add_argument("specs", nargs="*", default=["sign", "linear", "power(2)", "power(-1/2)", "power(-3/2)",
                                                "dirac_pair", "gaussian"], help="kernel specs (default: a selection)")
    p.add_argument("--kernel-expr", action="append", default=[], metavar="EXPR", help="add a kernel formula in z, delta")
    p.add_argument("--no-normalize", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import kernels

    ks = [kernels.get(s, normalize=not args.no_normalize) for s in args.specs]
    ks += [kernels.Kernel.from_expr(e, normalize=not args.no_normalize) for e in args.kernel_expr]
    rows = [{"name": k.name, "mu": str(k.expr), "M1": str(k.moment(1)), "M3": str(k.moment(3)),
             "rho": str(k.rho), "rho_nonnegative": k.rho_nonnegative, "series": str(k.series(4))} for k in ks]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']}:\n  mu(z)  = {r['mu']}\n  M1 = {r['M1']}, M3 = {r['M3']}\n  rho(z) = {r['rho']}"
              f"  (rho >= 0: {r['rho_nonnegative']})\n  D_mu f = {r['series']}\n")
    return 0
