"""A budget of CPU time for symbolic work that may not terminate quickly.

Inside ``with time_budget(s):`` the work is interrupted with :class:`DerivationTimeout` once it
has used ``s`` seconds of **CPU time**. Wall-clock time does not count: on a loaded machine (other
processes sharing the cores) a derivation takes longer but uses the same CPU time, so the same call
gives the same answer on a quiet machine and on a busy one, and time spent waiting (sleeping, blocked
on a lock or a disk) costs nothing.

How it is measured:

* in the main thread, a profiling timer (``setitimer(ITIMER_PROF)``, which counts the process's CPU
  time, user + system, the clock of :func:`time.process_time`) sends ``SIGPROF`` when the budget is
  spent, and the handler raises :class:`DerivationTimeout` between two bytecodes (SymPy is pure
  Python). Should some library swallow the exception, the timer fires again every 10 ms of CPU time
  until the block is left;
* in other threads (signals only reach the main thread), :func:`check_deadline`, called between steps
  of the work, compares the thread's own CPU time (:func:`time.thread_time`) with the budget.

Budgets nest: an inner budget never extends an outer one, and the exception names the budget that ran
out (:attr:`DerivationTimeout.budget`).

>>> import time
>>> with time_budget(0.05):
...     time.sleep(0.2)  # waiting uses no CPU time: the budget is untouched
...     check_deadline()
>>> with time_budget(0.05):
...     try:
...         while True:  # busy: stopped after 0.05 s of CPU time
...             pass
...     except DerivationTimeout:
...         print("stopped")
stopped
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: CPU seconds between repeated signals when the first one was swallowed.
_RETRY_INTERVAL = 0.01
#: Default time budget (seconds of CPU time) for one piece of symbolic work a user asks for (the search of one
#: derivation, the analysis of a typed kernel): twice the CPU time of the slowest closed form of the catalogue
#: on a heavily loaded machine (see docs/dev/performance.md).
DEFAULT_TIMEOUT = 20.0

_local = threading.local()


class Budget:
    """``seconds`` of CPU time, counted by ``clock`` from the moment the budget is entered."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.process_time):
        self.seconds, self.clock = seconds, clock
        self.start, self.end = clock(), None

    def used(self) -> float:
        """CPU seconds used since the budget was entered (until it was left)."""
        return (self.end if self.end is not None else self.clock()) - self.start

    def remaining(self) -> float:
        return self.seconds - self.used()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def __repr__(self) -> str:
        return f"Budget({self.seconds} s of CPU time, {self.used():.3g} s used)"


class DerivationTimeout(Exception):
    """A CPU-time budget ran out; ``budget`` is the one that did."""

    def __init__(self, budget: Budget | None = None):
        self.budget = budget
        what = f"of {budget.seconds:g} s of CPU time " if budget is not None else ""
        super().__init__(f"time budget {what}exceeded")


def _stack() -> list[Budget]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def _uses_signal() -> bool:
    return (threading.current_thread() is threading.main_thread()
            and hasattr(signal, "setitimer") and hasattr(signal, "SIGPROF"))


def check_deadline() -> None:
    """Raise :class:`DerivationTimeout` if a budget of this thread is spent (the outermost such one)."""
    for budget in _stack():
        if budget.expired:
            raise DerivationTimeout(budget)


def _arm() -> None:
    """Set the profiling timer to the earliest end among this thread's budgets."""
    stack = _stack()
    if stack:
        first = min(b.remaining() for b in stack)
        signal.setitimer(signal.ITIMER_PROF, max(first, 1e-4), _RETRY_INTERVAL)


def _in_finalizer(frame) -> bool:
    """Whether the signal landed in a finalizer (``__del__``) or in the handling of an exception one raised:
    raised there, the timeout would be printed as unraisable and lost (and the hook handling it interrupted)."""
    while frame is not None:
        if frame.f_code.co_name in ("__del__", "unraisable_hook", "unraisablehook"):
            return True
        frame = frame.f_back
    return False


def _on_sigprof(signum, frame) -> None:  # noqa: ARG001
    expired = next((b for b in _stack() if b.expired), None)
    if expired is None or _in_finalizer(frame):
        _arm()  # the timer fired a little early, or inside a finalizer: try again shortly
        return
    raise DerivationTimeout(expired)


@contextmanager
def time_budget(seconds: float | None) -> Iterator[Budget]:
    """Run the body with a budget of ``seconds`` of CPU time (None: unlimited); yields the :class:`Budget`."""
    if seconds is None:
        yield Budget(math.inf)
        return
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
        raise ValueError(f"a time budget must be a number of seconds >= 0 (or None for no limit), got {seconds!r}")
    use_signal = _uses_signal()
    budget = Budget(seconds, time.process_time if use_signal else time.thread_time)
    stack = _stack()
    outermost = not stack
    previous = signal.signal(signal.SIGPROF, _on_sigprof) if use_signal and outermost else None
    stack.append(budget)
    try:
        if use_signal:
            _arm()
        yield budget
    finally:
        while True:  # a signal landing during the clean-up is retried, never left half done
            try:
                _leave(budget, use_signal, outermost, previous)
                break
            except DerivationTimeout:
                pass


def attempt(seconds: float, work: Callable[[], T]) -> T | None:
    """``work()`` within ``seconds`` of CPU time, or None when that budget runs out first (also when the library
    doing the work turned the interrupt into another exception). A caller's budget running out is not caught.

    >>> attempt(0.05, lambda: 6 * 7)
    42
    >>> def forever():
    ...     while True:
    ...         pass
    >>> attempt(0.05, forever) is None
    True
    """
    budget = None
    try:
        with time_budget(seconds) as budget:
            return work()
    except DerivationTimeout as exc:
        if exc.budget is not budget:
            raise
        return None
    except Exception:
        if budget is not None and budget.expired and not any(b.expired for b in _stack()):
            return None
        raise


def _leave(budget: Budget, use_signal: bool, outermost: bool, previous) -> None:
    """Remove ``budget`` from this thread's stack and restore the timer and handler it found (idempotent)."""
    stack = _stack()
    if use_signal:
        signal.setitimer(signal.ITIMER_PROF, 0)  # no signal while the stack changes
    if budget in stack:
        budget.end = budget.clock()
        stack.remove(budget)
    if use_signal:
        if outermost:
            signal.signal(signal.SIGPROF, previous if previous is not None else signal.SIG_DFL)
        else:
            _arm()
