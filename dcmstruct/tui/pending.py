"""A call run in a daemon thread, whose result can be waited for with a timeout.

Not a ``concurrent.futures`` pool: its threads are joined when the interpreter exits, so
quitting the viewer during a long index would wait for the index to end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    def __init__(self, call: Callable[[], T], name: str = "dcmstruct-index") -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(call,), name=name, daemon=True).start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._value = call()
        except BaseException as exc:  # handed to whoever waits for the result
            self._error = exc
        finally:
            self._done.set()

    def result(self, timeout: float | None = None) -> T:
        """The call's value; its exception raised here; TimeoutError if not done in time."""
        if not self._done.wait(timeout):
            raise TimeoutError("still running")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
