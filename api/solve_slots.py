"""The cap on synchronous solves running at the same time in one server process.

A synchronous solve (``POST /v1/solve``, ``POST /v1/weeks/{iso_week}/plan`` and ``/replan``)
holds its caller's connection and starts solver processes of its own; twenty at once once took
3 GB in 42 processes. Past ``VANPLAN_MAX_CONCURRENT_SOLVES`` (per process: ``vanplan serve
--workers N`` allows N times as many) a request is refused at once with 429 ``too_many_solves``,
a ``Retry-After`` header and the job endpoint that queues the same work instead.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request

from api.errors import TooManySolvesError


class SolveSlots:
    """``limit`` slots; :meth:`hold` takes one for the length of a solve or refuses (429)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_concurrent_solves must be at least 1, got {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def try_acquire(self) -> bool:
        """Take a slot if one is free (never waits)."""
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        self._slots.release()

    @contextmanager
    def hold(self, job_endpoint: str, retry_after: float) -> Iterator[None]:
        """Hold a slot while the block runs; none free: :class:`TooManySolvesError` naming
        ``job_endpoint`` with ``Retry-After`` of ``retry_after`` seconds (rounded up)."""
        if not self.try_acquire():
            seconds = max(1, math.ceil(retry_after))
            raise TooManySolvesError(
                f"{self.limit} synchronous solve{'s are' if self.limit != 1 else ' is'} already "
                f"running, the most at once; submit it to {job_endpoint} instead (a job: "
                f"progress, stop, no limit on waiting), or retry in {seconds} s",
                [("request", f"at most {self.limit} synchronous solves at once")],
                headers={"Retry-After": str(seconds)},
            )
        try:
            yield
        finally:
            self.release()


async def get_solve_slots(request: Request) -> SolveSlots:
    """The app's solve slots (created by ``create_app``)."""
    slots: SolveSlots = request.app.state.solve_slots
    return slots
