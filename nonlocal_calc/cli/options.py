"""Checked types for the numeric command-line options: a bad value is refused by name, never replaced by a default.

Each function is an ``argparse`` ``type=``: it turns the text into a number or raises
:class:`argparse.ArgumentTypeError`, which the parser reports as one line, exit status 2.

>>> positive_int("3")
3
>>> positive_int("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be an integer >= 1, got '0'
>>> positive_float("inf")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be a finite number > 0, got 'inf'
"""

from __future__ import annotations

import argparse
import math


def _int(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int(text, 1, "an integer >= 1")


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return _int(text, 0, "an integer >= 0")


def n_jobs(text: str) -> int:
    """A number of parallel processes: N >= 1, or -1 for all cores (-2 all but one, and so on)."""
    value = _int(text, -(2**31), "an integer: N >= 1 processes, or -1 for all cores")
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be N >= 1 processes, or -1 for all cores, got {text!r}")
    return value


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def unit_interval(text: str) -> float:
    """A number in [0, 1) (rates, momentum)."""
    value = _float(text)
    if value is None or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """``--timeout`` and ``--no-cache``: how ``derive`` may search for a closed form."""
    from ..derivation import DEFAULT_TIMEOUT

    p.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"CPU seconds for the symbolic search before falling back to quadrature (default "
                        f"{DEFAULT_TIMEOUT:g}; time spent waiting for a busy core does not count)")
    p.add_argument("--no-cache", action="store_true",
                   help="neither read nor write the derivation cache (derive afresh)")
