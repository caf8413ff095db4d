"""Plans back into pictures: road-following leg geometry and the plan as GeoJSON.

Every leg (depot -> stop -> ... -> depot) becomes the LineString of its fastest road path, from the
snap point of one place to the snap point of the next, including the partial edges at both ends
(the same path the travel matrix measured). Without a road network, or for an approximate matrix,
legs are straight lines and flagged ``"approximate": true``.

The FeatureCollection holds, told apart by ``properties.feature``:
``leg`` (van_id, day, from, to, travel_time s, distance m), ``stop`` (visit_id, order,
arrival/start/end as ISO-8601 with the horizon's time zone plus ``*_s`` horizon seconds, kind),
``depot`` and ``unassigned`` (visit_id, reason, message). Coordinates are ``[lon, lat]``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString
from shapely.ops import substring

from geo.errors import GeoError
from geo.matrix import RoutingGraph, routing_graph
from geo.snap import Network, SnappedPlace, snap_places
from optimizer.domain import Problem
from optimizer.plan import Plan, Route

log = logging.getLogger(__name__)

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"
_DIGITS = 7  # ~1 cm


class GeometryError(GeoError):
    """A plan cannot be drawn: locations without coordinates or an unusable network."""


PlaceLike = SnappedPlace | tuple[float, float]
"""A snapped place, or a bare ``(lon, lat)`` (approximate mode only)."""


def _coord(place: PlaceLike) -> tuple[float, float]:
    if isinstance(place, SnappedPlace):
        return (place.snap_lon, place.snap_lat)
    return (float(place[0]), float(place[1]))


def _round(coords: NDArray[np.float64]) -> list[list[float]]:
    return [[round(float(x), _DIGITS), round(float(y), _DIGITS)] for x, y in coords]


def path_coordinates(graph: RoutingGraph, a: int, b: int) -> NDArray[np.float64] | None:
    """``[lon, lat]`` coordinates of the fastest road path from place ``a`` to place ``b`` of a
    routing graph, from snap point to snap point; None when there is no path."""
    pieces = graph.path(a, b)
    if pieces is None:
        return None
    index = graph.index
    parts: list[NDArray[np.float64]] = []
    for edge, f0, f1 in pieces:
        if f1 - f0 <= 0.0:
            continue  # zero-length link between a place and the node it stands on
        line = index.lines[edge]
        piece = line if (f0 == 0.0 and f1 == 1.0) else substring(line, f0, f1, normalized=True)
        xy = shapely.get_coordinates(piece)
        if parts and len(xy):
            xy = xy[1:]  # the joint is the previous piece's last point
        parts.append(xy)
    places = graph.places
    if not parts or sum(len(p) for p in parts) < 2:
        # same place, or zero-length trip: a degenerate two-point line at the snap point
        start = np.array([_coord(places[a])] * 2, dtype=np.float64)
        return start
    xy = np.concatenate(parts)
    lon, lat = index.to_lonlat.transform(xy[:, 0], xy[:, 1])
    out = np.column_stack([lon, lat])
    # pin the ends exactly on the snap points as the matrix saw them
    out[0] = _coord(places[a])
    out[-1] = _coord(places[b])
    return out


def leg_line(network: Network, a: SnappedPlace, b: SnappedPlace) -> LineString:
    """The road-following LineString (lon/lat) from ``a`` to ``b``."""
    graph = routing_graph(network, [a, b] if a.id != b.id else [a])
    coords = path_coordinates(graph, 0, 1 if a.id != b.id else 0)
    if coords is None:
        raise GeometryError(f"leg {a.id} -> {b.id}: no road path between the places")
    return LineString(coords)


def _route_locations(route: Route) -> list[tuple[str, str | None]]:
    """(location id, visit id or None) in driving order, depot to depot."""
    seq: list[tuple[str, str | None]] = [(route.start_location, None)]
    seq += [(s.location, s.visit_id) for s in route.stops]
    seq.append((route.end_location, None))
    return seq


def plan_geojson(
    plan: Plan,
    problem: Problem,
    places: Mapping[str, PlaceLike],
    network: Network | None = None,
    depot_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The plan as a GeoJSON FeatureCollection (a plain dict, ready for ``json.dumps``).

    ``places`` maps every location id of the plan to its snapped place or a bare ``(lon, lat)``
    (snapped here when a network is given). Legs follow the roads when ``network`` is given and
    the problem's matrix is not approximate; otherwise they are straight lines flagged
    approximate.
    """
    approximate = network is None or problem.matrix.approximate
    needed: list[str] = []
    for route in plan.routes:
        needed += [loc for loc, _ in _route_locations(route)]
    for u in plan.unassigned:
        needed.append(problem.visit(u.visit_id).location)
    for van in problem.vans:
        needed += [van.start_location, van.end]
    missing = sorted({loc for loc in needed if loc not in places})
    if missing:
        raise GeometryError(f"places: no coordinates for locations {missing}")
    if not approximate and network is not None:
        # bare coordinates are snapped here (as the matrix did); SnapError names the place
        bare = sorted({loc for loc in needed if not isinstance(places[loc], SnappedPlace)})
        if bare:
            snapped_now = snap_places(network, [(loc, *_coord(places[loc])) for loc in bare])
            places = {**places, **{p.id: p for p in snapped_now}}

    order = list(dict.fromkeys(needed))
    row = {loc: i for i, loc in enumerate(order)}
    graph: RoutingGraph | None = None
    if not approximate and network is not None:
        snapped = [places[loc] for loc in order]
        graph = routing_graph(network, [p for p in snapped if isinstance(p, SnappedPlace)])
    lines: dict[tuple[str, str], list[list[float]]] = {}

    def leg_coords(a: str, b: str) -> list[list[float]]:
        key = (a, b)
        if key not in lines:
            coords: NDArray[np.float64] | None = None
            if graph is not None:
                coords = path_coordinates(graph, row[a], row[b])
                if coords is None:
                    log.warning("leg %s -> %s: no road path, drawn as a straight line", a, b)
            if coords is None:
                coords = np.array([_coord(places[a]), _coord(places[b])], dtype=np.float64)
            lines[key] = _round(coords)
        return lines[key]

    horizon = problem.horizon
    features: list[dict[str, Any]] = []
    for route in plan.routes:
        seq = _route_locations(route)
        times = [s.travel_time for s in route.stops] + [route.return_travel_time]
        dists = [s.distance for s in route.stops] + [route.return_distance]
        for n, ((a, va), (b, vb)) in enumerate(itertools.pairwise(seq)):
            features.append(
                _feature(
                    {"type": "LineString", "coordinates": leg_coords(a, b)},
                    feature="leg",
                    van_id=route.van_id,
                    day=route.day,
                    leg=n,
                    **{"from": a, "to": b},
                    from_visit=va,
                    to_visit=vb,
                    travel_time=int(times[n]),
                    distance=int(dists[n]),
                    approximate=approximate,
                )
            )
        for order_no, stop in enumerate(route.stops, start=1):
            visit = problem.visit(stop.visit_id)
            place = places[stop.location]
            features.append(
                _feature(
                    _point(_coord(place)),
                    feature="stop",
                    van_id=route.van_id,
                    day=route.day,
                    visit_id=stop.visit_id,
                    order=order_no,
                    location=stop.location,
                    kind=str(visit.kind),
                    arrival=horizon.to_datetime(stop.arrival).isoformat(),
                    start=horizon.to_datetime(stop.start).isoformat(),
                    end=horizon.to_datetime(stop.end).isoformat(),
                    arrival_s=stop.arrival,
                    start_s=stop.start,
                    end_s=stop.end,
                    waiting=stop.waiting,
                    snap_distance=_snap_distance(place),
                )
            )
    depots = sorted({v.start_location for v in problem.vans} | {v.end for v in problem.vans})
    for depot in depots:
        name = (depot_names or {}).get(depot, depot)
        features.append(
            _feature(_point(_coord(places[depot])), feature="depot", id=depot, name=name)
        )
    for u in plan.unassigned:
        location = problem.visit(u.visit_id).location
        features.append(
            _feature(
                _point(_coord(places[location])),
                feature="unassigned",
                visit_id=u.visit_id,
                location=location,
                reason=str(u.reason),
                message=u.message,
                conflicts=list(u.conflicts),
            )
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"approximate": approximate, "attribution": OSM_ATTRIBUTION},
    }


def _point(coord: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(coord[0], _DIGITS), round(coord[1], _DIGITS)]}


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _snap_distance(place: PlaceLike) -> float | None:
    return round(place.snap_distance, 1) if isinstance(place, SnappedPlace) else None


def feature_lines(collection: Mapping[str, Any]) -> Sequence[LineString]:
    """The legs of a plan collection as shapely LineStrings (for checks and analysis)."""
    return [
        shapely.geometry.shape(f["geometry"])
        for f in collection["features"]
        if f["properties"].get("feature") == "leg"
    ]
