"""Unassigned-visit diagnosis: each static reason, the exact single-visit test, and "no room"."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from optimizer.checker import check_plan
from optimizer.diagnose import (
    VanDayMemo,
    alone_start,
    explain_unassigned,
    precheck,
    static_reason,
)
from optimizer.domain import (
    HOUR,
    MINUTE,
    UNREACHABLE,
    Break,
    BreakRule,
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
from optimizer.plan import BreakSlot, Plan, Reason, Route, SolverStats, Stop
from tests.optimizer.conftest import Tiny

from .strategies import problems

H = Horizon(date(2026, 11, 23), days=3)  # Mon 23 .. Wed 25 November 2026
LOCS = ("base", "a", "remote", "island")
# base <-> a: 10 min; base <-> remote: 4 h; island unreachable from base (reachable from a).
D = np.array(
    [
        [0, 600, 4 * HOUR, UNREACHABLE],
        [600, 0, 4 * HOUR, 600],
        [4 * HOUR, 4 * HOUR, 0, 4 * HOUR],
        [UNREACHABLE, 600, 4 * HOUR, 0],
    ],
    dtype=np.int64,
)


def t(day: int, hour: int, minute: int = 0) -> int:
    return H.at(day, hour, minute)


def problem(*visits: Visit, shifts: tuple[Shift, ...] | None = None) -> Problem:
    vans = (Van("v1", skills=frozenset({"lang:ar"})), Van("v2", skills=frozenset({"wheelchair"})))
    if shifts is None:
        shifts = (
            Shift("v1", 0, t(0, 8), t(0, 17)),
            Shift("v2", 0, t(0, 8), t(0, 17)),
            Shift("v1", 1, t(1, 8), t(1, 17)),
        )
    matrix = TravelMatrix(LOCS, D, np.where(D == UNREACHABLE, UNREACHABLE, D * 10))
    return Problem(H, vans, shifts, visits, matrix).validate()


def reason_of(pb: Problem, vid: str) -> tuple[Reason, str]:
    found = precheck(pb)[vid]
    return found.reason, found.message


def test_feasible_visit_is_not_flagged() -> None:
    pb = problem(Visit("ok", "a", HOUR, (TimeWindow(t(0, 9), t(0, 11)),)))
    assert precheck(pb) == {}


def test_no_van_has_the_skill() -> None:
    pb = problem(Visit("u", "a", HOUR, skills=frozenset({"lang:uk", "lang:ar"})))
    reason, message = reason_of(pb, "u")
    assert reason is Reason.NO_SKILLED_VAN
    assert "lang:uk" in message and "lang:ar" not in message and "Visit u" in message


def test_no_single_van_has_all_skills() -> None:
    pb = problem(Visit("u", "a", HOUR, skills=frozenset({"wheelchair", "lang:ar"})))
    reason, message = reason_of(pb, "u")
    assert reason is Reason.NO_SKILLED_VAN and "no single van" in message
    assert "lang:ar" in message and "wheelchair" in message


def test_window_outside_every_shift() -> None:
    pb = problem(Visit("late", "a", 30 * MINUTE, (TimeWindow(t(1, 18), t(1, 20)),)))
    reason, message = reason_of(pb, "late")
    assert reason is Reason.NO_SHIFT_IN_WINDOW
    assert "Tue 2026-11-24 18:00-20:00" in message


def test_window_only_on_days_the_skilled_van_does_not_work() -> None:
    # v2 (wheelchair) works on Monday only; the window is on Tuesday.
    pb = problem(
        Visit(
            "w",
            "a",
            30 * MINUTE,
            (TimeWindow(t(1, 9), t(1, 12)),),
            skills=frozenset({"wheelchair"}),
        )
    )
    assert reason_of(pb, "w")[0] is Reason.NO_SHIFT_IN_WINDOW


def test_no_shift_on_an_allowed_day() -> None:
    pb = problem(Visit("d", "a", 30 * MINUTE, days=frozenset({2})))
    reason, message = reason_of(pb, "d")
    assert reason is Reason.NO_SHIFT_IN_WINDOW and "Wed 2026-11-25" in message


def test_service_longer_than_every_window() -> None:
    pb = problem(
        Visit(
            "long",
            "a",
            2 * HOUR,
            (TimeWindow(t(0, 9), t(0, 10)), TimeWindow(t(1, 9), t(1, 10, 30))),
        )
    )
    reason, message = reason_of(pb, "long")
    assert reason is Reason.SERVICE_TOO_LONG and "2 h 00 min" in message and "1 h 30 min" in message


def test_service_longer_than_the_window_part_inside_shifts() -> None:
    pb = problem(Visit("edge", "a", 2 * HOUR, (TimeWindow(t(0, 16), t(0, 19)),)))
    reason, message = reason_of(pb, "edge")
    assert reason is Reason.SERVICE_TOO_LONG and "inside a shift" in message


def test_no_road_from_the_depot() -> None:
    pb = problem(Visit("i", "island", 30 * MINUTE))
    reason, message = reason_of(pb, "i")
    assert reason is Reason.UNREACHABLE and "island" in message and "base" in message


def test_too_far_to_fit_into_the_shift() -> None:
    # 4 h there and 4 h back leave 1 h of a 9 h shift, but the visit takes 90 min.
    pb = problem(Visit("r", "remote", 90 * MINUTE, (TimeWindow(t(0, 8), t(0, 17)),)))
    reason, message = reason_of(pb, "r")
    assert reason is Reason.UNREACHABLE and "does not fit" in message
    # 30 min fits in the time; but the law then asks for a 30 min break (8.5 h of work): 9 h total.
    assert precheck(problem(Visit("r", "remote", 30 * MINUTE))) == {}
    assert "r" in precheck(problem(Visit("r", "remote", 31 * MINUTE)))


def test_round_trip_longer_than_max_work() -> None:
    shifts = (Shift("v1", 0, t(0, 6), t(0, 20), max_work=8 * HOUR),)
    pb = problem(Visit("r", "remote", HOUR), shifts=shifts)
    reason, message = reason_of(pb, "r")
    assert reason is Reason.UNREACHABLE and "maximum working time" in message


def test_service_longer_than_the_law_allows_without_a_break() -> None:
    shifts = (Shift("v1", 0, t(0, 6), t(0, 20)),)
    pb = problem(Visit("s", "a", 6 * HOUR + MINUTE), shifts=shifts)
    reason, message = reason_of(pb, "s")
    assert reason is Reason.SERVICE_TOO_LONG and "without a break" in message
    # With explicitly configured breaks the statutory rule does not apply.
    explicit = (Shift("v1", 0, t(0, 6), t(0, 20), breaks=(Break(t(0, 6), t(0, 20), 30 * MINUTE),)),)
    assert precheck(problem(Visit("s", "a", 6 * HOUR + MINUTE), shifts=explicit)) == {}


@pytest.mark.parametrize(
    ("pin", "words"),
    [
        (Pin(van_id="v2"), "lacks the skill(s) lang:ar"),
        (Pin(van_id="v1", day=2), "van v1 has no shift that day"),
        (Pin(day=2), "no suitable van has no shift"),
        (Pin(start=t(0, 7)), "outside its time windows"),
    ],
)
def test_impossible_pins(pin: Pin, words: str) -> None:
    visit = Visit(
        "p",
        "a",
        30 * MINUTE,
        (TimeWindow(t(0, 7), t(0, 12)),),
        skills=frozenset({"lang:ar"}),
        pin=pin,
    )
    if pin.start is not None:
        visit = replace(visit, windows=(TimeWindow(t(0, 8), t(0, 12)),))
    reason, message = reason_of(problem(visit), "p")
    assert reason is Reason.PIN_IMPOSSIBLE
    assert words in message


def test_pin_on_a_day_that_is_not_allowed() -> None:
    visit = Visit("p", "a", 30 * MINUTE, days=frozenset({0}), pin=Pin(day=1))
    reason, message = reason_of(problem(visit), "p")
    assert reason is Reason.PIN_IMPOSSIBLE and "Tue 2026-11-24" in message


def test_pinned_start_outside_every_shift() -> None:
    visit = Visit("p", "a", 30 * MINUTE, pin=Pin(start=t(0, 18)))
    reason, message = reason_of(problem(visit), "p")
    assert reason is Reason.PIN_IMPOSSIBLE and "outside every shift" in message


def test_explicit_break_is_honoured_by_the_single_visit_test() -> None:
    # A 30-minute break due between 08:00 and 08:40 leaves no way to serve an 08:10-08:30 visit:
    # before the drive it delays the arrival to 08:40; after it, the break would end too late.
    visit = Visit("b", "a", 20 * MINUTE, (TimeWindow(t(0, 8), t(0, 8, 30)),))
    tight = (Shift("v1", 0, t(0, 8), t(0, 17), breaks=(Break(t(0, 8), t(0, 8, 40), 30 * MINUTE),)),)
    reason, message = reason_of(problem(visit, shifts=tight), "b")
    assert reason is Reason.BREAKS_DO_NOT_FIT and "breaks" in message
    # With a later break window it fits: drive 08:00-08:10, serve 08:10-08:30, then the break.
    loose = (Shift("v1", 0, t(0, 8), t(0, 17), breaks=(Break(t(0, 8), t(0, 9, 30), 30 * MINUTE),)),)
    pb = problem(visit, shifts=loose)
    assert alone_start(pb, visit, pb.vans[0], pb.shifts[0]) == t(0, 8, 10)


def test_statutory_single_visit_start_is_exact_and_checker_accepts_it() -> None:
    # 45 min out, 5 h service, 45 min back = 6.5 h of work -> 30 min break; the shift is 7 h.
    d = np.array([[0, 45 * MINUTE], [45 * MINUTE, 0]], dtype=np.int64)
    matrix = TravelMatrix(("base", "a"), d, d * 10)
    visit = Visit("v", "a", 5 * HOUR)
    shift = Shift("v1", 0, t(0, 8), t(0, 15))
    pb = Problem(H, (Van("v1"),), (shift,), (visit,), matrix).validate()
    start = alone_start(pb, visit, pb.vans[0], shift)
    assert start == t(0, 8, 45)  # drive 08:00-08:45, serve until 13:45, break, drive back
    route = Route(
        "v1", 0, "base", "base", t(0, 8), t(0, 15),
        (Stop("v", "a", t(0, 8, 45), start, start + 5 * HOUR, 0, 45 * MINUTE, 27000),),
        (BreakSlot(t(0, 13, 45), t(0, 14, 15)),), 45 * MINUTE, 27000,
    )  # fmt: skip
    check_plan(pb, Plan((route,), (), SolverStats("hand", 0, 0))).assert_ok()
    # One minute less of shift and it no longer fits.
    short = replace(shift, end=t(0, 14, 59))
    pb2 = replace(pb, shifts=(short,))
    assert alone_start(pb2, visit, pb2.vans[0], short) is None
    assert static_reason(pb2, visit) is not None
    # A break that may start only 6 h into the shift comes too late for this day.
    late = replace(pb, break_rule=BreakRule(earliest_after_start=6 * HOUR))
    assert alone_start(late, visit, late.vans[0], shift) is None


def test_dropped_visit_with_no_room_names_the_competitors() -> None:
    # Two one-hour visits in the same 09:00-10:00 window; only v1 has the skill, on Monday only.
    a = Visit("a", "a", HOUR, (TimeWindow(t(0, 9), t(0, 10)),), skills=frozenset({"lang:ar"}))
    b = replace(a, id="b")
    shifts = (Shift("v1", 0, t(0, 8), t(0, 17)),)
    pb = problem(a, b, shifts=shifts)
    assert precheck(pb) == {}
    route = Route(
        "v1", 0, "base", "base", t(0, 8, 50), t(0, 10, 10),
        (Stop("a", "a", t(0, 9), t(0, 9), t(0, 10), 0, 600, 6000),), (), 600, 6000,
    )  # fmt: skip
    (why,) = explain_unassigned(pb, [route], ["b"])
    assert why.visit_id == "b" and why.reason is Reason.NO_ROOM
    assert why.conflicts == ("a", "v1/0")
    assert "no room" in why.message and "van v1 on Mon 2026-11-23: a" in why.message
    plan = Plan((route,), (why,), SolverStats("hand", 0, 0))
    check_plan(pb, plan).assert_ok()


def test_no_room_names_a_few_competitors_per_route_and_lists_them_all() -> None:
    # "x" has no window: every stop of v1's Monday competes with it.
    ar = frozenset({"lang:ar"})
    ws = [Visit(f"w{i}", "a", 30 * MINUTE, skills=ar) for i in range(8)]
    x = Visit("x", "a", 30 * MINUTE, skills=ar)
    pb = problem(*ws, x)
    starts = [t(0, 9) + i * 30 * MINUTE for i in range(len(ws))]
    stops = tuple(
        Stop(w.id, "a", s, s, s + 30 * MINUTE, 0, 0, 0) for w, s in zip(ws, starts, strict=True)
    )
    route = Route("v1", 0, "base", "base", t(0, 9), t(0, 13), stops, (), 600, 6000)
    (why,) = explain_unassigned(pb, [route], ["x"])
    assert why.reason is Reason.NO_ROOM
    assert "van v1 on Mon 2026-11-23: w0, w1, w2, w3, w4, w5 and 2 more" in why.message
    assert "w6" not in why.message
    assert why.conflicts == (*(w.id for w in ws), "v1/0", "v1/1")


def test_dropped_visit_with_static_reason_keeps_it() -> None:
    pb = problem(Visit("i", "island", 30 * MINUTE), Visit("ok", "a", 30 * MINUTE))
    (why,) = explain_unassigned(pb, [], ["i"])
    assert why.reason is Reason.UNREACHABLE


def test_optional_visit_left_out_without_competitors() -> None:
    pb = problem(Visit("opt", "a", 30 * MINUTE, priority=3))
    (why,) = explain_unassigned(pb, [], ["opt"])
    assert why.reason is Reason.NO_ROOM and "priority 3" in why.message
    assert why.conflicts == ("v1/0", "v2/0", "v1/1")


def test_break_before_departure_counts_and_many_breaks_stay_fast() -> None:
    # The break due 08:00-08:30 is taken before leaving; the van then serves from 08:40.
    visit = Visit("b", "a", 20 * MINUTE, (TimeWindow(t(0, 8), t(0, 9)),))
    first = Break(t(0, 8), t(0, 8, 30), 30 * MINUTE)
    pb = problem(visit, shifts=(Shift("v1", 0, t(0, 8), t(0, 17), breaks=(first,)),))
    assert alone_start(pb, visit, pb.vans[0], pb.shifts[0]) == t(0, 8, 40)
    # Ten short breaks: beyond the exact limit they are ignored rather than enumerated.
    many = tuple(Break(t(0, 9 + i % 8), t(0, 10 + i % 8), 5 * MINUTE) for i in range(10))
    pb = problem(visit, shifts=(Shift("v1", 0, t(0, 8), t(0, 17), breaks=many),))
    assert alone_start(pb, visit, pb.vans[0], pb.shifts[0]) == t(0, 8, 10)


def test_unknown_dropped_ids_are_a_clear_error() -> None:
    pb = problem(Visit("ok", "a", 30 * MINUTE))
    with pytest.raises(ValidationError, match=r"dropped_ids\[1\]: unknown visit 'ghost'"):
        explain_unassigned(pb, [], ["ok", "ghost"])


def test_left_out_visits_past_the_deadline_get_a_short_reason() -> None:
    # Thousands of left-out visits took a minute to explain: past the deadline the rest are
    # said to have no room without being examined, so the plan is not late.
    t = Tiny().van("A").shift("A", 0, 8, 10)
    for i in range(3):
        t.visit(f"v{i}", (1.0 + i, 0.0), 30)
    pb = t.build()
    full = explain_unassigned(pb, [], ["v0", "v1", "v2"], prechecked=True)
    assert all("not examined" not in u.message for u in full)
    late = explain_unassigned(pb, [], ["v0", "v1", "v2"], deadline=time.monotonic() - 1.0)
    assert [u.visit_id for u in late] == ["v0", "v1", "v2"]
    assert all(u.reason is Reason.NO_ROOM and "not examined" in u.message for u in late)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_visits=16))
def test_the_precheck_memo_gives_each_visit_the_reason_it_has_alone(problem: Problem) -> None:
    # The precheck shares van-day work between visits of one kind (VanDayMemo): every visit
    # still gets exactly the reason it gets diagnosed on its own.
    memo = VanDayMemo(problem)
    for visit in problem.visits:
        assert static_reason(problem, visit, memo) == static_reason(problem, visit)
    alone = {v.id: static_reason(problem, v) for v in problem.visits}
    assert precheck(problem) == {vid: u for vid, u in alone.items() if u is not None}
