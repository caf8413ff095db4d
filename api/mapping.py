"""Maps planning requests to the optimizer's domain and plans back to the response schema.

Request side: places (coordinates or addresses) become location ids with a travel matrix from a
:class:`~geo.providers.MatrixProvider` (the answer says which source it was); ISO-8601 times
become horizon seconds. Plan side: horizon seconds become ISO-8601 times in the horizon's zone,
location ids become ``[lon, lat]``.

Field paths in errors follow the request (``visits[3].windows[0].end``): the domain objects' own
checks are re-labelled with the request path of the object at fault.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import TypeVar

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
from geo.providers import AddressResolver, LonLat, MatrixProvider, MatrixSource
from geo.service_area import ServiceArea, default_service_area
from geo.snap import SnapError
from optimizer.domain import (
    DEFAULT_DEPOT,
    Break,
    Horizon,
    Pin,
    Problem,
    Shift,
    TimeWindow,
    Van,
    Visit,
    VisitKind,
)
from optimizer.errors import Collector, Issue, ValidationError
from optimizer.plan import Plan, Route

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class MappedProblem:
    """A request turned into a domain problem plus what is needed to map the plan back."""

    problem: Problem
    coordinates: dict[str, LonLat]  # location id -> (lon, lat)
    matrix_info: MatrixInfo


def matrix_info(source: MatrixSource) -> MatrixInfo:
    """The response's description of a matrix source."""
    return MatrixInfo(source=source.source, approximate=source.approximate, note=source.note)


# --- request -> domain ------------------------------------------------------------------------


class _Places:
    """Assigns location ids to places, merging identical coordinates."""

    def __init__(
        self, c: Collector, resolve: AddressResolver | None, area: ServiceArea | None = None
    ) -> None:
        self._c = c
        self._resolve = resolve
        self._area = area
        self._by_coords: dict[LonLat, str] = {}
        self.coordinates: dict[str, LonLat] = {}
        self._fields: dict[str, list[str]] = {}  # location id -> request fields that gave it
        self._count = 0  # places other than the base (ids p1, p2, ...)

    def add_base(self, coords: LonLat) -> None:
        self._by_coords[coords] = DEFAULT_DEPOT
        self.coordinates[DEFAULT_DEPOT] = coords
        self._fields[DEFAULT_DEPOT] = []

    def _looks_swapped(self, coords: LonLat) -> bool:
        """Outside the service area, while its ``[lat, lon]`` reading lies inside."""
        area = self._area
        if area is None:
            return False
        lon, lat = coords
        return not area.contains(lon, lat) and abs(lon) <= 90 and area.contains(lat, lon)

    def issues(self, problems: Mapping[str, str]) -> list[Issue]:
        """``problems`` per location id as issues on every request field with that place; the
        service area's base (used by vans without a start) is named as such."""
        out: list[Issue] = []
        for loc, message in problems.items():
            fields = self._fields.get(loc) or []
            if loc == DEFAULT_DEPOT:
                out.append(
                    Issue(
                        "base",
                        "the service area's base (start of vans without one; give the vans "
                        "a start or configure the area: VANPLAN_SERVICE_AREA, --area): " + message,
                    )
                )
            out.extend(Issue(field, message) for field in fields)
            if loc not in self._fields:
                out.append(Issue("places", message))
        return out

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
        elif self._looks_swapped(coords):
            assert self._area is not None
            self._c.add(
                f"{where}.coordinates",
                f"the coordinates look swapped: {list(coords)} lies outside {self._area.name}, "
                f"but {[coords[1], coords[0]]} lies inside; GeoJSON order [lon, lat] is expected",
            )
        key = (round(coords[0], 6), round(coords[1], 6))
        if key not in self._by_coords:
            self._count += 1
            loc = f"p{self._count}"
            self._by_coords[key] = loc
            self.coordinates[loc] = key
        loc = self._by_coords[key]
        self._fields.setdefault(loc, []).append(where)
        return loc


def _seconds(horizon: Horizon, moment: datetime) -> int:
    return horizon.to_seconds(moment)


def build_problem(
    request: SolveRequest,
    provider: MatrixProvider,
    *,
    resolve_address: AddressResolver | None = None,
    base: LonLat | None = None,
    area: ServiceArea | None = None,
) -> MappedProblem:
    """Turn a request into a validated :class:`Problem`; raises one ValidationError listing all
    problems with request field paths.

    With ``area``, coordinates that lie outside it while their ``[lat, lon]`` reading lies inside
    are refused as swapped (the approximate matrix would accept them silently).

    ``base`` (default: the shipped service area's first base) is where vans without a start begin
    and end; it is a location of the problem only when such a van exists, so a request whose vans
    all have starts plans anywhere a road network covers."""
    c = Collector()
    try:
        horizon = Horizon(
            request.horizon.start_date, request.horizon.days, request.horizon.timezone
        )
    except ValidationError as exc:
        raise ValidationError([Issue(i.field, i.message) for i in exc.issues]) from exc
    places = _Places(c, resolve_address, area)
    if any(van.start is None for van in request.vans):
        places.add_base(base or default_service_area().base)

    vans: list[Van] = []
    for i, van_in in enumerate(request.vans):
        start_loc = places.location(van_in.start, f"vans[{i}].start") if van_in.start else None
        end_loc = places.location(van_in.end, f"vans[{i}].end") if van_in.end else None
        van = _build(
            c,
            f"vans[{i}]",
            partial(
                Van,
                id=van_in.id,
                name=van_in.name,
                start_location=start_loc or DEFAULT_DEPOT,
                end_location=end_loc,
                skills=frozenset(van_in.skills),
                cost_per_hour=van_in.cost_per_hour,
                cost_per_km=van_in.cost_per_km,
                fixed_cost_per_day=van_in.fixed_cost_per_day,
            ),
        )
        if van is not None:
            vans.append(van)

    shifts: list[Shift] = []
    for i, shift_in in enumerate(request.shifts):
        where = f"shifts[{i}]"
        start, end = _seconds(horizon, shift_in.start), _seconds(horizon, shift_in.end)
        breaks: tuple[Break, ...] | None = None
        if shift_in.breaks is not None:
            built = (
                _build(
                    c,
                    f"{where}.breaks[{j}]",
                    partial(
                        Break,
                        _seconds(horizon, b.earliest_start),
                        _seconds(horizon, b.latest_end),
                        b.duration_minutes * 60,
                    ),
                )
                for j, b in enumerate(shift_in.breaks)
            )
            breaks = tuple(b for b in built if b is not None)
        minutes = shift_in.max_work_minutes
        shift = _build(
            c,
            where,
            partial(
                Shift,
                van_id=shift_in.van_id,
                day=horizon.day_of(start),
                start=start,
                end=end,
                max_work=minutes * 60 if minutes else None,
                breaks=breaks,
            ),
        )
        if shift is not None:
            shifts.append(shift)

    visits: list[Visit] = []
    for i, visit_in in enumerate(request.visits):
        where = f"visits[{i}]"
        windows = tuple(
            TimeWindow(_seconds(horizon, w.start), _seconds(horizon, w.end))
            for w in visit_in.windows
        )
        days = (
            frozenset((d - horizon.start_date).days for d in visit_in.dates)
            if visit_in.dates is not None
            else None
        )
        pin_in = visit_in.pin
        pin = (
            _build(
                c,
                where,
                partial(
                    Pin,
                    van_id=pin_in.van_id,
                    day=(pin_in.date - horizon.start_date).days if pin_in.date else None,
                    start=_seconds(horizon, pin_in.start) if pin_in.start else None,
                ),
            )
            if pin_in is not None
            else None
        )
        visit = _build(
            c,
            where,
            partial(
                Visit,
                id=visit_in.id,
                location=places.location(visit_in.place, f"{where}.place"),
                duration=visit_in.duration_minutes * 60,
                windows=windows,
                client=visit_in.client_ref,
                days=days,
                skills=frozenset(visit_in.skills),
                priority=visit_in.priority,
                pin=pin,
                kind=VisitKind(visit_in.kind),
                preferred_van=visit_in.preferred_van,
            ),
        )
        if visit is not None:
            visits.append(visit)
    c.raise_if_any()

    try:
        matrix, source = provider(places.coordinates)
    except SnapError as exc:
        issues = places.issues(exc.problems) or [Issue("places", str(exc))]
        raise ValidationError(issues) from exc
    problem = Problem(
        horizon=horizon,
        vans=tuple(vans),
        shifts=tuple(shifts),
        visits=tuple(visits),
        matrix=matrix,
    )
    problem.validate()
    log.info(
        "mapped request: %d vans, %d shifts, %d visits, %d locations, matrix=%s",
        len(problem.vans),
        len(problem.shifts),
        len(problem.visits),
        len(places.coordinates),
        source.source,
    )
    return MappedProblem(problem, dict(places.coordinates), matrix_info(source))


_REQUEST_NAMES = {"duration": "duration_minutes", "max_work": "max_work_minutes"}
"""Domain attribute -> request field, where the request names it by its unit."""


def _build(c: Collector, where: str, make: Callable[[], _T]) -> _T | None:
    """Construct a domain object, re-labelling its self-check issues with the request path."""
    try:
        return make()
    except ValidationError as exc:
        for issue in exc.issues:
            # Domain paths look like "visit[v1].duration": keep the attribute, use our prefix
            # and the request's name for it.
            attr = issue.field.split("].", 1)[1] if "]." in issue.field else issue.field
            head, dot, rest = attr.partition(".")
            c.add(f"{where}.{_REQUEST_NAMES.get(head, head)}{dot}{rest}", issue.message)
    except ValueError as exc:
        c.add(where, str(exc))
    return None


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
    objective = float(plan.stats.objective)
    summary = Summary(
        cost=round(objective, 2) if math.isfinite(objective) else None,
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
        workers=plan.stats.workers,
        warnings=list(plan.warnings),
        engine=plan.stats.engine or None,
    )
    return PlanOut(
        timezone=horizon.timezone,
        matrix=mapped.matrix_info,
        summary=summary,
        routes=routes,
        unassigned=unassigned,
    )


def _route_out(route: Route, horizon: Horizon, coords: Mapping[str, LonLat]) -> RouteOut:
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
