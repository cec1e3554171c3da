"""``nonlocal-calc audit``: the poster's formula and code for D_mu1 ReLU, compared with the derivation."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("audit", help="audit the poster's D_mu1 ReLU formula and Figure 5 code",
                       description="Transcribe the poster's formula and code, compare them branch by branch and term "
                                   "by term with the derived closed form, report what each typo does, and print the "
                                   "corrected NumPy function.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..audit import poster

    report = poster()
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    return 0
