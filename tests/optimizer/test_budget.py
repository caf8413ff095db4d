"""The time budget of a solve (issue 19): every phase spends from one time limit counted from the
call; the greedy plan is made before the OR-Tools model and is the answer when that model does
not fit in the time left, when its build runs past the deadline, or when a stop comes first
(also during the build). Clocks are injected, stops set from hooks: no wall-clock bounds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from optimizer import model as model_module
from optimizer import search, sizing
from optimizer.budget import BUILD_GRACE, STOPPED_BEFORE_FIRST_PLAN, Budget, model_verdict
from optimizer.errors import SolveStoppedError
from optimizer.model import as_lists, build_model, node_graph
from optimizer.processes.searches import Searched, outcome
from optimizer.search import Task
from optimizer.settings import SolverSettings
from optimizer.solve import solve

from .conftest import FAST, assert_feasible
from .test_limits import _week


class FakeClock:
    """A clock that moves only when told, or by ``step`` at every reading."""

    def __init__(self, now: float = 100.0, step: float = 0.0) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_budget_counts_from_its_start_on_its_clock() -> None:
    clock = FakeClock()
    budget = Budget(30.0, clock=clock)
    assert budget.t0 == 100.0 and budget.deadline == 130.0
    clock.now = 112.5
    assert budget.elapsed() == 12.5 and budget.left() == 17.5 and not budget.over()
    clock.now = 130.0
    assert budget.over()
    assert budget.build_by() == 130.0 + BUILD_GRACE
    clock.now = 140.0  # a build starting after the deadline gets the grace from its start
    assert budget.build_by() == 140.0 + BUILD_GRACE


def test_the_model_is_built_only_when_its_estimated_build_fits_in_what_is_left() -> None:
    clock = FakeClock()
    budget = Budget(30.0, clock=clock)
    need = sizing.model_seconds(2000)  # 8 s at 2 s per million node pairs
    assert model_verdict(budget, 2000, 2000) is None
    clock.now += 30.0 - need + 0.5  # the build would end 0.5 s late: within the grace
    assert model_verdict(budget, 2000, 2000) is None
    clock.now += BUILD_GRACE  # past it
    why = model_verdict(budget, 2000, 2000)
    assert why is not None
    assert "2000 visits" in why and "not built" in why and "greedy plan" in why
    # The time limit that would do: what is spent, and the build in half of the rest.
    assert f"at least {budget.elapsed() + need / sizing.MODEL_SHARE:.0f} s" in why
    # A model of a few hundred visits (under BUILD_GRACE) is built even past the deadline: its
    # first solution, late by about a second, serves more than the greedy plan.
    clock.now += 60.0
    assert model_verdict(budget, 400, 400) is None
    # 5,000 visits never fit a 30 s limit; 120 s does.
    assert model_verdict(Budget(30.0, clock=FakeClock()), 5000, 5000) is not None
    assert model_verdict(Budget(120.0, clock=FakeClock()), 5000, 5000) is None


def test_a_model_build_for_a_search_stops_at_the_end_of_the_budget() -> None:
    problem = _week(visits=30)
    clock = FakeClock()
    task = Task.of(problem, budget=Budget(10.0, clock=clock)).with_greedy(FAST, None)
    clock.now += 10.0
    clock.step = BUILD_GRACE / 4  # time passes as the build goes on
    with pytest.raises(SolveStoppedError):
        task.prebuild(FAST)
    result = search.solve_one(task, replace(FAST, iterated_local_search=False))
    assert result.routes == [] and result.stats.status == "NO_SOLUTION"
    # Outside the budget (the rebuild of a killed search's routes) the build goes on.
    assert task.model(FAST).vehicle_count == len(problem.shifts)
    # What the forked search then leaves is the greedy plan made before.
    found = outcome(task, FAST, Searched(), None)
    assert found.stats.status == "GREEDY" and found.routes


def test_the_greedy_plan_on_the_nodes_equals_the_one_on_the_model() -> None:
    problem = _week(visits=60)
    task = Task.of(problem)
    nodes = node_graph(problem, FAST, task.excluded)
    built = build_model(problem, FAST, excluded=task.excluded)
    assert nodes.visits == built.visits and nodes.allowed == built.allowed
    on_nodes = search.solve_greedy(task, FAST, None, nodes, announce=False)
    on_model = search.solve_greedy(task, FAST, None, built, announce=False)
    assert on_nodes.routes == on_model.routes and on_nodes.dropped == on_model.dropped


def test_a_problem_whose_model_does_not_fit_gets_the_greedy_plan_without_a_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _week(visits=40)
    monkeypatch.setattr(sizing, "SECONDS_PER_MILLION_ENTRIES", 1e9)

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("the OR-Tools model was built")

    monkeypatch.setattr(search, "build_model", never)
    settings = SolverSettings(time_limit=30.0, decompose="never")
    plan = solve(problem, settings, stop=threading.Event())
    assert plan.stats.status == "GREEDY" and plan.stats.engine == "greedy"
    assert plan.routes
    (notice,) = [w for w in plan.warnings if "greedy plan" in w]
    assert "40 visits" in notice and "was not built" in notice and "time limit" in notice
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def test_a_problem_whose_model_does_not_fit_is_planned_day_by_day_without_a_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _week(visits=40)
    monkeypatch.setattr(sizing, "SECONDS_PER_MILLION_ENTRIES", 1e9)

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("the OR-Tools model was built")

    monkeypatch.setattr(search, "build_model", never)
    settings = SolverSettings(time_limit=30.0, solution_limit=1)
    plan = solve(problem, settings, stop=threading.Event())
    assert plan.stats.engine in {"pyvrp-days", "greedy"} and plan.routes
    (notice,) = [w for w in plan.warnings if w.startswith("Planned day by day")]
    assert "40 visits" in notice and "time limit" in notice
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def _stop_during_build(monkeypatch: pytest.MonkeyPatch, stop: threading.Event) -> Callable[[], int]:
    """Set ``stop`` right after the OR-Tools time dimension is added (mid-build); returns how
    many builds got that far."""
    real = model_module._add_time_dimension
    calls: list[int] = []

    def then_stop(b: Any) -> Any:
        calls.append(1)
        dim = real(b)
        stop.set()
        return dim

    monkeypatch.setattr(model_module, "_add_time_dimension", then_stop)
    return lambda: len(calls)


@pytest.mark.parametrize(
    "settings",
    [
        SolverSettings(time_limit=30.0),  # the default: built here, searched in a fork
        SolverSettings(time_limit=30.0, iterated_local_search=False),  # in this process
    ],
    ids=["forked-ils", "in-process"],
)
def test_a_stop_during_the_model_build_returns_the_greedy_plan_with_its_notice(
    monkeypatch: pytest.MonkeyPatch, settings: SolverSettings
) -> None:
    problem = _week(visits=40)
    stop = threading.Event()
    builds = _stop_during_build(monkeypatch, stop)
    plan = solve(problem, settings, stop=stop)
    assert builds() == 1
    assert plan.stats.status == "GREEDY" and plan.routes
    assert STOPPED_BEFORE_FIRST_PLAN in plan.warnings
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def test_matrices_reach_or_tools_as_lists_of_shared_ints() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 5000, size=(300, 300), dtype=np.int64)
    matrix[3, 4] = 10**9  # past the shared table: looked up among the large values
    matrix[5, 6] = (1 << 20) + 7
    rows = as_lists(matrix)
    assert rows == matrix.tolist()
    assert all(type(x) is int for x in rows[3])
    value = int(matrix[0, 0])
    assert all(x is rows[0][0] for row in rows for x in row if x == value)
    asked: list[int] = []
    as_lists(matrix, lambda: bool(asked.append(1)))
    assert len(asked) == -(-300 // model_module._ROWS_PER_STEP)
    with pytest.raises(SolveStoppedError):
        as_lists(matrix, lambda: True)
