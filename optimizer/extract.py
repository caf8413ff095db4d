"""Turn an OR-Tools assignment into :class:`~optimizer.plan.Route` objects.

Service start times and break positions come from the solver; the departure is moved as late as
the first stop allows (no pointless waiting at the start), and arrivals are replayed leg by leg
with the plan's semantics: the van drives straight on after a service, a break may interrupt the
drive (``arrival = previous end + travel + breaks before the arrival``), and any remaining time
before the service start is waiting.
"""

from __future__ import annotations

import logging

from ortools.constraint_solver import pywrapcp

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
    """Routes with at least one stop, and the ids of modelled visits the solver dropped."""
    routing, time = model.routing, model.time
    problem = model.problem
    routes: list[Route] = []
    served: set[str] = set()
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
        routes.append(route)
        served.update(s.visit_id for s in route.stops)
    dropped = [v for v in model.visit_ids if v not in served]
    return routes, dropped


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
