"""Time limits and stops at any size: every phase before the search asks for the stop, a stop
before the first plan still accounts for every visit, the greedy start is feasible, and a plan
that leaves most visits out says so and why (issue 19). No wall-clock bounds: stops are set
before the call or injected as hooks."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from ortools.constraint_solver import pywrapcp

from optimizer import budget, diagnose, greedy, search
from optimizer import solve as solve_module
from optimizer.budget import STOPPED_BEFORE_SEARCH, Grace
from optimizer.diagnose import STOP_CHECK_EVERY, precheck
from optimizer.domain import Break, Problem
from optimizer.errors import SolveStoppedError
from optimizer.greedy import greedy_plan, greedy_routes
from optimizer.model import build_model
from optimizer.plan import Plan, Reason, SolverStats, Unassigned
from optimizer.processes import searches
from optimizer.search import Task, plan_of
from optimizer.settings import SolverSettings
from optimizer.solve import solve

from .conftest import FAST, Tiny, assert_feasible, solve_stopped_after


class CountingStop:
    """A stop hook that says "stop" from its ``after``-th question on, and counts them."""

    def __init__(self, after: int | None = None) -> None:
        self.after = after
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.after is not None and self.asked >= self.after


def _week(visits: int = 40, seed: int = 3) -> Problem:
    """Two vans on default 8-17 h shifts (statutory breaks), some windows, one pinned visit,
    one van with an explicit lunch break on Tuesday."""
    rng = random.Random(seed)
    t = Tiny().van("A").van("B", capacity=20)
    for day in range(5):
        t.shift("A", day, 8, 17)
    t.shift("B", 0, 8, 17)
    t.shift("B", 1, 8, 17, breaks=(Break(t.at(1, 12), t.at(1, 13), 1800),))
    for i in range(visits):
        kw: dict[str, object] = {"demand": rng.randint(0, 3)}
        if i % 3 == 0:
            day, hour = rng.randrange(5), rng.randint(8, 14)
            kw["windows"] = (t.window(day, hour, hour + 2),)
        t.visit(f"c{i:02d}", (rng.uniform(-15, 15), rng.uniform(-15, 15)), **kw)  # type: ignore[arg-type]
    return t.build()


def test_precheck_asks_for_the_stop_every_few_visits_and_ends_when_told() -> None:
    problem = _week(visits=3 * STOP_CHECK_EVERY)
    quiet = CountingStop()
    precheck(problem, should_stop=quiet)
    assert quiet.asked == 3
    with pytest.raises(SolveStoppedError):
        precheck(problem, should_stop=CountingStop(after=2))


def test_the_model_build_asks_for_the_stop_per_vehicle_and_ends_when_told() -> None:
    problem = _week()
    quiet = CountingStop()
    build_model(problem, SolverSettings(), should_stop=quiet)
    assert quiet.asked >= len(problem.shifts)
    for after in (1, 3, len(problem.shifts) + 2):
        with pytest.raises(SolveStoppedError):
            build_model(problem, SolverSettings(), should_stop=CountingStop(after=after))


STOP_SETTINGS = pytest.mark.parametrize(
    "settings",
    [
        SolverSettings(time_limit=30.0),  # the default: a forked, killable search
        SolverSettings(time_limit=30.0, iterated_local_search=False),  # in this process
        replace(FAST, iterated_local_search=False),
    ],
    ids=["forked-ils", "in-process", "solution-limit"],
)


@STOP_SETTINGS
def test_a_stop_set_before_the_solve_answers_with_the_greedy_plan_made_in_its_grace(
    settings: SolverSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stop's grace (a second) makes the greedy plan of 40 visits whole; no search runs.
    problem = _week()
    stop = threading.Event()
    stop.set()
    monkeypatch.setattr(solve_module, "pyvrp_mapping", _never_called)
    plan = solve(problem, settings, stop=stop)
    assert plan.stats.status == "GREEDY" and plan.routes
    assert STOPPED_BEFORE_SEARCH in plan.warnings
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert all(u.reason is not Reason.NOT_PLANNED for u in plan.unassigned)
    assert_feasible(problem, plan)


@STOP_SETTINGS
def test_a_stop_with_no_time_for_any_plan_says_so_and_accounts_for_every_visit(
    settings: SolverSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "STOP_GRACE", 0.0)
    problem = _week()
    stop = threading.Event()
    stop.set()
    plan = solve(problem, settings, stop=stop)
    assert plan.stats.status == "STOPPED"
    assert plan.routes == ()
    assert [u.visit_id for u in plan.unassigned] == [v.id for v in problem.visits]
    assert {u.reason for u in plan.unassigned} == {Reason.NOT_PLANNED}
    assert plan.warnings[0].startswith("Stopped before any plan could be made")
    assert "no visit is planned" in plan.warnings[0]
    assert_feasible(problem, plan)


def _stop_during_the_diagnosis(
    monkeypatch: pytest.MonkeyPatch, problem: Problem, after: int
) -> threading.Event:
    """A stop set from inside the diagnosis, when it looks at its ``after``-th visit."""
    stop = threading.Event()
    seen = 0
    real = diagnose.static_reason

    def reason_then_stop(*args: Any, **kwargs: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen == after:
            stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(diagnose, "static_reason", reason_then_stop)
    return stop


def test_a_stop_during_the_diagnosis_answers_with_the_greedy_plan_made_in_its_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _week(visits=3 * STOP_CHECK_EVERY)  # asked three times
    stop = _stop_during_the_diagnosis(monkeypatch, problem, after=10)
    monkeypatch.setattr(solve_module, "pyvrp_mapping", _never_called)
    plan = solve(problem, SolverSettings(time_limit=60), stop=stop)
    assert stop.is_set()
    assert plan.stats.status == "GREEDY" and plan.routes
    assert STOPPED_BEFORE_SEARCH in plan.warnings
    # The diagnosis went on: the visits it finds impossible keep their reasons.
    assert precheck(problem).keys() <= {u.visit_id for u in plan.unassigned}
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def test_a_stop_during_the_diagnosis_past_its_grace_answers_with_no_plan_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _week(visits=3 * STOP_CHECK_EVERY)  # asked three times
    stop = _stop_during_the_diagnosis(monkeypatch, problem, after=10)
    monkeypatch.setattr(budget, "STOP_GRACE", 0.0)
    plan = solve(problem, SolverSettings(time_limit=60), stop=stop)
    assert plan.stats.status == "STOPPED" and plan.routes == ()
    assert {u.reason for u in plan.unassigned} == {Reason.NOT_PLANNED}
    assert len(plan.unassigned) == len(problem.visits)
    assert plan.warnings[0].startswith(
        f"Stopped before any plan could be made (the {len(problem.visits)} visits"
    )
    assert_feasible(problem, plan)


def test_the_grace_ends_a_while_after_the_stop() -> None:
    now = [100.0]
    stop = threading.Event()
    grace = Grace(stop, seconds=1.5, clock=lambda: now[0])
    assert not grace() and not grace.stopped and grace.ends is None
    now[0] = 105.0
    stop.set()
    assert not grace() and grace.stopped  # heard now: 1.5 s from here
    assert grace.ends == 106.5
    now[0] = 106.4
    assert not grace()
    now[0] = 106.6
    assert grace()


def test_the_grace_counts_from_a_stop_during_a_step_that_never_asks() -> None:
    # The watcher notes the stop while a step runs without asking (the model's nodes): the
    # grace is over at the first question after it, however long the step took.
    stop = threading.Event()
    grace = Grace(stop, seconds=0.0)
    with grace.watching():
        stop.set()
        for _ in range(6000):  # waits for the watcher (a minute at most: a hang fails)
            if grace.ends is not None:
                break
            threading.Event().wait(0.01)
    assert grace.ends is not None
    threading.Event().wait(0.01)
    assert grace()


def test_a_task_prebuilt_model_is_handed_out_once() -> None:
    problem = _week(visits=10)
    task = Task.of(problem)
    task.prebuild(FAST)
    first = task.model(FAST)
    assert task.model(FAST) is not first  # a second call builds a fresh model
    assert not task.built


def test_a_stop_during_the_prebuild_leaves_nothing_to_rebuild() -> None:
    problem = _week(visits=10)
    stop = threading.Event()
    stop.set()
    task = Task.of(problem)
    with pytest.raises(SolveStoppedError):
        task.prebuild(FAST, stop)
    result = task.not_searched(FAST, "STOPPED")
    assert result.routes == [] and sorted(result.dropped) == sorted(v.id for v in problem.visits)


@pytest.mark.parametrize("visits", [60, 400])
def test_the_greedy_start_is_feasible_and_serves_visits(visits: int) -> None:
    problem = _week(visits=visits)
    model = build_model(problem, SolverSettings())
    routes = greedy_routes(model)
    served = [model.visits[model.manager.IndexToNode(i)].id for r in routes for i in r]
    assert len(served) == len(set(served)) > 0
    solution = model.routing.ReadAssignmentFromRoutes(routes, True)
    assert solution is not None, "the model rejected the greedy routes"
    found, dropped, _ = plan_of(model, solution)
    assert sorted(s.visit_id for r in found for s in r.stops) == sorted(served)
    unassigned = tuple(Unassigned(vid, Reason.NO_ROOM, "left out") for vid in dropped)
    stats = SolverStats("SUCCESS", 0.0, 0.0, 1)
    assert_feasible(problem, Plan(tuple(found), unassigned, stats))


@pytest.mark.parametrize("visits", [60, 400])
def test_the_greedy_plan_passes_the_checker(visits: int) -> None:
    problem = _week(visits=visits)
    model = build_model(problem, SolverSettings())
    found = greedy_plan(model)
    routes, dropped = found.routes, found.dropped
    assert routes and not found.stopped
    served = [s.visit_id for r in routes for s in r.stops]
    assert sorted(served + dropped) == sorted(model.visit_ids)
    unassigned = tuple(Unassigned(vid, Reason.NO_ROOM, "left out") for vid in dropped)
    assert_feasible(problem, Plan(tuple(routes), unassigned, SolverStats("GREEDY", 0.0, 0.0, 1)))
    # The explicit lunch break of van B on Tuesday lies outside its route, as the plan says.
    tuesday = next((r for r in routes if (r.van_id, r.day) == ("B", 1)), None)
    if tuesday is not None:
        assert len(tuesday.breaks) == 1 and tuesday.break_time == 0


def test_a_heuristic_that_fails_fast_leaves_time_for_a_search_from_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Failing at once (as with OR-Tools' scheduling filters on models with breaks) is not a
    # lack of time: the search from nothing improves the plan instead of the greedy one.
    problem = _week(visits=30)
    monkeypatch.setattr(pywrapcp.RoutingModel, "SolveWithParameters", lambda *_: None)
    plan = solve(problem, replace(FAST, iterated_local_search=False))
    assert plan.stats.status != "GREEDY"
    assert plan.routes
    assert_feasible(problem, plan)


def test_the_greedy_start_asks_for_the_stop_per_vehicle_and_every_few_visits() -> None:
    model = build_model(_week(), SolverSettings())
    quiet = CountingStop()
    routes = greedy_routes(model, should_stop=quiet)
    placed = sum(len(r) // greedy.STOP_CHECK_EVERY for r in routes)
    assert quiet.asked == model.vehicle_count + placed
    with pytest.raises(SolveStoppedError):
        greedy_routes(model, should_stop=CountingStop(after=2))


def _cut_plan(problem: Problem, found: greedy.GreedyPlan) -> Plan:
    """The plan of a greedy plan cut short, its never placed visits with their reason."""
    unassigned = tuple(search.never_placed(problem, found.dropped))
    return Plan(tuple(found.routes), unassigned, SolverStats("GREEDY", 0.0, 0.0, 1))


@pytest.mark.parametrize("after", [1, 2, 3, 5])
def test_a_greedy_plan_stopped_midway_keeps_its_routes_so_far(after: int) -> None:
    # Stopped at the ``after``-th question (1: before any vehicle): the routes built until then
    # (the last one may end mid-way), a prefix of the whole greedy plan, and still feasible.
    problem = _week(visits=60)
    model = build_model(problem, SolverSettings())
    whole = greedy_plan(model)
    found = greedy_plan(model, should_stop=CountingStop(after=after))
    assert found.stopped
    served = [s.visit_id for r in found.routes for s in r.stops]
    assert sorted(served + found.dropped) == sorted(model.visit_ids)
    assert len(served) < sum(len(r.stops) for r in whole.routes)
    for route in found.routes:
        full = next(r for r in whole.routes if (r.van_id, r.day) == (route.van_id, route.day))
        assert [s.visit_id for s in route.stops] == [
            s.visit_id for s in full.stops[: len(route.stops)]
        ]
    assert (found.routes == []) == (after == 1)
    assert_feasible(problem, _cut_plan(problem, found))


def test_a_stop_while_the_greedy_plan_is_made_answers_with_its_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stop is set from inside the greedy construction, while it works on its third
    # vehicle, and its grace is over at once: the solve answers with the routes built until
    # then, the visits never placed saying so, and a warning.
    monkeypatch.setattr(budget, "STOP_GRACE", 0.0)
    problem = _week(visits=60)
    stop = threading.Event()
    calls = 0
    real = greedy.start_domain

    def domain_then_stop(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 2 * len(problem.visits):
            stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(greedy, "start_domain", domain_then_stop)
    monkeypatch.setattr(solve_module, "pyvrp_mapping", _never_called)
    plan = solve(problem, SolverSettings(time_limit=60), stop=stop)
    assert stop.is_set()
    assert plan.stats.status == "GREEDY" and plan.routes
    assert any(w.startswith("Stopped while the quick greedy plan was made") for w in plan.warnings)
    never = [u for u in plan.unassigned if "was stopped (or ran out of time)" in u.message]
    assert never and all(u.reason is Reason.NOT_PLANNED for u in never)
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def _never_called(*_: object, **__: object) -> None:
    raise AssertionError("the solve went on after a stop during the greedy plan")


def test_most_visits_left_out_by_breaks_say_so_loudly() -> None:
    # A library user's Solomon-like problem: one long shift under the statutory break rule,
    # visits a seven-hour drive away that fit only without a break.
    t = Tiny().van("A").shift("A", 0, 0, 23)
    for i in range(4):
        t.visit(f"far{i}", (350.0 + i, 0.0), duration_min=10)
    t.visit("near", (5.0, 0.0))
    problem = t.build()
    plan = solve(problem, FAST)
    far = [u for u in plan.unassigned if u.visit_id.startswith("far")]
    assert len(far) == 4
    assert all(u.reason is Reason.BREAKS_DO_NOT_FIT for u in far)
    assert "statutory break rule" in far[0].message
    assert any("4 of 5 visits are unassigned" in w and "breaks" in w for w in plan.warnings)
    # Without breaks (breaks=()) they are served, and the plan has nothing to warn about.
    free = replace(problem, shifts=tuple(replace(s, breaks=()) for s in problem.shifts))
    plan = solve(free, FAST)
    assert plan.unassigned == () and plan.warnings == ()


def test_when_the_first_solution_heuristic_cannot_finish_the_greedy_start_is_the_plan(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # OR-Tools' heuristic is made to use up the time limit and find nothing (as savings on
    # thousands of visits): the plan is the greedy one, every visit accounted for.
    problem = _week(visits=60)

    def out_of_time(*_: object) -> None:
        time.sleep(0.3)  # past the 0.2 s limit, whatever the machine's speed

    monkeypatch.setattr(pywrapcp.RoutingModel, "SolveWithParameters", out_of_time)
    with caplog.at_level(logging.WARNING, logger="optimizer.search"):
        plan = solve(problem, replace(FAST, time_limit=0.2, iterated_local_search=False))
    assert "a greedy plan serves" in caplog.text
    assert plan.stats.status == "GREEDY"
    assert plan.routes
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def test_a_forked_search_still_running_past_its_deadline_is_ended_with_a_greedy_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The forked search hangs before its first solution (as savings on thousands of visits):
    # the parent ends it once past the deadline and plans greedily on the model it built.
    problem = _week(visits=40)
    monkeypatch.setattr(searches, "LATE_SECONDS", 0.0)
    monkeypatch.setattr(search, "solve_one", lambda *_, **__: time.sleep(3600))
    plan = solve(problem, SolverSettings(time_limit=0.5), stop=threading.Event())
    assert plan.stats.status == "GREEDY"
    assert plan.routes
    assert any("greedy plan" in w for w in plan.warnings)
    assert_feasible(problem, plan)


def test_the_first_solution_budget_grows_with_the_visits() -> None:
    # A few visits fail for their constraints, not for time: the retry without ILS gets 1 s,
    # not the 30 s a thousand visits may need.
    assert search.first_solution_seconds(4) == 1.0
    assert search.first_solution_seconds(100) == pytest.approx(3.0)
    assert search.first_solution_seconds(1000) == search.FIRST_SOLUTION_SECONDS
    assert search.first_solution_seconds(5000) == search.FIRST_SOLUTION_SECONDS


def test_a_retry_without_ils_on_a_few_visits_asks_for_the_small_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OR-Tools' ILS and every plain search find nothing: the retry's time limit is the budget
    # of 4 visits (then the search from nothing plans), every visit accounted for.
    t = Tiny().van("A").shift("A", 0, 8, 16, breaks=(Break(t_at := 9 * 3600, t_at + 7200, 1800),))
    for i in range(4):
        t.visit(f"v{i}", (1, i * 0.5), 40)
    problem = t.build()
    asked: list[float] = []

    def nothing(_: object, params: object) -> None:
        asked.append(params.time_limit.ToTimedelta().total_seconds())  # type: ignore[attr-defined]

    def out_of_time(_: object, params: object) -> None:
        time.sleep(0.5)  # the ILS uses up the 0.5 s limit

    monkeypatch.setattr(pywrapcp.RoutingModel, "SolveWithIteratedLocalSearch", out_of_time)
    monkeypatch.setattr(pywrapcp.RoutingModel, "SolveWithParameters", nothing)
    plan = solve(problem, replace(FAST, engines="ortools", time_limit=0.5))
    assert asked == [1.0]  # the first-solution retry of 4 visits (not 30 s)
    assert {s.visit_id for r in plan.routes for s in r.stops} | {
        u.visit_id for u in plan.unassigned
    } == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def test_plan_warnings_are_logged_for_library_users(caplog: pytest.LogCaptureFixture) -> None:
    # One van-day, far visits that fit only without the statutory break: a library user who
    # never reads plan.warnings still sees the warning on stderr (logging's last resort).
    t = Tiny().van("A").shift("A", 0, 0, 23)
    for i in range(3):
        t.visit(f"far{i}", (350.0 + i, 0.0), duration_min=10)
    with caplog.at_level(logging.WARNING, logger="optimizer.notices"):
        plan = solve(t.build(), FAST)
    assert plan.warnings
    assert all(w in caplog.text for w in plan.warnings)
    assert "statutory break rule" in caplog.text


def test_a_stop_before_the_first_solution_keeps_the_greedy_plan_made_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The forked search hangs before its first solution (as savings on thousands of visits);
    # the parent made a greedy plan meanwhile, and a stop keeps it rather than nothing.
    problem = _week(visits=40)
    monkeypatch.setattr(search, "solve_one", lambda *_, **__: time.sleep(3600))
    plan, _ = solve_stopped_after(1.0, problem, SolverSettings(time_limit=60))
    assert plan.stats.status == "GREEDY"
    assert plan.routes
    assert any("greedy plan" in w for w in plan.warnings)
    served = {s.visit_id for r in plan.routes for s in r.stops}
    assert served | {u.visit_id for u in plan.unassigned} == {v.id for v in problem.visits}
    assert_feasible(problem, plan)


def test_a_search_that_finds_solutions_returns_its_plan_not_the_greedy_one() -> None:
    problem = _week(visits=30)
    plan = solve(problem, SolverSettings(time_limit=2), stop=threading.Event())
    assert plan.stats.status != "GREEDY" and plan.stats.solutions > 0
    assert plan.warnings == ()
    assert_feasible(problem, plan)
