"""The viewer's index in a daemon thread (dcmstruct.tui.pending): its value, its error, a
timeout, and a thread that does not hold the interpreter's exit."""

from __future__ import annotations

import threading

import pytest

from dcmstruct.tui.pending import Pending


def test_value_error_and_timeout() -> None:
    assert Pending(lambda: 42).result(timeout=5) == 42

    def fails() -> int:
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output"):
        Pending(fails).result(timeout=5)
    gate = threading.Event()
    slow = Pending(lambda: gate.wait(5) and 7)
    with pytest.raises(TimeoutError):
        slow.result(timeout=0.01)
    threads = [t for t in threading.enumerate() if t.name == "dcmstruct-index"]
    assert threads and all(t.daemon for t in threads)  # quitting does not wait for it
    gate.set()
    assert slow.result(timeout=5) == 7
