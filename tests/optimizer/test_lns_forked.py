"""Ruin and recreate on several cores (optimizer.processes.ruin): the best of the runs, never
worse than the run in this process, repeatable for an iteration count, ended soon by a stop,
every plan checked, no process left behind."""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import pytest

import optimizer.solve as solve_module
from optimizer.checker import check_plan
from optimizer.domain import Problem
from optimizer.ejection import Served
from optimizer.lns import improve
from optimizer.plan import Route
from optimizer.processes.ruin import SEED_STEP, improve_forked
from optimizer.settings import SolverSettings
from tests.optimizer.conftest import packed_busy_week, plan_leaving_out, served_ids

LATER = 600.0  # seconds: a deadline these runs never reach


def _busy_week() -> tuple[Problem, list[Route], list[str]]:
    return packed_busy_week(11, mixed_optional=False)


def test_forked_runs_give_the_best_of_the_seeds_and_repeat() -> None:
    problem, routes, dropped = _busy_week()
    alone = [
        improve(problem, routes, dropped, time.monotonic() + LATER, seed=s, iterations=20)
        for s in (2, 2 + SEED_STEP, 2 + 2 * SEED_STEP)
    ]
    runs = [
        improve_forked(problem, routes, dropped, time.monotonic() + LATER, lambda: False, 2, 3, 20)
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    # the lowest delta, ties to the run with the lowest seed
    assert runs[0] == min(alone, key=lambda r: r.delta)
    assert len({r.delta for r in alone}) > 1  # the seeds do differ here
    report = check_plan(problem, plan_leaving_out(problem, runs[0].routes, runs[0].dropped))
    assert report.ok, report.violations
    assert not [p for p in mp.active_children() if p.name.startswith("vanplan-lns")]


def test_a_stop_ends_the_forked_runs_soon_with_a_checked_plan() -> None:
    problem, routes, dropped = _busy_week()
    asked = time.monotonic() + 0.5
    t0 = time.monotonic()
    served = improve_forked(
        problem, routes, dropped, time.monotonic() + LATER, lambda: time.monotonic() > asked, 0, 2
    )
    assert time.monotonic() - t0 < 3.0  # not the deadline, 10 minutes away
    report = check_plan(problem, plan_leaving_out(problem, served.routes, served.dropped))
    assert report.ok, report.violations
    assert sorted(served_ids(served.routes) + served.dropped) == sorted(
        served_ids(routes) + dropped
    )
    assert not [p for p in mp.active_children() if p.name.startswith("vanplan-lns")]


def test_an_over_full_solve_with_two_workers_runs_ruin_and_recreate_on_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem, _, _ = _busy_week()
    calls: list[int] = []

    def spy(*args: Any) -> Served:
        calls.append(args[-1])  # workers
        return improve_forked(*args)

    monkeypatch.setattr(solve_module, "improve_forked", spy)
    plan = solve_module.solve(problem, SolverSettings(time_limit=2.0, workers=2, seed=0))
    assert calls == [2]
    assert check_plan(problem, plan).ok
    assert not [p for p in mp.active_children() if p.name.startswith("vanplan-lns")]
