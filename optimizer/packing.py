"""A plan packed from empty routes for an over-full problem, in several visit orders.

The pass of :mod:`optimizer.ejection` from empty routes inserts the visits by penalty (must
visits first), each where it fits, or let in by moving or ejecting a stop of a lower penalty,
with the exact statutory break placement. Which must visits end up served depends on the
order it takes visits of the same penalty in, and no single order is best on every problem:
the orders of :func:`orders` are tried in turn until the deadline and the plan of the lowest
objective is kept.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace

from optimizer.domain import Problem, Visit
from optimizer.ejection import Order, serve_more, shortest
from optimizer.model import allowed_vehicles, vehicle_classes
from optimizer.plan import SolverStats
from optimizer.search import (
    Progress,
    ProgressCallback,
    SearchResult,
    Task,
    cancelled,
    plan_objective,
)

RANDOM_ORDERS = 2
"""Orders tried after the general rules: the shortest first, ties broken at random (seeded)."""


def orders(problem: Problem, seed: int) -> list[tuple[str, Order]]:
    """The visit orders to pack in, named, the most often best first: the shortest first, the
    fewest van-days allowed first, the tightest windows first, the longest first, then the
    shortest first with seeded random tie-breaks (visits of equal length)."""
    shifts = list(problem.shifts)
    classes = vehicle_classes(problem, shifts)
    allowed = {v.id: len(allowed_vehicles(problem, v, shifts, classes)) for v in problem.visits}
    horizon = max((s.end for s in shifts), default=0)

    def fewest_van_days(v: Visit) -> float:
        return allowed[v.id] * 1e6 + v.duration

    def tightest(v: Visit) -> float:
        width = sum(w.end - w.start for w in v.windows) if v.windows else horizon
        return width * 1e3 + v.duration

    def longest(v: Visit) -> float:
        return -v.duration

    out: list[tuple[str, Order]] = [
        ("shortest first", shortest),
        ("fewest van-days first", fewest_van_days),
        ("tightest windows first", tightest),
        ("longest first", longest),
    ]
    for i in range(RANDOM_ORDERS):
        rng = random.Random(seed * 1000 + i)
        noise = {v.id: rng.random() for v in problem.visits}
        out.append((f"shortest first, random ties {i}", _tie_broken(noise)))
    return out


def _tie_broken(noise: dict[str, float]) -> Order:
    def key(v: Visit) -> float:
        return v.duration + noise[v.id]

    return key


def pack(
    task: Task,
    seed: int,
    on_progress: ProgressCallback | None,
    stop: threading.Event | None,
    deadline: float,
) -> SearchResult | None:
    """The best of the plans packed in :func:`orders` before ``deadline``: the first order
    always (cut off at the deadline), each next one while the time left exceeds what the last
    took; None when none serves anything (also after a stop before the first order). After a
    stop the best plan packed so far is kept, with status ``STOPPED``."""
    problem = task.problem
    modelled = [v.id for v in problem.visits if v.id not in task.excluded]

    def should_stop() -> bool:
        return cancelled(stop)

    best: SearchResult | None = None
    took = 0.0
    for tried, (name, order) in enumerate(orders(problem, seed), 1):
        started = time.monotonic()
        if cancelled(stop) or (tried > 1 and started + took > deadline):
            break
        served = serve_more(problem, [], modelled, deadline, should_stop, order)
        took = time.monotonic() - started
        if not served.routes:
            continue
        objective = plan_objective(task, served.routes, served.dropped)
        if best is not None and objective >= best.stats.objective:
            continue
        wall = time.monotonic() - task.t0
        stats = SolverStats("SUCCESS", objective, wall, tried, 1, f"packing, {name}", "packing")
        best = SearchResult(served.routes, served.dropped, dict(task.excluded), stats)
        if on_progress is not None:
            on_progress(Progress(objective, tried, wall))
    if best is not None and cancelled(stop):
        best = replace(best, stats=replace(best.stats, status="STOPPED"))
    return best
