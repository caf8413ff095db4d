"""Planning day by day (optimizer.decompose): the greedy plan improved one day at a time.

The solves are forced into the day-by-day path by ``SolverSettings.decompose = "always"`` (the
size rule is tested on its own with an injected clock) and bounded by a solution limit (PyVRP's
iterations), so no test depends on the wall clock."""

from __future__ import annotations

import random
import threading
from dataclasses import replace

import pytest

from optimizer.budget import Budget
from optimizer.decompose import (
    MUST_PRIZE_CAP,
    all_optional,
    day_by_day_reason,
    day_candidates,
    day_problem,
    open_days,
    warm_start,
)
from optimizer.domain import Problem
from optimizer.engines.pyvrp_model import PyvrpMapping, express
from optimizer.errors import ValidationError
from optimizer.model import COST_SCALE
from optimizer.plan import Plan
from optimizer.search import Progress, Task, plan_objective
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.optimizer.conftest import Tiny, assert_feasible

BY_DAY = SolverSettings(time_limit=60.0, solution_limit=1, seed=0, decompose="always")
"""Day by day, PyVRP bounded by iterations (1,000 a day): reproducible, no timed outcome."""


def _busy_week(visits: int = 60, seed: int = 5) -> Problem:
    """Two vans on three 8-17 h days under the statutory break rule, more visits than the
    greedy plan's break-free routes serve: a third with a two-hour window on one day, a fifth
    optional."""
    rng = random.Random(seed)
    t = Tiny().van("A").van("B")
    t.horizon = replace(t.horizon, days=3)
    for day in range(3):
        t.shift("A", day, 8, 17).shift("B", day, 8, 17)
    for i in range(visits):
        kw: dict[str, object] = {"priority": 2 if i % 5 == 0 else 1}
        if i % 3 == 0:
            day, hour = rng.randrange(3), rng.randint(8, 14)
            kw["windows"] = (t.window(day, hour, hour + 2),)
        t.visit(f"c{i:02d}", (rng.uniform(-12, 12), rng.uniform(-12, 12)), 40, **kw)
    return t.build()


def _greedy(problem: Problem, settings: SolverSettings) -> tuple[Task, Plan]:
    task = Task.of(problem).with_greedy(settings, None)
    assert task.greedy is not None
    return task, Plan(tuple(task.greedy.routes), (), task.greedy.stats)


def _musts(problem: Problem, plan: Plan) -> int:
    return sum(problem.visit(v).is_must for v in plan.assigned)


def test_a_day_by_day_plan_passes_the_checker_and_beats_the_greedy_plan() -> None:
    problem = _busy_week()
    task, greedy = _greedy(problem, BY_DAY)
    assert task.greedy is not None and task.greedy.dropped, "the greedy plan must leave visits out"
    plan = solve(problem, BY_DAY)
    assert_feasible(problem, plan)
    assert plan.stats.engine == "pyvrp-days"
    assert _musts(problem, plan) >= _musts(problem, greedy)
    assert len(plan.assigned) > len(greedy.assigned)
    assert plan.stats.objective <= task.greedy.stats.objective
    dropped = [u.visit_id for u in plan.unassigned]
    assert plan.stats.objective == pytest.approx(plan_objective(task, list(plan.routes), dropped))
    assert any(w.startswith("Planned day by day") for w in plan.warnings)
    # Some improved day needed its statutory break, placed after PyVRP's search.
    assert any(r.breaks for r in plan.routes)


def test_a_stop_keeps_the_days_improved_so_far() -> None:
    problem = _busy_week()
    stop = threading.Event()
    heard: list[Progress] = []

    def progress(p: Progress) -> None:  # the first improved day stops the rest
        heard.append(p)
        stop.set()

    plan = solve(problem, BY_DAY, stop=stop, on_progress=progress)
    assert_feasible(problem, plan)
    assert len(heard) == 1
    assert plan.stats.status == "STOPPED"
    assert plan.stats.strategy.endswith("(1 of 3 days improved)")
    assert any(w.startswith("Planned day by day") for w in plan.warnings)


def test_a_stop_before_the_days_leaves_the_greedy_plan() -> None:
    from optimizer.decompose import plan_by_day

    problem = _busy_week()
    task, greedy = _greedy(problem, BY_DAY)
    stop = threading.Event()
    stop.set()
    result = plan_by_day(task, BY_DAY, deadline=float("inf"), stop=stop)
    assert result.stats.status == "GREEDY" and result.stats.engine == "greedy"
    assert result.routes == list(greedy.routes)


def test_open_days_follow_windows_and_allowed_days() -> None:
    t = Tiny().van("A")
    for day in range(3):
        t.shift("A", day, 8, 17)
    t.visit("free", (1, 1))
    t.visit("tue", (1, 2), windows=(t.window(1, 9, 11),))
    t.visit("mon_wed", (2, 1), days=frozenset({0, 2}))
    problem = t.build()
    days = open_days(problem, ["free", "tue", "mon_wed"])
    assert days == {
        "free": frozenset({0, 1, 2}),
        "tue": frozenset({1}),
        "mon_wed": frozenset({0, 2}),
    }


def test_day_candidates_keep_the_day_s_visits_then_must_visits_with_fewest_days() -> None:
    t = Tiny().van("A")
    for day in range(3):
        t.shift("A", day, 8, 17)
    t.visit("served", (1, 1))
    t.visit("opt_one_day", (1, 2), priority=2, days=frozenset({0}))
    t.visit("must_any_day", (2, 1))
    t.visit("must_one_day", (2, 2), days=frozenset({0}))
    t.visit("other_day", (3, 1), days=frozenset({2}))
    problem = t.build()
    left = ["opt_one_day", "must_any_day", "must_one_day", "other_day"]
    days = open_days(problem, ["served", *left])
    assert day_candidates(problem, 0, ["served"], left, days) == (
        "served",
        "must_one_day",
        "must_any_day",
        "opt_one_day",
    )
    assert day_candidates(problem, 0, ["served"], left, days, limit=2) == ("served", "must_one_day")
    assert day_candidates(problem, 2, [], left, days) == ("other_day", "must_any_day")


def test_the_day_problem_holds_the_day_s_shifts_and_the_candidates() -> None:
    problem = _busy_week(visits=12)
    sub = day_problem(problem, 1, ["c03", "c01"])
    assert {s.day for s in sub.shifts} == {1} and len(sub.shifts) == 2
    assert [v.id for v in sub.visits] == ["c01", "c03"]  # in problem order
    assert sub.matrix is problem.matrix and sub.break_rule == problem.break_rule


def _day_mapping(problem: Problem, day: int, visit_ids: list[str]) -> tuple[Problem, PyvrpMapping]:
    sub = day_problem(problem, day, visit_ids)
    found = express(sub, replace(BY_DAY, statutory_breaks="placed"), {})
    assert isinstance(found, PyvrpMapping)
    return sub, found


def test_every_client_of_a_day_is_optional_and_must_prizes_are_capped() -> None:
    problem = _busy_week(visits=20)
    ids = [v.id for v in problem.visits if not v.windows]
    sub, mapping = _day_mapping(problem, 0, ids)
    assert any(c.required for c in mapping.data.clients())  # must visits are required there
    optional = all_optional(mapping, sub)
    clients = optional.data.clients()
    assert clients and not any(c.required for c in clients)
    assert not any(g.required for g in optional.data.groups())
    for c in clients:
        visit = problem.visit(str(c.name))
        want = MUST_PRIZE_CAP if visit.is_must else problem.objective.penalty(visit.priority)
        assert c.prize == round(want * COST_SCALE)


def test_the_greedy_day_is_the_warm_start_of_its_pyvrp_problem() -> None:
    problem = _busy_week()
    task, greedy = _greedy(problem, BY_DAY)
    assert task.greedy is not None
    day_routes = [r for r in greedy.routes if r.day == 0]
    served = [s.visit_id for r in day_routes for s in r.stops]
    sub, mapping = _day_mapping(problem, 0, [*served, *task.greedy.dropped[:5]])
    mapping = all_optional(mapping, sub)
    solution = warm_start(mapping, day_routes)
    assert solution is not None and solution.is_feasible()
    in_solution = sorted(
        mapping.clients[a.idx].visit_id for r in solution.routes() for a in r if a.is_client()
    )
    assert in_solution == sorted(served)


def test_the_size_rule_plans_day_by_day_only_what_does_not_fit() -> None:
    now = [100.0]
    budget = Budget(30.0, clock=lambda: now[0])
    auto = SolverSettings(time_limit=30.0)
    assert day_by_day_reason(auto, budget, 200, 200, 25) is None
    reason = day_by_day_reason(auto, budget, 2000, 2000, 250)
    assert reason is not None and "2000 visits on 250 van-days" in reason
    assert "raise the time limit to at least" in reason
    # 1,000 visits on 125 van-days: OR-Tools' first plan took 7-30 s, so not at 30 s.
    assert day_by_day_reason(auto, budget, 1000, 1000, 125) is not None
    assert day_by_day_reason(auto, Budget(60.0, clock=lambda: now[0]), 1000, 1000, 125) is None
    never = replace(auto, decompose="never")
    assert day_by_day_reason(never, budget, 2000, 2000, 250) is None
    always = replace(auto, decompose="always")
    assert day_by_day_reason(always, budget, 200, 200, 25) is not None


def test_an_unknown_decompose_setting_names_the_field() -> None:
    with pytest.raises(ValidationError, match=r"settings\.decompose"):
        SolverSettings(decompose="sometimes")


def test_visits_a_day_s_pyvrp_plan_leaves_out_are_put_back_where_they_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PyVRP's day plans lose their last route (as stops are lost when the statutory break is
    # placed after PyVRP's search): insertion and ejection, the break placed exactly, puts
    # visits back, and the plan serves more than without that repair.
    from optimizer import decompose
    from optimizer.ejection import Served

    problem = _busy_week()
    real = decompose.outcome_of

    def without_last_route(task: Task, mapping: PyvrpMapping, run: object) -> object:
        found = real(task, mapping, run)  # type: ignore[arg-type]
        if found.routes is None or not found.routes:
            return found
        routes = list(found.routes[:-1])
        served = {s.visit_id for r in routes for s in r.stops}
        dropped = [v for v in mapping.visit_ids if v not in served]
        return replace(
            found, routes=routes, dropped=dropped, objective=plan_objective(task, routes, dropped)
        )

    monkeypatch.setattr(decompose, "outcome_of", without_last_route)
    repaired = solve(problem, BY_DAY)
    monkeypatch.setattr(
        decompose, "serve_more", lambda _p, routes, dropped, *_a, **_k: Served(routes, dropped, 0.0)
    )
    unrepaired = solve(problem, BY_DAY)
    assert_feasible(problem, repaired)
    assert repaired.stats.engine == "pyvrp-days"
    assert len(repaired.assigned) > len(unrepaired.assigned)
    assert _musts(problem, repaired) >= _musts(problem, unrepaired)
    assert repaired.stats.objective < unrepaired.stats.objective
    task = Task.of(problem)
    dropped = [u.visit_id for u in repaired.unassigned if u.visit_id not in task.excluded]
    assert repaired.stats.objective == pytest.approx(
        plan_objective(task, list(repaired.routes), dropped)
    )


def test_the_whole_week_pass_puts_left_out_visits_on_any_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No day is improved (PyVRP stays out): the pass over the whole week still serves visits
    # the greedy plan left out, with their statutory breaks placed, and says so.
    from optimizer import decompose

    problem = _busy_week()
    task, greedy = _greedy(problem, BY_DAY)
    monkeypatch.setattr(decompose, "_improve_day", lambda *_a, **_k: None)
    plan = solve(problem, BY_DAY)
    assert_feasible(problem, plan)
    assert plan.stats.engine == "greedy" and plan.stats.status == "GREEDY"
    assert plan.stats.strategy.endswith("(0 of 3 days improved) + ejection over the week")
    assert len(plan.assigned) > len(greedy.assigned)
    assert _musts(problem, plan) >= _musts(problem, greedy)
    assert task.greedy is not None and plan.stats.objective < task.greedy.stats.objective
    assert any(r.breaks for r in plan.routes)
