"""One typed view of a plan, read by every output format (GeoJSON, maps, GPX, iCalendar, CSV).

:func:`build_view` turns the optimizer's :class:`~optimizer.plan.Plan` and its
:class:`~optimizer.domain.Problem` (plus where the places are, what to call them, and optionally
the road network for leg geometry) into small frozen dataclasses: a :class:`PlanView` holds its
van-days (:class:`VanDayView`: legs, stops, breaks), the depots and the unassigned visits with
their reasons. Times are aware datetimes in the horizon's zone together with their horizon
seconds; coordinates are ``(lon, lat)``. Each stop carries one display name, which every renderer
uses. The renderers (:mod:`geo.render`) read only this view.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from urllib.parse import quote
from zoneinfo import ZoneInfo

from geo.geometry import Coord, LegGeometry, PlaceLike
from geo.snap import Network
from optimizer.domain import Problem, VisitKind
from optimizer.plan import Plan, Route

log = logging.getLogger(__name__)


class DayKeys(StrEnum):
    """How van-days are named outward (GeoJSON ``day``, default layer names): by the horizon's
    day index (``0``, ``1``, ...) or by ISO date."""

    INDEX = "index"
    DATE = "date"


class ClientDisplay(StrEnum):
    """What crews see for a client: the real name or a pseudonym."""

    NAME = "name"
    PSEUDONYM = "pseudonym"


@dataclass(frozen=True)
class VisitInfo:
    """What is known about a visit beyond the plan (for crews; never written to GPX)."""

    client: str | None = None
    pseudonym: str | None = None
    notes: str = ""
    address: str = ""
    phone: str = ""

    @property
    def tel_uri(self) -> str:
        """``tel:`` link of the phone number (RFC 3966: digits and a leading ``+`` kept);
        empty when no number is known."""
        digits = "".join(c for c in self.phone if c.isdigit() or c == "+")
        return f"tel:{digits}" if any(c.isdigit() for c in digits) else ""


@dataclass(frozen=True)
class StopView:
    """One served visit of a van-day, in driving order (``order`` counts from 1)."""

    visit_id: str
    order: int
    location: str
    name: str
    coord: Coord
    kind: VisitKind
    arrival: datetime
    start: datetime
    end: datetime
    arrival_s: int
    start_s: int
    end_s: int
    waiting: int = 0
    snap_distance: float | None = None
    info: VisitInfo = field(default_factory=VisitInfo)

    @property
    def consultation(self) -> bool:
        return self.kind is VisitKind.CONSULTATION

    def client_label(self, display: ClientDisplay) -> str:
        """The client as crews see it: the name only when asked for and known, otherwise a
        pseudonym (never the name); empty for consultation hours, which have no client."""
        if self.consultation:
            return ""
        if display is ClientDisplay.NAME and self.info.client:
            return self.info.client
        return self.info.pseudonym or f"Client {self.visit_id}"

    @property
    def geo_uri(self) -> str:
        """RFC 5870 ``geo:`` URI (opens the phone's map app), labelled with the stop's name."""
        lon, lat = self.coord
        return f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}({quote(self.name, safe='')})"

    @property
    def google_maps(self) -> str:
        """Google Maps directions to this stop (from where the phone is)."""
        lon, lat = self.coord
        return f"https://www.google.com/maps/dir/?api=1&destination={lat:.6f}%2C{lon:.6f}"

    @property
    def apple_maps(self) -> str:
        """Apple Maps directions to this stop, by car."""
        lon, lat = self.coord
        return f"https://maps.apple.com/?daddr={lat:.6f},{lon:.6f}&dirflg=d"

    def osm_directions(self, origin: Coord | None = None) -> str:
        """OpenStreetMap directions link to this stop, from ``origin`` (lon, lat) if given."""
        lon, lat = self.coord
        dest = f"{lat:.6f}%2C{lon:.6f}"
        frm = f"{origin[1]:.6f}%2C{origin[0]:.6f}" if origin else ""
        return (
            f"https://www.openstreetmap.org/directions?engine=fossgis_osrm_car&route={frm}%3B{dest}"
        )


@dataclass(frozen=True)
class BreakView:
    start: datetime
    end: datetime
    start_s: int
    end_s: int


@dataclass(frozen=True)
class LegView:
    """The drive from one place to the next (``index`` counts from 0 within the van-day).

    ``coords`` follow the roads unless ``approximate``; then they are a straight line."""

    index: int
    from_location: str
    to_location: str
    from_visit: str | None
    to_visit: str | None
    coords: tuple[Coord, ...]
    travel_time: int | None
    distance: int | None
    approximate: bool


@dataclass(frozen=True)
class VanDayView:
    """One van's route on one day of the horizon. ``departure``/``back``: when the van leaves
    its base and is back (None when not known)."""

    van_id: str
    van_name: str
    day: int
    date: date
    key: str  # the outward name of the day (see DayKeys)
    day_name: str
    legs: tuple[LegView, ...]
    stops: tuple[StopView, ...]
    breaks: tuple[BreakView, ...] = ()
    departure: datetime | None = None
    back: datetime | None = None

    @property
    def start(self) -> Coord | None:
        """Where the van sets out, ``(lon, lat)``."""
        return self.legs[0].coords[0] if self.legs else None

    @property
    def end(self) -> Coord | None:
        """Where the van's day ends, ``(lon, lat)``."""
        return self.legs[-1].coords[-1] if self.legs else None


@dataclass(frozen=True)
class DepotView:
    id: str
    name: str
    coord: Coord


@dataclass(frozen=True)
class UnassignedView:
    visit_id: str
    location: str
    name: str
    coord: Coord
    reason: str
    message: str
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanView:
    """A plan ready to be drawn or exported. ``van_days`` keep the plan's route order."""

    timezone: str
    start_date: date
    day_keys: DayKeys
    approximate: bool
    van_days: tuple[VanDayView, ...]
    depots: tuple[DepotView, ...]
    unassigned: tuple[UnassignedView, ...]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def sorted_van_days(self) -> list[VanDayView]:
        """The van-days sorted by van, then day."""
        return sorted(self.van_days, key=lambda vd: (vd.van_id, vd.day))

    def vans(self) -> list[str]:
        """Ids of the vans with a route, sorted."""
        return sorted({vd.van_id for vd in self.van_days})

    def van_day(self, van_id: str, day: date | int | str) -> VanDayView:
        """The route of ``van_id`` on ``day``: a date, a day index, or the day's key.

        Raises ``KeyError`` when the van has no route that day."""
        for vd in self.van_days:
            if vd.van_id == van_id and _is_day(vd, day):
                return vd
        raise KeyError(f"no route for van {van_id!r} on day {str(day)!r} in the plan")

    def select(self, van_id: str | None = None, day: date | int | str | None = None) -> PlanView:
        """The view restricted to one van and/or one day; a restricted view has no unassigned
        visits (they belong to no van-day). Depots are kept."""
        if van_id is None and day is None:
            return self
        kept = tuple(
            vd
            for vd in self.van_days
            if (van_id is None or vd.van_id == van_id) and (day is None or _is_day(vd, day))
        )
        return replace(self, van_days=kept, unassigned=())

    def stops(self) -> list[StopView]:
        return [s for vd in self.van_days for s in vd.stops]

    def coords(self) -> list[Coord]:
        """Every coordinate of the view (for map bounds)."""
        out = [c for vd in self.van_days for leg in vd.legs for c in leg.coords]
        out += [s.coord for vd in self.van_days for s in vd.stops]
        out += [d.coord for d in self.depots]
        out += [u.coord for u in self.unassigned]
        return out


def _is_day(vd: VanDayView, day: date | int | str) -> bool:
    if isinstance(day, date):
        return vd.date == day
    if isinstance(day, int):
        return vd.day == day
    return day in (vd.key, str(vd.day), vd.date.isoformat())


def day_key(day_keys: DayKeys, day: int, the_date: date) -> str:
    return the_date.isoformat() if day_keys is DayKeys.DATE else str(day)


def _route_locations(route: Route) -> list[tuple[str, str | None]]:
    """(location id, visit id or None) in driving order, depot to depot."""
    seq: list[tuple[str, str | None]] = [(route.start_location, None)]
    seq += [(s.location, s.visit_id) for s in route.stops]
    seq.append((route.end_location, None))
    return seq


def build_view(
    plan: Plan,
    problem: Problem,
    places: Mapping[str, PlaceLike],
    *,
    network: Network | None = None,
    names: Mapping[str, str] | None = None,
    info: Mapping[str, VisitInfo] | None = None,
    van_names: Mapping[str, str] | None = None,
    day_names: Mapping[int, str] | None = None,
    depot_names: Mapping[str, str] | None = None,
    day_keys: DayKeys = DayKeys.INDEX,
) -> PlanView:
    """The view of ``plan`` for ``problem``.

    ``places`` maps every location id of the plan to its snapped place or a bare ``(lon, lat)``
    (snapped here when a network is given). Legs follow the roads when ``network`` is given and
    the problem's matrix is not approximate; otherwise they are straight and flagged
    approximate. ``names`` gives each visit its display name (default: its location id),
    ``info`` what crews may read about it; ``van_names``/``day_names`` (by day index) label
    the van-days (default: the van id, ``"day <key>"``); ``depot_names`` the depots (default:
    their location ids).
    """
    approximate = network is None or problem.matrix.approximate
    names = names or {}
    info = info or {}
    van_names = van_names or {}
    day_names = day_names or {}
    depot_names = depot_names or {}
    needed: list[str] = []
    for route in plan.routes:
        needed += [loc for loc, _ in _route_locations(route)]
    for u in plan.unassigned:
        needed.append(problem.visit(u.visit_id).location)
    for van in problem.vans:
        needed += [van.start_location, van.end]
    geometry = LegGeometry(places, needed, None if approximate else network)

    horizon = problem.horizon
    van_days: list[VanDayView] = []
    for route in plan.routes:
        seq = _route_locations(route)
        times = [s.travel_time for s in route.stops] + [route.return_travel_time]
        dists = [s.distance for s in route.stops] + [route.return_distance]
        legs = tuple(
            LegView(
                index=n,
                from_location=a,
                to_location=b,
                from_visit=va,
                to_visit=vb,
                coords=geometry.line(a, b),
                travel_time=int(times[n]),
                distance=int(dists[n]),
                approximate=approximate,
            )
            for n, ((a, va), (b, vb)) in enumerate(itertools.pairwise(seq))
        )
        stops = tuple(
            StopView(
                visit_id=stop.visit_id,
                order=order,
                location=stop.location,
                name=names.get(stop.visit_id) or stop.location,
                coord=geometry.point(stop.location),
                kind=problem.visit(stop.visit_id).kind,
                arrival=horizon.to_datetime(stop.arrival),
                start=horizon.to_datetime(stop.start),
                end=horizon.to_datetime(stop.end),
                arrival_s=stop.arrival,
                start_s=stop.start,
                end_s=stop.end,
                waiting=stop.waiting,
                snap_distance=geometry.snap_distance(stop.location),
                info=info.get(stop.visit_id, VisitInfo()),
            )
            for order, stop in enumerate(route.stops, start=1)
        )
        breaks = tuple(
            BreakView(horizon.to_datetime(b.start), horizon.to_datetime(b.end), b.start, b.end)
            for b in route.breaks
        )
        the_date = horizon.date_of(route.day)
        key = day_key(day_keys, route.day, the_date)
        van_days.append(
            VanDayView(
                van_id=route.van_id,
                van_name=van_names.get(route.van_id) or route.van_id,
                day=route.day,
                date=the_date,
                key=key,
                day_name=day_names.get(route.day) or f"day {key}",
                legs=legs,
                stops=stops,
                breaks=breaks,
                departure=horizon.to_datetime(route.start),
                back=horizon.to_datetime(route.end),
            )
        )
    depot_ids = sorted({v.start_location for v in problem.vans} | {v.end for v in problem.vans})
    depots = tuple(DepotView(d, depot_names.get(d, d), geometry.point(d)) for d in depot_ids)
    unassigned = tuple(
        UnassignedView(
            visit_id=u.visit_id,
            location=(loc := problem.visit(u.visit_id).location),
            name=names.get(u.visit_id) or loc,
            coord=geometry.point(loc),
            reason=str(u.reason),
            message=u.message,
            conflicts=tuple(u.conflicts),
        )
        for u in plan.unassigned
    )
    log.debug("view: %d van-days, %d unassigned", len(van_days), len(unassigned))
    return PlanView(
        timezone=horizon.timezone,
        start_date=horizon.start_date,
        day_keys=day_keys,
        approximate=approximate,
        van_days=tuple(van_days),
        depots=depots,
        unassigned=unassigned,
    )
