"""Benchmark: snapping random places onto any road vs onto roads a van can stop on.

Usage::

    python -m benchmarks.snapping [--places 300] [--seed 0] [--pbf PATH] [--max-snap 500]
                                  [--min-straight 500]

Draws ``--places`` uniformly random points in the dense part of the Heidelberg extract (lon
8.60-8.86, lat 49.34-49.50), keeping those within ``--max-snap`` metres of some road (farther ones
are rejected by both modes alike). Snaps them twice in the same run:

- *any road* (the behaviour before :mod:`geo.stopping`): a copy of the graph with every edge marked
  stoppable, so the nearest road of all wins, motorways included;
- *stoppable* (vanplan now): only roads a van can stop on; places with none within reach get a
  :class:`geo.snap.SnapError` naming them and are counted, then left out of both matrices.

Prints how many places land on roads a van cannot stop on (judged by the rule on the real graph),
snap distances, and the detour ratio (road distance of the travel matrix / straight distance
between the given points) over ordered pairs at least ``--min-straight`` metres apart: maximum,
99th percentile, pairs above 5x, and the maximum over pairs touching a place that was put on a
road without stopping by the old rule. No timings: figures only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.build import great_circle_m
from geo.matrix import travel_matrix
from geo.network import load_osm_file
from geo.road_network import RoadNetwork
from geo.snap import SnapError, SnappedPlace, SnapSettings, edge_index, snap_places
from geo.stopping import STOPPABLE, edge_allows_stop

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PBF = (
    Path(os.environ.get("VANPLAN_SHARED_DIR", ROOT.parent / "shared"))
    / "data/osm/heidelberg.osm.pbf"
)
DENSE_BOX = (8.60, 49.34, 8.86, 49.50)  # west, south, east, north

Point = tuple[str, float, float]


def random_points(network: RoadNetwork, count: int, seed: int, max_snap: float) -> list[Point]:
    """``count`` uniform points in :data:`DENSE_BOX` lying within ``max_snap`` m of some road."""
    index = edge_index(network)
    rng = np.random.default_rng(seed)
    west, south, east, north = DENSE_BOX
    points: list[Point] = []
    while len(points) < count:
        lon, lat = rng.uniform(west, east, count), rng.uniform(south, north, count)
        x, y = index.to_metric.transform(lon, lat)
        hits = index.tree.query_nearest(shapely.points(x, y), max_distance=max_snap)[0]
        near = np.zeros(count, bool)
        near[hits] = True
        for i in np.flatnonzero(near)[: count - len(points)]:
            points.append((f"p{len(points)}", float(lon[i]), float(lat[i])))
    return points


def road_kinds(graph: nx.MultiDiGraph, places: list[SnappedPlace]) -> Counter[str]:
    """Highway classes of the roads without stopping that ``places`` were put on."""
    kinds: Counter[str] = Counter()
    for place in places:
        data = graph.edges[place.edge]
        if not edge_allows_stop(data):
            highway = data["highway"]
            kinds["/".join(highway) if isinstance(highway, list) else str(highway)] += 1
    return kinds


def detour_ratios(
    graph: nx.MultiDiGraph, places: list[SnappedPlace], min_straight: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(road / straight distance per ordered pair, mask of the pairs that count)."""
    matrix = travel_matrix(graph, places).matrix
    lon = np.array([p.lon for p in places])
    lat = np.array([p.lat for p in places])
    straight = great_circle_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    road = matrix.distances.astype(np.float64)
    counted = (straight >= min_straight) & (road >= 0)
    return np.where(counted, road / np.maximum(straight, 1.0), 0.0), counted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--pbf", type=Path, default=DEFAULT_PBF)
    parser.add_argument("--places", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-snap", type=float, default=500.0, help="metres")
    parser.add_argument("--min-straight", type=float, default=500.0, help="metres")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    network = load_osm_file(args.pbf)
    graph = network.graph
    anywhere = graph.copy()
    nx.set_edge_attributes(anywhere, True, STOPPABLE)
    settings = SnapSettings(max_snap_distance_m=args.max_snap)
    points = random_points(network, args.places, args.seed, args.max_snap)
    print(
        f"{args.pbf.name}: {network.node_count:,} nodes / {network.edge_count:,} edges; "
        f"{len(points)} random places (seed {args.seed}) within {args.max_snap:g} m of a road"
    )

    before_all = snap_places(anywhere, points, settings)
    try:
        after = snap_places(network, points, settings)
        rejected: dict[str, str] = {}
    except SnapError as error:
        rejected = error.problems
        after = snap_places(network, [p for p in points if p[0] not in rejected], settings)
    on_no_stop = {p.id for p in before_all if not edge_allows_stop(graph.edges[p.edge])}
    # the detours compare the same places: those both modes could snap
    before = [p for p in before_all if p.id not in rejected]

    rows = []
    modes = (("any road", anywhere, before_all, before), ("stoppable", graph, after, after))
    for name, mode_graph, snapped, places in modes:
        kinds = road_kinds(graph, snapped)
        dist = np.array([p.snap_distance for p in snapped])
        ratio, counted = detour_ratios(mode_graph, places, args.min_straight)
        touched = np.array([p.id in on_no_stop for p in places])
        around = counted & (touched[:, None] | touched[None, :])
        rows.append(
            (
                name,
                f"{len(snapped)}",
                f"{sum(kinds.values())}",
                ", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "-",
                f"{np.median(dist):.0f} / {dist.max():.0f}",
                f"{ratio[counted].max():.1f}",
                f"{np.percentile(ratio[counted], 99):.2f}",
                int(np.count_nonzero(ratio[counted] > 5)),
                f"{ratio[around].max():.1f}" if around.any() else "-",
            )
        )
    print(f"places without a road to stop on within {args.max_snap:g} m: {len(rejected)}")
    for key, message in rejected.items():
        print(f"  {key}: {message}")
    print(
        f"detour ratios over ordered pairs >= {args.min_straight:g} m apart between the "
        f"{len(after)} places both modes snap; 'those places': put on a road without stopping "
        "when snapped onto any road\n"
    )
    print(
        "| snapping | snapped | on roads without stopping | which | snap m median / max "
        "| max detour | p99 detour | pairs > 5x | max detour, pairs with those places |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
