"""The plan packed from empty routes in several visit orders (optimizer.packing), and solve's
search warm started from it on an over-full problem; every plan checked by the checker."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace

import pytest

from optimizer.domain import Problem
from optimizer.ejection import serve_more
from optimizer.packing import orders, pack
from optimizer.plan import Plan, Reason, Unassigned
from optimizer.search import Progress, SearchResult, Task, plan_objective
from optimizer.solve import solve
from tests.optimizer.conftest import FAST, Tiny, assert_feasible

LATER = 60.0  # seconds: a deadline packing never reaches on these problems


def _over_full(tiny: Tiny, seed: int) -> Problem:
    """Two vans on two mornings (8:00-12:00) and 20 visits of 30-90 minutes, most of them must
    visits, some with a window or on one day only: more service time than the shifts hold."""
    rng = random.Random(seed)
    for van in ("A", "B"):
        tiny.van(van)
        for day in (0, 1):
            tiny.shift(van, day, 8, 12)
    for i in range(20):
        kw: dict[str, object] = {"priority": 1 if i % 4 else 3}
        if rng.random() < 0.4:
            day = rng.randrange(2)
            h0 = 8 + rng.randrange(3)
            kw["windows"] = (tiny.window(day, h0, h0 + 1.5 + rng.random()),)
        elif rng.random() < 0.3:
            kw["days"] = frozenset({rng.randrange(2)})
        xy = (rng.uniform(-3, 3), rng.uniform(-3, 3))
        tiny.visit(f"v{i}", xy, rng.choice((30, 45, 60, 75, 90)), **kw)
    return tiny.build()


def _plan(problem: Problem, result: SearchResult) -> Plan:
    unassigned = tuple(Unassigned(v, Reason.NO_ROOM, "left out") for v in result.dropped)
    return Plan(tuple(result.routes), unassigned, result.stats)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_packing_keeps_the_best_of_its_orders(seed: int) -> None:
    problem = _over_full(Tiny(), seed)
    task = Task(problem)
    ids = [v.id for v in problem.visits]
    objectives = {}
    for name, order in orders(problem, seed):
        served = serve_more(problem, [], ids, time.monotonic() + LATER, order=order)
        objectives[name] = plan_objective(task, served.routes, served.dropped)
    packed = pack(task, seed, None, None, time.monotonic() + LATER)
    assert packed is not None
    assert_feasible(problem, _plan(problem, packed))
    assert packed.dropped, "the problem is over-full"
    assert packed.stats.objective == pytest.approx(min(objectives.values()))
    assert packed.stats.objective == pytest.approx(
        plan_objective(task, packed.routes, packed.dropped)
    )
    best = min(objectives, key=objectives.__getitem__)
    assert packed.stats.strategy == f"packing, {best}"


def test_some_order_beats_the_shortest_first() -> None:
    # General rules differ on these problems: on at least one of them another order serves
    # the must visits better than the shortest first.
    better = 0
    for seed in range(4):
        problem = _over_full(Tiny(), seed)
        task = Task(problem)
        ids = [v.id for v in problem.visits]
        first, *rest = orders(problem, seed)
        results = [
            serve_more(problem, [], ids, time.monotonic() + LATER, order=order)
            for _, order in (first, *rest)
        ]
        costs = [plan_objective(task, s.routes, s.dropped) for s in results]
        better += min(costs[1:]) < costs[0] - 1e-6
    assert better > 0


def test_the_random_orders_follow_the_seed() -> None:
    problem = _over_full(Tiny(), 0)
    by_seed = [
        [
            sorted(problem.visits, key=order)
            for name, order in orders(problem, seed)
            if "random" in name
        ]
        for seed in (0, 0, 1)
    ]
    assert by_seed[0] == by_seed[1]
    assert by_seed[0] != by_seed[2]


def test_a_stop_before_packing_gives_no_plan() -> None:
    import threading

    problem = _over_full(Tiny(), 0)
    stop = threading.Event()
    stop.set()
    assert pack(Task(problem), 0, None, stop, time.monotonic() + LATER) is None


def test_solve_searches_from_the_packed_plan(caplog: pytest.LogCaptureFixture) -> None:
    # Over-full, one worker, no solution limit: the packed plan is the warm start, and the
    # plan solve returns is at least as good as the packed one.
    problem = _over_full(Tiny(), 1)
    settings = replace(FAST, solution_limit=None, time_limit=2.0)
    with caplog.at_level(logging.INFO, logger="optimizer"):
        plan = solve(problem, settings)
    assert_feasible(problem, plan)
    packed = pack(Task(problem), settings.seed, None, None, time.monotonic() + LATER)
    assert packed is not None
    assert plan.stats.objective <= packed.stats.objective + 1e-6
    assert plan.stats.engine in ("ortools", "packing")
    assert "warm start rejected" not in caplog.text


def test_a_stop_while_packing_keeps_the_packed_plan() -> None:
    # The stop comes with the first packed plan (from its progress report, not a timer): the
    # answer is that plan or a better one, marked STOPPED, never the greedy fallback.
    import threading

    problem = _over_full(Tiny(), 1)
    settings = replace(FAST, solution_limit=None, time_limit=30.0)
    stop = threading.Event()
    reports: list[float] = []

    def on_progress(progress: Progress) -> None:
        reports.append(progress.objective)
        stop.set()

    plan = solve(problem, settings, on_progress=on_progress, stop=stop)
    assert_feasible(problem, plan)
    assert plan.stats.status == "STOPPED"
    assert plan.stats.engine != "greedy"
    assert plan.stats.objective <= reports[0] + 1e-6


def test_a_stopped_packing_keeps_its_best_order() -> None:
    import threading

    problem = _over_full(Tiny(), 0)
    stop = threading.Event()
    packed = pack(Task(problem), 0, lambda _: stop.set(), stop, time.monotonic() + LATER)
    assert packed is not None and packed.routes
    assert packed.stats.status == "STOPPED"
    assert packed.stats.solutions == 1  # the first order only
