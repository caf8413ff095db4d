"""A cheap plan for when OR-Tools' first-solution heuristics cannot finish in time.

On thousands of visits and hundreds of van-days, savings or cheapest insertion need minutes
(``benchmarks/limits.py``); this builds routes by a time-oriented nearest neighbour in a few
seconds (numpy over the candidates at each step), feasible by construction, and turns them into
a plan's routes directly (:func:`greedy_plan`; OR-Tools' own completion of given routes takes
seconds at that size too):

- each route stays inside one stretch of its shift that needs no break: at most the break
  rule's ``after_first`` long (shorter routes need no statutory break), and clear of every
  explicit break (those are taken one after the other before the departure or after the
  return);
- ``max_work`` bounds the route span (no break inside it), capacities bound the load;
- a visit node starts inside its start range (window, shift, pinned start) on a vehicle the
  model allows, and unreachable pairs are never chained.

It serves fewer visits than a real heuristic would (routes of at most six hours under the
break rule): the plan says so (status ``GREEDY`` and a warning).

A stop (or the end of the time limit) ends the construction where it is (asked once per vehicle
and every :data:`STOP_CHECK_EVERY` placed visits; seconds on a 5,000-visit week otherwise): the
routes built so far are kept and the plan says which visits were never placed
(:attr:`GreedyPlan.stopped`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.domain import UNREACHABLE, Break, Shift
from optimizer.errors import SolveStoppedError, StopCheck
from optimizer.extract import build_route
from optimizer.model import BreakSpec, NodeGraph, VanModel, start_domain
from optimizer.plan import Route

_NEVER = np.iinfo(np.int64).max // 4

STOP_CHECK_EVERY = 8
"""The construction asks ``should_stop`` after this many placed visits (and once per vehicle):
on a 5,000-visit week a vehicle's route takes tens of milliseconds, so a stop is heard within
one."""


@dataclass(frozen=True)
class _Stretch:
    """Where a route of one shift may lie without a break inside it: departure no earlier than
    ``earliest``, return no later than ``latest``, at most ``longest`` long; ``breaks`` are the
    shift's explicit breaks placed outside it (start, spec)."""

    earliest: int
    latest: int
    longest: int
    breaks: list[tuple[int, BreakSpec]]


def _before(breaks: tuple[Break, ...]) -> tuple[int, list[tuple[int, BreakSpec]]] | None:
    """Every break as early as it can be, one after the other: (when the last one ends, their
    starts), or None when they do not fit so."""
    t, out = -(1 << 62), []
    for b in sorted(breaks, key=lambda b: b.earliest_start):
        start = max(t, b.earliest_start)
        if start + b.duration > b.latest_end:
            return None
        out.append((start, _spec(b)))
        t = start + b.duration
    return t, out


def _after(breaks: tuple[Break, ...]) -> tuple[int, list[tuple[int, BreakSpec]]] | None:
    """Every break as late as it can be, one before the other: (when the first one starts,
    their starts), or None when they do not fit so."""
    t, out = 1 << 62, []
    for b in sorted(breaks, key=lambda b: b.latest_end, reverse=True):
        start = min(t, b.latest_end) - b.duration
        if start < b.earliest_start:
            return None
        out.append((start, _spec(b)))
        t = start
    return t, out


def _spec(b: Break) -> BreakSpec:
    return BreakSpec(b.earliest_start, b.latest_end - b.duration, b.duration, False)


def _stretch(model: VanModel | NodeGraph, shift: Shift) -> _Stretch | None:
    """The stretch of ``shift`` for a route without a break: at most the break rule's
    ``after_first`` long under the rule, at most ``max_work``; explicit breaks all before it or
    all after it, whichever leaves more time. None when there is no room."""
    rule = model.problem.break_rule
    longest = shift.end - shift.start
    if shift.breaks is None:
        longest = min(longest, rule.after_first)
    if shift.max_work is not None:
        longest = min(longest, shift.max_work)
    if not shift.breaks:
        return _Stretch(shift.start, shift.end, longest, [])
    options = []
    before, after = _before(shift.breaks), _after(shift.breaks)
    if before is not None:
        options.append(_Stretch(max(shift.start, before[0]), shift.end, longest, before[1]))
    if after is not None:
        options.append(_Stretch(shift.start, min(shift.end, after[0]), longest, after[1]))
    options = [o for o in options if o.latest > o.earliest]
    return max(options, key=lambda o: o.latest - o.earliest) if options else None


def greedy_routes(model: VanModel, should_stop: StopCheck | None = None) -> list[list[int]]:
    """Routes (routing indices per vehicle, without start and end) feasible in ``model``; see
    the module docstring. Raises :class:`~optimizer.errors.SolveStoppedError` when
    ``should_stop`` says so (no partial routes: a start for OR-Tools)."""
    manager = model.manager
    schedule = greedy_schedule(model, should_stop)
    if schedule.stopped:
        raise SolveStoppedError("stopped while the greedy routes were made")
    return [[manager.NodeToIndex(n) for n in r.nodes] for r in schedule.routes]


@dataclass(frozen=True)
class GreedyPlan:
    """The greedy plan's routes and the ids of the modelled visits they leave out;
    ``stopped``: a stop (``should_stop``) ended the construction before every vehicle was
    filled, so the left-out visits were never placed rather than found not to fit."""

    routes: list[Route]
    dropped: list[str]
    stopped: bool = False


def greedy_plan(model: VanModel | NodeGraph, should_stop: StopCheck | None = None) -> GreedyPlan:
    """The routes of :func:`greedy_schedule` as a plan's routes (times, breaks), and the ids
    of the modelled visits they leave out; stopped, the routes built until then."""
    schedule = greedy_schedule(model, should_stop)
    routes = [
        build_route(
            model.problem,
            model,
            k,
            r.nodes,
            r.starts,
            r.stretch.earliest,
            r.stretch.latest,
            list(r.stretch.breaks),
        )
        for k, r in enumerate(schedule.routes)
        if r.nodes
    ]
    served = {s.visit_id for r in routes for s in r.stops}
    dropped = [vid for vid in model.visit_ids if vid not in served]
    return GreedyPlan(routes, dropped, schedule.stopped)


@dataclass(frozen=True)
class GreedyRoute:
    """One vehicle's greedy route: visit nodes, their service starts, its stretch."""

    nodes: list[int]
    starts: list[int]
    stretch: _Stretch


@dataclass(frozen=True)
class GreedySchedule:
    """A route per vehicle (empty ones too); ``stopped``: ``should_stop`` ended the
    construction, the routes are those built until then (the last one ends where it was)."""

    routes: list[GreedyRoute]
    stopped: bool = False


def greedy_schedule(
    model: VanModel | NodeGraph, should_stop: StopCheck | None = None
) -> GreedySchedule:
    """A route per vehicle by a time-oriented nearest neighbour (see the module docstring).
    ``should_stop`` is asked once per vehicle and every :data:`STOP_CHECK_EVERY` placed
    visits; when it says so the routes built until then are returned (``stopped``)."""
    problem = model.problem
    n = len(model.visits)
    none = _Stretch(0, 0, 0, [])
    routes = [GreedyRoute([], [], none) for _ in range(model.vehicle_count)]
    if n == 0:
        return GreedySchedule(routes)

    def stop_now() -> bool:
        return should_stop is not None and should_stop()

    matrix = problem.matrix
    loc = np.array([matrix.index(x) for x in model.node_location], dtype=np.int64)
    service = np.array([v.duration for v in model.visits], dtype=np.int64)
    demand = np.array([v.demand for v in model.visits], dtype=np.int64)
    visit_of = [v.id for v in model.visits]
    group = np.array([model.nodes_of_visit(vid)[0] for vid in visit_of], dtype=np.int64)
    open_ = np.ones(n, dtype=bool)  # by node: its visit is not routed yet
    allowed = np.zeros((model.vehicle_count, n), dtype=bool)
    for i, ks in enumerate(model.allowed):
        allowed[ks, i] = True
    vans = {v.id: v for v in problem.vans}
    for k, shift in enumerate(model.shifts):
        if stop_now():
            return GreedySchedule(routes, stopped=True)
        mask = allowed[k] & open_
        if not mask.any():
            continue
        van = vans[shift.van_id]
        room = _stretch(model, shift)
        if room is None:
            continue
        earliest, latest, longest = room.earliest, room.latest, room.longest
        route = routes[k] = GreedyRoute([], [], room)
        lo = np.full(n, _NEVER, dtype=np.int64)
        hi = np.full(n, -1, dtype=np.int64)
        stretch = Shift(shift.van_id, shift.day, earliest, latest)
        for i in np.flatnonzero(mask).tolist():
            dom = start_domain(model.visits[i], [stretch])
            if dom:
                lo[i], hi[i] = dom[0][0], dom[-1][1]
        start_loc = matrix.index(van.start_location)
        end_loc = matrix.index(van.end)
        home = matrix.durations[loc[:n], end_loc]
        here, now, departure, load = start_loc, earliest, None, 0
        capacity = van.capacity if van.capacity is not None else _NEVER
        while True:
            travel = matrix.durations[here, loc[:n]]
            arrive = now + travel
            start = np.maximum(arrive, lo)
            # The departure of a route is fixed by its first visit (leaving as late as it can).
            leave = departure if departure is not None else start - travel
            back = start + service + home
            ok = (
                mask
                & (travel != UNREACHABLE)
                & (home != UNREACHABLE)
                & (start <= hi)
                & (back <= latest)
                & (back - leave <= longest)
                & (load + demand <= capacity)
            )
            if not ok.any():
                break
            score = np.where(ok, start - now, _NEVER)
            i = int(np.argmin(score))
            if departure is None:
                departure = int(start[i] - travel[i])
            route.nodes.append(i)
            route.starts.append(int(start[i]))
            load += int(demand[i])
            here, now = int(loc[i]), int(start[i] + service[i])
            done = group == group[i]  # every window node of the visit
            open_ &= ~done
            mask &= ~done
            if len(route.nodes) % STOP_CHECK_EVERY == 0 and stop_now():
                return GreedySchedule(routes, stopped=True)
    return GreedySchedule(routes)
