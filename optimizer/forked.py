"""Searches in forked processes, which can be ended at any time: OR-Tools (9.15) cannot cancel
its iterated local search. A process reports the routes of every improving solution and signs
of life; the parent kills it on stop or when it stalls, and rebuilds the plan of the last routes
it reported."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from ortools.constraint_solver import routing_enums_pb2

from optimizer import search
from optimizer.model import COST_SCALE
from optimizer.params import duration, model_search_parameters, without_ils
from optimizer.plan import SolverStats
from optimizer.search import (
    Progress,
    ProgressCallback,
    Result,
    Task,
    cancelled,
    plan_of,
    search_name,
)
from optimizer.settings import SolverSettings

log = logging.getLogger(__name__)


def can_fork_search() -> bool:
    """Whether a search may fork a process of its own: not from a daemonic process (which may
    not have children) and only where ``fork`` exists (it shares the loaded modules and the
    model's inputs without pickling them)."""
    return not mp.current_process().daemon and "fork" in mp.get_all_start_methods()


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this process when its parent dies (a killed solver
    process must not leave its search running to the time limit). Strictly, when the thread
    that forked it ends: that thread waits for the child in :func:`_run_child`."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not available: the pipe check in the callback remains
        log.debug("PR_SET_PDEATHSIG not available")


def _search_child(task: Task, settings: SolverSettings, deadline: float, sender: Any) -> None:
    """Body of a forked search process: report each improving solution's routes, then the
    result. The parent may kill it at any time; it then keeps the last routes it received."""
    _die_with_parent()
    last_sent = [time.monotonic()]
    last_solution: list[float] = []
    longest = [0.0]  # the longest time between two solutions so far

    def send(message: tuple[str, Any]) -> None:
        try:
            sender.send(message)
        except OSError:  # the parent is gone: nobody wants the rest of this search
            os._exit(0)
        last_sent[0] = time.monotonic()

    def best(cost: int, solutions: int, routes: list[list[int]]) -> None:
        send(("best", (cost, solutions, time.monotonic() - task.t0, routes)))

    def tick(solutions: int) -> None:
        # A sign of life for the parent's stall watch, a few times a second at most.
        now = time.monotonic()
        if last_solution:
            longest[0] = max(longest[0], now - last_solution[0])
        last_solution[:] = [now]
        if now - last_sent[0] >= _TICK_SECONDS:
            send(("tick", (solutions, longest[0])))

    try:
        result = search.solve_one(task, settings, deadline=deadline, on_best=best, on_tick=tick)
        sender.send(("done", result))
    except Exception as exc:  # reported to the parent, which raises it
        sender.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()


_TICK_SECONDS = 0.2
_FORK_LOCK = threading.Lock()
_Snapshot = tuple[int, int, float, list[list[int]]]  # objective, solutions, elapsed, routes


def stall_seconds(settings: SolverSettings, longest_gap: float = 0.0) -> float:
    """How long a forked ILS may go without any solution before it counts as stalled: OR-Tools'
    search can hang in one local-search step (with break intervals, a move its filters accept
    can make the CP completion search for the rest of the time limit), while a healthy search
    reports solutions many times a second (on the sample weeks at most 0.04 s apart, stalls from
    1.6 s to the rest of the run; benchmarks/RESULTS.md). At least 1 s and 5 % of the time
    limit, and 25 times the longest time between two solutions the search has shown so far,
    for large problems whose steps are slow."""
    return max(1.0, 0.05 * settings.time_limit, 25.0 * longest_gap)


@dataclass
class Searched:
    """What forked searches of one configuration left: the best result of a search that ended,
    and the best routes reported by one that was killed (stopped or stalled), with its settings."""

    result: Result | None = None
    snapshot: tuple[SolverSettings, _Snapshot] | None = None
    solutions: int = 0  # found by all of them

    @property
    def objective(self) -> float:
        """The better of the two, in plan units (infinite when neither exists)."""
        done = self.result[3].objective if self.result is not None else float("inf")
        snap = self.snapshot[1][0] / COST_SCALE if self.snapshot is not None else float("inf")
        return min(done, snap)

    def keep(self, result: Result | None, snapshot: _Snapshot | None, cfg: SolverSettings) -> None:
        if result is not None:
            self.solutions += result[3].solutions
        elif snapshot is not None:
            self.solutions += snapshot[1]
        if result is not None and (
            self.result is None or result[3].objective < self.result[3].objective
        ):
            self.result = result
        if snapshot is not None and (self.snapshot is None or snapshot[0] < self.snapshot[1][0]):
            self.snapshot = (cfg, snapshot)

    def uses_result(self) -> bool:
        """Whether the ended search's result is the better (ties go to it: no rebuild)."""
        return self.result is not None and (
            self.snapshot is None or self.result[3].objective <= self.snapshot[1][0] / COST_SCALE
        )


def search_in_child(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback,
    stop: threading.Event | None,
    deadline: float,
) -> Searched:
    """A search in a forked process, which can be ended at any time (OR-Tools cannot cancel its
    ILS). The process reports every improving solution's routes. Unstopped, its own result
    counts (the same plan as a search in this process). When ``stop`` is set, or when the
    search stalls (no solution for :func:`stall_seconds`; watched only without a solution
    limit, which must keep runs reproducible), the process is killed and the last routes it
    reported count as its plan. After a stall, the search starts again with another seed for
    the time that is left (at least 2 s)."""
    watch = settings.solution_limit is None
    attempt = settings
    searched = Searched()
    while True:
        result, last, stalled = _run_child(task, attempt, deadline, stop, on_progress, watch)
        searched.keep(result, last, attempt)
        left = deadline - time.monotonic()
        if not stalled or left < 2.0 or cancelled(stop):
            return searched
        attempt = replace(attempt, seed=attempt.seed + 7919)
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
) -> Result:
    """One search in a forked process (see :func:`search_in_child`); the better of an ended
    search's result and the rebuilt plan of a killed one's last routes."""
    reported: list[float] = []  # best objective reported to on_progress, across restarts

    def progress(p: Progress) -> None:
        if on_progress is not None and (not reported or p.objective < reported[0]):
            reported[:] = [p.objective]
            on_progress(p)

    searched = search_in_child(task, settings, progress, stop, task.t0 + settings.time_limit)
    return outcome(task, settings, searched, stop)


def outcome(
    task: Task, settings: SolverSettings, searched: Searched, stop: threading.Event | None
) -> Result:
    """The plan of what the searches of ``settings`` left: an ended search's result, or the
    rebuilt plan of the last routes a killed one reported; its solutions are those of every
    search (a stalled one and its restart alike)."""
    if searched.uses_result():
        assert searched.result is not None
        result = searched.result
    elif searched.snapshot is None:
        result = _rebuild(task, settings, None, stop)
    else:
        cfg, last = searched.snapshot
        result = _rebuild(task, cfg, last, stop)
    routes, dropped, excluded, stats = result
    return routes, dropped, excluded, replace(stats, solutions=searched.solutions)


def _run_child(
    task: Task,
    settings: SolverSettings,
    deadline: float,
    stop: threading.Event | None,
    on_progress: ProgressCallback,
    watch: bool,
) -> tuple[Result | None, _Snapshot | None, bool]:
    """One forked search until it ends, ``stop`` is set or (with ``watch``) it stalls:
    (its result if it ended, the last routes it reported, whether it stalled)."""
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    with _FORK_LOCK:  # portfolio threads fork one at a time
        child = ctx.Process(
            target=_search_child,
            args=(task, settings, deadline, sender),
            name="vanplan-search",
            daemon=True,
        )
        child.start()
    sender.close()  # the child holds the writing end
    last: _Snapshot | None = None
    result: Result | None = None
    error: str | None = None
    stalled = False
    heard: float | None = None  # when the child last reported (after its first solution)
    limit = stall_seconds(settings)
    try:
        while not cancelled(stop):
            # Another fork may hold a copy of the writing end, so EOF alone cannot tell that the
            # child has ended: its liveness is checked too.
            if not receiver.poll(0.05) and (child.is_alive() or not receiver.poll(0)):
                if not child.is_alive():
                    break
                if watch and heard is not None and time.monotonic() - heard > limit:
                    stalled = time.monotonic() < deadline - 0.1
                    break
                continue
            try:
                kind, payload = receiver.recv()
            except EOFError:
                break
            heard = time.monotonic()
            if kind == "tick":
                limit = stall_seconds(settings, payload[1])
                if last is not None:  # the solutions found so far, for the stopped plan's stats
                    last = (last[0], payload[0], last[2], last[3])
            elif kind == "best":
                last = payload
                on_progress(Progress(payload[0] / COST_SCALE, payload[1], payload[2], 0))
            elif kind == "done":
                result = payload
                break
            elif kind == "error":
                error = payload
                break
    finally:
        if child.is_alive() and result is None:
            child.kill()
        child.join()
        receiver.close()
    if error is not None:
        raise RuntimeError(f"search process failed: {error}")
    if result is None and not stalled and not cancelled(stop) and time.monotonic() < deadline:
        log.warning(
            "the search process ended without a result (exit code %s); "
            "keeping the last routes it reported",
            child.exitcode,
        )
    return result, last, stalled


def _rebuild(
    task: Task, settings: SolverSettings, last: _Snapshot | None, stop: threading.Event | None
) -> Result:
    """The plan of routes reported by a stopped ILS process, on the same model rebuilt here
    (``build_model`` is deterministic, so the routing indices mean the same visits): the routes
    are read into an assignment, whose times the solver completes as its first solution."""
    model = task.model(settings)
    routing = model.routing
    solution = None
    if last is not None:
        params = without_ils(model_search_parameters(model, settings), settings)
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        )
        params.solution_limit = 1
        params.time_limit.CopyFrom(duration(max(settings.time_limit, 5.0)))
        start = routing.ReadAssignmentFromRoutes(last[3], True)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        log.warning("stopped before a first solution; every modelled visit is reported unassigned")
    routes, dropped, objective = plan_of(model, solution)
    stats = SolverStats(
        # Not stopped: the routes of a search that stalled and was ended.
        status="STOPPED" if cancelled(stop) else "SUCCESS",
        objective=objective,
        wall_time=time.monotonic() - task.t0,
        solutions=last[1] if last is not None else 0,
        workers=1,
        strategy=f"{settings.first_solution}+{search_name(settings)}/seed {settings.seed}",
    )
    log.info(
        "stopped: objective %.3f (reported %.3f), %d routes, %d dropped, %.2f s",
        objective,
        last[0] / COST_SCALE if last is not None else float("inf"),
        len(routes),
        len(dropped),
        stats.wall_time,
    )
    return routes, dropped, dict(model.excluded), stats
