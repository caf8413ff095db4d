"""The crew's day as one self-contained HTML file (for ``vanplan demo`` and offline use).

Same content as the served crew page (:mod:`api.routers.pages`): departure, the ordered stops
with times, place, client name or pseudonym, phone, notes and navigation buttons, breaks, the
return, the van-day map, and the .ics/.gpx/.csv downloads, here embedded as ``data:`` URIs and
the map as an ``iframe srcdoc`` with Leaflet inlined, so the file opens without a server or a
network (tiles aside). Everything is rendered from one :class:`~geo.view.PlanView`.

:func:`day_items` is the crew day as the page lists it (both pages use it).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from api.i18n import DEFAULT_LANGUAGE, Language, environment
from api.schemas.planning import PlanOut
from geo.render import RenderOptions, Selection, renderer
from geo.render.base import MapAssets, TileSource, format_duration
from geo.view import BreakView, ClientDisplay, PlanView, StopView, VanDayView

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CREW_DOWNLOADS = ("ics", "gpx", "csv")


@cache
def inline_leaflet() -> MapAssets:
    """Leaflet (vendored under ``api/static/vendor/leaflet``) inlined into a page."""
    d = STATIC / "vendor" / "leaflet"
    return MapAssets.inline(
        (d / "leaflet.js").read_text(encoding="utf-8"),
        (d / "leaflet.css").read_text(encoding="utf-8"),
    )


@dataclass(frozen=True)
class DayItem:
    """One line of the crew day: the departure, a stop, a break or the return, in time order.

    For a stop: ``client`` as the crew sees it and ``osm`` directions from the previous place;
    ``next``: the stop the crew is at or goes to next (the first one not yet over at ``now``)."""

    kind: str  # "departure" | "stop" | "break" | "back"
    at: datetime
    end: datetime | None = None
    stop: StopView | None = None
    client: str = ""
    osm: str = ""
    next: bool = False


def day_items(
    van_day: VanDayView, display: ClientDisplay, now: datetime | None = None
) -> list[DayItem]:
    """The van-day as the crew reads it. With ``now`` (aware) on the van-day's date, the first
    stop that has not ended yet is marked ``next`` (none once the last stop is over, and none
    on other days)."""
    items: list[DayItem] = []
    origin = van_day.start
    next_id = None
    zone = van_day.stops[0].start.tzinfo if van_day.stops else None
    if now is not None and now.astimezone(zone).date() == van_day.date:
        next_id = next((s.visit_id for s in van_day.stops if s.end > now), None)
    for s in van_day.stops:
        items.append(
            DayItem(
                "stop",
                s.start,
                s.end,
                stop=s,
                client=s.client_label(display),
                osm=s.osm_directions(origin),
                next=s.visit_id == next_id,
            )
        )
        origin = s.coord
    items += [_break_item(b) for b in van_day.breaks]
    items.sort(key=lambda i: i.at)
    if van_day.departure is not None:
        items.insert(0, DayItem("departure", van_day.departure))
    if van_day.back is not None:
        items.append(DayItem("back", van_day.back))
    return items


def _break_item(b: BreakView) -> DayItem:
    return DayItem("break", b.start, b.end)


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
    lang: str = DEFAULT_LANGUAGE,
) -> str:
    """A standalone crew page for one van-day (a date, day index or key) of a plan view, in
    ``lang`` (German by default).

    ``plan_out`` is the API's ``PlanOut`` (for the day's totals and whether times are
    approximate). Raises ``KeyError`` when the van has no route that day.
    """
    language = Language(lang, view.timezone)
    van_day = view.van_day(van_id, day)
    selection = Selection(van_day.van_id, van_day.day)
    route = next(
        (r for r in plan_out.routes if r.van_id == van_id and r.date == van_day.date), None
    )
    options = RenderOptions(
        tiles=tiles or TileSource(),
        assets=inline_leaflet(),
        client_display=display,
        title=f"{van_day.van_name} {language.format_date(van_day.date)}",
        messages=language.catalogue,
    )
    links: dict[str, str] = {}
    names: dict[str, str] = {}
    for ext in CREW_DOWNLOADS:
        r = renderer(ext)
        links[ext] = _data_uri(r.media_type.split(";")[0], r.render(view, selection, options))
        names[ext] = r.filename(van_day)
    page_map = renderer("html").render(view, selection, options).decode("utf-8")
    return (
        environment(lang)
        .get_template("crew_standalone.html")
        .render(
            css=(STATIC / "vanplan.css").read_text(encoding="utf-8"),
            day=van_day,
            items=day_items(van_day, display),
            days=[],
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
