"""Many-to-many travel time (s) and distance (m) matrices between snapped places.

How it works: every snapped place becomes a virtual node that splits the directed edges it lies on
(both directions of a two-way road, one of a one-way road), with the edge's travel time and length
shared out in proportion to the position. So the partial edges at both ends of a trip, two places on
the same edge and one-way roads are all handled by the graph itself. On this augmented graph a
compiled (numba) Dijkstra runs from every place, the sources split over the CPU cores (numba
threads release the GIL). Each search carries the travel time *and* the length of the fastest path
(ties in time broken by the shorter length), so the distance matrix is the length along the fastest
path, exactly, not the shortest distance. A search stops once every place is settled.

Durations are rounded up to whole seconds, distances to the nearest metre; pairs without a path get
:data:`~optimizer.domain.UNREACHABLE` and are listed in :attr:`MatrixResult.unreachable`.

Graph arrays are built once per network (cached per graph object); matrices are cached per
(network, place set) in a :class:`MatrixCache` (in memory, optionally on disk).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from geo.errors import GeoError
from geo.snap import EdgeIndex, Network, SnappedPlace, edge_index, graph_of, network_is_approximate
from optimizer.domain import UNREACHABLE, TravelMatrix

if TYPE_CHECKING:
    import networkx as nx
    import numba

log = logging.getLogger(__name__)

_EPS = 1e-6  # seconds: float noise tolerated before rounding up
_KERNEL_LOCK = threading.Lock()
_AT_NODE_M = 0.01  # a place this close to an edge's end node stands on the node


class MatrixError(GeoError):
    """A matrix cannot be computed for the given places."""


# --------------------------------------------------------------------------------------------
# compiled kernels
#
# numba (with llvmlite and parts of scipy) takes about a third of a second to import, and most
# processes (a service on approximate travel times, a job worker, most CLI commands) never
# compute a road matrix. So each kernel is a plain function marked by ``_jit``; the first call
# of any kernel runs :func:`_numba`, which imports numba and replaces every kernel's
# module-level name by its numba dispatcher (callees first, so that a kernel calling another,
# and ``numba.prange``, resolve to numba's when numba compiles them).

_JIT_OPTIONS: dict[str, dict[str, bool]] = {}
_NUMBA_LOCK = threading.Lock()
_Func = TypeVar("_Func", bound=Callable[..., Any])


def _jit(**options: bool) -> Callable[[_Func], _Func]:
    """Mark a kernel for ``numba.njit(**options)``, applied by :func:`_numba` on first use."""

    def mark(func: _Func) -> _Func:
        name = func.__name__
        _JIT_OPTIONS[name] = options

        @functools.wraps(func)
        def first_call(*args: Any) -> Any:
            _numba()
            return globals()[name](*args)

        return cast(_Func, first_call)

    return mark


def _numba() -> ModuleType:
    """numba, imported once per process, with every kernel of this module wrapped in a numba
    dispatcher (each is compiled for its argument types on its first call, from numba's disk
    cache when it can)."""
    with _NUMBA_LOCK:
        module = globals()
        if "numba" not in module:
            import numba

            njit: Callable[..., Any] = numba.njit
            for name, options in _JIT_OPTIONS.items():  # in definition order: callees first
                module[name] = njit(**options)(module[name].__wrapped__)
            module["numba"] = numba  # last: it marks the kernels as wrapped
        found: ModuleType = module["numba"]
        return found


@_jit(cache=True, nogil=True)
def _dijkstra(
    indptr: NDArray[np.int64],
    head: NDArray[np.int64],
    w_time: NDArray[np.float64],
    w_len: NDArray[np.float64],
    source: int,
    target_of: NDArray[np.int64],
    n_targets: int,
    out_time: NDArray[np.float64],
    out_len: NDArray[np.float64],
    pred: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled
    """One search from ``source``; writes ``out_*[target_of[v]]`` for every target ``v`` reached
    and ``pred[v]`` (index of the edge entering ``v``, -1: none) when ``pred`` is non-empty.

    Labels are (time, length) compared lexicographically, so among equally fast paths the shorter
    wins; the lazy 4-ary heap holds (time, node) only. Stops when every target is settled."""
    n = indptr.shape[0] - 1
    dist_t = np.full(n, np.inf)
    dist_l = np.full(n, np.inf)
    done = np.zeros(n, np.bool_)
    cap = head.shape[0] + 1
    h_t = np.empty(cap)
    h_v = np.empty(cap, np.int64)
    want_pred = pred.shape[0] > 0
    dist_t[source] = 0.0
    dist_l[source] = 0.0
    h_t[0] = 0.0
    h_v[0] = source
    size = 1
    remaining = n_targets
    while size > 0:
        t = h_t[0]
        u = h_v[0]
        size -= 1
        if size > 0:  # sift the last entry down from the root (4 children per entry)
            lt = h_t[size]
            lv = h_v[size]
            i = 0
            while True:
                c = 4 * i + 1
                if c >= size:
                    break
                best = c
                bt = h_t[c]
                end = c + 4 if c + 4 < size else size
                for j in range(c + 1, end):
                    if h_t[j] < bt:
                        bt = h_t[j]
                        best = j
                if bt < lt:
                    h_t[i] = bt
                    h_v[i] = h_v[best]
                    i = best
                else:
                    break
            h_t[i] = lt
            h_v[i] = lv
        if done[u] or t > dist_t[u]:
            continue
        done[u] = True
        ln = dist_l[u]
        k = target_of[u]
        if k >= 0:
            out_time[k] = t
            out_len[k] = ln
            remaining -= 1
            if remaining == 0 and not want_pred:
                break
        for e in range(indptr[u], indptr[u + 1]):
            v = head[e]
            if done[v]:
                continue
            nt = t + w_time[e]
            dv = dist_t[v]
            if nt < dv or (nt == dv and ln + w_len[e] < dist_l[v]):
                dist_l[v] = ln + w_len[e]
                if want_pred:
                    pred[v] = e
                if nt == dv:
                    continue  # same time, shorter: the queued entry stays valid
                dist_t[v] = nt
                i = size  # sift up
                size += 1
                while i > 0:
                    p = (i - 1) >> 2
                    if nt < h_t[p]:
                        h_t[i] = h_t[p]
                        h_v[i] = h_v[p]
                        i = p
                    else:
                        break
                h_t[i] = nt
                h_v[i] = v


@_jit(cache=True, parallel=True)
def _many_to_many(
    indptr: NDArray[np.int64],
    head: NDArray[np.int64],
    w_time: NDArray[np.float64],
    w_len: NDArray[np.float64],
    sources: NDArray[np.int64],
    target_of: NDArray[np.int64],
    n_targets: int,
    out_t: NDArray[np.float64],
    out_l: NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """Fill rows ``out_*[i]`` (pre-set to inf) with searches from ``sources[i]``, in parallel."""
    m = sources.shape[0]
    no_pred = np.empty(0, np.int64)
    for i in numba.prange(m):
        _dijkstra(
            indptr,
            head,
            w_time,
            w_len,
            sources[i],
            target_of,
            n_targets,
            out_t[i],
            out_l[i],
            no_pred,
        )


# --------------------------------------------------------------------------------------------
# routing graph: the network plus one virtual node per place


@dataclass(frozen=True, eq=False)
class RoutingGraph:
    """The network's edges plus virtual place nodes, as CSR arrays.

    Nodes are the network's nodes (dead-end trees without places pruned) followed by one node
    per place (``place_nodes[i]`` for place ``i``). Edge ``j`` covers ``[f0[j], f1[j]]`` of
    network edge ``base[j]``.
    """

    index: EdgeIndex
    places: tuple[SnappedPlace, ...]
    place_nodes: NDArray[np.int64]  # graph node of each place
    indptr: NDArray[np.int64]
    head: NDArray[np.int64]
    tail: NDArray[np.int64]
    time: NDArray[np.float64]
    length: NDArray[np.float64]
    base: NDArray[np.int64]
    f0: NDArray[np.float64]
    f1: NDArray[np.float64]

    @property
    def n_nodes(self) -> int:
        return len(self.indptr) - 1

    def place_node(self, i: int) -> int:
        return int(self.place_nodes[i])

    def many_to_many(
        self, sources: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Float times (s) and lengths (m) from the given place indices (default: all) to every
        place; ``inf`` where there is no path."""
        p = len(self.places)
        src = np.arange(p, dtype=np.int64) if sources is None else np.asarray(sources, np.int64)
        target_of = np.full(self.n_nodes, -1, np.int64)
        target_of[self.place_nodes] = np.arange(p)
        out_t = np.full((len(src), p), np.inf)
        out_l = np.full((len(src), p), np.inf)
        _many_to_many(
            self.indptr,
            self.head,
            self.time,
            self.length,
            self.place_nodes[src],
            target_of,
            p,
            out_t,
            out_l,
        )
        return out_t, out_l

    def path(self, a: int, b: int) -> list[tuple[int, float, float]] | None:
        """The fastest path from place ``a`` to place ``b`` as ``(network edge, f0, f1)`` pieces
        (fractions along the edge), in driving order; ``[]`` when a and b coincide, None when
        there is no path."""
        source, target = self.place_node(a), self.place_node(b)
        target_of = np.full(self.n_nodes, -1, np.int64)
        target_of[target] = 0
        out_t = np.full(1, np.inf)
        out_l = np.full(1, np.inf)
        pred = np.full(self.n_nodes, -1, np.int64)
        _dijkstra(
            self.indptr, self.head, self.time, self.length, source, target_of, 1, out_t, out_l, pred
        )
        if not math.isfinite(out_t[0]):
            return None
        pieces: list[tuple[int, float, float]] = []
        v = target
        while v != source:
            e = int(pred[v])
            pieces.append((int(self.base[e]), float(self.f0[e]), float(self.f1[e])))
            v = int(self.tail[e])
        pieces.reverse()
        return pieces


def routing_graph(network: Network, places: Sequence[SnappedPlace]) -> RoutingGraph:
    """Build the :class:`RoutingGraph` of a network and a list of snapped places."""
    index = edge_index(network)
    n, m = index.n_nodes, index.n_edges
    rec_edge: list[int] = []
    rec_frac: list[float] = []
    rec_node: list[int] = []
    for i, place in enumerate(places):
        for pos in place.positions:
            if not 0 <= pos.edge < m or int(index.nodes[index.src[pos.edge]]) != pos.u:
                raise MatrixError(
                    f"place[{place.id}]: snapped on another network (edge {pos.edge} unknown)"
                )
            rec_edge.append(pos.edge)
            rec_frac.append(min(max(pos.fraction, 0.0), 1.0))
            rec_node.append(n + i)
    e_arr = np.array(rec_edge, np.int64)
    f_arr = np.array(rec_frac, np.float64)
    v_arr = np.array(rec_node, np.int64)
    order = np.lexsort((v_arr, f_arr, e_arr))
    e_arr, f_arr, v_arr = e_arr[order], f_arr[order], v_arr[order]
    first = np.ones(len(e_arr), bool)
    first[1:] = e_arr[1:] != e_arr[:-1]
    last = np.ones(len(e_arr), bool)
    last[:-1] = e_arr[1:] != e_arr[:-1]
    prev_node = np.where(first, index.src[e_arr], np.roll(v_arr, 1))
    prev_frac = np.where(first, 0.0, np.roll(f_arr, 1))
    # chain pieces: (previous place or start node) -> place; last place -> end node
    # network edges holding places are replaced by their chain of pieces
    whole = np.ones(m, bool)
    whole[e_arr] = False
    kept = np.flatnonzero(whole)
    tails = [index.src[kept], prev_node, v_arr[last]]
    heads = [index.dst[kept], v_arr, index.dst[e_arr[last]]]
    bases = [kept, e_arr, e_arr[last]]
    f0s = [np.zeros(len(kept)), prev_frac, f_arr[last]]
    f1s = [np.ones(len(kept)), f_arr, np.ones(int(last.sum()))]
    # Places at the very same position are one spot: link them back as well (zero cost).
    same = ~first & (f_arr == prev_frac)
    tails.append(v_arr[same])
    heads.append(prev_node[same])
    bases.append(e_arr[same])
    f0s.append(f_arr[same])
    f1s.append(f_arr[same])
    # A place at an end of its edge stands on that node: it is left and reached there at no
    # cost, so it may also leave by any other road from the start node and be reached by any
    # road into the end node (zero-cost links both ways; without the way back, the last
    # millimetres of the edge could round a trip up by a whole second).
    at_start = f_arr * index.length[e_arr] <= _AT_NODE_M
    at_end = (1.0 - f_arr) * index.length[e_arr] <= _AT_NODE_M
    start_nodes, end_nodes = index.src[e_arr[at_start]], index.dst[e_arr[at_end]]
    tails += [v_arr[at_start], start_nodes, end_nodes, v_arr[at_end]]
    heads += [start_nodes, v_arr[at_start], v_arr[at_end], end_nodes]
    bases += [e_arr[at_start], e_arr[at_start], e_arr[at_end], e_arr[at_end]]
    zeros, ones = np.zeros(int(at_start.sum())), np.ones(int(at_end.sum()))
    f0s += [zeros, zeros, ones, ones]
    f1s += [zeros, zeros, ones, ones]
    tail = np.concatenate(tails)
    head = np.concatenate(heads)
    base = np.concatenate(bases)
    f0 = np.concatenate(f0s)
    f1 = np.concatenate(f1s)
    span = f1 - f0
    time = index.time[base] * span
    length = index.length[base] * span
    # whole network edges keep their exact weights (no multiplication noise)
    time[: len(kept)] = index.time[kept]
    length[: len(kept)] = index.length[kept]
    total = n + len(places)
    keep_edge, keep_node = _prune_dead_ends(tail, head, total, n)
    # compact numbering of the nodes left; place nodes keep their order at the end
    new_of_old = np.cumsum(keep_node) - 1
    tail, head = new_of_old[tail[keep_edge]], new_of_old[head[keep_edge]]
    base, f0, f1 = base[keep_edge], f0[keep_edge], f1[keep_edge]
    time, length = time[keep_edge], length[keep_edge]
    total = int(keep_node.sum())
    order = np.argsort(tail, kind="stable")
    tail, head, base, f0, f1 = tail[order], head[order], base[order], f0[order], f1[order]
    time, length = time[order], length[order]
    indptr = np.zeros(total + 1, np.int64)
    np.cumsum(np.bincount(tail, minlength=total), out=indptr[1:])
    return RoutingGraph(
        index=index,
        places=tuple(places),
        place_nodes=new_of_old[n:],
        indptr=indptr,
        head=head,
        tail=tail,
        time=time,
        length=length,
        base=base,
        f0=f0,
        f1=f1,
    )


def _prune_dead_ends(
    tail: NDArray[np.int64], head: NDArray[np.int64], total: int, first_place: int
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Drop dead-end trees without places: a node whose only neighbour is one other node is never
    on a fastest path between two other nodes (travel times are positive), so such nodes are
    peeled off repeatedly. Place nodes (``>= first_place``) stay. Returns (edges, nodes) kept."""
    loop = tail == head
    a = np.minimum(tail[~loop], head[~loop])
    b = np.maximum(tail[~loop], head[~loop])
    pairs = np.unique(a * total + b)
    a, b = pairs // total, pairs % total
    ends = np.concatenate([a, b])
    others = np.concatenate([b, a])
    order = np.argsort(ends, kind="stable")
    indptr = np.zeros(total + 1, np.int64)
    np.cumsum(np.bincount(ends, minlength=total), out=indptr[1:])
    keep_node = _peel(indptr, others[order], first_place)
    keep_edge = ~loop & keep_node[tail] & keep_node[head]
    return keep_edge, keep_node


@_jit(cache=True)
def _peel(
    indptr: NDArray[np.int64], adj: NDArray[np.int64], first_place: int
) -> NDArray[np.bool_]:  # pragma: no cover - compiled
    """Nodes left after repeatedly removing unprotected nodes with at most one neighbour."""
    n = indptr.shape[0] - 1
    degree = indptr[1:] - indptr[:-1]
    keep = np.ones(n, np.bool_)
    stack = np.empty(n, np.int64)
    top = 0
    for v in range(first_place):
        if degree[v] <= 1:
            keep[v] = False
            stack[top] = v
            top += 1
    while top > 0:
        top -= 1
        v = stack[top]
        for j in range(indptr[v], indptr[v + 1]):
            w = adj[j]
            if keep[w]:
                degree[w] -= 1
                if degree[w] <= 1 and w < first_place:
                    keep[w] = False
                    stack[top] = w
                    top += 1
    return keep


# --------------------------------------------------------------------------------------------
# results and cache


@dataclass(frozen=True, eq=False)
class MatrixResult:
    """A travel matrix with the unreachable pairs listed (``(from id, to id)``)."""

    matrix: TravelMatrix
    unreachable: tuple[tuple[str, str], ...]

    @property
    def complete(self) -> bool:
        return not self.unreachable


def round_matrix(
    ids: Sequence[str],
    times: NDArray[np.float64],
    lengths: NDArray[np.float64],
    approximate: bool = False,
) -> MatrixResult:
    """Integer matrix from float seconds/metres: times rounded up, lengths to the nearest metre,
    ``inf`` -> :data:`UNREACHABLE`."""
    missing = ~np.isfinite(times)
    d = times - _EPS
    np.ceil(d, out=d)
    np.maximum(d, 0.0, out=d)
    d[missing] = UNREACHABLE
    dist = np.rint(lengths)
    dist[missing] = UNREACHABLE
    durations, distances = d.astype(np.int64), dist.astype(np.int64)
    rows, cols = np.nonzero(missing)
    unreachable = tuple((ids[int(r)], ids[int(c)]) for r, c in zip(rows, cols, strict=True))
    if unreachable:
        log.warning("%d place pairs have no road path, e.g. %s", len(unreachable), unreachable[0])
    matrix = TravelMatrix(
        locations=tuple(ids),
        durations=durations,
        distances=distances,
        approximate=approximate,
    )
    return MatrixResult(matrix=matrix, unreachable=unreachable)


def network_fingerprint(network: Network) -> str:
    """A stable hash of the network's nodes, edges and weights (for cache keys)."""
    index = edge_index(network)
    h = hashlib.sha256()
    for arr in (index.nodes, index.src, index.dst, index.time, index.length):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:24]


# Part of every cache key: bump it when the routing rules change the matrices computed.
_RULES_VERSION = "2"  # 2: places at a node are left and reached there at no cost, both ways


def _places_key(places: Sequence[SnappedPlace]) -> str:
    h = hashlib.sha256()
    h.update(f"rules {_RULES_VERSION}\n".encode())
    for p in places:
        h.update(p.id.encode())
        for pos in p.positions:
            h.update(f"|{pos.edge}:{pos.fraction:.12f}".encode())
        h.update(b"\n")
    return h.hexdigest()[:24]


class MatrixCache:
    """LRU cache of matrices per (network, place set), optionally mirrored in a directory."""

    def __init__(self, max_entries: int = 16, directory: Path | None = None) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self.directory = directory
        self._memory: OrderedDict[tuple[str, str], MatrixResult] = OrderedDict()
        self._fingerprints: weakref.WeakKeyDictionary[nx.MultiDiGraph, str] = (
            weakref.WeakKeyDictionary()
        )
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()  # API jobs may share a cache across threads

    def key(self, network: Network, places: Sequence[SnappedPlace]) -> tuple[str, str]:
        graph = graph_of(network)
        fp = self._fingerprints.get(graph)
        if fp is None:
            fp = network_fingerprint(network)
            self._fingerprints[graph] = fp
        return fp, _places_key(places)

    def get(self, key: tuple[str, str]) -> MatrixResult | None:
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return found
        if self.directory is not None:
            path = self.directory / f"{key[0]}-{key[1]}.npz"
            if path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as data:
                        ids = [str(x) for x in data["ids"]]
                        result = round_matrix(ids, data["times"], data["lengths"])
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("ignoring unreadable cached matrix %s: %s", path, exc)
                else:
                    self._remember(key, result)
                    self.hits += 1
                    return result
        self.misses += 1
        return None

    def put(
        self,
        key: tuple[str, str],
        result: MatrixResult,
        times: NDArray[np.float64],
        lengths: NDArray[np.float64],
    ) -> None:
        self._remember(key, result)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{key[0]}-{key[1]}.npz"
            tmp = path.with_suffix(".tmp.npz")
            ids = np.array(result.matrix.locations, dtype=str)
            np.savez_compressed(tmp, ids=ids, times=times, lengths=lengths)
            tmp.replace(path)

    def _remember(self, key: tuple[str, str], result: MatrixResult) -> None:
        with self._lock:
            self._memory[key] = result
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_entries:
                self._memory.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._memory.clear()


DEFAULT_CACHE = MatrixCache(max_entries=4)
"""In-memory cache used by :func:`travel_matrix` unless told otherwise (bounded LRU)."""


def travel_matrix(
    network: Network,
    places: Sequence[SnappedPlace],
    *,
    cache: MatrixCache | Literal["default"] | None = "default",
    threads: int | None = None,
) -> MatrixResult:
    """Travel time (s, rounded up) and distance (m) between every pair of snapped places.

    ``threads``: how many cores to use (default: all). ``cache``: where to look for a matrix
    computed before for the same network and place set: the process-wide
    :data:`DEFAULT_CACHE` (default), your own :class:`MatrixCache`, or None for no caching.
    """
    if cache == "default":
        cache = DEFAULT_CACHE
    if not places:
        raise MatrixError("places: at least one place is needed")
    ids = [p.id for p in places]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise MatrixError(f"places: duplicate place ids {dupes}")
    key = cache.key(network, places) if cache is not None else None
    if cache is not None and key is not None:
        found = cache.get(key)
        if found is not None:
            return found
    graph = routing_graph(network, places)
    # one parallel kernel at a time: numba's fallback "workqueue" layer is not thread-safe
    nb = _numba()
    with _KERNEL_LOCK:
        old_threads = nb.get_num_threads()
        if threads is not None:
            cores = int(getattr(nb.config, "NUMBA_NUM_THREADS", 1))
            nb.set_num_threads(max(1, min(threads, cores)))
        try:
            times, lengths = graph.many_to_many()
        finally:
            nb.set_num_threads(old_threads)
    result = round_matrix(ids, times, lengths, approximate=network_is_approximate(network))
    if cache is not None and key is not None:
        cache.put(key, result, times, lengths)
    return result
