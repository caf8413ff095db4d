"""The pass after the search that serves more left-out visits (optimizer.ejection): insertion,
and a must visit taking the place of an optional one; every plan checked by the checker."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from optimizer.checker import check_plan
from optimizer.domain import HOUR, MINUTE, Problem
from optimizer.ejection import serve_more
from optimizer.search import Task, plan_objective
from optimizer.solve import ruin_reserve, solve
from tests.optimizer.conftest import (
    FAST,
    Tiny,
    assert_feasible,
    explicit_break_plan,
    plan_leaving_out,
    routed,
    served_ids,
)
from tests.optimizer.strategies import fitting_route, two_van_days

LATER = 60.0  # seconds: a deadline the pass never reaches on these problems


def _full_morning(tiny: Tiny) -> Problem:
    """Van A works 8:00-10:00 (no break needed); an optional 80-minute visit fills it, a must
    visit of 90 minutes is left out."""
    tiny.van("A").shift("A", 0, 8, 10)
    tiny.visit("opt", (1.0, 0.0), 80, priority=3)
    tiny.visit("must", (1.0, 1.0), 90, priority=1)
    return tiny.build()


def test_a_must_visit_takes_the_place_of_an_optional_one(tiny: Tiny) -> None:
    problem = _full_morning(tiny)
    shift = problem.shifts[0]
    before = [routed(problem, shift, ["opt"])]
    assert_feasible(problem, plan_leaving_out(problem, before, ["must"]))
    served = serve_more(problem, before, ["must"], time.monotonic() + LATER)
    assert served_ids(served.routes) == ["must"]
    assert served.dropped == ["opt"]
    assert_feasible(problem, plan_leaving_out(problem, served.routes, served.dropped))
    task = Task(problem)
    expected = plan_objective(task, served.routes, served.dropped) - plan_objective(
        task, before, ["must"]
    )
    assert served.delta == pytest.approx(expected)
    assert served.delta < -99_000


def test_a_left_out_visit_goes_where_the_route_still_fits_its_break(tiny: Tiny) -> None:
    # An 8:00-16:30 day under the statutory rule: five hours of visits, a sixth visit of two
    # hours left out fits only with the break placed (over six hours of work).
    tiny.van("A").shift("A", 0, 8, 16.5)
    for i in range(5):
        tiny.visit(f"v{i}", (1.0 + 0.5 * i, 0.0), 60)
    tiny.visit("late", (3.0, 1.0), 120)
    problem = tiny.build()
    before = [routed(problem, problem.shifts[0], [f"v{i}" for i in range(5)])]
    served = serve_more(problem, before, ["late"], time.monotonic() + LATER)
    assert served.dropped == []
    assert sorted(served_ids(served.routes)) == sorted(v.id for v in problem.visits)
    (route,) = served.routes
    assert route.working_time > 6 * HOUR and route.break_time >= 30 * MINUTE
    assert_feasible(problem, plan_leaving_out(problem, served.routes, []))
    assert served.delta < 0


def test_a_stop_moves_to_another_van_to_make_room(tiny: Tiny) -> None:
    # Van A (8:00-10:00) serves must visit x (60 minutes); must visit v (100 minutes) fits
    # nowhere as it stands, and B (8:00-9:15) is too short for it but not for x.
    tiny.van("A").van("B").shift("A", 0, 8, 10).shift("B", 0, 8, 9.25)
    tiny.visit("x", (0.5, 0.0), 60, priority=1)
    tiny.visit("v", (0.0, 0.5), 100, priority=1)
    problem = tiny.build()
    before = [routed(problem, problem.shifts[0], ["x"])]
    served = serve_more(problem, before, ["v"], time.monotonic() + LATER)
    assert served.dropped == []
    assert {(r.van_id, s.visit_id) for r in served.routes for s in r.stops} == {
        ("A", "v"),
        ("B", "x"),
    }
    assert_feasible(problem, plan_leaving_out(problem, served.routes, []))
    task = Task(problem)
    expected = plan_objective(task, served.routes, []) - plan_objective(task, before, ["v"])
    assert served.delta == pytest.approx(expected)


def test_a_must_visit_never_ejects_another_must_visit(tiny: Tiny) -> None:
    tiny.van("A").shift("A", 0, 8, 10)
    tiny.visit("first", (1.0, 0.0), 80, priority=1)
    tiny.visit("second", (1.0, 1.0), 90, priority=1)
    problem = tiny.build()
    before = [routed(problem, problem.shifts[0], ["first"])]
    served = serve_more(problem, before, ["second"], time.monotonic() + LATER)
    assert served.routes == before and served.dropped == ["second"] and served.delta == 0


def test_a_route_with_explicit_breaks_is_left_as_it_is(tiny: Tiny) -> None:
    # 8:00-10:00 with an explicit 10-minute break: the must visit (112 minutes and the drive)
    # would fit in place of the optional one only without that break; the pass, which places
    # only statutory breaks, does not touch the route.
    problem, plan = explicit_break_plan(tiny)
    served = serve_more(problem, plan.routes, ["must"], time.monotonic() + LATER)
    assert served.routes == list(plan.routes) and served.dropped == ["must"]
    assert served.delta == 0


def test_solve_serves_the_must_visit_a_search_left_for_an_optional_one(
    tiny: Tiny, caplog: pytest.LogCaptureFixture
) -> None:
    # A warm start from the plan serving the optional visit, ended at its first solution: the
    # pass after the search trades the optional visit for the must visit the morning has
    # room for, and the plan's objective says so.
    problem = _full_morning(tiny)
    start = plan_leaving_out(problem, [routed(problem, problem.shifts[0], ["opt"])], ["must"])
    with caplog.at_level(logging.INFO, logger="optimizer.solve"):
        plan = solve(problem, replace(FAST, solution_limit=1), initial=start)
    assert_feasible(problem, plan)
    assert "insertion and ejection after the search: 1 -> 1" in caplog.text
    assert served_ids(plan.routes) == ["must"]
    assert [u.visit_id for u in plan.unassigned] == ["opt"]
    assert plan.stats.objective == pytest.approx(
        plan_objective(Task(problem), list(plan.routes), ["opt"]), abs=0.01
    )
    assert plan.stats.strategy.endswith("+ ejection")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_van_days())
def test_the_pass_keeps_a_checked_plan_and_never_costs_more(
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
    assert_feasible(problem, plan_leaving_out(problem, routes, dropped))
    served = serve_more(problem, routes, dropped, time.monotonic() + LATER)
    after = served_ids(served.routes)
    assert sorted(after + served.dropped) == sorted(v.id for v in problem.visits)
    report = check_plan(problem, plan_leaving_out(problem, served.routes, served.dropped))
    assert report.ok, "\n".join(str(v) for v in report.violations)
    task = Task(problem)
    expected = plan_objective(task, served.routes, served.dropped) - plan_objective(
        task, routes, dropped
    )
    assert served.delta == pytest.approx(expected, abs=1e-6)
    assert served.delta <= 0
    musts = {v.id for v in problem.visits if v.is_must}
    assert len(musts - set(after)) <= len(musts - served_before)


def test_packing_from_empty_routes_serves_the_short_must_visits_first(tiny: Tiny) -> None:
    # 8:00-10:00: three must visits of 35 minutes fit, or the one of 110 minutes; the pass
    # from empty routes (solve's packed plan) serves the three.
    tiny.van("A").shift("A", 0, 8, 10)
    tiny.visit("long", (0.5, 0.0), 110, priority=1)
    for i in range(3):
        tiny.visit(f"short{i}", (0.0, 0.3 + 0.1 * i), 35, priority=1)
    problem = tiny.build()
    served = serve_more(problem, [], [v.id for v in problem.visits], time.monotonic() + LATER)
    assert sorted(served_ids(served.routes)) == ["short0", "short1", "short2"]
    assert served.dropped == ["long"]
    assert_feasible(problem, plan_leaving_out(problem, served.routes, served.dropped))
    task = Task(problem)
    assert served.delta == pytest.approx(
        plan_objective(task, served.routes, served.dropped)
        - plan_objective(task, [], [])
        - sum(problem.objective.penalty(v.priority) for v in problem.visits)
    )


def test_an_over_full_problem_keeps_time_for_the_pass(tiny: Tiny) -> None:
    tiny.van("A").shift("A", 0, 8, 10)
    tiny.visit("a", (0.5, 0.0), 60).visit("b", (0.0, 0.5), 60)
    full = tiny.build()  # two hours of visits in a two-hour shift
    limit = replace(FAST, solution_limit=None, time_limit=5.0)
    assert ruin_reserve(full, limit) == pytest.approx(1.5)
    assert ruin_reserve(full, replace(limit, time_limit=60.0)) == pytest.approx(10.0)
    assert ruin_reserve(full, FAST) == 0.0  # a solution limit: reproducible, no reserve
    roomy = replace(full, visits=full.visits[:1])
    assert ruin_reserve(roomy, limit) == 0.0  # PyVRP plans it: its search runs to the end
    # OR-Tools plans it under the statutory break rule: ruin and recreate gets its share
    assert ruin_reserve(roomy, limit, ortools_plans=True) == pytest.approx(1.5)
    explicit = replace(
        roomy, shifts=tuple(replace(s, breaks=()) for s in roomy.shifts)
    )  # explicit breaks: ruin and recreate leaves such routes alone
    assert ruin_reserve(explicit, limit, ortools_plans=True) == 0.0


def test_a_week_with_room_planned_by_or_tools_gets_ruin_and_recreate(
    tiny: Tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every visit fits, OR-Tools plans (statutory break rule): the search ends at 70 % of the
    limit and ruin and recreate runs until the limit on its plan, which stays valid."""
    import optimizer.solve as solve_module

    calls: list[tuple[int, float]] = []
    real = solve_module.improve

    def spy(problem, routes, dropped, deadline, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((sum(len(r.stops) for r in routes), deadline))
        return real(problem, routes, dropped, deadline, *args, **kwargs)

    monkeypatch.setattr(solve_module, "improve", spy)
    tiny.van("A", fixed_cost_per_day=50.0).shift("A", 0, 8, 17).shift("A", 1, 8, 17)
    for i in range(4):
        tiny.visit(f"v{i}", (0.1 * i, 0.05), 45, priority=1 + i % 2)
    problem = tiny.build()
    limit = replace(FAST, solution_limit=None, time_limit=2.0, engines="ortools")
    t0 = time.monotonic()
    plan = solve(problem, limit)
    assert len(calls) == 1
    stops, deadline = calls[0]
    assert stops == 4  # the search's plan, every visit served
    assert deadline == pytest.approx(t0 + 2.0, abs=0.5)  # until the limit, counted from the call
    assert not plan.unassigned
    assert_feasible(problem, plan)


def test_a_stop_leaves_the_plan_as_it_is(tiny: Tiny) -> None:
    problem = _full_morning(tiny)
    before = [routed(problem, problem.shifts[0], ["opt"])]
    served = serve_more(problem, before, ["must"], time.monotonic() + LATER, lambda: True)
    assert served.routes == before and served.dropped == ["must"] and served.delta == 0
