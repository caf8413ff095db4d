"""Snapping places to the nearest road edge a van can stop on, on the real Heidelberg extract."""

from __future__ import annotations

import math
import pickle
import re

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pydantic import ValidationError as PydanticValidationError

from geo.build import great_circle_m
from geo.errors import GeoError
from geo.matrix import travel_matrix
from geo.road_network import RoadNetwork
from geo.snap import SnapError, SnapSettings, edge_index, snap_place, snap_places
from geo.stopping import NO_STOP_HIGHWAYS, edge_allows_stop


def on_road_points(network: RoadNetwork, count: int, seed: int) -> list[tuple[str, float, float]]:
    """``count`` points lying on random edges a van can stop on, as ``(id, lon, lat)``."""
    index = edge_index(network)
    rng = np.random.default_rng(seed)
    edges = rng.choice(np.flatnonzero(index.stoppable), count)
    pts = shapely.line_interpolate_point(
        index.lines[edges], rng.uniform(0.05, 0.95, count), normalized=True
    )
    xy = shapely.get_coordinates(pts)
    lon, lat = index.to_lonlat.transform(xy[:, 0], xy[:, 1])
    return [(f"p{i}", float(lon[i]), float(lat[i])) for i in range(count)]


def test_point_on_a_road_snaps_with_distance_near_zero(heidelberg_network: RoadNetwork) -> None:
    index = edge_index(heidelberg_network)
    edge = int(np.flatnonzero(index.stoppable)[index.n_edges // 3])
    mid = shapely.line_interpolate_point(index.lines[edge], 0.4, normalized=True)
    lon, lat = index.to_lonlat.transform(mid.x, mid.y)
    place = snap_place(heidelberg_network, "on-road", lon, lat)
    assert place.snap_distance < 0.5
    u, v = int(index.nodes[index.src[edge]]), int(index.nodes[index.dst[edge]])
    assert {place.edge[0], place.edge[1]} == {u, v}
    hit = next(p for p in place.positions if p.edge == edge)
    assert hit.fraction == pytest.approx(0.4, abs=1e-3)
    assert hit.offset == pytest.approx(0.4 * index.length[edge], rel=1e-2)
    assert place.coords == pytest.approx((lon, lat), abs=1e-5)


def test_two_way_road_has_both_directions_one_way_only_one(
    heidelberg_network: RoadNetwork,
) -> None:
    graph = heidelberg_network.graph
    places = snap_places(heidelberg_network, on_road_points(heidelberg_network, 300, seed=1))
    both = [p for p in places if len(p.positions) == 2]
    single = [p for p in places if len(p.positions) == 1]
    assert both and single
    for p in both:
        fwd, bwd = p.positions
        assert (fwd.u, fwd.v) == (bwd.v, bwd.u)
        assert fwd.fraction + bwd.fraction == pytest.approx(1.0)
    for p in single:
        u, v, key = p.edge
        assert graph.edges[u, v, key]["oneway"] in (True, "yes")


def test_snap_matches_brute_force_nearest_stoppable_road(heidelberg_network: RoadNetwork) -> None:
    index = edge_index(heidelberg_network)
    graph = heidelberg_network.graph
    # the rule applied to each edge's own tags, independently of the index
    allowed = np.array(
        [
            edge_allows_stop(graph.edges[int(index.nodes[a]), int(index.nodes[b]), int(k)])
            for a, b, k in zip(index.src, index.dst, index.keys, strict=True)
        ]
    )
    rng = np.random.default_rng(7)
    raw = on_road_points(heidelberg_network, 40, seed=2)
    # move each point off the road by up to ~100 m
    shifted = [(i, x + rng.normal(0, 6e-4), y + rng.normal(0, 4e-4)) for i, x, y in raw]
    places = snap_places(heidelberg_network, shifted, SnapSettings(max_snap_distance_m=2000))
    xs, ys = index.to_metric.transform([p[1] for p in shifted], [p[2] for p in shifted])
    for place, x, y in zip(places, xs, ys, strict=True):
        brute = shapely.distance(index.lines[allowed], shapely.Point(x, y)).min()
        assert place.snap_distance == pytest.approx(brute, abs=1e-6)
        # the snap point lies on the snapped edge
        edge = place.positions[0].edge
        sx, sy = index.to_metric.transform(place.snap_lon, place.snap_lat)
        assert shapely.distance(index.lines[edge], shapely.Point(sx, sy)) < 0.01


# --- only roads a van can stop on ----------------------------------------------------------------

# the dense part of the extract (see /work/shared/data/osm/README.md)
DENSE_BOX = (8.60, 49.34, 8.86, 49.50)


def _highways(data: dict[str, object]) -> set[str]:
    value = data["highway"]
    return {str(v) for v in value} if isinstance(value, list) else {str(value)}


def test_random_points_never_land_on_a_road_without_stopping(
    heidelberg_network: RoadNetwork,
) -> None:
    graph = heidelberg_network.graph
    index = edge_index(heidelberg_network)
    rng = np.random.default_rng(2024)
    west, south, east, north = DENSE_BOX
    lon, lat = rng.uniform(west, east, 400), rng.uniform(south, north, 400)
    pts = [(f"r{i}", float(lon[i]), float(lat[i])) for i in range(400)]
    places = snap_places(heidelberg_network, pts, SnapSettings(max_snap_distance_m=5000))
    for place in places:
        for pos in place.positions:
            data = graph.edges[pos.u, pos.v, pos.key]
            assert not _highways(data) & NO_STOP_HIGHWAYS, (place.id, data.get("ref"))
            assert data.get("tunnel") in (None, "no")
            assert data["stoppable"] is True
    # the filter matters here: for some points the nearest road of all is one without stopping
    xs, ys = index.to_metric.transform(lon, lat)
    nearest = index.tree.query_nearest(shapely.points(xs, ys), all_matches=False)[1]
    assert np.count_nonzero(~index.stoppable[index.seg_fwd[nearest]]) >= 5


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lon=st.floats(DENSE_BOX[0], DENSE_BOX[2]),
    lat=st.floats(DENSE_BOX[1], DENSE_BOX[3]),
)
def test_any_point_lands_on_the_nearest_road_to_stop_on(
    heidelberg_network: RoadNetwork, lon: float, lat: float
) -> None:
    index = edge_index(heidelberg_network)
    graph = heidelberg_network.graph
    place = snap_place(heidelberg_network, "x", lon, lat, SnapSettings(max_snap_distance_m=5000))
    for pos in place.positions:
        assert edge_allows_stop(graph.edges[pos.u, pos.v, pos.key])
    x, y = index.to_metric.transform(lon, lat)
    distances = shapely.distance(index.lines, shapely.Point(x, y))
    assert place.snap_distance == pytest.approx(distances[index.stoppable].min(), abs=1e-6)
    assert place.snap_distance >= distances.min()


# beside the A 5 between Eppelheim and Heidelberg-Pfaffengrund / Kirchheim, and beside the A 656
# where it meets the B 37 near Wieblingen: 15-30 m from the motorway, 40-200 m from a street
NEAR_MOTORWAY = [
    ("a5-pfaffengrund", 8.63766, 49.40234),
    ("a5-eppelheim", 8.63609, 49.40685),
    ("a5-kirchheim", 8.63888, 49.39313),
    ("a656-wieblingen", 8.64030, 49.41555),
]
# ordinary places around them, 0.5-3.5 km away
AROUND = [
    ("pfaffengrund", 8.655, 49.405),
    ("eppelheim", 8.630, 49.402),
    ("wieblingen", 8.650, 49.418),
    ("kirchheim", 8.662, 49.387),
    ("plankstadt", 8.600, 49.395),
    ("bahnstadt", 8.668, 49.400),
]


def _detour_ratios(network: nx.MultiDiGraph | RoadNetwork) -> NDArray[np.float64]:
    """Road distance / straight distance between the places beside a motorway and those around
    them, both ways: shape (2, len(NEAR_MOTORWAY), len(AROUND))."""
    pts = NEAR_MOTORWAY + AROUND
    matrix = travel_matrix(network, snap_places(network, pts)).matrix
    near = len(NEAR_MOTORWAY)
    lon = np.array([p[1] for p in pts])
    lat = np.array([p[2] for p in pts])
    straight = great_circle_m(
        lon[:near, None], lat[:near, None], lon[None, near:], lat[None, near:]
    )
    road = matrix.distances.astype(np.float64)
    assert np.all(road >= 0)
    return np.stack([road[:near, near:] / straight, road[near:, :near].T / straight])


def test_places_beside_a_motorway_get_sane_detours(heidelberg_network: RoadNetwork) -> None:
    graph = heidelberg_network.graph
    for place in snap_places(heidelberg_network, NEAR_MOTORWAY):
        assert not _highways(graph.edges[place.edge]) & NO_STOP_HIGHWAYS
        assert 30 < place.snap_distance < 200
    assert _detour_ratios(heidelberg_network).max() < 3
    # the same places put on the nearest road of all (the motorway) need long detours
    anywhere = graph.copy()
    nx.set_edge_attributes(anywhere, True, "stoppable")
    for place in snap_places(anywhere, NEAR_MOTORWAY):
        assert _highways(anywhere.edges[place.edge]) & NO_STOP_HIGHWAYS
    assert _detour_ratios(anywhere).max() > 6


def test_no_road_to_stop_on_within_reach_names_the_distances(
    heidelberg_network: RoadNetwork,
) -> None:
    # 30 m west of the A 5 south of Pfaffengrund; the nearest street is ~350 m away
    settings = SnapSettings(max_snap_distance_m=200)
    with pytest.raises(SnapError) as info:
        snap_places(heidelberg_network, [("visit-a", 8.6383, 49.38853)], settings)
    message = info.value.problems["visit-a"]
    assert message.startswith("no road a van can stop on within 200 m of [8.6383, 49.38853]")
    found = re.search(r"the nearest is (\d+) m away", message)
    assert found is not None
    nearest = float(found.group(1))
    assert 300 < nearest < 400
    assert message.endswith("; the A 5 (motorway) is 30 m away, but a van cannot stop there")
    assert "visit-a" not in message
    place = snap_place(heidelberg_network, "visit-a", 8.6383, 49.38853)
    assert place.snap_distance == pytest.approx(nearest, abs=1)


# --- errors a user can act on -------------------------------------------------------------------


def test_far_point_is_rejected_by_its_key(heidelberg_network: RoadNetwork) -> None:
    # Erbach (Odenwald) lies outside the Heidelberg extract
    with pytest.raises(SnapError) as info:
        snap_place(heidelberg_network, "client-17", 8.994, 49.6615)
    assert isinstance(info.value, GeoError)
    assert isinstance(info.value, ValueError)
    assert list(info.value.problems) == ["client-17"]
    message = info.value.problems["client-17"]
    assert re.fullmatch(
        r"no road a van can stop on within 500 m of \[8\.994, 49\.6615\]: the nearest is "
        r"\d+\.\d km away; the point lies outside the road network "
        r"\(lon 8\.\d\d\.\.9\.\d\d, lat 49\.\d\d\.\.49\.\d\d\)",
        message,
    ), message
    assert str(info.value) == f"1 place cannot be snapped:\n  - place[client-17]: {message}"


def test_max_distance_is_configurable(heidelberg_network: RoadNetwork) -> None:
    lon, lat = 8.69, 49.41
    strict = SnapSettings(max_snap_distance_m=0.001)
    with pytest.raises(SnapError, match=r"within 0\.001 m of \[8\.6903, 49\.41\]"):
        snap_place(heidelberg_network, "x", lon + 0.0003, lat, strict)
    assert snap_place(heidelberg_network, "x", lon + 0.0003, lat).snap_distance < 500


def test_swapped_coordinates_are_recognised(heidelberg_network: RoadNetwork) -> None:
    with pytest.raises(SnapError) as info:
        snap_places(heidelberg_network, [("home", 49.41, 8.69), ("ok", 8.69, 49.41)])
    assert list(info.value.problems) == ["home"]
    message = info.value.problems["home"]
    assert message.startswith(
        "the coordinates look swapped: [49.41, 8.69] lies outside the road network (lon 8."
    )
    assert message.endswith("but [8.69, 49.41] lies inside; GeoJSON order [lon, lat] is expected")
    # far away in both orders: not called swapped, just too far
    with pytest.raises(SnapError) as info:
        snap_place(heidelberg_network, "paris", 2.35, 48.86)
    assert "swapped" not in info.value.problems["paris"]
    assert "outside the road network" in info.value.problems["paris"]


def test_malformed_coordinates_are_all_reported(heidelberg_network: RoadNetwork) -> None:
    bad = [
        ("nan", math.nan, 49.4),
        ("lat", 8.7, 95.0),
        ("lon", 200.0, 49.4),
        ("swapped", 49.41, 8.69),
        ("ok", 8.69, 49.41),
        ("ok", 8.69, 49.41),
        ("fine", 8.70, 49.41),
    ]
    with pytest.raises(SnapError) as info:
        snap_places(heidelberg_network, bad)
    assert info.value.problems == {
        "nan": "coordinates [nan, 49.4] are not finite numbers",
        "lat": "latitude 95 is outside -90..90: lon and lat swapped? the order is [lon, lat]",
        "lon": "longitude 200 is outside -180..180",
        "swapped": info.value.problems["swapped"],
        "ok": "duplicate place key",
    }
    assert "look swapped" in info.value.problems["swapped"]
    text = str(info.value)
    assert text.startswith("5 places cannot be snapped:\n")
    assert "  - place[ok]: duplicate place key" in text


def test_snap_error_survives_pickling() -> None:
    error = SnapError({"p1": "no road a van can stop on within 500 m of [8.9, 49.6]"})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is SnapError
    assert copy.problems == error.problems and str(copy) == str(error)
    plain = pickle.loads(pickle.dumps(SnapError("network: the road network has no edges")))
    assert plain.problems == {} and str(plain) == "network: the road network has no edges"


def _two_way(forward: str, backward: str) -> nx.MultiDiGraph:
    """Nodes 1 and 2 on lat 49.40, 727 m apart, joined both ways by roads of these classes."""
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    graph.add_node(1, x=8.70, y=49.40)
    graph.add_node(2, x=8.71, y=49.40)
    for u, v, highway in ((1, 2, forward), (2, 1, backward)):
        graph.add_edge(u, v, length=727.0, travel_time=26.0, highway=highway, ref="A 5")
    return graph


def test_network_without_roads_to_stop_on() -> None:
    with pytest.raises(SnapError) as info:
        snap_place(_two_way("motorway", "motorway"), "a", 8.705, 49.4001)
    assert info.value.problems == {
        "a": "no road a van can stop on within 500 m of [8.705, 49.4001]: the road network has "
        "none; the A 5 (motorway) is 11 m away, but a van cannot stop there"
    }
    # beside a road a van may stop on in one direction only: snapped onto that direction
    place = snap_place(_two_way("residential", "motorway"), "a", 8.705, 49.4001)
    assert [(p.u, p.v) for p in place.positions] == [(1, 2)]


def test_many_points_vectorised_and_dict_input(heidelberg_network: RoadNetwork) -> None:
    pts = on_road_points(heidelberg_network, 500, seed=3)
    places = snap_places(heidelberg_network, {i: (x, y) for i, x, y in pts})
    assert [p.id for p in places] == [p[0] for p in pts]
    assert max(p.snap_distance for p in places) < 0.5
    assert snap_places(heidelberg_network, []) == []


def test_settings_and_graph_input_are_checked() -> None:
    with pytest.raises(PydanticValidationError, match="max_snap_distance_m"):
        SnapSettings(max_snap_distance_m=-1)
    with pytest.raises(SnapError, match="no edges"):
        snap_place(nx.MultiDiGraph(), "a", 8.7, 49.4)
    with pytest.raises(TypeError, match="RoadNetwork"):
        snap_place("not a network", "a", 8.7, 49.4)  # type: ignore[arg-type]
