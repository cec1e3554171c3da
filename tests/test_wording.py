"""Code, comments, docs and generated text speak of the project, not of how it was made.

No file of the repository (the package, tests, benchmarks, tools, derivations, docs, README, configuration)
refers to issues, work sessions or numbered findings: such words point to a history the reader does not have.
Timing history belongs in
``docs/dev/performance.md``, in words about the code.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("nonlocal_calc", "tests", "benchmarks", "tools", "derivations", "docs", "README.md", "mkdocs.yml",
           "setup.cfg", "pyproject.toml")
SKIPPED = (ROOT / "docs" / "vendor", Path(__file__).resolve())
SUFFIXES = {".py", ".md", ".yml", ".yaml", ".cfg", ".toml", ".json", ".csv", ".txt", ".js", ".css", ".html"}
BANNED = re.compile(r"\bissues?\b|\bsessions?\b|\bissue-\d|\bfindings? \d", re.I)
#: A POSIX session (the processes a terminal's Ctrl-C reaches) is a word about the code.
ALLOWED = re.compile(r"start_new_session|\b_session\(|session id|a session of its own|processes of a session")


def scanned_files() -> list[Path]:
    out = []
    for name in SCANNED:
        top = ROOT / name
        for p in [top] if top.is_file() else top.rglob("*"):
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts \
                    and not any(p.resolve() == s or s in p.resolve().parents for s in SKIPPED):
                out.append(p)
    return out


def banned_lines(text: str) -> list[tuple[int, str]]:
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)
            if BANNED.search(ALLOWED.sub("", line))]


def test_the_check_sees_the_words_and_spares_posix_sessions():
    text = "ok\n# see issue 3\nthe issue-3 grid\nas in finding 12\nstart_new_session=True\nthe Session began\n"
    assert [i for i, _ in banned_lines(text)] == [2, 3, 4, 6]


def test_no_file_speaks_of_issues_or_sessions():
    files = scanned_files()
    assert ROOT / "nonlocal_calc" / "nn" / "train.py" in files and ROOT / "README.md" in files
    found = [f"{p.relative_to(ROOT)}:{i}: {line}" for p in files for i, line in banned_lines(p.read_text(errors="replace"))]
    assert not found, "\n".join(found)
