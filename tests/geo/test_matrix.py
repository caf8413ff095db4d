"""Travel matrices: checked against networkx on the real extract and on small hand-made graphs."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba.core.registry import CPUDispatcher

import geo.matrix
from geo.matrix import DEFAULT_CACHE, MatrixCache, MatrixError, routing_graph, travel_matrix
from geo.road_network import RoadNetwork
from geo.snap import SnappedPlace, edge_index, snap_places
from optimizer.domain import UNREACHABLE
from tests.geo.test_snap import on_road_points

TIE = 1e-6  # seconds: times this close count as equal (sums in another order differ by ulps)


def fastest_lengths(
    graph: nx.MultiDiGraph, source: object
) -> dict[object, tuple[float, float, float]]:
    """(time, shortest, longest length) from ``source`` to every reachable node: the fastest
    time and the range of lengths over the paths that take it. networkx finds the times; the
    lengths come from the edges that keep a node's time (a DAG: every travel time is > 0)."""
    times = nx.single_source_dijkstra_path_length(graph, source, weight="travel_time")
    tight = nx.DiGraph()
    tight.add_nodes_from(times)
    for x, y, d in graph.edges(data=True):
        if x in times and y in times and abs(times[x] + d["travel_time"] - times[y]) <= TIE:
            lo, hi = (
                (tight[x][y]["lo"], tight[x][y]["hi"])
                if tight.has_edge(x, y)
                else (
                    math.inf,
                    -math.inf,
                )
            )
            tight.add_edge(x, y, lo=min(lo, d["length"]), hi=max(hi, d["length"]))
    shortest = {source: 0.0}
    longest = {source: 0.0}
    for node in nx.topological_sort(tight):
        for _, y, d in tight.out_edges(node, data=True):
            if node in shortest:
                shortest[y] = min(shortest.get(y, math.inf), shortest[node] + d["lo"])
                longest[y] = max(longest.get(y, -math.inf), longest[node] + d["hi"])
    return {n: (times[n], shortest[n], longest[n]) for n in times}


def reference(graph: nx.MultiDiGraph, a: SnappedPlace, b: SnappedPlace) -> tuple[float, float]:
    """(time, length) of the fastest trip a -> b computed independently with networkx: partial edge
    out of ``a`` + node-to-node fastest path + partial edge into ``b`` (or along one edge)."""
    best = (math.inf, math.inf)
    for pa in a.positions:
        ea = graph.edges[pa.u, pa.v, pa.key]
        reach = fastest_lengths(graph, pa.v)
        for pb in b.positions:
            eb = graph.edges[pb.u, pb.v, pb.key]
            if pa.edge == pb.edge and pa.fraction <= pb.fraction:
                share = pb.fraction - pa.fraction
                best = min(best, (share * ea["travel_time"], share * ea["length"]))
            if pb.u not in reach:
                continue
            t, length, _ = reach[pb.u]
            t += (1 - pa.fraction) * ea["travel_time"] + pb.fraction * eb["travel_time"]
            length += (1 - pa.fraction) * ea["length"] + pb.fraction * eb["length"]
            best = min(best, (t, length))
    return best


@pytest.fixture(scope="module")
def places(heidelberg_network: RoadNetwork) -> list[SnappedPlace]:
    rng = np.random.default_rng(11)
    pts = [
        (i, x + rng.normal(0, 2e-4), y + rng.normal(0, 2e-4))
        for i, x, y in on_road_points(heidelberg_network, 40, seed=5)
    ]
    return snap_places(heidelberg_network, pts)


def test_matrix_equals_networkx_on_sampled_pairs(
    heidelberg_network: RoadNetwork, places: list[SnappedPlace]
) -> None:
    result = travel_matrix(heidelberg_network, places)
    m = result.matrix
    assert result.complete and not m.approximate
    assert m.locations == tuple(p.id for p in places)
    assert np.all(np.diag(m.durations) == 0) and np.all(np.diag(m.distances) == 0)
    rng = np.random.default_rng(0)
    pairs = [tuple(rng.choice(len(places), 2, replace=False)) for _ in range(15)]
    for i, j in pairs:
        t, length = reference(heidelberg_network.graph, places[i], places[j])
        assert m.durations[i, j] == math.ceil(t - 1e-6), (places[i].id, places[j].id)
        assert m.distances[i, j] == round(length), (places[i].id, places[j].id)


def test_triangle_inequality(heidelberg_network: RoadNetwork, places: list[SnappedPlace]) -> None:
    d = travel_matrix(heidelberg_network, places).matrix.durations
    # d[i, k] <= d[i, j] + d[j, k] for all i, j, k (+1 s for rounding up each leg)
    via = d[:, :, None] + d[None, :, :]  # via[i, j, k]
    assert np.all(d[:, None, :] <= via + 1)
    assert np.count_nonzero(d != d.T) > 0  # real roads: not symmetric


def test_one_way_road_makes_times_asymmetric(heidelberg_network: RoadNetwork) -> None:
    graph = heidelberg_network.graph
    index = edge_index(heidelberg_network)
    # a long one-way edge with no edge back: driving "against" it means going around
    one_way = [
        e
        for e in range(index.n_edges)
        if not graph.has_edge(int(index.nodes[index.dst[e]]), int(index.nodes[index.src[e]]))
        and index.length[e] > 150
        and index.time[e] > 10
        and index.stoppable[e]  # not a motorway carriageway: places are not snapped there
    ]
    assert one_way
    e = one_way[0]
    line = index.lines[e]
    pts = []
    for ident, frac in (("a", 0.2), ("b", 0.8)):
        p = line.interpolate(frac, normalized=True)
        lon, lat = index.to_lonlat.transform(p.x, p.y)
        pts.append((ident, lon, lat))
    a, b = snap_places(heidelberg_network, pts)
    assert len(a.positions) == 1 and a.positions[0].edge == e
    m = travel_matrix(heidelberg_network, [a, b]).matrix
    along = (b.fraction - a.fraction) * index.time[e]
    assert m.duration("a", "b") == math.ceil(along - 1e-6)
    assert m.distance("a", "b") == round((b.fraction - a.fraction) * index.length[e])
    assert m.duration("b", "a") > m.duration("a", "b")
    t, length = reference(graph, b, a)
    assert m.duration("b", "a") == math.ceil(t - 1e-6)
    assert m.distance("b", "a") == round(length)


def _line_graph() -> nx.MultiDiGraph:
    """1 -> 2 -> 3 along lon 8.70..8.72 (lat 49.40): 1-2 two-way (100 s, 1000 m each way), 2 -> 3
    one-way (50 s, 800 m); plus an island 10 <-> 11 far away."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, x in ((1, 8.70), (2, 8.71), (3, 8.72), (10, 8.80), (11, 8.81)):
        g.add_node(n, x=x, y=49.40)
    g.add_edge(1, 2, travel_time=100.0, length=1000.0, oneway=False)
    g.add_edge(2, 1, travel_time=100.0, length=1000.0, oneway=False)
    g.add_edge(2, 3, travel_time=50.0, length=800.0, oneway=True)
    g.add_edge(10, 11, travel_time=10.0, length=100.0, oneway=False)
    g.add_edge(11, 10, travel_time=10.0, length=100.0, oneway=False)
    return g


def test_partial_edges_same_edge_and_unreachable_on_a_small_graph() -> None:
    g = _line_graph()
    pts = [
        ("a", 8.7025, 49.4001),  # 1/4 along 1-2
        ("b", 8.7075, 49.4001),  # 3/4 along 1-2
        ("c", 8.7150, 49.3999),  # half-way along the one-way 2 -> 3
        ("d", 8.8050, 49.4000),  # on the island
    ]
    places = snap_places(g, pts)
    result = travel_matrix(g, places)
    m = result.matrix
    for frac, place in ((0.25, places[0]), (0.75, places[1])):
        fwd = next(p for p in place.positions if (p.u, p.v) == (1, 2))
        assert fwd.fraction == pytest.approx(frac, abs=1e-3)
    # two-way edge: both directions along the same edge, no detour over the nodes
    assert m.duration("a", "b") == m.duration("b", "a") == pytest.approx(50, abs=1)
    assert m.distance("a", "b") == pytest.approx(500, abs=2)
    # a -> c: rest of 1-2 (75 s) + half of 2 -> 3 (25 s); c -> a impossible (one-way dead end)
    assert m.duration("a", "c") == pytest.approx(100, abs=1)
    assert m.distance("a", "c") == pytest.approx(750 + 400, abs=2)
    assert m.duration("c", "a") == UNREACHABLE and m.distance("c", "a") == UNREACHABLE
    assert m.duration("a", "d") == UNREACHABLE
    assert ("c", "a") in result.unreachable and ("d", "a") in result.unreachable
    assert ("a", "c") not in result.unreachable
    assert not result.complete


def test_distance_is_the_length_of_the_fastest_path() -> None:
    # 1 -> 2 directly: short but slow; 1 -> 3 -> 2: long but fast
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in {1: (8.70, 49.40), 2: (8.71, 49.40), 3: (8.705, 49.41)}.items():
        g.add_node(n, x=x, y=y)
    g.add_edge(1, 2, travel_time=300.0, length=700.0)
    g.add_edge(1, 3, travel_time=60.0, length=1500.0)
    g.add_edge(3, 2, travel_time=60.0, length=1500.0)
    places = snap_places(g, [("a", 8.7, 49.4), ("b", 8.71, 49.4)])
    m = travel_matrix(g, places).matrix
    assert m.duration("a", "b") == 120
    assert m.distance("a", "b") == 3000  # not the 700 m of the shortest road


def test_the_kernels_run_compiled_by_numba() -> None:
    """The kernels are numba's once a matrix was computed (they are wrapped on first use, so
    that importing the module does not import numba), never the plain Python functions."""
    g = _line_graph()
    travel_matrix(g, snap_places(g, [("a", 8.7025, 49.4001), ("b", 8.7075, 49.4001)]), cache=None)
    for name in ("_dijkstra", "_many_to_many", "_peel"):
        assert isinstance(getattr(geo.matrix, name), CPUDispatcher), name


def test_path_follows_the_matrix() -> None:
    g = _line_graph()
    places = snap_places(g, [("a", 8.7025, 49.4001), ("c", 8.7150, 49.3999)])
    rg = routing_graph(g, places)
    # dead ends without places are pruned: only node 2 and the two places are left
    assert rg.n_nodes == 3
    pieces = rg.path(0, 1)
    assert pieces is not None
    index = edge_index(g)
    edges = [(int(index.nodes[index.src[e]]), int(index.nodes[index.dst[e]])) for e, _, _ in pieces]
    assert edges == [(1, 2), (2, 3)]
    assert pieces[0][1] == pytest.approx(0.25, abs=1e-3) and pieces[0][2] == 1.0
    assert pieces[1][1] == 0.0 and pieces[1][2] == pytest.approx(0.5, abs=1e-3)
    assert rg.path(1, 0) is None
    assert rg.path(0, 0) == []


def test_cache_in_memory_and_on_disk(
    heidelberg_network: RoadNetwork, places: list[SnappedPlace], tmp_path: Path
) -> None:
    cache = MatrixCache(max_entries=2, directory=tmp_path)
    first = travel_matrix(heidelberg_network, places[:10], cache=cache)
    again = travel_matrix(heidelberg_network, places[:10], cache=cache)
    assert again is first and cache.hits == 1 and cache.misses == 1
    assert len(list(tmp_path.glob("*.npz"))) == 1
    fresh = MatrixCache(directory=tmp_path)  # e.g. a new process
    loaded = travel_matrix(heidelberg_network, places[:10], cache=fresh)
    assert fresh.hits == 1
    assert np.array_equal(loaded.matrix.durations, first.matrix.durations)
    assert np.array_equal(loaded.matrix.distances, first.matrix.distances)
    other = travel_matrix(heidelberg_network, places[:5], cache=cache)
    assert other.matrix.durations.shape == (5, 5) and cache.misses == 2
    # a damaged file on disk is ignored and the matrix computed again
    fp, key = cache.key(heidelberg_network, places[:10])
    (tmp_path / f"{fp}-{key}.npz").write_bytes(b"not an npz file")
    damaged = MatrixCache(directory=tmp_path)
    again = travel_matrix(heidelberg_network, places[:10], cache=damaged)
    assert damaged.misses == 1 and np.array_equal(again.matrix.durations, first.matrix.durations)
    # the process-wide default cache is used unless cache=None
    DEFAULT_CACHE.clear()
    by_default = travel_matrix(heidelberg_network, places[:7])
    assert travel_matrix(heidelberg_network, places[:7]) is by_default
    uncached = travel_matrix(heidelberg_network, places[:7], cache=None)
    assert uncached is not by_default
    assert np.array_equal(uncached.matrix.durations, by_default.matrix.durations)


def test_threads_do_not_change_results(
    heidelberg_network: RoadNetwork, places: list[SnappedPlace]
) -> None:
    one = travel_matrix(heidelberg_network, places, threads=1, cache=None).matrix
    two = travel_matrix(heidelberg_network, places, threads=2, cache=None).matrix
    assert np.array_equal(one.durations, two.durations)
    assert np.array_equal(one.distances, two.distances)


def test_bad_input_is_rejected(places: list[SnappedPlace]) -> None:
    g = _line_graph()
    with pytest.raises(MatrixError, match="at least one place"):
        travel_matrix(g, [])
    with pytest.raises(MatrixError, match=r"duplicate place ids \['a'\]"):
        a = snap_places(g, [("a", 8.7025, 49.4001)])[0]
        travel_matrix(g, [a, a])
    # places snapped on the Heidelberg network do not fit this graph
    with pytest.raises(MatrixError, match="snapped on another network"):
        travel_matrix(g, places[:3])
    with pytest.raises(ValueError, match="max_entries"):
        MatrixCache(max_entries=0)


def reference_with_nodes(
    graph: nx.MultiDiGraph, a: SnappedPlace, b: SnappedPlace
) -> tuple[float, float, float]:
    """Like :func:`reference`, plus the rule that a place at an end of its edge stands on that
    node (and may leave or be reached by any road there). Returns the fastest time and the range
    of lengths over the trips that take it (within :data:`TIE`): small random grids tie often."""
    at_node = 0.01  # metres, as in geo.matrix
    exits: list[tuple[object, float, float]] = []
    for pa in a.positions:
        e = graph.edges[pa.u, pa.v, pa.key]
        exits.append((pa.v, (1 - pa.fraction) * e["travel_time"], (1 - pa.fraction) * e["length"]))
        if pa.fraction * e["length"] <= at_node:
            exits.append((pa.u, 0.0, 0.0))
        if (1 - pa.fraction) * e["length"] <= at_node:
            exits.append((pa.v, 0.0, 0.0))
    entries: list[tuple[object, float, float]] = []
    for pb in b.positions:
        e = graph.edges[pb.u, pb.v, pb.key]
        entries.append((pb.u, pb.fraction * e["travel_time"], pb.fraction * e["length"]))
        if pb.fraction * e["length"] <= at_node:
            entries.append((pb.u, 0.0, 0.0))
        if (1 - pb.fraction) * e["length"] <= at_node:
            entries.append((pb.v, 0.0, 0.0))
    trips: list[tuple[float, float, float]] = []
    for pa in a.positions:
        for pb in b.positions:
            if pa.edge == pb.edge and pa.fraction <= pb.fraction:
                e = graph.edges[pa.u, pa.v, pa.key]
                share = pb.fraction - pa.fraction
                trips.append((share * e["travel_time"], share * e["length"], share * e["length"]))
    for node, t0, l0 in exits:
        reach = fastest_lengths(graph, node)
        for target, t1, l1 in entries:
            if target in reach:
                t, lo, hi = reach[target]
                trips.append((t0 + t + t1, l0 + lo + l1, l0 + hi + l1))
    if not trips:
        return math.inf, math.inf, math.inf
    fastest = min(t for t, _, _ in trips)
    tied = [(lo, hi) for t, lo, hi in trips if t <= fastest + TIE]
    return fastest, min(lo for lo, _ in tied), max(hi for _, hi in tied)


def test_a_place_millimetres_before_a_node_leaves_from_the_node() -> None:
    # Found by the property test below: a place 3 mm before node 2 stands on it, so the trip on
    # from there takes the next road's 10 s, not 10.0003 s rounded up to 11.
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for node, x in ((1, 8.700), (2, 8.704), (3, 8.708)):
        g.add_node(node, x=x, y=49.40)
    g.add_edge(1, 2, travel_time=100.0, length=300.0)
    g.add_edge(2, 3, travel_time=10.0, length=300.0)
    index = edge_index(g)
    pts = []
    for n, (edge, frac) in enumerate([(1, 1.0), (0, 0.99999), (0, 0.0)]):
        p = index.lines[edge].interpolate(frac, normalized=True)
        lon, lat = index.to_lonlat.transform(p.x, p.y)
        pts.append((f"p{n}", lon, lat))
    places = snap_places(g, pts)
    m = travel_matrix(g, places).matrix
    assert m.duration("p1", "p0") == 10
    assert m.duration("p2", "p1") == 100  # reached along the whole first road
    assert m.duration("p2", "p0") == 110


@st.composite
def small_networks(draw: st.DrawFn) -> tuple[nx.MultiDiGraph, list[tuple[int, float]]]:
    """A 4 x 3 street grid with random one-ways, missing streets and travel times, and a few
    places given as (edge number, fraction), fractions 0 and 1 included."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    cols, rows = 4, 3
    for i in range(cols):
        for j in range(rows):
            g.add_node(10 * i + j, x=8.70 + 0.004 * i, y=49.40 + 0.003 * j)
    pairs = [((i, j), (i + 1, j)) for i in range(cols - 1) for j in range(rows)]
    pairs += [((i, j), (i, j + 1)) for i in range(cols) for j in range(rows - 1)]
    for (i, j), (k, m) in pairs:
        u, v = 10 * i + j, 10 * k + m
        kind = draw(st.sampled_from(["both", "both", "forward", "backward", "none"]))
        t = draw(st.floats(5, 100))
        length = draw(st.floats(250, 600))
        if kind in ("both", "forward"):
            g.add_edge(u, v, travel_time=t, length=length)
        if kind in ("both", "backward"):
            g.add_edge(v, u, travel_time=t, length=length)
    if g.number_of_edges() == 0:
        g.add_edge(0, 10, travel_time=10.0, length=300.0)
    fractions = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0]))
    places = draw(
        st.lists(
            st.tuples(st.integers(0, g.number_of_edges() - 1), fractions), min_size=2, max_size=6
        )
    )
    return g, places


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_networks())
def test_matrix_equals_networkx_on_random_small_networks(
    case: tuple[nx.MultiDiGraph, list[tuple[int, float]]],
) -> None:
    g, wanted = case
    index = edge_index(g)
    pts = []
    for n, (edge, frac) in enumerate(wanted):
        p = index.lines[edge].interpolate(frac, normalized=True)
        lon, lat = index.to_lonlat.transform(p.x, p.y)
        pts.append((f"p{n}", lon, lat))
    places = snap_places(g, pts)
    result = travel_matrix(g, places)
    m = result.matrix
    for i, a in enumerate(places):
        for j, b in enumerate(places):
            if i == j:
                assert m.durations[i, j] == 0
                continue
            t, shortest, longest = reference_with_nodes(g, a, b)
            if math.isinf(t):
                assert m.durations[i, j] == UNREACHABLE and (a.id, b.id) in result.unreachable
            else:
                assert m.durations[i, j] == math.ceil(t - 1e-6), (a.id, b.id)
                # The length of one of the fastest trips (geo.matrix takes the shortest; which
                # one wins a tie within float noise is not pinned here).
                assert round(shortest) <= m.distances[i, j] <= round(longest), (a.id, b.id)
