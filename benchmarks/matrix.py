"""Benchmark: many-to-many travel matrices on the real Heidelberg extract.

Usage::

    python -m benchmarks.matrix [--places 1000] [--small 100] [--pbf PATH] [--seed 0]
                                [--network-type drive|drive_service]

Loads the van network from the shared extract, snaps N random places near roads and times, in the
same run, vanplan's matrix (numba Dijkstra on the place-augmented graph, all cores and one core)
against the peers: networkx per pair (the naive osmnx way, sampled and extrapolated), networkx
single-source (sampled, extrapolated), scipy.sparse.csgraph single-threaded and igraph (both
node-to-node, times only: they do not give the length along the fastest path). Peak memory is the
rise of the process' peak RSS during a method (``/proc/self/clear_refs``), with tracemalloc as
fallback. Prints one table and the ratios to vanplan; also checks vanplan against networkx.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.matrix import routing_graph, travel_matrix
from geo.network import load_osm_file
from geo.road_network import RoadNetwork
from geo.settings import NetworkSettings
from geo.snap import SnappedPlace, edge_index, snap_places

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PBF = (
    Path(os.environ.get("VANPLAN_SHARED_DIR", ROOT.parent / "shared"))
    / "data/osm/heidelberg.osm.pbf"
)


def _rss_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[tuple[float, float, float], Any]:
    """((best wall s, CPU s of that call, peak extra memory MiB), result of the last call)."""
    gc.collect()
    use_rss = _reset_peak()
    base = _rss_kib("VmRSS") or 0
    if not use_rss:
        tracemalloc.start()
    best = math.inf
    best_cpu = math.nan
    result: Any = None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, best_cpu = wall, cpu
    if use_rss:
        peak_mib = max(0, (_rss_kib("VmHWM") or base) - base) / 1024
    else:
        peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return (best, best_cpu, peak_mib), result


def random_places(network: RoadNetwork, count: int, seed: int) -> list[SnappedPlace]:
    index = edge_index(network)
    rng = np.random.default_rng(seed)
    # places are only snapped onto roads a van can stop on: start from those (a point beside a
    # motorway can be farther than the snap limit from any of them)
    edges = rng.choice(np.flatnonzero(index.stoppable), count)
    pts = shapely.line_interpolate_point(
        index.lines[edges], rng.uniform(0, 1, count), normalized=True
    )
    xy = shapely.get_coordinates(pts) + rng.normal(0, 20, (count, 2))  # up to ~60 m off the road
    lon, lat = index.to_lonlat.transform(xy[:, 0], xy[:, 1])
    return snap_places(network, [(f"p{i}", lon[i], lat[i]) for i in range(count)])


def node_csr(network: RoadNetwork) -> sp.csr_matrix:
    index = edge_index(network)
    n = index.n_nodes
    # parallel edges: keep the fastest (csr_matrix would add them up)
    order = np.lexsort((index.time, index.dst, index.src))
    src, dst, t = index.src[order], index.dst[order], index.time[order]
    keep = np.ones(len(src), bool)
    keep[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    return sp.csr_matrix((t[keep], (src[keep], dst[keep])), shape=(n, n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pbf", type=Path, default=DEFAULT_PBF)
    parser.add_argument("--places", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--network-type",
        choices=["drive", "drive_service"],
        default="drive",
        help="drive_service adds service roads (about twice the graph)",
    )
    parser.add_argument("--pair-sample", type=int, default=20)
    parser.add_argument("--source-sample", type=int, default=10)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    t0 = time.perf_counter()
    network = load_osm_file(args.pbf, settings=NetworkSettings(network_type=args.network_type))
    print(
        f"network: {network.node_count} nodes, {network.edge_count} edges, "
        f"loaded in {time.perf_counter() - t0:.1f} s (cores: {os.cpu_count()})"
    )
    graph = network.graph
    places = random_places(network, args.places, args.seed)
    index = edge_index(network)
    # node-to-node peers route between the node each place's edge leads to
    nodes = np.array([index.dst[p.positions[0].edge] for p in places])
    osm_nodes = [int(index.nodes[i]) for i in nodes]
    travel_matrix(network, places, cache=None)  # compile/load kernels, start threads
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average before timing: {load:.2f}")

    rows: list[tuple[str, str, tuple[float, float, float], str]] = []
    n, s = args.places, args.small

    def ours(k: int, threads: int | None) -> Callable[[], Any]:
        return lambda: travel_matrix(network, places[:k], threads=threads, cache=None)

    tm, big = measure(ours(n, None), repeat=3)
    rows.append(("vanplan (numba, all cores)", f"{n}x{n}", tm, "measured, best of 3"))
    tm, _ = measure(ours(n, 1), repeat=2)
    rows.append(("vanplan (numba, 1 core)", f"{n}x{n}", tm, "measured, best of 2"))
    tm, _ = measure(ours(s, None), repeat=5)
    rows.append(("vanplan (numba, all cores)", f"{s}x{s}", tm, "measured, best of 5"))

    csr = node_csr(network)
    tm, _ = measure(lambda: dijkstra(csr, indices=nodes)[:, nodes], repeat=2)
    rows.append(("scipy csgraph dijkstra (1 thread)", f"{n}x{n}", tm, "measured, times only"))
    tm, _ = measure(lambda: dijkstra(csr, indices=nodes[:s])[:, nodes[:s]], repeat=3)
    rows.append(("scipy csgraph dijkstra (1 thread)", f"{s}x{s}", tm, "measured, times only"))

    try:
        import igraph as ig
    except ImportError:
        print("igraph not installed: skipped")
    else:
        coo = csr.tocoo()
        g = ig.Graph(
            n=csr.shape[0],
            edges=list(zip(coo.row.tolist(), coo.col.tolist(), strict=True)),
            directed=True,
        )
        g.es["w"] = coo.data.tolist()
        src = nodes.tolist()
        targets = np.unique(nodes).tolist()  # igraph refuses duplicate targets
        targets_small = np.unique(nodes[:s]).tolist()
        tm, _ = measure(lambda: g.distances(source=src, target=targets, weights="w"), repeat=2)
        rows.append(("igraph distances", f"{n}x{n}", tm, "measured, times only"))
        tm, _ = measure(
            lambda: g.distances(source=src[:s], target=targets_small, weights="w"), repeat=3
        )
        rows.append(("igraph distances", f"{s}x{s}", tm, "measured, times only"))

    k = min(args.source_sample, n)
    tm, _ = measure(
        lambda: [
            nx.single_source_dijkstra_path_length(graph, osm_nodes[i], weight="travel_time")
            for i in range(k)
        ]
    )
    rows.append(
        (
            "networkx single-source",
            f"{n}x{n}",
            (tm[0] * n / k, tm[1] * n / k, tm[2]),
            f"extrapolated from {k} sources",
        )
    )

    rng = random.Random(args.seed)
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(args.pair_sample)]
    tm, _ = measure(
        lambda: [
            nx.shortest_path(graph, osm_nodes[i], osm_nodes[j], weight="travel_time")
            for i, j in pairs
        ]
    )
    rows.append(
        (
            "networkx per pair (naive osmnx)",
            f"{n}x{n}",
            (tm[0] * n * n / len(pairs), tm[1] * n * n / len(pairs), tm[2]),
            f"extrapolated from {len(pairs)} pairs",
        )
    )

    print()
    print(
        f"{'method':36} {'size':>10} {'wall s':>11} {'CPU s':>11} {'peak MiB':>9} "
        f"{'x vanplan':>10}  note"
    )
    ref = {r[1]: r[2][0] for r in rows if r[0].startswith("vanplan (numba, all")}
    for name, size, (wall, cpu, mem), note in rows:
        ratio = wall / ref[size] if size in ref else float("nan")
        print(f"{name:36} {size:>10} {wall:11.3f} {cpu:11.3f} {mem:9.1f} {ratio:10.1f}  {note}")
    print("(wall: best run; CPU: process CPU time of that run, all threads; x vanplan: wall ratio)")

    # correctness: vanplan against networkx (independent partial-edge formula) on sampled pairs
    m = big.matrix
    rg = routing_graph(network, places)
    print(
        f"routing graph: {rg.n_nodes} nodes (network: {index.n_nodes}, dead ends pruned, "
        f"+ {n} places), {len(rg.head)} edges"
    )
    ok = 0
    for i, j in pairs[:10]:
        a, b = places[i], places[j]
        best = math.inf
        for pa in a.positions:
            for pb in b.positions:
                ta = index.time[pa.edge]
                tb = index.time[pb.edge]
                if pa.edge == pb.edge and pa.fraction <= pb.fraction:
                    best = min(best, (pb.fraction - pa.fraction) * ta)
                d = nx.shortest_path_length(graph, pa.v, pb.u, weight="travel_time")
                best = min(best, (1 - pa.fraction) * ta + d + pb.fraction * tb)
        want = 0 if i == j else math.ceil(best - 1e-6)
        ok += int(m.durations[i, j] == want)
    print(
        f"\nvanplan equals networkx (to the second) on {ok}/{min(10, len(pairs))} sampled pairs; "
        f"unreachable pairs: {len(big.unreachable)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
