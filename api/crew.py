"""The crew's day as one self-contained HTML file (for ``vanplan demo`` and offline use).

Same content as the served crew page (:mod:`api.routers.pages`): ordered stops with times, place,
client name or pseudonym, notes and navigation links, the van-day map, and the .ics/.gpx/.csv
downloads, here embedded as ``data:`` URIs and the map as an ``iframe srcdoc`` with Leaflet
inlined, so the file opens without a server or a network (tiles aside). Everything is rendered
from one :class:`~geo.view.PlanView`.
"""

from __future__ import annotations

import base64
import logging
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.schemas.planning import PlanOut
from geo.render import RenderOptions, Selection, renderer
from geo.render.base import MapAssets, TileSource, format_duration
from geo.view import ClientDisplay, PlanView, VanDayView

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CREW_DOWNLOADS = ("ics", "gpx", "csv")


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


def stop_items(van_day: VanDayView, display: ClientDisplay) -> list[dict[str, Any]]:
    """The stops with the client label and an OSM directions link from the previous place."""
    origin = van_day.start
    items = []
    for s in van_day.stops:
        items.append({"s": s, "client": s.client_label(display), "osm": s.osm_directions(origin)})
        origin = s.coord
    return items


def _data_uri(media_type: str, content: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def crew_page_html(
    plan_out: PlanOut,
    view: PlanView,
    van_id: str,
    day: date | int | str,
    *,
    display: ClientDisplay = ClientDisplay.PSEUDONYM,
    tiles: TileSource | None = None,
) -> str:
    """A standalone crew page for one van-day (a date, day index or key) of a plan view.

    ``plan_out`` is the API's ``PlanOut`` (for the day's totals and whether times are
    approximate). Raises ``KeyError`` when the van has no route that day.
    """
    van_day = view.van_day(van_id, day)
    selection = Selection(van_day.van_id, van_day.day)
    route = next(
        (r for r in plan_out.routes if r.van_id == van_id and r.date == van_day.date), None
    )
    options = RenderOptions(
        tiles=tiles or TileSource(),
        assets=inline_leaflet(),
        client_display=display,
        title=f"{van_day.van_name} {van_day.date}",
    )
    links: dict[str, str] = {}
    names: dict[str, str] = {}
    for ext in CREW_DOWNLOADS:
        r = renderer(ext)
        links[ext] = _data_uri(r.media_type.split(";")[0], r.render(view, selection, options))
        names[ext] = r.filename(van_day)
    page_map = renderer("html").render(view, selection, options).decode("utf-8")
    return (
        _env()
        .get_template("crew_standalone.html")
        .render(
            css=(STATIC / "vanplan.css").read_text(encoding="utf-8"),
            day=van_day,
            stops=stop_items(van_day, display),
            version=None,
            draft=False,
            drive=format_duration(route.drive_seconds) if route else "",
            km=f"{route.distance_m / 1000:.1f}" if route else "",
            approximate=plan_out.matrix.approximate,
            links=links,
            names=names,
            map_srcdoc=page_map,
        )
    )
