"""The crew's day as one self-contained HTML file (for ``vanplan demo`` and offline use).

Same content as the served crew page (:mod:`api.routers.pages`): ordered stops with times, place,
client name or pseudonym, notes and navigation links, the van-day map, and the .ics/.gpx/.csv
downloads, here embedded as ``data:`` URIs and the map as an ``iframe srcdoc`` with Leaflet
inlined, so the file opens without a server or a network (tiles aside).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.exports import (
    ClientDisplay,
    CrewDay,
    StopDetails,
    crew_day_csv,
    crew_day_from_geojson,
    crew_day_ics,
    export_filename,
)
from geo.gpx import van_day_gpx
from geo.maps import MapAssets, TileSource, format_duration, parse_features, to_html, van_day_map

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape()
    )


@cache
def inline_leaflet() -> MapAssets:
    """Leaflet (vendored under ``api/static/vendor/leaflet``) inlined into a page."""
    d = STATIC / "vendor" / "leaflet"
    return MapAssets.inline(
        (d / "leaflet.js").read_text(encoding="utf-8"),
        (d / "leaflet.css").read_text(encoding="utf-8"),
    )


def stop_items(crew_day: CrewDay, display: ClientDisplay) -> list[dict[str, Any]]:
    """The stops with the client label and an OSM directions link from the previous place."""
    origin = crew_day.start
    items = []
    for s in crew_day.stops:
        items.append({"s": s, "client": s.client_label(display), "osm": s.osm_directions(origin)})
        origin = (s.lon, s.lat)
    return items


def day_key(collection: Mapping[str, Any], van_id: str, day: date | int | str) -> str:
    """The collection's key of a van's day: the ISO date, a day index, or the day whose stops
    start on ``day``. Raises ``KeyError`` when the van has no route that day."""
    feats = parse_features(collection)
    keys = [k for v, k in feats.van_days() if v == van_id]
    wanted = day.isoformat() if isinstance(day, date) else str(day)
    if wanted in keys:
        return wanted
    if isinstance(day, date):
        for s in feats.stops:
            if s.van_id == van_id and str(s.properties.get("start", "")).startswith(wanted):
                return s.day
    raise KeyError(f"no route for van {van_id!r} on {wanted} in the plan")


def _data_uri(media_type: str, content: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def crew_page_html(
    plan_out: Any,
    collection: Mapping[str, Any],
    van_id: str,
    day: date | int | str,
    *,
    display: ClientDisplay = ClientDisplay.PSEUDONYM,
    details: Mapping[str, StopDetails] | None = None,
    tiles: TileSource | None = None,
    van_name: str | None = None,
) -> str:
    """A standalone crew page for one van-day of a plan.

    ``plan_out`` is the API's ``PlanOut`` (for the day's totals and whether times are
    approximate); ``collection`` the plan's GeoJSON (from :func:`geo.geometry.plan_geojson`).
    """
    key = day_key(collection, van_id, day)
    crew_day = crew_day_from_geojson(collection, van_id, key, van_name=van_name, details=details)
    route = next(
        (r for r in plan_out.routes if r.van_id == van_id and r.date == crew_day.date), None
    )
    m = van_day_map(
        collection, van_id, key, tiles=tiles, assets=inline_leaflet(), van_name=crew_day.van_name
    )
    gpx = van_day_gpx(collection, van_id, key, name=f"{crew_day.van_name} {crew_day.date}")
    links = {
        "ics": _data_uri("text/calendar", crew_day_ics(crew_day, display=display)),
        "gpx": _data_uri("application/gpx+xml", gpx.encode("utf-8")),
        "csv": _data_uri("text/csv", crew_day_csv(crew_day, display=display).encode("utf-8")),
    }
    names = {ext: export_filename(crew_day, ext) for ext in links}
    return (
        _env()
        .get_template("crew_standalone.html")
        .render(
            css=(STATIC / "vanplan.css").read_text(encoding="utf-8"),
            day=crew_day,
            stops=stop_items(crew_day, display),
            version=None,
            draft=False,
            drive=format_duration(route.drive_seconds) if route else "",
            km=f"{route.distance_m / 1000:.1f}" if route else "",
            approximate=bool(getattr(plan_out.matrix, "approximate", False)),
            links=links,
            names=names,
            map_srcdoc=to_html(m),
        )
    )
