"""Snap coordinates to the nearest drivable road *edge* (not the nearest node).

A road in both directions is two directed edges in the graph (``u -> v`` and ``v -> u``, same
geometry reversed). Snapping works on the undirected *segment*; a :class:`SnappedPlace` then knows
every directed edge it lies on with its position along that edge, so a van can leave or reach the
place in every direction the road allows (one-way roads only one).

Places are snapped only onto roads a van can stop on (:mod:`geo.stopping`: no motorways, trunk
roads, slip roads, tunnels ...); routing still uses every drivable road. A place that cannot be
snapped is reported in a :class:`SnapError` that maps its key to a message in user terms (the
coordinates given, how far the nearest road a van can stop on is, whether the coordinates look
swapped).

Geometry is handled in ETRS89 / UTM 32N (EPSG:25832, metres); inputs and outputs are ``[lon, lat]``.
The :class:`EdgeIndex` of a graph is built once and cached per graph object.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import numpy as np
import shapely
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from geo.errors import GeoError
from geo.stopping import edge_allows_stop

if TYPE_CHECKING:
    import networkx as nx
    from pyproj import Transformer

log = logging.getLogger(__name__)

# networkx and pyproj are imported where a road network is used (graph_of, _build_index): a
# process on approximate travel times never needs them, and they slow every start.

METRIC_CRS = "EPSG:25832"
"""ETRS89 / UTM zone 32N: metres, correct for Hessen and Baden-Wuerttemberg."""


class SnapError(GeoError):
    """Places cannot be snapped: malformed coordinates, or too far from every road a van can stop
    on.

    ``problems`` maps each offending place key (as given to :func:`snap_places`) to a message in
    user terms that does not repeat the key, so a caller can attach it to its own field (e.g. the
    visit that has the place). ``str()`` lists them all as ``place[key]: message``. An error about
    the network itself (no edges) has no ``problems``.
    """

    def __init__(self, problems: Mapping[str, str] | str) -> None:
        if isinstance(problems, str):
            self.problems: dict[str, str] = {}
            super().__init__(problems)
        else:
            self.problems = dict(problems)
            super().__init__(_summary(self.problems))

    def __reduce__(self) -> tuple[type[SnapError], tuple[dict[str, str] | str]]:
        # rebuilt from the problems (not the message) when crossing a process boundary
        return (type(self), (self.problems or str(self),))


class SnapSettings(BaseModel):
    """How places are put on the road network."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_snap_distance_m: float = Field(
        500.0, gt=0, le=50_000, description="reject places farther than this from any road"
    )


class HasGraph(Protocol):
    """Anything carrying an osmnx-style graph (e.g. ``geo.road_network.RoadNetwork``)."""

    @property
    def graph(self) -> nx.MultiDiGraph: ...


Network: TypeAlias = "nx.MultiDiGraph | HasGraph"


def graph_of(network: Network) -> nx.MultiDiGraph:
    """The networkx graph of a road network (or the graph itself)."""
    import networkx as nx

    if isinstance(network, nx.MultiDiGraph):
        return network
    graph = getattr(network, "graph", None)
    if not isinstance(graph, nx.MultiDiGraph):
        raise TypeError(f"expected a RoadNetwork or a networkx MultiDiGraph, got {type(network)}")
    return graph


def network_is_approximate(network: Network) -> bool:
    """True when the network says its data are approximate (``meta.approximate``)."""
    meta = getattr(network, "meta", None)
    return bool(getattr(meta, "approximate", False))


@dataclass(frozen=True, eq=False)
class EdgeIndex:
    """Arrays over the directed edges of a graph plus a spatial index over road segments.

    Edge ``i`` runs ``nodes[src[i]] -> nodes[dst[i]]`` (graph key ``keys[i]``) with
    ``time[i]`` s and ``length[i]`` m; ``lines[i]`` is its geometry in EPSG:25832 oriented from
    ``src`` to ``dst``; ``stoppable[i]``: a van may stop on it. Segment ``s`` groups the one or two
    directed edges sharing a geometry (and stoppability): ``seg_fwd[s]`` runs along
    ``seg_lines[s]``, ``seg_bwd[s]`` against it (-1: none, one-way). ``tree`` indexes every
    segment, ``stop_tree`` only the segments ``stop_segs`` a van may stop on. ``extent``: the
    nodes' bounding box ``(west, south, east, north)`` in lon/lat.
    """

    nodes: NDArray[np.int64]  # osm ids, position = internal node index
    node_xy: NDArray[np.float64]  # (n, 2) lon, lat
    src: NDArray[np.int64]
    dst: NDArray[np.int64]
    keys: NDArray[np.int64]
    time: NDArray[np.float64]
    length: NDArray[np.float64]
    lines: NDArray[np.object_]  # shapely LineStrings, metric
    stoppable: NDArray[np.bool_]
    seg_lines: NDArray[np.object_]
    seg_fwd: NDArray[np.int64]
    seg_bwd: NDArray[np.int64]
    tree: shapely.STRtree
    stop_segs: NDArray[np.int64]
    stop_tree: shapely.STRtree
    extent: tuple[float, float, float, float]
    to_metric: Transformer
    to_lonlat: Transformer

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.src)

    def edge_lonlat(self, edge: int) -> NDArray[np.float64]:
        """Coordinates ``[lon, lat]`` of a directed edge, from its start to its end."""
        xy = shapely.get_coordinates(self.lines[edge])
        lon, lat = self.to_lonlat.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])


_INDEX_CACHE: weakref.WeakKeyDictionary[nx.MultiDiGraph, EdgeIndex] = weakref.WeakKeyDictionary()


def edge_index(network: Network) -> EdgeIndex:
    """The (cached) :class:`EdgeIndex` of a network; built once per graph object."""
    graph = graph_of(network)
    cached = _INDEX_CACHE.get(graph)
    if cached is None:
        cached = _build_index(graph)
        _INDEX_CACHE[graph] = cached
    return cached


def _build_index(graph: nx.MultiDiGraph) -> EdgeIndex:
    if graph.number_of_edges() == 0:
        raise SnapError("network: the road network has no edges")
    from pyproj import Transformer

    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    to_lonlat = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    node_ids = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    position = {int(n): i for i, n in enumerate(node_ids)}
    node_xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)], dtype=np.float64)
    mx, my = to_metric.transform(node_xy[:, 0], node_xy[:, 1])
    node_m = np.column_stack([mx, my])

    m = graph.number_of_edges()
    src = np.empty(m, np.int64)
    dst = np.empty(m, np.int64)
    keys = np.empty(m, np.int64)
    time = np.empty(m, np.float64)
    length = np.empty(m, np.float64)
    stoppable = np.empty(m, np.bool_)
    coord_parts: list[NDArray[np.float64]] = []
    for i, (u, v, k, d) in enumerate(graph.edges(keys=True, data=True)):
        a, b = position[u], position[v]
        src[i], dst[i], keys[i] = a, b, k
        time[i] = float(d["travel_time"])
        length[i] = float(d["length"])
        stoppable[i] = edge_allows_stop(d)
        geom = d.get("geometry")
        if geom is None:
            coord_parts.append(np.array([node_xy[a], node_xy[b]]))
        else:
            coord_parts.append(np.asarray(geom.coords, dtype=np.float64)[:, :2])
    sizes = np.array([len(c) for c in coord_parts])
    flat = np.concatenate(coord_parts)
    fx, fy = to_metric.transform(flat[:, 0], flat[:, 1])
    metric = np.column_stack([fx, fy])
    # Pin the ends exactly on the (projected) nodes so consecutive edges join without gaps.
    ends = np.cumsum(sizes)
    starts = ends - sizes
    metric[starts] = node_m[src]
    metric[ends - 1] = node_m[dst]
    lines = shapely.linestrings(metric, indices=np.repeat(np.arange(m), sizes))

    # Group both directions of a two-way road into one segment (same geometry, reversed). Edges
    # differing in stoppability stay apart (a road a van may stop on beside one it may not).
    seg_of: dict[tuple[Any, ...], int] = {}
    seg_fwd: list[int] = []
    seg_bwd: list[int] = []
    seg_lines: list[Any] = []
    for i in range(m):
        pts = metric[starts[i] : ends[i]]
        stop = bool(stoppable[i])
        fwd_key = (int(src[i]), int(dst[i]), stop, np.round(pts, 2).tobytes())
        bwd_key = (int(dst[i]), int(src[i]), stop, np.round(pts[::-1], 2).tobytes())
        s = seg_of.get(bwd_key)
        if s is not None and fwd_key != bwd_key:
            if seg_bwd[s] == -1:
                seg_bwd[s] = i
            continue  # paired with its reverse, or a parallel twin of a paired edge
        if fwd_key in seg_of:
            continue  # parallel edge with the same geometry (e.g. two OSM ways): one is enough
        seg_of[fwd_key] = len(seg_fwd)
        seg_fwd.append(i)
        seg_bwd.append(-1)
        seg_lines.append(lines[i])
    seg_lines_arr = np.array(seg_lines, dtype=object)
    seg_fwd_arr = np.array(seg_fwd, np.int64)
    stop_segs = np.flatnonzero(stoppable[seg_fwd_arr]).astype(np.int64)
    log.debug(
        "edge index: %d nodes, %d edges, %d segments (%d where a van may stop)",
        len(node_ids),
        m,
        len(seg_fwd),
        len(stop_segs),
    )
    return EdgeIndex(
        nodes=node_ids,
        node_xy=node_xy,
        src=src,
        dst=dst,
        keys=keys,
        time=time,
        length=length,
        lines=lines,
        stoppable=stoppable,
        seg_lines=seg_lines_arr,
        seg_fwd=seg_fwd_arr,
        seg_bwd=np.array(seg_bwd, np.int64),
        tree=shapely.STRtree(seg_lines_arr),
        stop_segs=stop_segs,
        stop_tree=shapely.STRtree(seg_lines_arr[stop_segs]),
        extent=(
            float(node_xy[:, 0].min()),
            float(node_xy[:, 1].min()),
            float(node_xy[:, 0].max()),
            float(node_xy[:, 1].max()),
        ),
        to_metric=to_metric,
        to_lonlat=to_lonlat,
    )


@dataclass(frozen=True)
class EdgePosition:
    """A place on directed edge ``edge`` (index into :class:`EdgeIndex`) at ``fraction`` of its
    length from the start node (0 = at ``u``, 1 = at ``v``)."""

    edge: int
    u: int  # osm node id
    v: int
    key: int
    fraction: float
    offset: float  # metres along the edge from ``u`` (fraction of the edge's ``length``)


@dataclass(frozen=True)
class SnappedPlace:
    """A place put on the road network.

    ``lon``/``lat``: the input; ``snap_lon``/``snap_lat``: the closest point on the road;
    ``snap_distance`` in metres between the two; ``positions``: the directed edges through the snap
    point (one for a one-way road, two for a two-way road), the first being the edge that was hit.
    """

    id: str
    lon: float
    lat: float
    snap_lon: float
    snap_lat: float
    snap_distance: float
    positions: tuple[EdgePosition, ...]

    @property
    def edge(self) -> tuple[int, int, int]:
        """``(u, v, key)`` of the edge the place was snapped to."""
        p = self.positions[0]
        return (p.u, p.v, p.key)

    @property
    def fraction(self) -> float:
        """Position along :attr:`edge`, 0 at ``u`` and 1 at ``v``."""
        return self.positions[0].fraction

    @property
    def offset(self) -> float:
        """Metres along :attr:`edge` from ``u`` to the snap point."""
        return self.positions[0].offset

    @property
    def coords(self) -> tuple[float, float]:
        """The snap point ``(lon, lat)``."""
        return (self.snap_lon, self.snap_lat)


def _num(value: float) -> str:
    """A coordinate as the user would write it (up to 6 decimals, no trailing zeros)."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _pair(lon: float, lat: float) -> str:
    return f"[{_num(lon)}, {_num(lat)}]"


def _metres(value: float) -> str:
    if value < 10:
        return f"{value:.1f} m"
    if value < 1000:
        return f"{value:.0f} m"
    return f"{value / 1000:.1f} km"


_M_PER_DEGREE = 111_320.0  # metres per degree of latitude (and of longitude at the equator)


def _inside(
    extent: tuple[float, float, float, float], lon: float, lat: float, margin_m: float
) -> bool:
    """Whether ``(lon, lat)`` lies in ``extent`` widened by ``margin_m`` metres on every side."""
    west, south, east, north = extent
    dlat = margin_m / _M_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(max(abs(south), abs(north)))), 0.01)
    return west - dlon <= lon <= east + dlon and south - dlat <= lat <= north + dlat


def _extent_text(extent: tuple[float, float, float, float]) -> str:
    west, south, east, north = extent
    return f"lon {west:.2f}..{east:.2f}, lat {south:.2f}..{north:.2f}"


def _swapped(index: EdgeIndex, lon: float, lat: float, limit: float) -> str | None:
    """The hint for a point outside the network (farther than ``limit`` m from its bounding box)
    whose ``[lat, lon]`` swap lies inside, else None."""
    if _inside(index.extent, lon, lat, limit) or not _inside(index.extent, lat, lon, limit):
        return None
    return (
        f"the coordinates look swapped: {_pair(lon, lat)} lies outside the road network "
        f"({_extent_text(index.extent)}) but {_pair(lat, lon)} lies inside; "
        "GeoJSON order [lon, lat] is expected"
    )


def _coordinate_problem(index: EdgeIndex, lon: float, lat: float, limit: float) -> str | None:
    """Why ``(lon, lat)`` is not a usable coordinate (or looks swapped), else None."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return f"coordinates {_pair(lon, lat)} are not finite numbers"
    swapped = _swapped(index, lon, lat, limit)
    if not -90.0 <= lat <= 90.0:
        hint = swapped or ("lon and lat swapped? the order is [lon, lat]" if abs(lon) <= 90 else "")
        return f"latitude {_num(lat)} is outside -90..90" + (f": {hint}" if hint else "")
    if not -180.0 <= lon <= 180.0:
        return f"longitude {_num(lon)} is outside -180..180"
    return swapped


# how a user would call the roads a van cannot stop on, most telling first
_NO_STOP_KINDS = {
    "motorway": "motorway",
    "trunk": "expressway",
    "motorway_link": "motorway slip road",
    "trunk_link": "expressway slip road",
}


def _road_name(data: Mapping[str, Any]) -> str:
    """A road a van cannot stop on in user terms: ``"the A 5 (motorway)"``, ``"the
    Kurfürstenanlage (tunnel)"``, ``"an expressway slip road"``."""
    highway = data.get("highway")
    classes = {str(h) for h in highway} if isinstance(highway, list) else {str(highway)}
    kind = next((k for c, k in _NO_STOP_KINDS.items() if c in classes), None)
    if kind is None:
        tunnel = data.get("tunnel")
        kind = "tunnel" if tunnel not in (None, "no") else "road where stopping is not allowed"
    for key in ("ref", "name"):
        label = data.get(key)
        if label:
            label = ", ".join(str(x) for x in label) if isinstance(label, list) else str(label)
            return f"the {label} ({kind})"
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _too_far(
    graph: nx.MultiDiGraph,
    index: EdgeIndex,
    point: shapely.Point,
    lon: float,
    lat: float,
    limit: float,
) -> str:
    """The message for a point with no road a van can stop on within ``limit`` metres."""
    text = f"no road a van can stop on within {limit:g} m of {_pair(lon, lat)}"
    if len(index.stop_segs):
        nearest = float(index.stop_tree.query_nearest(point, return_distance=True)[1][0])
        text += f": the nearest is {_metres(nearest)} away"
    else:
        text += ": the road network has none"
    if not _inside(index.extent, lon, lat, limit):
        text += f"; the point lies outside the road network ({_extent_text(index.extent)})"
    hits, dist = index.tree.query_nearest(point, return_distance=True, max_distance=limit)
    if len(dist):
        s = int(hits[int(np.argmin(dist))])  # one geometry queried: hits are tree indices
        e = int(index.seg_fwd[s])
        u, v = int(index.nodes[index.src[e]]), int(index.nodes[index.dst[e]])
        road = _road_name(graph.edges[u, v, int(index.keys[e])])
        text += f"; {road} is {_metres(float(dist.min()))} away, but a van cannot stop there"
    return text


def snap_places(
    network: Network,
    places: Iterable[tuple[str, float, float]] | Mapping[str, tuple[float, float]],
    settings: SnapSettings | None = None,
) -> list[SnappedPlace]:
    """Snap many ``(key, lon, lat)`` places at once (vectorised) onto the nearest road a van can
    stop on (:mod:`geo.stopping`), in the given order.

    Raises one :class:`SnapError` whose ``problems`` map every offending key to its message: a
    malformed or duplicated place, coordinates that look swapped (outside the network, but inside
    as ``[lat, lon]``), or no road a van can stop on within ``settings.max_snap_distance_m``
    (saying how far the nearest one is, and naming a closer road a van cannot stop on).
    """
    settings = settings or SnapSettings.model_validate({})
    items = (
        [(str(k), float(v[0]), float(v[1])) for k, v in places.items()]
        if isinstance(places, Mapping)
        else [(str(k), float(x), float(y)) for k, x, y in places]
    )
    if not items:
        return []
    graph = graph_of(network)
    index = edge_index(graph)
    ids = [k for k, _, _ in items]
    lonlat = np.array([(x, y) for _, x, y in items], dtype=np.float64)
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for ident in ids:
        if ident in seen and "duplicate place key" not in problems.get(ident, []):
            problems.setdefault(ident, []).append("duplicate place key")
        seen.add(ident)
    limit = settings.max_snap_distance_m
    ok = np.ones(len(ids), dtype=bool)
    for i, ident in enumerate(ids):
        problem = _coordinate_problem(index, float(lonlat[i, 0]), float(lonlat[i, 1]), limit)
        if problem is not None:
            problems.setdefault(ident, []).append(problem)
            ok[i] = False

    good = np.flatnonzero(ok)
    mx, my = index.to_metric.transform(lonlat[good, 0], lonlat[good, 1])
    points = shapely.points(np.column_stack([mx, my])) if len(good) else np.array([])
    result: dict[int, SnappedPlace] = {}
    nearest = np.full(len(good), -1, np.int64)
    distance = np.full(len(good), np.inf)
    if len(good) and len(index.stop_segs):
        # One nearest segment per point; ties (equidistant roads) resolved to the first found.
        hits, dist = index.stop_tree.query_nearest(points, return_distance=True, max_distance=limit)
        order = np.argsort(hits[0], kind="stable")
        for j, t, d in zip(hits[0][order], hits[1][order], dist[order], strict=True):
            if nearest[j] == -1:
                nearest[j], distance[j] = index.stop_segs[t], d
    found = nearest >= 0
    for j in np.flatnonzero(~found):
        i = int(good[j])
        lon, lat = float(lonlat[i, 0]), float(lonlat[i, 1])
        problems.setdefault(ids[i], []).append(_too_far(graph, index, points[j], lon, lat, limit))
    sel = np.flatnonzero(found)
    if len(sel):
        seg = nearest[sel]
        seg_lines = index.seg_lines[seg]
        along = shapely.line_locate_point(seg_lines, points[sel])
        total = shapely.length(seg_lines)
        frac = np.clip(np.where(total > 0, along / np.where(total > 0, total, 1.0), 0.0), 0, 1)
        snap_pts = shapely.line_interpolate_point(seg_lines, along)
        sxy = shapely.get_coordinates(snap_pts)
        slon, slat = index.to_lonlat.transform(sxy[:, 0], sxy[:, 1])
        for n, j in enumerate(sel):
            i = int(good[j])
            s = int(seg[n])
            f = float(frac[n])
            positions = [_position(index, int(index.seg_fwd[s]), f)]
            if index.seg_bwd[s] >= 0:
                positions.append(_position(index, int(index.seg_bwd[s]), 1.0 - f))
            result[i] = SnappedPlace(
                id=ids[i],
                lon=float(lonlat[i, 0]),
                lat=float(lonlat[i, 1]),
                snap_lon=float(slon[n]),
                snap_lat=float(slat[n]),
                snap_distance=float(distance[j]),
                positions=tuple(positions),
            )
    if problems:
        raise SnapError({k: "; ".join(problems[k]) for k in dict.fromkeys(ids) if k in problems})
    return [result[i] for i in range(len(items))]


def snap_place(
    network: Network, place_id: str, lon: float, lat: float, settings: SnapSettings | None = None
) -> SnappedPlace:
    """Snap one place; see :func:`snap_places`."""
    return snap_places(network, [(place_id, lon, lat)], settings)[0]


def _position(index: EdgeIndex, edge: int, fraction: float) -> EdgePosition:
    return EdgePosition(
        edge=edge,
        u=int(index.nodes[index.src[edge]]),
        v=int(index.nodes[index.dst[edge]]),
        key=int(index.keys[edge]),
        fraction=fraction,
        offset=fraction * float(index.length[edge]),
    )


_MAX_LISTED = 20


def _summary(problems: Mapping[str, str]) -> str:
    items = list(problems.items())
    lines = [f"  - place[{key}]: {text}" for key, text in items[:_MAX_LISTED]]
    if len(items) > _MAX_LISTED:
        lines.append(f"  ... and {len(items) - _MAX_LISTED} more")
    count = len(items)
    return f"{count} place{'s' if count != 1 else ''} cannot be snapped:\n" + "\n".join(lines)
