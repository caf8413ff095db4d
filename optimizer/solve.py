"""Solve a :class:`~optimizer.domain.Problem`: diagnose, build the model, search, extract.

``solve()`` never fails for lack of a solution: every visit is droppable (must visits with a huge
penalty), and visits that cannot be served at all are excluded up front and reported with a reason.

The search itself lives beside it: :mod:`optimizer.params` (OR-Tools search parameters),
:mod:`optimizer.search` (one search in this process) and :mod:`optimizer.processes` (searches
in forked processes that can be stopped, as OR-Tools' iterated local search cannot be cancelled,
and portfolios of several searches at once).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Iterable
from dataclasses import replace

from optimizer.budget import (
    STOPPED_BEFORE_FIRST_PLAN,
    STOPPED_BEFORE_SEARCH,
    Budget,
    Grace,
    greedy_cut_notice,
    model_verdict,
    nothing_made_notice,
)
from optimizer.decompose import by_day_notice, day_by_day_reason, day_by_day_reserve, plan_by_day
from optimizer.diagnose import explain_unassigned
from optimizer.domain import Problem
from optimizer.ejection import Served, serve_more
from optimizer.errors import SolveStoppedError
from optimizer.lns import improve
from optimizer.model import fallback_reason
from optimizer.notices import log_warnings, plan_warnings
from optimizer.packing import pack
from optimizer.params import annealing_temperatures, model_search_parameters, search_parameters
from optimizer.plan import Plan, Reason, Route, SolverStats, Unassigned
from optimizer.processes import searches, start
from optimizer.processes.engines import pyvrp_mapping, solve_hybrid, solve_hybrid_forked
from optimizer.processes.portfolio import (
    portfolio,
    solve_portfolio_forked,
    solve_portfolio_spawned,
)
from optimizer.processes.ruin import improve_forked
from optimizer.search import (
    PLACED_SEARCH_SHARE,
    Anchors,
    Progress,
    ProgressCallback,
    SearchResult,
    Task,
    announce_greedy,
    cancelled,
    places_breaks,
    polish_with_breaks,
    solve_one,
)
from optimizer.settings import SolverSettings
from optimizer.sizing import model_nodes, size_issue

__all__ = [
    "Anchors",
    "Progress",
    "ProgressCallback",
    "annealing_temperatures",
    "model_search_parameters",
    "portfolio",
    "search_parameters",
    "solve",
]

log = logging.getLogger(__name__)


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
    solution limit): stopped, the plan of the last routes that process reported is made here
    from the times it reported with them (status ``STOPPED``); stalled, the search starts again
    with another seed (see :func:`optimizer.processes.searches.search_in_child`). With
    ``settings.workers > 1`` every worker runs so, in a forked process of its own. A stoppable
    warm start with one worker searches with ``settings.metaheuristic`` instead. Where PyVRP
    can express the problem it searches first (:mod:`optimizer.processes.engines`; a stoppable
    one-worker search in a forked process too), also where OR-Tools' model would not be built
    in the time limit. Where neither PyVRP nor OR-Tools' model and first plan fit the whole
    problem in the time (:func:`optimizer.decompose.day_by_day_reason`), the greedy plan is
    improved day by day (:func:`optimizer.decompose.plan_by_day`). On an over-full problem a
    plan packed must visits first
    (:mod:`optimizer.packing`) is made first: with one worker OR-Tools' search starts from it
    instead, it competes with the search's plan, and ruin and recreate (:mod:`optimizer.lns`)
    improves the better of the two in the share of the time kept for it
    (:func:`ruin_reserve`). A problem with room for every visit that OR-Tools plans under the
    statutory break rule keeps that share too: the pass after the search, then ruin and
    recreate, which can gather the stops on fewer van-days.

    Where ``fork`` does not exist, ``settings.workers > 1`` starts spawned processes (a script
    calling it must then guard its entry point with ``if __name__ == "__main__":``) and a
    stoppable solve searches with ``settings.metaheuristic``."""
    problem.validate()
    settings = settings or SolverSettings()
    budget = Budget(settings.time_limit)
    nodes = model_nodes([len(v.windows) for v in problem.visits])
    too_large = size_issue(len(problem.visits), nodes, settings.time_limit)
    if too_large is not None:
        log.warning("%s; the plan will be a quick greedy one, improved day by day", too_large)
    t0 = budget.t0
    # Until the greedy plan exists a stop does not end the work at once: the diagnosis and
    # the greedy plan go on for the stop's grace, counted from the stop (a thread watches for
    # it), so that the answer has the plan made by then (optimizer.budget.Grace).
    grace = Grace(stop)
    try:
        with grace.watching():
            task = Task.of(
                problem,
                stop,
                should_stop=grace,
                anchors=dict(anchors) if anchors else None,
                initial=initial,
                budget=budget,
            )
    except SolveStoppedError:
        log.info("stopped (or out of time) while the visits were diagnosed")
        status = "STOPPED" if grace.stopped else "NO_SOLUTION"
        stats = SolverStats(status, float("inf"), time.monotonic() - t0, 0, 1, "")
        not_planned = _not_planned(problem, [v.id for v in problem.visits])
        why = nothing_made_notice(grace.stopped, len(problem.visits))
        return _plan(problem, [], not_planned, stats, why)
    if not problem.shifts or len(task.excluded) == len(problem.visits):
        unassigned = dict(task.excluded)
        for v in problem.visits:
            if v.id not in unassigned:
                unassigned[v.id] = fallback_reason(problem, v)
        stats = SolverStats("NO_MODEL", 0.0, time.monotonic() - task.t0, 0, 1, "")
        return _plan(problem, [], unassigned.values(), stats)
    # The plan of last resort first (seconds on thousands of visits, where the OR-Tools model
    # takes many more): returned when the model does not fit in the time left, or when a stop
    # or the deadline comes before OR-Tools' first solution (see optimizer.budget).
    try:
        with grace.watching():
            task = task.with_greedy(settings, stop, grace)
    except SolveStoppedError:
        log.info("stopped (or out of time) before the greedy plan placed a visit")
        status = "STOPPED" if grace.stopped else "NO_SOLUTION"
        stats = SolverStats(status, float("inf"), time.monotonic() - t0, 0, 1, "")
        left_out = dict(task.excluded)
        planless = [v.id for v in problem.visits if v.id not in left_out]
        left_out.update((u.visit_id, u) for u in _not_planned(problem, planless))
        why = nothing_made_notice(grace.stopped, len(problem.visits))
        return _plan(problem, [], left_out.values(), stats, why)
    if task.greedy is not None and task.greedy.cut:
        # Stopped, or out of time, while the greedy plan was made: the part built by then.
        why = greedy_cut_notice(grace.stopped, task.greedy.cut, len(problem.visits))
        log.warning("%s", why)
        return _finish(problem, task, task.greedy_now() or task.greedy, why, stopped=True)
    if task.greedy is not None and cancelled(stop):
        # Stopped before any search (the greedy plan was finished within the grace).
        log.warning("%s", STOPPED_BEFORE_SEARCH)
        result = task.greedy_now() or task.greedy
        by = grace.ends  # the left-out visits are explained in what is left of the grace
        return _finish(problem, task, result, STOPPED_BEFORE_SEARCH, stopped=True, explain_by=by)
    # PyVRP joins where it can express the problem (settings.engines; not for a warm start
    # from a given plan, which OR-Tools searches): alone first, or on every portfolio worker.
    # It needs no OR-Tools model, so it also plans where that model would not be built in time
    # (thousands of visits): its plan is then not polished (optimizer.engines.pyvrp_search).
    mapping = pyvrp_mapping(task, settings, stop) if initial is None else None
    # Too large for one plan in the time (OR-Tools' model and first plan; PyVRP does not plan
    # it whole): the greedy plan improved day by day (optimizer.decompose).
    if mapping is None and task.greedy is not None and initial is None and not task.anchors:
        vehicles = len(problem.shifts)
        by_day = day_by_day_reason(settings, budget, len(problem.visits), nodes, vehicles)
        if by_day is not None:
            deadline = budget.deadline - day_by_day_reserve(len(problem.visits))
            result = plan_by_day(task, settings, deadline, stop, on_progress)
            why = by_day_notice(by_day, result, problem)
            return _finish(problem, task, result, why, stopped=cancelled(stop))
    not_built = model_verdict(budget, len(problem.visits), nodes)
    if not_built is not None and task.greedy is not None and mapping is None:
        log.warning("%s", not_built)
        return _finish(problem, task, task.greedy_now() or task.greedy, not_built)

    if settings.workers > 1 and mp.current_process().daemon:
        log.warning("daemonic process cannot start portfolio workers; solving with one worker")
        settings = replace(settings, workers=1)
    # OR-Tools 9.15's iterated local search ignores CancelSearch: it runs in a process of its
    # own, which can be ended, when it must be stoppable or watched for stalls (without a
    # solution limit). Portfolio workers always run in forked processes where fork exists.
    can_fork = start.can_fork_search()
    in_child = (
        settings.iterated_local_search
        and (stop is not None or settings.solution_limit is None)
        and settings.workers <= 1
        and initial is None
        and can_fork
    )
    in_children = settings.workers > 1 and can_fork
    if stop is not None and settings.iterated_local_search and not in_child and not in_children:
        log.info(
            "a stoppable solve runs iterated local search only in a process of its own "
            "(no warm start with one worker; fork needed); searching with %s",
            settings.metaheuristic,
        )
        settings = replace(settings, iterated_local_search=False)
    # An over-full week, and any week OR-Tools plans under the statutory break rule, keeps a
    # share of the time for ruin and recreate after the search (optimizer.lns), which trades
    # left-out visits in and gathers stops on fewer van-days; the search ends that much earlier.
    limit_at = task.t0 + settings.time_limit
    overfull = over_full(problem)
    ortools_plans = mapping is None and initial is None
    reserve = ruin_reserve(problem, settings, ortools_plans) if not task.anchors else 0.0
    if reserve > 0:
        settings = replace(settings, time_limit=settings.time_limit - reserve)
    # There a plan is packed must visits first (optimizer.packing, in several visit orders):
    # with one worker the search starts from it (OR-Tools, warm started: the penalties keep its
    # must visits in while travel falls), and it competes with the search's plan at the end.
    packed = None
    warm_from_packed = False
    if (
        reserve > 0
        and overfull
        and initial is None
        and not task.anchors
        and len(problem.visits) <= PACK_MAX_VISITS
    ):
        packed = pack(
            task, settings.seed, on_progress, stop, task.t0 + PACK_SHARE * settings.time_limit
        )
        if packed is not None and settings.workers <= 1:
            task = replace(task, initial=Plan(tuple(packed.routes), (), packed.stats))
            mapping = None
            in_child = False
            warm_from_packed = True
            if stop is not None:  # a warm start rejected by the model must stay stoppable
                settings = replace(settings, iterated_local_search=False)
    # Statutory breaks placed after the search: it gets a share of the time, OR-Tools' model
    # with break intervals polishes its plan for the rest (optimizer.search.polish_with_breaks).
    full = settings
    placing = places_breaks(problem, settings)
    if placing:
        settings = replace(settings, time_limit=settings.time_limit * PLACED_SEARCH_SHARE)
    if mapping is not None and settings.workers <= 1 and stop is not None and can_fork:
        result = solve_hybrid_forked(task, settings, mapping, on_progress, stop)
    elif mapping is not None and settings.workers <= 1:
        result = solve_hybrid(task, settings, mapping, on_progress, stop)
    elif in_child:
        result = searches.solve_in_child(task, settings, on_progress, stop)
    elif in_children:
        result = solve_portfolio_forked(task, settings, on_progress, stop, mapping)
    elif settings.workers <= 1:
        result = solve_one(task, settings, on_progress, stop)
    else:
        result = solve_portfolio_spawned(task, settings, on_progress, stop)
    if placing:
        deadline = task.t0 + full.time_limit
        result = polish_with_breaks(task, full, result, on_progress, stop, deadline)
    if warm_from_packed and cancelled(stop) and result.stats.status == "SUCCESS":
        # The warm-started search runs in this process and reports a stop as a success.
        result = replace(result, stats=replace(result.stats, status="STOPPED"))
    notice = None
    if not result.routes and result.stats.solutions == 0:
        # Stopped, or out of time, before any engine's first solution (also while a model was
        # built): the greedy plan made before.
        fallback = task.greedy_now()
        if fallback is not None:
            announce_greedy(task, fallback.routes)
            result = fallback
    if result.stats.status == "GREEDY" and cancelled(stop):
        notice = STOPPED_BEFORE_FIRST_PLAN
    if reserve > 0 and not overfull:
        # Room for every visit: the pass after the search first (quick), then ruin and
        # recreate until the limit.
        result = _serve_more(task, full, result, on_progress, stop, limit_at - reserve)
        result = _ruin_and_recreate(task, full, result, on_progress, stop, limit_at, reserve)
    elif reserve > 0:
        # Over-full: the better of the search's plan and the packed one, then ruin and
        # recreate (optimizer.lns) in the time kept for it.
        if packed is not None and packed.stats.objective < result.stats.objective:
            log.info(
                "the packed plan (objective %.3f) beats the search's (%.3f)",
                packed.stats.objective,
                result.stats.objective,
            )
            status = "STOPPED" if cancelled(stop) else packed.stats.status
            wall = time.monotonic() - task.t0
            result = replace(packed, stats=replace(packed.stats, status=status, wall_time=wall))
            notice = None
        result = _ruin_and_recreate(task, full, result, on_progress, stop, limit_at, reserve)
    else:
        result = _serve_more(task, full, result, on_progress, stop, limit_at)
    return _finish(problem, task, result, notice)


PACK_SHARE = 0.2
"""On an over-full problem, the share of the time limit the packed plan may take (on a
100-visit week it takes under a second) before the search starts."""

PACK_MAX_VISITS = 400
"""The packed plan is made for problems up to this many visits: its Python insertion with the
exact break placement grows with visits times route positions, and larger problems need their
time for the search (measured on the sample weeks of up to 100 visits only)."""


SERVE_MORE_SECONDS = 0.25
"""The least time the pass after the search (:func:`optimizer.ejection.serve_more`) gets when
the search used up the time limit."""

OVERFULL_SHARE = 0.75
"""A problem whose visits' service time is above this share of its shifts' time is treated as
over-full (or nearly): visits will be left out, and trading them pays."""

RESERVE_SHARE = 0.3
RESERVE_MAX_SECONDS = 10.0
"""Ruin and recreate after the search (:mod:`optimizer.lns`, :func:`ruin_reserve`) gets this
share of the time limit (at most ``RESERVE_MAX_SECONDS``); on over-full weeks measured at 5 s
against a tenth and a half, on weeks with room (34-45 clients, six seeds, 5 s) against none
(the search to the end), 0.15 and 0.5: 0.5 planned the 34-client sample week best but left a
must visit out more often on a 45-client week; with none, a 5 s plan kept a van-day more than
needed on some seeds (benchmarks/RESULTS.md)."""


def over_full(problem: Problem) -> bool:
    """Whether the visits' service time exceeds :data:`OVERFULL_SHARE` of the shifts' time."""
    service = sum(v.duration for v in problem.visits)
    shifts = sum(s.end - s.start for s in problem.shifts)
    return shifts > 0 and service > OVERFULL_SHARE * shifts


def ruin_reserve(problem: Problem, settings: SolverSettings, ortools_plans: bool = False) -> float:
    """Seconds of the time limit kept for ruin and recreate after the search
    (:data:`RESERVE_SHARE`, at most :data:`RESERVE_MAX_SECONDS`): on an over-full problem
    (:func:`over_full`), and on any other that OR-Tools plans (``ortools_plans``: PyVRP does
    not express it) with a shift under the statutory break rule, whose routes ruin and recreate
    may change. None with ``charge_waiting`` (where the pass does not run) or a solution limit
    (which asks for a reproducible run). A re-plan (anchors) keeps none either (see solve)."""
    if settings.charge_waiting or settings.solution_limit is not None:
        return 0.0
    statutory = any(s.breaks is None for s in problem.shifts)
    if not over_full(problem) and not (ortools_plans and statutory):
        return 0.0
    return min(RESERVE_SHARE * settings.time_limit, RESERVE_MAX_SECONDS)


def _may_improve(
    task: Task,
    settings: SolverSettings,
    result: SearchResult,
    stop: threading.Event | None,
    all_served: bool = False,
) -> bool:
    """Whether a pass after the search may change ``result``: it has routes and left-out
    visits (or, with ``all_served``, none: ruin and recreate also gathers stops on fewer
    van-days), no stop came, and it is no re-plan (anchors) nor a ``charge_waiting`` plan."""
    return bool(
        result.routes
        and (result.dropped or all_served)
        and not cancelled(stop)
        and not task.anchors
        and not settings.charge_waiting
    )


def _improved(
    task: Task,
    result: SearchResult,
    found: Served,
    what: str,
    strategy: str,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> SearchResult:
    """``result`` with the routes and left-out visits a pass after the search ``found``, when
    that lowers the objective (else ``result`` as it is): logged as ``what``, ``strategy``
    appended to the plan's."""
    if found.delta >= 0:
        return result
    log.info(
        "%s: %d -> %d visits left out, objective %.3f -> %.3f",
        what,
        len(result.dropped),
        len(found.dropped),
        result.stats.objective,
        result.stats.objective + found.delta,
    )
    stats = replace(
        result.stats,
        status="STOPPED" if cancelled(stop) else result.stats.status,
        objective=result.stats.objective + found.delta,
        strategy=f"{result.stats.strategy} + {strategy}",
        wall_time=time.monotonic() - task.t0,
    )
    if on_progress is not None:
        on_progress(Progress(stats.objective, stats.solutions, stats.wall_time))
    return replace(result, routes=found.routes, dropped=found.dropped, stats=stats)


def _serve_more(
    task: Task,
    settings: SolverSettings,
    result: SearchResult,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    limit_at: float,
) -> SearchResult:
    """``result`` with left-out visits inserted, or exchanged for stops of a lower penalty
    (:mod:`optimizer.ejection`), when that lowers the objective (see :func:`_may_improve`)."""
    if not _may_improve(task, settings, result, stop):
        return result
    deadline = max(limit_at, time.monotonic() + SERVE_MORE_SECONDS)
    served = serve_more(
        task.problem, result.routes, result.dropped, deadline, lambda: cancelled(stop)
    )
    what = "insertion and ejection after the search"
    return _improved(task, result, served, what, "ejection", on_progress, stop)


def _ruin_and_recreate(
    task: Task,
    settings: SolverSettings,
    result: SearchResult,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    limit_at: float,
    reserve: float,
) -> SearchResult:
    """``result`` improved by ruin and recreate (:mod:`optimizer.lns`) until ``limit_at``, for
    at most ``reserve`` seconds (a search that ended early, e.g. crashed, does not hand it the
    rest of the limit), when that lowers the objective (see :func:`_may_improve`; also a plan
    that serves every visit): with ``settings.workers > 1``
    one run per worker, each with its own seed, in forked processes
    (:func:`optimizer.processes.ruin.improve_forked`), the best kept."""
    deadline = min(limit_at, time.monotonic() + reserve)
    if not _may_improve(task, settings, result, stop, True) or time.monotonic() >= deadline:
        return result
    args = (task.problem, result.routes, result.dropped, deadline, lambda: cancelled(stop))
    if settings.workers > 1 and start.can_fork_search():
        found = improve_forked(*args, settings.seed, settings.workers)
    else:
        found = improve(*args, settings.seed)
    what = "ruin and recreate"
    return _improved(task, result, found, what, what, on_progress, stop)


def _finish(
    problem: Problem,
    task: Task,
    result: SearchResult,
    notice: str | None,
    stopped: bool = False,
    explain_by: float | None = None,
) -> Plan:
    """The plan of ``result``: its left-out visits explained in what is left of the time limit
    (at least :data:`EXPLAIN_SECONDS` ``[0]``, just that after a stop: status ``STOPPED``, or
    ``stopped``; and no later than ``explain_by`` when given, or :data:`EXPLAIN_AT_LEAST`
    from now: the end of a stop's grace), ``notice`` the warning of a fallback plan (greedy,
    or day by day)."""
    settings_limit = task.budget.time_limit if task.budget is not None else 0.0
    unassigned = dict(result.excluded)
    if result.dropped and result.stats.solutions == 0 and not result.routes:
        # Ended before the first solution: nothing was tried, so there is nothing to explain
        # (and explaining thousands of visits against every van-day takes minutes).
        unassigned.update((u.visit_id, u) for u in _not_planned(problem, result.dropped))
    elif result.dropped:
        # After a stop the answer is wanted now: the explanation gets its least time.
        after_stop = stopped or result.stats.status == "STOPPED"
        limit_at = task.t0 + settings_limit if not after_stop else 0.0
        by = None if explain_by is None else max(explain_by, time.monotonic() + EXPLAIN_AT_LEAST)
        for u in _explain(problem, result.routes, result.dropped, limit_at, by):
            unassigned[u.visit_id] = u
    return _plan(problem, result.routes, unassigned.values(), result.stats, notice)


def _plan(
    problem: Problem,
    routes: list[Route],
    unassigned: Iterable[Unassigned],
    stats: SolverStats,
    notice: str | None = None,
) -> Plan:
    """The plan with its unassigned visits in input order and its warnings (``notice``: why
    a greedy plan is the plan, when not the default reason)."""
    ordered = _ordered(problem, unassigned)
    warnings = plan_warnings(problem, stats, ordered, notice)
    log_warnings(warnings)
    return Plan(tuple(routes), ordered, stats, warnings)


def _not_planned(problem: Problem, visit_ids: list[str]) -> list[Unassigned]:
    """Visits the search never got to place (stopped, or out of time, before a first plan)."""
    return [
        Unassigned(
            vid,
            Reason.NOT_PLANNED,
            f"Visit {vid}: the search ended before it found a first plan "
            f"({len(problem.visits)} visits, {len(problem.shifts)} van-days).",
        )
        for vid in visit_ids
    ]


EXPLAIN_SECONDS = (0.5, 1.0)
"""The explanation of the left-out visits takes what is left of the time limit, but at least
the first and at most the second figure (seconds): past that the rest get a short reason."""


EXPLAIN_AT_LEAST = 0.1
"""Seconds the explanation gets at least when it must end by a given time (a stop's grace)."""


def _explain(
    problem: Problem,
    routes: list[Route],
    dropped: list[str],
    limit_at: float,
    by: float | None = None,
) -> tuple[Unassigned, ...]:
    """Reasons for the visits the search left out (they all passed the precheck), within
    :data:`EXPLAIN_SECONDS` of now (``limit_at``: when the time limit ends) and by ``by``
    when given."""
    now = time.monotonic()
    least, most = EXPLAIN_SECONDS
    deadline = now + min(max(limit_at - now, least), most)
    if by is not None:
        deadline = min(deadline, by)
    return tuple(
        explain_unassigned(
            problem, tuple(routes), tuple(dropped), prechecked=True, deadline=deadline
        )
    )


def _ordered(problem: Problem, unassigned: Iterable[Unassigned]) -> tuple[Unassigned, ...]:
    order = {v.id: i for i, v in enumerate(problem.visits)}
    return tuple(sorted(unassigned, key=lambda u: order.get(u.visit_id, len(order))))
