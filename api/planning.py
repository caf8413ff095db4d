"""Maps planning requests to the optimizer's domain and plans back to the response schema.

Request side: places (coordinates or addresses) become location ids with a travel matrix (the road
network when one is configured, else the straight-line approximation, and the answer says which);
ISO-8601 times become horizon seconds. Plan side: horizon seconds become ISO-8601 times in the
horizon's zone, location ids become ``[lon, lat]``.

Field paths in errors follow the request (``visits[3].windows[0].end``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

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
from optimizer.processes import run_in_child, solve_in_child_process

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
        from geo import places

        lon, lat = places.base()
        return (float(lon), float(lat))
    except (ImportError, OSError, ValueError):  # district data missing: the Erbach centre
        return ERBACH_BASE


def default_address_resolver(osm_file: Path | None = None) -> AddressResolver | None:
    """Offline address lookup with :func:`geo.geocode.geocode` in ``osm_file`` (default: the
    ``VANPLAN_OSM_FILE`` geo setting); None when no extract is configured."""
    if osm_file is None:
        from geo.settings import GeoSettings

        osm_file = GeoSettings().osm_file
    if osm_file is None:
        return None
    return _Geocoder(Path(osm_file))


class _Geocoder:
    """Address -> (lon, lat) through the offline index of an OSM extract."""

    def __init__(self, osm_file: Path) -> None:
        self.osm_file = osm_file

    def __call__(self, address: str) -> LonLatT | None:
        from geo.geocode import geocode

        try:
            found = geocode(address, self.osm_file)
        except (LookupError, ValueError):  # not found (the message is not logged: personal)
            return None
        return (float(found.lon), float(found.lat))


def approximate_provider(settings: Any = None) -> MatrixProvider:
    """Straight-line matrix from :func:`geo.approximate.approximate_matrix`."""

    def provide(points: Mapping[str, LonLatT]) -> tuple[TravelMatrix, MatrixInfo]:
        from geo.approximate import approximate_matrix

        matrix = approximate_matrix(points, settings)
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
        if not c.check(end > start, f"{where}.end", "must be after start"):
            continue
        breaks: tuple[Break, ...] | None = None
        if shift_in.breaks is not None:
            built: list[Break] = []
            for j, b in enumerate(shift_in.breaks):
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
        pin = None
        pin_in = visit_in.pin
        if pin_in is not None:
            if pin_in.van_id is None and pin_in.date is None and pin_in.start is None:
                c.add(f"{where}.pin", "must fix at least one of van_id, date, start")
            else:
                pin = Pin(
                    van_id=pin_in.van_id,
                    day=(pin_in.date - horizon.start_date).days if pin_in.date else None,
                    start=_seconds(horizon, pin_in.start) if pin_in.start else None,
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

    matrix, info = provider(places.coordinates)
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
        info.source,
    )
    return MappedProblem(problem, dict(places.coordinates), info)


def _build(c: Collector, where: str, make: Callable[[], _T]) -> _T | None:
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


# --- solving ----------------------------------------------------------------------------------

ProgressFn = Callable[[float, float | None, int], None]


def _progress_fields(report: Any) -> tuple[float | None, int | None]:
    """(cost, solutions) from whatever the optimizer's ``on_progress`` hands over."""
    if isinstance(report, int | float):
        return float(report), None
    cost = None
    for name in ("best_cost", "objective", "cost"):
        value = getattr(report, name, None)
        if isinstance(value, int | float):
            cost = float(value)
            break
    solutions = getattr(report, "solutions", None)
    return cost, solutions if isinstance(solutions, int) else None


class Planner:
    """Maps requests and solves them; one per app (holds the matrix provider)."""

    def __init__(
        self,
        provider: MatrixProvider,
        *,
        resolve_address: AddressResolver | None = None,
        base: LonLatT | None = None,
        time_limit: float = 10.0,
        road_provider: MatrixProvider | None = None,
        isolate: bool = True,
        solver_workers: int = 1,
    ) -> None:
        self.provider = provider
        self.solver_workers = solver_workers  # search processes per solve (a portfolio)
        self.isolate = isolate  # solve in a separate process (keeps the API responsive)
        self.road_provider = road_provider
        self.resolve_address = resolve_address
        self.base = base
        self.time_limit = time_limit

    def validate(self, request: SolveRequest) -> None:
        """Every check that needs no travel matrix (cheap: for 422s before queueing a job)."""
        build_problem(
            request, placeholder_provider, resolve_address=self.resolve_address, base=self.base
        )

    def map(self, request: SolveRequest) -> MappedProblem:
        use_roads = request.options.use_road_network and self.road_provider is not None
        provider = self.road_provider if use_roads and self.road_provider else self.provider
        return build_problem(
            request, provider, resolve_address=self.resolve_address, base=self.base
        )

    def solver_settings(
        self, request: SolveRequest, default: float | None = None, cap: float | None = None
    ) -> Any:
        """Solver settings: the request's time limit, else ``default``; never above ``cap``;
        the service's ``solver_workers`` search processes."""
        from optimizer.settings import SolverSettings

        limit = request.options.time_limit_seconds or default or self.time_limit
        if cap is not None:
            limit = min(limit, cap)
        return SolverSettings(
            time_limit=limit,
            seed=request.options.seed or 0,
            solution_limit=request.options.solution_limit,
            workers=self.solver_workers,
        )

    @staticmethod
    def _progress(settings: Any, on_progress: ProgressFn | None) -> Callable[..., None]:
        """The optimizer's progress reports as (share of the time limit, cost, solutions)."""
        started = time.monotonic()
        state: dict[str, Any] = {"solutions": 0}

        def progress(report: Any = None, *_: Any) -> None:
            cost, solutions = _progress_fields(report)
            state["solutions"] = solutions if solutions is not None else state["solutions"] + 1
            if on_progress is not None:
                elapsed = getattr(report, "elapsed", None)
                if not isinstance(elapsed, int | float):
                    elapsed = time.monotonic() - started
                on_progress(min(elapsed / settings.time_limit, 1.0), cost, state["solutions"])

        return progress

    def run(
        self,
        problem: Problem,
        settings: Any,
        *,
        anchors: Mapping[str, tuple[str, int]] | None = None,
        initial: Plan | None = None,
        on_progress: ProgressFn | None = None,
        stop: Any = None,
    ) -> Plan:
        """Solve a domain problem; in a solver process unless ``isolate`` is off."""
        progress = self._progress(settings, on_progress)
        if self.isolate:
            return solve_in_child_process(
                problem,
                settings,
                anchors=anchors,
                initial=initial,
                on_progress=progress,
                stop=stop,
            )
        from optimizer.solve import solve

        return solve(
            problem, settings, anchors=anchors, initial=initial, on_progress=progress, stop=stop
        )

    def replan(
        self,
        problem: Problem,
        previous: Plan,
        changes: Any,
        settings: Any,
        *,
        confirmed: Collection[str],
        on_progress: ProgressFn | None = None,
        stop: Any = None,
    ) -> Any:
        """:func:`optimizer.replan.replan` (confirmed visits pinned), in a solver process unless
        ``isolate`` is off; returns its ``ReplanResult``. Progress and stop as in :meth:`run`."""
        from optimizer.replan import replan

        kwargs: dict[str, Any] = {"confirmed": frozenset(confirmed), "pin_confirmed": True}
        progress = self._progress(settings, on_progress)
        if not self.isolate:
            return replan(
                problem, previous, changes, settings, **kwargs, on_progress=progress, stop=stop
            )
        return run_in_child(
            replan, problem, previous, changes, settings, **kwargs, on_progress=progress, stop=stop
        )

    def solve_mapped(
        self,
        mapped: MappedProblem,
        settings: Any,
        on_progress: ProgressFn | None = None,
        stop: Any = None,
    ) -> Plan:
        return self.run(mapped.problem, settings, on_progress=on_progress, stop=stop)

    def solve(
        self,
        request: SolveRequest,
        on_progress: ProgressFn | None = None,
        stop: Any = None,
        *,
        time_limit: float | None = None,
        max_time_limit: float | None = None,
    ) -> PlanOut:
        """Map, solve (until done or ``stop`` is set) and map the plan back.

        ``time_limit`` applies when the request sets none; ``max_time_limit`` caps both.
        """
        mapped = self.map(request)
        settings = self.solver_settings(request, time_limit, max_time_limit)
        plan = self.solve_mapped(mapped, settings, on_progress, stop)
        return plan_to_out(plan, mapped)


def planner_from_settings(settings: Any) -> Planner:
    """The planner the service uses: road matrix when a network is configured, else approximate."""
    return Planner(
        approximate_provider(),
        resolve_address=default_address_resolver(getattr(settings, "osm_file", None)),
        base=default_base(),
        time_limit=float(getattr(settings, "sync_solve_time_limit", 10.0)),
        road_provider=road_provider_from_settings(settings),
        solver_workers=int(getattr(settings, "solver_workers", 1)),
    )


def road_provider_from_settings(settings: Any) -> MatrixProvider | None:
    """A road-network matrix provider when ``settings.osm_file`` is set (None otherwise)."""
    osm_file = getattr(settings, "osm_file", None)
    if osm_file is None:
        return None
    return RoadMatrixProvider(Path(osm_file), getattr(settings, "network_cache_dir", None))


class RoadMatrixProvider:
    """Snaps places to the road network of an OSM extract and computes the road matrix.

    The network is built (or read from the cache) on first use, once.
    """

    def __init__(self, osm_file: Path, cache_dir: Path | None = None) -> None:
        self.osm_file = osm_file
        self.cache_dir = cache_dir
        self._network: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_network(cls, network: Any, name: str = "road network") -> RoadMatrixProvider:
        """A provider over an already built network (e.g. a clipped extract)."""
        provider = cls(Path(name))
        provider._network = network
        return provider

    def network(self) -> Any:
        with self._lock:
            if self._network is None:
                from geo.network import load_osm_file

                log.info("loading road network from %s", self.osm_file)
                self._network = load_osm_file(self.osm_file, cache_dir=self.cache_dir)
            return self._network

    @property
    def loaded(self) -> bool:
        return self._network is not None

    def __call__(self, points: Mapping[str, LonLatT]) -> tuple[TravelMatrix, MatrixInfo]:
        from geo.matrix import travel_matrix
        from geo.snap import snap_places

        network = self.network()
        try:
            snapped = snap_places(network, dict(points))
        except ValueError as exc:
            raise ValidationError(Issue("places", str(exc))) from exc
        result = travel_matrix(network, snapped)
        note = f"road network from {self.osm_file.name}"
        if result.unreachable:
            note += f"; {len(result.unreachable)} place pairs have no road between them"
        info = MatrixInfo(source="road_network", approximate=result.matrix.approximate, note=note)
        return result.matrix, info


# --- stored data -> request (weekly plans) ------------------------------------------------------


class NothingToPlanError(ValidationError):
    """The stored data has no vans or no shifts in the requested week."""


def week_start(iso_week: str) -> date:
    """Monday of an ISO week ``YYYY-Www``; ValidationError naming ``path.iso_week`` if invalid."""
    try:
        year, week = iso_week.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValidationError(
            Issue("path.iso_week", f"{iso_week!r} is not an ISO week such as 2026-W48")
        ) from None


def week_request(
    session: Any,
    iso_week: str,
    timezone: str,
    *,
    time_limit_seconds: float | None = None,
    seed: int | None = None,
    solution_limit: int | None = None,
) -> SolveRequest:
    """The planning request of one ISO week built from the stored dispatcher data.

    Vans with their shifts in the week; open visits whose windows touch the week (or that have
    none); consultation hours occurring in the week as fixed visits (pinned to their van if set).
    """
    from sqlalchemy import select

    from api.db.core_models import (
        ClientRow,
        ConsultationHoursRow,
        ShiftRow,
        VanRow,
        VisitRow,
    )
    from api.schemas.planning import (
        HorizonIn,
        PinIn,
        ShiftIn,
        SolveOptions,
        VanIn,
        VisitIn,
        Window,
    )

    tz = ZoneInfo(timezone)
    monday = week_start(iso_week)
    lo = datetime.combine(monday, datetime.min.time(), tzinfo=tz)
    hi = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=tz)
    sunday_next = monday + timedelta(days=7)

    vans = [
        VanIn(
            id=v.id,
            name=v.name,
            skills=list(v.skills or []),
            start=(
                Place(coordinates=(v.base_lon, v.base_lat))
                if v.base_lon is not None and v.base_lat is not None
                else None
            ),
            cost_per_hour=v.cost_per_hour,
            cost_per_km=v.cost_per_km,
        )
        for v in session.scalars(select(VanRow).order_by(VanRow.id))
    ]
    shifts = [
        ShiftIn(
            van_id=s.van_id,
            start=s.start.astimezone(tz),
            end=s.end.astimezone(tz),
            max_work_minutes=s.max_work_minutes,
        )
        for s in session.scalars(
            select(ShiftRow)
            .where(ShiftRow.start >= lo, ShiftRow.start < hi)
            .order_by(ShiftRow.start, ShiftRow.van_id)
        )
    ]
    clients = {c.id: c for c in session.scalars(select(ClientRow))}
    visits: list[VisitIn] = []
    for v in session.scalars(
        select(VisitRow).where(VisitRow.status == "open").order_by(VisitRow.id)
    ):
        windows = [
            Window(
                start=datetime.fromisoformat(a).astimezone(tz),
                end=datetime.fromisoformat(b).astimezone(tz),
            )
            for a, b in (v.windows or [])
        ]
        windows = [w for w in windows if w.end > lo and w.start < hi]
        if v.windows and not windows:
            continue  # appointment in another week
        client = clients.get(v.client_id)
        if client is not None and client.erased_at is not None:
            continue
        place = _stored_place(v, client)
        # The dispatcher's pin; a pinned date outside this week pins only the van (if any).
        pin_date = (
            v.pinned_date if v.pinned_date and monday <= v.pinned_date < sunday_next else None
        )
        pin = (
            PinIn(van_id=v.pinned_van_id, date=pin_date)
            if v.pinned_van_id is not None or pin_date is not None
            else None
        )
        visits.append(
            VisitIn(
                id=v.id,
                place=place,
                duration_minutes=v.duration_minutes,
                windows=windows,
                skills=list(v.skills or []),
                priority=v.priority,
                preferred_van=v.preferred_van_id
                or (client.preferred_van_id if client is not None else None),
                client_ref=v.client_id,
                pin=pin,
            )
        )
    for ch in session.scalars(select(ConsultationHoursRow).order_by(ConsultationHoursRow.id)):
        for offset in range(7):
            day = monday + timedelta(days=offset)
            if day.isoweekday() != ch.weekday or day < ch.valid_from:
                continue
            if ch.valid_until is not None and day > ch.valid_until:
                continue
            weeks_since = (day - ch.valid_from).days // 7
            if weeks_since % max(ch.every_weeks, 1):
                continue
            start = datetime.combine(day, ch.start_time, tzinfo=tz)
            end = datetime.combine(day, ch.end_time, tzinfo=tz)
            visits.append(
                VisitIn(
                    id=f"ch-{ch.id}-{day.isoformat()}",
                    place=Place(coordinates=(ch.lon, ch.lat)),
                    duration_minutes=int((end - start).total_seconds() // 60),
                    windows=[Window(start=start, end=end)],
                    dates=[day],
                    skills=list(ch.skills or []),
                    kind="consultation_hours",
                    pin=PinIn(van_id=ch.van_id) if ch.van_id else None,
                )
            )
    if not vans or not shifts:
        raise NothingToPlanError(
            Issue("path.iso_week", f"no {'vans' if not vans else 'shifts'} stored for {iso_week}")
        )
    return SolveRequest(
        horizon=HorizonIn(start_date=monday, days=7, timezone=timezone),
        vans=vans,
        shifts=shifts,
        visits=visits,
        options=SolveOptions(
            time_limit_seconds=time_limit_seconds, seed=seed, solution_limit=solution_limit
        ),
    )


def _stored_place(visit: Any, client: Any) -> Place:
    """A stored visit's place: its own position or address, else its client's."""
    for source in (visit, client):
        if source is None:
            continue
        if source.lon is not None and source.lat is not None:
            return Place(coordinates=(source.lon, source.lat))
    for source in (visit, client):
        if source is not None and source.address:
            return Place(address=source.address)
    # Nothing to go by: an address that cannot be found yields a clear error naming the visit.
    return Place(address=f"(no address stored for visit {visit.id})")
