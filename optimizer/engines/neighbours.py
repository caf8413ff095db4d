"""PyVRP's granular neighbourhoods, computed in chunks that can be stopped.

PyVRP's own ``pyvrp.search.compute_neighbours`` is one C++ call that cannot be interrupted: on
the 3,000 clients of a 1,000-visit week it takes about a second on a quiet machine and three
at load 5, and a stop that arrives meanwhile waits for it (``benchmarks/RESULTS.md``, issue 19).
:func:`granular_neighbours` computes the same kind of neighbourhood with numpy, a block of rows
at a time, and asks ``should_stop`` between blocks.

The proximity of client ``j`` to client ``i`` is the one PyVRP's ``NeighbourhoodParams``
describes: the cheapest edge cost from ``i`` to ``j`` over the vehicle types (unit distance
and duration costs on the type's profile) plus ``weight_wait_time`` times the least wait of
visiting ``j`` right after ``i`` (``j``'s window opening minus ``i``'s closing, ``i``'s service
and the shortest travel); with ``symmetric_proximity`` the smaller of the two directions.
Clients of one mutually exclusive group (the days of one visit) come last in each other's
lists; ties go to the lower client index. Each client keeps its ``num_neighbours`` nearest.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyvrp
from pyvrp.search import NeighbourhoodParams

Neighbours = dict[pyvrp.Activity, list[pyvrp.Activity]]

CHUNK_CELLS = 1_000_000
"""Client pairs per block between two looks at the stop (a few milliseconds of numpy each)."""

TIME_WARP_WEIGHT = 1.0
"""The weight of the least time warp of visiting one client right after another (PyVRP's, fixed
there too)."""

_SAME_GROUP = np.finfo(np.float64).max
"""The proximity of two clients of one mutually exclusive group: after every other client."""


def granular_neighbours(
    data: pyvrp.ProblemData,
    params: NeighbourhoodParams,
    should_stop: Callable[[], bool] = lambda: False,
) -> Neighbours | None:
    """Every client's nearest clients as PyVRP's ``LocalSearch`` takes them (see the module
    docstring), or None when ``should_stop()`` turns true before they are all computed."""
    n = data.num_clients
    clients = data.clients()
    location = np.fromiter((c.location for c in clients), dtype=np.int64, count=n)
    early = np.fromiter((c.tw_early for c in clients), dtype=np.float64, count=n)
    late = np.fromiter((c.tw_late for c in clients), dtype=np.float64, count=n)
    service = np.fromiter((c.service_duration for c in clients), dtype=np.float64, count=n)
    group = np.full(n, -1, dtype=np.int64)
    for g, members in enumerate(data.groups()):
        if members.mutually_exclusive:
            group[np.asarray(members.clients, dtype=np.int64)] = g
    costs = sorted(
        {(t.unit_distance_cost, t.unit_duration_cost, t.profile) for t in data.vehicle_types()}
    )
    profiles = sorted({t.profile for t in data.vehicle_types()})
    distances = {p: data.distance_matrix(p) for p in profiles}
    durations = {p: data.duration_matrix(p) for p in profiles}

    def edge_and_travel(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cheapest edge cost over the vehicle types and the shortest travel over the
        profiles, from the locations ``rows`` to ``cols`` (a block, never the whole matrix)."""
        block = np.ix_(rows, cols)
        edge: np.ndarray | None = None
        for dist_cost, dur_cost, profile in costs:
            here = dist_cost * distances[profile][block].astype(np.float64)
            if dur_cost:
                here += dur_cost * durations[profile][block]
            edge = here if edge is None else np.minimum(edge, here, out=edge)
        travel: np.ndarray | None = None
        for profile in profiles:
            here = durations[profile][block].astype(np.float64)
            travel = here if travel is None else np.minimum(travel, here, out=travel)
        assert edge is not None and travel is not None
        return edge, travel

    k = min(params.num_neighbours, n - 1)
    activities = [pyvrp.Activity(pyvrp.ActivityType.CLIENT, i) for i in range(n)]
    out: Neighbours = {}
    rows = max(1, CHUNK_CELLS // max(n, 1))
    weight = params.weight_wait_time
    for a in range(0, n, rows):
        b = min(a + rows, n)
        here, there = location[a:b], location
        # From i (rows) to j (columns), and back.
        ahead, travel = edge_and_travel(here, there)
        ahead += weight * np.maximum(
            early[None, :] - travel - service[a:b, None] - late[a:b, None], 0.0
        )
        ahead += TIME_WARP_WEIGHT * np.maximum(
            early[a:b, None] + service[a:b, None] + travel - late[None, :], 0.0
        )
        if params.symmetric_proximity:
            back, travel = edge_and_travel(there, here)
            back, travel = back.T, travel.T
            back += weight * np.maximum(
                early[a:b, None] - travel - service[None, :] - late[None, :], 0.0
            )
            back += TIME_WARP_WEIGHT * np.maximum(
                early[None, :] + service[None, :] + travel - late[a:b, None], 0.0
            )
            np.minimum(ahead, back, out=ahead)
        same = (group[a:b, None] >= 0) & (group[a:b, None] == group[None, :])
        ahead[same] = _SAME_GROUP
        ahead[np.arange(b - a), np.arange(a, b)] = np.inf  # not its own neighbour
        if k > 0:
            near = np.argpartition(ahead, k - 1, axis=1)[:, :k]
            # The k nearest in order, ties to the lower index (as a stable sort of the row).
            key = np.take_along_axis(ahead, near, axis=1)
            order = np.lexsort((near, key), axis=1)
            near = np.take_along_axis(near, order, axis=1)
        else:
            near = np.empty((b - a, 0), dtype=np.int64)
        for i, row in zip(range(a, b), near.tolist(), strict=True):
            out[activities[i]] = [activities[j] for j in row]
        if b < n and should_stop():
            return None
    return out
