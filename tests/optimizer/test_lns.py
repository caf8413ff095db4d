"""Ruin and recreate after the search (optimizer.lns): it serves must visits the insertion and
ejection pass cannot, keeps the best plan when stopped, and every plan passes the checker."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings

from optimizer.breaks import schedule
from optimizer.checker import check_plan
from optimizer.domain import Problem
from optimizer.ejection import Pass, Served, serve_more
from optimizer.lns import improve
from optimizer.plan import Route
from optimizer.search import Task, plan_objective
from tests.optimizer.conftest import (
    Tiny,
    assert_feasible,
    explicit_break_plan,
    packed_busy_week,
    plan_leaving_out,
    routed,
    served_ids,
)
from tests.optimizer.strategies import fitting_route, two_van_days

LATER = 600.0  # seconds: a deadline these runs never reach (they end after their iterations)


def _checked(problem: Problem, served: Served, routes: Sequence[Route], dropped: list[str]) -> None:
    """The plan after the search passes the checker, accounts for every visit once and its
    ``delta`` is the change of the objective."""
    report = check_plan(problem, plan_leaving_out(problem, served.routes, served.dropped))
    assert report.ok, "\n".join(str(v) for v in report.violations)
    assert sorted(served_ids(served.routes) + served.dropped) == sorted(
        served_ids(routes) + list(dropped)
    )
    task = Task(problem)
    expected = plan_objective(task, list(served.routes), served.dropped) - plan_objective(
        task, list(routes), dropped
    )
    assert served.delta == pytest.approx(expected, abs=1e-6)


def _long_morning(tiny: Tiny) -> tuple[Problem, list[Route], list[str]]:
    """Van A works 8:00-10:00 and serves a must visit of 110 minutes; two must visits of 50
    minutes, which would fit together in its place, are left out."""
    tiny.van("A").shift("A", 0, 8, 10)
    tiny.visit("long", (0.5, 0.0), 110, priority=1)
    tiny.visit("short0", (0.0, 0.3), 50, priority=1)
    tiny.visit("short1", (0.0, 0.4), 50, priority=1)
    problem = tiny.build()
    routes = [routed(problem, problem.shifts[0], ["long"])]
    dropped = ["short0", "short1"]
    assert_feasible(problem, plan_leaving_out(problem, routes, dropped))
    return problem, routes, dropped


def test_ruin_and_recreate_serves_a_must_visit_the_ejection_pass_cannot(tiny: Tiny) -> None:
    problem, routes, dropped = _long_morning(tiny)
    # A must visit never ejects another: the pass leaves the plan as it is.
    assert serve_more(problem, routes, dropped, time.monotonic() + LATER).delta == 0
    served = improve(problem, routes, dropped, time.monotonic() + LATER, iterations=10)
    assert sorted(served_ids(served.routes)) == ["short0", "short1"]
    assert served.dropped == ["long"]
    assert served.delta < -99_000
    _checked(problem, served, routes, dropped)


def _busy_week() -> tuple[Problem, list[Route], list[str]]:
    return packed_busy_week(5, mixed_optional=True)


def test_the_same_seed_gives_the_same_plan() -> None:
    problem, routes, dropped = _busy_week()
    runs = [
        improve(problem, routes, dropped, time.monotonic() + LATER, seed=seed, iterations=30)
        for seed in (3, 3)
    ]
    assert runs[0] == runs[1]
    for served in runs:
        _checked(problem, served, routes, dropped)


def test_a_stop_keeps_the_best_plan_found(tiny: Tiny) -> None:
    problem, routes, dropped = _long_morning(tiny)
    calls = 0

    def stop_later() -> bool:
        nonlocal calls
        calls += 1
        return calls > 300

    served = improve(problem, routes, dropped, time.monotonic() + LATER, stop_later)
    assert calls > 300  # it ran until the stop, not to an iteration count
    assert served.dropped == ["long"]
    _checked(problem, served, routes, dropped)


def test_a_stop_or_a_past_deadline_returns_the_plan_as_it_was() -> None:
    problem, routes, dropped = _busy_week()
    for served in (
        improve(problem, routes, dropped, time.monotonic() + LATER, lambda: True),
        improve(problem, routes, dropped, time.monotonic() - 1.0),
    ):
        assert served == Served(list(routes), list(dropped), 0.0)


def test_a_route_with_explicit_breaks_is_left_as_it_is(tiny: Tiny) -> None:
    # 8:00-10:00 with an explicit 10-minute break at 9:30-10:00: the must visit would fit in
    # place of the optional one only without that break; only statutory breaks are placed
    # here, so the route stays.
    problem, plan = explicit_break_plan(tiny)
    served = improve(problem, plan.routes, ["must"], time.monotonic() + LATER, iterations=10)
    assert served == Served(list(plan.routes), ["must"], 0.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_van_days())
def test_ruin_and_recreate_keeps_a_checked_plan_and_never_costs_more(
    case: tuple[Problem, list[list[int]]],
) -> None:
    problem, split = case
    routes = [
        r
        for shift, indices in zip(problem.shifts, split, strict=True)
        if (r := fitting_route(problem, shift, indices)) is not None
    ]
    served_before = set(served_ids(routes))
    dropped = [v.id for v in problem.visits if v.id not in served_before]
    served = improve(problem, routes, dropped, time.monotonic() + LATER, iterations=15)
    _checked(problem, served, routes, dropped)
    assert served.delta <= 0
    musts = {v.id for v in problem.visits if v.is_must}
    assert len(musts & set(served.dropped)) <= len(musts & set(dropped))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_van_days())
def test_the_quick_insertion_test_keeps_every_insertion_the_exact_schedule_allows(
    case: tuple[Problem, list[list[int]]],
) -> None:
    """The slack test of ``Pass.insertions`` (with a line's places, slack and cost kept per
    change) passes every insertion :func:`optimizer.breaks.schedule` finds a timing for, and
    answers as the same test on a fresh copy of the line does, before and after a change."""
    problem, split = case
    routes = [
        r
        for shift, indices in zip(problem.shifts, split, strict=True)
        if (r := fitting_route(problem, shift, indices)) is not None
    ]
    served = set(served_ids(routes))
    work = Pass(problem, routes, time.monotonic() + LATER, lambda: False)
    left = [v for v in problem.visits if v.id not in served]
    for _ in range(2):
        for line in work.lines:
            copy, copy_w = list(line.visits), list(line.windows)
            assert work.route_cost(line, line.visits) == pytest.approx(work.route_cost(line, copy))
            for visit in left:
                kept = work.insertions(visit, line, line.visits, line.windows)
                assert kept == work.insertions(visit, line, copy, copy_w)
                found = {(tuple(v.id for v in vs), tuple(ws)) for _, vs, ws in kept}
                for lo, hi in work.ranges(visit, line):
                    for pos in range(len(copy) + 1):
                        vs = [*copy[:pos], visit, *copy[pos:]]
                        ws = [*copy_w[:pos], (lo, hi), *copy_w[pos:]]
                        if schedule(problem, line.shift, vs, ws) is not None:
                            assert (tuple(v.id for v in vs), tuple(ws)) in found
        for line in work.lines:  # a change: the first stop out, the facts made afresh
            if line.visits:
                left.append(line.visits[0])
                assert work.take_out(line, {0})


def test_ruin_and_recreate_gathers_the_stops_of_a_plan_that_serves_every_visit(
    tiny: Tiny,
) -> None:
    """No visit is left out, but two van-days serve one visit each where one would serve both:
    ruin and recreate saves the van-day's fixed cost (the solve gives it a share of the time
    after an OR-Tools search on a week with room, see test_ejection)."""
    tiny.van("A", fixed_cost_per_day=100.0)
    tiny.shift("A", 0, 8, 12).shift("A", 1, 8, 12)
    tiny.visit("a", (0.1, 0.0), 60, priority=1).visit("b", (0.0, 0.1), 60, priority=2)
    problem = tiny.build()
    routes = [
        routed(problem, problem.shifts[0], ["a"]),
        routed(problem, problem.shifts[1], ["b"]),
    ]
    served = improve(problem, routes, [], time.monotonic() + LATER, iterations=20)
    assert served.dropped == []
    assert len([r for r in served.routes if r.stops]) == 1
    assert served.delta < -99.0  # the fixed cost of a van-day, less the longer route
    _checked(problem, served, routes, [])
