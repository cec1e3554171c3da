"""Keep the generated blocks of README.md up to date: ``python tools/readme.py [--check] [--path README.md]``.

A block is the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; :func:`blocks` says what each
holds (``coverage``: the coverage matrix of ``nonlocal-calc catalogue --coverage``). ``--check`` changes
nothing and exits with 1 when a block is stale. A tool of the repository, not of the package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def blocks() -> dict[str, str]:
    """Generated README blocks by name."""
    import warnings

    from nonlocal_calc.derivation import QuadratureFallbackWarning, coverage_matrix

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureFallbackWarning)
        return {"coverage": coverage_matrix()}


def render(text: str) -> str:
    """``text`` with every ``<!-- NAME:start -->...<!-- NAME:end -->`` block regenerated."""
    for name, body in blocks().items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[argv.index("--path") + 1]) if "--path" in argv else Path("README.md")
    old = path.read_text()
    new = render(old)
    if "--check" in argv:
        if new != old:
            print(f"{path} is out of date: run python tools/readme.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        from nonlocal_calc.cache import write_atomic

        write_atomic(path, new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
