"""``nonlocal-calc catalogue``: activations, their recomputed properties, and the coverage matrix."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("catalogue", help="the activation table recomputed with SymPy, compared with the lecture",
                       description="The lecture's activation table, every property recomputed with SymPy; "
                                   "disagreements with the lecture are listed, not hidden.")
    p.add_argument("--names", action="store_true", help="only list the activation names and aliases")
    p.add_argument("--coverage", action="store_true",
                   help="print the coverage matrix: which activation/kernel pairs have closed forms (slow when cold)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import activations
    from ..derivation import coverage_matrix
    from ..properties import compare_with_lecture, table_markdown

    if args.names:
        print("activations: " + ", ".join(activations.names()))
        print("aliases: " + ", ".join(f"{k} -> {v}" for k, v in sorted(activations.ALIASES.items())))
        return 0
    if args.coverage:
        print(coverage_matrix())
        return 0
    disc = compare_with_lecture()
    if args.json:
        print(json.dumps([d.__dict__ for d in disc], indent=2))
        return 0
    print(table_markdown())
    print("\nwhere the lecture's table disagrees with the computation:")
    for d in disc:
        print(f"  - {d}")
    return 0
