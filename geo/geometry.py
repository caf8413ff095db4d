"""Plans back into pictures: road-following leg geometry.

Every leg (depot -> stop -> ... -> depot) becomes the line of its fastest road path, from the
snap point of one place to the snap point of the next, including the partial edges at both ends
(the same path the travel matrix measured). Without a road network legs are straight lines and
the caller flags them approximate. :class:`LegGeometry` draws the legs of one plan (the typed
view, :mod:`geo.view`, uses it); coordinates are ``(lon, lat)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString
from shapely.ops import substring

from geo.errors import GeoError
from geo.matrix import RoutingGraph, routing_graph
from geo.snap import Network, SnappedPlace, snap_places

log = logging.getLogger(__name__)

_DIGITS = 7  # ~1 cm

Coord = tuple[float, float]
"""``(lon, lat)``, as in GeoJSON."""


class GeometryError(GeoError):
    """A plan cannot be drawn: locations without coordinates or an unusable network."""


PlaceLike = SnappedPlace | tuple[float, float]
"""A snapped place, or a bare ``(lon, lat)`` (approximate mode only)."""


def _coord(place: PlaceLike) -> tuple[float, float]:
    if isinstance(place, SnappedPlace):
        return (place.snap_lon, place.snap_lat)
    return (float(place[0]), float(place[1]))


def _round(coords: NDArray[np.float64]) -> tuple[Coord, ...]:
    return tuple((round(float(x), _DIGITS), round(float(y), _DIGITS)) for x, y in coords)


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


class LegGeometry:
    """The leg lines between the places of one plan, each drawn once.

    ``places`` maps every location id in ``needed`` to its snapped place or a bare ``(lon, lat)``
    (snapped here when a network is given, as the matrix did; :class:`~geo.snap.SnapError` names
    the place). With ``network`` the lines follow the roads; without it they are straight.
    Raises :class:`GeometryError` naming every location without coordinates.
    """

    def __init__(
        self,
        places: Mapping[str, PlaceLike],
        needed: Iterable[str],
        network: Network | None = None,
    ) -> None:
        order = list(dict.fromkeys(needed))
        missing = sorted({loc for loc in order if loc not in places})
        if missing:
            raise GeometryError(f"places: no coordinates for locations {missing}")
        self._places: dict[str, PlaceLike] = {loc: places[loc] for loc in order}
        self._graph: RoutingGraph | None = None
        if network is not None:
            bare = sorted({loc for loc in order if not isinstance(self._places[loc], SnappedPlace)})
            if bare:
                snapped = snap_places(network, [(loc, *_coord(self._places[loc])) for loc in bare])
                self._places.update({p.id: p for p in snapped})
            self._row = {loc: i for i, loc in enumerate(order)}
            graph_places = [self._places[loc] for loc in order]
            self._graph = routing_graph(
                network, [p for p in graph_places if isinstance(p, SnappedPlace)]
            )
        self._lines: dict[tuple[str, str], tuple[Coord, ...]] = {}

    @property
    def follows_roads(self) -> bool:
        return self._graph is not None

    def point(self, location: str) -> Coord:
        """Where a place is drawn: its snap point, or its bare coordinates."""
        return _coord(self._places[location])

    def snap_distance(self, location: str) -> float | None:
        """Metres from the place to its snap point (None for bare coordinates)."""
        place = self._places[location]
        return round(place.snap_distance, 1) if isinstance(place, SnappedPlace) else None

    def line(self, a: str, b: str) -> tuple[Coord, ...]:
        """The leg from location ``a`` to ``b``: the road path, else (logged when a network was
        given) a straight line; coordinates rounded to about 1 cm."""
        key = (a, b)
        if key not in self._lines:
            coords: NDArray[np.float64] | None = None
            if self._graph is not None:
                coords = path_coordinates(self._graph, self._row[a], self._row[b])
                if coords is None:
                    log.warning("leg %s -> %s: no road path, drawn as a straight line", a, b)
            if coords is None:
                coords = np.array([self.point(a), self.point(b)], dtype=np.float64)
            self._lines[key] = _round(coords)
        return self._lines[key]
