"""The generated modules' source text, pair by pair and route by route: a refactoring of the code generator diffs it.

Writing text compiles nothing, so the 84 pairs of the accuracy table (the catalogue's activations with the coverage
kernels and the Gaussian, as in ``tools/output_hashes.py``) take minutes, not the hour of a build. For every pair
three files are written into the output directory, one per route and option of :func:`.build.module_source`:

* ``<pair>.fast.py``: the fast loops (Numba's internals, the default of ``make_ufunc``);
* ``<pair>.vseries.py``: the same with ``vectorize_series=True``;
* ``<pair>.public.py``: the public-API route (``numba.vectorize``; what ``nonlocal-calc codegen`` writes).

Each file holds the module with its docstring (the evaluation notes included), as the cache would store it before
the shared runtime is swapped in. Compare two trees::

    python tools/codegen_text.py --out /tmp/text-before        # on the old tree
    python tools/codegen_text.py --out /tmp/text-after --compare /tmp/text-before
    python tools/codegen_text.py --pairs relu/sign,silu/power(2) --out /tmp/few
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from pathlib import Path

ROUTES = {"fast": {"fast": True}, "vseries": {"fast": True, "vectorize_series": True}, "public": {"fast": False}}


def pair_texts(act: str, ker: str) -> dict[str, str]:
    """The module text of one pair per route (keys of :data:`ROUTES`)."""
    import nonlocal_calc as nlc
    from nonlocal_calc.codegen import _doc
    from nonlocal_calc.codegen.build import module_source

    D = nlc.derive(act, ker)
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in f"D_{act}_{ker}")
    out = {}
    for route, opts in ROUTES.items():
        src, gen = module_source(D, name, "", **opts)
        out[route] = src.replace('""""""', f'"""{_doc(D, gen.notes, method=gen.method)}"""', 1)
    return out


def file_name(pair: str, route: str) -> str:
    """``relu/power(2)`` -> ``relu_power_2_.fast.py``."""
    return "".join(c if c.isalnum() else "_" for c in pair) + f".{route}.py"


def default_pairs() -> list[tuple[str, str]]:
    """The accuracy table's pairs: every activation with the coverage kernels and the Gaussian."""
    import nonlocal_calc as nlc
    from nonlocal_calc.derivation import COVERAGE_KERNELS

    return [(a, k) for a in nlc.activations.names() for k in [*COVERAGE_KERNELS, "gaussian"]]


def compare(new: Path, old: Path, names: list[str]) -> list[str]:
    """Unified diffs of the files ``names`` that differ (or exist on one side only) between two output directories."""
    out = []
    for name in names:
        a, b = old / name, new / name
        if not (a.exists() and b.exists()):
            out.append(f"only in {'new' if b.exists() else 'old'}: {name}\n")
            continue
        ta, tb = a.read_text().splitlines(keepends=True), b.read_text().splitlines(keepends=True)
        if ta != tb:
            out.append("".join(difflib.unified_diff(ta, tb, str(a), str(b), n=1)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", help="comma-separated activation/kernel pairs (default: the accuracy table's 84)")
    ap.add_argument("--out", required=True, help="directory to write (created)")
    ap.add_argument("--compare", help="directory of an earlier run: print the diffs (exit 1 if any)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    pairs = [tuple(p.split("/", 1)) for p in args.pairs.split(",")] if args.pairs else default_pairs()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for a, k in pairs:
        for route, text in pair_texts(a, k).items():
            (out / file_name(f"{a}/{k}", route)).write_text(text)
        print(f"{a}/{k}", flush=True)
    if args.compare:
        names = [file_name(f"{a}/{k}", r) for a, k in pairs for r in ROUTES]
        diffs = compare(out, Path(args.compare), names)
        for d in diffs:
            print(d)
        print(f"{len(pairs)} pairs, {len(pairs) * len(ROUTES)} files, {len(diffs)} differ")
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
