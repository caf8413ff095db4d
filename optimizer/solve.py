"""Solve a :class:`~optimizer.domain.Problem`: diagnose, build the model, search, extract.

``solve()`` never fails for lack of a solution: every visit is droppable (must visits with a huge
penalty), and visits that cannot be served at all are excluded up front and reported with a reason.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from google.protobuf.duration_pb2 import Duration
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_ils_pb2
from ortools.util import optional_boolean_pb2

from optimizer.diagnose import explain_unassigned, precheck
from optimizer.domain import UNREACHABLE, Problem
from optimizer.extract import extract_routes
from optimizer.model import COST_SCALE, VanModel, build_model, fallback_reason
from optimizer.plan import Plan, Route, SolverStats, Unassigned
from optimizer.settings import SolverSettings

log = logging.getLogger(__name__)

Anchors = Mapping[str, tuple[str, int]]

_STATUS = {
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


def search_parameters(
    settings: SolverSettings, time_limit: float | None = None
) -> Any:  # RoutingSearchParameters (protobuf message)
    """OR-Tools search parameters for ``settings`` (``time_limit`` overrides the settings')."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
        settings.first_solution
    )
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.Value.Value(
        settings.metaheuristic
    )
    limit = settings.time_limit if time_limit is None else time_limit
    params.time_limit.CopyFrom(_duration(limit))
    params.lns_time_limit.CopyFrom(_duration(settings.lns_time_limit))
    if settings.solution_limit is not None:
        params.solution_limit = settings.solution_limit
    params.guided_local_search_lambda_coefficient = settings.guided_local_search_lambda
    params.log_search = settings.log_search
    params.use_multi_armed_bandit_concatenate_operators = settings.operator_bandit
    params.use_guided_local_search_penalties_in_local_search_operators = (
        settings.gls_penalties_in_operators
    )
    if settings.iterated_local_search:
        _set_ils(params, settings)
    if not settings.lp_scheduling and not settings.charge_waiting:
        # OR-Tools' LP/MIP cumul scheduling filters (9.15) are not reproducible run to run once
        # break intervals are present; the CP propagation alone still enforces every time
        # constraint. Slack costs (charge_waiting) need the scheduler.
        params.disable_scheduling_beware_this_may_degrade_performance = True
    return params


_ILS_OFF_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
)


# Operators that move visits out of the routes in chains or work on visits already left out.
# When every visit is mandatory (a must penalty no plan pays willingly) their moves are
# rejected or have nothing to act on; ILS still re-inserts left-out visits by its recreate
# step and the plain make-active operator. Switching them off there gives 12-20 % more
# iterations on Solomon (benchmarks/RESULTS.md). Not with window alternatives: there some node
# of a served visit is always left out, and swapping it in moves the visit to another window.
_OPTIONAL_VISIT_OPERATORS = (
    "use_make_chain_inactive",
    "use_swap_active_chain",
    "use_shortest_path_swap_active",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
)


def recreate_heuristic(settings: SolverSettings, *, window_alternatives: bool) -> str:
    """The ILS recreate heuristic: ``settings.recreate``, with ``AUTO`` resolved. Local cheapest
    insertion inserts a visit's first window node that fits; parallel cheapest insertion compares
    all of them, so it is the choice when the model has window nodes."""
    if settings.recreate != "AUTO":
        return settings.recreate
    return "PARALLEL_CHEAPEST_INSERTION" if window_alternatives else "LOCAL_CHEAPEST_INSERTION"


def _set_ils(params: Any, settings: SolverSettings) -> None:
    """Iterated local search with one ruin-and-recreate perturbation (routing_ils.proto). The
    local search of each iteration is a greedy descent: a metaheuristic there would never
    return to the perturbation step."""
    params.use_iterated_local_search = True
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    # Ruin and recreate is the large move; the slow insertion-LNS operators would make each
    # iteration's descent ~10x slower (measured on Solomon: ~400 instead of ~3,000 solutions in
    # 10 s, and worse plans). Re-inserting unperformed visits stays on.
    ops = params.local_search_operators
    for name in _ILS_OFF_OPERATORS:
        setattr(ops, name, optional_boolean_pb2.BOOL_FALSE)
    ils = params.iterated_local_search_parameters
    ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
    ils.improve_perturbed_solution = True
    rr = ils.ruin_recreate_parameters
    del rr.ruin_strategies[:]
    ruin = rr.ruin_strategies.add()
    if settings.ruin == "SISR":
        ruin.sisr.avg_num_removed_visits = settings.ruin_visits
        ruin.sisr.max_removed_sequence_size = settings.ruin_sequence
        ruin.sisr.bypass_factor = 0.01  # the paper's alpha
    elif settings.ruin == "RANDOM_WALK":
        ruin.random_walk.num_removed_visits = settings.ruin_visits
    else:
        ruin.spatially_close_routes.num_ruined_routes = max(1, settings.ruin_visits // 5)
    rr.ruin_composition_strategy = routing_ils_pb2.RuinCompositionStrategy.RUN_ALL_SEQUENTIALLY
    rr.recreate_strategy.heuristic = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
        recreate_heuristic(settings, window_alternatives=False)
    )
    rr.recreate_strategy.ClearField("parameters")
    accept = ils.reference_solution_acceptance_strategy
    accept.Clear()
    if settings.acceptance == "SIMULATED_ANNEALING":
        sa = accept.simulated_annealing
        sa.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.EXPONENTIAL
        # Without a model: OR-Tools derives them from a random sample of arcs;
        # model_search_parameters replaces them with the model's own.
        sa.automatic_temperatures = True
    else:
        accept.greedy_descent.SetInParent()
    ils.best_solution_acceptance_strategy.Clear()
    ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()


def annealing_temperatures(model: VanModel) -> tuple[float, float]:
    """Initial and final simulated-annealing temperatures for ILS: 0.1 and 0.001 times the mean
    travel cost of an arc between the model's places, OR-Tools' own rule, but over every arc
    rather than a random sample, averaged over the vehicles' cost rates, and without the pairs
    that are unreachable (their forbidden-arc cost would make the annealing accept anything)."""
    matrix = model.problem.matrix
    index = np.array([matrix.index(loc) for loc in dict.fromkeys(model.node_location)])
    dur = matrix.durations[np.ix_(index, index)].astype(np.float64)
    dist = matrix.distances[np.ix_(index, index)].astype(np.float64)
    ok = (matrix.durations[np.ix_(index, index)] != UNREACHABLE) & (
        matrix.distances[np.ix_(index, index)] != UNREACHABLE
    )
    np.fill_diagonal(ok, False)
    if not ok.any():
        return 1.0, 0.01
    vans = {v.id: v for v in model.problem.vans}
    per_km = np.mean([vans[s.van_id].cost_per_km for s in model.shifts])
    per_hour = np.mean([vans[s.van_id].cost_per_hour for s in model.shifts])
    cost = dist[ok] * (per_km * COST_SCALE / 1000.0) + dur[ok] * (per_hour * COST_SCALE / 3600.0)
    mean = float(cost.mean())
    return (0.1 * mean, 0.001 * mean) if mean > 0 else (1.0, 0.01)


def model_search_parameters(
    model: VanModel, settings: SolverSettings, time_limit: float | None = None
) -> Any:  # RoutingSearchParameters (protobuf message)
    """``search_parameters`` for a built model, as ``solve`` searches it: with ILS and simulated
    annealing, the temperatures are the model's (:func:`annealing_temperatures`) instead of
    OR-Tools' automatic ones, which a single unreachable pair in its random sample can inflate.
    When every visit of the model is mandatory, ILS also leaves out the operators that only serve
    optional visits (``_OPTIONAL_VISIT_OPERATORS``); ``recreate="AUTO"`` is resolved here (see
    :class:`~optimizer.settings.SolverSettings`)."""
    params = search_parameters(settings, time_limit)
    if (
        settings.iterated_local_search
        and all(v.is_must for v in model.visits)
        and not model.has_window_alternatives  # swapping window nodes is their work
    ):
        ops = params.local_search_operators
        for name in _OPTIONAL_VISIT_OPERATORS:
            setattr(ops, name, optional_boolean_pb2.BOOL_FALSE)
    if settings.iterated_local_search:
        rr = params.iterated_local_search_parameters.ruin_recreate_parameters
        rr.recreate_strategy.heuristic = routing_enums_pb2.FirstSolutionStrategy.Value.Value(
            recreate_heuristic(settings, window_alternatives=model.has_window_alternatives)
        )
    if settings.iterated_local_search and settings.acceptance == "SIMULATED_ANNEALING":
        sa = params.iterated_local_search_parameters.reference_solution_acceptance_strategy
        sa.simulated_annealing.automatic_temperatures = False
        t_first, t_last = annealing_temperatures(model)
        sa.simulated_annealing.initial_temperature = t_first
        sa.simulated_annealing.final_temperature = t_last
    return params


def _without_ils(params: Any, settings: SolverSettings) -> Any:
    """``params`` for a plain search (no ILS): the settings' metaheuristic and operators."""
    if not params.use_iterated_local_search:
        return params
    plain = search_parameters(replace(settings, iterated_local_search=False))
    plain.time_limit.CopyFrom(params.time_limit)
    return plain


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


def _cancelled(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def _from_nothing(
    model: VanModel,
    new_model: Callable[[], VanModel],
    settings: SolverSettings,
    params: Any,
    limit: float,
    since: float,
) -> tuple[VanModel, pywrapcp.Assignment] | None:
    """Search from the assignment with every visit unperformed (always feasible: every visit is
    droppable). Used when the first-solution heuristic failed; OR-Tools then hands back that
    assignment without improving it (status PARTIAL_SUCCESS or FAIL, no solution callback).
    Returns the model searched and its best assignment.

    First with the configured parameters; when OR-Tools' LP/MIP scheduling filters then still
    reject every insertion (seen on models with breaks), once more without them, on a fresh
    model from ``new_model``: OR-Tools builds its filters when the model is closed, so the
    parameter alone would not remove them from the model already searched."""
    routing = model.routing
    log.info(
        "first-solution strategy %s found nothing (status %s); searching from the "
        "all-unperformed assignment",
        settings.first_solution,
        _STATUS.get(routing.status(), str(routing.status())),
    )
    best: tuple[VanModel, pywrapcp.Assignment] | None = None
    # The scheduling filters are on with lp_scheduling and with charge_waiting (which needs them).
    scheduled = settings.lp_scheduling or settings.charge_waiting
    attempts = [False, True] if scheduled else [False]
    # A heuristic that failed slowly may have used up the time: the fallback gets at least a
    # quarter of the time limit (the only way solve() overruns time_limit).
    floor = 0.25 * limit
    for i, no_scheduling in enumerate(attempts):
        # Each attempt gets an equal share of what is left (at least its share of the floor):
        # a search slowed down by the scheduling filters must not starve the retry without them,
        # which is the one that finds routes when the filters blocked everything.
        share = (limit - (time.monotonic() - since)) / (len(attempts) - i)
        retry = type(params)()
        retry.CopyFrom(params)
        retry.time_limit.CopyFrom(_duration(max(share, floor / len(attempts))))
        if no_scheduling:
            retry.disable_scheduling_beware_this_may_degrade_performance = True
            model = new_model()
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


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(int(max(seconds, 0.001) * 1e9))
    return d


def portfolio(settings: SolverSettings) -> list[SolverSettings]:
    """The differently configured searches run for ``settings.workers`` workers. Worker 0 runs
    ``settings`` as given; every other worker starts from another first solution and another
    seed (visit order), so that it follows its own trajectory. Workers 1, 3, 4, 6, ... run the
    same search as worker 0; every third one (2, 5, ...) switches between iterated local search
    and the metaheuristic as a hedge, and workers 2-3, 6-7, ... flip the operator selection.
    Two independent ILS runs are the better pair: on vanplan's weakest Solomon instances the
    best of two ILS workers beat ILS plus guided local search clearly (benchmarks/RESULTS.md)."""
    first = [
        settings.first_solution,
        "LOCAL_CHEAPEST_INSERTION"
        if settings.first_solution != "LOCAL_CHEAPEST_INSERTION"
        else "PARALLEL_CHEAPEST_INSERTION",
        "SAVINGS",
        "PATH_CHEAPEST_ARC",
    ]
    out = []
    for w in range(settings.workers):
        hedge = w % 3 == 2
        out.append(
            replace(
                settings,
                workers=1,
                first_solution=first[w % len(first)],
                iterated_local_search=settings.iterated_local_search != hedge,
                operator_bandit=settings.operator_bandit
                if w // 2 % 2 == 0
                else not settings.operator_bandit,
                seed=settings.seed + w * 7919,
            )
        )
    return out


def solve(
    problem: Problem,
    settings: SolverSettings | None = None,
    *,
    anchors: Anchors | None = None,
    initial: Plan | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> Plan:
    """Plan the horizon. See the module docstring; ``anchors`` (visit -> (van, day)) cost
    ``Objective.moved_visit_cost`` when not kept, ``initial`` warm-starts from a plan's routes,
    ``on_progress`` hears of each improving solution, ``stop`` ends the search early (the best
    plan so far is returned). OR-Tools cannot cancel its iterated local search, so ILS with one
    worker and no warm start runs in a forked process (when it must be stoppable, or without a
    solution limit): stopped, the plan of the last routes that process reported is rebuilt
    here (status ``STOPPED``); stalled, the search starts again with another seed (see
    :func:`_search_in_child`). With ``settings.workers > 1`` every worker runs so, in a forked
    process of its own. A stoppable warm start with one worker searches with
    ``settings.metaheuristic`` instead.

    Where ``fork`` does not exist, ``settings.workers > 1`` starts spawned processes (a script
    calling it must then guard its entry point with ``if __name__ == "__main__":``) and a
    stoppable solve searches with ``settings.metaheuristic``."""
    problem.validate()
    settings = settings or SolverSettings()
    t0 = time.monotonic()
    excluded = _precheck(problem)
    if not problem.shifts or len(excluded) == len(problem.visits):
        unassigned = dict(excluded)
        for v in problem.visits:
            if v.id not in unassigned:
                unassigned[v.id] = fallback_reason(problem, v)
        stats = SolverStats("NO_MODEL", 0.0, time.monotonic() - t0, 0, 1, "")
        return Plan((), _ordered(problem, unassigned.values()), stats)

    if settings.workers > 1 and mp.current_process().daemon:
        log.warning("daemonic process cannot start portfolio workers; solving with one worker")
        settings = replace(settings, workers=1)
    # OR-Tools 9.15's iterated local search ignores CancelSearch: it runs in a process of its
    # own, which can be ended, when it must be stoppable or watched for stalls (without a
    # solution limit). Portfolio workers always run in forked processes where fork exists.
    can_fork = _can_fork_search()
    forked = (
        settings.iterated_local_search
        and (stop is not None or settings.solution_limit is None)
        and settings.workers <= 1
        and initial is None
        and can_fork
    )
    forked_portfolio = settings.workers > 1 and can_fork
    if stop is not None and settings.iterated_local_search and not forked and not forked_portfolio:
        log.info(
            "a stoppable solve runs iterated local search only in a process of its own "
            "(no warm start with one worker; fork needed); searching with %s",
            settings.metaheuristic,
        )
        settings = replace(settings, iterated_local_search=False)
    if forked:
        result = _solve_in_child(problem, settings, anchors, on_progress, stop, t0, excluded)
    elif forked_portfolio:
        result = _solve_portfolio_forked(
            problem, settings, anchors, initial, on_progress, stop, t0, excluded
        )
    elif settings.workers <= 1:
        result = _solve_one(problem, settings, anchors, initial, on_progress, stop, t0, 0, excluded)
    else:
        result = _solve_portfolio(
            problem, settings, anchors, initial, on_progress, stop, t0, excluded
        )
    routes, dropped, excluded_model, stats = result
    unassigned = dict(excluded_model)
    if dropped:
        for u in _explain(problem, routes, dropped):
            unassigned[u.visit_id] = u
    return Plan(tuple(routes), _ordered(problem, unassigned.values()), stats)


@dataclass
class _SearchState:
    solutions: int = 0
    best: int | None = None


_Result = tuple[list[Route], list[str], dict[str, Unassigned], SolverStats]
# (objective in model units, solutions so far, routing indices per vehicle)
BestCallback = Callable[[int, int, list[list[int]]], None]


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


def _solve_one(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    initial: Plan | None,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    t0: float,
    worker: int,
    excluded: Mapping[str, Unassigned] | None = None,
    deadline: float | None = None,
    on_best: BestCallback | None = None,
    on_tick: Callable[[int], None] | None = None,
) -> _Result:
    """One search in this process. ``on_best`` hears of each improving solution with its routes
    (routing indices per vehicle), ``on_tick`` of every solution (its count), for a parent that
    may have to stop this process."""
    if excluded is None:
        excluded = _precheck(problem)
    state = _SearchState()

    def new_model() -> VanModel:
        """The model with this solve's solution callback (counts, progress, stop)."""
        built = build_model(problem, settings, anchors=anchors, excluded=excluded)
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
                    on_best(cost, state.solutions, _current_routes(built))
            if stop is not None and stop.is_set():
                routing.CancelSearch()

        routing.AddAtSolutionCallback(at_solution)
        return built

    model = new_model()
    routing = model.routing
    limit = settings.time_limit if deadline is None else max(deadline - time.monotonic(), 0.01)
    params = model_search_parameters(model, settings, limit)
    t_search = time.monotonic()

    watcher: threading.Thread | None = None
    done = threading.Event()
    if stop is not None:

        def watch() -> None:
            while not done.is_set():
                if stop.wait(0.05):
                    routing.CancelSearch()
                    return

        watcher = threading.Thread(target=watch, name="vanplan-stop-watcher", daemon=True)
        watcher.start()
    try:
        solution = None
        if initial is not None:
            start = _warm_start(model, initial)
            if start is not None:
                # OR-Tools' ILS has no entry point taking a first solution: a warm start
                # searches with the metaheuristic.
                solution = routing.SolveFromAssignmentWithParameters(
                    start, _without_ils(params, settings)
                )
        if solution is None:
            if settings.iterated_local_search:
                solution = routing.SolveWithIteratedLocalSearch(params)
            else:
                solution = routing.SolveWithParameters(params)
        if state.solutions == 0 and not _cancelled(stop):
            fallback = _from_nothing(
                model, new_model, settings, _without_ils(params, settings), limit, t_search
            )
            if fallback is not None:
                model, solution = fallback
                routing = model.routing
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    status = _STATUS.get(routing.status(), str(routing.status()))
    if settings.iterated_local_search and solution is not None and routing.status() == 0:
        status = "SUCCESS"  # OR-Tools' ILS returns its best solution without setting a status
    searched = time.monotonic() - t_search
    if (
        settings.solution_limit is not None
        and state.solutions < settings.solution_limit
        and searched >= 0.95 * limit
        and not _cancelled(stop)
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
    routes, dropped, objective = _plan_of(model, solution)
    stats = SolverStats(
        status=status,
        objective=objective,
        wall_time=time.monotonic() - t0,
        solutions=state.solutions,
        workers=1,
        strategy=f"{settings.first_solution}+{_search_name(settings)}/seed {settings.seed}",
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
    return routes, dropped, dict(model.excluded), stats


def _plan_of(
    model: VanModel, solution: pywrapcp.Assignment | None
) -> tuple[list[Route], list[str], float]:
    """Routes, dropped visit ids and objective of a solution; without one, no routes and every
    modelled visit dropped."""
    if solution is None:
        return [], model.visit_ids, float("inf")
    routes, dropped = extract_routes(model, solution)
    return routes, dropped, solution.ObjectiveValue() / COST_SCALE


def _search_name(settings: SolverSettings) -> str:
    if not settings.iterated_local_search:
        return settings.metaheuristic
    return f"ILS({settings.ruin} {settings.ruin_visits}, {settings.acceptance})"


def _warm_start(model: VanModel, initial: Plan) -> pywrapcp.Assignment | None:
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


def _precheck(problem: Problem) -> dict[str, Unassigned]:
    return dict(precheck(problem))


def _explain(problem: Problem, routes: list[Route], dropped: list[str]) -> tuple[Unassigned, ...]:
    return tuple(explain_unassigned(problem, tuple(routes), tuple(dropped)))


def _ordered(problem: Problem, unassigned: Any) -> tuple[Unassigned, ...]:
    order = {v.id: i for i, v in enumerate(problem.visits)}
    return tuple(sorted(unassigned, key=lambda u: order.get(u.visit_id, len(order))))


# --- iterated local search in a process of its own ---------------------------------------------


def _can_fork_search() -> bool:
    """ILS forks a process of its own: not from a daemonic process (which may not
    have children) and only where ``fork`` exists (it shares the loaded modules and the model's
    inputs without pickling them)."""
    return not mp.current_process().daemon and "fork" in mp.get_all_start_methods()


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this process when its parent dies (a killed solver
    process must not leave its search running to the time limit)."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not available: the pipe check in the callback remains
        log.debug("PR_SET_PDEATHSIG not available")


def _search_child(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    initial: Plan | None,
    excluded: dict[str, Unassigned],
    t0: float,
    deadline: float,
    sender: Any,
) -> None:
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
        send(("best", (cost, solutions, time.monotonic() - t0, routes)))

    def tick(solutions: int) -> None:
        # A sign of life for the parent's stall watch, a few times a second at most.
        now = time.monotonic()
        if last_solution:
            longest[0] = max(longest[0], now - last_solution[0])
        last_solution[:] = [now]
        if now - last_sent[0] >= _TICK_SECONDS:
            send(("tick", (solutions, longest[0])))

    try:
        result = _solve_one(
            problem,
            settings,
            anchors,
            initial,
            None,
            None,
            t0,
            0,
            excluded,
            deadline=deadline,
            on_best=best,
            on_tick=tick,
        )
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
class _Searched:
    """What forked searches of one configuration left: the best result of a search that ended,
    and the best routes reported by one that was killed (stopped or stalled), with its settings."""

    result: _Result | None = None
    snapshot: tuple[SolverSettings, _Snapshot] | None = None
    solutions: int = 0  # found by all of them

    @property
    def objective(self) -> float:
        """The better of the two, in plan units (infinite when neither exists)."""
        done = self.result[3].objective if self.result is not None else float("inf")
        snap = self.snapshot[1][0] / COST_SCALE if self.snapshot is not None else float("inf")
        return min(done, snap)

    def keep(self, result: _Result | None, snapshot: _Snapshot | None, cfg: SolverSettings) -> None:
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


def _search_in_child(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    initial: Plan | None,
    on_progress: ProgressCallback,
    stop: threading.Event | None,
    t0: float,
    deadline: float,
    excluded: dict[str, Unassigned],
) -> _Searched:
    """A search in a forked process, which can be ended at any time (OR-Tools cannot cancel its
    ILS). The process reports every improving solution's routes. Unstopped, its own result
    counts (the same plan as a search in this process). When ``stop`` is set, or when the
    search stalls (no solution for :func:`stall_seconds`; watched only without a solution
    limit, which must keep runs reproducible), the process is killed and the last routes it
    reported count as its plan. After a stall, the search starts again with another seed for
    the time that is left (at least 2 s)."""
    watch = settings.solution_limit is None
    attempt = settings
    searched = _Searched()
    while True:
        result, last, stalled = _run_child(
            problem, attempt, anchors, initial, excluded, t0, deadline, stop, on_progress, watch
        )
        searched.keep(result, last, attempt)
        left = deadline - time.monotonic()
        if not stalled or left < 2.0 or _cancelled(stop):
            return searched
        attempt = replace(attempt, seed=attempt.seed + 7919)
        log.warning(
            "the search stalled (no solution for far longer than between its earlier ones, see "
            "stall_seconds); searching again with seed %d for the %.1f s left",
            attempt.seed,
            left,
        )


def _solve_in_child(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    t0: float,
    excluded: dict[str, Unassigned],
) -> _Result:
    """One search in a forked process (see :func:`_search_in_child`); the better of an ended
    search's result and the rebuilt plan of a killed one's last routes."""
    reported: list[float] = []  # best objective reported to on_progress, across restarts

    def progress(p: Progress) -> None:
        if on_progress is not None and (not reported or p.objective < reported[0]):
            reported[:] = [p.objective]
            on_progress(p)

    searched = _search_in_child(
        problem,
        settings,
        anchors,
        None,
        progress,
        stop,
        t0,
        t0 + settings.time_limit,
        excluded,
    )
    return _outcome(problem, settings, anchors, excluded, searched, t0, stop)


def _outcome(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    excluded: dict[str, Unassigned],
    searched: _Searched,
    t0: float,
    stop: threading.Event | None,
) -> _Result:
    if searched.uses_result():
        assert searched.result is not None
        return searched.result
    if searched.snapshot is None:
        return _rebuild(problem, settings, anchors, excluded, None, t0, stop)
    cfg, last = searched.snapshot
    return _rebuild(problem, cfg, anchors, excluded, last, t0, stop)


def _run_child(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    initial: Plan | None,
    excluded: dict[str, Unassigned],
    t0: float,
    deadline: float,
    stop: threading.Event | None,
    on_progress: ProgressCallback,
    watch: bool,
) -> tuple[_Result | None, _Snapshot | None, bool]:
    """One forked search until it ends, ``stop`` is set or (with ``watch``) it stalls:
    (its result if it ended, the last routes it reported, whether it stalled)."""
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    with _FORK_LOCK:  # portfolio threads fork one at a time
        child = ctx.Process(
            target=_search_child,
            args=(
                problem,
                settings,
                dict(anchors) if anchors else None,
                initial,
                excluded,
                t0,
                deadline,
                sender,
            ),
            name="vanplan-search",
            daemon=True,
        )
        child.start()
    sender.close()  # the child holds the writing end
    last: _Snapshot | None = None
    result: _Result | None = None
    error: str | None = None
    stalled = False
    heard: float | None = None  # when the child last reported (after its first solution)
    limit = stall_seconds(settings)
    try:
        while not _cancelled(stop):
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
    if result is None and not stalled and not _cancelled(stop) and time.monotonic() < deadline:
        log.warning(
            "the search process ended without a result (exit code %s); "
            "keeping the last routes it reported",
            child.exitcode,
        )
    return result, last, stalled


def _rebuild(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    excluded: dict[str, Unassigned],
    last: _Snapshot | None,
    t0: float,
    stop: threading.Event | None,
) -> _Result:
    """The plan of routes reported by a stopped ILS process, on the same model rebuilt here
    (``build_model`` is deterministic, so the routing indices mean the same visits): the routes
    are read into an assignment, whose times the solver completes as its first solution."""
    model = build_model(problem, settings, anchors=anchors, excluded=excluded)
    routing = model.routing
    solution = None
    if last is not None:
        params = _without_ils(model_search_parameters(model, settings), settings)
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        )
        params.solution_limit = 1
        params.time_limit.CopyFrom(_duration(max(settings.time_limit, 5.0)))
        start = routing.ReadAssignmentFromRoutes(last[3], True)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        log.warning("stopped before a first solution; every modelled visit is reported unassigned")
    routes, dropped, objective = _plan_of(model, solution)
    stats = SolverStats(
        # Not stopped: the routes of a search that stalled and was ended.
        status="STOPPED" if _cancelled(stop) else "SUCCESS",
        objective=objective,
        wall_time=time.monotonic() - t0,
        solutions=last[1] if last is not None else 0,
        workers=1,
        strategy=f"{settings.first_solution}+{_search_name(settings)}/seed {settings.seed}",
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


# --- portfolio ----------------------------------------------------------------------------------


def _solve_portfolio_forked(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    initial: Plan | None,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    t0: float,
    excluded: dict[str, Unassigned],
) -> _Result:
    """The portfolio in forked processes, one per worker, each watched by a thread of this
    process as a single forked search is (:func:`_search_in_child`): stoppable with iterated
    local search, stalls ended and searched again. The winner is the lowest objective (then the
    lowest worker); a killed worker's plan is rebuilt here from its last routes."""
    configs = portfolio(settings)
    deadline = t0 + settings.time_limit
    lock = threading.Lock()
    best: list[float] = []
    searched: list[_Searched] = [_Searched() for _ in configs]
    errors: dict[int, str] = {}

    def run(worker: int, cfg: SolverSettings) -> None:
        def progress(p: Progress) -> None:
            with lock:
                if best and p.objective >= best[0]:
                    return
                best[:] = [p.objective]
                if on_progress is not None:
                    on_progress(replace(p, worker=worker))

        try:
            searched[worker] = _search_in_child(
                problem, cfg, anchors, initial, progress, stop, t0, deadline, excluded
            )
        except Exception as exc:  # reported below; the other workers decide
            errors[worker] = str(exc)

    threads = [
        threading.Thread(target=run, args=(w, cfg), name=f"vanplan-worker-{w}", daemon=True)
        for w, cfg in enumerate(configs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w, err in errors.items():
        log.warning("portfolio worker %d failed: %s", w, err)
    found = [w for w in range(len(configs)) if w not in errors]
    if not found:
        raise RuntimeError(f"every portfolio worker failed: {errors}")
    # Deterministic winner: lowest objective, then lowest worker index.
    winner = min(found, key=lambda w: (searched[w].objective, w))
    routes, dropped, excluded_model, stats = _outcome(
        problem, configs[winner], anchors, excluded, searched[winner], t0, stop
    )
    stats = replace(
        stats,
        wall_time=time.monotonic() - t0,
        workers=len(configs),
        solutions=sum(searched[w].solutions for w in found),
        strategy=f"worker {winner}: {stats.strategy}",
    )
    return routes, dropped, excluded_model, stats


def _worker_main(
    problem: Problem,
    settings: SolverSettings,
    anchors: dict[str, tuple[str, int]] | None,
    initial: Plan | None,
    excluded: dict[str, Unassigned],
    worker: int,
    wall_deadline: float,
    events: Any,
    stop_flag: Any,
) -> None:
    """Entry point of a portfolio process: solve and put ``("done", worker, result)``."""
    t0 = time.monotonic()
    local_stop = threading.Event()

    finished = threading.Event()

    def relay_stop() -> None:
        # A lock-free shared flag: a process that exits while holding a multiprocessing lock
        # (an Event's condition) would block the parent forever.
        while not finished.wait(0.05):
            if stop_flag.value:
                local_stop.set()
                return

    relay = threading.Thread(target=relay_stop, daemon=True)
    relay.start()

    def progress(p: Progress) -> None:
        events.put(("progress", worker, p))

    try:
        result = _solve_one(
            problem,
            settings,
            anchors,
            initial,
            progress,
            local_stop,
            t0,
            worker,
            excluded,
            # The wall clock is shared between processes; the import time is already spent.
            deadline=t0 + max(wall_deadline - time.time(), 0.05),
        )
        events.put(("done", worker, result))
    except Exception as exc:  # reported to the parent, which decides
        events.put(("error", worker, repr(exc)))
    finally:
        finished.set()
        relay.join()


def _solve_portfolio(
    problem: Problem,
    settings: SolverSettings,
    anchors: Anchors | None,
    initial: Plan | None,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    t0: float,
    excluded: dict[str, Unassigned],
) -> _Result:
    configs = portfolio(settings)
    if stop is not None:  # see solve(): a stoppable search cannot use ILS
        configs = [replace(c, iterated_local_search=False) for c in configs]
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    stop_flag = ctx.RawValue("b", 0)
    # Spawned processes need time to import OR-Tools; they search until a common wall-clock
    # deadline, leaving a little time to send the plans back.
    wall_deadline = time.time() + max(settings.time_limit - (time.monotonic() - t0) - 0.2, 0.1)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(
                problem,
                cfg,
                dict(anchors) if anchors else None,
                initial,
                excluded,
                w,
                wall_deadline,
                events,
                stop_flag,
            ),
            name=f"vanplan-worker-{w}",
            daemon=True,
        )
        for w, cfg in enumerate(configs)
    ]
    for p in procs:
        p.start()
    results: dict[int, _Result] = {}
    errors: dict[int, str] = {}
    best: float | None = None
    try:
        while len(results) + len(errors) < len(procs):
            if stop is not None and stop.is_set():
                stop_flag.value = 1
            try:
                kind, worker, payload = events.get(timeout=0.05)
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and events.empty():
                    break
                continue
            if kind == "progress":
                if best is None or payload.objective < best:
                    best = payload.objective
                    if on_progress is not None:
                        on_progress(replace(payload, elapsed=time.monotonic() - t0))
            elif kind == "done":
                results[worker] = payload
            else:
                errors[worker] = payload
    finally:
        stop_flag.value = 1
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join()
        events.close()
    if not results:
        raise RuntimeError(f"every portfolio worker failed: {errors}")
    for w, err in errors.items():
        log.warning("portfolio worker %d failed: %s", w, err)
    # Deterministic winner: lowest objective, then lowest worker index.
    winner = min(results, key=lambda w: (results[w][3].objective, w))
    routes, dropped, excluded_model, stats = results[winner]
    stats = replace(
        stats,
        wall_time=time.monotonic() - t0,
        workers=len(procs),
        solutions=sum(r[3].solutions for r in results.values()),
        strategy=f"worker {winner}: {stats.strategy}",
    )
    return routes, dropped, excluded_model, stats
