"""Snapping places to the nearest road edge, on the real Heidelberg extract."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import shapely
from pydantic import ValidationError as PydanticValidationError

from geo.errors import GeoError
from geo.network import RoadNetwork
from geo.snap import SnapError, SnapSettings, edge_index, snap_place, snap_places


def on_road_points(network: RoadNetwork, count: int, seed: int) -> list[tuple[str, float, float]]:
    """``count`` points lying on random edges of the network, as ``(id, lon, lat)``."""
    index = edge_index(network)
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, index.n_edges, count)
    pts = shapely.line_interpolate_point(
        index.lines[edges], rng.uniform(0.05, 0.95, count), normalized=True
    )
    xy = shapely.get_coordinates(pts)
    lon, lat = index.to_lonlat.transform(xy[:, 0], xy[:, 1])
    return [(f"p{i}", float(lon[i]), float(lat[i])) for i in range(count)]


def test_point_on_a_road_snaps_with_distance_near_zero(heidelberg_network: RoadNetwork) -> None:
    index = edge_index(heidelberg_network)
    edge = index.n_edges // 3
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


def test_snap_matches_brute_force_nearest_road(heidelberg_network: RoadNetwork) -> None:
    index = edge_index(heidelberg_network)
    rng = np.random.default_rng(7)
    raw = on_road_points(heidelberg_network, 40, seed=2)
    # move each point off the road by up to ~100 m
    shifted = [(i, x + rng.normal(0, 6e-4), y + rng.normal(0, 4e-4)) for i, x, y in raw]
    places = snap_places(heidelberg_network, shifted, SnapSettings(max_snap_distance_m=2000))
    xs, ys = index.to_metric.transform([p[1] for p in shifted], [p[2] for p in shifted])
    for place, x, y in zip(places, xs, ys, strict=True):
        brute = shapely.distance(index.lines, shapely.Point(x, y)).min()
        assert place.snap_distance == pytest.approx(brute, abs=1e-6)
        # the snap point lies on the snapped edge
        edge = place.positions[0].edge
        sx, sy = index.to_metric.transform(place.snap_lon, place.snap_lat)
        assert shapely.distance(index.lines[edge], shapely.Point(sx, sy)) < 0.01


def test_far_point_is_rejected_naming_the_place(heidelberg_network: RoadNetwork) -> None:
    # Erbach (Odenwald) lies outside the Heidelberg extract
    with pytest.raises(SnapError, match=r"place\[client-17\].*more than 500 m") as info:
        snap_place(heidelberg_network, "client-17", 8.994, 49.6615)
    assert isinstance(info.value, GeoError)
    assert isinstance(info.value, ValueError)


def test_max_distance_is_configurable(heidelberg_network: RoadNetwork) -> None:
    lon, lat = 8.69, 49.41
    strict = SnapSettings(max_snap_distance_m=0.001)
    with pytest.raises(SnapError, match=r"more than 0\.001 m"):
        snap_place(heidelberg_network, "x", lon + 0.0003, lat, strict)
    assert snap_place(heidelberg_network, "x", lon + 0.0003, lat).snap_distance < 500


def test_malformed_coordinates_are_all_reported(heidelberg_network: RoadNetwork) -> None:
    bad = [
        ("nan", math.nan, 49.4),
        ("lat", 8.7, 95.0),
        ("lon", 200.0, 49.4),
        ("swapped", 49.41, 8.69),  # lat/lon order mixed up: valid numbers, far from the network
        ("ok", 8.69, 49.41),
        ("ok", 8.69, 49.41),
    ]
    with pytest.raises(SnapError) as info:
        snap_places(heidelberg_network, bad)
    text = str(info.value)
    assert "5 places cannot be snapped" in text
    assert "place[nan]: coordinate (nan, 49.4) is not a finite number" in text
    assert "place[lat]: latitude 95.0 outside -90..90" in text
    assert "place[lon]: longitude 200.0 outside -180..180" in text
    assert "place[swapped]" in text and "swapped?" in text
    assert "place[ok]: duplicate place id" in text


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
