"""Fast binary storage of a :class:`~geo.road_network.RoadNetwork`: one uncompressed ``.npz``
file.

Numbers (node ids and coordinates, edge ends, lengths, travel times) and edge geometries (one
coordinate array plus offsets) are numpy arrays; the remaining edge attributes and the metadata are
JSON text in the same file. Loading needs no pickle (``allow_pickle=False``), so a cache file
cannot run code.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pydantic import ValidationError as PydanticValidationError

from geo.errors import CacheError
from geo.road_network import FORMAT_VERSION, NetworkMeta, RoadNetwork
from geo.settings import NetworkSettings

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

SUFFIX = ".vanplan-net.npz"
_NUMERIC_EDGE = ("length", "travel_time", "speed_kph")
_SKIP = frozenset((*_NUMERIC_EDGE, "geometry"))


def cache_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / f"{key}{SUFFIX}"


def _text(value: Any) -> NDArray[np.uint8]:
    return np.frombuffer(json.dumps(value, separators=(",", ":")).encode(), dtype=np.uint8)


def _untext(array: NDArray[np.uint8]) -> Any:
    return json.loads(array.tobytes().decode())


def _meta_json(meta: NetworkMeta) -> dict[str, Any]:
    data = asdict(meta)
    data["settings"] = meta.settings.model_dump(mode="json")
    for key in ("osm_data_date", "built_at"):
        data[key] = data[key].isoformat() if data[key] is not None else None
    data["format_version"] = FORMAT_VERSION
    return data


def _meta_from_json(data: dict[str, Any]) -> NetworkMeta:
    data = dict(data)
    data.pop("format_version", None)
    data["settings"] = NetworkSettings.model_validate(data["settings"])
    for key in ("osm_data_date", "built_at"):
        data[key] = datetime.fromisoformat(data[key]) if data[key] is not None else None
    if data.get("area_bbox") is not None:
        data["area_bbox"] = tuple(data["area_bbox"])
    return NetworkMeta(**data)


def save(network: RoadNetwork, path: Path) -> Path:
    """Write ``network`` to ``path`` atomically (temporary file, then rename); returns the path."""
    graph = network.graph
    path = Path(path)
    node_ids = np.fromiter(graph.nodes, dtype=np.int64, count=len(graph))
    nodes = graph.nodes
    x = np.array([nodes[n]["x"] for n in node_ids.tolist()], dtype=np.float64)
    y = np.array([nodes[n]["y"] for n in node_ids.tolist()], dtype=np.float64)
    node_extra = {
        str(n): {k: v for k, v in d.items() if k not in ("x", "y")}
        for n, d in graph.nodes(data=True)
    }
    m = graph.number_of_edges()
    u = np.empty(m, np.int64)
    v = np.empty(m, np.int64)
    k = np.empty(m, np.int64)
    numeric = {name: np.zeros(m, np.float64) for name in _NUMERIC_EDGE}
    offsets = np.zeros(m + 1, np.int64)
    coords: list[NDArray[np.float64]] = []
    extras: list[dict[str, Any]] = []
    total = 0
    for i, (a, b, key, data) in enumerate(graph.edges(keys=True, data=True)):
        u[i], v[i], k[i] = a, b, key
        for name in _NUMERIC_EDGE:
            numeric[name][i] = data.get(name, np.nan)
        geom = data.get("geometry")
        if geom is not None:
            xy = shapely.get_coordinates(geom)
            coords.append(xy)
            total += len(xy)
        offsets[i + 1] = total
        extras.append({n: val for n, val in data.items() if n not in _SKIP})
    arrays: dict[str, NDArray[Any]] = {
        "node_id": node_ids,
        "node_x": x,
        "node_y": y,
        "edge_u": u,
        "edge_v": v,
        "edge_key": k,
        "geom_offsets": offsets,
        "geom_coords": np.concatenate(coords) if coords else np.zeros((0, 2)),
        "node_extra": _text(node_extra),
        "edge_extra": _text(extras),
        "graph_attrs": _text({a: val for a, val in graph.graph.items() if a != "crs"}),
        "meta": _text(_meta_json(network.meta)),
    }
    for name, values in numeric.items():
        arrays[f"edge_{name}"] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("saved %r to %s", network, path)
    return path


def load(path: Path) -> RoadNetwork:
    """Read a network written by :func:`save`; :class:`CacheError` if missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise CacheError(f"{path}: cached network not found")
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta_json = _untext(arrays["meta"])
        if meta_json.get("format_version") != FORMAT_VERSION:
            raise CacheError(
                f"{path}: cache format {meta_json.get('format_version')} is not {FORMAT_VERSION}"
            )
        meta = _meta_from_json(meta_json)
        graph = _graph(arrays)
    except CacheError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise CacheError(f"{path}: corrupt cached network ({exc})") from exc
    except PydanticValidationError as exc:  # pragma: no cover - a ValueError already
        raise CacheError(f"{path}: corrupt metadata ({exc})") from exc
    if graph.number_of_nodes() != meta.node_count or graph.number_of_edges() != meta.edge_count:
        raise CacheError(f"{path}: node/edge counts do not match the metadata")
    return RoadNetwork(graph=graph, meta=replace(meta, from_cache=True))


def _graph(arrays: dict[str, NDArray[Any]]) -> nx.MultiDiGraph:
    import networkx as nx  # here: slow to import, and only a cached network needs it

    graph = nx.MultiDiGraph(crs="EPSG:4326", **_untext(arrays["graph_attrs"]))
    node_extra: dict[str, dict[str, Any]] = _untext(arrays["node_extra"])
    graph.add_nodes_from(
        (n, {"x": x, "y": y, **node_extra.get(str(n), {})})
        for n, x, y in zip(
            arrays["node_id"].tolist(),
            arrays["node_x"].tolist(),
            arrays["node_y"].tolist(),
            strict=True,
        )
    )
    extras: list[dict[str, Any]] = _untext(arrays["edge_extra"])
    offsets = arrays["geom_offsets"]
    counts = np.diff(offsets)
    has_geom = np.flatnonzero(counts > 0)
    geoms: list[Any] = [None] * len(extras)
    if len(has_geom):
        lines = shapely.linestrings(
            arrays["geom_coords"][offsets[has_geom[0]] :],
            indices=np.repeat(np.arange(len(has_geom)), counts[has_geom]),
        )
        for i, line in zip(has_geom.tolist(), lines, strict=True):
            geoms[i] = line
    numeric = {name: arrays[f"edge_{name}"].tolist() for name in _NUMERIC_EDGE}
    edges = []
    for i, (a, b, key) in enumerate(
        zip(
            arrays["edge_u"].tolist(),
            arrays["edge_v"].tolist(),
            arrays["edge_key"].tolist(),
            strict=True,
        )
    ):
        data = extras[i]
        for name in _NUMERIC_EDGE:
            data[name] = numeric[name][i]
        if geoms[i] is not None:
            data["geometry"] = geoms[i]
        edges.append((a, b, key, data))
    graph.add_edges_from(edges)
    return graph


def lookup(cache_dir: Path, key: str) -> RoadNetwork | None:
    """The cached network for ``key``, or None (a corrupt entry is logged and ignored)."""
    path = cache_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        network = load(path)
    except CacheError as exc:
        log.warning("ignoring cached network: %s", exc)
        return None
    log.info("loaded %r from cache %s", network, path)
    return network


def read_meta(path: Path) -> NetworkMeta:
    """Only the metadata of a cached network (cheap: the graph arrays are not read)."""
    path = Path(path)
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            meta_json = _untext(data["meta"])
        if meta_json.get("format_version") != FORMAT_VERSION:
            raise CacheError(f"{path}: cache format {meta_json.get('format_version')} is old")
        return replace(_meta_from_json(meta_json), from_cache=True)
    except CacheError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise CacheError(f"{path}: corrupt cached network ({exc})") from exc


def cached_networks(cache_dir: Path) -> Iterator[RoadNetwork]:
    """Every readable network in ``cache_dir``, newest first (loaded one at a time, lazily)."""
    folder = Path(cache_dir)
    if not folder.is_dir():
        return
    paths = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in paths:
        try:
            yield load(path)
        except CacheError as exc:
            log.warning("skipping cached network: %s", exc)
