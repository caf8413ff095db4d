"""The time budget of one solve: the time limit counts from the call to ``solve()``, and every
phase (diagnosis, the greedy plan, the OR-Tools model build, the search, the explanation of the
left-out visits) spends from it.

The order of a solve (:func:`optimizer.solve.solve`): the diagnosis, then a greedy plan
(:mod:`optimizer.greedy`, seconds on thousands of visits) that is kept as the plan of last
resort, then the OR-Tools model, but only when its estimated build
(:func:`optimizer.sizing.model_seconds`) fits in what is left (:func:`model_verdict`); a build
that runs past the deadline (by more than :data:`BUILD_GRACE`) is abandoned, and a search that
found no first plan by the deadline is ended (where it can be: a forked search). Either way the
greedy plan is the answer, with a warning saying why; a problem whose model and first plan are
not expected in the time at all is planned day by day from it instead
(:mod:`optimizer.decompose`). A forked search ends :func:`after_search_seconds` before the time
limit, kept for planning its routes and explaining the left-out visits, and is ended then if
it runs on.

The clock is injectable (``Budget(limit, clock=...)``) so the decisions can be tested without
waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from optimizer.sizing import MODEL_SHARE, model_seconds

Clock = Callable[[], float]

BUILD_GRACE = 1.0
"""Seconds a model build may end past the deadline, or past its own start when that is later
(issue 19: a time limit is honoured within 1 s plus the first solution's time): a build
estimated to end within them is started, one still running after them is abandoned. A limit
too short for anything on a few hundred visits still gets OR-Tools' first solution, late by
about a second, rather than the greedy plan."""


@dataclass(frozen=True)
class Budget:
    """``time_limit`` seconds from ``t0`` (a reading of ``clock``, taken at creation unless
    given)."""

    time_limit: float
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)
    t0: float = field(default=float("nan"))

    def __post_init__(self) -> None:
        if self.t0 != self.t0:  # NaN: not given, start now
            object.__setattr__(self, "t0", self.clock())

    @property
    def deadline(self) -> float:
        """When the time limit ends, on ``clock``."""
        return self.t0 + self.time_limit

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def left(self) -> float:
        """Seconds left of the time limit (negative when it is over)."""
        return self.deadline - self.clock()

    def over(self) -> bool:
        """Whether the time limit has ended."""
        return self.left() <= 0.0

    def build_by(self) -> float:
        """When a model build starting now is abandoned (on ``clock``): :data:`BUILD_GRACE`
        after the deadline, or after now when the deadline has passed."""
        return max(self.deadline, self.clock()) + BUILD_GRACE


STOP_GRACE = 1.5
"""Seconds a solve that has no plan yet may still spend making one after a stop (issue 19: a
stop answers within 2 s with the best plan it can): the diagnosis goes on, and the greedy plan
is made as far as it gets by then (:class:`Grace`). On a 5,000-visit week at load 5 the rest of
the diagnosis and the model's nodes take up to a second of it (``benchmarks/RESULTS.md``)."""

WATCH_SECONDS = 0.02
"""How often :meth:`Grace.watching` looks at the stop."""


class Grace:
    """The stop check of the phases before any plan exists (the diagnosis, the greedy plan):
    true :data:`STOP_GRACE` seconds after ``stop`` was set (as first seen). A stop that comes
    while the visits are diagnosed so still answers with the part of the greedy plan made
    within the grace. (The time limit ends the greedy plan on its own:
    :meth:`Budget.build_by`.)"""

    def __init__(
        self,
        stop: threading.Event | None,
        seconds: float | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._stop = stop
        self._seconds = STOP_GRACE if seconds is None else seconds
        self._clock = clock
        self._ends: float | None = None
        self._lock = threading.Lock()

    @property
    def stopped(self) -> bool:
        """Whether the stop has been set."""
        return self._stop is not None and self._stop.is_set()

    @property
    def ends(self) -> float | None:
        """When the grace ends (on the clock), or None while no stop was seen."""
        return self._ends

    def __call__(self) -> bool:
        now = self._clock()
        with self._lock:
            if self._ends is None and self.stopped:
                self._ends = now + self._seconds
            return self._ends is not None and now > self._ends

    @contextmanager
    def watching(self) -> Iterator[None]:
        """While the block runs, a thread looks at the stop every :data:`WATCH_SECONDS`, so
        the grace counts from the stop also when it comes during a step that never asks (the
        model's nodes)."""
        done = threading.Event()

        def watch() -> None:
            while not done.wait(WATCH_SECONDS):
                if self.stopped:
                    self()
                    return

        thread = threading.Thread(target=watch, name="vanplan-grace", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def model_verdict(budget: Budget, visits: int, nodes: int) -> str | None:
    """Why the OR-Tools model of ``visits`` visits (``nodes`` model nodes) is not built in what
    is left of ``budget`` (its estimated build would not end within :data:`BUILD_GRACE` of the
    deadline, or of now when that has passed), or None when it is to be built. The estimate is
    deliberately high (a loaded machine); the reason names the time limit that would do."""
    need = model_seconds(nodes)
    left = budget.left()
    if need <= max(left, 0.0) + BUILD_GRACE:
        return None
    # What is spent already, and the build in half of the rest (as the API asks for,
    # optimizer.sizing.size_issue).
    enough = budget.elapsed() + need / MODEL_SHARE
    return (
        f"The OR-Tools model of {visits} visits ({nodes} model nodes) takes about {need:.0f} s "
        f"to build, more than the {max(left, 0.0):.0f} s left of the {budget.time_limit:g} s "
        "time limit, so it was not built: this is a quick greedy plan (routes short enough to "
        f"need no break). Raise the time limit to at least {enough:.0f} s or plan fewer visits "
        "at once for a better one."
    )


def model_fits(nodes: int, seconds: float) -> bool:
    """Whether the OR-Tools model of ``nodes`` model nodes is estimated to be built within
    ``seconds`` (:func:`optimizer.sizing.model_seconds`, deliberately high)."""
    return model_seconds(nodes) <= seconds


AFTER_SEARCH_PER_VISIT = 0.0008
"""Seconds per visit this process needs after a forked search ends: to end it, to plan its last
reported routes from their times and to explain the left-out visits (at least
``EXPLAIN_SECONDS[0]`` of optimizer.solve on 1,000 visits); the search ends that much before the
time limit."""

AFTER_SEARCH_SHARE = 0.2
"""At most this share of the time limit is kept for after the search (a short limit on a few
visits searches nearly all of it; their plan takes milliseconds)."""


def after_search_seconds(visits: int, time_limit: float) -> float:
    """Seconds kept after a forked search on ``visits`` visits for the parent's work (see
    :data:`AFTER_SEARCH_PER_VISIT`), at most :data:`AFTER_SEARCH_SHARE` of ``time_limit``."""
    return min(visits * AFTER_SEARCH_PER_VISIT, AFTER_SEARCH_SHARE * time_limit)


RESTORE_SECONDS_PER_VISIT = 0.003
"""Seconds per visit OR-Tools takes to read given routes back into an assignment of its model
(``ReadAssignmentFromRoutes``: 2 s on 1,000 visits at load 10 on 2 cores)."""


def restore_seconds(visits: int) -> float:
    """The estimated time to restore the routes of ``visits`` visits in OR-Tools."""
    return visits * RESTORE_SECONDS_PER_VISIT


STOPPED_BEFORE_FIRST_PLAN = (
    "Stopped before the search found a first plan (PyVRP or OR-Tools was still setting up, "
    "building its model or searching): this is the quick greedy plan made before (routes "
    "short enough to need no break)."
)
"""The warning of a greedy plan returned because of a stop."""


STOPPED_BEFORE_SEARCH = (
    "Stopped before any search: this is the quick greedy plan made first (routes short enough "
    "to need no break)."
)
"""The warning of a whole greedy plan returned because a stop came while it was made (or
before)."""


def nothing_made_notice(stopped: bool, visits: int) -> str:
    """The warning of a plan without any route: ``stopped`` (or out of time) while the
    ``visits`` visits were diagnosed or before the greedy plan placed any of them, within
    :data:`STOP_GRACE` seconds."""
    why = "Stopped" if stopped else "The time limit ended"
    return (
        f"{why} before any plan could be made (the {visits} visits were still being checked, "
        f"and {STOP_GRACE if stopped else BUILD_GRACE:g} s more did not make one): no visit is "
        "planned. Solve again without stopping, or with a longer time limit, for a plan."
    )


def greedy_cut_notice(stopped: bool, unplaced: int, visits: int) -> str:
    """The warning of a greedy plan cut short (``stopped``, or at the end of the time limit)
    with ``unplaced`` of ``visits`` visits never placed."""
    why = "Stopped" if stopped else "The time limit ended"
    return (
        f"{why} while the quick greedy plan was made (before any search): this is the part "
        f"built by then (routes short enough to need no break); {unplaced} of {visits} visits "
        "were never placed."
    )
