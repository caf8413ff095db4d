"""Road networks for the vans: several sources behind one interface, one
:class:`~geo.road_network.RoadNetwork` type (its graph conventions are described there).

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
from typing import Protocol

from geo import cache
from geo.area import Area, make_area
from geo.build import RawData, build_graph
from geo.osm_extract import check_extract, read_extract
from geo.overpass import OverpassSource
from geo.road_network import FORMAT_VERSION, NetworkMeta, RoadNetwork, SourceKind
from geo.settings import GeoSettings, NetworkSettings

log = logging.getLogger(__name__)


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
    ``geo_settings`` (its service area's extract place plus a buffer)."""
    geo_settings = geo_settings or GeoSettings()
    settings = settings or geo_settings.network
    source = OverpassSource.for_request(
        place=place, polygon=polygon, bbox=bbox, geo_settings=geo_settings
    )
    return build_network(source, settings, cache_dir=cache_dir)


def save(network: RoadNetwork, path: str | os.PathLike[str]) -> Path:
    """Write ``network`` to ``path`` (see :mod:`geo.cache`)."""
    return cache.save(network, Path(path))


def load(path: str | os.PathLike[str]) -> RoadNetwork:
    """Read a network written by :func:`save`."""
    return cache.load(Path(path))
