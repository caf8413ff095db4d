"""An independent feasibility checker: replays a plan against the problem and its matrix.

It deliberately shares no code with the model or the plan extraction; it only reads the domain
types (:mod:`optimizer.domain`) and the plan types (:mod:`optimizer.plan`). Every solver test runs
it, so a bug in the model shows up as a violation here rather than as a wrong plan in the field.

Semantics replayed (times in horizon seconds):

- a route leaves ``start_location`` at ``route.start`` and drives straight on; a break may
  interrupt a leg, so ``arrival = previous end + travel + breaks taken before the arrival``;
- the van may wait at a stop, ``waiting = start - arrival - breaks taken while waiting``;
- breaks never overlap a service, each other, or a drive (a break spanning an arrival would);
- a break may lie before departure or after return (the crew is then off duty anyway), but only
  break time inside the route span reduces its working time, and only there does it count towards
  the statutory rule;
- working time = route span minus the breaks inside it (driving, service and waiting are work).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Protocol

from optimizer.domain import MINUTE, UNREACHABLE, Problem, Shift, TravelMatrix, Visit
from optimizer.plan import BreakSlot, Plan, Route

MIN_STATUTORY_BREAK = 15 * MINUTE
"""ArbZG §4: only breaks of at least 15 minutes count (pieces of a split break)."""


class Code(StrEnum):
    """Stable codes of the rules a plan can break."""

    UNKNOWN_VISIT = "unknown_visit"
    UNKNOWN_VAN = "unknown_van"
    SERVED_TWICE = "served_twice"
    MISSING_VISIT = "missing_visit"  # neither served nor listed unassigned
    SERVED_AND_UNASSIGNED = "served_and_unassigned"
    UNASSIGNED_TWICE = "unassigned_twice"
    WRONG_LOCATION = "wrong_location"
    UNREACHABLE_LEG = "unreachable_leg"
    TRAVEL_TIME = "travel_time"
    DISTANCE = "distance"
    ARRIVAL = "arrival"
    START_BEFORE_ARRIVAL = "start_before_arrival"
    WAITING = "waiting"
    OVERLAP = "overlap"  # previous end + travel + breaks > next start
    SERVICE_DURATION = "service_duration"
    TIME_WINDOW = "time_window"
    DAY_NOT_ALLOWED = "day_not_allowed"
    NO_SHIFT = "no_shift"
    DUPLICATE_ROUTE = "duplicate_route"
    SHIFT_WINDOW = "shift_window"
    SKILL = "skill"
    PIN = "pin"
    MAX_WORK = "max_work"
    BREAK_MISSING = "break_missing"
    BREAK_WINDOW = "break_window"
    BREAK_OUTSIDE_SHIFT = "break_outside_shift"
    BREAK_OVERLAP = "break_overlap"  # with a service, a drive or another break
    BREAK_TOO_SHORT = "break_too_short"  # statutory total below the required break
    WORK_STRETCH = "work_stretch"  # statutory: too long without a 15-minute break
    CAPACITY = "capacity"
    TOTALS = "totals"
    HELD = "held"  # a held (confirmed) visit not on its van-day or not near its start


@dataclass(frozen=True)
class Violation:
    """One broken rule. ``route`` is ``(van id, day)`` when the violation concerns a route."""

    code: Code
    message: str
    route: tuple[str, int] | None = None
    visit_id: str | None = None

    def __str__(self) -> str:
        where = []
        if self.route is not None:
            where.append(f"route {self.route[0]}/day {self.route[1]}")
        if self.visit_id is not None:
            where.append(f"visit {self.visit_id}")
        prefix = f"[{self.code}] " + (", ".join(where) + ": " if where else "")
        return prefix + self.message


@dataclass(frozen=True)
class CheckReport:
    """The checker's verdict. ``moved`` lists anchored visits not served on their anchor van-day
    (a soft preference, so not a violation)."""

    violations: tuple[Violation, ...]
    moved: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def codes(self) -> set[Code]:
        return {v.code for v in self.violations}

    def assert_ok(self) -> None:
        """Raise AssertionError listing every violation (for tests)."""
        if self.violations:
            lines = "\n".join(f"  - {v}" for v in self.violations)
            raise AssertionError(f"{len(self.violations)} plan violation(s):\n{lines}")


class _Bad(Protocol):
    """The per-route reporting callback."""

    def __call__(self, code: Code, message: str, visit_id: str | None = None) -> None: ...


def check_plan(
    problem: Problem,
    plan: Plan,
    *,
    anchors: Mapping[str, tuple[str, int]] | None = None,
    held: Mapping[str, tuple[str, int, int]] | None = None,
    held_slack: int = 0,
) -> CheckReport:
    """Replay ``plan`` against ``problem`` and report every violated rule.

    ``held`` maps visits that must stay where they were (confirmed visits a re-plan keeps) to
    ``(van id, day, start)``: each must be served on that van-day, starting at most
    ``held_slack`` seconds before or after that start (a ``HELD`` violation otherwise, also when
    it is not served)."""
    out: list[Violation] = []
    visits = {v.id: v for v in problem.visits}
    vans = {v.id: v for v in problem.vans}
    shifts = {s.key: s for s in problem.shifts}

    # Routes: one per van-day with a shift.
    keys = Counter((r.van_id, r.day) for r in plan.routes)
    for key, n in keys.items():
        if n > 1:
            out.append(Violation(Code.DUPLICATE_ROUTE, f"{n} routes for the same van-day", key))
    for route in plan.routes:
        key = (route.van_id, route.day)
        if route.van_id not in vans:
            out.append(Violation(Code.UNKNOWN_VAN, f"unknown van {route.van_id!r}", key))
            continue
        shift = shifts.get(key)
        if shift is None:
            out.append(Violation(Code.NO_SHIFT, "the van has no shift on this day", key))
        _check_route(problem, route, shift, visits, out)

    # Served once or unassigned once, never both.
    served = Counter(s.visit_id for r in plan.routes for s in r.stops)
    for vid, n in served.items():
        if n > 1:
            out.append(Violation(Code.SERVED_TWICE, f"served {n} times", visit_id=vid))
    unassigned = Counter(u.visit_id for u in plan.unassigned)
    for vid, n in unassigned.items():
        if vid not in visits:
            out.append(Violation(Code.UNKNOWN_VISIT, "listed unassigned but unknown", visit_id=vid))
        if n > 1:
            out.append(Violation(Code.UNASSIGNED_TWICE, f"listed {n} times", visit_id=vid))
        if vid in served:
            out.append(Violation(Code.SERVED_AND_UNASSIGNED, "served and unassigned", None, vid))
    for vid in visits:
        if vid not in served and vid not in unassigned:
            out.append(
                Violation(Code.MISSING_VISIT, "neither served nor listed unassigned", None, vid)
            )

    where = {s.visit_id: (r.van_id, r.day, s.start) for r in plan.routes for s in r.stops}
    for vid, (van_id, day, start) in sorted((held or {}).items()):
        at = where.get(vid)
        if at is None:
            out.append(Violation(Code.HELD, f"held on {van_id}/day {day}, not served", None, vid))
        elif (at[0], at[1]) != (van_id, day):
            out.append(
                Violation(
                    Code.HELD,
                    f"held on {van_id}/day {day}, served on {at[0]}/day {at[1]}",
                    (at[0], at[1]),
                    vid,
                )
            )
        elif abs(at[2] - start) > held_slack:
            out.append(
                Violation(
                    Code.HELD,
                    f"held at {start} (+/- {held_slack} s), starts at {at[2]}",
                    (at[0], at[1]),
                    vid,
                )
            )

    moved: list[str] = []
    if anchors:
        assigned = plan.assigned
        moved = sorted(vid for vid, key in anchors.items() if assigned.get(vid) != tuple(key))
    return CheckReport(tuple(out), tuple(moved))


def _check_route(
    problem: Problem,
    route: Route,
    shift: Shift | None,
    visits: Mapping[str, Visit],
    out: list[Violation],
) -> None:
    key = (route.van_id, route.day)
    van = problem.van(route.van_id)
    m = problem.matrix

    def bad(code: Code, message: str, visit_id: str | None = None) -> None:
        out.append(Violation(code, message, key, visit_id))

    if route.start_location != van.start_location:
        bad(
            Code.WRONG_LOCATION,
            f"starts at {route.start_location!r}, van's is {van.start_location!r}",
        )
    if route.end_location != van.end:
        bad(Code.WRONG_LOCATION, f"ends at {route.end_location!r}, van's is {van.end!r}")
    if route.end < route.start:
        bad(Code.TOTALS, f"route ends ({route.end}) before it starts ({route.start})")
    if shift is not None and (route.start < shift.start or route.end > shift.end):
        bad(
            Code.SHIFT_WINDOW,
            f"route [{route.start}, {route.end}] outside shift [{shift.start}, {shift.end}]",
        )

    breaks = sorted(route.breaks, key=lambda b: (b.start, b.end))
    _check_break_slots(route, breaks, shift, bad)

    # Replay the legs.
    prev_loc, prev_end = route.start_location, route.start
    demand = 0
    for stop in route.stops:
        visit = visits.get(stop.visit_id)
        vid = stop.visit_id
        if visit is None:
            bad(Code.UNKNOWN_VISIT, "stop of an unknown visit", vid)
            if stop.location in m:
                prev_loc, prev_end = stop.location, stop.end
            continue
        demand += visit.demand
        if stop.location != visit.location:
            bad(
                Code.WRONG_LOCATION,
                f"stop at {stop.location!r}, visit is at {visit.location!r}",
                vid,
            )
        travel = _leg(m, prev_loc, visit.location, stop.travel_time, stop.distance, vid, bad)
        _check_gap(prev_end, travel, stop.arrival, stop.start, breaks, vid, bad)
        waited = stop.start - stop.arrival - _inside(breaks, stop.arrival, stop.start)
        if stop.waiting != waited:
            bad(Code.WAITING, f"waiting {stop.waiting}, replay gives {waited}", vid)
        if stop.end != stop.start + visit.duration:
            bad(
                Code.SERVICE_DURATION,
                f"service {stop.start}..{stop.end} is not start + duration {visit.duration}",
                vid,
            )
        _check_visit_rules(problem, route, visit, stop.start, stop.end, bad)
        for b in breaks:
            if b.start < stop.end and stop.start < b.end:
                bad(Code.BREAK_OVERLAP, f"break {b.start}..{b.end} overlaps the service", vid)
        # Replay from the true end of service (a wrong ``end`` is reported once, above).
        prev_loc, prev_end = visit.location, stop.start + visit.duration

    travel = _leg(
        m, prev_loc, route.end_location, route.return_travel_time, route.return_distance, None, bad
    )
    _check_gap(prev_end, travel, route.end, route.end, breaks, None, bad)

    if van.capacity is not None and demand > van.capacity:
        bad(Code.CAPACITY, f"demand {demand} exceeds the van's capacity {van.capacity}")

    work = (route.end - route.start) - _inside(breaks, route.start, route.end)
    if shift is not None and shift.max_work is not None and work > shift.max_work:
        bad(Code.MAX_WORK, f"working time {work} s exceeds max_work {shift.max_work} s")
    if shift is not None:
        if shift.breaks is None:
            _check_statutory(problem, route, breaks, work, bad)
        else:
            _check_explicit(shift, breaks, bad)


def _leg(
    m: TravelMatrix,
    a: str,
    b: str,
    travel_time: int,
    distance: int,
    vid: str | None,
    bad: _Bad,
) -> int:
    """Check one leg against the matrix; returns the matrix travel time (the plan's if none)."""
    if a not in m or b not in m:
        bad(Code.WRONG_LOCATION, f"leg {a!r} -> {b!r}: location not in the matrix", vid)
        return travel_time
    duration, dist = m.duration(a, b), m.distance(a, b)
    if duration == UNREACHABLE or dist == UNREACHABLE:
        bad(Code.UNREACHABLE_LEG, f"no road from {a!r} to {b!r}", vid)
        return travel_time
    if travel_time != duration:
        bad(Code.TRAVEL_TIME, f"leg {a!r} -> {b!r}: {travel_time} s, matrix says {duration} s", vid)
    if distance != dist:
        bad(Code.DISTANCE, f"leg {a!r} -> {b!r}: {distance} m, matrix says {dist} m", vid)
    return duration


def _inside(breaks: Iterable[BreakSlot], lo: int, hi: int) -> int:
    """Total break time lying inside ``[lo, hi]`` (clipped)."""
    return sum(max(0, min(b.end, hi) - max(b.start, lo)) for b in breaks)


def _check_gap(
    prev_end: int,
    travel: int,
    arrival: int,
    start: int,
    breaks: list[BreakSlot],
    vid: str | None,
    bad: _Bad,
) -> None:
    """The van leaves at ``prev_end``, drives ``travel`` (interrupted only by breaks), arrives
    at ``arrival`` and starts at ``start`` (for the final leg: arrival = start = route end)."""
    what = "arrival" if vid is not None else "return to the depot"
    if start < arrival:
        bad(Code.START_BEFORE_ARRIVAL, f"service starts at {start}, before arrival {arrival}", vid)
    for b in breaks:
        if b.start < arrival < b.end:
            bad(Code.BREAK_OVERLAP, f"break {b.start}..{b.end} spans the {what} at {arrival}", vid)
    on_road = _inside(breaks, prev_end, arrival)
    expected = prev_end + travel + on_road
    if arrival != expected:
        bad(
            Code.ARRIVAL,
            f"{what} at {arrival}, but previous end {prev_end} + travel {travel}"
            f" + breaks {on_road} = {expected}",
            vid,
        )
    needed = prev_end + travel + _inside(breaks, prev_end, start)
    if needed > start:
        bad(
            Code.OVERLAP,
            f"previous end {prev_end} + travel {travel} + breaks does not reach {start} in time",
            vid,
        )


def _check_visit_rules(
    problem: Problem, route: Route, visit: Visit, start: int, end: int, bad: _Bad
) -> None:
    vid = visit.id
    van = problem.van(route.van_id)
    if visit.windows and not any(w.start <= start and end <= w.end for w in visit.windows):
        spans = ", ".join(f"[{w.start}, {w.end}]" for w in visit.windows)
        bad(Code.TIME_WINDOW, f"service {start}..{end} not inside any window ({spans})", vid)
    if visit.days is not None and route.day not in visit.days:
        bad(Code.DAY_NOT_ALLOWED, f"served on day {route.day}, allowed {sorted(visit.days)}", vid)
    missing = sorted(visit.skills - van.skills)
    if missing:
        bad(Code.SKILL, f"van {van.id} lacks skills {missing}", vid)
    pin = visit.pin
    if pin is not None:
        if pin.van_id is not None and pin.van_id != route.van_id:
            bad(Code.PIN, f"pinned to van {pin.van_id}", vid)
        if pin.day is not None and pin.day != route.day:
            bad(Code.PIN, f"pinned to day {pin.day}", vid)
        if pin.start is not None and pin.start != start:
            bad(Code.PIN, f"pinned to start at {pin.start}, starts at {start}", vid)


def _check_break_slots(
    route: Route, breaks: list[BreakSlot], shift: Shift | None, bad: _Bad
) -> None:
    for b in breaks:
        if b.end <= b.start:
            bad(Code.BREAK_TOO_SHORT, f"break {b.start}..{b.end} has no duration")
        if shift is not None and (b.start < shift.start or b.end > shift.end):
            bad(Code.BREAK_OUTSIDE_SHIFT, f"break {b.start}..{b.end} outside the shift")
    for a, b in pairwise(breaks):
        if b.start < a.end:
            bad(Code.BREAK_OVERLAP, f"breaks {a.start}..{a.end} and {b.start}..{b.end} overlap")


def _check_explicit(shift: Shift, breaks: list[BreakSlot], bad: _Bad) -> None:
    """Each configured break is taken (inside its window, for its duration); nothing else.

    Configured breaks and taken slots are matched as a bipartite matching (windows may overlap,
    so a greedy choice could miss a valid assignment)."""
    wanted = list(shift.breaks or ())
    fits = [
        [
            j
            for j, b in enumerate(breaks)
            if b.duration >= w.duration and w.earliest_start <= b.start and b.end <= w.latest_end
        ]
        for w in wanted
    ]
    owner: dict[int, int] = {}  # slot index -> configured break index

    def augment(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    matched = {i for i in range(len(wanted)) if augment(i, set())}
    for i, want in enumerate(wanted):
        if i not in matched:
            bad(
                Code.BREAK_MISSING,
                f"configured break {i} ({want.duration} s within "
                f"[{want.earliest_start}, {want.latest_end}]) not taken",
            )
    for j, b in enumerate(breaks):
        if j not in owner:
            bad(Code.BREAK_WINDOW, f"break {b.start}..{b.end} matches no configured break")


def _check_statutory(
    problem: Problem, route: Route, breaks: list[BreakSlot], work: int, bad: _Bad
) -> None:
    """ArbZG §4: enough break for the working time, no stretch too long without a break."""
    rule = problem.break_rule
    piece = min(MIN_STATUTORY_BREAK, rule.first)
    inside = [
        BreakSlot(max(b.start, route.start), min(b.end, route.end))
        for b in breaks
        if min(b.end, route.end) - max(b.start, route.start) >= piece
    ]
    counted = sum(b.duration for b in inside)
    required = rule.required_break(work)
    if counted < required:
        bad(
            Code.BREAK_TOO_SHORT,
            f"{work} s of work need {required} s of break (pieces >= {piece} s), got {counted} s",
        )
    cursor = route.start
    for b in [*inside, BreakSlot(route.end, route.end)]:
        stretch = b.start - cursor
        if stretch > rule.after_first:
            bad(
                Code.WORK_STRETCH,
                f"works {stretch} s from {cursor} to {b.start} without a break"
                f" (at most {rule.after_first} s)",
            )
        cursor = max(cursor, b.end)
