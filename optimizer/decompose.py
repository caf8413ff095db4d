"""Plan a week day by day when it is too large for one plan in the time limit.

On thousands of visits neither OR-Tools' model and first plan nor PyVRP on the whole week fit
in a short time limit (``benchmarks/RESULTS.md``), and the solve has only its greedy plan
(:mod:`optimizer.greedy`). This improves that plan one day at a time, each day a problem a
fifth of the size:

- the day's problem (:func:`day_problem`) holds the day's van-days and its candidates
  (:func:`day_candidates`): the visits the plan serves on that day, then visits the plan leaves
  out that may go on that day (must visits first, then those with the fewest days open), up to
  :data:`MAX_DAY_CLIENTS`;
- PyVRP plans it (:mod:`optimizer.engines.pyvrp_model` with the statutory break placed
  afterwards by :func:`optimizer.breaks.fit_breaks`, which drops stops a break leaves no room
  for), starting from the greedy day's routes, with the share of the remaining time the day's
  candidates deserve. Every visit is optional there: a must visit's prize is capped at
  :data:`MUST_PRIZE_CAP` so that PyVRP's integer objective stays sane;
- the day's plan, checked by the independent checker
  (:func:`optimizer.engines.pyvrp_search.outcome_of`), is repaired by insertion and ejection
  with the break placed exactly (:func:`optimizer.ejection.serve_more`, in
  :data:`REPAIR_SHARE` of the day's time: the stops the placed break left no room for, or other
  candidates, go back where they fit), and replaces the day's routes only when it serves more
  must visits, or as many at a lower cost (vanplan's objective: travel, fixed costs, penalties
  of the candidates left out). Visits it leaves out join the left-out ones for the days after;
- after the days, one insertion and ejection pass over the whole week
  (:data:`WEEK_REPAIR_SHARE` of the time): a visit left out on its day may fit on another.

Each accepted day lowers the objective of the whole plan by what it lowers the day's, and never
serves fewer must visits, so the plan is never worse than the greedy one. The work stops at the
deadline or on a stop (the days done so far are kept).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import pyvrp

from optimizer.budget import Budget
from optimizer.domain import Problem, Shift
from optimizer.ejection import Served, serve_more
from optimizer.engines.pyvrp_model import PyvrpMapping, express
from optimizer.engines.pyvrp_search import outcome_of, run_pyvrp, setup_seconds
from optimizer.model import COST_SCALE, allowed_vehicles, vehicle_classes
from optimizer.plan import Route, SolverStats
from optimizer.search import (
    Progress,
    ProgressCallback,
    SearchResult,
    Task,
    cancelled,
    plan_objective,
)
from optimizer.settings import SolverSettings
from optimizer.sizing import MODEL_SHARE, first_plan_seconds, model_seconds

log = logging.getLogger(__name__)

MUST_PRIZE_CAP = 10_000.0
"""Euros: the prize of a must visit in a day's PyVRP problem (its penalty, 100,000 EUR by
default, is 10^8 in PyVRP's milli-euro units; summed over a thousand visits that crowds
PyVRP's 64-bit penalised costs). Still twenty times the default optional penalty."""

MAX_DAY_CLIENTS = 1000
"""At most this many candidates in one day's problem: PyVRP's set-up, which cannot be
interrupted, then stays near half a second (:func:`optimizer.engines.pyvrp_search.
setup_seconds`; 1,500 candidates answered a stop in 4.2 s on 5,000 visits at load 5)."""

BETTER_BY = 0.01
"""Euros by which a day's plan must be cheaper (with as many must visits) to replace the
greedy day: PyVRP's arc costs and the plan's own cost round differently."""

RESERVE_SECONDS = 1.0
RESERVE_PER_VISIT = 0.0002
"""The days end this long before the time limit (plus this per visit): for explaining the
left-out visits (up to a second) and making the plan."""


REPAIR_SHARE = 0.1
"""The share of a day's time kept after PyVRP for insertion and ejection on its plan
(:func:`optimizer.ejection.serve_more`, the statutory break placed exactly); what it does not
use goes to the days after."""


WEEK_REPAIR_SHARE = 0.05
"""The share of the time kept after the days for insertion and ejection over the whole week
(a visit left out on one day may fit on another)."""


MAX_ADVISED_LIMIT = 3600.0
"""A whole-horizon plan that needs a longer time limit than this is not advised: the warning
asks for fewer visits at once instead."""


def whole_week_seconds(visits: int, nodes: int, vehicles: int) -> float:
    """Estimated seconds for OR-Tools' model and its first plan of the whole problem
    (:func:`optimizer.sizing.model_seconds`, :func:`optimizer.sizing.first_plan_seconds`)."""
    return model_seconds(nodes) + first_plan_seconds(nodes, vehicles)


def day_by_day_reason(
    settings: SolverSettings, budget: Budget, visits: int, nodes: int, vehicles: int
) -> str | None:
    """Why the problem is planned day by day (the start of the plan's warning), or None when
    it is planned whole: ``settings.decompose`` ``"always"``, or ``"auto"`` when OR-Tools'
    model and first plan of the whole problem are estimated to take more than
    :data:`optimizer.sizing.MODEL_SHARE` of the time left (the first plan's time varies
    twofold with the machine's load, and without it the answer is the greedy plan). Asked
    only where PyVRP does not plan the whole problem."""
    if settings.decompose == "never":
        return None
    if settings.decompose == "always":
        return f"Planned day by day (settings.decompose = 'always', {visits} visits)"
    need = whole_week_seconds(visits, nodes, vehicles)
    if need <= MODEL_SHARE * budget.left():
        return None
    enough = budget.elapsed() + need / MODEL_SHARE
    advice = (
        f"raise the time limit to at least {enough:.0f} s or plan fewer visits at once"
        if enough <= MAX_ADVISED_LIMIT
        else "plan fewer visits at once"
    )
    return (
        f"Planned day by day: {visits} visits on {vehicles} van-days are too many for one plan "
        f"in the {budget.time_limit:g} s time limit (OR-Tools' model and first plan take about "
        f"{need:.0f} s; {advice} for a plan of the whole horizon)"
    )


def day_by_day_reserve(visits: int) -> float:
    """Seconds before the time limit at which the days end (:data:`RESERVE_SECONDS`,
    :data:`RESERVE_PER_VISIT`)."""
    return RESERVE_SECONDS + visits * RESERVE_PER_VISIT


def by_day_notice(reason: str, result: SearchResult, problem: Problem) -> str:
    """The plan's warning: ``reason`` (:func:`day_by_day_reason`) and how many days of
    ``problem`` :func:`plan_by_day` improved (its ``result``: one solution per improved day
    after the greedy plan's)."""
    if result.stats.engine == "pyvrp-days":
        improved, days = result.stats.solutions - 1, len({s.day for s in problem.shifts})
        return (
            f"{reason}. The quick greedy plan was improved with PyVRP one day at a time "
            f"({improved} of {days} days improved)."
        )
    return (
        f"{reason}. PyVRP improved no day in the time, so this is the quick greedy plan "
        "(routes short enough to need no break)."
    )


def open_days(problem: Problem, visit_ids: Iterable[str]) -> dict[str, frozenset[int]]:
    """The days each visit may go on: the days with a van-day that may serve it (skills, days,
    pins, windows, reach from the depots)."""
    by_day: dict[int, list[Shift]] = {}
    for s in problem.shifts:
        by_day.setdefault(s.day, []).append(s)
    classes = {day: vehicle_classes(problem, shifts) for day, shifts in by_day.items()}
    out: dict[str, frozenset[int]] = {}
    for vid in visit_ids:
        visit = problem.visit(vid)
        out[vid] = frozenset(
            day
            for day, shifts in by_day.items()
            if allowed_vehicles(problem, visit, shifts, classes[day])
        )
    return out


def day_candidates(
    problem: Problem,
    day: int,
    served: Sequence[str],
    left_out: Iterable[str],
    days_of: Mapping[str, frozenset[int]],
    limit: int = MAX_DAY_CLIENTS,
) -> tuple[str, ...]:
    """The visits of ``day``'s problem: every visit ``served`` on it, then the ``left_out``
    visits that may go on it (``days_of``), must visits first, then those with the fewest open
    days, then in the given order, up to ``limit`` in all (the served ones always)."""
    extra = [vid for vid in left_out if day in days_of.get(vid, frozenset())]
    extra.sort(key=lambda vid: (not problem.visit(vid).is_must, len(days_of[vid])))
    room = max(limit - len(served), 0)
    return (*served, *extra[:room])


def day_problem(problem: Problem, day: int, visit_ids: Sequence[str]) -> Problem:
    """The problem of ``day``: its van-days and the visits ``visit_ids`` (as they are)."""
    shifts = tuple(s for s in problem.shifts if s.day == day)
    wanted = set(visit_ids)
    visits = tuple(v for v in problem.visits if v.id in wanted)
    return replace(problem, shifts=shifts, visits=visits)


def all_optional(mapping: PyvrpMapping, problem: Problem) -> PyvrpMapping:
    """``mapping`` with every client and group optional; a must visit's prize is its penalty
    capped at :data:`MUST_PRIZE_CAP` (optional visits keep theirs)."""
    data = mapping.data
    cap = round(MUST_PRIZE_CAP * COST_SCALE)
    clients = []
    for c in data.clients():
        penalty = round(problem.objective.penalty(problem.visit(str(c.name)).priority) * COST_SCALE)
        clients.append(
            pyvrp.Client(
                location=c.location,
                delivery=list(c.delivery),
                pickup=list(c.pickup),
                service_duration=c.service_duration,
                tw_early=c.tw_early,
                tw_late=c.tw_late,
                release_time=c.release_time,
                prize=min(penalty, cap),
                required=False,
                group=c.group,
                name=c.name,
            )
        )
    groups = [pyvrp.ClientGroup(list(g.clients), required=False) for g in data.groups()]
    return replace(mapping, data=data.replace(clients=clients, groups=groups))


def warm_start(mapping: PyvrpMapping, routes: Sequence[Route]) -> pyvrp.Solution | None:
    """PyVRP's solution of the day's ``routes`` (each stop as the client whose start range
    holds its start), or None when one does not map (a start outside every client's range)."""
    clients: dict[str, list[int]] = {}
    for i, ref in enumerate(mapping.clients):
        clients.setdefault(ref.visit_id, []).append(i)
    type_of = {(s.van_id, s.day): t for t, ref in enumerate(mapping.types) for s in ref.shifts}
    out = []
    for r in routes:
        t = type_of.get((r.van_id, r.day))
        if t is None:
            return None
        visits = []
        for stop in r.stops:
            found = [
                i
                for i in clients.get(stop.visit_id, [])
                if mapping.clients[i].early <= stop.start <= mapping.clients[i].late
            ]
            if not found:
                return None
            visits.append(found[0])
        out.append(pyvrp.Route(mapping.data, visits, t))
    return pyvrp.Solution(mapping.data, out)


@dataclass
class _Days:
    """The plan while the days are improved: routes by day, left-out visits (in problem
    order), the days improved."""

    routes: dict[int, list[Route]]
    left_out: list[str]
    improved: int = 0


def plan_by_day(
    task: Task,
    settings: SolverSettings,
    deadline: float,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> SearchResult:
    """The task's greedy plan (:meth:`optimizer.search.Task.with_greedy`, which must exist)
    improved day by day until ``deadline`` (``time.monotonic()``) or ``stop``; see the module
    docstring. Status ``SUCCESS`` (``STOPPED`` after a stop) when a day was improved, else
    ``GREEDY``; engine ``pyvrp-days``, or ``greedy``."""
    greedy = task.greedy
    assert greedy is not None, "plan_by_day needs the task's greedy plan"
    problem = task.problem
    days = sorted({s.day for s in problem.shifts})
    state = _Days({d: [r for r in greedy.routes if r.day == d] for d in days}, list(greedy.dropped))
    days_of = open_days(
        problem, [*(s.visit_id for r in greedy.routes for s in r.stops), *greedy.dropped]
    )
    day_settings = replace(settings, statutory_breaks="placed")
    # The days end a little early: the pass over the whole week (below) gets the rest.
    days_end = deadline - WEEK_REPAIR_SHARE * max(deadline - time.monotonic(), 0.0)
    for i, day in enumerate(days):
        if cancelled(stop) or time.monotonic() >= days_end:
            break
        served = [s.visit_id for r in state.routes[day] for s in r.stops]
        candidates = day_candidates(problem, day, served, state.left_out, days_of)
        later = sum(
            min(
                MAX_DAY_CLIENTS,
                sum(len(r.stops) for r in state.routes[d])
                + sum(1 for v in state.left_out if d in days_of[v]),
            )
            for d in days[i + 1 :]
        )
        share = len(candidates) / max(len(candidates) + later, 1)
        day_end = time.monotonic() + share * (days_end - time.monotonic())
        before = state.improved
        _improve_day(task, day_settings, day, candidates, state, day_end, stop)
        if on_progress is not None and state.improved > before:
            dropped = _ordered_left_out(problem, state.left_out)
            routes = [r for d in days for r in state.routes[d]]
            objective = plan_objective(task, routes, dropped)
            on_progress(Progress(objective, 1 + state.improved, time.monotonic() - task.t0))
    routes = [r for d in days for r in state.routes[d]]
    dropped = _ordered_left_out(problem, state.left_out)
    strategy = f"greedy + PyVRP by day ({state.improved} of {len(days)} days improved)"
    week = _repair_week(task, routes, dropped, deadline, stop)
    if week is not None:
        routes, dropped = week.routes, week.dropped
        strategy += " + ejection over the week"
        if on_progress is not None:
            objective = plan_objective(task, routes, dropped)
            on_progress(Progress(objective, 1 + state.improved, time.monotonic() - task.t0))
    if state.improved:
        status, engine = ("STOPPED" if cancelled(stop) else "SUCCESS"), "pyvrp-days"
    else:
        status, engine = "GREEDY", "greedy"
    stats = SolverStats(
        status=status,
        objective=plan_objective(task, routes, dropped),
        wall_time=time.monotonic() - task.t0,
        solutions=1 + state.improved,
        workers=1,
        strategy=strategy,
        engine=engine,
    )
    log.info("planned day by day: %d of %d days improved", state.improved, len(days))
    return SearchResult(routes, dropped, dict(greedy.excluded), stats)


def _repair_week(
    task: Task,
    routes: list[Route],
    dropped: list[str],
    deadline: float,
    stop: threading.Event | None,
) -> Served | None:
    """The week's plan after insertion and ejection across all its days
    (:func:`optimizer.ejection.serve_more`) until ``deadline``: a visit left out on its day
    may fit on another. None when it serves no better (or there is nothing to do)."""
    if not dropped or not routes or cancelled(stop) or time.monotonic() >= deadline:
        return None
    found = serve_more(task.problem, routes, dropped, deadline, lambda: cancelled(stop))
    if found.delta >= 0:
        return None
    log.info("the whole week: %d -> %d visits left out", len(dropped), len(found.dropped))
    return found


def _improve_day(
    task: Task,
    settings: SolverSettings,
    day: int,
    candidates: Sequence[str],
    state: _Days,
    day_end: float,
    stop: threading.Event | None,
) -> None:
    """PyVRP on ``day``'s problem of ``candidates`` until ``day_end``; its checked plan
    replaces the day's routes in ``state`` when better (see the module docstring)."""
    problem = task.problem
    sub = day_problem(problem, day, candidates)

    def should_stop() -> bool:
        return cancelled(stop) or time.monotonic() >= day_end

    found = express(sub, settings, {}, None, should_stop)
    if not isinstance(found, PyvrpMapping):
        log.info("day %d stays greedy: %s", day, found.reason)
        return
    if setup_seconds(found.data.num_clients) > day_end - time.monotonic():
        log.info("day %d stays greedy: PyVRP's set-up does not fit in its time", day)
        return
    mapping = all_optional(found, sub)
    sub_task = Task(sub, excluded={}, t0=task.t0)
    greedy_routes = state.routes[day]
    initial = warm_start(mapping, greedy_routes)
    repair_at = day_end - REPAIR_SHARE * max(day_end - time.monotonic(), 0.0)
    run = run_pyvrp(
        mapping, repair_at - time.monotonic(), settings, lambda: cancelled(stop), initial=initial
    )
    outcome = outcome_of(sub_task, mapping, run)  # None when the checker rejects it
    if outcome.routes is None:
        log.info("day %d stays greedy: PyVRP has no checked plan", day)
        return
    routes, objective = list(outcome.routes), outcome.objective
    if outcome.dropped and not cancelled(stop):
        # PyVRP plans without the statutory break; placing it drops the stops it leaves no
        # room for (optimizer.breaks.fit_breaks). Insertion and ejection with the break placed
        # exactly puts them, or other left-out candidates, back where they fit.
        repaired = serve_more(sub, routes, outcome.dropped, day_end, should_stop)
        if repaired.delta < 0:
            log.info(
                "day %d: %d -> %d candidates left out after insertion and ejection",
                day,
                len(outcome.dropped),
                len(repaired.dropped),
            )
            routes, objective = repaired.routes, objective + repaired.delta
    modelled = set(mapping.visit_ids)
    served_before = {s.visit_id for r in greedy_routes for s in r.stops}
    before = plan_objective(
        sub_task, greedy_routes, [v for v in modelled if v not in served_before]
    )
    served_now = {s.visit_id for r in routes for s in r.stops}
    musts_before = sum(problem.visit(v).is_must for v in served_before)
    musts_now = sum(problem.visit(v).is_must for v in served_now)
    if (musts_now, -objective) <= (musts_before, -before + BETTER_BY):
        log.info("day %d stays greedy: PyVRP's plan is no better", day)
        return
    log.info(
        "day %d: %d -> %d visits (%d -> %d must), objective %.1f -> %.1f",
        day,
        len(served_before),
        len(served_now),
        musts_before,
        musts_now,
        before,
        objective,
    )
    state.routes[day] = routes
    left = (set(state.left_out) | served_before) - served_now
    state.left_out = _ordered_left_out(problem, left)
    state.improved += 1


def _ordered_left_out(problem: Problem, left_out: Iterable[str]) -> list[str]:
    wanted = set(left_out)
    return [v.id for v in problem.visits if v.id in wanted]
