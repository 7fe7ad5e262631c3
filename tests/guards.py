"""Guards for tests that feed hostile input: a wall-clock limit and the error contract.

``time_limit`` interrupts a call that runs too long with :class:`Hang`, a
``BaseException`` so that the engine's own ``except Exception`` safety net cannot turn
it into a ``MatcalcError``.  ``assert_clean_error`` states what every error the public
API raises must look like.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time

from matcalc import MatcalcError


class Hang(BaseException):
    """A call ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "the call"):
    """Raise :class:`Hang` in the block after ``seconds`` of wall-clock time.

    Uses SIGALRM, so it works in the main thread of a Unix process (where pytest runs
    tests); elsewhere it only measures and raises afterwards.
    """
    def on_alarm(signum, frame):
        raise Hang(f"{what} took more than {seconds} s")

    armed = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    start = time.monotonic()
    if armed:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if time.monotonic() - start > seconds:
        raise Hang(f"{what} took more than {seconds} s")


def assert_clean_error(exc: BaseException) -> None:
    """A ``MatcalcError`` that is not an internal error, with a caret under the input
    whenever it carries the input text and a span."""
    assert isinstance(exc, MatcalcError), f"{type(exc).__name__} escaped: {exc}"
    message = str(exc)
    assert "internal error" not in message, f"engine bug behind the safety net: {message}"
    if exc.text is not None and exc.span is not None:
        lines = message.split("\n")
        assert len(lines) >= 3, message
        caret = lines[-1]
        assert caret.strip() and set(caret.strip()) == {"^"}, message
        assert caret.startswith("  "), message
        quoted = lines[-2]
        assert quoted.startswith("  "), message
        # the caret points inside (or just after) the quoted line
        assert caret.index("^") <= len(quoted), message
        if len(exc.text) <= 100 and "\n" not in exc.text:
            assert quoted == "  " + exc.text, message
