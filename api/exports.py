"""Crew-day downloads: iCalendar (.ics, RFC 5545) and CSV.

A :class:`CrewDay` is built from the plan's GeoJSON FeatureCollection (stops with ISO-8601 times
or horizon seconds) plus per-visit details the API keeps (client name, pseudonym, notes, address).
Whether crews see client names or pseudonyms is a setting (:class:`ClientDisplay`); the GPX file
(:mod:`geo.gpx`) never carries client names.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from geo.maps import parse_features
from optimizer.domain import Horizon
from optimizer.errors import Collector

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "order",
    "arrival",
    "start",
    "end",
    "place",
    "address",
    "client",
    "notes",
    "kind",
    "visit_id",
    "lat",
    "lon",
)


class ClientDisplay(StrEnum):
    """What crews see for a client: the real name or a pseudonym."""

    NAME = "name"
    PSEUDONYM = "pseudonym"


@dataclass(frozen=True)
class StopDetails:
    """What the API knows about a visit beyond the plan."""

    client: str | None = None
    pseudonym: str | None = None
    notes: str = ""
    address: str = ""
    place: str | None = None  # overrides the place name in the GeoJSON


@dataclass(frozen=True)
class CrewStop:
    order: int
    visit_id: str
    arrival: datetime
    start: datetime
    end: datetime
    place: str
    lon: float
    lat: float
    kind: str = "appointment"  # appointment | consultation_hours
    client: str | None = None
    pseudonym: str | None = None
    notes: str = ""
    address: str = ""

    def client_label(self, display: ClientDisplay) -> str:
        """The name to show; a pseudonym (never the name) when pseudonyms are asked for."""
        if self.kind == "consultation_hours":
            return ""
        if display is ClientDisplay.NAME and self.client:
            return self.client
        return self.pseudonym or f"Client {self.visit_id}"

    @property
    def geo_uri(self) -> str:
        """RFC 5870 ``geo:`` URI (opens the phone's map app)."""
        return f"geo:{self.lat:.6f},{self.lon:.6f}"

    def osm_directions(self, origin: tuple[float, float] | None = None) -> str:
        """OpenStreetMap directions link to this stop, from ``origin`` (lon, lat) if given."""
        dest = f"{self.lat:.6f}%2C{self.lon:.6f}"
        frm = f"{origin[1]:.6f}%2C{origin[0]:.6f}" if origin else ""
        return (
            f"https://www.openstreetmap.org/directions?engine=fossgis_osrm_car&route={frm}%3B{dest}"
        )


@dataclass(frozen=True)
class CrewDay:
    van_id: str
    van_name: str
    day: str  # the plan's day key (index)
    date: date
    stops: tuple[CrewStop, ...]
    start: tuple[float, float] | None = None  # (lon, lat) of the departure


def _moment(c: Collector, where: str, value: object, horizon: Horizon | None) -> datetime | None:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            c.add(where, f"not an ISO-8601 date-time: {value!r}")
            return None
        if moment.tzinfo is None:
            c.add(where, f"has no time zone: {value!r}")
            return None
        return moment
    if isinstance(value, int) and not isinstance(value, bool):
        if horizon is None:
            c.add(where, "is in horizon seconds but no horizon was given")
            return None
        return horizon.to_datetime(value)
    c.add(where, f"missing or not a time: {value!r}")
    return None


def crew_day_from_geojson(
    collection: Mapping[str, Any],
    van_id: str,
    day: int | str,
    *,
    van_name: str | None = None,
    details: Mapping[str, StopDetails] | None = None,
    horizon: Horizon | None = None,
    timezone: str = "Europe/Berlin",
) -> CrewDay:
    """The ordered stops of one van-day. ``horizon`` converts integer times (if the GeoJSON
    carries horizon seconds rather than ISO strings). Times are converted to ``timezone`` (the
    horizon's, when given) so calendars get a named zone, not a bare offset. Raises ``KeyError``
    for an unknown van-day and :class:`~optimizer.errors.ValidationError` for bad stop times."""
    feats = parse_features(collection)
    key = (str(van_id), str(day))
    if key not in feats.van_days():
        raise KeyError(f"no route for van {van_id!r} on day {day!r} in the plan")
    details = details or {}
    tz = horizon.tz if horizon is not None else ZoneInfo(timezone)
    c = Collector()
    stops: list[CrewStop] = []
    for s in (s for s in feats.stops if (s.van_id, s.day) == key):
        where = f"stops[{s.visit_id}]"
        times = [
            _moment(c, f"{where}.{k}", s.properties.get(k), horizon)
            for k in ("arrival", "start", "end")
        ]
        arrival, start, end = (t.astimezone(tz) if t is not None else None for t in times)
        if arrival is None or start is None or end is None:
            continue
        d = details.get(s.visit_id, StopDetails())
        stops.append(
            CrewStop(
                order=s.order,
                visit_id=s.visit_id,
                arrival=arrival,
                start=start,
                end=end,
                place=d.place or s.label or f"Visit {s.visit_id}",
                lon=s.coord[0],
                lat=s.coord[1],
                kind="consultation_hours" if s.consultation else "appointment",
                client=d.client,
                pseudonym=d.pseudonym,
                notes=d.notes,
                address=d.address,
            )
        )
    c.raise_if_any()
    legs = [leg for leg in feats.legs if (leg.van_id, leg.day) == key]
    if stops:
        the_date = stops[0].start.date()
    elif horizon is not None and key[1].isdigit():
        the_date = horizon.date_of(int(key[1]))
    else:
        raise KeyError(f"van {van_id!r} has no stops on day {day!r}: no date to export")
    return CrewDay(
        van_id=key[0],
        van_name=van_name or key[0],
        day=key[1],
        date=the_date,
        stops=tuple(stops),
        start=legs[0].coords[0] if legs else None,
    )


def _summary(stop: CrewStop, display: ClientDisplay) -> str:
    if stop.kind == "consultation_hours":
        return f"{stop.order}. Sprechstunde {stop.place}"
    return f"{stop.order}. {stop.place} – {stop.client_label(display)}"


def crew_day_ics(
    crew_day: CrewDay,
    *,
    display: ClientDisplay = ClientDisplay.PSEUDONYM,
    uid_domain: str = "vanplan.invalid",
    stamp: datetime | None = None,
) -> bytes:
    """An iCalendar file with one VEVENT per stop (service start to end) in the stops' own time
    zone, with a VTIMEZONE for it. ``stamp`` (DTSTAMP) defaults to now; pass it for reproducible
    output. The library does the RFC 5545 escaping, line folding and CRLF endings."""
    from icalendar import Calendar, Event

    stamp = (stamp or datetime.now(UTC)).astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", "-//vanplan//crew day//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{crew_day.van_name} {crew_day.date.isoformat()}")
    for stop in crew_day.stops:
        ev = Event()
        ev.add("uid", f"{stop.visit_id}-{crew_day.van_id}-{crew_day.date.isoformat()}@{uid_domain}")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", stop.start)
        ev.add("dtend", stop.end)
        ev.add("summary", _summary(stop, display))
        ev.add("location", ", ".join(p for p in (stop.place, stop.address) if p))
        ev.add("geo", (stop.lat, stop.lon))
        lines = [
            f"Ankunft / arrival {stop.arrival.strftime('%H:%M')}",
            f"Navigation: {stop.osm_directions()}",
        ]
        if stop.notes:
            lines.append(stop.notes)
        ev.add("description", "\n".join(lines))
        ev.add("categories", [stop.kind])
        cal.add_component(ev)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def crew_day_csv(
    crew_day: CrewDay,
    *,
    display: ClientDisplay = ClientDisplay.PSEUDONYM,
    delimiter: str = ",",
) -> str:
    """One row per stop, in order; times as local ``HH:MM``."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in crew_day.stops:
        writer.writerow(
            [
                s.order,
                s.arrival.strftime("%H:%M"),
                s.start.strftime("%H:%M"),
                s.end.strftime("%H:%M"),
                _cell(s.place),
                _cell(s.address),
                _cell(s.client_label(display)),
                _cell(s.notes),
                s.kind,
                s.visit_id,
                f"{s.lat:.6f}",
                f"{s.lon:.6f}",
            ]
        )
    return buf.getvalue()


def export_filename(crew_day: CrewDay, ext: str) -> str:
    """``vanplan-<van>-<date>.<ext>``, safe for a Content-Disposition header."""
    return f"vanplan-{quote(crew_day.van_id, safe='')}-{crew_day.date.isoformat()}.{ext}"
