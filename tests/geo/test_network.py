"""Road networks from OSM extracts: the real Heidelberg extract and small hand-made files."""

from __future__ import annotations

import bz2
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import osmium.filter
import pytest
from shapely.geometry import Polygon, box

from geo.build import DRIVE_HIGHWAYS, exclusion_reason, oneway_direction
from geo.errors import AreaError, EmptyAreaError, SourceError
from geo.network import load_osm_file
from geo.road_network import RoadNetwork
from geo.settings import NetworkSettings, SpeedSettings

from .conftest import HEIDELBERG_SMALL_BBOX

RAW = NetworkSettings(simplify=False, largest_component=False)
PLOECK = 88675611  # Plöck, a one-way street in Heidelberg's old town


def _flat(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


# --- the real extract -------------------------------------------------------------------------


def test_heidelberg_network_size_and_conventions(heidelberg_network: RoadNetwork) -> None:
    graph = heidelberg_network.graph
    # osmnx's own "drive" filter on the same data gives 5,170 nodes / 12,282 edges
    # (graph_from_xml + drive filter + simplify + largest strongly connected component)
    assert 4_800 <= heidelberg_network.node_count <= 5_600
    assert 11_500 <= heidelberg_network.edge_count <= 13_000
    assert graph.graph["crs"] == "EPSG:4326"
    assert nx.is_strongly_connected(graph)
    meta = heidelberg_network.meta
    assert (meta.node_count, meta.edge_count) == (len(graph), graph.number_of_edges())
    assert meta.source_kind == "osm_file" and not meta.approximate
    assert meta.osm_data_date is not None
    assert meta.osm_data_date.isoformat() == "2024-09-08T20:21:00+00:00"
    for _, data in graph.nodes(data=True):
        assert 8.3 < data["x"] < 9.3 and 49.1 < data["y"] < 49.7  # lon/lat, not swapped
    for _, _, data in graph.edges(data=True):
        assert data["length"] > 0 and data["travel_time"] > 0
        assert isinstance(data["length"], float) and isinstance(data["travel_time"], float)


def test_only_drivable_roads(heidelberg_network: RoadNetwork) -> None:
    classes = {
        h for _, _, d in heidelberg_network.graph.edges(data=True) for h in _flat(d["highway"])
    }
    assert classes <= DRIVE_HIGHWAYS
    assert {"residential", "primary", "motorway"} <= classes
    assert not classes & {"footway", "path", "track", "cycleway", "steps", "service"}


def test_railways_and_footways_of_the_file_are_left_out(
    heidelberg_pbf: Path, heidelberg_network: RoadNetwork
) -> None:
    undrivable: set[int] = set()
    for way in osmium.FileProcessor(str(heidelberg_pbf), osmium.osm.WAY):
        tags = dict(way.tags)
        if tags.get("highway", "footway") in ("footway", "path", "track", "cycleway", "steps"):
            undrivable.add(way.id)
    assert len(undrivable) > 5_000
    used = {w for _, _, d in heidelberg_network.graph.edges(data=True) for w in _flat(d["osmid"])}
    assert not used & undrivable


def test_one_way_street_makes_travel_times_asymmetric(
    heidelberg_pbf: Path, heidelberg_network: RoadNetwork
) -> None:
    tags = next(
        dict(w.tags)
        for w in osmium.FileProcessor(str(heidelberg_pbf), osmium.osm.WAY).with_filter(
            osmium.filter.IdFilter([PLOECK])
        )
    )
    assert (
        tags["oneway:motor_vehicle"] == "yes" and tags["name"] == "Plöck" and "oneway" not in tags
    )
    graph = heidelberg_network.graph
    edges = [(u, v) for u, v, d in graph.edges(data=True) if PLOECK in _flat(d["osmid"])]
    assert edges
    for u, v in edges:
        assert not any(
            PLOECK in _flat(d["osmid"]) for d in (graph.get_edge_data(v, u) or {}).values()
        )
        there = nx.shortest_path_length(graph, u, v, weight="travel_time")
        back = nx.shortest_path_length(graph, v, u, weight="travel_time")
        assert back > there + 30  # the way back is a detour


def test_clipped_read_keeps_only_ways_in_the_box(heidelberg_pbf: Path) -> None:
    network = load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX)
    west, south, east, north = HEIDELBERG_SMALL_BBOX
    graph = network.graph
    assert 150 < len(graph) < 1_000
    xs = np.array([d["x"] for _, d in graph.nodes(data=True)])
    ys = np.array([d["y"] for _, d in graph.nodes(data=True)])
    assert xs.min() >= west and xs.max() <= east and ys.min() >= south and ys.max() <= north
    frame = box(*HEIDELBERG_SMALL_BBOX).buffer(1e-9)
    for _, _, data in graph.edges(data=True):
        if "geometry" in data:
            assert frame.contains(data["geometry"])
    # every way used has at least one node inside the box in the file
    used = {w for _, _, d in graph.edges(data=True) for w in _flat(d["osmid"])}
    locations = osmium.FileProcessor(str(heidelberg_pbf)).with_locations()
    for way in locations.with_filter(osmium.filter.KeyFilter("highway")):
        if isinstance(way, osmium.osm.Way) and way.id in used:
            inside = [
                west <= n.location.lon <= east and south <= n.location.lat <= north
                for n in way.nodes
            ]
            assert any(inside), way.id
            used.discard(way.id)
    assert not used
    assert network.meta.area_bbox == HEIDELBERG_SMALL_BBOX


def test_polygon_clip(heidelberg_pbf: Path) -> None:
    triangle = Polygon([(8.68, 49.40), (8.71, 49.40), (8.68, 49.415)])
    network = load_osm_file(heidelberg_pbf, polygon=triangle)
    points = [(d["x"], d["y"]) for _, d in network.graph.nodes(data=True)]
    assert len(points) > 30
    grown = triangle.buffer(1e-9)
    assert all(
        grown.contains(box(x, y, x, y)) or grown.intersects(box(x, y, x, y)) for x, y in points
    )
    small = load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX)
    assert len(network.graph) < len(small.graph)


def test_maxspeed_is_honoured(heidelberg_network: RoadNetwork) -> None:
    seen = 0
    for _, _, data in heidelberg_network.graph.edges(data=True):
        if data.get("maxspeed") == "30" and isinstance(data["osmid"], int):  # one way, not merged
            assert data["speed_kph"] == pytest.approx(30)
            seen += 1
        if data["highway"] == "motorway":
            assert data["speed_kph"] <= 120 + 1e-6
    assert seen > 50


def test_settings_change_travel_times(
    heidelberg_small_network: RoadNetwork, heidelberg_pbf: Path
) -> None:
    slow = NetworkSettings(speeds=SpeedSettings(speed_factor=0.5, junction_penalty_s=5))
    network = load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX, settings=slow)
    base = heidelberg_small_network.graph
    assert set(network.graph.edges(keys=True)) == set(base.edges(keys=True))
    for u, v, k, data in network.graph.edges(keys=True, data=True):
        expected = 2 * base.edges[u, v, k]["travel_time"]
        if network.graph.nodes[v]["street_count"] >= 3:
            expected += 5
        assert data["travel_time"] == pytest.approx(expected)


# --- hand-made files: every rule on its own ---------------------------------------------------

X0, Y0, STEP = 8.70, 49.40, 0.001
GRID = {i: (X0 + STEP * (i % 10), Y0 + STEP * (i // 10)) for i in range(1, 40)}
WAYS: dict[int, tuple[list[int], dict[str, str]]] = {
    10: ([1, 2, 3], {"highway": "residential", "name": "Hauptstraße", "maxspeed": "30"}),
    11: ([3, 4], {"highway": "residential", "oneway": "yes"}),
    12: ([4, 5], {"highway": "residential", "oneway": "-1"}),
    13: ([1, 11], {"highway": "footway"}),
    14: ([2, 12], {"railway": "rail"}),
    15: ([3, 13], {"highway": "residential", "access": "private"}),
    16: ([5, 15], {"highway": "residential", "motor_vehicle": "destination"}),
    17: ([21, 22, 23, 21], {"highway": "primary", "junction": "roundabout"}),
    18: ([23, 24], {"highway": "motorway"}),
    19: ([24, 999, 25, 26], {"highway": "tertiary"}),  # node 999 is not in the file
    20: ([26, 27], {"highway": "track"}),
    21: ([26, 28], {"highway": "construction"}),
    22: ([27, 28, 38, 37, 27], {"highway": "pedestrian", "area": "yes"}),
    23: ([31, 32], {"highway": "secondary", "oneway": "reversible"}),
    24: ([33, 34], {"highway": "service"}),
    25: ([35, 36], {"highway": "residential", "motor_vehicle": "no"}),
    26: ([15, 25], {"highway": "unclassified", "oneway": "no"}),
    27: ([5, 6, 7], {"highway": "residential", "oneway": "true"}),
}


def write_osm(path: Path, *, drop_nodes: tuple[int, ...] = ()) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for i, (x, y) in GRID.items():
        if i not in drop_nodes:
            lines.append(f'<node id="{i}" version="1" lat="{y:.7f}" lon="{x:.7f}"/>')
    for wid, (nodes, tags) in WAYS.items():
        lines.append(f'<way id="{wid}" version="1">')
        lines += [f'<nd ref="{n}"/>' for n in nodes]
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    text = "\n".join(lines)
    if path.name.endswith(".bz2"):
        path.write_bytes(bz2.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _edge_set(network: RoadNetwork) -> set[tuple[int, int, int]]:
    return {(u, v, d["osmid"]) for u, v, d in network.graph.edges(data=True)}


def test_rules_on_a_hand_made_file(tmp_path: Path) -> None:
    network = load_osm_file(write_osm(tmp_path / "t.osm"), settings=RAW)
    edges = _edge_set(network)
    expected = {
        (1, 2, 10), (2, 1, 10), (2, 3, 10), (3, 2, 10),  # two-way
        (3, 4, 11),  # oneway=yes
        (5, 4, 12),  # oneway=-1: against the way only
        (5, 15, 16), (15, 5, 16),  # motor_vehicle=destination is allowed
        (21, 22, 17), (22, 23, 17), (23, 21, 17),  # roundabout: implied one-way
        (23, 24, 18),  # motorway: implied one-way
        (25, 26, 19), (26, 25, 19),  # way cut at the node missing from the file
        (15, 25, 26), (25, 15, 26),  # oneway=no
        (5, 6, 27), (6, 7, 27),  # oneway=true
    }  # fmt: skip
    assert edges == expected
    data = network.graph.edges[1, 2, 0]
    assert data["name"] == "Hauptstraße" and data["speed_kph"] == pytest.approx(30)
    assert data["travel_time"] == pytest.approx(data["length"] / (30 / 3.6))
    assert data["length"] == pytest.approx(72.3, abs=0.5)  # 0.001 deg of longitude at 49.4 N
    assert network.graph.edges[2, 1, 0]["reversed"] is True
    assert network.graph.edges[3, 4, 0]["oneway"] is True


def test_way_leaving_the_area_is_cut_not_dropped(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "t.osm")
    # the box holds nodes 1-5 and 11-15 (x index 1..5, rows 0 and 1)
    bbox = (X0 + 0.5 * STEP, Y0 - 0.5 * STEP, X0 + 5.5 * STEP, Y0 + 1.5 * STEP)
    network = load_osm_file(path, bbox=bbox, settings=RAW)
    edges = _edge_set(network)
    assert (5, 6, 27) not in edges  # node 6 is outside
    assert {(1, 2, 10), (3, 4, 11), (5, 4, 12), (5, 15, 16)} <= edges
    assert all(u in range(1, 16) and v in range(1, 16) for u, v, _ in edges)


def test_simplify_and_strongly_connected(tmp_path: Path) -> None:
    network = load_osm_file(write_osm(tmp_path / "t.osm"))
    graph = network.graph
    assert nx.is_strongly_connected(graph)
    # the largest strongly connected part is the two-way chain 5-15-25-26 (ways 16, 26, 19),
    # merged into one edge each way; one-way streets, the roundabout and Hauptstraße are smaller
    assert set(graph.nodes) == {5, 26}
    there, back = graph.edges[5, 26, 0], graph.edges[26, 5, 0]
    assert there["osmid"] == back["osmid"] == [16, 19, 26]
    assert there["length"] == pytest.approx(2 * 111.2 + 72.3, abs=1)
    expected = [GRID[5], GRID[15], GRID[25], GRID[26]]
    assert np.allclose(np.asarray(there["geometry"].coords), expected, atol=1e-7)
    assert graph.graph["simplified"] is True


@pytest.mark.parametrize("suffix", [".osm", ".osm.bz2"])
def test_xml_and_bz2_read_like_pbf(tmp_path: Path, suffix: str) -> None:
    xml = load_osm_file(write_osm(tmp_path / "a.osm"), settings=RAW)
    path = write_osm(tmp_path / f"b{suffix}")
    pbf = tmp_path / "c.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(path)):
            writer.add(obj)
    other = load_osm_file(path, settings=RAW)
    from_pbf = load_osm_file(pbf, settings=RAW)
    assert _edge_set(other) == _edge_set(xml) == _edge_set(from_pbf)


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "footway"}, False),
        ({"highway": "cycleway"}, False),
        ({"highway": "path"}, False),
        ({"highway": "track"}, False),
        ({"highway": "steps"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "proposed"}, False),
        ({"railway": "rail"}, False),
        ({"building": "yes"}, False),
        ({"highway": "service"}, False),
        ({"highway": "residential", "area": "yes"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "access": "no"}, False),
        ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, True),
        ({"highway": "residential", "motor_vehicle": "destination"}, True),
        ({"highway": "residential", "motor_vehicle": "no"}, False),
        ({"highway": "residential", "vehicle": "no"}, False),
        ({"highway": "residential", "motorcar": "private"}, False),
        ({"highway": "tertiary", "access": "agricultural"}, False),
        ({"highway": "primary", "oneway": "reversible"}, False),
        ({"highway": "living_street"}, True),
    ],
)
def test_exclusion_rules(tags: dict[str, str], allowed: bool) -> None:
    assert (exclusion_reason(tags) is None) is allowed


def test_service_roads_only_with_drive_service() -> None:
    assert exclusion_reason({"highway": "service"}, "drive_service") is None
    assert exclusion_reason({"highway": "service", "service": "parking_aisle"}, "drive_service")
    assert exclusion_reason({"highway": "service", "service": "driveway"}, "drive_service") is None


@pytest.mark.parametrize(
    ("tags", "direction"),
    [
        ({}, 0),
        ({"oneway": "yes"}, 1),
        ({"oneway": "1"}, 1),
        ({"oneway": "true"}, 1),
        ({"oneway": "-1"}, -1),
        ({"oneway": "reverse"}, -1),
        ({"oneway": "no"}, 0),
        ({"oneway": "alternating"}, 0),
        ({"oneway": "reversible"}, None),
        ({"junction": "roundabout"}, 1),
        ({"junction": "circular"}, 1),
        ({"junction": "roundabout", "oneway": "no"}, 0),
        ({"highway": "motorway"}, 1),
        ({"highway": "motorway", "oneway": "no"}, 0),
        ({"oneway": "yes", "oneway:motor_vehicle": "no"}, 0),
        ({"oneway": "garbage"}, 0),
    ],
)
def test_oneway_direction(tags: dict[str, str], direction: int | None) -> None:
    assert oneway_direction(tags) == direction


# --- bad input ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.osm.pbf"
    with pytest.raises(SourceError, match=r"nowhere\.osm\.pbf: file not found"):
        load_osm_file(missing)


@pytest.mark.parametrize("name", ["roads.shp", "roads.txt", "roads.geojson", "roads"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    with pytest.raises(SourceError, match="unsupported file type"):
        load_osm_file(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.osm.pbf", b"\x00\x00\x00\x0dthis is not a pbf file at all" * 10),
        ("broken.osm", b"<osm><node id='1' lat='x'"),
        ("broken.osm.bz2", b"BZh9 not really bzip2"),
        ("empty.osm.pbf", b""),
    ],
)
def test_corrupt_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError, match=name.replace(".", r"\.")):
        load_osm_file(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "dir.osm"
    folder.mkdir()
    with pytest.raises(SourceError, match="not a regular file"):
        load_osm_file(folder)


def test_area_without_roads(heidelberg_pbf: Path) -> None:
    with pytest.raises(EmptyAreaError, match=r"heidelberg\.osm\.pbf.*no drivable road"):
        load_osm_file(heidelberg_pbf, bbox=(10.0, 50.0, 10.01, 50.01))


def test_file_without_roads(tmp_path: Path) -> None:
    path = tmp_path / "rails.osm"
    path.write_text(
        '<osm version="0.6"><node id="1" lat="49.4" lon="8.7"/><node id="2" lat="49.41" '
        'lon="8.7"/><way id="1"><nd ref="1"/><nd ref="2"/><tag k="railway" v="rail"/></way></osm>'
    )
    with pytest.raises(EmptyAreaError, match=r"rails\.osm: no drivable road"):
        load_osm_file(path)


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ((8.7, 49.4, 8.6, 49.5), "west .* must be less than east"),
        ((8.6, 49.5, 8.7, 49.4), "south .* must be less than north"),
        ((8.6, 95.0, 8.7, 96.0), "latitudes"),
        ((200.0, 49.4, 201.0, 49.5), "longitudes"),
        ((8.6, 49.4, 8.7), "expected 4 numbers"),
        ((8.6, float("nan"), 8.7, 49.5), "finite"),
        (("a", "b", "c", "d"), "expected 4 numbers"),
    ],
)
def test_invalid_bbox(heidelberg_pbf: Path, bbox: tuple[object, ...], message: str) -> None:
    with pytest.raises(AreaError, match=f"bbox.*{message}"):
        load_osm_file(heidelberg_pbf, bbox=bbox)  # type: ignore[arg-type]


def test_invalid_polygon(heidelberg_pbf: Path) -> None:
    bowtie = Polygon([(8.6, 49.4), (8.7, 49.5), (8.7, 49.4), (8.6, 49.5)])
    with pytest.raises(AreaError, match="polygon: invalid polygon"):
        load_osm_file(heidelberg_pbf, polygon=bowtie)
    with pytest.raises(AreaError, match="polygon: expected a shapely Polygon"):
        load_osm_file(heidelberg_pbf, polygon=[(8.6, 49.4), (8.7, 49.5)])
    with pytest.raises(AreaError, match="polygon: the polygon is empty"):
        load_osm_file(heidelberg_pbf, polygon=Polygon())
    with pytest.raises(AreaError, match="lon/lat"):
        load_osm_file(heidelberg_pbf, polygon=box(480_000, 5_470_000, 490_000, 5_480_000))
    with pytest.raises(AreaError, match="not both"):
        load_osm_file(heidelberg_pbf, bbox=HEIDELBERG_SMALL_BBOX, polygon=box(8.6, 49.4, 8.7, 49.5))


def test_geo_settings_are_given_not_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from geo.settings import GeoSettings

    # The geo layer never reads VANPLAN_* itself (api.settings.Settings does, as settings.geo).
    monkeypatch.setenv("VANPLAN_CACHE_DIR", str(tmp_path / "nets"))
    monkeypatch.setenv("VANPLAN_NETWORK__SPEEDS__VAN_MAX_SPEED_KMH", "100")
    assert GeoSettings() == GeoSettings.model_validate({})
    assert GeoSettings().cache_dir != tmp_path / "nets"
    settings = GeoSettings.model_validate(
        {
            "cache_dir": str(tmp_path / "nets"),
            "network": {"network_type": "drive_service", "speeds": {"van_max_speed_kmh": 100}},
            "approximate": {"detour_factor": 1.5},
        }
    )
    assert settings.cache_dir == tmp_path / "nets"
    assert settings.network.speeds.van_max_speed_kmh == 100
    assert settings.network.network_type == "drive_service"
    assert settings.approximate.detour_factor == 1.5
    with pytest.raises(ValueError, match="van_max_speed_kmh"):
        GeoSettings.model_validate({"network": {"speeds": {"van_max_speed_kmh": -5}}})
    with pytest.raises(ValueError, match="osm_file"):  # a service setting, not a geo one
        GeoSettings.model_validate({"osm_file": "x.pbf"})


def test_graph_works_with_osmnx(heidelberg_small_network: RoadNetwork) -> None:
    import osmnx as ox

    graph = heidelberg_small_network.graph
    nodes, edges = ox.graph_to_gdfs(graph)
    assert len(nodes) == len(graph) and len(edges) == graph.number_of_edges()
    assert str(nodes.crs) == "EPSG:4326"
    # edges without an explicit geometry are straight lines between their nodes
    assert not edges.geometry.is_empty.any()
    a, b = nodes["x"].idxmin(), nodes["x"].idxmax()  # westernmost and easternmost node
    route = ox.routing.shortest_path(graph, a, b, weight="travel_time")
    assert route is not None and route[0] == a and route[-1] == b
