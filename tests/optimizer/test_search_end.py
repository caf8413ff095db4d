"""The end of a forked search (issue 19): the search ends early enough for the parent's work
after it, a search with routes in hand is ended at its deadline, and its last routes become a
plan from the times the solver reported with them, without restoring them in OR-Tools. Every
plan passes the independent checker; no wall-clock bounds."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

import optimizer.search as search_module
import optimizer.solve as solve_module
from optimizer.budget import AFTER_SEARCH_SHARE, after_search_seconds
from optimizer.domain import Problem
from optimizer.plan import Plan
from optimizer.processes import searches
from optimizer.processes.searches import search_deadline
from optimizer.processes.stall import StallWatch
from optimizer.search import (
    Progress,
    ReportedRoutes,
    Task,
    routes_of_times,
    solve_from_routes,
    solve_one,
)
from optimizer.settings import SolverSettings
from optimizer.solve import solve

from .conftest import assert_feasible
from .test_solve import _week


@pytest.fixture(scope="module")
def week() -> Problem:
    return _week()


def _reported(week: Problem, settings: SolverSettings) -> tuple[Task, ReportedRoutes, Any]:
    """A search on ``week`` in this process: its task, the last routes it reported and its
    result."""
    task = Task.of(week)
    reports: list[ReportedRoutes] = []
    result = solve_one(task, settings, on_best=reports.append)
    return task, reports[-1], result


SETTINGS = SolverSettings(time_limit=30, solution_limit=40)


def test_the_parent_keeps_time_after_a_search_by_size_and_at_most_a_share_of_the_limit() -> None:
    assert after_search_seconds(1000, 30.0) == pytest.approx(0.8)
    assert after_search_seconds(2000, 30.0) == pytest.approx(1.6)
    assert after_search_seconds(30, 1.0) == pytest.approx(0.024)
    assert after_search_seconds(1000, 1.0) == pytest.approx(AFTER_SEARCH_SHARE)
    task = Task(_week(), t0=100.0)
    settings = SolverSettings(time_limit=10)
    assert search_deadline(task, settings) == pytest.approx(110.0 - 30 * 0.0008)


def test_reported_times_make_the_plan_of_the_reported_solution(week: Problem) -> None:
    _, last, result = _reported(week, SETTINGS)
    assert last.times is not None
    routes, dropped = routes_of_times(week, Task.of(week).model(SETTINGS), last.times)
    # The search returns its best solution, the last one it reported.
    assert result.stats.objective == pytest.approx(last.objective / search_module.COST_SCALE)
    assert routes == result.routes and dropped == result.dropped
    served = {s.visit_id for r in routes for s in r.stops}
    assert len(served) + len(dropped) == len(week.visits) and any(r.breaks for r in routes)


def test_a_stopped_search_is_planned_from_its_times_without_ortools(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    task, last, result = _reported(week, SETTINGS)

    def no_restore(*_: Any) -> Any:
        raise AssertionError("the routes were restored in OR-Tools")

    monkeypatch.setattr(search_module, "_restored", no_restore)
    monkeypatch.setattr(Task, "model", no_restore)  # not even a model is built
    planned = solve_from_routes(task, SETTINGS, last, stopped=True)
    assert planned.stats.status == "STOPPED"
    assert planned.routes == result.routes and planned.dropped == result.dropped
    assert planned.stats.objective == pytest.approx(result.stats.objective)
    assert_feasible(week, replace(_finished(week, planned), stats=planned.stats))


def _finished(problem: Problem, result: Any) -> Plan:
    """The plan ``solve`` makes of ``result`` (left-out visits explained)."""
    task = Task.of(problem)
    return solve_module._finish(problem, task, result, None)


def test_inconsistent_times_fall_back_to_restoring_the_routes(
    week: Problem, caplog: pytest.LogCaptureFixture
) -> None:
    task, last, result = _reported(week, SETTINGS)
    assert last.times is not None
    first = last.times[0]
    # The first visit served before the van could have reached it.
    broken = replace(first, starts=[first.start, *first.starts[1:]])
    bad = replace(last, times=(broken, *last.times[1:]))
    with caplog.at_level("WARNING", logger="optimizer.search"):
        planned = solve_from_routes(task, SETTINGS, bad, stopped=True)
    assert "inconsistent" in caplog.text
    assert planned.routes == result.routes
    assert_feasible(week, _finished(week, planned))


def test_a_search_with_routes_in_hand_is_ended_at_its_deadline(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The forked search reports 10 solutions and then runs on, far past its deadline (as
    # OR-Tools' ILS does on 1,000 visits). Were it given LATE_SECONDS past the deadline (here
    # a day), this would hang: it is ended at the deadline and its last routes kept.
    real = search_module.solve_one

    def then(task: Task, settings: SolverSettings, *a: Any, **k: Any) -> Any:
        # The search itself runs to its own time limit (600 s), not the parent's deadline.
        real(task, replace(settings, solution_limit=10), *a, **{**k, "deadline": None})
        time.sleep(600)

    monkeypatch.setattr(search_module, "solve_one", then)
    monkeypatch.setattr(searches, "LATE_SECONDS", 86400.0)
    settings = SolverSettings(time_limit=600, iterated_local_search=True)
    task = Task.of(week)
    seen: list[Progress] = []
    # A deadline long past: the search is ended as soon as it has reported routes.
    run = searches._run_child(
        task, settings, -1.0, None, seen.append, StallWatch(settings, enabled=False), ready=None
    )
    assert run.overdue and run.result is None and run.last is not None
    assert mp.active_children() == []
    planned = solve_from_routes(task, settings, run.last, stopped=False)
    assert planned.stats.status == "SUCCESS"
    assert_feasible(week, _finished(week, planned))


def test_a_stop_after_the_first_plan_keeps_the_best_plan_from_its_times(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As test_processes' stop test, with the OR-Tools restore made to fail: the stopped plan
    # comes from the reported times.
    real = search_module.solve_one

    def then(task: Task, settings: SolverSettings, *a: Any, **k: Any) -> Any:
        real(task, replace(settings, solution_limit=10), *a, **k)
        time.sleep(600)

    def no_restore(*_: Any) -> Any:
        raise AssertionError("the routes were restored in OR-Tools")

    monkeypatch.setattr(search_module, "solve_one", then)
    monkeypatch.setattr(search_module, "_restored", no_restore)
    stop = threading.Event()
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        stop.set()

    settings = SolverSettings(time_limit=600, iterated_local_search=True)
    plan = solve(week, settings, on_progress=on_progress, stop=stop)
    assert plan.stats.status == "STOPPED"
    assert plan.stats.objective == pytest.approx(seen[-1].objective)
    assert_feasible(week, plan)


def test_a_search_from_the_routes_follows_only_when_their_restore_fits_in_the_time_left(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a cost of waiting the routes of a search that was not stopped are restored in
    # OR-Tools and searched from: with the time limit before us, not at its end.
    settings = replace(SETTINGS, charge_waiting=True, time_limit=600)
    task, last, _ = _reported(week, settings)
    real = search_module._restored
    calls: list[bool] = []

    def spy(*args: Any) -> Any:
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(search_module, "_restored", spy)
    early = solve_from_routes(task, settings, last, stopped=False)
    assert calls == [True]
    assert_feasible(week, _finished(week, early))
    late = replace(task, t0=task.t0 - settings.time_limit)  # the time limit is over
    planned = solve_from_routes(late, settings, last, stopped=False)
    assert calls == [True]  # no restore: the plan of the reported times
    assert planned.stats.objective == pytest.approx(last.objective / search_module.COST_SCALE)
    assert_feasible(week, _finished(week, planned))
