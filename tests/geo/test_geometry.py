"""Route geometry, the plan view and its GeoJSON on the real Heidelberg extract."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, shape

from geo.geometry import GeometryError, PlaceLike, leg_line
from geo.matrix import travel_matrix
from geo.render.geojson import plan_geojson as view_geojson
from geo.road_network import RoadNetwork
from geo.snap import Network, SnapError, SnappedPlace, edge_index, snap_places
from geo.view import build_view
from optimizer.domain import Horizon, Problem, Shift, Van, Visit
from optimizer.plan import Plan, Reason, Route, SolverStats, Stop, Unassigned
from tests.geo.test_snap import on_road_points


def plan_geojson(
    plan: Plan,
    problem: Problem,
    places: Mapping[str, PlaceLike],
    network: Network | None = None,
) -> dict[str, Any]:
    """The GeoJSON of the view of ``plan`` (what the API and the demo write)."""
    return view_geojson(build_view(plan, problem, places, network=network))


def feature_lines(collection: Mapping[str, Any]) -> list[LineString]:
    return [
        shape(f["geometry"]) for f in collection["features"] if f["properties"]["feature"] == "leg"
    ]


@pytest.fixture(scope="module")
def places(heidelberg_network: RoadNetwork) -> dict[str, SnappedPlace]:
    pts = on_road_points(heidelberg_network, 4, seed=21)
    ids = ["base", "v1", "v2", "v3"]
    snapped = snap_places(
        heidelberg_network, [(i, x + 1e-4, y) for i, (_, x, y) in zip(ids, pts, strict=True)]
    )
    return {p.id: p for p in snapped}


@pytest.fixture(scope="module")
def problem_and_plan(
    heidelberg_network: RoadNetwork, places: dict[str, SnappedPlace]
) -> tuple[Problem, Plan]:
    matrix = travel_matrix(heidelberg_network, list(places.values())).matrix
    horizon = Horizon(date(2026, 11, 23), days=1)
    visits = (
        Visit("visit-1", "v1", 1800),
        Visit("visit-2", "v2", 1200),
        Visit("visit-3", "v3", 900),
    )
    problem = Problem(
        horizon=horizon,
        vans=(Van("van-a", start_location="base"),),
        shifts=(Shift("van-a", 0, horizon.at(0, 8), horizon.at(0, 16)),),
        visits=visits,
        matrix=matrix,
    ).validate()
    t = horizon.at(0, 8)
    stops = []
    prev = "base"
    for visit in visits[:2]:
        arrival = t + matrix.duration(prev, visit.location)
        stops.append(
            Stop(
                visit.id,
                visit.location,
                arrival,
                arrival,
                arrival + visit.duration,
                0,
                matrix.duration(prev, visit.location),
                matrix.distance(prev, visit.location),
            )
        )
        t, prev = arrival + visit.duration, visit.location
    route = Route(
        "van-a",
        0,
        "base",
        "base",
        horizon.at(0, 8),
        t + matrix.duration(prev, "base"),
        tuple(stops),
        (),
        matrix.duration(prev, "base"),
        matrix.distance(prev, "base"),
    )
    unassigned = Unassigned("visit-3", Reason.NO_ROOM, "the day is full")
    plan = Plan((route,), (unassigned,), SolverStats("FEASIBLE", 0.0, 0.1))
    return problem, plan


def test_legs_follow_the_roads_between_the_snap_points(
    heidelberg_network: RoadNetwork,
    places: dict[str, SnappedPlace],
    problem_and_plan: tuple[Problem, Plan],
) -> None:
    problem, plan = problem_and_plan
    collection = plan_geojson(plan, problem, places, heidelberg_network)
    index = edge_index(heidelberg_network)
    legs = [f for f in collection["features"] if f["properties"]["feature"] == "leg"]
    assert [(f["properties"]["from"], f["properties"]["to"]) for f in legs] == [
        ("base", "v1"),
        ("v1", "v2"),
        ("v2", "base"),
    ]
    for leg in legs:
        props = leg["properties"]
        coords = np.array(leg["geometry"]["coordinates"])
        a, b = places[props["from"]], places[props["to"]]
        assert coords[0] == pytest.approx([a.snap_lon, a.snap_lat], abs=1e-6)
        assert coords[-1] == pytest.approx([b.snap_lon, b.snap_lat], abs=1e-6)
        assert len(coords) > 2
        # every vertex lies on a road of the network
        x, y = index.to_metric.transform(coords[:, 0], coords[:, 1])
        _, dist = index.tree.query_nearest(shapely.points(x, y), return_distance=True)
        assert dist.max() < 0.5
        # and the line is as long as the matrix says (UTM scale and great-circle: within 1 %)
        length = LineString(np.column_stack([x, y])).length
        assert length == pytest.approx(props["distance"], rel=0.01, abs=2)
        assert props["travel_time"] == problem.matrix.duration(props["from"], props["to"])
        assert props["approximate"] is False


def test_geojson_is_valid_lon_lat_and_the_view_holds_the_plan(
    heidelberg_network: RoadNetwork,
    places: dict[str, SnappedPlace],
    problem_and_plan: tuple[Problem, Plan],
) -> None:
    problem, plan = problem_and_plan
    collection = json.loads(json.dumps(plan_geojson(plan, problem, places, heidelberg_network)))
    assert collection["type"] == "FeatureCollection"
    kinds = [f["properties"]["feature"] for f in collection["features"]]
    assert kinds.count("leg") == 3 and kinds.count("stop") == 2
    assert kinds.count("depot") == 1 and kinds.count("unassigned") == 1
    for feature in collection["features"]:
        geom = shape(feature["geometry"])
        assert geom.is_valid
        xy = np.array([[geom.x, geom.y]]) if isinstance(geom, Point) else np.array(geom.coords)
        assert np.all((xy[:, 0] > 8.3) & (xy[:, 0] < 9.2))  # Heidelberg: lon ~8.7
        assert np.all((xy[:, 1] > 49.2) & (xy[:, 1] < 49.7))  # lat ~49.4
    stop = next(f for f in collection["features"] if f["properties"]["feature"] == "stop")
    assert stop["properties"]["visit_id"] == "visit-1" and stop["properties"]["order"] == 1
    assert stop["properties"]["start"].startswith("2026-11-23T")
    assert stop["properties"]["start"].endswith("+01:00")
    gone = next(f for f in collection["features"] if f["properties"]["feature"] == "unassigned")
    assert gone["properties"]["reason"] == "no_room"
    view = build_view(plan, problem, places, network=heidelberg_network)
    (van_day,) = view.van_days
    assert len(van_day.legs) == 3 and [s.visit_id for s in van_day.stops] == ["visit-1", "visit-2"]
    assert view.unassigned[0].visit_id == "visit-3"
    assert not view.approximate and all(len(leg.coords) > 2 for leg in van_day.legs)
    assert len(feature_lines(collection)) == 3


def test_straight_lines_without_a_network(
    places: dict[str, SnappedPlace], problem_and_plan: tuple[Problem, Plan]
) -> None:
    problem, plan = problem_and_plan
    bare = {k: (p.lon, p.lat) for k, p in places.items()}
    collection = plan_geojson(plan, problem, bare)
    assert collection["properties"]["approximate"] is True
    for line in feature_lines(collection):
        assert len(line.coords) == 2
    leg = collection["features"][0]
    assert leg["properties"]["approximate"] is True
    assert leg["geometry"]["coordinates"][0] == [
        round(places["base"].lon, 7),
        round(places["base"].lat, 7),
    ]


def test_missing_locations_are_named_and_bare_ones_snapped(
    heidelberg_network: RoadNetwork,
    places: dict[str, SnappedPlace],
    problem_and_plan: tuple[Problem, Plan],
) -> None:
    problem, plan = problem_and_plan
    partial = {k: v for k, v in places.items() if k != "v2"}
    with pytest.raises(GeometryError, match=r"no coordinates for locations \['v2'\]"):
        plan_geojson(plan, problem, partial, heidelberg_network)
    mixed: dict[str, SnappedPlace | tuple[float, float]] = dict(places)
    mixed["v1"] = (places["v1"].lon, places["v1"].lat)  # bare coordinates are snapped
    collection = plan_geojson(plan, problem, mixed, heidelberg_network)
    first = collection["features"][0]
    assert first["properties"]["to"] == "v1"
    end = first["geometry"]["coordinates"][-1]
    assert end == pytest.approx([places["v1"].snap_lon, places["v1"].snap_lat], abs=1e-6)
    mixed["v2"] = (8.994, 49.6615)  # Erbach: far outside the Heidelberg network
    with pytest.raises(SnapError, match=r"place\[v2\]"):
        plan_geojson(plan, problem, mixed, heidelberg_network)


def test_leg_line_between_two_places(
    heidelberg_network: RoadNetwork, places: dict[str, SnappedPlace]
) -> None:
    a, b = places["v1"], places["v2"]
    line = leg_line(heidelberg_network, a, b)
    back = leg_line(heidelberg_network, b, a)
    assert line.coords[0] == pytest.approx((a.snap_lon, a.snap_lat))
    assert back.coords[-1] == pytest.approx((a.snap_lon, a.snap_lat))
    same = leg_line(heidelberg_network, a, a)
    assert len(same.coords) == 2 and same.length == 0


def test_approximate_matrix_gives_flagged_straight_lines_even_with_a_network(
    heidelberg_network: RoadNetwork,
    places: dict[str, SnappedPlace],
    problem_and_plan: tuple[Problem, Plan],
) -> None:
    from dataclasses import replace

    from geo.approximate import approximate_matrix

    problem, plan = problem_and_plan
    rough = approximate_matrix({k: (p.lon, p.lat) for k, p in places.items()})
    assert rough.approximate
    collection = plan_geojson(plan, replace(problem, matrix=rough), places, heidelberg_network)
    assert collection["properties"]["approximate"] is True
    legs = [f for f in collection["features"] if f["properties"]["feature"] == "leg"]
    assert legs and all(f["properties"]["approximate"] for f in legs)
    assert all(len(f["geometry"]["coordinates"]) == 2 for f in legs)
