"""GPX 1.1 of one van-day, for navigation devices.

The file holds one waypoint per stop (plus start and end), a route (``rte``) through them in
order, and a track (``trk``) of the road geometry of every leg. GPX, like GeoJSON, keeps
longitude and latitude apart (``lat``/``lon`` attributes), so no flip is involved.

Client names are not written: waypoints carry the stop number, the stop's name and the times.
"""

from __future__ import annotations

import gettext
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, date, datetime

from geo.geometry import Coord
from geo.render.base import Messages, Renderer, RenderOptions, Selection
from geo.view import PlanView, StopView

log = logging.getLogger(__name__)

GPX_NS = "http://www.topografix.com/GPX/1/1"
GPX_SCHEMA = "http://www.topografix.com/GPX/1/1/gpx.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def _q(tag: str) -> str:
    return f"{{{GPX_NS}}}{tag}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _point(parent: ET.Element, tag: str, coord: Coord, **children: str | None) -> ET.Element:
    """A ``wptType`` element; children are written in the schema's order (time, name, desc, sym,
    type) because GPX is an ``xsd:sequence``."""
    lon, lat = coord
    el = ET.SubElement(parent, _q(tag), {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
    for child in ("time", "name", "desc", "sym", "type"):
        text = children.get(child)
        if text:
            ET.SubElement(el, _q(child)).text = text
    return el


def _stop_desc(s: StopView, messages: Messages) -> str:
    _ = messages.gettext
    kind = _("consultation hours") if s.consultation else _("appointment")
    return _("arrival %(arrival)s, service %(start)s-%(end)s, %(kind)s") % {
        "arrival": f"{s.arrival:%H:%M}",
        "start": f"{s.start:%H:%M}",
        "end": f"{s.end:%H:%M}",
        "kind": kind,
    }


def van_day_gpx(
    view: PlanView,
    van_id: str,
    day: date | int | str,
    *,
    name: str | None = None,
    creator: str = "vanplan",
    messages: Messages | None = None,
) -> str:
    """The GPX 1.1 document (UTF-8 XML text) of one van's route on one day (a date, day index
    or key). Raises ``KeyError`` when the van has no route that day."""
    vd = view.van_day(van_id, day)
    messages = messages or gettext.NullTranslations()
    _ = messages.gettext
    title = name or f"{vd.van_name} {vd.date:%d.%m.%Y}"

    ET.register_namespace("", GPX_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(
        _q("gpx"),
        {
            "version": "1.1",
            "creator": creator,
            f"{{{XSI_NS}}}schemaLocation": f"{GPX_NS} {GPX_SCHEMA}",
        },
    )
    meta = ET.SubElement(root, _q("metadata"))
    ET.SubElement(meta, _q("name")).text = title
    ET.SubElement(meta, _q("time")).text = _utc(datetime.now(UTC))

    points: list[tuple[Coord, dict[str, str | None]]] = []
    if vd.start is not None:
        points.append((vd.start, {"name": _("Start"), "sym": "Flag, Green", "type": "depot"}))
    for s in vd.stops:
        points.append(
            (
                s.coord,
                {
                    "time": _utc(s.arrival),
                    "name": f"{s.order} {s.name}",
                    "desc": _stop_desc(s, messages),
                    "sym": "Flag, Blue",
                    "type": "consultation_hours" if s.consultation else "appointment",
                },
            )
        )
    if vd.end is not None:
        points.append((vd.end, {"name": _("End"), "sym": "Flag, Red", "type": "depot"}))

    for coord, children in points:
        _point(root, "wpt", coord, **children)
    rte = ET.SubElement(root, _q("rte"))
    ET.SubElement(rte, _q("name")).text = title
    for coord, children in points:
        _point(rte, "rtept", coord, name=children.get("name"), sym=children.get("sym"))
    trk = ET.SubElement(root, _q("trk"))
    ET.SubElement(trk, _q("name")).text = title
    seg = ET.SubElement(trk, _q("trkseg"))
    for coord in _track(leg.coords for leg in vd.legs):
        _point(seg, "trkpt", coord)

    ET.indent(root)
    log.debug("gpx for %s/%s: %d stops, %d legs", vd.van_id, vd.key, len(vd.stops), len(vd.legs))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _track(lines: Iterable[tuple[Coord, ...]]) -> list[Coord]:
    """Concatenate leg geometries, dropping the repeated point where one leg meets the next."""
    out: list[Coord] = []
    for coords in lines:
        seq = coords
        if out and seq and out[-1] == seq[0]:
            seq = seq[1:]
        out.extend(seq)
    return out


def _render(view: PlanView, selection: Selection | None, options: RenderOptions) -> bytes:
    if selection is None:
        raise ValueError("GPX is made per van-day: give a van and a day")
    vd = selection.van_day(view)
    text = van_day_gpx(view, vd.van_id, vd.day, name=options.title, messages=options.messages)
    return text.encode("utf-8")


RENDERER = Renderer(
    name="gpx",
    media_type="application/gpx+xml",
    render=_render,
    per_van_day=True,
    description="GPX 1.1 of one van-day: waypoints, route and road track (no client names)",
)
