"""The OR-Tools routing model of a :class:`~optimizer.domain.Problem`.

One routing vehicle per shift (van-day). Nodes are the modelled visits followed by one node per
distinct depot location. All matrices are registered with ``RegisterTransitMatrix`` (no Python
callbacks in the search loop).

Costs are integers in milli-euros (:data:`COST_SCALE` units per euro): with ``cost_per_km=1`` and
distances in metres an arc costs exactly its length in metres, so Solomon-style instances
(distance x 1000) lose no precision.

Time: the time dimension's cumul at a visit is the *start of service*; transit(i, j) = service(i) +
travel(i, j); slack is waiting (and breaks). Visit windows contain the whole service, so the start
must lie in ``[w.start, w.end - duration]`` of some window.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp

from optimizer.domain import UNREACHABLE, Break, Problem, Shift, Visit
from optimizer.plan import Reason, Unassigned
from optimizer.settings import SolverSettings

log = logging.getLogger(__name__)

COST_SCALE = 1000
"""Integer cost units per euro."""

_FORBIDDEN_COST = 10**9  # arc cost of an unreachable pair (the arc is also removed)

Interval = tuple[int, int]


@dataclass(frozen=True)
class BreakSpec:
    """One modelled break of a vehicle. ``statutory`` breaks are optional and only reported when
    the solver places them inside the route; explicit (configured) breaks are always taken."""

    earliest_start: int
    latest_start: int
    duration: int
    statutory: bool


@dataclass
class VanModel:
    """The built routing model plus everything extraction needs to read a solution back."""

    problem: Problem
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time: pywrapcp.RoutingDimension
    shifts: tuple[Shift, ...]  # by vehicle
    # By visit node (node i < len(visits)). A visit with several time windows has one node per
    # window (the node's Visit carries only that window), joined in one disjunction: the
    # search picks the window by picking the node.
    visits: tuple[Visit, ...]
    node_location: tuple[str, ...]  # by node
    breaks: dict[int, list[tuple[pywrapcp.IntervalVar, BreakSpec]]]  # by vehicle
    excluded: dict[str, Unassigned]  # visits left out of the model, with reasons
    anchors: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def vehicle_count(self) -> int:
        return len(self.shifts)

    def vehicle_of(self, van_id: str, day: int) -> int | None:
        return next(
            (v for v, s in enumerate(self.shifts) if s.van_id == van_id and s.day == day), None
        )

    def nodes_of_visit(self, visit_id: str) -> list[int]:
        """The visit's nodes (one per window it may be served in); empty when left out."""
        return self._visit_nodes.get(visit_id, [])

    @property
    def visit_ids(self) -> list[str]:
        """Ids of the modelled visits, once each, in node order."""
        return list(self._visit_nodes)

    @property
    def has_window_alternatives(self) -> bool:
        """Whether some visit has a node per window (several nodes in one disjunction)."""
        return len(self._visit_nodes) < len(self.visits)

    def __post_init__(self) -> None:
        self._visit_nodes: dict[str, list[int]] = {}
        for i, v in enumerate(self.visits):
            self._visit_nodes.setdefault(v.id, []).append(i)


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(i for i in intervals if i[0] <= i[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _start_ranges(visit: Visit, shift: Shift) -> Iterator[Interval]:
    """Service-start ranges of ``visit`` on ``shift``, one per window (empty when ``lo > hi``);
    a fixed start keeps only that instant, where it fits."""
    dur = visit.duration
    first, last = shift.start, shift.end - dur
    pinned = visit.pin.start if visit.pin is not None else None
    for w in visit.windows or (None,):
        lo, hi = (first, last) if w is None else (max(first, w.start), min(last, w.end - dur))
        if pinned is None:
            yield lo, hi
        elif lo <= pinned <= hi:
            yield pinned, pinned


def start_domain(visit: Visit, shifts: Sequence[Shift]) -> list[Interval]:
    """Feasible service-start intervals of ``visit`` on the given shifts (merged, sorted)."""
    return _merge([r for s in shifts for r in _start_ranges(visit, s)])


def can_start(visit: Visit, shift: Shift) -> bool:
    """Whether ``start_domain(visit, [shift])`` is not empty, without building it."""
    return any(lo <= hi for lo, hi in _start_ranges(visit, shift))


def window_alternatives(
    visit: Visit, shifts: Sequence[Shift], vehicles: Sequence[int]
) -> list[tuple[Visit, list[int]]]:
    """The model nodes of ``visit`` on the given vehicles (``shifts[i]`` is vehicle
    ``vehicles[i]``): one node per time window when it has several, else one node. A node's
    Visit keeps only its window and the vehicles whose shift leaves room in it.

    One node whose start domain has holes (the gaps between windows) is only weakly handled by
    OR-Tools' local-search filters: moves that the filters accept then fail in the CP
    propagation, and with break intervals its finalizer can search for seconds per move. With a
    node per window every domain is one interval per shift."""
    if len(visit.windows) <= 1:
        return [(visit, list(vehicles))]
    out: list[tuple[Visit, list[int]]] = []
    for w in visit.windows:
        node_visit = replace(visit, windows=(w,))
        ks = [k for k, s in zip(vehicles, shifts, strict=True) if start_domain(node_visit, [s])]
        if ks:
            out.append((node_visit, ks))
    return out


def allowed_vehicles(problem: Problem, visit: Visit, shifts: Sequence[Shift]) -> list[int]:
    """Vehicles (indices into ``shifts``) that may serve ``visit`` on their own terms."""
    m = problem.matrix
    # Per shift window and per (start, end) depot pair: van-days share both.
    fits: dict[tuple[int, int], bool] = {}
    reach: dict[tuple[str, str], bool] = {}
    out = []
    for k, s in enumerate(shifts):
        van = problem.van(s.van_id)
        if not visit.skills <= van.skills:
            continue
        if visit.days is not None and s.day not in visit.days:
            continue
        pin = visit.pin
        if pin is not None and (
            (pin.van_id is not None and pin.van_id != s.van_id)
            or (pin.day is not None and pin.day != s.day)
        ):
            continue
        window = (s.start, s.end)
        if window not in fits:
            fits[window] = can_start(visit, s)
        if not fits[window]:
            continue
        depots = (van.start_location, van.end)
        if depots not in reach:
            # A detour through another stop could in principle help; direct reachability from
            # the depot is what the checker and the dispatcher expect, so require it.
            reach[depots] = m.round_trip(van.start_location, visit.location, van.end)
        if not reach[depots]:
            continue
        out.append(k)
    return out


def fallback_reason(problem: Problem, visit: Visit) -> Unassigned:
    """Why a visit has no vehicle at all (used when the diagnosis did not exclude it)."""
    vans = [v for v in problem.vans if visit.skills <= v.skills]
    if not vans:
        return Unassigned(
            visit.id,
            Reason.NO_SKILLED_VAN,
            f"no van has the skills {sorted(visit.skills)}",
        )
    if visit.windows and all(w.length < visit.duration for w in visit.windows):
        return Unassigned(
            visit.id,
            Reason.SERVICE_TOO_LONG,
            f"the service ({visit.duration} s) is longer than every time window",
        )
    m = problem.matrix
    if not any(
        m.reachable(v.start_location, visit.location) and m.reachable(visit.location, v.end)
        for v in vans
    ):
        return Unassigned(visit.id, Reason.UNREACHABLE, "no van can reach the location and return")
    if visit.pin is not None:
        return Unassigned(
            visit.id, Reason.PIN_IMPOSSIBLE, "the pin (van/day/start) fits no shift and window"
        )
    return Unassigned(
        visit.id,
        Reason.NO_SHIFT_IN_WINDOW,
        "no shift of a suitable van on an allowed day leaves room for the service in a window",
    )


def _vehicle_shifts(problem: Problem) -> tuple[Shift, ...]:
    van_order = {v.id: i for i, v in enumerate(problem.vans)}
    return tuple(sorted(problem.shifts, key=lambda s: (s.day, van_order[s.van_id])))


def per_index(
    manager: pywrapcp.RoutingIndexManager,
    routing: pywrapcp.RoutingModel,
    per_node: NDArray[np.int64],
) -> list[int]:
    """``per_node`` values laid out by routing *index*, over every index (vehicle starts and ends
    have indices of their own beyond the nodes). OR-Tools reads the visit transits given to
    ``SetBreakIntervalsOfVehicle`` by index: a per-node list is read past its end."""
    indices = range(routing.Size() + routing.vehicles())
    return [int(per_node[manager.IndexToNode(i)]) for i in indices]


def build_model(
    problem: Problem,
    settings: SolverSettings | None = None,
    *,
    anchors: Mapping[str, tuple[str, int]] | None = None,
    excluded: Mapping[str, Unassigned] | None = None,
) -> VanModel:
    """Build the routing model. ``excluded`` visits (diagnosed impossible) are left out; visits
    that no vehicle can take are left out too and reported with a fallback reason."""
    settings = settings or SolverSettings()
    anchors = dict(anchors or {})
    excluded_out: dict[str, Unassigned] = dict(excluded or {})
    shifts = _vehicle_shifts(problem)
    vans = {v.id: v for v in problem.vans}
    obj = problem.objective

    # Visits in the model and the vehicles allowed for each.
    candidates = [v for v in problem.visits if v.id not in excluded_out]
    if settings.seed:
        random.Random(settings.seed).shuffle(candidates)
    visits: list[Visit] = []
    allowed: list[list[int]] = []
    for v in candidates:
        ks = allowed_vehicles(problem, v, shifts)
        if not ks:
            excluded_out[v.id] = fallback_reason(problem, v)
            continue
        for node_visit, node_allowed in window_alternatives(v, [shifts[k] for k in ks], ks):
            visits.append(node_visit)
            allowed.append(node_allowed)

    # Nodes: visits, then one node per distinct depot location.
    depot_locs: list[str] = []
    for s in shifts:
        van = vans[s.van_id]
        for loc in (van.start_location, van.end):
            if loc not in depot_locs:
                depot_locs.append(loc)
    n_visits = len(visits)
    node_location = tuple([v.location for v in visits] + depot_locs)
    depot_node = {loc: n_visits + i for i, loc in enumerate(depot_locs)}
    starts = [depot_node[vans[s.van_id].start_location] for s in shifts]
    ends = [depot_node[vans[s.van_id].end] for s in shifts]
    n_nodes = len(node_location)
    n_vehicles = len(shifts)
    if n_vehicles == 0:
        # OR-Tools needs at least one vehicle; solve() handles the empty case before building.
        raise ValueError("problem.shifts: no shifts to plan")
    manager = pywrapcp.RoutingIndexManager(n_nodes, n_vehicles, starts, ends)
    routing = pywrapcp.RoutingModel(manager)

    loc_idx = np.array([problem.matrix.index(loc) for loc in node_location], dtype=np.int64)
    dur = problem.matrix.durations[np.ix_(loc_idx, loc_idx)].astype(np.int64)
    dist = problem.matrix.distances[np.ix_(loc_idx, loc_idx)].astype(np.int64)
    unreachable = (dur == UNREACHABLE) | (dist == UNREACHABLE)
    np.fill_diagonal(unreachable, False)
    service = np.zeros(n_nodes, dtype=np.int64)
    service[:n_visits] = [v.duration for v in visits]

    service_by_index = per_index(manager, routing, service)

    horizon_max = max(
        [problem.horizon.end, *(s.end for s in shifts)] + [w.end for v in visits for w in v.windows]
    )
    # Time transit: service at the origin + travel; an unreachable arc exceeds the horizon.
    transit = np.where(unreachable, horizon_max + 1, dur + service[:, None])
    np.fill_diagonal(transit, 0)
    time_cb = routing.RegisterTransitMatrix(transit.tolist())
    routing.AddDimension(time_cb, horizon_max, horizon_max, False, "time")
    time_dim = routing.GetDimensionOrDie("time")

    # Arc costs per vehicle: distance and travel-time cost, plus destination-dependent extras
    # (continuity, anchors) that make vehicles differ.
    continuity = round(obj.continuity_cost * COST_SCALE)
    moved = round(obj.moved_visit_cost * COST_SCALE)
    base_cache: dict[tuple[float, float], NDArray[np.int64]] = {}
    cost_cb: dict[bytes, int] = {}
    for k, s in enumerate(shifts):
        van = vans[s.van_id]
        key = (van.cost_per_km, van.cost_per_hour)
        if key not in base_cache:
            c = np.rint(
                dist * (van.cost_per_km * COST_SCALE / 1000.0)
                + dur * (van.cost_per_hour * COST_SCALE / 3600.0)
            ).astype(np.int64)
            c[unreachable] = _FORBIDDEN_COST
            np.fill_diagonal(c, 0)
            base_cache[key] = c
        extra = np.zeros(n_nodes, dtype=np.int64)
        for i, v in enumerate(visits):
            if v.preferred_van is not None and v.preferred_van != s.van_id:
                extra[i] += continuity
            anchor = anchors.get(v.id)
            if anchor is not None and tuple(anchor) != (s.van_id, s.day):
                extra[i] += moved
        cb_key = repr(key).encode() + extra.tobytes()
        if cb_key not in cost_cb:
            matrix = base_cache[key] + extra[None, :]
            cost_cb[cb_key] = routing.RegisterTransitMatrix(matrix.tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_cb[cb_key], k)
        if van.fixed_cost_per_day > 0:
            routing.SetFixedCostOfVehicle(round(van.fixed_cost_per_day * COST_SCALE), k)

    # Forbidden arcs between visits, and from/to depots.
    rows, cols = np.nonzero(unreachable[:n_visits, :n_visits])
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        routing.NextVar(manager.NodeToIndex(i)).RemoveValue(manager.NodeToIndex(j))

    # Vehicles: shift windows, working time, breaks.
    breaks: dict[int, list[tuple[pywrapcp.IntervalVar, BreakSpec]]] = {}
    solver = routing.solver()
    for k, s in enumerate(shifts):
        start_var = time_dim.CumulVar(routing.Start(k))
        end_var = time_dim.CumulVar(routing.End(k))
        start_var.SetRange(s.start, s.end)
        end_var.SetRange(s.start, s.end)
        specs = _break_specs(problem, s)
        intervals: list[tuple[pywrapcp.IntervalVar, BreakSpec]] = []
        for j, b in enumerate(specs):
            iv = solver.FixedDurationIntervalVar(
                b.earliest_start, b.latest_start, b.duration, b.statutory, f"break_{k}_{j}"
            )
            intervals.append((iv, b))
            routing.AddIntervalToAssignment(iv)
        if intervals:
            time_dim.SetBreakIntervalsOfVehicle([iv for iv, _ in intervals], k, service_by_index)
        breaks[k] = intervals
        span = end_var - start_var
        inside = [(iv, b, _inside_var(solver, iv, start_var, end_var)) for iv, b in intervals]
        span_cap = s.end - s.start
        if s.breaks is None:
            rule = problem.break_rule
            if intervals:
                # No stretch longer than after_first without a break of the first size; the
                # time before the start and after the end counts as a break, so short routes
                # need none.
                time_dim.SetBreakDistanceDurationOfVehicle(rule.after_first, rule.first, k)
            else:
                span_cap = min(span_cap, rule.after_first)
            if len(inside) > 1:
                # Work above after_second (span above after_second + first with the first break
                # inside) needs the second piece inside the route too.
                longer = solver.IsGreaterCstVar(span, rule.after_second + rule.first)
                solver.Add(longer <= inside[1][2])
            else:
                span_cap = min(span_cap, rule.after_second + rule.first)
        total_breaks = sum(b.duration for _, b in intervals)
        if s.max_work is not None:
            span_cap = min(span_cap, s.max_work + total_breaks)
        if span_cap < s.end - s.start:
            time_dim.SetSpanUpperBoundForVehicle(span_cap, k)
        if s.max_work is not None and s.max_work < s.end - s.start and intervals:
            solver.Add(span - solver.Sum([var * b.duration for _, b, var in inside]) <= s.max_work)
        van = vans[s.van_id]
        # Slack cost makes OR-Tools schedule cumuls with its LP/MIP optimizer, which (9.15)
        # fails to find any solution once break intervals are present: only without breaks.
        if settings.charge_waiting and van.cost_per_hour > 0 and not intervals:
            coefficient = round(van.cost_per_hour * COST_SCALE / 3600.0)
            if coefficient > 0:
                time_dim.SetSlackCostCoefficientForVehicle(coefficient, k)

    # Visits: time domains, allowed vehicles, disjunctions.
    for i, v in enumerate(visits):
        index = manager.NodeToIndex(i)
        dom = start_domain(v, [shifts[k] for k in allowed[i]])
        cumul = time_dim.CumulVar(index)
        cumul.SetRange(dom[0][0], dom[-1][1])
        for (_, hi), (lo, _) in itertools.pairwise(dom):
            cumul.RemoveInterval(hi + 1, lo - 1)
        if len(allowed[i]) < n_vehicles:
            # SetAllowedVehiclesForIndex's absl::Span argument is not wrapped for Python in
            # ortools 9.15; restricting the vehicle variable is equivalent (-1: unperformed).
            routing.VehicleVar(index).SetValues([-1, *allowed[i]])
        if i > 0 and visits[i - 1].id == v.id:
            continue  # a further window of the visit before: its disjunction is made
        penalty = round(obj.penalty(v.priority) * COST_SCALE)
        if v.id in anchors:
            penalty += moved
        group = [index]
        while i + len(group) < n_visits and visits[i + len(group)].id == v.id:
            group.append(manager.NodeToIndex(i + len(group)))
        # At most one of the visit's window nodes is served; the penalty is paid if none is.
        routing.AddDisjunction(group, penalty, 1)

    # Capacity (generic VRP use).
    if any(van.capacity is not None for van in problem.vans) and any(v.demand for v in visits):
        demand = [0] * n_nodes
        for i, v in enumerate(visits):
            demand[i] = v.demand
        total = sum(demand)
        caps: list[int] = []
        for s in shifts:
            cap = vans[s.van_id].capacity
            caps.append(total if cap is None else cap)
        demand_cb = routing.RegisterUnaryTransitVector(demand)
        routing.AddDimensionWithVehicleCapacity(demand_cb, 0, caps, True, "load")

    if settings.finalize_times:
        # Finalizer hints: depart late, return early (the extraction does this anyway).
        for k in range(n_vehicles):
            routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(k)))
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(k)))

    log.debug(
        "model: %d visits (%d excluded), %d vehicles, %d cost classes",
        n_visits,
        len(excluded_out),
        n_vehicles,
        len(cost_cb),
    )
    return VanModel(
        problem=problem,
        manager=manager,
        routing=routing,
        time=time_dim,
        shifts=shifts,
        visits=tuple(visits),
        node_location=node_location,
        breaks=breaks,
        excluded=excluded_out,
        anchors=anchors,
    )


def _inside_var(
    solver: pywrapcp.Solver,
    iv: pywrapcp.IntervalVar,
    start_var: pywrapcp.IntVar,
    end_var: pywrapcp.IntVar,
) -> pywrapcp.IntVar:
    """1 iff the break is performed and lies inside the route span."""
    performed = iv.PerformedExpr().Var()
    after_start = solver.IsGreaterOrEqualVar(iv.SafeStartExpr(-1), start_var)
    before_end = solver.IsLessOrEqualVar(iv.SafeEndExpr(-1), end_var)
    return solver.Min(solver.Min(performed, after_start), before_end).Var()


def _break_specs(problem: Problem, shift: Shift) -> list[BreakSpec]:
    if shift.breaks is not None:
        return [_explicit(b) for b in shift.breaks]
    rule = problem.break_rule
    length = shift.end - shift.start
    if length <= rule.after_first:
        return []
    earliest = shift.start + rule.earliest_after_start
    specs = []
    if earliest + rule.first <= shift.end:
        specs.append(BreakSpec(earliest, shift.end - rule.first, rule.first, True))
    second = max(rule.second - rule.first, 0)
    if specs and second > 0 and length > rule.after_second + rule.first:
        # ArbZG allows splitting into pieces of >= 15 min; the checker counts pieces >= 15 min.
        piece = max(second, min(15 * 60, rule.first))
        if earliest + piece <= shift.end:
            specs.append(BreakSpec(earliest, shift.end - piece, piece, True))
    return specs


def _explicit(b: Break) -> BreakSpec:
    return BreakSpec(b.earliest_start, b.latest_end - b.duration, b.duration, False)
