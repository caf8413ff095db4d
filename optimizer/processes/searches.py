"""Searches in forked processes, which can be ended at any time: OR-Tools (9.15) cannot cancel
its iterated local search. A process reports the routes of every improving solution and signs
of life; the parent kills it on stop, when it stalls (:mod:`optimizer.processes.stall`) or at its
deadline, and plans the last routes it reported from the times reported with them."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from optimizer import search
from optimizer.budget import after_search_seconds
from optimizer.errors import SolveStoppedError
from optimizer.model import COST_SCALE
from optimizer.processes.messages import Alive, Done, Failed, Message
from optimizer.processes.stall import StallWatch
from optimizer.processes.start import die_with_parent, end, start_forked
from optimizer.search import (
    Progress,
    ProgressCallback,
    ReportedRoutes,
    SearchResult,
    Task,
    cancelled,
    solve_from_routes,
    solve_greedy,
)
from optimizer.settings import SolverSettings

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2
"""A forked search sends a sign of life at most this often."""

RESTART_SEED_STEP = 7919
"""A stalled search starts again with its seed plus this."""

MIN_RESTART_SECONDS = 2.0
"""A stalled search starts again only when at least this much of its time limit is left."""

LATE_SECONDS = 1.0
"""A forked search without a solution and without a plan of last resort (no greedy plan) is
ended this long after its deadline (OR-Tools' first-solution heuristics do not look at the time
limit while they prepare: savings on thousands of visits ran minutes past it); one with routes
in hand, or with the greedy plan made, is ended at its deadline (OR-Tools' ILS overruns its
time limit by seconds on 1,000 visits)."""


def search_deadline(task: Task, settings: SolverSettings) -> float:
    """When a forked search of ``task`` ends (``time.monotonic()``): the end of the time limit
    less what this process needs after it (:func:`~optimizer.budget.after_search_seconds`)."""
    end = task.t0 + settings.time_limit
    return end - after_search_seconds(len(task.problem.visits), settings.time_limit)


def _search_child(task: Task, settings: SolverSettings, deadline: float, sender: Any) -> None:
    """Body of a forked search process: report each improving solution's routes, signs of
    life, then the result. The parent may kill it at any time."""
    die_with_parent()
    last_sent = time.monotonic()
    last_solution: float | None = None
    longest = 0.0  # the longest time between two solutions so far

    def send(message: Message) -> None:
        nonlocal last_sent
        try:
            sender.send(message)
        except OSError:  # the parent is gone: nobody wants the rest of this search
            os._exit(0)
        last_sent = time.monotonic()

    def tick(solutions: int) -> None:
        nonlocal last_solution, longest
        now = time.monotonic()
        if last_solution is not None:
            longest = max(longest, now - last_solution)
        last_solution = now
        if now - last_sent >= TICK_SECONDS:
            send(Alive(solutions, longest))

    try:
        result = search.solve_one(task, settings, deadline=deadline, on_best=send, on_tick=tick)
        sender.send(Done(result))
    except Exception as exc:  # reported to the parent, which raises it
        sender.send(Failed.of(exc))
    finally:
        sender.close()


@dataclass(frozen=True)
class ChildRun:
    """How one forked search ended: its result if it finished, the last routes it reported,
    whether it stalled."""

    result: SearchResult | None
    last: ReportedRoutes | None
    stalled: bool
    overdue: bool = False  # ended at its deadline, or LATE_SECONDS after it
    first_after: float | None = None  # seconds from its start to its first solution


def _run_child(
    task: Task,
    settings: SolverSettings,
    deadline: float,
    stop: threading.Event | None,
    on_progress: ProgressCallback,
    watch: StallWatch,
    ready: Callable[[], bool] | None = None,
) -> ChildRun:
    """One forked search until it ends, ``stop`` is set or ``watch`` says it stalled.
    ``ready`` says whether a plan of last resort exists (the task's greedy plan): a search
    with routes in hand or with that plan made is ended at its deadline, one without either
    :data:`LATE_SECONDS` after it."""
    receiver, sender = mp.get_context("fork").Pipe(duplex=False)
    child = start_forked(_search_child, (task, settings, deadline, sender), "vanplan-search")
    started = time.monotonic()
    first_after: float | None = None  # seconds from the start to the first solution
    sender.close()  # the child holds the writing end
    last: ReportedRoutes | None = None
    result: SearchResult | None = None
    failed: Failed | None = None
    stalled = overdue = False
    try:
        while not cancelled(stop):
            # Another fork may hold a copy of the writing end, so EOF alone cannot tell that the
            # child has ended: its liveness is checked too.
            if not receiver.poll(0.05) and (child.is_alive() or not receiver.poll(0)):
                if not child.is_alive():
                    break
                now = time.monotonic()
                if watch.stalled(now):
                    stalled = now < deadline - 0.1
                    break
                # With routes in hand, or a greedy plan made meanwhile, the search ends at its
                # deadline (OR-Tools' ILS overruns its time limit by seconds on 1,000 visits);
                # only a search that is the one hope of a plan gets LATE_SECONDS more.
                planless = last is None and (ready is None or not ready())
                late = LATE_SECONDS if planless else 0.0
                if now > deadline + late:
                    overdue = True
                    log.warning(
                        "the search process is still running %.1f s after its time limit "
                        "(%s); ending it",
                        now - deadline,
                        "no solution yet" if last is None else "keeping its last routes",
                    )
                    break
                continue
            try:
                message = receiver.recv()
            except EOFError:
                break
            if isinstance(message, Alive):
                watch.hear(time.monotonic(), message.longest_gap)
                if last is not None:  # the solutions found so far, for the stopped plan's stats
                    last = replace(last, solutions=message.solutions)
            elif isinstance(message, ReportedRoutes):
                watch.hear(time.monotonic())
                last = message
                if first_after is None:
                    first_after = time.monotonic() - started
                on_progress(
                    Progress(message.objective / COST_SCALE, message.solutions, message.elapsed)
                )
            elif isinstance(message, Done):
                result = message.value
                break
            elif isinstance(message, Failed):
                failed = message
                break
    finally:
        if result is None:
            end(child)  # killed unless it has ended
        child.join()
        receiver.close()
    if failed is not None:
        raise RuntimeError(f"search process failed: {failed.error}")
    if result is None and not stalled and not cancelled(stop) and time.monotonic() < deadline:
        log.warning(
            "the search process ended without a result (exit code %s); "
            "keeping the last routes it reported",
            child.exitcode,
        )
    return ChildRun(result, last, stalled, overdue, first_after)


@dataclass(frozen=True)
class Killed:
    """The last routes a killed (stopped or stalled) search reported, with its settings (a
    restarted search has another seed, and the routes belong to its model)."""

    settings: SolverSettings
    last: ReportedRoutes

    @property
    def objective(self) -> float:
        """In plan units (euros)."""
        return self.last.objective / COST_SCALE


@dataclass
class Searched:
    """What forked searches of one configuration left: the best result of a search that ended,
    and the best routes reported by one that was killed (stopped or stalled)."""

    result: SearchResult | None = None
    killed: Killed | None = None
    solutions: int = 0  # found by all of them

    @property
    def objective(self) -> float:
        """The better of the two, in plan units (infinite when neither exists)."""
        done = self.result.stats.objective if self.result is not None else float("inf")
        snap = self.killed.objective if self.killed is not None else float("inf")
        return min(done, snap)

    def keep(self, run: ChildRun, settings: SolverSettings) -> None:
        if run.result is not None:
            self.solutions += run.result.stats.solutions
        elif run.last is not None:
            self.solutions += run.last.solutions
        if run.result is not None and (
            self.result is None or run.result.stats.objective < self.result.stats.objective
        ):
            self.result = run.result
        if run.last is not None and (
            self.killed is None or run.last.objective < self.killed.last.objective
        ):
            self.killed = Killed(settings, run.last)

    def uses_result(self) -> bool:
        """Whether the ended search's result is the better (ties go to it: no rebuild)."""
        return self.result is not None and (
            self.killed is None or self.result.stats.objective <= self.killed.objective
        )


def search_in_child(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback,
    stop: threading.Event | None,
    deadline: float,
    prebuild: bool = False,
) -> Searched:
    """A search in a forked process, which can be ended at any time (OR-Tools cannot cancel its
    ILS). The process reports every improving solution's routes. Unstopped, its own result
    counts (the same plan as a search in this process). When ``stop`` is set, or when the search
    stalls (see :class:`~optimizer.processes.stall.StallWatch`; watched only without a solution
    limit, which must keep runs reproducible), the process is killed and the last routes it
    reported count as its plan. After a stall, the search starts again with another seed for the
    time that is left (at least :data:`MIN_RESTART_SECONDS`, and at least what the stalled
    search needed for its first solution). A search still running past ``deadline`` is ended too
    (see :data:`LATE_SECONDS`); ``deadline`` is the end of the time limit less what this process
    needs afterwards (:func:`search_deadline`).

    With ``prebuild``, this process builds each search's model before forking it
    (:meth:`~optimizer.search.Task.prebuild`), and a killed search's routes become a plan from
    the times it reported (:func:`~optimizer.search.solve_from_routes`, no OR-Tools); a stop
    during that build, or the end of the task's time budget, ends the search with nothing found
    (the solve then returns the task's greedy plan)."""
    attempt = settings
    searched = Searched()
    while True:
        if prebuild:
            try:
                task.prebuild(attempt, stop)
            except SolveStoppedError:
                return searched
        watch = StallWatch(attempt, enabled=settings.solution_limit is None)

        def ready() -> bool:
            return task.greedy_now() is not None

        run = _run_child(task, attempt, deadline, stop, on_progress, watch, ready=ready)
        searched.keep(run, attempt)
        left = deadline - time.monotonic()
        # A restart that cannot reach its first solution in the time left (it needed
        # first_after before) would only make the solve late.
        needed = max(MIN_RESTART_SECONDS, run.first_after or 0.0)
        if not run.stalled or left < needed or cancelled(stop):
            return searched
        attempt = replace(attempt, seed=attempt.seed + RESTART_SEED_STEP)
        log.warning(
            "the search stalled (no solution for far longer than between its earlier ones, see "
            "stall_seconds); searching again with seed %d for the %.1f s left",
            attempt.seed,
            left,
        )


def solve_in_child(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> SearchResult:
    """One search in a forked process (see :func:`search_in_child`); the better of an ended
    search's result and the rebuilt plan of a killed one's last routes."""
    reported: float | None = None  # best objective reported to on_progress, across restarts

    def progress(p: Progress) -> None:
        nonlocal reported
        if on_progress is not None and (reported is None or p.objective < reported):
            reported = p.objective
            on_progress(p)

    deadline = search_deadline(task, settings)
    try:
        searched = search_in_child(task, settings, progress, stop, deadline, prebuild=True)
        return outcome(task, settings, searched, stop)
    finally:
        task.built.clear()  # the models built ahead and not used


def outcome(
    task: Task, settings: SolverSettings, searched: Searched, stop: threading.Event | None
) -> SearchResult:
    """The plan of what the searches of ``settings`` left: an ended search's result, or the
    rebuilt plan of the last routes a killed one reported; its solutions are those of every
    search (a stalled one and its restart alike)."""
    ahead = None
    if searched.killed is None and not searched.uses_result():
        ahead = task.greedy_now()
    if searched.uses_result():
        assert searched.result is not None
        result = searched.result
    elif ahead is not None:
        # Stopped or out of time before a first solution: the greedy plan made before.
        search.announce_greedy(task, ahead.routes)
        result = ahead
    elif searched.killed is None and not cancelled(stop):
        # Out of time before a first solution: the greedy plan, on the model built ahead.
        result = solve_greedy(task, settings, stop)
    elif searched.killed is None:
        result = solve_from_routes(task, settings, None, cancelled(stop))
    else:
        killed = searched.killed
        result = solve_from_routes(task, killed.settings, killed.last, cancelled(stop))
    return replace(result, stats=replace(result.stats, solutions=searched.solutions))
