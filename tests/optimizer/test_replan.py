"""Re-planning: minimal moves after a van drops out, added and cancelled visits, changed visits;
the checker accepts every result."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from optimizer.checker import check_plan
from optimizer.domain import (
    MINUTE,
    Horizon,
    Pin,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
)
from optimizer.errors import ValidationError
from optimizer.plan import Plan, Reason, Route, SolverStats, Stop
from optimizer.replan import Changes, Placement, Status, apply_changes, diff_plans, replan
from optimizer.settings import SolverSettings
from optimizer.solve import solve

H = Horizon(date(2026, 11, 23), days=2)
SETTINGS = SolverSettings(time_limit=5.0, solution_limit=200, seed=0)
# Places on a 20 km x 12 km plane; vans drive 1 km per 80 s, a little slower one way.
XY = {
    "base": (10, 6),
    "p0": (1, 1),
    "p1": (4, 11),
    "p2": (9, 2),
    "p3": (13, 10),
    "p4": (18, 3),
    "p5": (19, 11),
    "p6": (6, 6),
    "p7": (15, 6),
}


def matrix() -> TravelMatrix:
    locs = tuple(XY)
    km = np.array([[math.dist(XY[a], XY[b]) for b in locs] for a in locs])
    skew = np.triu(np.ones_like(km), 1) * 30  # asymmetric: +30 s on one direction
    dur = np.ceil(km * 80 + np.where(km > 0, skew, 0)).astype(np.int64)
    return TravelMatrix(locs, dur, np.ceil(km * 1000 * 1.3).astype(np.int64))


def t(day: int, hour: int, minute: int = 0) -> int:
    return H.at(day, hour, minute)


def week_problem() -> Problem:
    vans = (Van("A"), Van("B"))
    shifts = tuple(Shift(v, d, t(d, 8), t(d, 16)) for d in range(2) for v in ("A", "B"))
    both_days = (TimeWindow(t(0, 8), t(0, 16)), TimeWindow(t(1, 8), t(1, 16)))
    visits = tuple(
        Visit(f"v{i}", f"p{i % 8}", 45 * MINUTE, both_days if i % 3 else ()) for i in range(12)
    )
    return Problem(H, vans, shifts, visits, matrix()).validate()


@pytest.fixture(scope="module")
def published() -> tuple[Problem, Plan]:
    problem = week_problem()
    plan = solve(problem, SETTINGS)
    check_plan(problem, plan).assert_ok()
    assert len(plan.assigned) == 12  # room for everyone
    return problem, plan


def keeps_van_day(result_diff_status: Status) -> bool:
    return result_diff_status in (Status.UNCHANGED, Status.TIME_CHANGED)


def busiest(plan: Plan) -> tuple[str, int]:
    r = max(plan.routes, key=lambda r: (len(r.stops), r.van_id, -r.day))
    return (r.van_id, r.day)


def quietest(plan: Plan) -> tuple[str, int]:
    """The used van-day with the fewest stops (from scratch, losing it reshuffles the rest)."""
    r = min((r for r in plan.routes if r.stops), key=lambda r: (len(r.stops), r.van_id, r.day))
    return (r.van_id, r.day)


def disturbed(before: Plan, after: Plan) -> int:
    """Visits served in ``before`` that are elsewhere or not served in ``after``."""
    now = after.assigned
    return sum(1 for vid, key in before.assigned.items() if now.get(vid) != key)


@pytest.mark.parametrize("which", [quietest, busiest])
def test_van_out_for_a_day_moves_only_its_visits(
    published: tuple[Problem, Plan], which: Callable[[Plan], tuple[str, int]]
) -> None:
    problem, previous = published
    out = which(previous)
    lost = {vid for vid, key in previous.assigned.items() if key == out}
    changes = Changes(unavailable=frozenset({out}))
    result = replan(problem, previous, changes, SETTINGS)
    check_plan(result.problem, result.plan).assert_ok()

    assert result.plan.route(*out) is None
    assert set(result.fallback) == lost  # their pins were impossible: anchored instead
    status = {c.visit_id: c.status for c in result.diff}
    for vid in previous.assigned:
        if vid in lost:
            assert status[vid] in (Status.MOVED, Status.NEWLY_UNASSIGNED)
        else:
            assert keeps_van_day(status[vid]), (vid, status[vid])
    assert set(result.moved) == lost  # the three remaining van-days have room for them

    # A plan from scratch for the same situation disturbs at least as many visits.
    scratch = solve(apply_changes(problem, changes), SETTINGS)
    check_plan(result.problem, scratch).assert_ok()
    assert disturbed(previous, result.plan) <= disturbed(previous, scratch)
    assert disturbed(previous, result.plan) == len(lost)


def test_anchors_instead_of_pins_also_keep_moves_few(published: tuple[Problem, Plan]) -> None:
    problem, previous = published
    out = busiest(previous)
    changes = Changes(unavailable=frozenset({out}))
    result = replan(problem, previous, changes, SETTINGS, pin_confirmed=False)
    check_plan(result.problem, result.plan).assert_ok()
    scratch = solve(apply_changes(problem, changes), SETTINGS)
    assert disturbed(previous, result.plan) <= disturbed(previous, scratch)
    assert result.fallback == ()
    assert set(result.anchors) == set(previous.assigned)


def test_added_visit_keeps_confirmed_visits_in_place(published: tuple[Problem, Plan]) -> None:
    problem, previous = published
    new = Visit("new", "p5", 30 * MINUTE, (TimeWindow(t(1, 10), t(1, 12)),))
    result = replan(problem, previous, Changes(added=(new,)), SETTINGS)
    check_plan(result.problem, result.plan).assert_ok()
    by_id = {c.visit_id: c for c in result.diff}
    assert by_id["new"].status is Status.NEWLY_ASSIGNED
    assert by_id["new"].new is not None and by_id["new"].new.day == 1
    for vid in previous.assigned:
        assert keeps_van_day(by_id[vid].status)
        assert result.plan.assigned[vid] == previous.assigned[vid]


def test_cancelled_visits_disappear(published: tuple[Problem, Plan]) -> None:
    problem, previous = published
    gone = frozenset({"v0", "v7"})
    result = replan(problem, previous, Changes(cancelled=gone), SETTINGS)
    check_plan(result.problem, result.plan).assert_ok()
    assert not gone & result.plan.assigned.keys()
    assert not gone & {u.visit_id for u in result.plan.unassigned}
    assert set(result.with_status(Status.CANCELLED)) == gone
    assert all(keeps_van_day(c.status) for c in result.diff if c.visit_id not in gone)
    assert result.plan.distance <= previous.distance  # fewer stops, same days: not longer


def test_changed_visit_that_no_longer_fits_its_day_moves(published: tuple[Problem, Plan]) -> None:
    problem, previous = published
    vid, (_van, day) = sorted(previous.assigned.items())[0]
    other = 1 - day
    changed = replace(
        problem.visit(vid), windows=(TimeWindow(t(other, 13), t(other, 15)),), days=None
    )
    result = replan(problem, previous, Changes(changed=(changed,)), SETTINGS)
    check_plan(result.problem, result.plan).assert_ok()
    assert vid in result.fallback
    (change,) = [c for c in result.diff if c.visit_id == vid]
    assert change.status is Status.MOVED and change.old is not None and change.new is not None
    assert change.old.day == day and change.new.day == other
    assert t(other, 13) <= change.new.start <= t(other, 15) - 45 * MINUTE
    others = [c for c in result.diff if c.visit_id != vid]
    assert all(keeps_van_day(c.status) for c in others)


def test_only_confirmed_visits_are_held(published: tuple[Problem, Plan]) -> None:
    problem, previous = published
    confirmed = sorted(previous.assigned)[:4]
    result = replan(
        problem, previous, Changes(unavailable=frozenset({busiest(previous)})), SETTINGS,
        confirmed=confirmed,
    )  # fmt: skip
    check_plan(result.problem, result.plan).assert_ok()
    assert set(result.anchors) == set(confirmed)
    with pytest.raises(ValidationError, match="confirmed"):
        replan(problem, previous, Changes(), SETTINGS, confirmed=["nope"])


def test_bad_changes_are_reported_together() -> None:
    problem = week_problem()
    changes = Changes(
        added=(Visit("v1", "p1", 60), Visit("x", "p1", 60), Visit("x", "p2", 60)),
        cancelled=frozenset({"ghost"}),
        unavailable=frozenset({("Z", 0), ("A", 5)}),
        changed=(Visit("nobody", "p1", 60),),
    )
    with pytest.raises(ValidationError) as info:
        apply_changes(problem, changes)
    fields = [i.field for i in info.value.issues]
    assert fields.count("changes.unavailable") == 2
    assert "changes.added[0].id" in fields and "changes.added[2].id" in fields
    assert "changes.cancelled" in fields and "changes.changed[0].id" in fields
    assert len(fields) == 6


def test_apply_changes_builds_the_new_problem() -> None:
    problem = week_problem()
    new = Visit("x", "p1", 60)
    changed = replace(problem.visit("v2"), duration=90 * MINUTE)
    after = apply_changes(
        problem,
        Changes(
            added=(new,),
            cancelled=frozenset({"v0"}),
            unavailable=frozenset({("B", 1)}),
            changed=(changed,),
        ),
    )
    ids = [v.id for v in after.visits]
    assert "v0" not in ids and ids[-1] == "x" and len(ids) == 12
    assert after.visit("v2").duration == 90 * MINUTE
    assert after.shift("B", 1) is None and after.shift("B", 0) is not None
    assert len(problem.visits) == 12 and problem.shift("B", 1) is not None  # input untouched


def test_diff_names_every_kind_of_change() -> None:
    problem = week_problem()

    def plan(placements: dict[str, tuple[str, int, int]]) -> Plan:
        # Only what the diff reads (who is served where and when); not a feasible plan.
        routes = []
        for van, day in sorted({(p[0], p[1]) for p in placements.values()}):
            stops = tuple(
                Stop(vid, "p0", s, s, s + 1, 0, 0, 0)
                for vid, (v, d, s) in placements.items()
                if (v, d) == (van, day)
            )
            routes.append(Route(van, day, "base", "base", 0, 0, stops, (), 0, 0))
        return Plan(tuple(routes), (), SolverStats("hand", 0, 0))

    before = plan(
        {
            "v0": ("A", 0, 100),
            "v1": ("A", 0, 200),
            "v2": ("B", 0, 300),
            "v3": ("B", 1, 400),
            "v4": ("A", 1, 500),
        }
    )
    after = plan(
        {
            "v0": ("A", 0, 100),
            "v1": ("A", 0, 250),
            "v2": ("A", 1, 300),
            "v5": ("B", 1, 600),
            "new": ("B", 1, 700),
        }
    )
    changes = Changes(added=(Visit("new", "p1", 60),), cancelled=frozenset({"v4"}))
    diff = {c.visit_id: c for c in diff_plans(problem, before, after, changes)}
    expect = {
        "v0": Status.UNCHANGED,
        "v1": Status.TIME_CHANGED,
        "v2": Status.MOVED,
        "v3": Status.NEWLY_UNASSIGNED,
        "v4": Status.CANCELLED,
        "v5": Status.NEWLY_ASSIGNED,
        "v6": Status.STILL_UNASSIGNED,
        "new": Status.NEWLY_ASSIGNED,
    }
    assert {vid: diff[vid].status for vid in expect} == expect
    assert len(diff) == 13  # 12 visits + the added one
    assert diff["v2"].old == Placement("B", 0, 300) and diff["v2"].new == Placement("A", 1, 300)
    assert diff["v1"].old is not None and diff["v1"].new is not None
    assert (diff["v1"].old.start, diff["v1"].new.start) == (200, 250)


def test_pinned_times_keep_what_clients_were_told(published: tuple[Problem, Plan]) -> None:
    problem, previous = published
    out = quietest(previous)
    lost = {vid for vid, key in previous.assigned.items() if key == out}
    new = Visit("new", "p5", 30 * MINUTE, (TimeWindow(t(1, 10), t(1, 12)),))
    changes = Changes(added=(new,), unavailable=frozenset({out}))
    result = replan(problem, previous, changes, SETTINGS, pin_times=True)
    check_plan(result.problem, result.plan).assert_ok()
    status = {c.visit_id: c.status for c in result.diff}
    assert status["new"] is Status.NEWLY_ASSIGNED
    for vid in previous.assigned:
        assert status[vid] is (Status.MOVED if vid in lost else Status.UNCHANGED), vid


def test_a_confirmed_visit_pinned_elsewhere_follows_its_pin(
    published: tuple[Problem, Plan],
) -> None:
    """The dispatcher's newer pin wins over holding a confirmed visit where it was."""
    problem, previous = published
    vid, (van, day) = sorted(previous.assigned.items())[0]
    other_van = "B" if van == "A" else "A"
    moved = replace(problem.visit(vid), pin=Pin(other_van, 1 - day))
    result = replan(problem, previous, Changes(changed=(moved,)), SETTINGS)
    check_plan(result.problem, result.plan).assert_ok()
    assert vid not in result.anchors and result.plan.assigned[vid] == (other_van, 1 - day)
    (change,) = [c for c in result.diff if c.visit_id == vid]
    assert change.status is Status.MOVED
    # the other confirmed visits stay held
    assert set(result.anchors) == set(previous.assigned) - {vid}


SLACK = 5 * MINUTE


def held_tuples(result_held: object) -> dict[str, tuple[str, int, int]]:
    assert isinstance(result_held, dict)
    return {vid: (p.van_id, p.day, p.start) for vid, p in result_held.items()}


def test_confirmed_visits_keep_van_day_and_start_within_the_slack(
    published: tuple[Problem, Plan],
) -> None:
    """A van out for a day and a new visit: the other confirmed visits stay on their van-day and
    start within +/- 5 minutes of the published start; the independent checker verifies it."""
    problem, previous = published
    out = quietest(previous)
    lost = {vid for vid, key in previous.assigned.items() if key == out}
    new = Visit("new", "p6", 40 * MINUTE, (TimeWindow(t(0, 9), t(0, 15)),))
    changes = Changes(added=(new,), unavailable=frozenset({out}))
    result = replan(problem, previous, changes, SETTINGS, time_slack=SLACK)
    assert result.held is not None
    held = held_tuples(result.held)
    assert set(held) == set(previous.assigned) - lost - set(result.released)
    assert len(held) >= len(previous.assigned) - len(lost) - 1
    check_plan(result.problem, result.plan, held=held, held_slack=SLACK).assert_ok()
    for vid, (van, day, start) in held.items():  # the same, said directly
        served = next(s.start for r in result.plan.routes for s in r.stops if s.visit_id == vid)
        assert result.plan.assigned[vid] == (van, day) and abs(served - start) <= SLACK


def test_hold_uses_the_given_reference_placements(published: tuple[Problem, Plan]) -> None:
    """``hold`` (the published placement) wins over the previous plan's placement."""
    problem, previous = published
    vid, (van, day) = sorted(previous.assigned.items())[0]
    shift = problem.shift(van, day)
    assert shift is not None
    start = next(s.start for r in previous.routes for s in r.stops if s.visit_id == vid)
    ref = {vid: Placement(van, day, start + 20 * MINUTE)}
    result = replan(problem, previous, Changes(), SETTINGS, hold=ref, time_slack=SLACK)
    assert result.held is not None and vid in result.held
    check_plan(
        result.problem, result.plan, held=held_tuples(result.held), held_slack=SLACK
    ).assert_ok()
    served = next(s.start for r in result.plan.routes for s in r.stops if s.visit_id == vid)
    assert abs(served - (start + 20 * MINUTE)) <= SLACK


def test_a_start_that_no_longer_fits_is_released_not_held(
    published: tuple[Problem, Plan],
) -> None:
    """A confirmed visit whose new window excludes its old start keeps its van-day only."""
    problem, previous = published
    vid, (van, day) = next(
        (v, k) for v, k in sorted(previous.assigned.items()) if problem.visit(v).windows
    )
    start = next(s.start for r in previous.routes for s in r.stops if s.visit_id == vid)
    later = TimeWindow(start + 3600, t(day, 16))
    earlier = TimeWindow(t(day, 8), start - 600)
    window = later if later.length >= earlier.length else earlier
    changed = replace(problem.visit(vid), windows=(window,))
    result = replan(problem, previous, Changes(changed=(changed,)), SETTINGS, time_slack=SLACK)
    assert vid in result.released and result.held is not None and vid not in result.held
    check_plan(
        result.problem, result.plan, held=held_tuples(result.held), held_slack=SLACK
    ).assert_ok()
    assert result.plan.assigned.get(vid) == (van, day)


def test_the_checker_reports_a_held_visit_that_moved(published: tuple[Problem, Plan]) -> None:
    problem, plan = published
    (vid, (van, day)), *_ = sorted(plan.assigned.items())
    start = next(s.start for r in plan.routes for s in r.stops if s.visit_id == vid)
    ok = check_plan(problem, plan, held={vid: (van, day, start + 240)}, held_slack=SLACK)
    assert ok.ok
    late = check_plan(problem, plan, held={vid: (van, day, start + 400)}, held_slack=SLACK)
    assert [v.code for v in late.violations] == ["held"]
    other = "B" if van == "A" else "A"
    moved = check_plan(problem, plan, held={vid: (other, day, start)}, held_slack=SLACK)
    assert [v.code for v in moved.violations] == ["held"]
    gone = check_plan(problem, plan, held={"nobody": (van, day, start)})
    assert [v.code for v in gone.violations] == ["held"]


def test_pins_to_a_full_van_day_are_reported_not_honoured() -> None:
    """Every visit pinned to van A on day 0: possible one by one, not all together. The pins
    are kept (nobody is moved to another van-day) and the visits left out say why."""
    problem = week_problem()
    pinned = tuple(replace(v, pin=Pin("A", 0)) for v in problem.visits)
    problem = replace(problem, visits=pinned).validate()
    plan = solve(problem, SETTINGS)
    check_plan(problem, plan).assert_ok()  # pins included
    assert plan.unassigned and set(plan.assigned.values()) == {("A", 0)}
    for u in plan.unassigned:
        assert u.reason is Reason.PIN_NOT_HONOURED, u
        assert "its pin to van A Mon 2026-11-23 could not be honoured" in u.message
