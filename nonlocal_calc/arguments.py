"""Numeric arguments of the public evaluators, checked once with a message that names the fix.

A point ``x`` may be any real number, ``nan`` or ``+-inf``; it is kept in a form that mpmath reads again exactly
at every working precision (strings stay strings, SymPy rationals become ``"p/q"``). Orders and digit counts are
whole numbers in a stated range.

>>> real_argument("1e-150", "x"), real_argument(0.25, "x")
('1e-150', 0.25)
>>> real_argument("abc", "x")
Traceback (most recent call last):
...
ValueError: x must be a real number (e.g. 0.3, '1e-3', 'inf' or 'nan'), got 'abc'
>>> series_order(2.5)
Traceback (most recent call last):
...
ValueError: n must be a whole number from 1 to 60 (series(n) keeps the powers of delta below delta**n, e.g. series(4)), got 2.5
"""

from __future__ import annotations

import numbers
import operator

import mpmath
import sympy as sp


def real_argument(value: object, name: str) -> object:
    """``value`` as something ``mpmath.mpf`` reads exactly at any precision; ValueError if it is not a real number.

    Accepted: Python and NumPy ints and floats, mpmath reals, numeric strings (``"0.1"``, ``"1/3"``, ``"inf"``,
    ``"nan"``) and real SymPy numbers. Booleans and complex numbers are refused.
    """
    converted = _convert(value)
    try:
        if converted is None:
            raise ValueError
        mpmath.mpf(converted)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number (e.g. 0.3, '1e-3', 'inf' or 'nan'), got {value!r}") from None
    return converted


def _convert(value: object) -> object:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, mpmath.mpf | float | int):
        return value
    if isinstance(value, sp.Basic):
        if value.is_Rational:
            return f"{value.p}/{value.q}"
        if value.is_Float:
            return str(value)
        if value in (sp.oo, -sp.oo):
            return "inf" if value == sp.oo else "-inf"
        if value is sp.nan:
            return "nan"
        if value.is_number and value.is_extended_real:
            return str(sp.N(value, 120))
        return None
    if isinstance(value, numbers.Integral):  # NumPy integers
        return int(value)
    if isinstance(value, numbers.Real):  # NumPy floats (exactly, as Python floats)
        return float(value)
    return None


def whole_number(value: object, name: str, low: int, high: int, hint: str) -> int:
    """``value`` as an int in ``[low, high]``; ValueError naming the range and ``hint`` otherwise."""
    try:
        if isinstance(value, bool):
            raise TypeError
        n = operator.index(value)
    except TypeError:
        n = None
    if n is None or not low <= n <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high} ({hint}), got {value!r}")
    return n


#: The largest n of ``series(n)`` (moments and derivatives up to order n + 1).
MAX_SERIES_ORDER = 60


def series_order(n: object) -> int:
    """``n`` of ``series(n)``, checked: a whole number from 1 to :data:`MAX_SERIES_ORDER`."""
    return whole_number(n, "n", 1, MAX_SERIES_ORDER, "series(n) keeps the powers of delta below delta**n, e.g. "
                        "series(4)")
