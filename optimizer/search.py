"""One search in this process: build the model, search (with a warm start, a fallback when no
first solution is found, a stop), turn the best solution into routes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from optimizer.breaks import fit_breaks, placed_here
from optimizer.budget import Budget, model_fits, restore_seconds
from optimizer.diagnose import precheck
from optimizer.domain import Problem
from optimizer.errors import SolveStoppedError, StopCheck
from optimizer.extract import (
    ExtractionError,
    build_route,
    extract_routes,
    route_nodes,
    solution_cost,
)
from optimizer.greedy import greedy_plan
from optimizer.model import COST_SCALE, BreakSpec, NodeGraph, VanModel, build_model, node_graph
from optimizer.params import duration, model_search_parameters, without_ils
from optimizer.plan import Plan, Reason, Route, SolverStats, Unassigned
from optimizer.settings import SolverSettings
from optimizer.sizing import model_nodes

log = logging.getLogger(__name__)

Anchors = Mapping[str, tuple[str, int]]

STATUS = {
    0: "NOT_SOLVED",
    1: "SUCCESS",
    2: "PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED",
    3: "FAIL",
    4: "FAIL_TIMEOUT",
    5: "INVALID",
    6: "INFEASIBLE",
    7: "OPTIMAL",
}


@dataclass(frozen=True)
class Progress:
    """An improving solution found during the search."""

    objective: float  # euros, as the model sees it
    solutions: int  # solutions found so far (by the reporting worker)
    elapsed: float  # seconds since solve() started
    worker: int = 0


ProgressCallback = Callable[[Progress], None]


def _all_unperformed(model: VanModel) -> pywrapcp.Assignment:
    """Every vehicle goes straight from start to end; every visit is its own successor
    (unperformed). Built by hand: ``ReadAssignmentFromRoutes`` runs under the search limit,
    which a slow first-solution heuristic may have used up."""
    routing = model.routing
    assignment = routing.solver().Assignment()
    for index in range(routing.Size()):
        var = routing.NextVar(index)
        assignment.Add(var)
        assignment.SetValue(var, index)
    for k in range(model.vehicle_count):
        assignment.SetValue(routing.NextVar(routing.Start(k)), routing.End(k))
    return assignment


def _routes_any(model: VanModel, solution: pywrapcp.Assignment | None) -> bool:
    """Whether ``solution`` serves a visit at all."""
    routing = model.routing
    return solution is not None and any(
        not routing.IsEnd(solution.Value(routing.NextVar(routing.Start(k))))
        for k in range(model.vehicle_count)
    )


def cancelled(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


@dataclass(frozen=True)
class _Fallback:
    """What a fallback search needs: fresh models (with this solve's solution callback), the
    settings, search parameters without ILS, and the search's time limit and start."""

    new_model: Callable[[], VanModel]
    settings: SolverSettings
    plain: Any  # RoutingSearchParameters
    limit: float
    since: float
    first_solution: float  # seconds a first solution may take, see first_solution_seconds()

    def left(self) -> float:
        """Seconds left of the search's time limit (negative when it is over)."""
        return self.limit - (time.monotonic() - self.since)


def _from_nothing(
    model: VanModel, fallback: _Fallback
) -> tuple[VanModel, pywrapcp.Assignment] | None:
    """Search from the assignment with every visit unperformed (always feasible: every visit is
    droppable). Used when the first-solution heuristic failed and the greedy start routed
    nothing; OR-Tools then hands back that assignment without improving it (status
    PARTIAL_SUCCESS or FAIL, no solution callback). Returns the model searched and its best
    assignment.

    First with the configured parameters; when OR-Tools' LP/MIP scheduling filters then still
    reject every insertion (seen on models with breaks), once more without them, on a fresh
    model: OR-Tools builds its filters when the model is closed, so the parameter alone would
    not remove them from the model already searched."""
    settings, params = fallback.settings, fallback.plain
    routing = model.routing
    log.info(
        "first-solution strategy %s found nothing (status %s); searching from the "
        "all-unperformed assignment",
        settings.first_solution,
        STATUS.get(routing.status(), str(routing.status())),
    )
    best: tuple[VanModel, pywrapcp.Assignment] | None = None
    # The scheduling filters are on with lp_scheduling and with charge_waiting (which needs them).
    scheduled = settings.lp_scheduling or settings.charge_waiting
    attempts = [False, True] if scheduled else [False]
    # A heuristic that failed slowly may have used up the time: the fallback gets at least a
    # quarter of the time limit (solve() overruns time_limit here and in _without_ils).
    floor = 0.25 * fallback.limit
    for i, no_scheduling in enumerate(attempts):
        # Each attempt gets an equal share of what is left (at least its share of the floor):
        # a search slowed down by the scheduling filters must not starve the retry without them,
        # which is the one that finds routes when the filters blocked everything.
        share = fallback.left() / (len(attempts) - i)
        retry = type(params)()
        retry.CopyFrom(params)
        retry.time_limit.CopyFrom(duration(max(share, floor / len(attempts))))
        if no_scheduling:
            retry.disable_scheduling_beware_this_may_degrade_performance = True
            model = fallback.new_model()
            routing = model.routing
        found = routing.SolveFromAssignmentWithParameters(_all_unperformed(model), retry)
        if found is not None:
            best = model, found
            if any(
                not routing.IsEnd(found.Value(routing.NextVar(routing.Start(k))))
                for k in range(model.vehicle_count)
            ):
                break
    return best


# How long a first solution may take when a time limit shorter than this ended the search before
# it (savings on 1,000 visits: 3-40 s on this project's machines, with the fleet's size).
FIRST_SOLUTION_SECONDS = 30.0

FIRST_SOLUTION_SECONDS_PER_VISIT = 0.03
"""The first-solution budget grows with the visits (1,000 visits: the whole
:data:`FIRST_SOLUTION_SECONDS`), at least 1 s. On a few visits every heuristic ends within
milliseconds, so one that found nothing failed for the constraints (breaks or a ``max_work``
that leave no room), not for time, and waiting longer for it only delays the fallback."""


def first_solution_seconds(visits: int) -> float:
    """How long a first solution may take on ``visits`` modelled visits (see
    :data:`FIRST_SOLUTION_SECONDS_PER_VISIT`)."""
    return min(FIRST_SOLUTION_SECONDS, max(1.0, visits * FIRST_SOLUTION_SECONDS_PER_VISIT))


def _without_ils(fallback: _Fallback) -> tuple[VanModel, pywrapcp.Assignment] | None:
    """A plain search (first solution, then the settings' metaheuristic) on a fresh model, for
    when OR-Tools' ILS reported no solution: its time limit can end it inside the first-solution
    heuristic (seen on 400-1,000 visits with limits of 0.3-1.5 s), and it then hands back a
    partial assignment that drops most visits. With at least a quarter of ``settings.time_limit``
    left, the plain search gets what is left; with less, it only builds the first solution and
    may take up to :func:`first_solution_seconds` more for it (30 s on 1,000 visits, 1 s on a
    few): a slow heuristic makes the solve late, not a plan that drops most visits. Only tried
    when the time limit is shorter than that (a heuristic that did not finish in a longer limit
    will not in that much more: the greedy start follows at once). None when it found nothing."""
    settings, left = fallback.settings, fallback.left()
    log.info(
        "iterated local search reported no solution (%.2f s of the limit left); "
        "searching without it",
        max(left, 0.0),
    )
    retry = type(fallback.plain)()
    retry.CopyFrom(fallback.plain)
    if left >= 0.25 * settings.time_limit:
        retry.time_limit.CopyFrom(duration(left))
    else:
        retry.solution_limit = 1
        retry.time_limit.CopyFrom(duration(fallback.first_solution))
    model = fallback.new_model()
    found = model.routing.SolveWithParameters(retry)
    return (model, found) if found is not None else None


@dataclass
class _SearchState:
    solutions: int = 0
    best: int | None = None


@dataclass(frozen=True)
class SearchResult:
    """What one search leaves: the routes, the modelled visits it did not serve (their reasons
    come from the diagnosis), the visits left out of the model with their reasons, and its
    statistics."""

    routes: list[Route]
    dropped: list[str]
    excluded: dict[str, Unassigned]
    stats: SolverStats
    # A greedy plan cut short by a stop or the time limit (:func:`solve_greedy`): how many
    # visits it never placed (in ``excluded``, with that reason).
    cut: int = 0


@dataclass(frozen=True)
class RouteTimes:
    """One vehicle's route at a reported solution as :func:`~optimizer.extract.build_route`
    takes it: its visit nodes, their service starts, the vehicle's start and end times and the
    breaks the solver performs (start, spec)."""

    vehicle: int
    nodes: list[int]
    starts: list[int]
    start: int
    end: int
    breaks: list[tuple[int, BreakSpec]]


@dataclass(frozen=True)
class ReportedRoutes:
    """An improving solution as a search reports it to a parent that may have to end it: the
    objective in model units, the solutions found so far and the routes (routing indices per
    vehicle, without start and end) that :func:`solve_from_routes` turns back into a plan;
    ``times``, the solver's times of the non-empty routes, turn them into a plan without
    OR-Tools (None when the solver had not fixed every time)."""

    objective: int
    solutions: int
    elapsed: float  # seconds since the solve started
    routes: list[list[int]]
    times: tuple[RouteTimes, ...] | None = None


BestCallback = Callable[[ReportedRoutes], None]


def _current_routes(model: VanModel) -> list[list[int]]:
    """The visits of each vehicle at the solution being reported (inside a solution callback),
    as routing indices without the start and end."""
    routing = model.routing
    routes: list[list[int]] = []
    for k in range(model.vehicle_count):
        path: list[int] = []
        index = routing.NextVar(routing.Start(k)).Value()
        while not routing.IsEnd(index):
            path.append(index)
            index = routing.NextVar(index).Value()
        routes.append(path)
    return routes


def _current_times(model: VanModel, routes: list[list[int]]) -> tuple[RouteTimes, ...] | None:
    """The times of the non-empty ``routes`` at the solution being reported (inside a solution
    callback), or None when one of them is not fixed (read only when bound: reading an unbound
    variable's value aborts the process)."""
    routing, manager, time_dim = model.routing, model.manager, model.time
    out: list[RouteTimes] = []
    for k, path in enumerate(routes):
        if not path:
            continue
        cumuls = [time_dim.CumulVar(i) for i in (routing.Start(k), *path, routing.End(k))]
        if not all(c.Bound() for c in cumuls):
            return None
        placed: list[tuple[int, BreakSpec]] = []
        for iv, spec in model.breaks.get(k, []):
            if iv.MustBePerformed():
                if iv.StartMin() != iv.StartMax():
                    return None
                placed.append((iv.StartMin(), spec))
            elif iv.MayBePerformed():
                return None
        values = [c.Value() for c in cumuls]
        nodes = [manager.IndexToNode(i) for i in path]
        out.append(RouteTimes(k, nodes, values[1:-1], values[0], values[-1], placed))
    return tuple(out)


def routes_of_times(
    problem: Problem, graph: VanModel | NodeGraph, times: Sequence[RouteTimes]
) -> tuple[list[Route], list[str]]:
    """The plan's routes of reported ``times`` (:func:`~optimizer.extract.build_route`, no
    OR-Tools: restoring the routes into an assignment takes seconds on 1,000 visits) and the
    ids of the modelled visits they leave out. Raises
    :class:`~optimizer.extract.ExtractionError` when the times are inconsistent."""
    routes: list[Route] = []
    for t in times:
        route = build_route(
            problem, graph, t.vehicle, t.nodes, t.starts, t.start, t.end, list(t.breaks)
        )
        shift = graph.shifts[t.vehicle]
        if (
            not route.breaks
            and placed_here(shift, problem.break_rule)
            and route.working_time > problem.break_rule.after_first
        ):
            # A search without break intervals (statutory_breaks="placed"): place it here.
            fitted = fit_breaks(problem, shift, route)
            if fitted.route is None:
                continue
            route = fitted.route
        routes.append(route)
    served = {s.visit_id for r in routes for s in r.stops}
    return routes, [vid for vid in graph.visit_ids if vid not in served]


@dataclass(frozen=True)
class Task:
    """What every search of one ``solve()`` shares: the problem, the anchors of a re-plan, the
    plan to warm-start from, the visits diagnosed impossible (left out of the model) and when
    the solve started (``time.monotonic()``)."""

    problem: Problem
    anchors: Anchors | None = None
    initial: Plan | None = None
    excluded: Mapping[str, Unassigned] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)
    # The greedy plan made before any model (:meth:`with_greedy`), the plan of last resort.
    greedy: SearchResult | None = field(default=None, compare=False, repr=False)
    # The solve's time budget: a model build for a search is abandoned when it is over.
    budget: Budget | None = field(default=None, compare=False, repr=False)

    # Models built ahead (see :meth:`prebuild`), by settings; not part of the task's identity.
    built: dict[SolverSettings, VanModel] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        problem: Problem,
        stop: threading.Event | None = None,
        should_stop: StopCheck | None = None,
        **kwargs: Any,
    ) -> Task:
        """A task starting now whose excluded visits are diagnosed here (raises
        :class:`~optimizer.errors.SolveStoppedError` when ``stop`` is set meanwhile, or, when
        given, when ``should_stop`` says so: a :class:`~optimizer.budget.Grace`)."""
        t0 = time.monotonic()
        check = should_stop if should_stop is not None else (lambda: cancelled(stop))
        excluded = precheck(problem, should_stop=check)
        return cls(problem, excluded=dict(excluded), t0=t0, **kwargs)

    def model(
        self,
        settings: SolverSettings,
        stop: threading.Event | None = None,
        in_budget: bool = False,
    ) -> VanModel:
        """The routing model of this task (deterministic: a rebuild means the same indices).
        A model built ahead by :meth:`prebuild` is handed out once (a search adds its own
        callbacks to it); otherwise a new one is built, stopped by ``stop`` and, ``in_budget``,
        by the end of the task's time budget (:meth:`~optimizer.budget.Budget.build_by`; raises
        :class:`~optimizer.errors.SolveStoppedError`)."""
        ahead = self.built.pop(settings, None)
        if ahead is not None:
            return ahead
        budget = self.budget if in_budget else None
        by = budget.build_by() if budget is not None else None

        def should_stop() -> bool:
            return cancelled(stop) or (
                budget is not None and by is not None and budget.clock() > by
            )

        return build_model(
            self.problem,
            settings,
            anchors=self.anchors,
            excluded=self.excluded,
            should_stop=should_stop,
        )

    def with_greedy(
        self,
        settings: SolverSettings,
        stop: threading.Event | None,
        should_stop: StopCheck | None = None,
    ) -> Task:
        """This task with its greedy plan (:func:`solve_greedy` on the model's nodes, without
        the OR-Tools model), made now, until ``stop`` is set (or, when given, ``should_stop``
        says so: a :class:`~optimizer.budget.Grace`) or the time budget ends (then the routes
        built until then, ``cut``); raises :class:`~optimizer.errors.SolveStoppedError` when
        that comes before any route."""
        nodes = node_graph(self.problem, settings, self.excluded)
        found = solve_greedy(
            self, settings, stop, nodes, announce=False, budget=self.budget, should_stop=should_stop
        )
        if found.stats.status == "STOPPED":
            raise SolveStoppedError("stopped while the greedy plan was made")
        return replace(self, greedy=found)

    def greedy_now(self) -> SearchResult | None:
        """The greedy plan (with routes) as the result of now: its wall time updated."""
        if self.greedy is None or not self.greedy.routes:
            return None
        stats = replace(self.greedy.stats, wall_time=time.monotonic() - self.t0)
        return replace(self.greedy, stats=stats)

    def prebuild(self, settings: SolverSettings, stop: threading.Event | None = None) -> None:
        """Build the model of ``settings`` now, for the next :meth:`model` call. A forked search
        inherits it (its large matrices shared, not copied) and this process keeps its own
        untouched copy, on which the routes of a killed search are restored when their
        reported times cannot be used, without building the model a second time."""
        if settings not in self.built:
            self.built[settings] = self.model(settings, stop, in_budget=True)

    def not_searched(self, settings: SolverSettings, status: str) -> SearchResult:
        """The result of a search that ended before its first solution (stopped, or out of
        time): no routes, every visit the diagnosis kept dropped (reported as not planned)."""
        dropped = [v.id for v in self.problem.visits if v.id not in self.excluded]
        stats = SolverStats(
            status=status,
            objective=float("inf"),
            wall_time=time.monotonic() - self.t0,
            solutions=0,
            workers=1,
            strategy=f"{settings.first_solution}+{search_name(settings)}/seed {settings.seed}",
        )
        return SearchResult([], dropped, dict(self.excluded), stats)


def solve_one(
    task: Task,
    settings: SolverSettings,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    worker: int = 0,
    deadline: float | None = None,
    on_best: BestCallback | None = None,
    on_tick: Callable[[int], None] | None = None,
) -> SearchResult:
    """One search in this process. ``on_best`` hears of each improving solution with its routes
    (routing indices per vehicle), ``on_tick`` of every solution (its count), for a parent that
    may have to stop this process."""
    t0, initial = task.t0, task.initial
    state = _SearchState()
    models: list[VanModel] = []  # every model this search built, for the stop watcher

    def new_model(in_budget: bool = False) -> VanModel:
        """The model with this solve's solution callback (counts, progress, stop)."""
        built = task.model(settings, stop, in_budget)
        models.append(built)
        routing = built.routing

        def at_solution() -> None:
            state.solutions += 1
            if on_tick is not None:
                on_tick(state.solutions)
            cost = int(routing.CostVar().Value())
            if state.best is None or cost < state.best:
                state.best = cost
                if on_progress is not None:
                    on_progress(
                        Progress(cost / COST_SCALE, state.solutions, time.monotonic() - t0, worker)
                    )
                if on_best is not None:
                    elapsed = time.monotonic() - t0
                    paths = _current_routes(built)
                    times = _current_times(built, paths)
                    on_best(ReportedRoutes(cost, state.solutions, elapsed, paths, times))
            if stop is not None and stop.is_set():
                routing.CancelSearch()

        routing.AddAtSolutionCallback(at_solution)
        return built

    try:
        model = new_model(in_budget=True)
    except SolveStoppedError:
        log.info("stopped (or out of time) while the model was built")
        return task.not_searched(settings, "STOPPED" if cancelled(stop) else "NO_SOLUTION")
    routing = model.routing
    # The time limit counts from the start of the solve: the diagnosis and the model build
    # (seconds on thousands of visits) use it up too.
    if deadline is None:
        deadline = t0 + settings.time_limit
    limit = max(deadline - time.monotonic(), 0.01)
    params = model_search_parameters(model, settings, limit)
    t_search = time.monotonic()

    watcher: threading.Thread | None = None
    done = threading.Event()
    if stop is not None:

        def watch() -> None:
            while not done.is_set():
                if stop.wait(0.05):
                    # Every model of this search: a fallback searches a fresh one.
                    for built in models:
                        built.routing.CancelSearch()
                    return

        watcher = threading.Thread(target=watch, name="vanplan-stop-watcher", daemon=True)
        watcher.start()
    try:
        solution = None
        if initial is not None:
            start = warm_start(model, initial)
            if start is not None:
                # OR-Tools' ILS has no entry point taking a first solution: a warm start
                # searches with the metaheuristic.
                solution = routing.SolveFromAssignmentWithParameters(
                    start, without_ils(params, settings)
                )
        if solution is None:
            if settings.iterated_local_search:
                solution = routing.SolveWithIteratedLocalSearch(params)
            else:
                solution = routing.SolveWithParameters(params)
        budget = first_solution_seconds(len(model.visit_ids))
        fallback = _Fallback(
            new_model, settings, without_ils(params, settings), limit, t_search, budget
        )
        try:
            greedy = None
            if (
                state.solutions == 0
                and settings.iterated_local_search
                and limit < budget
                and not cancelled(stop)
            ):
                plain = _without_ils(fallback)
                if plain is not None:
                    model, solution = plain
                    routing = model.routing
            # A heuristic that failed fast (OR-Tools' scheduling filters on models with breaks)
            # leaves time for a search from nothing; one that ran out of time gets the greedy
            # plan, as does a search from nothing that routed nothing.
            lost = state.solutions == 0  # no heuristic found a first solution
            if lost and not cancelled(stop) and fallback.left() >= 0.25 * limit:
                found = _from_nothing(model, fallback)
                if found is not None:
                    model, solution = found
                    routing = model.routing
            if lost and not _routes_any(model, solution) and not cancelled(stop):
                greedy = task.greedy_now()
                if greedy is not None:
                    announce_greedy(task, greedy.routes)
                else:
                    greedy = solve_greedy(task, settings, stop, model)
                if not greedy.routes:
                    greedy = None
        except SolveStoppedError:  # stopped while a fallback built its model
            log.info("stopped while a fallback search was prepared")
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    status = STATUS.get(routing.status(), str(routing.status()))
    if settings.iterated_local_search and solution is not None and routing.status() == 0:
        status = "SUCCESS"  # OR-Tools' ILS returns its best solution without setting a status
    if greedy is not None:
        return greedy
    searched = time.monotonic() - t_search
    if (
        settings.solution_limit is not None
        and state.solutions < settings.solution_limit
        and searched >= 0.95 * limit
        and not cancelled(stop)
    ):
        log.warning(
            "the time limit (%.1f s) ended a run with solution_limit=%d after %d solutions: "
            "the plan depends on machine speed; raise time_limit for a reproducible run",
            limit,
            settings.solution_limit,
            state.solutions,
        )
    if solution is None:
        # Only when cancelled before the first solution: every modelled visit is dropped.
        log.warning("no solution (status %s); every modelled visit is reported unassigned", status)
    routes, dropped, objective = plan_of(model, solution)
    stats = SolverStats(
        status=status,
        objective=objective,
        wall_time=time.monotonic() - t0,
        solutions=state.solutions,
        workers=1,
        strategy=f"{settings.first_solution}+{search_name(settings)}/seed {settings.seed}",
        engine="ortools",
    )
    log.info(
        "solved: status %s, objective %.3f, %d routes, %d dropped, %d solutions, %.2f s",
        status,
        objective,
        len(routes),
        len(dropped),
        stats.solutions,
        stats.wall_time,
    )
    return SearchResult(routes, dropped, dict(model.excluded), stats)


def solve_from_routes(
    task: Task,
    settings: SolverSettings,
    last: ReportedRoutes | None,
    stopped: bool,
) -> SearchResult:
    """The plan of the routes an ended search process reported last. Without routes (ended
    before its first solution) every modelled visit is dropped. With the solver's times
    (:attr:`ReportedRoutes.times`) the plan is built from them directly (milliseconds), unless
    a search from the routes follows (a cost of waiting, not stopped); otherwise, or when those
    times turn out inconsistent, on the same model rebuilt here (``build_model`` is
    deterministic, so the routing indices mean the same visits): the routes are read into an
    assignment, whose times the solver completes as it restores it (seconds on 1,000 visits).
    The status is ``STOPPED`` when a stop ended the search, else ``SUCCESS`` (a stalled or
    overdue search's routes)."""
    if last is None:
        # Nothing to rebuild: no model (seconds on thousands of visits) for a plan without
        # routes.
        log.warning("stopped before a first solution; every modelled visit is reported unassigned")
        return task.not_searched(settings, "STOPPED" if stopped else "NO_SOLUTION")
    # A search from the routes (only with a cost of waiting, not after a stop) restores them
    # first: only when that fits in what is left of the time limit, or without times.
    left = task.t0 + settings.time_limit - time.monotonic()
    searched_on = (
        settings.charge_waiting
        and not stopped
        and (last.times is None or left >= restore_seconds(len(task.problem.visits)))
    )
    planned: tuple[list[Route], list[str], float] | None = None
    excluded: dict[str, Unassigned] = dict(task.excluded)
    if last.times is not None and not searched_on:
        graph: VanModel | NodeGraph = task.built.get(settings) or node_graph(
            task.problem, settings, task.excluded
        )
        try:
            routes, dropped = routes_of_times(task.problem, graph, last.times)
            planned = routes, dropped, last.objective / COST_SCALE
            excluded = dict(graph.excluded)
        except ExtractionError as exc:
            log.warning("the reported times are inconsistent (%s); restoring the routes", exc)
    if planned is None:
        model = task.model(settings)
        excluded = dict(model.excluded)
        planned = plan_of(model, _restored(model, settings, last, searched_on, left))
    routes, dropped, objective = planned
    stats = SolverStats(
        status="STOPPED" if stopped else "SUCCESS",
        objective=objective,
        wall_time=time.monotonic() - task.t0,
        solutions=last.solutions,
        workers=1,
        strategy=f"{settings.first_solution}+{search_name(settings)}/seed {settings.seed}",
        engine="ortools",
    )
    log.info(
        "stopped: objective %.3f (reported %.3f), %d routes, %d dropped, %.2f s",
        objective,
        last.objective / COST_SCALE,
        len(routes),
        len(dropped),
        stats.wall_time,
    )
    return SearchResult(routes, dropped, excluded, stats)


def _restored(
    model: VanModel, settings: SolverSettings, last: ReportedRoutes, search_on: bool, left: float
) -> pywrapcp.Assignment | None:
    """``last``'s routes read into an assignment of ``model`` (the solver completes its times),
    and with ``search_on`` improved by a short search from it in the ``left`` seconds (at
    least one)."""
    routing = model.routing
    start = routing.ReadAssignmentFromRoutes(last.routes, True)
    if start is None or not search_on:
        if start is None:
            log.warning("the reported routes could not be restored; every visit is unassigned")
        return start
    # The read assignment is complete (times and breaks). Its times change the objective only
    # with a cost of waiting: only then, and not after a stop, is a search from it worth its
    # time (1-2 s on 1,000 visits). It may fail to restore the assignment on models with
    # breaks (seen on 1,000 visits): then it stands.
    params = without_ils(model_search_parameters(model, settings), settings)
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    params.solution_limit = 1
    params.time_limit.CopyFrom(duration(max(left, 1.0)))
    return routing.SolveFromAssignmentWithParameters(start, params) or start


def solve_greedy(
    task: Task,
    settings: SolverSettings,
    stop: threading.Event | None = None,
    model: VanModel | NodeGraph | None = None,
    announce: bool = True,
    budget: Budget | None = None,
    should_stop: StopCheck | None = None,
) -> SearchResult:
    """The plan of :func:`optimizer.greedy.greedy_plan` (status ``GREEDY``) on ``model`` (the
    task's, built when None), for a search that ended (out of time) before its first solution:
    built in Python, without OR-Tools (whose completion of given routes takes seconds on
    thousands of visits, and fails on models with breaks when its scheduling filters are off).
    Stopped meanwhile, or past ``budget``'s :meth:`~optimizer.budget.Budget.build_by` (the
    time limit and :data:`~optimizer.budget.BUILD_GRACE`): the routes built until then,
    the visits never placed reported with :func:`never_placed` (``cut``); stopped before any
    route, status ``STOPPED``. ``announce=False`` leaves the warning to the caller (a greedy
    plan made ahead, in case the search finds none). ``should_stop``, when given, is asked in
    place of ``stop`` (a :class:`~optimizer.budget.Grace`)."""

    by = budget.build_by() if budget is not None else None

    def stopped() -> bool:
        return should_stop() if should_stop is not None else cancelled(stop)

    def past_budget() -> bool:
        return stopped() or (by is not None and budget is not None and budget.clock() > by)

    try:
        model = model if model is not None else task.model(settings, stop)
    except SolveStoppedError:
        return task.not_searched(settings, "STOPPED")
    found = greedy_plan(model, should_stop=past_budget)
    if found.stopped and not found.routes:
        return task.not_searched(settings, "STOPPED")
    if announce:
        announce_greedy(task, found.routes)
    stats = SolverStats(
        status="GREEDY",
        objective=plan_objective(task, found.routes, found.dropped),
        wall_time=time.monotonic() - task.t0,
        solutions=1,
        workers=1,
        strategy=f"greedy/seed {settings.seed}" + (" (cut short)" if found.stopped else ""),
        engine="greedy",
    )
    excluded = dict(model.excluded)
    if not found.stopped:
        return SearchResult(found.routes, found.dropped, excluded, stats)
    # Visits the construction never got to: their reason is that, not a diagnosis of why
    # they do not fit (which takes minutes on thousands of visits).
    excluded.update((u.visit_id, u) for u in never_placed(task.problem, found.dropped))
    return SearchResult(found.routes, [], excluded, stats, cut=len(found.dropped))


def never_placed(problem: Problem, visit_ids: Sequence[str]) -> list[Unassigned]:
    """The reasons of visits a greedy plan cut short (stopped, or out of time) never placed."""
    return [
        Unassigned(
            vid,
            Reason.NOT_PLANNED,
            f"Visit {vid}: the quick greedy plan was stopped (or ran out of time) before it "
            f"placed this visit ({len(problem.visits)} visits, {len(problem.shifts)} "
            "van-days).",
        )
        for vid in visit_ids
    ]


def announce_greedy(task: Task, routes: Sequence[Route]) -> None:
    """Log that the plan is a greedy one (no solution within the time limit)."""
    log.warning(
        "no solution within the time limit; a greedy plan serves %d of %d visits",
        sum(len(r.stops) for r in routes),
        len(task.problem.visits),
    )


def plan_objective(task: Task, routes: list[Route], dropped: list[str]) -> float:
    """What the model's objective would be for a plan (euros): travel, fixed costs,
    continuity and moved visits, penalties of the modelled visits left out."""
    problem, anchors = task.problem, task.anchors or {}
    obj = problem.objective
    vans = {v.id: v for v in problem.vans}
    total = 0.0
    for r in routes:
        van = vans[r.van_id]
        total += r.distance * van.cost_per_km / 1000 + r.drive_time * van.cost_per_hour / 3600
        total += van.fixed_cost_per_day
        for stop in r.stops:
            visit = problem.visit(stop.visit_id)
            if visit.preferred_van is not None and visit.preferred_van != r.van_id:
                total += obj.continuity_cost
            anchor = anchors.get(stop.visit_id)
            if anchor is not None and tuple(anchor) != (r.van_id, r.day):
                total += obj.moved_visit_cost
    for vid in dropped:
        total += obj.penalty(problem.visit(vid).priority)
        if vid in anchors:
            total += obj.moved_visit_cost
    return total


def plan_of(
    model: VanModel, solution: pywrapcp.Assignment | None
) -> tuple[list[Route], list[str], float]:
    """Routes, dropped visit ids and objective of a solution; without one, no routes and every
    modelled visit dropped."""
    if solution is None:
        return [], model.visit_ids, float("inf")
    routes, dropped = extract_routes(model, solution)
    objective = solution.ObjectiveValue()
    served = {model.visits[n].id for nodes in route_nodes(model, solution) for n in nodes}
    if {s.visit_id for r in routes for s in r.stops} != served:
        # The break placement changed the routes (optimizer.breaks): the plan's own cost.
        objective = solution_cost(model, routes, dropped)
        log.info(
            "break placement: objective %.3f -> %.3f",
            solution.ObjectiveValue() / COST_SCALE,
            objective / COST_SCALE,
        )
    return routes, dropped, objective / COST_SCALE


def search_name(settings: SolverSettings) -> str:
    if not settings.iterated_local_search:
        return settings.metaheuristic
    return f"ILS({settings.ruin} {settings.ruin_visits}, {settings.acceptance})"


def warm_start(model: VanModel, initial: Plan) -> pywrapcp.Assignment | None:
    """Initial routes restricted to what the model still allows; None when it is unusable."""
    routing = model.routing
    routes: list[list[int]] = [[] for _ in range(model.vehicle_count)]
    used: set[str] = set()
    for r in initial.routes:
        k = model.vehicle_of(r.van_id, r.day)
        if k is None:
            continue
        for stop in r.stops:
            if stop.visit_id in used:
                continue
            # The node of the window the stop was served in (any window on this vehicle if
            # the time no longer fits one).
            indices = [
                model.manager.NodeToIndex(n)
                for n in model.nodes_of_visit(stop.visit_id)
                if routing.VehicleVar(model.manager.NodeToIndex(n)).Contains(k)
            ]
            if not indices:
                continue
            fitting = [i for i in indices if model.time.CumulVar(i).Contains(stop.start)]
            routes[k].append((fitting or indices)[0])
            used.add(stop.visit_id)
    if not used:
        return None
    assignment = routing.ReadAssignmentFromRoutes(routes, True)
    if assignment is None:
        log.info("warm start rejected by the model; solving from scratch")
    return assignment


PLACED_SEARCH_SHARE = 0.7
"""With statutory breaks placed after the search (``SolverSettings.statutory_breaks``), the
search's share of the time limit; OR-Tools' model with break intervals polishes its plan for
the rest (:func:`polish_with_breaks`)."""

MIN_BREAK_POLISH_SECONDS = 0.3
"""The polish with break intervals runs only when at least this much time is left."""


def places_breaks(problem: Problem, settings: SolverSettings) -> bool:
    """Whether a solve places statutory breaks after its search (some shift needs one and
    ``settings.statutory_breaks`` is ``"placed"``)."""
    rule = problem.break_rule
    return settings.statutory_breaks == "placed" and any(
        placed_here(s, rule) for s in problem.shifts
    )


def polish_with_breaks(
    task: Task,
    settings: SolverSettings,
    result: SearchResult,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    deadline: float,
) -> SearchResult:
    """The plan of a search without break intervals (its breaks placed afterwards), polished
    by OR-Tools' model with them (``statutory_breaks="modelled"``) until ``deadline``: warm
    started from its routes, with ``settings.metaheuristic`` (cancellable). There the search
    sees the breaks exactly: a visit a break placement left out can go where the break leaves
    room, and a route may use the whole shift when its break lies in waiting time. The better
    plan by the model's objective wins (ties: the placed one)."""
    left = deadline - time.monotonic()
    if not result.routes or cancelled(stop) or left < MIN_BREAK_POLISH_SECONDS:
        return result
    nodes = model_nodes([len(v.windows) for v in task.problem.visits])
    if not model_fits(nodes, left):
        log.info("OR-Tools' model of %d nodes does not fit in the polish with breaks", nodes)
        return result
    exact = replace(settings, statutory_breaks="modelled", iterated_local_search=False)
    initial = Plan(tuple(result.routes), (), result.stats)
    warm = replace(task, initial=initial)
    polished = solve_one(warm, exact, on_progress, stop, deadline=deadline)
    log.info(
        "polish with break intervals: objective %.3f -> %.3f",
        result.stats.objective,
        polished.stats.objective,
    )
    if polished.stats.objective >= result.stats.objective:
        return result
    stats = replace(
        polished.stats,
        solutions=result.stats.solutions + polished.stats.solutions,
        strategy=f"{result.stats.strategy} + breaks: {polished.stats.strategy}",
        engine=result.stats.engine,
    )
    return replace(polished, stats=stats)
