"""Solomon VRPTW instances: reader, best-known solutions, conversion to a vanplan ``Problem``,
and a float-exact Solomon feasibility check and evaluation of routes.

Conventions (see ``/work/shared/benchmarks/solomon/README.md``):

- distances are real-valued Euclidean distances; the integer model sees them scaled by ``scale``
  (default x1000) and *rounded to nearest*; travel times equal distances but are rounded *up*, so
  a schedule that is feasible with the integer travel times is feasible with the real ones;
- Solomon windows constrain the service *start*; vanplan windows contain the whole service, so
  the window becomes ``[ready, due + service]``;
- the fleet size is an upper bound: one van per Solomon vehicle, one shift each (the depot window);
- final routes are always evaluated in floating point (:func:`evaluate`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from optimizer.domain import (
    Horizon,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
)
from optimizer.errors import Collector, Issue, ValidationError
from optimizer.plan import Plan, Reason, Route, SolverStats, Stop, Unassigned

DEPOT = "depot"
DAY = 86_400
MAX_HORIZON_DAYS = 31  # Horizon.days upper bound in optimizer.domain
DEFAULT_SCALE = 1000
EPS = 1e-9  # float tolerance of the feasibility check (summation order only)

Routes = list[list[int]]
"""Routes as lists of customer numbers (1..n), the depot (0) left out."""


class SolomonFormatError(ValueError):
    """A Solomon instance or BKS file that cannot be read; names the file, line and problem."""


@dataclass(frozen=True, eq=False)
class SolomonInstance:
    """One Solomon instance. Arrays are indexed by customer number; index 0 is the depot."""

    name: str
    vehicles: int
    capacity: int
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    demand: NDArray[np.int64]
    ready: NDArray[np.int64]
    due: NDArray[np.int64]
    service: NDArray[np.int64]

    @property
    def customers(self) -> int:
        return len(self.x) - 1

    def distances(self) -> NDArray[np.float64]:
        """Real-valued Euclidean distance matrix (depot = row 0)."""
        dx = self.x[:, None] - self.x[None, :]
        dy = self.y[:, None] - self.y[None, :]
        return np.asarray(np.hypot(dx, dy), dtype=np.float64)


@dataclass(frozen=True)
class BestKnown:
    """One row of ``bks.csv`` (distance-only BKS is the figure to compare against)."""

    instance: str
    distance: float
    vehicles: int
    hierarchical_vehicles: int
    hierarchical_distance: float
    dimacs_distance: float
    dimacs_vehicles: int


def read_instance(path: Path | str) -> SolomonInstance:
    """Read a Solomon ``.txt`` file (CRLF or LF)."""
    path = Path(path)
    lines = [line.strip() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 6:
        raise SolomonFormatError(f"{path}: too short to be a Solomon instance")
    name = lines[0]
    try:
        head = lines.index("VEHICLE")
        vehicles, capacity = (int(v) for v in lines[head + 2].split())
    except (ValueError, IndexError) as exc:
        raise SolomonFormatError(f"{path}: no 'VEHICLE' section with NUMBER CAPACITY") from exc
    try:
        start = lines.index("CUSTOMER") + 2  # skip the column header
    except ValueError as exc:
        raise SolomonFormatError(f"{path}: no 'CUSTOMER' section") from exc
    rows: list[list[float]] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        parts = line.split()
        if len(parts) != 7:
            raise SolomonFormatError(
                f"{path}: customer row '{line}' has {len(parts)} fields, not 7"
            )
        try:
            rows.append([float(p) for p in parts])
        except ValueError as exc:
            raise SolomonFormatError(
                f"{path}: non-numeric customer row near line {number}"
            ) from exc
    data = np.array(rows)
    if data.size == 0 or data[0, 0] != 0:
        raise SolomonFormatError(f"{path}: the first customer row must be the depot (number 0)")
    if not np.array_equal(data[:, 0], np.arange(len(data))):
        raise SolomonFormatError(f"{path}: customer numbers must run 0, 1, 2, ... without gaps")
    c = Collector()
    c.check(vehicles > 0, f"{path.name}.vehicles", f"must be > 0, got {vehicles}")
    c.check(capacity > 0, f"{path.name}.capacity", f"must be > 0, got {capacity}")
    bad = np.flatnonzero(data[:, 5] < data[:, 4])
    c.check(bad.size == 0, f"{path.name}.due", f"due date before ready time at {bad.tolist()}")
    c.raise_if_any()
    as_int = data[:, 3:].astype(np.int64)
    return SolomonInstance(
        name=name,
        vehicles=vehicles,
        capacity=capacity,
        x=data[:, 1].astype(np.float64),
        y=data[:, 2].astype(np.float64),
        demand=as_int[:, 0],
        ready=as_int[:, 1],
        due=as_int[:, 2],
        service=as_int[:, 3],
    )


def read_bks(path: Path | str) -> dict[str, BestKnown]:
    """Read ``bks.csv`` into ``{instance name: BestKnown}``."""
    path = Path(path)
    result: dict[str, BestKnown] = {}
    with path.open(newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            try:
                bks = BestKnown(
                    instance=row["instance"],
                    distance=float(row["distance_only_bks"]),
                    vehicles=int(row["distance_only_vehicles"]),
                    hierarchical_vehicles=int(row["hierarchical_vehicles"]),
                    hierarchical_distance=float(row["hierarchical_distance"]),
                    dimacs_distance=float(row["dimacs_distance"]),
                    dimacs_vehicles=int(row["dimacs_vehicles"]),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise SolomonFormatError(f"{path}:{i}: bad best-known row ({exc})") from exc
            # Truncating distances to one decimal (DIMACS) only shortens legs and times, so a
            # real-valued plan is a DIMACS plan of lower cost: the real-valued optimum cannot lie
            # below the proven DIMACS optimum. A figure that does is a data error.
            if bks.distance < bks.dimacs_distance - 0.05:
                raise SolomonFormatError(
                    f"{path}:{i}: distance_only_bks of {bks.instance} ({bks.distance}) lies below "
                    f"its DIMACS optimum ({bks.dimacs_distance}); the figure cannot be right"
                )
            result[bks.instance] = bks
    return result


def scale_for(instance: SolomonInstance, preferred: int = DEFAULT_SCALE) -> int:
    """The largest of ``preferred``, 500, 200, 100, ... whose scaled depot window fits a horizon.

    Scaled times are horizon seconds and a vanplan horizon holds at most 31 days, so the long
    C2 instances (depot due 3390) cannot use x1000.
    """
    for scale in (preferred, 500, 200, 100, 50, 10, 1):
        if scale <= preferred and int(instance.due[0]) * scale <= MAX_HORIZON_DAYS * DAY:
            return scale
    raise ValueError(f"{instance.name}: depot due date {instance.due[0]} too long for any scale")


def customer_id(number: int) -> str:
    return f"c{number}"


def customer_number(visit_id: str) -> int:
    if not visit_id.startswith("c") or not visit_id[1:].isdigit():
        raise ValueError(f"visit id {visit_id!r} is not a Solomon customer id (c<number>)")
    return int(visit_id[1:])


def integer_matrices(
    instance: SolomonInstance, scale: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(durations, distances) scaled by ``scale``: durations rounded up, distances to nearest."""
    real = instance.distances() * scale
    durations = np.ceil(real).astype(np.int64)
    distances = np.rint(real).astype(np.int64)
    return durations, distances


def to_problem(
    instance: SolomonInstance, scale: int | None = None, start_date: date = date(2026, 1, 5)
) -> Problem:
    """Convert to a vanplan :class:`Problem` with a pure distance objective.

    ``scale`` None picks :func:`scale_for` (x1000 unless the depot window is too long).
    Time unit: 1/scale Solomon time units = one horizon second.
    """
    scale = scale_for(instance) if scale is None else scale
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    depot_end = int(instance.due[0]) * scale
    days = max(1, math.ceil((depot_end + 1) / DAY))
    if days > MAX_HORIZON_DAYS:
        raise ValueError(
            f"{instance.name}: scale {scale} puts the depot due date at {depot_end} s, beyond a "
            f"{MAX_HORIZON_DAYS}-day horizon; use scale <= {scale_for(instance, scale)}"
        )
    durations, distances = integer_matrices(instance, scale)
    locations = (DEPOT, *(customer_id(i) for i in range(1, instance.customers + 1)))
    matrix = TravelMatrix(locations, durations, distances, approximate=True)
    width = len(str(instance.vehicles))
    vans = tuple(
        Van(
            id=f"v{k:0{width}d}",
            start_location=DEPOT,
            cost_per_hour=0.0,
            cost_per_km=1.0,
            fixed_cost_per_day=0.0,
            capacity=instance.capacity,
        )
        for k in range(1, instance.vehicles + 1)
    )
    shift_start, shift_end = int(instance.ready[0]) * scale, depot_end
    # breaks=() switches the statutory break rule off: Solomon has no breaks.
    shifts = tuple(Shift(v.id, 0, shift_start, shift_end, max_work=None, breaks=()) for v in vans)
    visits = tuple(
        Visit(
            id=customer_id(i),
            location=customer_id(i),
            duration=int(instance.service[i]) * scale,
            windows=(
                TimeWindow(
                    int(instance.ready[i]) * scale,
                    (int(instance.due[i]) + int(instance.service[i])) * scale,
                ),
            ),
            demand=int(instance.demand[i]),
        )
        for i in range(1, instance.customers + 1)
    )
    horizon = Horizon(start_date=start_date, days=days, timezone="UTC")
    return Problem(
        horizon=horizon, vans=vans, shifts=shifts, visits=visits, matrix=matrix
    ).validate()


def routes_from_plan(plan: Plan) -> Routes:
    """Customer numbers per non-empty route, in driving order."""
    return [[customer_number(s.visit_id) for s in r.stops] for r in plan.routes if r.stops]


def plan_from_routes(
    problem: Problem,
    routes: Sequence[Sequence[int]],
    *,
    status: str = "external",
    wall_time: float = 0.0,
    strategy: str = "",
) -> Plan:
    """A vanplan :class:`Plan` for routes found by another solver (earliest-start schedule on the
    problem's integer matrix), so the independent checker can judge peers the same way."""
    if len(routes) > len(problem.vans):
        raise ValueError(f"{len(routes)} routes but only {len(problem.vans)} vans")
    m = problem.matrix
    built: list[Route] = []
    for van, customers in zip(problem.vans, routes, strict=False):
        if not customers:
            continue
        shift = problem.shift(van.id, 0)
        if shift is None:
            raise ValueError(f"van {van.id} has no shift on day 0")
        t, here = shift.start, van.start_location
        stops: list[Stop] = []
        for number in customers:
            visit = problem.visit(customer_id(number))
            travel = m.duration(here, visit.location)
            arrival = t + travel
            start = max(arrival, visit.windows[0].start) if visit.windows else arrival
            stops.append(
                Stop(
                    visit_id=visit.id,
                    location=visit.location,
                    arrival=arrival,
                    start=start,
                    end=start + visit.duration,
                    waiting=start - arrival,
                    travel_time=travel,
                    distance=m.distance(here, visit.location),
                )
            )
            t, here = start + visit.duration, visit.location
        back = m.duration(here, van.end)
        built.append(
            Route(
                van_id=van.id,
                day=shift.day,
                start_location=van.start_location,
                end_location=van.end,
                start=shift.start,
                end=t + back,
                stops=tuple(stops),
                breaks=(),
                return_travel_time=back,
                return_distance=m.distance(here, van.end),
            )
        )
    served = {customer_id(n) for r in routes for n in r}
    unassigned = tuple(
        Unassigned(v.id, Reason.NO_ROOM, "not routed by the external solver")
        for v in problem.visits
        if v.id not in served
    )
    total = sum(r.distance for r in built)
    stats = SolverStats(
        status=status, objective=float(total), wall_time=wall_time, strategy=strategy
    )
    return Plan(routes=tuple(built), unassigned=unassigned, stats=stats)


@dataclass(frozen=True)
class Evaluation:
    """Float-exact Solomon evaluation of a set of routes."""

    distance: float  # sum of real Euclidean legs, depot to depot
    vehicles: int  # non-empty routes
    violations: tuple[str, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        return not self.violations


def evaluate(instance: SolomonInstance, routes: Sequence[Sequence[int]]) -> Evaluation:
    """Replay ``routes`` in floating point with Solomon's rules: service starts within
    ``[ready, due]`` (waiting allowed), load <= capacity, back at the depot by its due date, every
    customer exactly once, at most ``instance.vehicles`` routes."""
    d = instance.distances()
    problems: list[str] = []
    seen: dict[int, int] = {}
    total = 0.0
    used = [r for r in routes if r]
    if len(used) > instance.vehicles:
        problems.append(f"{len(used)} routes but only {instance.vehicles} vehicles")
    for k, route in enumerate(used):
        t, here, load = float(instance.ready[0]), 0, 0
        for c in route:
            if not 1 <= c <= instance.customers:
                problems.append(f"route {k}: unknown customer {c}")
                continue
            if c in seen:
                problems.append(f"customer {c} served twice (routes {seen[c]} and {k})")
            seen[c] = k
            total += d[here, c]
            start = max(t + d[here, c], float(instance.ready[c]))
            if start > instance.due[c] + EPS:
                problems.append(
                    f"route {k}: customer {c} starts at {start:.4f} > due {instance.due[c]}"
                )
            load += int(instance.demand[c])
            t, here = start + float(instance.service[c]), c
        total += d[here, 0]
        back = t + d[here, 0]
        if back > instance.due[0] + EPS:
            problems.append(f"route {k}: back at the depot at {back:.4f} > due {instance.due[0]}")
        if load > instance.capacity:
            problems.append(f"route {k}: load {load} > capacity {instance.capacity}")
    missing = sorted(set(range(1, instance.customers + 1)) - set(seen))
    if missing:
        problems.append(f"{len(missing)} customers not served: {missing[:10]}")
    return Evaluation(distance=total, vehicles=len(used), violations=tuple(problems))


def gap_percent(distance: float, bks: float) -> float:
    """Relative gap of ``distance`` to the best-known ``bks`` in percent."""
    if bks <= 0:
        raise ValueError(f"best-known distance must be > 0, got {bks}")
    return 100.0 * (distance - bks) / bks


def instance_paths(directory: Path, names: Sequence[str] | None = None) -> list[Path]:
    """The instance files in ``directory`` (all ``*.txt`` sorted, or the ``names`` given)."""
    if names is None:
        return sorted(p for p in directory.glob("*.txt") if p.stem[0] in "CR")
    paths = [directory / f"{n.strip().upper()}.txt" for n in names if n.strip()]
    unknown = [p.stem for p in paths if not p.is_file()]
    if unknown:
        raise ValidationError([Issue("instances", f"no instance file for {u}") for u in unknown])
    return paths
