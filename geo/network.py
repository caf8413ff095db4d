"""Road networks for the vans: one :class:`RoadNetwork` type, several sources behind one interface.

``graph`` follows osmnx conventions: a ``networkx.MultiDiGraph`` with node attributes ``x`` (lon)
and ``y`` (lat), edge attributes ``length`` (m), ``travel_time`` (s), ``speed_kph``, ``highway``,
``oneway``, ``osmid``, ``stoppable`` (may a van stop there, :mod:`geo.stopping`) and, on merged
edges, ``geometry`` (shapely LineString in lon/lat);
``graph.graph["crs"] == "EPSG:4326"``. Node keys are OSM node ids.

Sources: :class:`OsmFileSource` (local extract, :func:`load_osm_file`), :class:`OverpassSource`
(download with osmnx, :func:`download`), the cache (:mod:`geo.cache`, used by :func:`build_network`
when given a ``cache_dir``). :mod:`geo.approximate` covers the case without road data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import networkx as nx

from geo.area import Area, make_area
from geo.build import RawData, build_graph
from geo.osm_extract import check_extract, read_extract
from geo.settings import GeoSettings, NetworkSettings

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # bump when the graph building changes in a way that invalidates caches

SourceKind = Literal["osm_file", "download"]


@dataclass(frozen=True)
class NetworkMeta:
    """Where a network came from and what it holds."""

    source_kind: SourceKind
    source: str  # file path or place/area description
    area: str  # human-readable area ("whole file" when not clipped)
    area_bbox: tuple[float, float, float, float] | None
    settings: NetworkSettings
    osm_data_date: datetime | None  # file header timestamp, else newest way; None if unknown
    built_at: datetime
    node_count: int
    edge_count: int
    build_seconds: float = 0.0
    cache_key: str = ""
    from_cache: bool = False
    approximate: bool = False  # a RoadNetwork is never approximate; kept for uniform reports

    @property
    def nodes(self) -> int:
        """Alias of :attr:`node_count`."""
        return self.node_count

    @property
    def edges(self) -> int:
        """Alias of :attr:`edge_count`."""
        return self.edge_count


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A van's drivable road graph plus its provenance. Treat ``graph`` as read-only."""

    graph: nx.MultiDiGraph
    meta: NetworkMeta

    @property
    def node_count(self) -> int:
        return int(self.graph.number_of_nodes())

    @property
    def edge_count(self) -> int:
        return int(self.graph.number_of_edges())

    def __repr__(self) -> str:
        return (
            f"RoadNetwork({self.meta.source_kind} {self.meta.source!r}, {self.node_count} nodes, "
            f"{self.edge_count} edges, OSM data {self.meta.osm_data_date})"
        )


class NetworkSource(Protocol):
    """Something that delivers raw OSM ways and nodes for an area."""

    @property
    def kind(self) -> SourceKind: ...

    @property
    def area(self) -> Area | None: ...

    def describe(self) -> str: ...

    def cache_token(self) -> str:
        """Identifies the input data (path + size + mtime, or the area for downloads)."""
        ...

    def read(self, settings: NetworkSettings) -> RawData: ...


@dataclass(frozen=True)
class OsmFileSource:
    """A local extract, clipped on read to ``area`` (None: the whole file)."""

    path: Path
    area: Area | None = None
    kind: SourceKind = field(default="osm_file", init=False)

    def describe(self) -> str:
        return str(self.path)

    def cache_token(self) -> str:
        path = check_extract(self.path)
        stat = path.stat()
        return f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def read(self, settings: NetworkSettings) -> RawData:
        bbox = self.area.bbox if self.area is not None else None
        return read_extract(self.path, settings.network_type, bbox)


def cache_key(source: NetworkSource, settings: NetworkSettings) -> str:
    """Hash of (format version, source data, area, settings)."""
    parts = {
        "version": FORMAT_VERSION,
        "source": source.cache_token(),
        "area": source.area.key() if source.area is not None else "all",
        "settings": settings.model_dump(mode="json"),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def build_network(
    source: NetworkSource,
    settings: NetworkSettings | None = None,
    *,
    cache_dir: Path | None = None,
) -> RoadNetwork:
    """Build the network from ``source``; with ``cache_dir``, reuse or write a cached copy."""
    settings = settings or NetworkSettings()
    key = cache_key(source, settings)
    if cache_dir is not None:
        import geo.cache as cache

        cached = cache.lookup(Path(cache_dir), key)
        if cached is not None:
            return cached
    started = time.perf_counter()
    raw = source.read(settings)
    label = source.describe()
    if source.area is not None:
        label = f"{label} (area {source.area.describe()})"
    graph = build_graph(raw, source.area, settings, label=label)
    area = source.area
    meta = NetworkMeta(
        source_kind=source.kind,
        source=source.describe(),
        area=area.describe() if area is not None else "whole file",
        area_bbox=area.bbox if area is not None else None,
        settings=settings,
        osm_data_date=raw.data_date,
        built_at=datetime.now(UTC),
        node_count=graph.number_of_nodes(),
        edge_count=graph.number_of_edges(),
        build_seconds=time.perf_counter() - started,
        cache_key=key,
    )
    network = RoadNetwork(graph=graph, meta=meta)
    log.info("built %r in %.1f s", network, meta.build_seconds)
    if cache_dir is not None:
        import geo.cache as cache

        cache.save(network, cache.cache_path(Path(cache_dir), key))
    return network


def load_osm_file(
    path: str | os.PathLike[str],
    *,
    bbox: Sequence[float] | None = None,
    polygon: object | None = None,
    settings: NetworkSettings | None = None,
    cache_dir: Path | None = None,
) -> RoadNetwork:
    """Van network from a local extract, clipped to ``bbox`` (west, south, east, north) or
    ``polygon`` (shapely, lon/lat) if given. Raises :class:`geo.errors.SourceError` for a missing,
    unreadable or unsupported file, :class:`geo.errors.AreaError` for a malformed area and
    :class:`geo.errors.EmptyAreaError` when no drivable road is inside."""
    area = make_area(bbox, polygon)
    return build_network(OsmFileSource(Path(path), area), settings, cache_dir=cache_dir)


def download(
    place: str | None = None,
    *,
    polygon: object | None = None,
    bbox: Sequence[float] | None = None,
    settings: NetworkSettings | None = None,
    geo_settings: GeoSettings | None = None,
    cache_dir: Path | None = None,
) -> RoadNetwork:
    """Van network downloaded from OpenStreetMap (Overpass via osmnx) for one of: a place name
    (geocoded with Nominatim), a polygon or a bbox. With none, the default area of
    ``geo_settings`` (the Odenwaldkreis plus a buffer)."""
    from geo.overpass import OverpassSource

    geo_settings = geo_settings or GeoSettings()
    settings = settings or geo_settings.network
    source = OverpassSource.for_request(
        place=place, polygon=polygon, bbox=bbox, geo_settings=geo_settings
    )
    return build_network(source, settings, cache_dir=cache_dir)


def save(network: RoadNetwork, path: str | os.PathLike[str]) -> Path:
    """Write ``network`` to ``path`` (see :mod:`geo.cache`)."""
    import geo.cache as cache

    return cache.save(network, Path(path))


def load(path: str | os.PathLike[str]) -> RoadNetwork:
    """Read a network written by :func:`save`."""
    import geo.cache as cache

    return cache.load(Path(path))
