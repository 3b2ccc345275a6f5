"""The viewer's index in a daemon thread (dcmstruct.tui.pending): its value, its error, a
timeout, and a thread that does not hold the interpreter's exit."""

from __future__ import annotations

import threading

import pytest

from dcmstruct.tui.pending import Cancelled, NotDone, Pending


def test_value_error_and_timeout() -> None:
    assert Pending(lambda: 42).result(timeout=5) == 42

    def fails() -> int:
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output"):
        Pending(fails).result(timeout=5)
    gate = threading.Event()
    slow = Pending(lambda: gate.wait(5) and 7)
    with pytest.raises(NotDone):
        slow.result(timeout=0.01)
    threads = [t for t in threading.enumerate() if t.name == "dcmstruct-index"]
    assert threads and all(t.daemon for t in threads)  # quitting does not wait for it
    gate.set()
    assert slow.result(timeout=5) == 7


class _Worker:
    is_cancelled = False


def test_a_worker_stops_waiting_when_cancelled_and_a_timeout_error_is_an_error() -> None:
    worker = _Worker()
    gate = threading.Event()
    slow = Pending(lambda: gate.wait(10))
    threading.Timer(0.15, lambda: setattr(worker, "is_cancelled", True)).start()
    with pytest.raises(Cancelled):
        slow.wait(worker)
    gate.set()

    def times_out() -> None:
        raise TimeoutError("the disk did not answer")

    # Raised by the call, it is the call's error: not taken for "not done" (a hang).
    with pytest.raises(TimeoutError, match="did not answer"):
        Pending(times_out).wait(_Worker())
