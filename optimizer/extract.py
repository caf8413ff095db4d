"""Turn an OR-Tools assignment into :class:`~optimizer.plan.Route` objects.

Service start times and break positions come from the solver; the departure is moved as late as
the first stop allows (no pointless waiting at the start), and arrivals are replayed leg by leg
with the plan's semantics: the van drives straight on after a service, a break may interrupt the
drive (``arrival = previous end + travel + breaks before the arrival``), and any remaining time
before the service start is waiting.
"""

from __future__ import annotations

import logging
from itertools import pairwise

from ortools.constraint_solver import pywrapcp

from optimizer.breaks import fit_breaks, route_of, schedule, start_range, stop_ranges
from optimizer.domain import Problem
from optimizer.model import BreakSpec, NodeGraph, VanModel
from optimizer.plan import BreakSlot, Route, Stop

log = logging.getLogger(__name__)


class ExtractionError(RuntimeError):
    """The solver's assignment cannot be turned into a consistent plan (a model bug)."""


def route_nodes(model: VanModel, assignment: pywrapcp.Assignment) -> list[list[int]]:
    """Visit nodes in route order, per vehicle."""
    routing, manager = model.routing, model.manager
    out: list[list[int]] = []
    for k in range(model.vehicle_count):
        nodes: list[int] = []
        index = assignment.Value(routing.NextVar(routing.Start(k)))
        while not routing.IsEnd(index):
            nodes.append(manager.IndexToNode(index))
            index = assignment.Value(routing.NextVar(index))
        out.append(nodes)
    return out


def extract_routes(
    model: VanModel, assignment: pywrapcp.Assignment
) -> tuple[list[Route], list[str]]:
    """Routes with at least one stop, and the ids of modelled visits the solver dropped. On the
    vehicles searched without their statutory break (``model.placed``) the break is placed
    here (:func:`optimizer.breaks.fit_breaks`); a route where it does not fit loses stops, and
    every dropped visit is then offered to those vehicles again (:func:`_reinsert`)."""
    routing, time = model.routing, model.time
    problem = model.problem
    by_vehicle: dict[int, Route] = {}
    for k, nodes in enumerate(route_nodes(model, assignment)):
        if not nodes:
            continue
        starts = [assignment.Value(time.CumulVar(model.manager.NodeToIndex(n))) for n in nodes]
        start_c = assignment.Value(time.CumulVar(routing.Start(k)))
        end_c = assignment.Value(time.CumulVar(routing.End(k)))
        placed: list[tuple[int, BreakSpec]] = []
        for iv, spec in model.breaks.get(k, []):
            if assignment.PerformedValue(iv):
                placed.append((assignment.StartValue(iv), spec))
        route = build_route(problem, model, k, nodes, starts, start_c, end_c, placed)
        if k in model.placed:
            fitted = fit_breaks(problem, model.shifts[k], route)
            if fitted.dropped:
                log.info(
                    "vehicle %d: the statutory break fits only without %s",
                    k,
                    ", ".join(fitted.dropped),
                )
            if fitted.route is None:
                continue
            route = fitted.route
        by_vehicle[k] = route
    served = {s.visit_id for r in by_vehicle.values() for s in r.stops}
    dropped = [v for v in model.visit_ids if v not in served]
    if model.placed and dropped:
        dropped = _reinsert(model, by_vehicle, dropped)
    return [by_vehicle[k] for k in sorted(by_vehicle)], dropped


def _reinsert(model: VanModel, routes: dict[int, Route], dropped: list[str]) -> list[str]:
    """Offer each dropped visit (the highest penalty first) to the vehicles whose breaks are
    placed: at the cheapest position (by the model's arc costs) where the route, break
    included, still fits (:func:`optimizer.breaks.schedule`) and that costs less than the
    penalty. The search, which saw a shorter span instead of the break, may have left out
    visits that fit once the break lies in waiting time, or a break placement dropped them.
    ``routes`` (by vehicle) is updated; returns the visits still dropped."""
    routing, manager = model.routing, model.manager

    def penalty(vid: str) -> int:
        index = manager.NodeToIndex(model.nodes_of_visit(vid)[0])
        return int(routing.GetDisjunctionPenalty(routing.GetDisjunctionIndices(index)[0]))

    left: list[str] = []
    for vid in sorted(dropped, key=lambda v: -penalty(v)):
        worth = penalty(vid)
        candidates: list[tuple[int, int, int, int]] = []  # cost, vehicle, position, node
        for n in model.nodes_of_visit(vid):
            index = manager.NodeToIndex(n)
            for k in model.allowed[n]:
                if k not in model.placed:
                    continue
                route = routes.get(k)
                path = [routing.Start(k)]
                if route is not None:
                    path += [_index(model, s.visit_id, s.start) for s in route.stops]
                path.append(routing.End(k))
                for pos, (a, b) in enumerate(pairwise(path)):
                    cost = (
                        routing.GetArcCostForVehicle(a, index, k)
                        + routing.GetArcCostForVehicle(index, b, k)
                        - routing.GetArcCostForVehicle(a, b, k)
                    )
                    if cost < worth:
                        candidates.append((cost, k, pos, n))
        for _, k, pos, n in sorted(candidates):
            if _insert(model, routes, k, pos, n):
                break
        else:
            left.append(vid)
    return [v for v in model.visit_ids if v in set(left)]


def _index(model: VanModel, visit_id: str, start: int) -> int:
    """The routing index of the node of ``visit_id`` served at ``start`` (its window's)."""
    nodes = model.nodes_of_visit(visit_id)
    for n in nodes:
        if all(w.start <= start <= w.end for w in model.visits[n].windows):
            return int(model.manager.NodeToIndex(n))
    return int(model.manager.NodeToIndex(nodes[0]))


def _insert(model: VanModel, routes: dict[int, Route], k: int, pos: int, node: int) -> bool:
    """Put visit node ``node`` at position ``pos`` of vehicle ``k``'s route when the route
    still fits (window, break, capacity, reachable legs); whether it did."""
    problem, shift = model.problem, model.shifts[k]
    visit = model.visits[node]
    span = start_range(visit, shift)
    if span is None:
        return False
    route = routes.get(k)
    stops = list(route.stops) if route is not None else []
    visits = [problem.visit(s.visit_id) for s in stops]
    windows = stop_ranges(problem, shift, route) if route is not None else []
    visits.insert(pos, problem.visit(visit.id))
    windows.insert(pos, span)
    van = problem.van(shift.van_id)
    if van.capacity is not None and sum(v.demand for v in visits) > van.capacity:
        return False
    m = problem.matrix
    locs = [van.start_location, *(v.location for v in visits), van.end]
    if not all(m.reachable(a, b) for a, b in pairwise(locs)):
        return False
    timing = schedule(problem, shift, visits, windows)
    if timing is None:
        return False
    routes[k] = route_of(problem, shift, visits, timing)
    return True


def solution_cost(model: VanModel, routes: list[Route], dropped: list[str]) -> int:
    """The model's objective (model units) of a plan: each route's arcs (fixed cost included)
    on its vehicle, and the penalty of each dropped visit. For plans the extraction changed
    (a statutory break that fit only without some stops)."""
    routing, manager = model.routing, model.manager
    total = 0
    for r in routes:
        k = model.vehicle_of(r.van_id, r.day)
        if k is None:
            raise ExtractionError(f"route {r.van_id}/day {r.day}: no vehicle")
        path = [routing.Start(k)]
        path += [manager.NodeToIndex(model.nodes_of_visit(s.visit_id)[0]) for s in r.stops]
        path.append(routing.End(k))
        total += sum(routing.GetArcCostForVehicle(i, j, k) for i, j in pairwise(path))
    for vid in dropped:
        index = manager.NodeToIndex(model.nodes_of_visit(vid)[0])
        total += routing.GetDisjunctionPenalty(routing.GetDisjunctionIndices(index)[0])
    return total


def build_route(
    problem: Problem,
    model: VanModel | NodeGraph,
    k: int,
    nodes: list[int],
    starts: list[int],
    start_c: int,
    end_c: int,
    placed: list[tuple[int, BreakSpec]],
) -> Route:
    """The route of vehicle ``k`` visiting ``nodes`` with service ``starts``, between the
    vehicle's start and end times ``start_c`` and ``end_c``, with breaks ``placed`` (start,
    spec); from an assignment or from :func:`optimizer.greedy.greedy_plan`."""
    shift = model.shifts[k]
    van = problem.van(shift.van_id)
    m = problem.matrix
    visits = [model.visits[n] for n in nodes]
    ends = [s + v.duration for s, v in zip(starts, visits, strict=True)]
    placed.sort(key=lambda p: p[0])
    inside = [
        (b, b + spec.duration) for b, spec in placed if start_c <= b and b + spec.duration <= end_c
    ]
    outside = [
        (b, b + spec.duration)
        for b, spec in placed
        if not spec.statutory and not (start_c <= b and b + spec.duration <= end_c)
    ]

    # Depart as late as the first leg (and breaks taken on it) allows.
    first_leg = m.duration(van.start_location, visits[0].location)
    gap0 = [b for b in inside if b[1] <= starts[0]]
    depart = starts[0] - first_leg - sum(e - s for s, e in gap0)
    if gap0:
        depart = min(depart, gap0[0][0])
    if depart < start_c:
        raise ExtractionError(f"vehicle {k}: departure {depart} before solver start {start_c}")

    kept: list[tuple[int, int]] = []
    stops: list[Stop] = []
    prev_loc, prev_end = van.start_location, depart
    for v, s, e in zip(visits, starts, ends, strict=True):
        travel = m.duration(prev_loc, v.location)
        gap = [b for b in inside if prev_end <= b[0] and b[1] <= s]
        arrival, _ = _drive(prev_end, travel, gap)
        if arrival > s:
            raise ExtractionError(f"vehicle {k}: arrival {arrival} after start {s} of {v.id}")
        kept.extend(gap)
        on_wait = sum(min(be, s) - max(bs, arrival) for bs, be in gap if be > arrival)
        stops.append(
            Stop(
                visit_id=v.id,
                location=v.location,
                arrival=arrival,
                start=s,
                end=e,
                waiting=s - arrival - on_wait,
                travel_time=travel,
                distance=m.distance(prev_loc, v.location),
            )
        )
        prev_loc, prev_end = v.location, e

    ret = m.duration(prev_loc, van.end)
    gap = [b for b in inside if prev_end <= b[0]]
    end, after = _drive(prev_end, ret, gap)
    kept.extend(b for b in gap if b not in after)
    for b in after:
        # A break after the return is off duty; statutory ones are then not needed (the
        # solver counted them inside, so the replayed route is only shorter).
        if any(b == (bs, bs + spec.duration) and not spec.statutory for bs, spec in placed):
            outside.append(b)
    lost = [b for b in inside if b not in kept and b not in after]
    if lost:
        raise ExtractionError(f"vehicle {k}: breaks {lost} overlap a service")
    if end > end_c:
        raise ExtractionError(f"vehicle {k}: return {end} after solver end {end_c}")
    slots = sorted({*kept, *outside})
    return Route(
        van_id=shift.van_id,
        day=shift.day,
        start_location=van.start_location,
        end_location=van.end,
        start=depart,
        end=end,
        stops=tuple(stops),
        breaks=tuple(BreakSlot(s, e) for s, e in slots),
        return_travel_time=ret,
        return_distance=m.distance(prev_loc, van.end),
    )


def _drive(
    leave: int, travel: int, breaks: list[tuple[int, int]]
) -> tuple[int, list[tuple[int, int]]]:
    """Arrival time when leaving at ``leave`` and driving ``travel`` s, interrupted by every
    break that starts before the van would arrive; returns the arrival and the breaks that lie
    after it (taken while waiting, or after the return)."""
    t, rest = leave, travel
    after: list[tuple[int, int]] = []
    for bs, be in breaks:
        if after or t + rest <= bs:
            after.append((bs, be))
            continue
        if bs < t:
            raise ExtractionError(f"break {bs}..{be} overlaps the drive or another break")
        rest -= bs - t
        t = be
    return t + rest, after
