"""Maps planning requests to the optimizer's domain and plans back to the response schema.

Request side: places (coordinates or addresses) become location ids with a travel matrix (the road
network when one is configured, else the straight-line approximation, and the answer says which);
ISO-8601 times become horizon seconds. Plan side: horizon seconds become ISO-8601 times in the
horizon's zone, location ids become ``[lon, lat]``.

Field paths in errors follow the request (``visits[3].windows[0].end``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar

import numpy as np

from api.schemas.planning import (
    MatrixInfo,
    Place,
    PlanOut,
    RouteOut,
    SolveRequest,
    Step,
    StepType,
    Summary,
    UnassignedOut,
)
from optimizer.domain import (
    DEFAULT_DEPOT,
    Break,
    Horizon,
    Pin,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
    VisitKind,
)
from optimizer.errors import Collector, Issue, ValidationError
from optimizer.plan import Plan, Route

log = logging.getLogger(__name__)

LonLatT = tuple[float, float]
_T = TypeVar("_T")

ERBACH_BASE: LonLatT = (8.994, 49.6615)
"""Fallback base (InA office in Erbach) when geo.places offers none."""


class MatrixProvider(Protocol):
    """Computes the travel matrix between named points ([lon, lat])."""

    def __call__(self, points: Mapping[str, LonLatT]) -> tuple[TravelMatrix, MatrixInfo]: ...


AddressResolver = Callable[[str], LonLatT | None]
"""Offline address lookup: an address to ``(lon, lat)``, None when unknown."""


@dataclass(frozen=True)
class MappedProblem:
    """A request turned into a domain problem plus what is needed to map the plan back."""

    problem: Problem
    coordinates: dict[str, LonLatT]  # location id -> (lon, lat)
    matrix_info: MatrixInfo


def default_base() -> LonLatT:
    """The district base (``geo.places`` when available)."""
    try:
        from geo import places  # type: ignore[attr-defined]

        base = places.base()
        return (float(base[0]), float(base[1]))
    except (ImportError, AttributeError, TypeError, IndexError):
        return ERBACH_BASE


def default_address_resolver() -> AddressResolver | None:
    """The offline geocoder from ``geo.geocode`` when it is available."""
    try:
        from geo import geocode  # type: ignore[attr-defined]
    except ImportError:
        return None
    lookup = getattr(geocode, "geocode", None)
    if lookup is None:
        return None

    def resolve(address: str) -> LonLatT | None:
        try:
            found = lookup(address)
        except (LookupError, ValueError):
            return None
        if found is None:
            return None
        coords = getattr(found, "coordinates", found)
        return (float(coords[0]), float(coords[1]))

    return resolve


def approximate_provider(settings: Any = None) -> MatrixProvider:
    """Straight-line matrix from :func:`geo.approximate.approximate_matrix`."""

    def provide(points: Mapping[str, LonLatT]) -> tuple[TravelMatrix, MatrixInfo]:
        from geo.approximate import approximate_matrix  # type: ignore[import-not-found]

        matrix = (
            approximate_matrix(points, settings)
            if settings is not None
            else (approximate_matrix(points))
        )
        info = MatrixInfo(
            source="approximate",
            approximate=True,
            note="no road network configured: travel times estimated from straight-line "
            "distances (geo.approximate)",
        )
        return matrix, info

    return provide


def placeholder_provider(points: Mapping[str, LonLatT]) -> tuple[TravelMatrix, MatrixInfo]:
    """A zero matrix, only for validating a request cheaply (never for solving)."""
    ids = tuple(points)
    zeros = np.zeros((len(ids), len(ids)), dtype=np.int64)
    info = MatrixInfo(source="approximate", approximate=True, note="validation only")
    return TravelMatrix(ids, zeros, zeros.copy(), approximate=True), info


# --- request -> domain ------------------------------------------------------------------------


class _Places:
    """Assigns location ids to places, merging identical coordinates."""

    def __init__(self, c: Collector, resolve: AddressResolver | None) -> None:
        self._c = c
        self._resolve = resolve
        self._by_coords: dict[LonLatT, str] = {}
        self.coordinates: dict[str, LonLatT] = {}

    def add_base(self, coords: LonLatT) -> None:
        self._by_coords[coords] = DEFAULT_DEPOT
        self.coordinates[DEFAULT_DEPOT] = coords

    def location(self, place: Place, where: str) -> str:
        coords = place.coordinates
        if coords is None:
            address = place.address or ""
            found = self._resolve(address) if self._resolve is not None else None
            if found is None:
                reason = "no offline geocoder available" if self._resolve is None else "not found"
                self._c.add(f"{where}.address", f"address could not be located ({reason})")
                return DEFAULT_DEPOT
            coords = found
        key = (round(coords[0], 6), round(coords[1], 6))
        if key not in self._by_coords:
            loc = f"p{len(self._by_coords)}"
            self._by_coords[key] = loc
            self.coordinates[loc] = key
        return self._by_coords[key]


def _seconds(horizon: Horizon, moment: datetime) -> int:
    return horizon.to_seconds(moment)


def build_problem(
    request: SolveRequest,
    provider: MatrixProvider,
    *,
    resolve_address: AddressResolver | None = None,
    base: LonLatT | None = None,
) -> MappedProblem:
    """Turn a request into a validated :class:`Problem`; raises one ValidationError listing all
    problems with request field paths."""
    c = Collector()
    try:
        horizon = Horizon(
            request.horizon.start_date, request.horizon.days, request.horizon.timezone
        )
    except ValidationError as exc:
        raise ValidationError([Issue(i.field, i.message) for i in exc.issues]) from exc
    places = _Places(c, resolve_address)
    places.add_base(base or default_base())

    vans: list[Van] = []
    for i, v in enumerate(request.vans):
        start = places.location(v.start, f"vans[{i}].start") if v.start else DEFAULT_DEPOT
        end = places.location(v.end, f"vans[{i}].end") if v.end else None
        vans.append(
            _build(
                c,
                f"vans[{i}]",
                lambda v=v, start=start, end=end: Van(
                    id=v.id,
                    name=v.name,
                    start_location=start,
                    end_location=end,
                    skills=frozenset(v.skills),
                    cost_per_hour=v.cost_per_hour,
                    cost_per_km=v.cost_per_km,
                    fixed_cost_per_day=v.fixed_cost_per_day,
                ),
            )
        )

    shifts: list[Shift] = []
    for i, s in enumerate(request.shifts):
        where = f"shifts[{i}]"
        start, end = _seconds(horizon, s.start), _seconds(horizon, s.end)
        if not c.check(end > start, f"{where}.end", "must be after start"):
            continue
        day = horizon.day_of(start)
        breaks: tuple[Break, ...] | None = None
        if s.breaks is not None:
            built: list[Break] = []
            for j, b in enumerate(s.breaks):
                lo, hi = _seconds(horizon, b.earliest_start), _seconds(horizon, b.latest_end)
                ok = c.check(
                    start <= lo and hi <= end,
                    f"{where}.breaks[{j}]",
                    "break window must lie inside the shift",
                )
                ok = ok and c.check(
                    hi - lo >= b.duration_minutes * 60,
                    f"{where}.breaks[{j}].duration_minutes",
                    "longer than the break window",
                )
                if ok:
                    built.append(Break(lo, hi, b.duration_minutes * 60))
            breaks = tuple(built)
        max_work = s.max_work_minutes * 60 if s.max_work_minutes else None
        shift = _build(
            c,
            where,
            lambda s=s, day=day, start=start, end=end, breaks=breaks, mw=max_work: Shift(
                van_id=s.van_id, day=day, start=start, end=end, max_work=mw, breaks=breaks
            ),
        )
        if shift is not None:
            shifts.append(shift)

    visits: list[Visit] = []
    for i, v in enumerate(request.visits):
        where = f"visits[{i}]"
        loc = places.location(v.place, f"{where}.place")
        windows = tuple(
            TimeWindow(_seconds(horizon, w.start), _seconds(horizon, w.end)) for w in v.windows
        )
        days = (
            frozenset((d - horizon.start_date).days for d in v.dates)
            if v.dates is not None
            else None
        )
        pin = None
        if v.pin is not None:
            if v.pin.van_id is None and v.pin.date is None and v.pin.start is None:
                c.add(f"{where}.pin", "must fix at least one of van_id, date, start")
            else:
                pin = Pin(
                    van_id=v.pin.van_id,
                    day=(v.pin.date - horizon.start_date).days if v.pin.date else None,
                    start=_seconds(horizon, v.pin.start) if v.pin.start else None,
                )
        visits.append(
            _build(
                c,
                where,
                lambda v=v, loc=loc, windows=windows, days=days, pin=pin: Visit(
                    id=v.id,
                    location=loc,
                    duration=v.duration_minutes * 60,
                    windows=windows,
                    client=v.client_ref,
                    days=days,
                    skills=frozenset(v.skills),
                    priority=v.priority,
                    pin=pin,
                    kind=VisitKind(v.kind),
                    preferred_van=v.preferred_van,
                ),
            )
        )
    c.raise_if_any()

    matrix, info = provider(places.coordinates)
    problem = Problem(
        horizon=horizon,
        vans=tuple(v for v in vans if v is not None),
        shifts=tuple(shifts),
        visits=tuple(v for v in visits if v is not None),
        matrix=matrix,
    )
    problem.validate()
    log.info(
        "mapped request: %d vans, %d shifts, %d visits, %d locations, matrix=%s",
        len(problem.vans),
        len(problem.shifts),
        len(problem.visits),
        len(places.coordinates),
        info.source,
    )
    return MappedProblem(problem, dict(places.coordinates), info)


def _build(c: Collector, where: str, make: Callable[[], _T]) -> _T:
    """Construct a domain object, re-labelling its self-check issues with the request path."""
    try:
        return make()
    except ValidationError as exc:
        for issue in exc.issues:
            # Domain paths look like "visit[v1].duration": keep the attribute, use our prefix.
            attr = issue.field.split("].", 1)[1] if "]." in issue.field else issue.field
            c.add(f"{where}.{attr}", issue.message)
    except ValueError as exc:
        c.add(where, str(exc))
    return None  # type: ignore[return-value]


# --- plan -> response -------------------------------------------------------------------------


def plan_to_out(plan: Plan, mapped: MappedProblem) -> PlanOut:
    """The response for ``plan`` (times in the horizon's zone, places as [lon, lat])."""
    problem = mapped.problem
    horizon = problem.horizon
    routes = [
        _route_out(r, horizon, mapped.coordinates)
        for r in sorted(plan.routes, key=lambda r: (r.day, r.van_id))
    ]
    unassigned = [
        UnassignedOut(
            visit_id=u.visit_id,
            reason=str(u.reason),
            message=u.message,
            conflicts=list(u.conflicts),
        )
        for u in plan.unassigned
    ]
    summary = Summary(
        cost=round(float(plan.stats.objective), 2),
        status=plan.stats.status,
        routes=len(plan.routes),
        assigned=len(plan.assigned),
        unassigned=len(plan.unassigned),
        drive_seconds=plan.drive_time,
        distance_m=plan.distance,
        service_seconds=sum(r.service_time for r in plan.routes),
        waiting_seconds=sum(r.waiting_time for r in plan.routes),
        working_seconds=plan.working_time,
        wall_time_seconds=round(float(plan.stats.wall_time), 3),
        solutions=plan.stats.solutions,
    )
    return PlanOut(
        timezone=horizon.timezone,
        matrix=mapped.matrix_info,
        summary=summary,
        routes=routes,
        unassigned=unassigned,
    )


def _route_out(route: Route, horizon: Horizon, coords: Mapping[str, LonLatT]) -> RouteOut:
    t = horizon.to_datetime
    steps: list[tuple[int, int, Step]] = []  # (time, order, step) for a stable merge with breaks
    start_at = t(route.start)
    steps.append(
        (
            route.start,
            0,
            Step(
                type=StepType.START,
                location=coords.get(route.start_location),
                arrival=start_at,
                start=start_at,
                end=start_at,
            ),
        )
    )
    for n, s in enumerate(route.stops, start=1):
        steps.append(
            (
                s.arrival,
                2 * n,
                Step(
                    type=StepType.VISIT,
                    visit_id=s.visit_id,
                    location=coords.get(s.location),
                    arrival=t(s.arrival),
                    start=t(s.start),
                    end=t(s.end),
                    waiting_seconds=s.waiting,
                    travel_seconds=s.travel_time,
                    distance_m=s.distance,
                ),
            )
        )
    end_at = t(route.end)
    steps.append(
        (
            route.end,
            2 * len(route.stops) + 2,
            Step(
                type=StepType.END,
                location=coords.get(route.end_location),
                arrival=end_at,
                start=end_at,
                end=end_at,
                travel_seconds=route.return_travel_time,
                distance_m=route.return_distance,
            ),
        )
    )
    result = [s for _, _, s in sorted(steps, key=lambda x: (x[0], x[1]))]
    # A break goes after the last activity (start, visit or earlier break) finished by its start.
    for b in sorted(route.breaks, key=lambda b: b.start):
        step = Step(type=StepType.BREAK, arrival=t(b.start), start=t(b.start), end=t(b.end))
        pos = 1
        for k in range(len(result) - 1):
            if result[k].end <= step.start:
                pos = k + 1
        result.insert(pos, step)
    return RouteOut(
        van_id=route.van_id,
        date=horizon.date_of(route.day),
        steps=result,
        drive_seconds=route.drive_time,
        distance_m=route.distance,
        service_seconds=route.service_time,
        waiting_seconds=route.waiting_time,
        break_seconds=route.break_time,
        working_seconds=route.working_time,
    )


def day_dates(horizon: Horizon) -> list[date]:
    """The calendar dates of the horizon."""
    return [horizon.start_date + timedelta(days=d) for d in range(horizon.days)]
