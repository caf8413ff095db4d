"""The stop relay: a caller's ``threading.Event`` reaches a search in a child process.

The parent raises a :class:`StopFlag` when its event is set; inside the child,
:meth:`StopFlag.relayed` turns the flag back into an event the search watches. (A forked
iterated local search cannot be cancelled at all: its parent kills it instead, see
:mod:`optimizer.processes.searches`.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from optimizer.search import cancelled

RELAY_SECONDS = 0.05
"""How often a child looks at the flag."""


class StopFlag:
    """A stop request shared with child processes: a plain shared byte, not an ``mp.Event``,
    whose ``set()`` can block forever when a process that waited on it has exited (it holds a
    lock). Pass it to the child as a process argument."""

    def __init__(self, ctx: Any) -> None:
        self._value = ctx.RawValue("b", 0)

    def set(self) -> None:
        self._value.value = 1

    def is_set(self) -> bool:
        return bool(self._value.value)

    def follow(self, stop: threading.Event | None) -> None:
        """Raise the flag if ``stop`` is set (the parent calls this while it waits)."""
        if cancelled(stop):
            self.set()

    @contextmanager
    def relayed(self) -> Iterator[threading.Event]:
        """In the child: an event that is set soon after the parent raises the flag, watched by
        a thread that ends with the block."""
        stop = threading.Event()
        finished = threading.Event()

        def relay() -> None:
            while not finished.wait(RELAY_SECONDS):
                if self.is_set():
                    stop.set()
                    return

        thread = threading.Thread(target=relay, name="vanplan-stop-relay", daemon=True)
        thread.start()
        try:
            yield stop
        finally:
            finished.set()
            thread.join()
