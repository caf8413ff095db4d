"""The typed view (:mod:`geo.view`) of a stored plan version, for every output format.

A version keeps the optimizer's plan, the request it was made from and the API's response. The
view is drawn from the optimizer's plan with the request mapped again for the places
(:func:`stored_plan_view`); when the stored plan cannot be mapped back (versions stored without
one), from the response alone with straight legs (:func:`response_view`). Every stop gets one
name, used by the maps, the files and the crew page alike: the visit's address, else its
client's, else the nearest village (never an internal id).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.core_models import ClientRow
from api.i18n import N_
from api.mapping import build_problem
from api.schemas.planning import MatrixInfo, PlanOut, SolveRequest, StepType
from api.storage.plans import plan_from_json
from geo.providers import AddressResolver, LonLat, placeholder_provider
from geo.service_area import NamedPlace, default_service_area
from geo.view import (
    BreakView,
    DayKeys,
    DepotView,
    LegView,
    PlanView,
    StopView,
    UnassignedView,
    VanDayView,
    VisitInfo,
    build_view,
    day_key,
)
from optimizer.domain import Horizon, Problem, VisitKind
from optimizer.plan import Plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VisitLabels:
    """Per visit id: the stop's display name and what crews may read about the visit."""

    names: Mapping[str, str]
    info: Mapping[str, VisitInfo]


NEAR = "near %(place)s"
PSEUDONYM = N_("Client %(id)s")
"""How pages name a client without its name (translated by the page: ``Klient c-17``)."""


def area_places(planner: object) -> Sequence[NamedPlace]:
    """The named places of the planner's service area (default: the shipped area's)."""
    area = getattr(planner, "area", None) or default_service_area()
    return tuple(area.places)


def place_names(
    request: SolveRequest, near: str = NEAR, villages: Sequence[NamedPlace] | None = None
) -> dict[str, str]:
    """visit id -> what crews read as the place: the address, else the nearest of ``villages``
    (default: the shipped service area's places; ``near`` with ``%(place)s``: the words around
    it, e.g. from the page's catalogue)."""
    if villages is None:
        villages = default_service_area().places
    names: dict[str, str] = {}
    for v in request.visits:
        if v.place.address:
            names[v.id] = v.place.address
        elif v.place.coordinates is not None and villages:
            lon, lat = v.place.coordinates
            k = math.cos(math.radians(lat))
            nearest = min(
                villages,
                key=lambda p: ((p.location[0] - lon) * k) ** 2 + (p.location[1] - lat) ** 2,
            )
            names[v.id] = near % {"place": nearest.name}
    return names


def clients_by_id(session: Session, ids: Iterable[str]) -> dict[str, ClientRow]:
    """The client rows of ``ids`` that exist, in one query (chunked for long lists)."""
    wanted = sorted(set(ids))
    found: dict[str, ClientRow] = {}
    for at in range(0, len(wanted), 500):
        chunk = wanted[at : at + 500]
        found.update(
            (c.id, c) for c in session.scalars(select(ClientRow).where(ClientRow.id.in_(chunk)))
        )
    return found


def visit_labels(
    session: Session,
    request: SolveRequest,
    near: str = NEAR,
    villages: Sequence[NamedPlace] | None = None,
    pseudonym: str = PSEUDONYM,
) -> VisitLabels:
    """Names and crew details of the request's visits from their (not erased) clients: the
    name is the visit's address, else the client's, else the nearest of ``villages``
    (``near``); the crew details are the client's name, pseudonym (``pseudonym`` with
    ``%(id)s``), notes, address and phone number."""
    nearby = place_names(request, near, villages)
    names: dict[str, str] = {}
    info: dict[str, VisitInfo] = {}
    clients = clients_by_id(session, {v.client_ref for v in request.visits if v.client_ref})
    for v in request.visits:
        found = clients.get(v.client_ref) if v.client_ref else None
        client = found if found is not None and found.erased_at is None else None
        info[v.id] = VisitInfo(
            client=client.name if client else None,
            pseudonym=pseudonym % {"id": v.client_ref} if v.client_ref else None,
            notes=(client.notes or "") if client else "",
            address=(client.address or "") if client else "",
            phone=(client.phone or "") if client else "",
        )
        name = v.place.address or (client.address if client else None) or nearby.get(v.id)
        if name:
            names[v.id] = name
    return VisitLabels(names, info)


def van_names(request: SolveRequest) -> dict[str, str]:
    return {v.id: v.name or v.id for v in request.vans}


def weekday_names(request: SolveRequest) -> dict[int, str]:
    """Day index -> ``"Mon 02.03."`` over the request's horizon."""
    h = request.horizon
    horizon = Horizon(h.start_date, h.days, h.timezone)
    return {d: f"{horizon.date_of(d):%a %d.%m.}" for d in range(h.days)}


def stored_plan_view(
    plan: Plan,
    request: SolveRequest,
    matrix: MatrixInfo,
    *,
    network: Any = None,
    resolve_address: AddressResolver | None = None,
    base: LonLat | None = None,
    labels: VisitLabels | None = None,
    day_names: Mapping[int, str] | None = None,
) -> PlanView:
    """The view of a stored plan, van-days keyed by ISO date.

    Legs follow the roads when ``network`` is given and the plan was made on it
    (``matrix.source == "road_network"``); otherwise they are straight and flagged approximate.
    The request is mapped again for the places (no matrix needed); the plan's location ids are
    re-keyed to that mapping, and stops of visits no longer in the request (erased clients) are
    left out. Without ``labels`` stops are named by :func:`place_names`.
    """
    mapped = build_problem(
        request, placeholder_provider, resolve_address=resolve_address, base=base
    )
    problem = mapped.problem
    on_roads = network is not None and matrix.source == "road_network" and not matrix.approximate
    if on_roads:
        problem = replace(problem, matrix=replace(problem.matrix, approximate=False))
    vans = {v.id for v in request.vans}
    return build_view(
        _rekey(plan, problem),
        problem,
        mapped.coordinates,
        network=network if on_roads else None,
        names=labels.names if labels is not None else place_names(request),
        info=labels.info if labels is not None else None,
        van_names=van_names(request),
        day_names=day_names,
        depot_names={loc: "Depot" for loc in mapped.coordinates if loc not in vans},
        day_keys=DayKeys.DATE,
    )


def _rekey(plan: Plan, problem: Problem) -> Plan:
    """``plan`` with location ids taken from ``problem`` (visits and vans matched by id);
    stops and unassigned entries of visits ``problem`` does not have are dropped."""
    visits = {v.id: v for v in problem.visits}
    vans = {v.id: v for v in problem.vans}
    routes = []
    for r in plan.routes:
        van = vans.get(r.van_id)
        stops = tuple(
            replace(s, location=visits[s.visit_id].location)
            for s in r.stops
            if s.visit_id in visits
        )
        routes.append(
            replace(
                r,
                stops=stops,
                start_location=van.start_location if van else r.start_location,
                end_location=van.end if van else r.end_location,
            )
        )
    unassigned = tuple(u for u in plan.unassigned if u.visit_id in visits)
    return replace(plan, routes=tuple(routes), unassigned=unassigned)


def response_view(
    plan_out: PlanOut,
    request: SolveRequest,
    *,
    labels: VisitLabels | None = None,
    day_names: Mapping[int, str] | None = None,
) -> PlanView:
    """The view from the stored response alone: straight legs between the steps' places
    (flagged approximate), depots where routes start and end, unassigned visits that have
    coordinates."""
    h = request.horizon
    horizon = Horizon(h.start_date, h.days, h.timezone)
    tz = horizon.tz
    kinds = {v.id: VisitKind(v.kind) for v in request.visits}
    names = labels.names if labels is not None else place_names(request)
    info = labels.info if labels is not None else {}
    vans = van_names(request)
    day_names = day_names or {}
    depots: dict[tuple[float, float], str] = {}

    def local(moment: datetime) -> tuple[datetime, int]:
        return moment.astimezone(tz), horizon.to_seconds(moment)

    van_days: list[VanDayView] = []
    for r in plan_out.routes:
        day = (r.date - h.start_date).days
        located = [s for s in r.steps if s.location is not None]
        legs: list[LegView] = []
        for n, (a, b) in enumerate(pairwise(located)):
            assert a.location is not None and b.location is not None
            legs.append(
                LegView(
                    index=n,
                    from_location=a.visit_id or f"{a.type.value}-{r.van_id}",
                    to_location=b.visit_id or f"{b.type.value}-{r.van_id}",
                    from_visit=a.visit_id,
                    to_visit=b.visit_id,
                    coords=((a.location[0], a.location[1]), (b.location[0], b.location[1])),
                    travel_time=b.travel_seconds,
                    distance=b.distance_m,
                    approximate=True,
                )
            )
        stops: list[StopView] = []
        breaks: list[BreakView] = []
        departure = back = None
        for s in r.steps:
            if s.type is StepType.START:
                departure = s.start.astimezone(tz)
            elif s.type is StepType.END:
                back = s.arrival.astimezone(tz)
            if s.type is StepType.BREAK:
                (start, start_s), (end, end_s) = local(s.start), local(s.end)
                breaks.append(BreakView(start, end, start_s, end_s))
            elif s.location is None:
                continue
            elif s.type is StepType.VISIT and s.visit_id:
                (arrival, arrival_s), (start, start_s) = local(s.arrival), local(s.start)
                end, end_s = local(s.end)
                stops.append(
                    StopView(
                        visit_id=s.visit_id,
                        order=len(stops) + 1,
                        location=s.visit_id,
                        name=names.get(s.visit_id) or f"Visit {s.visit_id}",
                        coord=(s.location[0], s.location[1]),
                        kind=kinds.get(s.visit_id, VisitKind.APPOINTMENT),
                        arrival=arrival,
                        start=start,
                        end=end,
                        arrival_s=arrival_s,
                        start_s=start_s,
                        end_s=end_s,
                        waiting=s.waiting_seconds,
                        info=info.get(s.visit_id, VisitInfo()),
                    )
                )
            else:
                depots.setdefault((s.location[0], s.location[1]), f"depot-{len(depots)}")
        key = day_key(DayKeys.DATE, day, r.date)
        van_days.append(
            VanDayView(
                van_id=r.van_id,
                van_name=vans.get(r.van_id) or r.van_id,
                day=day,
                date=r.date,
                key=key,
                day_name=day_names.get(day) or f"day {key}",
                legs=tuple(legs),
                stops=tuple(stops),
                breaks=tuple(breaks),
                departure=departure,
                back=back,
            )
        )
    at = {v.id: v.place.coordinates for v in request.visits}
    unassigned: list[UnassignedView] = []
    for u in plan_out.unassigned:
        coords = at.get(u.visit_id)
        if coords is not None:
            unassigned.append(
                UnassignedView(
                    visit_id=u.visit_id,
                    location=u.visit_id,
                    name=names.get(u.visit_id) or f"Visit {u.visit_id}",
                    coord=(coords[0], coords[1]),
                    reason=u.reason,
                    message=u.message,
                    conflicts=tuple(u.conflicts),
                )
            )
    return PlanView(
        timezone=h.timezone,
        start_date=h.start_date,
        day_keys=DayKeys.DATE,
        approximate=True,
        van_days=tuple(van_days),
        depots=tuple(DepotView(ident, "Depot", c) for c, ident in depots.items()),
        unassigned=tuple(unassigned),
    )


@dataclass(frozen=True)
class StoredVersion:
    """What a stored plan version holds: the optimizer's plan (JSON), the request, the response."""

    id: str
    domain_plan: Any
    request: SolveRequest
    plan_out: PlanOut


def version_view(
    version: StoredVersion,
    *,
    network: Any = None,
    planner: Any = None,
    labels: VisitLabels | None = None,
    day_names: Mapping[int, str] | None = None,
) -> PlanView:
    """The view of a stored version: from the optimizer's plan (road-following legs when the
    service has its road network loaded and the version was planned on it), else (logged) from
    the response with straight legs."""
    try:
        plan = plan_from_json(version.domain_plan)
        if len(plan.routes) != len(version.plan_out.routes):
            raise ValueError("stored optimizer plan does not match the stored response")
        return stored_plan_view(
            plan,
            version.request,
            version.plan_out.matrix,
            network=network,
            resolve_address=getattr(planner, "resolve_address", None),
            base=getattr(planner, "base", None),
            labels=labels,
            day_names=day_names,
        )
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("plan %s: drawing straight legs (%s)", version.id, exc)
        return response_view(version.plan_out, version.request, labels=labels, day_names=day_names)
