"""The ``nonlocal-calc`` command line: one module per subcommand.

Each module named in :data:`COMMANDS` defines ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed arguments, returning an exit code).

Exit status: 0 on success, 2 on bad input (one line on stderr, no traceback), 130 when
interrupted (Ctrl-C: one line); commands document their own others (``converge``: 1 on a disagreement).
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ["derive", "kernels", "catalogue", "audit", "converge", "codegen", "train", "reproduce"]

EPILOG = """examples:
  nonlocal-calc derive relu --kernel sign          closed form of D_mu ReLU for the poster's kernel
  nonlocal-calc derive tanh --kernel linear --series 4
  nonlocal-calc derive --activation-expr "x/(1+exp(-x))" --kernel-expr "z**3" --latex
  nonlocal-calc audit                               the poster's typos, computed
  nonlocal-calc catalogue                           the activation table, recomputed
  nonlocal-calc converge relu --kernel linear --x 0.3
  nonlocal-calc codegen relu --kernel sign -o relu_sign.py   standalone Numba module to vendor
  nonlocal-calc train --derivative nonlocal --kernel sign --delta 0.1 --json
  nonlocal-calc reproduce poster --seeds 5 --n-jobs 2
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports a bad option in one line (argparse prints the usage first)."""

    def error(self, message: str):  # noqa: ANN201
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nonlocal-calc",
        description="Calculus of nonlocal operators: D_mu f(x) = int_{-delta}^{delta} [f(x+z) - f(x)] mu(z) dz.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"nonlocal-calc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nonlocal-calc`` console script."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("nonlocal-calc: interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except (ValueError, OSError) as exc:  # bad input, or a path that cannot be read or written
        print(f"nonlocal-calc {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
