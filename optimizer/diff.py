"""What a new plan changes for visits of an earlier one (typically the published plan).

:func:`plan_diff` compares two plans of the same horizon visit by visit and sorts every difference
into one of four kinds, each listed once per visit:

- **moved**: served in both, on another van or another day;
- **retimed**: served in both on the same van-day, the start changed by at least
  ``min_shift`` seconds (default :data:`RETIME_THRESHOLD`, one minute: smaller shifts are not worth
  telling a client);
- **added**: served now, not before (new, or unassigned before);
- **dropped**: served before, not now (unassigned now or no longer in the plan at all).

It is pure (plans in, a :class:`PlanDiff` out) and knows nothing of versions or publishing; the API
decides which two plans to compare. :func:`apply_diff` replays a diff onto the earlier plan's
placements; for any two plans it yields the later plan's placements up to starts that moved by
less than ``min_shift`` (the property tests check this).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from optimizer.plan import Plan

RETIME_THRESHOLD = 60
"""A start that moved by at least this many seconds (same van-day) is a retime."""


@dataclass(frozen=True)
class Placement:
    """Where and when a visit is served: van, day of the horizon and service start (seconds)."""

    van_id: str
    day: int
    start: int

    @property
    def van_day(self) -> tuple[str, int]:
        return (self.van_id, self.day)


def placements(plan: Plan) -> dict[str, Placement]:
    """Every served visit of ``plan`` and where it is served."""
    return {s.visit_id: Placement(r.van_id, r.day, s.start) for r in plan.routes for s in r.stops}


class ChangeKind(StrEnum):
    MOVED = "moved"
    RETIMED = "retimed"
    ADDED = "added"
    DROPPED = "dropped"


@dataclass(frozen=True)
class PlanChange:
    """One visit's change: ``before`` is None for an added visit, ``after`` for a dropped one."""

    visit_id: str
    kind: ChangeKind
    before: Placement | None
    after: Placement | None

    @property
    def shift_seconds(self) -> int | None:
        """How far the start moved (after - before), when the visit is served in both."""
        if self.before is None or self.after is None:
            return None
        return self.after.start - self.before.start


@dataclass(frozen=True)
class PlanDiff:
    """The changes from one plan to another, in visit-id order per kind."""

    moved: tuple[PlanChange, ...] = ()
    retimed: tuple[PlanChange, ...] = ()
    added: tuple[PlanChange, ...] = ()
    dropped: tuple[PlanChange, ...] = ()

    @property
    def changes(self) -> tuple[PlanChange, ...]:
        """Every change, in visit-id order."""
        every = (*self.moved, *self.retimed, *self.added, *self.dropped)
        return tuple(sorted(every, key=lambda c: c.visit_id))

    @property
    def empty(self) -> bool:
        return not (self.moved or self.retimed or self.added or self.dropped)

    @property
    def touches_earlier(self) -> tuple[PlanChange, ...]:
        """The changes to visits the earlier plan served (moved, retimed, dropped): what
        people who saw the earlier plan must be told."""
        every = (*self.moved, *self.retimed, *self.dropped)
        return tuple(sorted(every, key=lambda c: c.visit_id))


def plan_diff(
    before: Plan | Mapping[str, Placement],
    after: Plan | Mapping[str, Placement],
    *,
    min_shift: int = RETIME_THRESHOLD,
) -> PlanDiff:
    """The changes from ``before`` to ``after`` (plans, or placements by visit id)."""
    if min_shift < 1:
        raise ValueError(f"min_shift must be >= 1 s, got {min_shift}")
    old = placements(before) if isinstance(before, Plan) else dict(before)
    new = placements(after) if isinstance(after, Plan) else dict(after)
    moved: list[PlanChange] = []
    retimed: list[PlanChange] = []
    added: list[PlanChange] = []
    dropped: list[PlanChange] = []
    for vid in sorted(old.keys() | new.keys()):
        a, b = old.get(vid), new.get(vid)
        if a is not None and b is not None:
            if a.van_day != b.van_day:
                moved.append(PlanChange(vid, ChangeKind.MOVED, a, b))
            elif abs(b.start - a.start) >= min_shift:
                retimed.append(PlanChange(vid, ChangeKind.RETIMED, a, b))
        elif b is not None:
            added.append(PlanChange(vid, ChangeKind.ADDED, None, b))
        elif a is not None:
            dropped.append(PlanChange(vid, ChangeKind.DROPPED, a, None))
    return PlanDiff(tuple(moved), tuple(retimed), tuple(added), tuple(dropped))


def apply_diff(before: Mapping[str, Placement], diff: PlanDiff) -> dict[str, Placement]:
    """``before`` with ``diff`` applied: dropped visits removed, the others placed as after.

    Raises ValueError when the diff does not fit ``before`` (a change of a visit that ``before``
    does not serve, an added visit it already serves, or a ``before`` that differs)."""
    out = dict(before)
    problems: list[str] = []
    for c in _in_order(diff.changes):
        held = out.get(c.visit_id)
        if c.kind is ChangeKind.ADDED:
            if held is not None:
                problems.append(f"{c.visit_id}: added but already placed")
            elif c.after is not None:
                out[c.visit_id] = c.after
            continue
        if held is None or held != c.before:
            problems.append(f"{c.visit_id}: {c.kind} from {c.before}, but placed at {held}")
            continue
        if c.after is None:
            del out[c.visit_id]
        else:
            out[c.visit_id] = c.after
    if problems:
        raise ValueError("the diff does not fit the plan: " + "; ".join(problems))
    return out


def _in_order(changes: Iterable[PlanChange]) -> list[PlanChange]:
    return sorted(changes, key=lambda c: c.visit_id)
