"""Turn raw OSM ways and node coordinates into a van's drivable osmnx graph.

Shared by every source (local extract, Overpass download): which ways a van may use, one-way rules,
clipping to the area, speeds and travel times, simplification, largest strongly connected component.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import networkx as nx
import numpy as np
import osmnx as ox
from numpy.typing import NDArray

from geo.area import Area
from geo.errors import EmptyAreaError
from geo.settings import NetworkSettings
from geo.speeds import road_speed_kmh, travel_time_s

log = logging.getLogger(__name__)

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
NEEDED_TAGS = frozenset(
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
        raise EmptyAreaError(f"{label}: no drivable road in the data")
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
    seg_len = great_circle_m(raw.lon[a], raw.lat[a], raw.lon[b], raw.lat[b])

    speeds = settings.speeds
    graph = nx.MultiDiGraph(crs="EPSG:4326", created_with=f"vanplan (osmnx {ox.__version__})")
    used = np.unique(np.concatenate([a, b]))
    for i in used.tolist():
        osmid = int(raw.node_ids[i])
        attrs: dict[str, object] = {"x": float(raw.lon[i]), "y": float(raw.lat[i])}
        attrs.update(raw.node_tags.get(osmid, {}))
        graph.add_node(osmid, **attrs)

    edges: list[tuple[int, int, dict[str, object]]] = []
    cache: dict[int, tuple[int, dict[str, object], float, float]] = {}
    for seg, u, v, length in zip(
        way_of[first].tolist(),
        flat[first].tolist(),
        flat[first + 1].tolist(),
        seg_len.tolist(),
        strict=True,
    ):
        if seg not in cache:
            way = ways[seg]
            direction = oneway_direction(way.tags)
            assert direction is not None  # reversible ways were excluded above
            base: dict[str, object] = {k: way.tags[k] for k in EDGE_TAGS if k in way.tags}
            base["osmid"] = way.id
            base["oneway"] = direction != 0
            fwd = road_speed_kmh(way.tags, speeds)
            bwd = road_speed_kmh(way.tags, speeds, backward=True)
            cache[seg] = (direction, base, fwd, bwd)
        direction, base, fwd, bwd = cache[seg]
        if direction >= 0:
            edges.append(
                (u, v, {**base, "reversed": False, "length": length,
                        "speed_kph": fwd, "travel_time": travel_time_s(length, fwd)})
            )  # fmt: skip
        if direction <= 0:
            edges.append(
                (v, u, {**base, "reversed": direction == 0, "length": length,
                        "speed_kph": bwd, "travel_time": travel_time_s(length, bwd)})
            )  # fmt: skip
    graph.add_edges_from(edges)
    log.info("%s: raw graph %d nodes, %d edges", label, len(graph), graph.number_of_edges())

    if settings.simplify:
        graph = ox.simplify_graph(graph, edge_attr_aggs={"length": sum, "travel_time": sum})
    if settings.largest_component:
        graph = ox.truncate.largest_component(graph, strongly=True)
    if len(graph) == 0 or graph.number_of_edges() == 0:
        raise EmptyAreaError(f"{label}: no connected drivable network inside the area")
    _finish_edges(graph, settings)
    graph.graph["crs"] = "EPSG:4326"
    log.info("%s: van graph %d nodes, %d edges", label, len(graph), graph.number_of_edges())
    return graph


def _finish_edges(graph: nx.MultiDiGraph, settings: NetworkSettings) -> None:
    """Average speed per (merged) edge, plus the optional junction penalty."""
    penalty = settings.speeds.junction_penalty_s
    if "street_count" not in next(iter(graph.nodes.values())):
        counts = ox.stats.count_streets_per_node(graph)
        nx.set_node_attributes(graph, counts, name="street_count")
    for _, v, data in graph.edges(data=True):
        if penalty and graph.nodes[v].get("street_count", 0) >= 3:
            data["travel_time"] = float(data["travel_time"]) + penalty
        length, seconds = float(data["length"]), float(data["travel_time"])
        data["length"] = length
        data["travel_time"] = seconds
        data["speed_kph"] = length / seconds * 3.6 if seconds > 0 else 0.0
