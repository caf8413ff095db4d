"""The plan diff (moved, retimed, added, dropped): general rules as properties, cases by hand."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.diff import (
    RETIME_THRESHOLD,
    ChangeKind,
    Placement,
    apply_diff,
    placements,
    plan_diff,
)
from optimizer.plan import Plan, Route, SolverStats, Stop

VANS = ("A", "B", "C")
VISITS = tuple(f"v{i}" for i in range(12))


def plan_of(where: Mapping[str, Placement]) -> Plan:
    """A plan serving each visit where ``where`` says (only what the diff reads is realistic)."""
    by_key: dict[tuple[str, int], list[Stop]] = {}
    for vid, p in where.items():
        by_key.setdefault(p.van_day, []).append(Stop(vid, vid, p.start, p.start, p.start, 0, 0, 0))
    routes = tuple(
        Route(van, day, "base", "base", 0, 0, tuple(sorted(stops, key=lambda s: s.start)), (), 0, 0)
        for (van, day), stops in sorted(by_key.items())
    )
    return Plan(routes, (), SolverStats("OK", 0.0, 0.0))


placement = st.builds(
    Placement,
    van_id=st.sampled_from(VANS),
    day=st.integers(0, 4),
    start=st.integers(0, 5 * 86_400),
)
placement_maps = st.dictionaries(st.sampled_from(VISITS), placement, max_size=len(VISITS))


@st.composite
def plan_pairs(draw: st.DrawFn) -> tuple[dict[str, Placement], dict[str, Placement]]:
    """An earlier plan and a later one made of it by small changes (so every kind occurs)."""
    before = draw(placement_maps)
    after: dict[str, Placement] = {}
    for vid, p in before.items():
        what = draw(st.sampled_from(["keep", "nudge", "retime", "move", "drop"]))
        if what == "keep":
            after[vid] = p
        elif what == "nudge":  # below the threshold: not a change
            after[vid] = Placement(p.van_id, p.day, p.start + draw(st.integers(-59, 59)))
        elif what == "retime":
            after[vid] = Placement(p.van_id, p.day, draw(st.integers(0, 5 * 86_400)))
        elif what == "move":
            after[vid] = draw(placement)
    for vid in VISITS:
        if vid not in before and draw(st.booleans()):
            after[vid] = draw(placement)
    return before, after


@settings(max_examples=200, deadline=None)
@given(placement_maps)
def test_the_diff_of_a_plan_with_itself_is_empty(where: dict[str, Placement]) -> None:
    plan = plan_of(where)
    assert placements(plan) == where
    assert plan_diff(plan, plan).empty
    assert plan_diff(where, where).changes == ()


@settings(max_examples=300, deadline=None)
@given(plan_pairs())
def test_applying_the_changes_gives_the_later_plan(
    pair: tuple[dict[str, Placement], dict[str, Placement]],
) -> None:
    before, after = pair
    diff = plan_diff(plan_of(before), plan_of(after))
    applied = apply_diff(before, diff)
    assert applied.keys() == after.keys()
    for vid, p in after.items():
        assert applied[vid].van_day == p.van_day
        assert abs(applied[vid].start - p.start) < RETIME_THRESHOLD
    # one change per visit, and exactly the visits that changed
    ids = [c.visit_id for c in diff.changes]
    assert len(ids) == len(set(ids))
    changed = {
        vid
        for vid in before.keys() | after.keys()
        if vid not in before
        or vid not in after
        or before[vid].van_day != after[vid].van_day
        or abs(before[vid].start - after[vid].start) >= RETIME_THRESHOLD
    }
    assert set(ids) == changed


@settings(max_examples=200, deadline=None)
@given(plan_pairs())
def test_the_reverse_diff_swaps_added_and_dropped(
    pair: tuple[dict[str, Placement], dict[str, Placement]],
) -> None:
    before, after = pair
    forth, back = plan_diff(before, after), plan_diff(after, before)
    assert [c.visit_id for c in forth.added] == [c.visit_id for c in back.dropped]
    assert [c.visit_id for c in forth.dropped] == [c.visit_id for c in back.added]
    assert [c.visit_id for c in forth.moved] == [c.visit_id for c in back.moved]
    assert [c.visit_id for c in forth.retimed] == [c.visit_id for c in back.retimed]


def test_each_kind_by_hand() -> None:
    before = {
        "same": Placement("A", 0, 32_400),
        "nudged": Placement("A", 0, 36_000),
        "late": Placement("A", 0, 40_000),
        "other_van": Placement("A", 1, 30_000),
        "other_day": Placement("B", 1, 30_000),
        "gone": Placement("B", 0, 30_000),
    }
    after = {
        "same": Placement("A", 0, 32_400),
        "nudged": Placement("A", 0, 36_059),
        "late": Placement("A", 0, 40_060),
        "other_van": Placement("B", 1, 30_000),
        "other_day": Placement("B", 2, 30_000),
        "new": Placement("C", 0, 30_000),
    }
    diff = plan_diff(before, after)
    assert [c.visit_id for c in diff.moved] == ["other_day", "other_van"]
    assert [(c.visit_id, c.shift_seconds) for c in diff.retimed] == [("late", 60)]
    assert [c.visit_id for c in diff.added] == ["new"] and diff.added[0].before is None
    assert [c.visit_id for c in diff.dropped] == ["gone"] and diff.dropped[0].after is None
    assert [c.kind for c in diff.touches_earlier] == [
        ChangeKind.DROPPED,
        ChangeKind.RETIMED,
        ChangeKind.MOVED,
        ChangeKind.MOVED,
    ]
    # a coarser threshold treats the one-minute retime as no change
    assert plan_diff(before, after, min_shift=61).retimed == ()


def test_a_diff_that_does_not_fit_the_plan_is_refused() -> None:
    before = {"a": Placement("A", 0, 100)}
    diff = plan_diff(before, {"a": Placement("B", 0, 100)})
    with pytest.raises(ValueError, match="a: moved"):
        apply_diff({"a": Placement("A", 1, 100)}, diff)
    with pytest.raises(ValueError, match="already placed"):
        apply_diff(before, plan_diff({}, before))
    with pytest.raises(ValueError, match="min_shift"):
        plan_diff(before, before, min_shift=0)
