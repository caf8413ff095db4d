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

import logging
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp

from optimizer.breaks import placed_here, relaxed_span
from optimizer.domain import UNREACHABLE, Break, Problem, Shift, Van, Visit
from optimizer.errors import StopCheck, check_stop
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
    allowed: tuple[list[int], ...] = ()  # by visit node: the vehicles that may serve it
    # Vehicles searched without their statutory break (a shorter span instead); the extraction
    # places it (optimizer.breaks).
    placed: frozenset[int] = frozenset()

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


@dataclass
class NodeGraph:
    """The nodes of a model without the OR-Tools model: what :func:`optimizer.greedy.greedy_plan`
    and :func:`optimizer.extract.build_route` read (a :class:`VanModel` has the same attributes).
    Built in a fraction of a second where the OR-Tools model takes many (``node_graph``), so a
    greedy plan exists before that build starts."""

    problem: Problem
    shifts: tuple[Shift, ...]  # by vehicle
    visits: tuple[Visit, ...]  # by visit node
    node_location: tuple[str, ...]  # by node
    allowed: tuple[list[int], ...]  # by visit node
    excluded: dict[str, Unassigned]

    @property
    def vehicle_count(self) -> int:
        return len(self.shifts)

    def nodes_of_visit(self, visit_id: str) -> list[int]:
        return self._visit_nodes.get(visit_id, [])

    @property
    def visit_ids(self) -> list[str]:
        return list(self._visit_nodes)

    def __post_init__(self) -> None:
        self._visit_nodes: dict[str, list[int]] = {}
        for i, v in enumerate(self.visits):
            self._visit_nodes.setdefault(v.id, []).append(i)


def node_graph(
    problem: Problem,
    settings: SolverSettings | None = None,
    excluded: Mapping[str, Unassigned] | None = None,
) -> NodeGraph:
    """The nodes :func:`build_model` would make (the same order, the same allowed vehicles),
    without building the OR-Tools model."""
    excluded_out: dict[str, Unassigned] = dict(excluded or {})
    shifts = _vehicle_shifts(problem)
    graph = _graph(problem, settings or SolverSettings(), shifts, excluded_out)
    return NodeGraph(
        problem, shifts, graph.visits, graph.node_location, graph.allowed, excluded_out
    )


def merge_intervals(intervals: list[Interval]) -> list[Interval]:
    """The intervals merged (touching or overlapping ones joined, empty ones dropped), sorted."""
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
    return merge_intervals([r for s in shifts for r in _start_ranges(visit, s)])


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


VehicleClasses = list[tuple[Shift, list[int]]]
"""Vehicles alike in everything :func:`allowed_vehicles` looks at (skills, day, shift window,
depots): a representative shift and the vehicle indices of the class."""


def vehicle_classes(problem: Problem, shifts: Sequence[Shift]) -> VehicleClasses:
    """The classes of the vehicles (``shifts[k]`` is vehicle ``k``): a fleet of many similar vans
    is a few classes, so each visit is tested once per class, not once per van-day."""
    classes: dict[tuple[object, ...], tuple[Shift, list[int]]] = {}
    for k, s in enumerate(shifts):
        van = problem.van(s.van_id)
        key = (van.skills, s.day, s.start, s.end, van.start_location, van.end)
        classes.setdefault(key, (s, []))[1].append(k)
    return list(classes.values())


def allowed_vehicles(
    problem: Problem,
    visit: Visit,
    shifts: Sequence[Shift],
    classes: VehicleClasses | None = None,
) -> list[int]:
    """Vehicles (indices into ``shifts``) that may serve ``visit`` on their own terms, in
    ascending order; ``classes`` are :func:`vehicle_classes` of ``shifts`` (built when None)."""
    out: list[int] = []
    for s, members in classes if classes is not None else vehicle_classes(problem, shifts):
        if _allowed_on(problem, visit, s):
            out.extend(members)
    pin = visit.pin
    if pin is not None and pin.van_id is not None:
        out = [k for k in out if shifts[k].van_id == pin.van_id]
    return sorted(out)


def _allowed_on(problem: Problem, visit: Visit, s: Shift) -> bool:
    """Whether the vehicle of shift ``s`` may serve ``visit`` (a pinned van aside)."""
    van = problem.van(s.van_id)
    if not visit.skills <= van.skills:
        return False
    if visit.days is not None and s.day not in visit.days:
        return False
    pin = visit.pin
    if pin is not None and pin.day is not None and pin.day != s.day:
        return False
    # A detour through another stop could in principle help; direct reachability from the
    # depot is what the checker and the dispatcher expect, so require it.
    return can_start(visit, s) and problem.matrix.round_trip(
        van.start_location, visit.location, van.end
    )


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


@dataclass(frozen=True)
class _Graph:
    """The nodes of the model: visit nodes (one per window a visit may be served in) with the
    vehicles allowed for each, then one node per distinct depot location; each vehicle's start
    and end node."""

    visits: tuple[Visit, ...]
    allowed: tuple[list[int], ...]  # by visit node
    node_location: tuple[str, ...]
    starts: list[int]
    ends: list[int]


@dataclass(frozen=True)
class _Arcs:
    """Travel between nodes (seconds, metres; unreachable pairs marked) and service per node."""

    dur: NDArray[np.int64]
    dist: NDArray[np.int64]
    unreachable: NDArray[np.bool_]
    service: NDArray[np.int64]


@dataclass(frozen=True)
class _Build:
    """What the constraint functions of :func:`build_model` share."""

    problem: Problem
    settings: SolverSettings
    anchors: dict[str, tuple[str, int]]
    shifts: tuple[Shift, ...]  # by vehicle
    vans: dict[str, Van]
    graph: _Graph
    arcs: _Arcs
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    should_stop: StopCheck | None = None

    @property
    def n_visits(self) -> int:
        return len(self.graph.visits)


def build_model(
    problem: Problem,
    settings: SolverSettings | None = None,
    *,
    anchors: Mapping[str, tuple[str, int]] | None = None,
    excluded: Mapping[str, Unassigned] | None = None,
    should_stop: StopCheck | None = None,
) -> VanModel:
    """Build the routing model. ``excluded`` visits (diagnosed impossible) are left out; visits
    that no vehicle can take are left out too and reported with a fallback reason. Raises
    :class:`~optimizer.errors.SolveStoppedError` when ``should_stop`` says so (asked between
    the steps and per vehicle: on thousands of visits the build takes seconds).

    The constraints are added in a fixed order (the order of OR-Tools' variables is part of a
    reproducible search): time dimension, travel costs, unreachable arcs, then per vehicle its
    shift window, breaks, working time and waiting cost, then per visit its time windows,
    allowed vehicles and (optional) disjunction, capacities, finalizer hints."""
    settings = settings or SolverSettings()
    excluded_out: dict[str, Unassigned] = dict(excluded or {})
    shifts = _vehicle_shifts(problem)
    check_stop(should_stop)
    graph = _graph(problem, settings, shifts, excluded_out)
    check_stop(should_stop)
    if not shifts:
        # OR-Tools needs at least one vehicle; solve() handles the empty case before building.
        raise ValueError("problem.shifts: no shifts to plan")
    manager = pywrapcp.RoutingIndexManager(
        len(graph.node_location), len(shifts), graph.starts, graph.ends
    )
    b = _Build(
        problem=problem,
        settings=settings,
        anchors=dict(anchors or {}),
        shifts=shifts,
        vans={v.id: v for v in problem.vans},
        graph=graph,
        arcs=_arcs(problem, graph),
        manager=manager,
        routing=pywrapcp.RoutingModel(manager),
        should_stop=should_stop,
    )
    check_stop(should_stop)
    time_dim = _add_time_dimension(b)
    check_stop(should_stop)
    cost_classes = _add_travel_costs(b)
    check_stop(should_stop)
    _forbid_unreachable_arcs(b)
    breaks: dict[int, list[tuple[pywrapcp.IntervalVar, BreakSpec]]] = {}
    service_by_index = per_index(b.manager, b.routing, b.arcs.service)
    placed = _placed_vehicles(problem, settings, shifts)
    for k in range(len(shifts)):
        check_stop(should_stop)
        _limit_to_shift(b, time_dim, k)
        if k in placed:
            breaks[k] = []
            time_dim.SetSpanUpperBoundForVehicle(relaxed_span(shifts[k], problem.break_rule), k)
        else:
            breaks[k] = _add_breaks(b, time_dim, k, service_by_index)
            _limit_working_time(b, time_dim, k, breaks[k])
        _charge_waiting(b, time_dim, k, breaks[k])
    check_stop(should_stop)
    _restrict_visit_starts(b, time_dim)
    check_stop(should_stop)
    _restrict_vehicles(b)
    _make_visits_optional(b)
    _add_capacities(b)
    check_stop(should_stop)
    if settings.finalize_times:
        _add_finalizer_hints(b, time_dim)
    log.debug(
        "model: %d visits (%d excluded), %d vehicles, %d cost classes",
        b.n_visits,
        len(excluded_out),
        len(shifts),
        cost_classes,
    )
    return VanModel(
        problem=problem,
        manager=manager,
        routing=b.routing,
        time=time_dim,
        shifts=shifts,
        visits=graph.visits,
        node_location=graph.node_location,
        breaks=breaks,
        excluded=excluded_out,
        anchors=b.anchors,
        allowed=graph.allowed,
        placed=placed,
    )


def _placed_vehicles(
    problem: Problem, settings: SolverSettings, shifts: Sequence[Shift]
) -> frozenset[int]:
    """The vehicles whose statutory break is placed after the search
    (``settings.statutory_breaks == "placed"``, :mod:`optimizer.breaks`)."""
    if settings.statutory_breaks != "placed":
        return frozenset()
    return frozenset(k for k, s in enumerate(shifts) if placed_here(s, problem.break_rule))


def _graph(
    problem: Problem,
    settings: SolverSettings,
    shifts: tuple[Shift, ...],
    excluded_out: dict[str, Unassigned],
) -> _Graph:
    """The visit nodes (in an order shuffled by a non-zero seed) with their allowed vehicles,
    and the depot nodes. Visits no vehicle may take are added to ``excluded_out``."""
    candidates = [v for v in problem.visits if v.id not in excluded_out]
    if settings.seed:
        random.Random(settings.seed).shuffle(candidates)
    visits: list[Visit] = []
    allowed: list[list[int]] = []
    classes = vehicle_classes(problem, shifts)
    for v in candidates:
        ks = allowed_vehicles(problem, v, shifts, classes)
        if not ks:
            excluded_out[v.id] = fallback_reason(problem, v)
            continue
        for node_visit, node_allowed in window_alternatives(v, [shifts[k] for k in ks], ks):
            visits.append(node_visit)
            allowed.append(node_allowed)
    vans = {v.id: v for v in problem.vans}
    depot_locs: list[str] = []
    for s in shifts:
        van = vans[s.van_id]
        for loc in (van.start_location, van.end):
            if loc not in depot_locs:
                depot_locs.append(loc)
    depot_node = {loc: len(visits) + i for i, loc in enumerate(depot_locs)}
    return _Graph(
        visits=tuple(visits),
        allowed=tuple(allowed),
        node_location=tuple([v.location for v in visits] + depot_locs),
        starts=[depot_node[vans[s.van_id].start_location] for s in shifts],
        ends=[depot_node[vans[s.van_id].end] for s in shifts],
    )


def _arcs(problem: Problem, graph: _Graph) -> _Arcs:
    loc_idx = np.array([problem.matrix.index(loc) for loc in graph.node_location], dtype=np.int64)
    # One fancy-indexed copy each (already int64 in a TravelMatrix: no second copy).
    dur = problem.matrix.durations[np.ix_(loc_idx, loc_idx)].astype(np.int64, copy=False)
    dist = problem.matrix.distances[np.ix_(loc_idx, loc_idx)].astype(np.int64, copy=False)
    unreachable = (dur == UNREACHABLE) | (dist == UNREACHABLE)
    np.fill_diagonal(unreachable, False)
    service = np.zeros(len(graph.node_location), dtype=np.int64)
    service[: len(graph.visits)] = [v.duration for v in graph.visits]
    return _Arcs(dur, dist, unreachable, service)


SHARED_INT_LIMIT = 1 << 20
"""Matrix entries below this share one Python int per value in :func:`as_lists`."""

_ROWS_PER_STEP = 256  # rows converted between two looks at the stop request


def as_lists(matrix: NDArray[np.int64], should_stop: StopCheck | None = None) -> list[list[int]]:
    """``matrix.tolist()`` for OR-Tools' ``RegisterTransitMatrix`` (which takes nothing else),
    with every equal entry one shared Python int: 8 bytes an entry instead of 36 (5,000 visits:
    0.2 GB instead of 0.9 GB per matrix) and somewhat faster. Asks ``should_stop`` every
    :data:`_ROWS_PER_STEP` rows (the conversion takes seconds on thousands of visits)."""
    if matrix.size == 0 or int(matrix.min()) < 0:
        check_stop(should_stop)
        return list(matrix.tolist())
    top = int(matrix.max())
    table = np.arange(min(top + 1, SHARED_INT_LIMIT), dtype=object)
    index = matrix
    over = matrix >= SHARED_INT_LIMIT
    if top >= SHARED_INT_LIMIT:
        large = np.unique(matrix[over])
        index = np.where(over, 0, matrix)
        index[over] = len(table) + np.searchsorted(large, matrix[over])
        table = np.concatenate([table, large.astype(object)])
    out: list[list[int]] = []
    for first in range(0, matrix.shape[0], _ROWS_PER_STEP):
        check_stop(should_stop)
        out.extend(table[index[first : first + _ROWS_PER_STEP]].tolist())
    return out


def _add_time_dimension(b: _Build) -> pywrapcp.RoutingDimension:
    """The time dimension: transit = service at the origin + travel; an unreachable arc takes
    longer than the horizon. Its cumul at a visit is the start of service."""
    graph, arcs = b.graph, b.arcs
    horizon_max = max(
        [b.problem.horizon.end, *(s.end for s in b.shifts)]
        + [w.end for v in graph.visits for w in v.windows]
    )
    transit = np.where(arcs.unreachable, horizon_max + 1, arcs.dur + arcs.service[:, None])
    np.fill_diagonal(transit, 0)
    rows = as_lists(transit, b.should_stop)
    del transit
    time_cb = b.routing.RegisterTransitMatrix(rows)
    b.routing.AddDimension(time_cb, horizon_max, horizon_max, False, "time")
    time_dim: pywrapcp.RoutingDimension = b.routing.GetDimensionOrDie("time")
    return time_dim


def _add_travel_costs(b: _Build) -> int:
    """Arc costs per vehicle: distance and travel-time cost, plus destination-dependent extras
    that make vehicles differ (continuity with a preferred van, keeping an anchored visit's
    van-day); fixed costs per van-day. Returns the number of distinct cost matrices."""
    obj, arcs = b.problem.objective, b.arcs
    continuity = round(obj.continuity_cost * COST_SCALE)
    moved = round(obj.moved_visit_cost * COST_SCALE)
    base_cache: dict[tuple[float, float], NDArray[np.int64]] = {}
    cost_cb: dict[bytes, int] = {}
    # Only visits with a preferred van or an anchor make vehicles' costs differ: the extras
    # are looked at for them alone (thousands of visits times hundreds of van-days otherwise).
    special = [
        (i, v)
        for i, v in enumerate(b.graph.visits)
        if v.preferred_van is not None or v.id in b.anchors
    ]
    for k, s in enumerate(b.shifts):
        van = b.vans[s.van_id]
        key = (van.cost_per_km, van.cost_per_hour)
        if key not in base_cache:
            # In place: one float matrix at a time (200 MB each on 5,000 visits).
            f = arcs.dist * (van.cost_per_km * COST_SCALE / 1000.0)
            f += arcs.dur * (van.cost_per_hour * COST_SCALE / 3600.0)
            c = np.rint(f, out=f).astype(np.int64)
            del f
            c[arcs.unreachable] = _FORBIDDEN_COST
            np.fill_diagonal(c, 0)
            base_cache[key] = c
        extra = np.zeros(len(b.graph.node_location), dtype=np.int64)
        for i, v in special:
            if v.preferred_van is not None and v.preferred_van != s.van_id:
                extra[i] += continuity
            anchor = b.anchors.get(v.id)
            if anchor is not None and tuple(anchor) != (s.van_id, s.day):
                extra[i] += moved
        cb_key = repr(key).encode() + extra.tobytes()
        if cb_key not in cost_cb:
            matrix = base_cache[key] + extra[None, :] if extra.any() else base_cache[key]
            rows = as_lists(matrix, b.should_stop)
            del matrix
            cost_cb[cb_key] = b.routing.RegisterTransitMatrix(rows)
        b.routing.SetArcCostEvaluatorOfVehicle(cost_cb[cb_key], k)
        if van.fixed_cost_per_day > 0:
            b.routing.SetFixedCostOfVehicle(round(van.fixed_cost_per_day * COST_SCALE), k)
    return len(cost_cb)


def _forbid_unreachable_arcs(b: _Build) -> None:
    """No arc between two visits that cannot reach each other (depot arcs are ruled out by the
    allowed vehicles)."""
    n = b.n_visits
    rows, cols = np.nonzero(b.arcs.unreachable[:n, :n])
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        b.routing.NextVar(b.manager.NodeToIndex(i)).RemoveValue(b.manager.NodeToIndex(j))


def _limit_to_shift(b: _Build, time_dim: pywrapcp.RoutingDimension, k: int) -> None:
    """Vehicle ``k`` leaves and returns within its shift."""
    s = b.shifts[k]
    time_dim.CumulVar(b.routing.Start(k)).SetRange(s.start, s.end)
    time_dim.CumulVar(b.routing.End(k)).SetRange(s.start, s.end)


def _add_breaks(
    b: _Build, time_dim: pywrapcp.RoutingDimension, k: int, service_by_index: list[int]
) -> list[tuple[pywrapcp.IntervalVar, BreakSpec]]:
    """The break intervals of vehicle ``k`` (explicit, or statutory by the break rule): no
    travel or service overlaps them."""
    solver = b.routing.solver()
    intervals: list[tuple[pywrapcp.IntervalVar, BreakSpec]] = []
    for j, spec in enumerate(_break_specs(b.problem, b.shifts[k])):
        iv = solver.FixedDurationIntervalVar(
            spec.earliest_start, spec.latest_start, spec.duration, spec.statutory, f"break_{k}_{j}"
        )
        intervals.append((iv, spec))
        b.routing.AddIntervalToAssignment(iv)
    if intervals:
        time_dim.SetBreakIntervalsOfVehicle([iv for iv, _ in intervals], k, service_by_index)
    return intervals


def _limit_working_time(
    b: _Build,
    time_dim: pywrapcp.RoutingDimension,
    k: int,
    intervals: list[tuple[pywrapcp.IntervalVar, BreakSpec]],
) -> None:
    """The working time of vehicle ``k``: under the break rule (shifts without explicit
    breaks) no stretch without a break longer than allowed and a second break for long days;
    at most ``max_work`` of work (its span less the breaks taken inside it)."""
    s, rule = b.shifts[k], b.problem.break_rule
    solver = b.routing.solver()
    start_var = time_dim.CumulVar(b.routing.Start(k))
    end_var = time_dim.CumulVar(b.routing.End(k))
    span = end_var - start_var
    inside = [(iv, spec, _inside_var(solver, iv, start_var, end_var)) for iv, spec in intervals]
    span_cap = s.end - s.start
    if s.breaks is None:
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
    total_breaks = sum(spec.duration for _, spec in intervals)
    if s.max_work is not None:
        span_cap = min(span_cap, s.max_work + total_breaks)
    if span_cap < s.end - s.start:
        time_dim.SetSpanUpperBoundForVehicle(span_cap, k)
    if s.max_work is not None and s.max_work < s.end - s.start and intervals:
        taken = solver.Sum([var * spec.duration for _, spec, var in inside])
        solver.Add(span - taken <= s.max_work)


def _charge_waiting(
    b: _Build,
    time_dim: pywrapcp.RoutingDimension,
    k: int,
    intervals: list[tuple[pywrapcp.IntervalVar, BreakSpec]],
) -> None:
    """With ``settings.charge_waiting``, waiting costs the van's hourly rate. Slack cost makes
    OR-Tools schedule cumuls with its LP/MIP optimizer, which (9.15) fails to find any solution
    once break intervals are present: only without breaks."""
    van = b.vans[b.shifts[k].van_id]
    if b.settings.charge_waiting and van.cost_per_hour > 0 and not intervals:
        coefficient = round(van.cost_per_hour * COST_SCALE / 3600.0)
        if coefficient > 0:
            time_dim.SetSlackCostCoefficientForVehicle(coefficient, k)


def _restrict_visit_starts(b: _Build, time_dim: pywrapcp.RoutingDimension) -> None:
    """Each visit node starts inside its window (a pinned start: at that instant) on one of
    its allowed vehicles' shifts, with the service ending inside both.

    The cumul gets the hull of that domain only. Its holes (nights between the shifts) are
    implied: a node has at most one window (:func:`window_alternatives`), and on its vehicle
    the path keeps the start inside that vehicle's shift and the service before its end.
    Removing them cost OR-Tools a bitset domain per node, filled value by value (about 6 ms
    per night, 30 s for 1,000 visits of a week, and memory at every search node)."""
    distinct: dict[tuple[int, ...], list[Shift]] = {}  # allowed vehicles -> their shift windows
    for i, v in enumerate(b.graph.visits):
        ks = tuple(b.graph.allowed[i])
        if ks not in distinct:
            windows = dict.fromkeys((b.shifts[k].start, b.shifts[k].end) for k in ks)
            distinct[ks] = [Shift("", 0, a, e) for a, e in windows]
        dom = start_domain(v, distinct[ks])
        time_dim.CumulVar(b.manager.NodeToIndex(i)).SetRange(dom[0][0], dom[-1][1])


def _restrict_vehicles(b: _Build) -> None:
    """Each visit node only on its allowed vehicles (skills, days, a pinned van or day, room
    in a window, reachable from the depots)."""
    n_vehicles = len(b.shifts)
    for i, ks in enumerate(b.graph.allowed):
        if len(ks) < n_vehicles:
            # SetAllowedVehiclesForIndex's absl::Span argument is not wrapped for Python in
            # ortools 9.15; restricting the vehicle variable is equivalent (-1: unperformed).
            b.routing.VehicleVar(b.manager.NodeToIndex(i)).SetValues([-1, *ks])


def _make_visits_optional(b: _Build) -> None:
    """One disjunction per visit over its window nodes: at most one is served, and the
    priority's penalty (plus the moved-visit cost of an anchored visit) is paid if none is."""
    visits, obj = b.graph.visits, b.problem.objective
    moved = round(obj.moved_visit_cost * COST_SCALE)
    for i, v in enumerate(visits):
        if i > 0 and visits[i - 1].id == v.id:
            continue  # a further window of the visit before: its disjunction is made
        penalty = round(obj.penalty(v.priority) * COST_SCALE)
        if v.id in b.anchors:
            penalty += moved
        group = [b.manager.NodeToIndex(i)]
        while i + len(group) < len(visits) and visits[i + len(group)].id == v.id:
            group.append(b.manager.NodeToIndex(i + len(group)))
        b.routing.AddDisjunction(group, penalty, 1)


def _add_capacities(b: _Build) -> None:
    """A load dimension when some van has a capacity and some visit a demand (generic VRP)."""
    visits = b.graph.visits
    if not any(van.capacity is not None for van in b.problem.vans) or not any(
        v.demand for v in visits
    ):
        return
    demand = [0] * len(b.graph.node_location)
    for i, v in enumerate(visits):
        demand[i] = v.demand
    total = sum(demand)
    caps: list[int] = []
    for s in b.shifts:
        cap = b.vans[s.van_id].capacity
        caps.append(total if cap is None else cap)
    demand_cb = b.routing.RegisterUnaryTransitVector(demand)
    b.routing.AddDimensionWithVehicleCapacity(demand_cb, 0, caps, True, "load")


def _add_finalizer_hints(b: _Build, time_dim: pywrapcp.RoutingDimension) -> None:
    """Finalizer hints: depart late, return early (the extraction does this anyway)."""
    for k in range(len(b.shifts)):
        b.routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(b.routing.Start(k)))
        b.routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(b.routing.End(k)))


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
    if not shift.needs_statutory_break(rule):
        # No route of this shift works long enough to need a break (a short shift, or a
        # max_work within after_first): break intervals would only slow the search down, and
        # with a max_work far below the shift they left OR-Tools without a first solution.
        return []
    earliest = shift.start + rule.earliest_after_start
    specs = []
    if earliest + rule.first <= shift.end:
        specs.append(BreakSpec(earliest, shift.end - rule.first, rule.first, True))
    second = max(rule.second - rule.first, 0)
    if (
        specs
        and second > 0
        and length > rule.after_second + rule.first
        and shift.longest_work > rule.after_second
    ):
        # ArbZG allows splitting into pieces of >= 15 min; the checker counts pieces >= 15 min.
        piece = max(second, min(15 * 60, rule.first))
        if earliest + piece <= shift.end:
            specs.append(BreakSpec(earliest, shift.end - piece, piece, True))
    return specs


def _explicit(b: Break) -> BreakSpec:
    return BreakSpec(b.earliest_start, b.latest_end - b.duration, b.duration, False)
