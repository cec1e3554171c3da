"""Sum up the record of property-test runs: ``python tools/property_log.py RUN.jsonl [MORE.jsonl ...] [--list]``.

``tests/test_random_pairs.py`` writes one JSON line per pair to ``NLC_PROPERTY_LOG`` (a line when the pair starts,
one when it ends). A thorough run is made of pieces (several seeds, several processes); this prints, over all the
files given, the distinct pairs by test, how they were derived, refused or cut short, the checks, the failures by
kind and the open bugs they matched, and where the CPU time went. ``--list`` prints every failure too.
A tool of the repository, not of the package.

>>> summary([{"start": "reference", "activation": "a", "kernel": "k"},
...          {"test": "reference", "activation": "a", "kernel": "k", "method": "quadrature", "checks": 12,
...           "seconds": 30.5, "cpu": {"derive": 2.0}, "failures": ["derive(a, k).ufunc() in float32 = 1.0 ..."]}])
... # doctest: +NORMALIZE_WHITESPACE
{'pairs': 1, 'distinct (activation, kernel)': 1, 'by test': {'reference': 1}, 'records': 1, 'unfinished': 0, 'methods': {'quadrature': 1},
 'refused': 0, 'timeouts': {}, 'checks': 12, 'failed pairs': 1, 'failures': {'float32': 1}, 'known bugs': {},
 'known-bug pairs': {}, 'wall seconds': 30.5, 'cpu seconds': {'derive': 2.0}}
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def kind(message: str) -> str:
    """What failed, from the message the test wrote."""
    for key, name in ((" in float64 = ", "float64"), (" in float32 = ", "float32"), (".ufunc(): ", "compile"),
                      (" refused: ", "refused"), (" ran past ", "timeout"), (".evaluate(", "evaluate")):
        if key in message:
            return name
    return "derive"


def summary(entries: list[dict]) -> dict:
    """The counts over the log's entries (a pair drawn again counts once among the pairs)."""
    started, ended = set(), {}
    for e in entries:
        key = (e.get("start") or e.get("test"), e["activation"], e["kernel"])
        if "start" in e:
            started.add(key)
        else:
            ended.setdefault(key, []).append(e)
    records = [r for rs in ended.values() for r in rs]
    failures, known, known_pairs, cpu = Counter(), Counter(), {}, Counter()
    for r in records:
        failures.update(kind(m) for m in r.get("failures", []))
        known.update(name for name, _ in r.get("known", []))
        for name, _ in r.get("known", []):
            known_pairs.setdefault(name, set()).add((r["activation"], r["kernel"]))
        cpu.update(r.get("cpu", {}))
    return {
        "pairs": len(ended), "distinct (activation, kernel)": len({(a, k) for _, a, k in ended}), "by test": dict(Counter(t for t, _, _ in ended)), "records": len(records),
        "unfinished": len(started - set(ended)),
        "methods": dict(Counter(r["method"] for r in records if "method" in r)),
        "refused": sum("refused" in r for r in records),
        "timeouts": dict(Counter(r["timeout"] for r in records if "timeout" in r)),
        "checks": sum(r.get("checks", 0) for r in records),
        "failed pairs": sum(bool(r.get("failures")) for r in records),
        "failures": dict(failures), "known bugs": dict(known),
        "known-bug pairs": {name: len(pairs) for name, pairs in known_pairs.items()},
        "wall seconds": round(sum(r.get("seconds", 0) for r in records), 1),
        "cpu seconds": {k: round(v, 1) for k, v in cpu.most_common()},
    }


def main(argv: list[str]) -> int:
    paths = [a for a in argv if not a.startswith("--")]
    if not paths:
        print(__doc__.split("\n\n")[0])
        return 2
    entries = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    for key, value in summary(entries).items():
        print(f"{key}: {value}")
    if "--list" in argv:
        for e in entries:
            for m in e.get("failures", []):
                print(f"- [{kind(m)}] {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
