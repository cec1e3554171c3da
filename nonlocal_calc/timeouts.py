"""A time budget for symbolic work that may not terminate quickly.

Inside ``with time_budget(s):`` the work is interrupted with :class:`DerivationTimeout` after
``s`` seconds: by ``SIGALRM`` in the main thread (SymPy is pure Python, so the signal lands
between bytecodes), and by :func:`check_deadline` calls between steps elsewhere.

>>> import time
>>> with time_budget(0.05):
...     try:
...         time.sleep(0.2); check_deadline()
...     except DerivationTimeout:
...         print("stopped")
stopped
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager

_deadline: list[float] = []


class DerivationTimeout(Exception):
    """The time budget of a derivation ran out."""


def check_deadline() -> None:
    """Raise :class:`DerivationTimeout` if the innermost budget is spent."""
    if _deadline and time.monotonic() > _deadline[-1]:
        raise DerivationTimeout("time budget exceeded")


@contextmanager
def time_budget(seconds: float | None):
    """Run the body with a time budget of ``seconds`` (None: unlimited)."""
    if seconds is None:
        yield
        return
    _deadline.append(time.monotonic() + seconds)
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if use_alarm:
        def _raise(signum, frame):
            raise DerivationTimeout("time budget exceeded")

        old = signal.signal(signal.SIGALRM, _raise)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        _deadline.pop()
