"""Regret insertion in the recreate of ruin and recreate (optimizer.lns.regret_round) and the
ruin and recreate on several cores (optimizer.processes.ruin)."""

from __future__ import annotations

import multiprocessing as mp
import random
import time

from hypothesis import HealthCheck, given, settings

from optimizer.checker import check_plan
from optimizer.domain import Problem
from optimizer.ejection import Pass, serve_more, serve_round
from optimizer.lns import RECREATES, improve, regret_round
from optimizer.processes.ruin import improve_forked
from tests.optimizer.conftest import Tiny, plan_leaving_out, served_ids
from tests.optimizer.strategies import fitting_route, two_van_days

LATER = 600.0  # seconds: a deadline these runs never reach


def _two_days(tiny: Tiny) -> Problem:
    """Van A works Monday 8:00-10:00, van B Tuesday 8:00-10:00. The must visit "fixed" (80
    minutes) may only be served on Monday; "free" (50 minutes) on either day. Both together
    do not fit one shift."""
    tiny.van("A").van("B").shift("A", 0, 8, 10).shift("B", 1, 8, 10)
    tiny.visit("free", (0.0, 0.5), 50, priority=1)
    tiny.visit("fixed", (0.5, 0.0), 80, priority=1, windows=(tiny.window(0, 8, 10),))
    return tiny.build()


def test_regret_places_first_the_visit_with_one_place_where_the_greedy_order_fails(
    tiny: Tiny,
) -> None:
    problem = _two_days(tiny)
    left = list(problem.visits)
    # The greedy order (the shortest first) puts "free" on Monday, the cheaper day (its fixed
    # cost and travel are the same, ties go to the earlier van-day): "fixed" no longer fits.
    greedy = Pass(problem, [], time.monotonic() + LATER, lambda: False)
    assert [v.id for v in serve_round(greedy, list(left), relocate=False)] == ["fixed"]
    # Regret: "fixed" has one van-day only, so it goes first; "free" takes Tuesday.
    work = Pass(problem, [], time.monotonic() + LATER, lambda: False)
    assert regret_round(work, list(left)) == []
    by_day = {r.day: [s.visit_id for s in r.stops] for r in work.routes()}
    assert by_day == {0: ["fixed"], 1: ["free"]}
    report = check_plan(problem, plan_leaving_out(problem, work.routes(), []))
    assert report.ok, report.violations


def _busy_week() -> tuple[Problem, list, list[str]]:
    """Two vans on two days, 24 visits (seeded), more than the days hold; the pass's plan."""
    tiny = Tiny()
    rng = random.Random(11)
    tiny.van("A").van("B")
    for day in range(2):
        tiny.shift("A", day, 8, 16.5).shift("B", day, 8, 14)
    for i in range(24):
        xy = (rng.randint(-8, 8) / 4, rng.randint(-8, 8) / 4)
        kw = {}
        if i % 4 == 0:
            day, hour = rng.randint(0, 1), rng.randint(8, 13)
            kw["windows"] = (tiny.window(day, hour, hour + 3),)
        tiny.visit(f"v{i}", xy, rng.randint(4, 11) * 10, priority=1 if i % 3 else 2, **kw)
    problem = tiny.build()
    packed = serve_more(problem, [], [v.id for v in problem.visits], time.monotonic() + LATER)
    return problem, packed.routes, packed.dropped


def test_regret_recreate_alone_is_deterministic_for_a_seed() -> None:
    problem, routes, dropped = _busy_week()
    only = sorted({op for op in RECREATES if op.__name__ != "_greedy"}, key=lambda o: o.__name__)
    runs = [
        improve(
            problem,
            routes,
            dropped,
            time.monotonic() + LATER,
            seed=4,
            iterations=25,
            recreates=only,
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    report = check_plan(problem, plan_leaving_out(problem, runs[0].routes, runs[0].dropped))
    assert report.ok, report.violations


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    two_van_days(),
)
def test_regret_round_keeps_a_checked_plan_and_every_visit_once(
    case: tuple[Problem, list[list[int]]],
) -> None:
    problem, split = case
    routes = [
        r
        for shift, indices in zip(problem.shifts, split, strict=True)
        if (r := fitting_route(problem, shift, indices)) is not None
    ]
    before = set(served_ids(routes))
    left = [v for v in problem.visits if v.id not in before]
    for k in (2, 3):
        work = Pass(problem, routes, time.monotonic() + LATER, lambda: False)
        still = regret_round(work, list(left), k)
        ids = [v.id for v in still]
        report = check_plan(problem, plan_leaving_out(problem, work.routes(), ids))
        assert report.ok, "\n".join(str(v) for v in report.violations)
        assert sorted(served_ids(work.routes()) + ids) == sorted(v.id for v in problem.visits)
        # it only inserts and exchanges for a higher penalty: the objective never rises
        assert work.delta <= 1e-6


def test_forked_runs_are_never_worse_than_the_run_here_and_repeat() -> None:
    problem, routes, dropped = _busy_week()
    alone = improve(problem, routes, dropped, time.monotonic() + LATER, seed=2, iterations=20)
    runs = [
        improve_forked(problem, routes, dropped, time.monotonic() + LATER, lambda: False, 2, 2, 20)
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0].delta <= alone.delta
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
