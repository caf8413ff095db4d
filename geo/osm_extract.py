"""Stream a local OSM extract (.osm, .osm.bz2, .osm.gz, .osm.pbf) with pyosmium.

Two passes, never the whole file in memory: (1) ways with a ``highway`` tag (filtered in C++ by
osmium, then by the van rules), (2) the coordinates of only the nodes those ways use. Clipping to
the area happens in :func:`geo.build.build_graph`. Memory grows with the drivable ways and their
nodes, not with the file (buildings, paths, relations are skipped as they stream past).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import osmium
import osmium.filter

from geo.build import DRIVE_HIGHWAYS, NEEDED_TAGS, RawData, RawWay, exclusion_reason
from geo.errors import SourceError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")
_NODE_TAGS = ("highway", "ref", "junction")


def check_extract(path: Path) -> Path:
    """A readable file with a supported name; raises :class:`SourceError` naming the path."""
    path = Path(path)
    name = path.name.lower()
    if not name.endswith(SUPPORTED_SUFFIXES):
        raise SourceError(
            f"{path}: unsupported file type; expected one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    if not path.is_file():
        raise SourceError(f"{path}: not a regular file")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: file is empty")
    return path


def _header_date(path: Path) -> datetime | None:
    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    try:
        stamp = reader.header().get("osmosis_replication_timestamp")
    finally:
        reader.close()
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_extract(
    path: Path,
    network_type: str = "drive",
    bbox: tuple[float, float, float, float] | None = None,
) -> RawData:
    """Drivable ways of ``path`` and the coordinates of their nodes.

    With ``bbox`` (west, south, east, north) only nodes inside it are kept, and ways with fewer
    than two such nodes are dropped, so memory follows the area, not the file. The exact clip
    (polygon, cut ways) is :func:`geo.build.build_graph`'s job.
    """
    path = check_extract(path)
    try:
        data_date = _header_date(path)
        ways: list[RawWay] = []
        newest: datetime | None = None
        processor = osmium.FileProcessor(str(path), osmium.osm.WAY).with_filter(
            osmium.filter.KeyFilter("highway")
        )
        for way in processor:
            assert isinstance(way, osmium.osm.Way)
            highway = way.tags.get("highway")
            if highway not in DRIVE_HIGHWAYS and highway != "service":
                continue  # footways, tracks, paths ...: skip before copying the tags
            tags = {t.k: t.v for t in way.tags if t.k in NEEDED_TAGS}
            if exclusion_reason(tags, network_type) is not None:
                continue
            ways.append(RawWay(way.id, [n.ref for n in way.nodes], tags))
            stamp = way.timestamp
            if stamp.year > 1970 and (newest is None or stamp > newest):
                newest = stamp
        needed = {n for w in ways for n in w.nodes}
        ids: list[int] = []
        lons: list[float] = []
        lats: list[float] = []
        node_tags: dict[int, dict[str, str]] = {}
        # a plain set test, not osmium's IdFilter: that allocates a bitmap up to the largest
        # node id (about 600 MB for today's ids) whatever the file size
        for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
            if node.id not in needed:
                continue
            assert isinstance(node, osmium.osm.Node)
            loc = node.location
            if not loc.valid():
                continue
            if bbox is not None and not (
                bbox[0] <= loc.lon <= bbox[2] and bbox[1] <= loc.lat <= bbox[3]
            ):
                continue
            ids.append(node.id)
            lons.append(loc.lon)
            lats.append(loc.lat)
            if len(node.tags):
                tags = {t.k: t.v for t in node.tags if t.k in _NODE_TAGS}
                if tags:
                    node_tags[node.id] = tags
    except RuntimeError as exc:
        raise SourceError(f"{path}: cannot read OSM data ({exc})") from exc
    if bbox is not None:
        kept = set(ids)
        ways = [w for w in ways if sum(n in kept for n in w.nodes) >= 2]
    if data_date is None and newest is not None:
        data_date = newest.astimezone(UTC)
    node_ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(node_ids, kind="stable")
    log.info("%s: %d drivable ways, %d of %d nodes", path, len(ways), len(ids), len(needed))
    return RawData(
        ways=ways,
        node_ids=node_ids[order],
        lon=np.asarray(lons, dtype=np.float64)[order],
        lat=np.asarray(lats, dtype=np.float64)[order],
        node_tags=node_tags,
        data_date=data_date,
    )
