"""The process layer (optimizer.processes): stop relay, stall watch, forked searches that stop,
crash or stall, solver children from the fork server, the messages and results they pass."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from multiprocessing import resource_tracker
from typing import Any

import pytest

import optimizer.search as search_module
from optimizer.domain import Problem
from optimizer.errors import Issue, ValidationError
from optimizer.processes import SolverProcessError, run_in_child, stop_helper_processes
from optimizer.processes.messages import Alive, Done, Failed, Invalid
from optimizer.processes.searches import solve_in_child
from optimizer.processes.stall import StallWatch, stall_seconds
from optimizer.processes.stop import StopFlag
from optimizer.search import Progress, ReportedRoutes, SearchResult, Task
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.optimizer.conftest import assert_feasible
from tests.optimizer.test_solve import _week


@pytest.fixture(scope="module")
def week() -> Problem:
    return _week()


@pytest.fixture
def helpers_stopped() -> Iterator[None]:
    """For tests that start solver children: the fork server and resource tracker end after."""
    yield
    stop_helper_processes()
    assert mp.active_children() == []


def _reports_then(after: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every forked search (which inherits the patch) finds 10 solutions, reporting them, then
    calls ``after`` instead of ending: a search that ignores its stop, hangs or crashes."""
    real = search_module.solve_one

    def then(task: Task, settings: SolverSettings, *a: Any, **k: Any) -> Any:
        real(task, replace(settings, solution_limit=10), *a, **k)
        return after()

    monkeypatch.setattr(search_module, "solve_one", then)


# --- stop relay and stall watch -------------------------------------------------------------------


def test_a_raised_stop_flag_sets_the_relayed_event() -> None:
    flag = StopFlag(mp.get_context("fork"))
    stop = threading.Event()
    flag.follow(stop)
    assert not flag.is_set()
    with flag.relayed() as relayed:
        assert not relayed.is_set()
        stop.set()
        flag.follow(stop)
        assert flag.is_set()
        assert relayed.wait(30)


def test_the_stall_watch_counts_silence_after_the_first_message_against_the_limit() -> None:
    settings = SolverSettings(time_limit=10)
    watch = StallWatch(settings)
    assert watch.limit == stall_seconds(settings) == 1.0
    assert not watch.stalled(1000.0)  # nothing heard yet: the model may still be building
    watch.hear(100.0)
    assert not watch.stalled(101.0) and watch.stalled(101.01)
    watch.hear(101.0, longest_gap=0.2)  # slow steps so far: 25 times the longest gap
    assert watch.limit == pytest.approx(5.0)
    assert not watch.stalled(105.9) and watch.stalled(106.1)
    assert stall_seconds(SolverSettings(time_limit=100)) == 5.0  # 5 % of the time limit
    off = StallWatch(settings, enabled=False)  # a run with a solution limit is never ended
    off.hear(0.0)
    assert not off.stalled(1e9)


# --- forked searches ------------------------------------------------------------------------------


def test_a_stop_ends_a_search_that_ignores_it_and_keeps_its_best_plan(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A forked search never looks at the stop (OR-Tools' ILS cannot be cancelled), and this
    # one hangs after 10 solutions: only a kill ends it, and the plan is rebuilt from the
    # routes it reported last.
    _reports_then(lambda: time.sleep(600), monkeypatch)
    stop = threading.Event()
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        stop.set()

    t0 = time.monotonic()
    settings = SolverSettings(time_limit=600, iterated_local_search=True)
    plan = solve(week, settings, on_progress=on_progress, stop=stop)
    assert time.monotonic() - t0 < 300  # not the hang of 600 s: the search was killed
    assert plan.stats.status == "STOPPED"
    assert plan.stats.objective == pytest.approx(seen[-1].objective)
    assert_feasible(week, plan)
    assert mp.active_children() == []


def test_a_crashed_search_keeps_the_routes_it_reported(
    week: Problem, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _reports_then(lambda: os._exit(3), monkeypatch)
    seen: list[Progress] = []
    t0 = time.monotonic()
    with caplog.at_level("WARNING", logger="optimizer.processes.searches"):
        plan = solve(week, SolverSettings(time_limit=600), on_progress=seen.append)
    # the passes after the search get their share (at most 10 s), not the rest of the limit
    assert time.monotonic() - t0 < 300
    assert "ended without a result (exit code 3)" in caplog.text
    assert plan.routes and plan.stats.objective == pytest.approx(seen[-1].objective)
    assert_feasible(week, plan)


def test_a_search_that_raises_raises_in_the_caller_naming_the_error(
    week: Problem, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise KeyError("van-9")

    _reports_then(broken, monkeypatch)
    with pytest.raises(RuntimeError, match="search process failed: KeyError: 'van-9'"):
        solve(week, SolverSettings(time_limit=600))


def test_a_forked_search_gives_a_search_result(week: Problem) -> None:
    settings = SolverSettings(time_limit=60, solution_limit=20, iterated_local_search=True)
    result = solve_in_child(Task.of(week), settings, None, None)
    assert isinstance(result, SearchResult) and result.stats.status == "SUCCESS"
    assert result.routes and result.stats.solutions >= 20
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.routes = []


def test_messages_are_frozen_dataclasses() -> None:
    messages = [
        Alive(3, 0.1),
        ReportedRoutes(1200, 3, 0.5, [[1, 2], []]),
        Progress(1.2, 3, 0.5),
        Done("plan"),
        Invalid((Issue("visits[0].id", "duplicate"),)),
        Failed.of(ValueError("bad")),
    ]
    for message in messages:
        assert dataclasses.is_dataclass(message)
        with pytest.raises(dataclasses.FrozenInstanceError):
            message.worker = 1  # type: ignore[misc,union-attr]
    assert Failed.of(ValueError("bad")).error == "ValueError: bad"
    assert Invalid((Issue("f", "m"),)).error().issues == (Issue("f", "m"),)


# --- solver children (run_in_child) ---------------------------------------------------------------


def reports_until_stopped(*, on_progress: Callable[[Progress], None], stop: Any) -> str:
    """A stand-in solve (module level: run in a solver process) that ends only when stopped."""
    on_progress(Progress(7.0, 1, 0.1))
    return "stopped" if stop.wait(600) else "not stopped"


def exits(code: int, *, on_progress: Any, stop: Any) -> None:
    os._exit(code)


def raises(exc: Exception, *, on_progress: Any, stop: Any) -> None:
    raise exc


def test_a_stop_reaches_the_solver_child(helpers_stopped: None) -> None:
    stop = threading.Event()
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        stop.set()

    assert run_in_child(reports_until_stopped, on_progress=on_progress, stop=stop) == "stopped"
    assert isinstance(seen[0], Progress) and seen[0].objective == 7.0


def test_a_crashed_solver_child_raises_a_clear_error(helpers_stopped: None) -> None:
    with pytest.raises(SolverProcessError, match=r"ended without a plan \(exit 3\)"):
        run_in_child(exits, 3)


def test_errors_in_the_solver_child_are_raised_in_the_caller(helpers_stopped: None) -> None:
    with pytest.raises(SolverProcessError, match="RuntimeError: no model"):
        run_in_child(raises, RuntimeError("no model"))
    invalid = ValidationError([Issue("visits[2].windows", "empty"), Issue("vans", "none")])
    with pytest.raises(ValidationError) as caught:
        run_in_child(raises, invalid)
    assert caught.value.issues == invalid.issues


def test_a_spawned_child_stops_its_helpers_without_touching_the_parents_tracker() -> None:
    """A process spawned by another (a server process of ``uvicorn --workers N``) inherits the
    parent's resource tracker descriptor without its process id: stopping the helpers there
    leaves that tracker alone and ends without an error."""
    resource_tracker.ensure_running()  # the parent's tracker, handed to the spawned child
    child = mp.get_context("spawn").Process(target=stop_helper_processes)
    child.start()
    child.join(60)
    assert child.exitcode == 0
