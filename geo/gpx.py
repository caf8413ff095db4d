"""GPX 1.1 of one van-day, for navigation devices.

The file holds one waypoint per stop (plus start and end), a route (``rte``) through them in
order, and a track (``trk``) of the road geometry of every leg. Built from the plan's GeoJSON
FeatureCollection (see :mod:`geo.maps` for how features are recognised). GPX, like GeoJSON,
keeps longitude and latitude apart (``lat``/``lon`` attributes), so no flip is involved.

Client names are not written: waypoints carry the stop number, the place and the times.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from geo.maps import Coord, StopPoint, parse_features

log = logging.getLogger(__name__)

GPX_NS = "http://www.topografix.com/GPX/1/1"
GPX_SCHEMA = "http://www.topografix.com/GPX/1/1/gpx.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def _q(tag: str) -> str:
    return f"{{{GPX_NS}}}{tag}"


def _utc(value: object) -> str | None:
    """ISO-8601 UTC (``...Z``) for an aware ISO string; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
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


def _stop_desc(s: StopPoint) -> str:
    kind = "consultation hours" if s.consultation else "appointment"
    parts = [f"arrival {s.arrival}" if s.arrival else "", f"service {s.start}-{s.end}", kind]
    return ", ".join(p for p in parts if p)


def van_day_gpx(
    collection: Mapping[str, Any],
    van_id: str,
    day: int | str,
    *,
    name: str | None = None,
    creator: str = "vanplan",
) -> str:
    """The GPX 1.1 document (UTF-8 XML text) of one van's route on one day.

    Raises ``KeyError`` when the collection has no route for that van and day.
    """
    feats = parse_features(collection)
    key = (str(van_id), str(day))
    if key not in feats.van_days():
        raise KeyError(f"no route for van {van_id!r} on day {day!r} in the plan")
    legs = [leg for leg in feats.legs if (leg.van_id, leg.day) == key]
    stops = [s for s in feats.stops if (s.van_id, s.day) == key]
    title = name or f"Van {key[0]}, day {key[1]}"

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
    ET.SubElement(meta, _q("time")).text = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    start: Coord | None = legs[0].coords[0] if legs else None
    end: Coord | None = legs[-1].coords[-1] if legs else None
    points: list[tuple[Coord, dict[str, str | None]]] = []
    if start is not None:
        points.append((start, {"name": "Start", "sym": "Flag, Green", "type": "depot"}))
    for s in stops:
        label = f"{s.order} {s.label}".strip() if s.label else f"{s.order} {s.visit_id}"
        points.append(
            (
                s.coord,
                {
                    "time": _utc(s.properties.get("arrival")),
                    "name": label,
                    "desc": _stop_desc(s),
                    "sym": "Flag, Blue",
                    "type": "consultation_hours" if s.consultation else "appointment",
                },
            )
        )
    if end is not None:
        points.append((end, {"name": "End", "sym": "Flag, Red", "type": "depot"}))

    for coord, children in points:
        _point(root, "wpt", coord, **children)
    rte = ET.SubElement(root, _q("rte"))
    ET.SubElement(rte, _q("name")).text = title
    for coord, children in points:
        _point(rte, "rtept", coord, name=children.get("name"), sym=children.get("sym"))
    trk = ET.SubElement(root, _q("trk"))
    ET.SubElement(trk, _q("name")).text = title
    seg = ET.SubElement(trk, _q("trkseg"))
    for coord in _track(leg.coords for leg in legs):
        _point(seg, "trkpt", coord)

    ET.indent(root)
    log.debug("gpx for %s/%s: %d stops, %d legs", key[0], key[1], len(stops), len(legs))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _track(lines: Any) -> list[Coord]:
    """Concatenate leg geometries, dropping the repeated point where one leg meets the next."""
    out: list[Coord] = []
    for coords in lines:
        seq: Sequence[Coord] = coords
        if out and seq and out[-1] == seq[0]:
            seq = seq[1:]
        out.extend(seq)
    return out
