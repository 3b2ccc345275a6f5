"""A call run in a daemon thread, whose result can be waited for with a timeout, or by a
worker that stops waiting when it is cancelled.

The viewer's index and validation cannot be interrupted. Run in a Textual thread worker (or a
``concurrent.futures`` pool), their thread is joined when the app or the interpreter exits:
quitting during the index of a big file waited seconds for it to end. In a daemon thread
they are simply left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
SLICE = 0.1  # seconds a worker waits before it looks whether it was cancelled


class Cancellable(Protocol):
    @property
    def is_cancelled(self) -> bool: ...


class NotDone(Exception):
    """The call has not returned yet (not TimeoutError: the call may raise that itself)."""


class Cancelled(Exception):
    """The worker waiting for the result was cancelled (the app closes, or a reload)."""


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
        """The call's value; its exception raised here; :class:`NotDone` if not done in
        time."""
        if not self._done.wait(timeout):
            raise NotDone
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def wait(self, worker: Cancellable) -> T:
        """The result, waited for in slices by ``worker``; :class:`Cancelled` once the worker
        is cancelled, so that its thread ends at once."""
        while True:
            try:
                return self.result(timeout=SLICE)
            except NotDone:
                if worker.is_cancelled:
                    raise Cancelled from None
