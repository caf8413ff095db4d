"""Tiny named instances for the model tests, built from a few planar coordinates.

Coordinates are kilometres on a plane; the matrix is Euclidean distance in metres and the travel
time at 50 km/h rounded up to whole seconds (so the triangle inequality holds up to rounding).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pytest

from optimizer.breaks import route_of, schedule
from optimizer.checker import check_plan
from optimizer.domain import (
    MINUTE,
    UNREACHABLE,
    Break,
    Horizon,
    Objective,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
)
from optimizer.plan import Plan, Reason, Route, SolverStats, Unassigned
from optimizer.settings import SolverSettings

MONDAY = date(2026, 3, 2)
SPEED_KMH = 50.0

# Deterministic, quick settings for the unit tests.
FAST = SolverSettings(time_limit=5.0, solution_limit=200, seed=0)


def euclid_matrix(
    points: dict[str, tuple[float, float]],
    unreachable: Iterable[tuple[str, str]] = (),
) -> TravelMatrix:
    ids = tuple(points)
    n = len(ids)
    dist = np.zeros((n, n), dtype=np.int64)
    dur = np.zeros((n, n), dtype=np.int64)
    for i, a in enumerate(ids):
        for j, b in enumerate(ids):
            (xa, ya), (xb, yb) = points[a], points[b]
            metres = math.hypot(xa - xb, ya - yb) * 1000.0
            dist[i, j] = round(metres)
            dur[i, j] = math.ceil(metres * 3.6 / SPEED_KMH)
    for a, b in unreachable:
        i, j = ids.index(a), ids.index(b)
        dist[i, j] = dur[i, j] = UNREACHABLE
    return TravelMatrix(ids, dur, dist, approximate=True)


@dataclass
class Tiny:
    """A small problem under construction. Times via :meth:`at` (day, hour, minute)."""

    points: dict[str, tuple[float, float]] = field(default_factory=lambda: {"base": (0.0, 0.0)})
    horizon: Horizon = field(default_factory=lambda: Horizon(MONDAY, 5))
    vans: list[Van] = field(default_factory=list)
    shifts: list[Shift] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    unreachable: list[tuple[str, str]] = field(default_factory=list)
    objective: Objective = field(default_factory=Objective)

    def at(self, day: int, hour: int, minute: int = 0) -> int:
        return self.horizon.at(day, hour, minute)

    def window(self, day: int, h0: float, h1: float) -> TimeWindow:
        return TimeWindow(
            self.at(day, int(h0), round((h0 % 1) * 60)), self.at(day, int(h1), round((h1 % 1) * 60))
        )

    def van(self, van_id: str, **kw: Any) -> Tiny:
        self.vans.append(Van(van_id, **kw))
        return self

    def shift(self, van_id: str, day: int, h0: float = 8, h1: float = 16, **kw: Any) -> Tiny:
        w = self.window(day, h0, h1)
        self.shifts.append(Shift(van_id, day, w.start, w.end, **kw))
        return self

    def visit(
        self, visit_id: str, xy: tuple[float, float], duration_min: float = 30, **kw: Any
    ) -> Tiny:
        loc = f"loc-{visit_id}"
        self.points[loc] = xy
        self.visits.append(Visit(visit_id, loc, round(duration_min * 60), **kw))
        return self

    def build(self) -> Problem:
        return Problem(
            horizon=self.horizon,
            vans=tuple(self.vans),
            shifts=tuple(self.shifts),
            visits=tuple(self.visits),
            matrix=euclid_matrix(self.points, self.unreachable),
            objective=self.objective,
        ).validate()


def assert_feasible(problem: Problem, plan: Plan) -> None:
    """Every solver test runs the independent checker."""
    report = check_plan(problem, plan)
    assert report.ok, "\n".join(str(v) for v in report.violations)


def solve_stopped_after(
    seconds: float, problem: Problem, settings: SolverSettings, **kwargs: Any
) -> tuple[Plan, float]:
    """``solve`` with a stop event set from another thread after ``seconds``: the plan and the
    wall time the solve took."""
    from optimizer.solve import solve

    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    t0 = time.monotonic()
    try:
        plan = solve(problem, settings, stop=stop, **kwargs)
    finally:
        timer.cancel()
    return plan, time.monotonic() - t0


def order(plan: Plan, van_id: str, day: int) -> list[str]:
    route = plan.route(van_id, day)
    return [] if route is None else [s.visit_id for s in route.stops]


@pytest.fixture
def tiny() -> Tiny:
    """An empty builder: one base at the origin, a Monday-to-Friday horizon."""
    return Tiny()


@pytest.fixture
def one_van_day(tiny: Tiny) -> Tiny:
    """One van, one 8:00-16:00 shift on Monday, no visits yet."""
    return tiny.van("A").shift("A", 0)


@pytest.fixture
def two_vans_week(tiny: Tiny) -> Tiny:
    """Vans A and B, each with 8:00-16:00 shifts Monday to Friday."""
    tiny.van("A").van("B")
    for day in range(5):
        tiny.shift("A", day).shift("B", day)
    return tiny


def routed(problem: Problem, shift: Shift, ids: Sequence[str]) -> Route:
    """The route of ``shift`` serving ``ids`` in this order, each in its first window (the
    statutory break placed as the rule needs)."""
    visits = [problem.visit(v) for v in ids]
    windows = [
        (
            max(shift.start, v.windows[0].start) if v.windows else shift.start,
            min(shift.end, v.windows[0].end) - v.duration if v.windows else shift.end - v.duration,
        )
        for v in visits
    ]
    timing = schedule(problem, shift, visits, windows)
    assert timing is not None
    return route_of(problem, shift, visits, timing)


def plan_leaving_out(problem: Problem, routes: Sequence[Route], dropped: Sequence[str]) -> Plan:
    """A plan of ``routes`` with ``dropped`` unassigned (no room), to hand to the checker."""
    unassigned = tuple(Unassigned(v, Reason.NO_ROOM, "left out") for v in dropped)
    return Plan(tuple(routes), unassigned, SolverStats("TEST", 0.0, 0.0))


def served_ids(routes: Sequence[Route]) -> list[str]:
    """The visits ``routes`` serve, route by route in stop order."""
    return [s.visit_id for r in routes for s in r.stops]


def explicit_break_plan(tiny: Tiny) -> tuple[Problem, Plan]:
    """One van 8:00-10:00 with an explicit 10-minute break at 9:30-10:00, an optional visit of
    an hour and a must visit of 112 minutes: the must visit would fit in place of the optional
    one only without that break. The problem and its solved plan (serving the optional one)."""
    from optimizer.solve import solve

    tiny.van("A")
    w = tiny.window(0, 9.5, 10)
    tiny.shift("A", 0, 8, 10, breaks=(Break(w.start, w.end, 10 * MINUTE),))
    tiny.visit("opt", (1.0, 0.0), 60, priority=3)
    tiny.visit("must", (1.0, 0.0), 112, priority=1)
    problem = tiny.build()
    plan = solve(problem, FAST)
    assert_feasible(problem, plan)
    assert served_ids(plan.routes) == ["opt"]
    return problem, plan


def packed_busy_week(seed: int, mixed_optional: bool) -> tuple[Problem, list[Route], list[str]]:
    """Two vans on two days and 24 visits of 40-110 minutes, some must, every fourth with a
    window (seeded): more than the days hold. Optional visits have priority 2, or 2 or 3 drawn
    at random with ``mixed_optional``. The plan: the insertion pass's from empty routes."""
    from optimizer.ejection import serve_more

    tiny = Tiny()
    rng = random.Random(seed)
    tiny.van("A").van("B")
    for day in range(2):
        tiny.shift("A", day, 8, 16.5).shift("B", day, 8, 14)
    for i in range(24):
        xy = (rng.randint(-8, 8) / 4, rng.randint(-8, 8) / 4)
        optional = rng.choice((2, 3)) if mixed_optional and i % 3 == 0 else 2
        priority = 1 if i % 3 else optional
        kw: dict[str, Any] = {}
        if i % 4 == 0:
            day, hour = rng.randint(0, 1), rng.randint(8, 13)
            kw["windows"] = (tiny.window(day, hour, hour + 3),)
        tiny.visit(f"v{i}", xy, rng.randint(4, 11) * 10, priority=priority, **kw)
    problem = tiny.build()
    later = time.monotonic() + 600.0
    packed = serve_more(problem, [], [v.id for v in problem.visits], later)
    return problem, list(packed.routes), list(packed.dropped)
