"""Turn raw OSM ways and node coordinates into a van's drivable osmnx graph.

Shared by every source (local extract, Overpass download): which ways a van may use, one-way rules,
clipping to the area, speeds and travel times, where a van may stop (:mod:`geo.stopping`),
simplification, largest strongly connected component.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.area import Area
from geo.errors import EmptyAreaError
from geo.settings import NetworkSettings
from geo.speeds import road_speed_kmh, travel_time_s
from geo.stopping import STOP_TAGS, STOPPABLE, no_stop_reason

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

# networkx and scipy are imported where a graph is built: importing this module (for
# great_circle_m, the approximate travel times) must not cost a process their half second.

# Road classes a van may use (a whitelist: OSM also has footways, tracks, railways, buildings ...).
DRIVE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "road",
    }
)
# access values that close a way to a van (most specific key first: motorcar, motor_vehicle ...)
_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
_NO_ACCESS = frozenset(
    {"no", "private", "agricultural", "forestry", "agricultural;forestry", "emergency", "military"}
)
# service=* values osmnx's "drive_service" excludes; "drive" drops service roads entirely
_NO_SERVICE = frozenset({"parking_aisle", "parking", "emergency_access", "private"})
_TRUE = frozenset({"yes", "true", "1"})
_REVERSE = frozenset({"-1", "reverse"})
_TWO_WAY = frozenset({"no", "false", "0", "alternating"})

# tags kept on edges (osmnx's useful_tags_way plus the ones the van speeds need)
EDGE_TAGS = (
    "highway",
    "name",
    "ref",
    "maxspeed",
    "lanes",
    "junction",
    "bridge",
    "tunnel",
    "access",
    "service",
    "width",
)
# tags a source must deliver for the filter, one-way rules and speeds
NEEDED_TAGS = STOP_TAGS | frozenset(
    EDGE_TAGS
    + _ACCESS_KEYS
    + (
        "area",
        "oneway",
        "oneway:motor_vehicle",
        "oneway:vehicle",
        "maxspeed:forward",
        "maxspeed:backward",
        "maxspeed:type",
        "source:maxspeed",
        "zone:traffic",
        "zone:maxspeed",
    )
)


@dataclass(frozen=True, slots=True)
class RawWay:
    """An OSM way as read from a source: id, node ids in order, tags."""

    id: int
    nodes: Sequence[int]
    tags: Mapping[str, str]


@dataclass
class RawData:
    """What a source delivers: drivable ways and the coordinates of their nodes."""

    ways: list[RawWay]
    node_ids: NDArray[np.int64]  # sorted
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    node_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    data_date: datetime | None = None


def exclusion_reason(tags: Mapping[str, str], network_type: str = "drive") -> str | None:
    """Why a van may not use a way with these tags, or None if it may."""
    highway = tags.get("highway")
    if highway is None:
        return "no highway tag"
    if highway == "service":
        if network_type != "drive_service":
            return "service road"
        if tags.get("service") in _NO_SERVICE:
            return f"service={tags['service']}"
    elif highway not in DRIVE_HIGHWAYS:
        return f"highway={highway} is not drivable"
    if tags.get("area") == "yes":
        return "area=yes"
    for key in _ACCESS_KEYS:
        value = tags.get(key)
        if value is not None:
            if value in _NO_ACCESS:
                return f"{key}={value}"
            break  # the most specific access tag decides (motor_vehicle=destination is allowed)
    if oneway_direction(tags) is None:
        return "oneway=reversible"
    return None


def oneway_direction(tags: Mapping[str, str]) -> int | None:
    """1: only along the way, -1: only against it, 0: both, None: unusable (reversible)."""
    value = tags.get("oneway:motor_vehicle") or tags.get("oneway:vehicle") or tags.get("oneway")
    if value is not None:
        value = value.strip().lower()
        if value in _TRUE:
            return 1
        if value in _REVERSE:
            return -1
        if value == "reversible":
            # direction changes with the time of day: not plannable, leave it out
            return None
        if value in _TWO_WAY:
            return 0
    if tags.get("junction") in ("roundabout", "circular"):
        return 1
    if tags.get("highway") == "motorway":
        return 1
    return 0


def great_circle_m(
    lon1: NDArray[np.float64],
    lat1: NDArray[np.float64],
    lon2: NDArray[np.float64],
    lat2: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Haversine distance in metres (osmnx's earth radius)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlam = np.radians(lon2 - lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2) ** 2
    h = np.clip(h, 0.0, 1.0)
    return np.asarray(2 * 6_371_009.0 * np.arcsin(np.sqrt(h)), dtype=np.float64)


def build_graph(
    raw: RawData, area: Area | None, settings: NetworkSettings, *, label: str
) -> nx.MultiDiGraph:
    """Build the van's graph: segments inside the area, simplified, largest strongly connected part.

    Nodes missing from the source or outside the area cut a way into the runs of nodes inside;
    a way left with fewer than two such nodes is dropped. ``label`` names the input in errors.
    """
    ways = [w for w in raw.ways if exclusion_reason(w.tags, settings.network_type) is None]
    if not ways:
        scope = "inside the area" if area is not None else "in the data"
        raise EmptyAreaError(f"{label}: no drivable road {scope}")
    lengths = np.fromiter((len(w.nodes) for w in ways), dtype=np.int64, count=len(ways))
    flat = np.fromiter((n for w in ways for n in w.nodes), dtype=np.int64, count=int(lengths.sum()))
    way_of = np.repeat(np.arange(len(ways)), lengths)

    # where each referenced node is, and whether it is usable (present and inside the area)
    pos = np.searchsorted(raw.node_ids, flat)
    pos = np.minimum(pos, max(len(raw.node_ids) - 1, 0))
    usable = (raw.node_ids[pos] == flat) if len(raw.node_ids) else np.zeros(len(flat), bool)
    if area is not None and usable.any():
        idx = np.flatnonzero(usable)
        usable[idx] = area.contains(raw.lon[pos[idx]], raw.lat[pos[idx]])

    first = np.flatnonzero(
        (way_of[:-1] == way_of[1:]) & usable[:-1] & usable[1:] & (flat[:-1] != flat[1:])
    )
    if len(first) == 0:
        raise EmptyAreaError(f"{label}: no drivable road segment inside the area")
    a, b = pos[first], pos[first + 1]

    # directed segments, one per allowed driving direction
    speeds = settings.speeds
    per_way: dict[int, tuple[int, dict[str, object], float, float]] = {}
    seg_u: list[int] = []
    seg_v: list[int] = []
    seg_way: list[int] = []
    seg_rev: list[bool] = []
    seg_len: list[float] = []
    for w, u, v, length in zip(
        way_of[first].tolist(),
        flat[first].tolist(),
        flat[first + 1].tolist(),
        great_circle_m(raw.lon[a], raw.lat[a], raw.lon[b], raw.lat[b]).tolist(),
        strict=True,
    ):
        if w not in per_way:
            tags = ways[w].tags
            direction = oneway_direction(tags)
            assert direction is not None  # reversible ways were excluded above
            base: dict[str, object] = {k: tags[k] for k in EDGE_TAGS if k in tags}
            base["osmid"] = ways[w].id
            base["oneway"] = direction != 0
            base[STOPPABLE] = no_stop_reason(tags) is None
            fwd = road_speed_kmh(tags, speeds)
            bwd = road_speed_kmh(tags, speeds, backward=True)
            per_way[w] = (direction, base, fwd, bwd)
        direction = per_way[w][0]
        if direction >= 0:
            seg_u.append(u)
            seg_v.append(v)
            seg_way.append(w)
            seg_rev.append(False)
            seg_len.append(length)
        if direction <= 0:
            seg_u.append(v)
            seg_v.append(u)
            seg_way.append(w)
            seg_rev.append(direction == 0)
            seg_len.append(length)
    log.info("%s: %d raw directed segments", label, len(seg_u))

    keep = list(range(len(seg_u)))
    if settings.largest_component:
        keep = _largest_strong_component(seg_u, seg_v)
    us = [seg_u[i] for i in keep]
    vs = [seg_v[i] for i in keep]
    if settings.simplify:
        # a merged edge is all stoppable or all not: the snapping filter needs one answer per edge
        stoppable = [bool(per_way[seg_way[i]][1][STOPPABLE]) for i in keep]
        paths = _simplify(us, vs, _mixed_nodes(us, vs, stoppable))
    else:
        paths = [([u, v], [i]) for i, (u, v) in enumerate(zip(us, vs, strict=True))]
    if not paths:
        raise EmptyAreaError(f"{label}: no connected drivable network inside the area")

    # the graph: nodes with coordinates, one edge per path (merged segments get a geometry)
    node_ids = sorted({n for path, _ in paths for n in path})
    where = np.searchsorted(raw.node_ids, np.asarray(node_ids, dtype=np.int64))
    lon, lat = raw.lon[where].tolist(), raw.lat[where].tolist()
    xy = {n: (x, y) for n, x, y in zip(node_ids, lon, lat, strict=True)}
    ends = sorted({n for path, _ in paths for n in (path[0], path[-1])})
    import networkx as nx

    graph = nx.MultiDiGraph(crs="EPSG:4326", created_with=f"vanplan (osmnx {version('osmnx')})")
    if settings.simplify:
        graph.graph["simplified"] = True
    graph.add_nodes_from(
        (n, {"x": xy[n][0], "y": xy[n][1], **raw.node_tags.get(n, {})}) for n in ends
    )

    def segment(i: int) -> dict[str, object]:
        j = keep[i]
        direction, base, fwd, bwd = per_way[seg_way[j]]
        speed = bwd if seg_rev[j] or direction < 0 else fwd
        return {
            **base,
            "reversed": seg_rev[j],
            "length": seg_len[j],
            "speed_kph": speed,
            "travel_time": travel_time_s(seg_len[j], speed),
        }

    merged = [k for k, (path, _) in enumerate(paths) if len(path) > 2]
    lines: dict[int, object] = {}
    if merged:
        coords = np.array([xy[n] for k in merged for n in paths[k][0]], dtype=np.float64)
        index = np.repeat(np.arange(len(merged)), [len(paths[k][0]) for k in merged])
        lines = dict(zip(merged, shapely.linestrings(coords, indices=index).tolist(), strict=True))
    edges: list[tuple[int, int, dict[str, object]]] = []
    for k, (path, segs) in enumerate(paths):
        if len(segs) == 1:
            data = segment(segs[0])
        else:
            data = _merge([segment(i) for i in segs])
            data["geometry"] = lines[k]
        edges.append((path[0], path[-1], data))
    graph.add_edges_from(edges)
    _finish_edges(graph, settings)
    log.info("%s: van graph %d nodes, %d edges", label, len(graph), graph.number_of_edges())
    return graph


def _largest_strong_component(us: list[int], vs: list[int]) -> list[int]:
    """Indices of the segments inside the largest strongly connected component."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    nodes, inverse = np.unique(np.asarray(us + vs, dtype=np.int64), return_inverse=True)
    m = len(us)
    ui, vi = inverse[:m], inverse[m:]
    matrix = csr_matrix((np.ones(m, dtype=np.int8), (ui, vi)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(matrix, directed=True, connection="strong")
    best = np.bincount(labels).argmax()
    return np.flatnonzero((labels[ui] == best) & (labels[vi] == best)).tolist()


def _mixed_nodes(us: list[int], vs: list[int], flags: list[bool]) -> set[int]:
    """Nodes where segments with a different ``flags`` value meet."""
    seen: dict[int, set[bool]] = {}
    for u, v, flag in zip(us, vs, flags, strict=True):
        seen.setdefault(u, set()).add(flag)
        seen.setdefault(v, set()).add(flag)
    return {node for node, values in seen.items() if len(values) > 1}


def _simplify(
    us: list[int], vs: list[int], breaks: set[int] | None = None
) -> list[tuple[list[int], list[int]]]:
    """osmnx's topological simplification on plain lists (much faster than on a networkx graph).

    Returns (node path, segment indices) per edge of the simplified graph. Endpoints follow
    osmnx's rules: self-loop, no way in or out, or not (2 neighbours and degree 2 or 4), plus the
    ``breaks`` (like osmnx's ``edge_attrs_differ``: where an attribute changes). Chains
    of other nodes between endpoints become one edge; parallel segments on a chain keep the
    first. Isolated rings without any endpoint stay unsimplified.
    """
    succ: dict[int, dict[int, int]] = {}
    pred: dict[int, set[int]] = {}
    degree_in: dict[int, int] = {}
    degree_out: dict[int, int] = {}
    for i, (u, v) in enumerate(zip(us, vs, strict=True)):
        succ.setdefault(u, {}).setdefault(v, i)
        succ.setdefault(v, {})
        pred.setdefault(v, set()).add(u)
        pred.setdefault(u, set())
        degree_out[u] = degree_out.get(u, 0) + 1
        degree_in[v] = degree_in.get(v, 0) + 1
    endpoints: set[int] = set(breaks or ()) & succ.keys()
    for node, out in succ.items():
        neighbours = pred[node] | out.keys()
        d_in, d_out = degree_in.get(node, 0), degree_out.get(node, 0)
        if (
            node in neighbours
            or d_in == 0
            or d_out == 0
            or not (len(neighbours) == 2 and d_in + d_out in (2, 4))
        ):
            endpoints.add(node)

    def build(start: int, step: int) -> list[int]:
        path, seen = [start, step], {start, step}
        for nxt in succ[step]:
            if nxt in seen:
                continue
            path.append(nxt)
            seen.add(nxt)
            while nxt not in endpoints:
                ahead = [n for n in succ[nxt] if n not in seen]
                if len(ahead) == 1:
                    nxt = ahead[0]
                    path.append(nxt)
                    seen.add(nxt)
                elif not ahead:
                    return [*path, start] if start in succ[nxt] else path
                else:  # pragma: no cover - such a node is an endpoint by the rules above
                    raise AssertionError(f"unexpected simplify pattern near node {nxt}")
            return path
        return path

    result: list[tuple[list[int], list[int]]] = []
    removed: set[int] = set()
    for start in sorted(endpoints):
        for step in succ[start]:
            if step not in endpoints:
                path = build(start, step)
                removed.update(path[1:-1])
                segs = [succ[a][b] for a, b in itertools.pairwise(path)]
                result.append((path, segs))
    for i, (u, v) in enumerate(zip(us, vs, strict=True)):
        if u not in removed and v not in removed:
            result.append(([u, v], [i]))
    return result


def _merge(parts: list[dict[str, object]]) -> dict[str, object]:
    """One edge's attributes from its segments: lengths and times add up, other values are kept
    once (a single value, or a sorted list of the distinct values), as osmnx does."""
    merged: dict[str, object] = {}
    values: dict[str, list[object]] = {}
    for part in parts:
        for key, value in part.items():
            values.setdefault(key, []).append(value)
    for key, items in values.items():
        if key in ("length", "travel_time"):
            merged[key] = float(sum(items))  # type: ignore[arg-type]
            continue
        distinct = list(dict.fromkeys(items))
        merged[key] = distinct[0] if len(distinct) == 1 else sorted(distinct, key=str)
    return merged


def _finish_edges(graph: nx.MultiDiGraph, settings: NetworkSettings) -> None:
    """Average speed per (merged) edge, plus the optional junction penalty."""
    import networkx as nx
    import osmnx as ox  # here, not at the top: osmnx is slow to import, see geo.overpass

    penalty = settings.speeds.junction_penalty_s
    counts = ox.stats.count_streets_per_node(graph)
    nx.set_node_attributes(graph, counts, name="street_count")
    for _, v, data in graph.edges(data=True):
        if penalty and graph.nodes[v].get("street_count", 0) >= 3:
            data["travel_time"] = float(data["travel_time"]) + penalty
        length, seconds = float(data["length"]), float(data["travel_time"])
        data["length"] = length
        data["travel_time"] = seconds
        data["speed_kph"] = length / seconds * 3.6 if seconds > 0 else 0.0
