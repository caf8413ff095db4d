"""Network cache: exact round trip, keyed reuse, invalidation, corrupt files."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from geo import cache
from geo.errors import CacheError
from geo.network import load, load_osm_file, save
from geo.road_network import RoadNetwork
from geo.settings import NetworkSettings, SpeedSettings

from .conftest import HEIDELBERG_SMALL_BBOX
from .test_network import write_osm


def test_round_trip_equals_the_built_graph(heidelberg_network: RoadNetwork, tmp_path: Path) -> None:
    path = save(heidelberg_network, tmp_path / "hd.vanplan-net.npz")
    loaded = load(path)
    assert loaded.meta.from_cache and not heidelberg_network.meta.from_cache
    assert replace(loaded.meta, from_cache=False) == heidelberg_network.meta
    # same nodes, edges, keys and every attribute (geometries compared coordinate by coordinate)
    assert nx.utils.graphs_equal(loaded.graph, heidelberg_network.graph)
    for u, v, k, data in heidelberg_network.graph.edges(keys=True, data=True):
        other = loaded.graph.edges[u, v, k]
        assert other.keys() == data.keys()
        assert other["travel_time"] == data["travel_time"]
        if "geometry" in data:
            assert np.array_equal(
                np.asarray(other["geometry"].coords), np.asarray(data["geometry"].coords)
            )
    assert loaded.graph.graph == heidelberg_network.graph.graph


def test_build_network_reuses_the_cache(heidelberg_pbf: Path, tmp_path: Path) -> None:
    first = load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX, cache_dir=tmp_path)
    files = list(tmp_path.glob(f"*{cache.SUFFIX}"))
    assert len(files) == 1 and files[0].name.startswith(first.meta.cache_key)
    second = load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX, cache_dir=tmp_path)
    assert second.meta.from_cache and not first.meta.from_cache
    assert nx.utils.graphs_equal(first.graph, second.graph)
    # other settings or another area: another entry
    slow = NetworkSettings(speeds=SpeedSettings(speed_factor=0.9))
    third = load_osm_file(
        heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX, settings=slow, cache_dir=tmp_path
    )
    fourth = load_osm_file(heidelberg_pbf, bbox=(8.68, 49.40, 8.70, 49.41), cache_dir=tmp_path)
    assert not third.meta.from_cache and not fourth.meta.from_cache
    assert len({first.meta.cache_key, third.meta.cache_key, fourth.meta.cache_key}) == 3
    assert len(list(tmp_path.glob(f"*{cache.SUFFIX}"))) == 3


def test_changed_file_invalidates_the_cache(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "t.osm")
    first = load_osm_file(path, cache_dir=tmp_path / "c")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = load_osm_file(path, cache_dir=tmp_path / "c")
    assert not second.meta.from_cache
    assert first.meta.cache_key != second.meta.cache_key


def test_corrupt_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "t.osm")
    first = load_osm_file(path, cache_dir=tmp_path / "c")
    entry = cache.cache_path(tmp_path / "c", first.meta.cache_key)
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.raises(CacheError, match="corrupt cached network"):
        load(entry)
    again = load_osm_file(path, cache_dir=tmp_path / "c")
    assert not again.meta.from_cache
    assert load(entry).meta.from_cache  # rewritten


def test_missing_or_foreign_cache_file(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="not found"):
        load(tmp_path / "none.vanplan-net.npz")
    foreign = tmp_path / "foreign.vanplan-net.npz"
    np.savez(foreign, something=np.arange(3))
    with pytest.raises(CacheError, match="corrupt"):
        load(foreign)


def test_cache_file_holds_no_pickle(heidelberg_small_network: RoadNetwork, tmp_path: Path) -> None:
    path = save(heidelberg_small_network, tmp_path / "small.vanplan-net.npz")
    with np.load(path, allow_pickle=False) as data:  # would raise on object arrays
        assert {"node_id", "edge_u", "edge_travel_time", "meta"} <= set(data.files)
    copy = tmp_path / "copy.vanplan-net.npz"
    shutil.copy(path, copy)
    assert load(copy).edge_count == heidelberg_small_network.edge_count


def test_cached_networks_newest_first(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "t.osm")
    older = load_osm_file(path, cache_dir=tmp_path / "c")
    newer = load_osm_file(path, settings=NetworkSettings(simplify=False), cache_dir=tmp_path / "c")
    old_file = cache.cache_path(tmp_path / "c", older.meta.cache_key)
    stat = old_file.stat()
    os.utime(old_file, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10_000_000_000))
    (tmp_path / "c" / f"junk{cache.SUFFIX}").write_bytes(b"junk")
    found = list(cache.cached_networks(tmp_path / "c"))
    assert [n.meta.cache_key for n in found] == [newer.meta.cache_key, older.meta.cache_key]
    assert all(n.meta.from_cache for n in found)
    meta = cache.read_meta(old_file)
    assert (meta.nodes, meta.edges) == (older.node_count, older.edge_count)
    assert list(cache.cached_networks(tmp_path / "missing")) == []
