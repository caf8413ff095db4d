"""The plan as a GeoJSON FeatureCollection (RFC 7946, coordinates ``[lon, lat]``).

Features are told apart by ``properties.feature``: ``leg`` (van_id, day, leg, from, to,
from_visit, to_visit, travel_time s, distance m, approximate), ``stop`` (visit_id, order,
location, name, kind, arrival/start/end as ISO-8601 with the horizon's time zone plus ``*_s``
horizon seconds, waiting, snap_distance), ``depot`` (id, name) and ``unassigned`` (visit_id,
location, name, reason, message, conflicts). ``day`` is the van-day's key (day index or ISO date,
see :class:`~geo.view.DayKeys`).
"""

from __future__ import annotations

import json
from typing import Any

from geo.geometry import Coord
from geo.render.base import Renderer, RenderOptions, Selection
from geo.view import DayKeys, PlanView

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"
_DIGITS = 7  # ~1 cm


def _rounded(coord: Coord) -> list[float]:
    return [round(coord[0], _DIGITS), round(coord[1], _DIGITS)]


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _point(coord: Coord) -> dict[str, Any]:
    return {"type": "Point", "coordinates": _rounded(coord)}


def plan_geojson(view: PlanView) -> dict[str, Any]:
    """The view as a FeatureCollection (a plain dict, ready for ``json.dumps``): per van-day its
    legs then its stops, then the depots, then the unassigned visits."""
    features: list[dict[str, Any]] = []
    for vd in view.van_days:
        day: int | str = vd.key if view.day_keys is DayKeys.DATE else vd.day
        for leg in vd.legs:
            features.append(
                _feature(
                    {"type": "LineString", "coordinates": [_rounded(c) for c in leg.coords]},
                    feature="leg",
                    van_id=vd.van_id,
                    day=day,
                    leg=leg.index,
                    **{"from": leg.from_location, "to": leg.to_location},
                    from_visit=leg.from_visit,
                    to_visit=leg.to_visit,
                    travel_time=leg.travel_time,
                    distance=leg.distance,
                    approximate=leg.approximate,
                )
            )
        for s in vd.stops:
            features.append(
                _feature(
                    _point(s.coord),
                    feature="stop",
                    van_id=vd.van_id,
                    day=day,
                    visit_id=s.visit_id,
                    order=s.order,
                    location=s.location,
                    name=s.name,
                    kind=str(s.kind),
                    arrival=s.arrival.isoformat(),
                    start=s.start.isoformat(),
                    end=s.end.isoformat(),
                    arrival_s=s.arrival_s,
                    start_s=s.start_s,
                    end_s=s.end_s,
                    waiting=s.waiting,
                    snap_distance=s.snap_distance,
                )
            )
    for d in view.depots:
        features.append(_feature(_point(d.coord), feature="depot", id=d.id, name=d.name))
    for u in view.unassigned:
        features.append(
            _feature(
                _point(u.coord),
                feature="unassigned",
                visit_id=u.visit_id,
                location=u.location,
                name=u.name,
                reason=u.reason,
                message=u.message,
                conflicts=list(u.conflicts),
            )
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"approximate": view.approximate, "attribution": OSM_ATTRIBUTION},
    }


def _render(view: PlanView, selection: Selection | None, options: RenderOptions) -> bytes:
    if selection is not None:
        view = view.select(selection.van_id, selection.day)
    # the separators of FastAPI's JSON responses: the same bytes the API has always sent
    text = json.dumps(plan_geojson(view), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


RENDERER = Renderer(
    name="geojson",
    media_type="application/geo+json",
    render=_render,
    description="legs, stops, depots and unassigned visits as GeoJSON ([lon, lat])",
)
