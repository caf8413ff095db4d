"""The download path end to end against a local stand-in for Overpass and Nominatim.

The stand-in answers osmnx's real HTTP requests with Overpass JSON cut from the Heidelberg extract
for the queried polygon (and honours the query's tag filter), so osmnx's query building, HTTP
handling and our parsing all run; no test touches the network.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import networkx as nx
import numpy as np
import osmium
import osmium.filter
import osmnx as ox
import pytest
import shapely
from shapely.geometry import Polygon, box

from geo.errors import AreaError, DownloadError, EmptyAreaError
from geo.network import download, load_osm_file
from geo.settings import GeoSettings

# a box in Heidelberg-Bergheim / Weststadt, 6-decimal corners (exact in the Overpass query)
BOX = (8.675, 49.400, 8.695, 49.412)
PLACE = "Bergheim, Heidelberg"
_CLAUSE = re.compile(r'\["([^"]+)"(?:(!?~)"([^"]*)")?\]')


@dataclass
class Extract:
    """Highway ways and their nodes from the extract, for answering queries."""

    ways: list[dict[str, Any]]
    nodes: dict[int, dict[str, Any]]
    way_nodes_lonlat: list[np.ndarray] = field(default_factory=list)


@dataclass
class Requests:
    overpass: list[str] = field(default_factory=list)
    nominatim: list[str] = field(default_factory=list)


def _read_extract(path: Path) -> Extract:
    ways = []
    for way in osmium.FileProcessor(str(path), osmium.osm.WAY).with_filter(
        osmium.filter.KeyFilter("highway")
    ):
        ways.append(
            {
                "type": "way",
                "id": way.id,
                "nodes": [n.ref for n in way.nodes],
                "tags": dict(way.tags),
            }
        )
    needed = {n for w in ways for n in w["nodes"]}
    nodes = {}
    for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
        if node.id not in needed:
            continue
        element = {
            "type": "node",
            "id": node.id,
            "lat": node.location.lat,
            "lon": node.location.lon,
        }
        if len(node.tags):
            element["tags"] = dict(node.tags)
        nodes[node.id] = element
    extract = Extract(ways, nodes)
    for w in ways:
        extract.way_nodes_lonlat.append(
            np.array(
                [(nodes[n]["lon"], nodes[n]["lat"]) for n in w["nodes"] if n in nodes]
            ).reshape(-1, 2)
        )
    return extract


def _matches(tags: dict[str, str], clauses: list[tuple[str, str, str]]) -> bool:
    for key, op, pattern in clauses:
        value = tags.get(key)
        if op == "":
            if value is None:
                return False
        elif op == "~":
            if value is None or not re.search(pattern, value):
                return False
        elif value is not None and re.search(pattern, value):  # "!~"
            return False
    return True


def answer_overpass(extract: Extract, query: str) -> dict[str, Any]:
    """Overpass JSON for ``way[filters](poly:'lat lon ...');>;`` queries (what osmnx sends)."""
    match = re.search(r"way((?:\[[^\]]*\])*)\(poly:'([^']*)'\)", query)
    assert match, f"unexpected Overpass query {query!r}"
    clauses = [(k, op or "", pat or "") for k, op, pat in _CLAUSE.findall(match.group(1))]
    numbers = [float(v) for v in match.group(2).split()]
    polygon = Polygon(list(zip(numbers[1::2], numbers[0::2], strict=True)))
    shapely.prepare(polygon)
    elements: list[dict[str, Any]] = []
    node_ids: set[int] = set()
    for way, lonlat in zip(extract.ways, extract.way_nodes_lonlat, strict=True):
        if len(lonlat) == 0 or not _matches(way["tags"], clauses):
            continue
        if shapely.intersects_xy(polygon, lonlat[:, 0], lonlat[:, 1]).any():
            elements.append(way)
            node_ids.update(way["nodes"])
    elements.extend(extract.nodes[n] for n in sorted(node_ids) if n in extract.nodes)
    return {
        "version": 0.6,
        "osm3s": {"timestamp_osm_base": "2024-09-08T20:21:00Z"},
        "elements": elements,
    }


def answer_nominatim(query: str) -> list[dict[str, Any]]:
    if query != PLACE:
        return []
    west, south, east, north = BOX
    return [
        {
            "place_id": 1,
            "osm_type": "relation",
            "osm_id": 1,
            "lat": str((south + north) / 2),
            "lon": str((west + east) / 2),
            "class": "boundary",
            "type": "administrative",
            "display_name": PLACE,
            "importance": 0.6,
            "boundingbox": [str(south), str(north), str(west), str(east)],
            "geojson": shapely.geometry.mapping(box(*BOX)),
        }
    ]


@pytest.fixture(scope="module")
def extract(heidelberg_pbf: Path) -> Extract:
    return _read_extract(heidelberg_pbf)


@pytest.fixture
def stand_in(extract: Extract, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Requests]]:
    """Local HTTP server for Overpass (/api/interpreter) and Nominatim (/search); yields its URL."""
    seen = Requests()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            query = form["data"][0]
            seen.overpass.append(query)
            if self.path.startswith("/broken/"):
                self._send(400, {"error": "bad query"})
            else:
                self._send(200, answer_overpass(extract, query))

        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = parse_qs(url.query)
            if url.path.endswith("/search"):
                seen.nominatim.append(params["q"][0])
                self._send(200, answer_nominatim(params["q"][0]))
            else:
                self._send(404, {"error": "unknown"})

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # osmnx: no rate-limit status calls, no HTTP cache; restore everything afterwards
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "requests_timeout", 30)
    monkeypatch.setattr(ox.settings, "overpass_url", "http://invalid.example/api")
    monkeypatch.setattr(ox.settings, "nominatim_url", "http://invalid.example/")
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)  # osmnx patches it
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _settings(url: str, tmp_path: Path, **extra: Any) -> GeoSettings:
    return GeoSettings(
        overpass_url=f"{url}/api",
        nominatim_url=f"{url}/",
        cache_dir=tmp_path,
        default_buffer_m=0,
        **extra,
    )


def test_bbox_download_equals_reading_the_extract(
    stand_in: tuple[str, Requests], tmp_path: Path, heidelberg_pbf: Path
) -> None:
    url, seen = stand_in
    network = download(bbox=BOX, geo_settings=_settings(url, tmp_path))
    assert len(seen.overpass) == 1
    assert '"highway"~"^(' in seen.overpass[0]  # our filter reached the server
    assert network.meta.source_kind == "download"
    assert network.meta.osm_data_date is not None
    assert network.meta.osm_data_date == datetime(2024, 9, 8, 20, 21, tzinfo=UTC)
    assert 100 < network.node_count < 2_000
    # the same area read from the file gives the very same graph
    local = load_osm_file(heidelberg_pbf, bbox=BOX)
    assert set(network.graph.nodes) == set(local.graph.nodes)
    assert nx.utils.edges_equal(network.graph.edges(keys=True), local.graph.edges(keys=True))
    for u, v, k, data in network.graph.edges(keys=True, data=True):
        assert data["travel_time"] == pytest.approx(local.graph.edges[u, v, k]["travel_time"])
    assert network.graph.graph["crs"] == "EPSG:4326"


def test_place_download_geocodes_with_nominatim(
    stand_in: tuple[str, Requests], tmp_path: Path
) -> None:
    url, seen = stand_in
    network = download(PLACE, geo_settings=_settings(url, tmp_path))
    assert seen.nominatim == [PLACE]
    assert len(seen.overpass) == 1
    assert network.meta.source == f"OpenStreetMap download for {PLACE}"
    xs = np.array([d["x"] for _, d in network.graph.nodes(data=True)])
    ys = np.array([d["y"] for _, d in network.graph.nodes(data=True)])
    west, south, east, north = BOX
    assert xs.min() >= west and xs.max() <= east and ys.min() >= south and ys.max() <= north


def test_default_area_is_the_configured_place_plus_buffer(
    stand_in: tuple[str, Requests], tmp_path: Path
) -> None:
    url, seen = stand_in
    settings = _settings(url, tmp_path).model_copy(
        update={"default_place": PLACE, "default_buffer_m": 300.0}
    )
    network = download(geo_settings=settings)
    assert seen.nominatim == [PLACE]
    xs = np.array([d["x"] for _, d in network.graph.nodes(data=True)])
    # the 300 m buffer reaches beyond the box (about 0.004 degrees of longitude here)
    assert xs.min() < BOX[0] - 0.001 or xs.max() > BOX[2] + 0.001
    assert "+ 300 m" in network.meta.area


def test_download_is_cached(stand_in: tuple[str, Requests], tmp_path: Path) -> None:
    url, seen = stand_in
    settings = _settings(url, tmp_path)
    first = download(bbox=BOX, geo_settings=settings, cache_dir=tmp_path / "nets")
    second = download(bbox=BOX, geo_settings=settings, cache_dir=tmp_path / "nets")
    assert len(seen.overpass) == 1  # the second came from the cache
    assert second.meta.from_cache and not first.meta.from_cache
    assert nx.utils.graphs_equal(first.graph, second.graph)


def test_unknown_place_is_a_clear_error(stand_in: tuple[str, Requests], tmp_path: Path) -> None:
    url, _ = stand_in
    with pytest.raises(DownloadError, match="place 'Atlantis'"):
        download("Atlantis", geo_settings=_settings(url, tmp_path))


def test_server_error_is_a_clear_error(stand_in: tuple[str, Requests], tmp_path: Path) -> None:
    url, _ = stand_in
    settings = GeoSettings(overpass_url=f"{url}/broken/api", cache_dir=tmp_path)
    with pytest.raises(DownloadError, match="download failed"):
        download(bbox=BOX, geo_settings=settings)


def test_area_without_roads_is_a_clear_error(
    stand_in: tuple[str, Requests], tmp_path: Path
) -> None:
    url, _ = stand_in
    with pytest.raises(EmptyAreaError, match="no drivable road"):
        download(bbox=(10.0, 50.0, 10.01, 50.01), geo_settings=_settings(url, tmp_path))


def test_more_than_one_area_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AreaError, match="give one area"):
        download("Erbach", bbox=BOX, geo_settings=GeoSettings(cache_dir=tmp_path))
