"""Re-planning: change a published plan as little as possible.

Given the problem a plan was made for, the plan, and what changed since (visits added, changed or
cancelled, a van out for a day), :func:`replan` produces a new plan that keeps the confirmed visits
where they were: pinned to their van-day by default, or anchored (a cost per moved visit,
``Objective.moved_visit_cost``) with ``pin_confirmed=False``. A pin that has become impossible (the
van is out that day, the changed visit no longer fits there) falls back to an anchor instead of
failing; so does a pinned visit the search dropped (pins that no longer fit together, or an optional
visit that made room for a displaced must visit): it is re-planned as anchored, and ``fallback``
lists all of these. The search starts from the previous routes. The result reports, per visit,
what changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from optimizer.diagnose import static_reason
from optimizer.diff import Placement, placements
from optimizer.domain import Pin, Problem, TimeWindow, Visit
from optimizer.errors import Collector
from optimizer.plan import Plan, Unassigned
from optimizer.settings import SolverSettings
from optimizer.solve import ProgressCallback, solve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Changes:
    """What changed since the plan was published.

    ``added``: new visits; ``cancelled``: ids of visits that no longer take place;
    ``unavailable``: (van id, day) pairs on which a van is out; ``changed``: new versions of
    existing visits (matched by id; e.g. a new window or duration).
    """

    added: tuple[Visit, ...] = ()
    cancelled: frozenset[str] = frozenset()
    unavailable: frozenset[tuple[str, int]] = frozenset()
    changed: tuple[Visit, ...] = ()


def apply_changes(problem: Problem, changes: Changes) -> Problem:
    """The problem after ``changes``; raises one ValidationError listing every bad change."""
    c = Collector()
    known = {v.id for v in problem.visits}
    van_ids = {v.id for v in problem.vans}
    seen: set[str] = set()
    for i, v in enumerate(changes.added):
        c.check(v.id not in known, f"changes.added[{i}].id", f"visit {v.id!r} already exists")
        c.check(v.id not in seen, f"changes.added[{i}].id", f"visit {v.id!r} added twice")
        seen.add(v.id)
    for vid in sorted(changes.cancelled):
        c.check(vid in known, "changes.cancelled", f"unknown visit {vid!r}")
    changed_ids: set[str] = set()
    for i, v in enumerate(changes.changed):
        where = f"changes.changed[{i}].id"
        c.check(v.id in known, where, f"unknown visit {v.id!r}")
        c.check(v.id not in changes.cancelled, where, f"visit {v.id!r} is also cancelled")
        c.check(v.id not in changed_ids, where, f"visit {v.id!r} changed twice")
        changed_ids.add(v.id)
    for van_id, day in sorted(changes.unavailable):
        c.check(van_id in van_ids, "changes.unavailable", f"unknown van {van_id!r}")
        c.check(
            0 <= day < problem.horizon.days,
            "changes.unavailable",
            f"day {day} outside the horizon of {problem.horizon.days} days",
        )
    c.raise_if_any()

    new_version = {v.id: v for v in changes.changed}
    visits = tuple(
        new_version.get(v.id, v) for v in problem.visits if v.id not in changes.cancelled
    ) + tuple(changes.added)
    shifts = tuple(s for s in problem.shifts if s.key not in changes.unavailable)
    return replace(problem, visits=visits, shifts=shifts).validate()


class Status(StrEnum):
    UNCHANGED = "unchanged"  # same van, day and start
    TIME_CHANGED = "time_changed"  # same van-day, another start
    MOVED = "moved"  # another van or day
    NEWLY_ASSIGNED = "newly_assigned"  # unassigned or new before, served now
    NEWLY_UNASSIGNED = "newly_unassigned"  # served before, not now (see ``reason``)
    STILL_UNASSIGNED = "still_unassigned"  # unassigned before (or new) and now
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class VisitChange:
    """What happened to one visit; ``old``/``new`` are None when it was/is not served."""

    visit_id: str
    status: Status
    old: Placement | None
    new: Placement | None
    reason: Unassigned | None = None  # why it is unassigned now


@dataclass(frozen=True)
class ReplanResult:
    plan: Plan
    problem: Problem  # the problem after the changes (what ``plan`` answers)
    diff: tuple[VisitChange, ...]
    anchors: dict[str, tuple[str, int]]  # confirmed visits and the van-day they were kept on
    fallback: tuple[str, ...]  # confirmed visits whose pin was impossible (anchored instead)
    # confirmed visits kept on their van-day whose start could not be held within the slack
    released: tuple[str, ...] = ()
    # confirmed visits held on their van-day with the start within ``time_slack`` (what the plan
    # keeps and :func:`optimizer.checker.check_plan` verifies with ``held=``)
    held: Mapping[str, Placement] | None = None

    def with_status(self, *statuses: Status) -> tuple[str, ...]:
        return tuple(c.visit_id for c in self.diff if c.status in statuses)

    @property
    def moved(self) -> tuple[str, ...]:
        return self.with_status(Status.MOVED)


def replan(
    problem: Problem,
    previous: Plan,
    changes: Changes,
    settings: SolverSettings | None = None,
    *,
    confirmed: Collection[str] | None = None,
    pin_confirmed: bool = True,
    pin_times: bool = False,
    hold: Mapping[str, Placement] | None = None,
    time_slack: int | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> ReplanResult:
    """Re-plan after ``changes``, moving as few ``confirmed`` visits as possible.

    ``confirmed`` defaults to every visit served in ``previous``. With ``pin_confirmed`` each is
    pinned to its previous van-day (falling back to an anchor when that became impossible);
    otherwise each is anchored there (``Objective.moved_visit_cost`` per moved visit). Either way
    dropping a confirmed visit also costs the moved-visit cost. ``pin_times`` (with
    ``pin_confirmed``) also keeps each confirmed visit's start time where that is still possible
    (the time the client was told), else only its van-day. A confirmed visit whose own pin now
    names another van or day is not held: it follows its pin. ``on_progress`` and ``stop`` are
    passed to :func:`~optimizer.solve.solve` (a stop also skips the second, pin-repairing search).

    ``hold`` gives the placement a confirmed visit is held at (e.g. where the published plan put
    it, the time its client was told) instead of its placement in ``previous``. ``time_slack``
    (seconds, with ``pin_confirmed``) holds each confirmed visit's start within that many seconds
    of its reference start (its windows are narrowed for the search): where that no longer fits,
    the visit keeps only its van-day and is listed in ``released``; the visits held so are in
    ``ReplanResult.held``.
    """
    new_problem = apply_changes(problem, changes)
    present = {v.id for v in new_problem.visits}
    old = previous.assigned
    if confirmed is None:
        confirmed = old.keys()
    unknown = sorted(set(confirmed) - old.keys() - set(changes.cancelled) - set(hold or ()))
    if unknown:
        c = Collector()
        c.add("confirmed", f"visits not served in the previous plan: {unknown}")
        c.raise_if_any()
    refs = placements(previous)
    refs.update(hold or {})
    anchors = {vid: refs[vid].van_day for vid in confirmed if vid in present and vid in refs}
    # A confirmed visit the dispatcher has since pinned to another van or day follows its pin:
    # holding it where it was would override the newer decision.
    for vid in [v for v, key in anchors.items() if _pinned_elsewhere(new_problem.visit(v), key)]:
        del anchors[vid]

    model_problem: Problem = new_problem
    fallback: tuple[str, ...] = ()
    released: tuple[str, ...] = ()
    if time_slack is not None and time_slack < 0:
        raise ValueError(f"time_slack must be >= 0, got {time_slack}")
    times = {vid: p.start for vid, p in refs.items()} if pin_times or time_slack is not None else {}
    slack = time_slack if time_slack is not None else None
    if pin_confirmed and anchors:
        model_problem, fallback, released = _pin(new_problem, anchors, (), times, slack)
    plan = solve(
        model_problem,
        settings,
        anchors=anchors,
        initial=previous,
        on_progress=on_progress,
        stop=stop,
    )
    if pin_confirmed and not (stop is not None and stop.is_set()):
        # Pins that together no longer fit (e.g. a changed visit grew): anchor those instead.
        lost = tuple(sorted(vid for vid in anchors if vid not in plan.assigned))
        lost = tuple(v for v in lost if v not in fallback)
        if lost:
            log.info("replan: pins of %s could not all be kept; anchoring them", lost)
            model_problem, fallback, released = _pin(
                new_problem, anchors, (*fallback, *lost), times, slack
            )
            plan = solve(
                model_problem,
                settings,
                anchors=anchors,
                initial=plan,
                on_progress=on_progress,
                stop=stop,
            )
    # The plan is for ``new_problem``: the pins were a device of the search, not new input.
    result_plan = replace(plan, extras={**plan.extras, "replan_fallback": fallback})
    diff = diff_plans(problem, previous, result_plan, changes)
    held = None
    if pin_confirmed and slack is not None:
        held = {vid: refs[vid] for vid in anchors if vid not in fallback and vid not in released}
    return ReplanResult(
        result_plan, new_problem, diff, anchors, tuple(fallback), tuple(released), held
    )


def _pinned_elsewhere(visit: Visit, key: tuple[str, int]) -> bool:
    """The visit's own pin names a van or a day other than ``key`` (van, day)."""
    pin = visit.pin
    if pin is None:
        return False
    return (pin.van_id is not None and pin.van_id != key[0]) or (
        pin.day is not None and pin.day != key[1]
    )


def _pin(
    problem: Problem,
    anchors: dict[str, tuple[str, int]],
    unpinned: Iterable[str],
    times: dict[str, int],
    slack: int | None = None,
) -> tuple[Problem, tuple[str, ...], tuple[str, ...]]:
    """Pin each anchored visit to its van-day, and hold its start in ``times`` where that still
    fits (exactly, or within ``slack`` seconds by narrowing its windows), except ``unpinned`` and
    those the pin would make impossible to serve. Returns the problem, every anchored visit left
    unpinned, and those pinned to their van-day whose start could not be held."""
    skip = set(unpinned)
    released: list[str] = []
    visits = []
    for v in problem.visits:
        key = anchors.get(v.id)
        if key is None or v.id in skip:
            visits.append(v)
            continue
        own = v.pin.start if v.pin is not None else None
        held: list[Visit] = []
        if own is None and v.id in times:
            if slack is None:
                held = [replace(v, pin=Pin(key[0], key[1], times[v.id]))]
            else:
                windows = _narrowed(v, times[v.id], slack)
                if windows:
                    held = [replace(v, pin=Pin(key[0], key[1], None), windows=windows)]
        candidates = [*held, replace(v, pin=Pin(key[0], key[1], own))]
        choice = None
        if problem.shift(*key) is not None:
            for candidate in candidates:
                if static_reason(problem, candidate) is None:
                    choice = candidate
                    break
        if choice is None:
            skip.add(v.id)
            visits.append(v)
        else:
            if v.id in times and own is None and choice is candidates[-1]:
                released.append(v.id)
            visits.append(choice)
    fallback = tuple(sorted(skip & anchors.keys()))
    return replace(problem, visits=tuple(visits)), fallback, tuple(sorted(released))


def _narrowed(visit: Visit, start: int, slack: int) -> tuple[TimeWindow, ...]:
    """The parts of ``visit``'s windows in which it starts within ``slack`` of ``start``."""
    near = TimeWindow(max(0, start - slack), start + slack + visit.duration)
    out = []
    for w in visit.windows or (near,):
        part = w.intersect(near)
        if part is not None and part.length >= visit.duration:
            out.append(part)
    return tuple(out)


def diff_plans(
    problem: Problem, previous: Plan, plan: Plan, changes: Changes
) -> tuple[VisitChange, ...]:
    """Per visit of ``problem`` and ``changes.added``: what ``plan`` does with it compared to
    ``previous`` (cancelled visits are reported as such)."""
    before = _placements(previous)
    after = _placements(plan)
    why = {u.visit_id: u for u in plan.unassigned}
    ids = [v.id for v in problem.visits] + [v.id for v in changes.added]
    out = []
    for vid in ids:
        old, new = before.get(vid), after.get(vid)
        if vid in changes.cancelled:
            out.append(VisitChange(vid, Status.CANCELLED, old, None))
        elif old is not None and new is not None:
            if (old.van_id, old.day) != (new.van_id, new.day):
                status = Status.MOVED
            else:
                status = Status.UNCHANGED if old.start == new.start else Status.TIME_CHANGED
            out.append(VisitChange(vid, status, old, new))
        elif new is not None:
            out.append(VisitChange(vid, Status.NEWLY_ASSIGNED, None, new))
        elif old is not None:
            out.append(VisitChange(vid, Status.NEWLY_UNASSIGNED, old, None, why.get(vid)))
        else:
            out.append(VisitChange(vid, Status.STILL_UNASSIGNED, None, None, why.get(vid)))
    return tuple(out)


def _placements(plan: Plan) -> dict[str, Placement]:
    return placements(plan)
