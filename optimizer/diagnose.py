"""Why a visit is not in the plan, in words a dispatcher understands.

- :func:`precheck` finds visits that cannot be served even alone (before solving), so the model can
  leave them out and the plan can say why;
- :func:`explain_unassigned` explains the visits the solver dropped: a static reason when one
  applies, otherwise "feasible alone but no room in this week" with the competing visits named.

The single-visit test (:func:`alone_start`) is exact for a route depot -> visit -> depot: it
honours the visit's windows and pin, the shift window, ``max_work`` (working time = drive out +
service + drive back: waiting can always be avoided by leaving later), explicit breaks (each inside
its window, not overlapping a drive or the service; a break may lie before departure or after
return) and the statutory break rule (a break interrupts the day only between drives and service,
and starts no earlier than ``BreakRule.earliest_after_start`` into the shift).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from itertools import permutations, product

import numpy as np

from optimizer.domain import UNREACHABLE, Break, Problem, Shift, TimeWindow, Van, Visit
from optimizer.errors import Collector, StopCheck, check_stop
from optimizer.plan import Reason, Route, Unassigned

log = logging.getLogger(__name__)

MIN_BREAK_PIECE = 15 * 60
"""ArbZG §4: a split break counts only in pieces of at least 15 minutes."""

MAX_EXACT_BREAKS = 4
"""Explicit breaks per shift up to which the single-visit test is exact."""

NAMED_PER_ROUTE = 6
"""Competing visits a "no room" message names per van-day (``conflicts`` lists them all): a
visit without a time window competes with the whole day's route."""


STOP_CHECK_EVERY = 64
"""Visits diagnosed between two looks at the stop request."""


def precheck(problem: Problem, should_stop: StopCheck | None = None) -> dict[str, Unassigned]:
    """Visits that cannot be served even alone, by visit id, each with its reason. Raises
    :class:`~optimizer.errors.SolveStoppedError` when ``should_stop`` says so (asked every
    :data:`STOP_CHECK_EVERY` visits: on thousands of visits this takes seconds)."""
    out: dict[str, Unassigned] = {}
    memo = VanDayMemo(problem)
    for i, visit in enumerate(problem.visits):
        if i % STOP_CHECK_EVERY == 0:
            check_stop(should_stop)
        found = static_reason(problem, visit, memo)
        if found is not None:
            out[visit.id] = found
    if out:
        log.info("precheck: %d of %d visits cannot be served", len(out), len(problem.visits))
    return out


def explain_unassigned(
    problem: Problem,
    routes: Sequence[Route],
    dropped_ids: Iterable[str],
    *,
    prechecked: bool = False,
    deadline: float | None = None,
) -> tuple[Unassigned, ...]:
    """Reasons for the visits the solver left out of ``routes``. ``prechecked``: every one
    passed :func:`precheck` (no static reason to look for). Past ``deadline``
    (``time.monotonic()``) the visits not yet explained get a short "no room" reason that says
    they were not examined: on thousands of left-out visits the full explanation takes a
    minute, and a plan must not be that late."""
    visits = {v.id: v for v in problem.visits}
    ids = list(dropped_ids)
    c = Collector()
    for i, vid in enumerate(ids):
        c.check(vid in visits, f"dropped_ids[{i}]", f"unknown visit {vid!r}")
    c.raise_if_any()
    result: list[Unassigned] = []
    for n, vid in enumerate(ids):
        visit = visits[vid]
        if deadline is not None and n % STOP_CHECK_EVERY == 0 and time.monotonic() > deadline:
            result.extend(_not_examined(visits[v], len(ids)) for v in ids[n:])
            log.info("explained %d of %d left-out visits in time", n, len(ids))
            break
        found = None if prechecked else static_reason(problem, visit)
        if found is None:
            found = _no_room(problem, visit, routes)
            if visit.pin is not None:
                found = _pin_not_honoured(problem, visit, found)
        result.append(found)
    return tuple(result)


def _not_examined(visit: Visit, dropped: int) -> Unassigned:
    """The reason of a left-out visit there was no time to explain (it passed the precheck:
    it could be served alone, so the plan had no room for it)."""
    return Unassigned(
        visit.id,
        Reason.NO_ROOM,
        f"Visit {visit.id}: it could be served alone, but the plan has no room for it "
        f"(not examined further: {dropped} visits are left out, too many to explain each "
        "within the time limit).",
    )


def _pin_not_honoured(problem: Problem, visit: Visit, no_room: Unassigned) -> Unassigned:
    """A pinned visit that fits its pin alone but not in this plan: the pin was kept (never
    broken by moving the visit elsewhere) and so the visit stays out."""
    pin = visit.pin
    assert pin is not None
    parts = []
    if pin.van_id is not None:
        parts.append(f"van {pin.van_id}")
    if pin.day is not None:
        parts.append(_day(problem, pin.day))
    if pin.start is not None:
        parts.append(f"at {_when(problem, pin.start)}")
    target = " ".join(parts)
    detail = no_room.message.split(": ", 1)[-1].rstrip(".")
    return Unassigned(
        visit.id,
        Reason.PIN_NOT_HONOURED,
        f"Visit {visit.id}: its pin to {target} could not be honoured: {detail}.",
        no_room.conflicts,
    )


# --- the static reasons ------------------------------------------------------------------------


class VanDayMemo:
    """What :func:`static_reason` reads of the van-days, computed once per kind of visit (the
    same skills, demand, allowed days and pin): on thousands of visits and hundreds of van-days
    the diagnosis otherwise loops over every van-day for every visit in Python (6.5 s on 5,000
    visits)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._van_days: dict[tuple[object, ...], list[tuple[Van, Shift]]] = {}
        self._bounds: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._pairs: dict[tuple[object, ...], set[tuple[str, str]]] = {}
        self._alike: dict[tuple[object, ...], list[tuple[Van, Shift]]] = {}

    @staticmethod
    def kind(visit: Visit) -> tuple[object, ...]:
        pin = visit.pin
        pinned = (pin.van_id, pin.day) if pin is not None else None
        return (visit.skills, visit.demand, visit.days, pinned)

    def van_days(self, visit: Visit) -> list[tuple[Van, Shift]]:
        """:func:`eligible_van_days` of ``visit`` (the list is shared: not to be changed)."""
        key = self.kind(visit)
        found = self._van_days.get(key)
        if found is None:
            found = self._van_days[key] = eligible_van_days(self.problem, visit)
        return found

    def longest_overlap(self, visit: Visit) -> int | None:
        """The longest part of one of ``visit``'s windows inside one of its van-days' shifts
        (the longest shift without windows); None when no window meets a shift."""
        key = self.kind(visit)
        bounds = self._bounds.get(key)
        if bounds is None:
            days = self.van_days(visit)
            bounds = self._bounds[key] = (
                np.array([s.start for _, s in days], dtype=np.int64),
                np.array([s.end for _, s in days], dtype=np.int64),
            )
        starts, ends = bounds
        if not len(starts):
            return None
        if not visit.windows:
            return int((ends - starts).max())
        best: int | None = None
        for w in visit.windows:
            parts = np.minimum(w.end, ends) - np.maximum(w.start, starts)
            parts = parts[parts >= 0]
            if len(parts):
                longest = int(parts.max())
                best = longest if best is None else max(best, longest)
        return best

    def depot_pairs(self, visit: Visit) -> set[tuple[str, str]]:
        """The (start, end) locations of ``visit``'s van-days."""
        key = self.kind(visit)
        found = self._pairs.get(key)
        if found is None:
            found = self._pairs[key] = {(v.start_location, v.end) for v, _ in self.van_days(visit)}
        return found

    def alike(self, visit: Visit, reached: frozenset[tuple[str, str]]) -> list[tuple[Van, Shift]]:
        """One van-day of each group alike in what :func:`alone_start` reads, among ``visit``'s
        van-days whose depot pair is in ``reached``."""
        key = (*self.kind(visit), reached)
        found = self._alike.get(key)
        if found is None:
            days = self.van_days(visit)
            found = self._alike[key] = _alike(
                [(v, s) for v, s in days if (v.start_location, v.end) in reached]
            )
        return found


def _alike(roads: list[tuple[Van, Shift]]) -> list[tuple[Van, Shift]]:
    """Van-days alike in what the single-visit test reads, one of each (the first)."""
    alike = {
        (v.start_location, v.end, s.day, s.start, s.end, s.max_work, s.breaks): (v, s)
        for v, s in reversed(roads)
    }
    return list(alike.values())


def static_reason(
    problem: Problem, visit: Visit, memo: VanDayMemo | None = None
) -> Unassigned | None:
    """Why ``visit`` cannot be served even as the only stop of a route; None when it can.
    ``memo`` (of ``problem``) saves the van-day work shared by visits of one kind."""
    vid = visit.id

    def fail(reason: Reason, message: str) -> Unassigned:
        return Unassigned(vid, reason, f"Visit {vid}: {message}.")

    skilled = [v for v in problem.vans if visit.skills <= v.skills]
    if not skilled:
        everyone = set().union(*(v.skills for v in problem.vans)) if problem.vans else set()
        absent = sorted(visit.skills - everyone)
        if absent:
            return fail(Reason.NO_SKILLED_VAN, f"no van has the skill(s) {', '.join(absent)}")
        need = ", ".join(sorted(visit.skills))
        return fail(Reason.NO_SKILLED_VAN, f"no single van has all the skills {need}")
    carrying = [v for v in skilled if v.capacity is None or v.capacity >= visit.demand]
    if not carrying:
        return fail(
            Reason.NO_SKILLED_VAN,
            f"no van with the skills can carry its demand of {visit.demand}",
        )

    pin = visit.pin
    if pin is not None:
        pinned = _pin_problem(problem, visit, carrying)
        if pinned is not None:
            return fail(Reason.PIN_IMPOSSIBLE, pinned)

    van_days = memo.van_days(visit) if memo is not None else eligible_van_days(problem, visit)
    if not van_days and pin is not None and eligible_van_days(problem, visit, use_pin=False):
        return fail(
            Reason.PIN_IMPOSSIBLE,
            "its pin leaves no van-day with a shift on an allowed day that could serve it",
        )
    if not van_days:
        days = (
            "any day"
            if visit.days is None
            else ", ".join(_day(problem, d) for d in sorted(visit.days))
        )
        return fail(
            Reason.NO_SHIFT_IN_WINDOW,
            f"no {'van with the required skills' if visit.skills else 'van'} works on an"
            f" allowed day ({days})",
        )

    # The longest part of a window inside a shift.
    longest_part = (
        memo.longest_overlap(visit) if memo is not None else _longest_overlap(visit, van_days)
    )
    if longest_part is None:
        spans = "; ".join(_span(problem, w) for w in visit.windows)
        return fail(
            Reason.NO_SHIFT_IN_WINDOW,
            f"none of its time windows ({spans}) overlaps a shift of a van that could serve it",
        )
    if visit.windows and visit.duration > max(w.length for w in visit.windows):
        longest = max(w.length for w in visit.windows)
        return fail(
            Reason.SERVICE_TOO_LONG,
            f"the service of {_dur(visit.duration)} is longer than every time window"
            f" (longest {_dur(longest)})",
        )
    if visit.duration > longest_part:
        return fail(
            Reason.SERVICE_TOO_LONG,
            f"the service of {_dur(visit.duration)} does not fit into the part of any time window"
            " that lies inside a shift",
        )

    m = problem.matrix
    pairs = (
        memo.depot_pairs(visit)
        if memo is not None
        else {(van.start_location, van.end) for van, _ in van_days}
    )
    reached = frozenset(
        (a, b) for a, b in pairs if m.round_trip(a, visit.location, b)
    )  # depot pairs with roads there and back
    if not reached:
        depots = sorted({v.start_location for v, _ in van_days} | {v.end for v, _ in van_days})
        return fail(
            Reason.UNREACHABLE,
            f"location {visit.location} cannot be reached from or back to the depot"
            f" ({', '.join(depots)}) by road",
        )
    # Van-days alike in what the single-visit test reads are tested once.
    alike = (
        memo.alike(visit, reached)
        if memo is not None
        else _alike([(v, s) for v, s in van_days if (v.start_location, v.end) in reached])
    )
    if any(alone_start(problem, visit, van, shift) is not None for van, shift in alike):
        return None

    # Reachable but never fits: say what stands in the way.
    roads = [(v, s) for v, s in van_days if (v.start_location, v.end) in reached]
    rule = problem.break_rule
    if all(
        s.max_work is not None and _round_trip(problem, visit, v) > s.max_work for v, s in roads
    ):
        return fail(
            Reason.UNREACHABLE,
            "the drive there and back plus the service exceeds the maximum working time of every"
            " shift that could serve it",
        )
    if all(s.breaks is None for _, s in roads) and visit.duration > rule.after_first:
        return fail(
            Reason.SERVICE_TOO_LONG,
            f"the service of {_dur(visit.duration)} is longer than the {_dur(rule.after_first)}"
            " the law allows without a break",
        )
    breakless = [(v, replace(s, breaks=())) for v, s in roads if s.breaks != ()]
    if breakless and any(alone_start(problem, visit, v, s) is not None for v, s in breakless):
        return fail(Reason.BREAKS_DO_NOT_FIT, _breaks_cause(problem, visit, roads))
    return fail(
        Reason.UNREACHABLE,
        "the drive from and back to the depot does not fit into any shift together with the"
        " service, its time windows and the breaks",
    )


def _breaks_cause(problem: Problem, visit: Visit, roads: list[tuple[Van, Shift]]) -> str:
    """Why the breaks leave no room for a visit that fits alone without them."""
    rule = problem.break_rule
    if any(s.breaks is None for _, s in roads):
        van = next(v for v, s in roads if s.breaks is None)
        m = problem.matrix
        legs = {
            "the drive there": m.duration(van.start_location, visit.location),
            "the service": visit.duration,
            "the drive back": m.duration(visit.location, van.end),
        }
        longest = max(legs, key=lambda k: legs[k])
        if legs[longest] > rule.after_first:
            return (
                f"it fits alone only without breaks: {longest} ({_dur(legs[longest])}) is longer"
                f" than the {_dur(rule.after_first)} the statutory break rule allows without a"
                " break, and a break cannot interrupt it (shifts without explicit breaks follow"
                " the rule; Shift(breaks=()) plans a shift without breaks)"
            )
        return (
            "it fits alone only without breaks: the statutory breaks (shifts without explicit"
            " breaks follow the rule; Shift(breaks=()) plans a shift without breaks) leave no"
            " room for the drives and the service in its windows"
        )
    return (
        "it fits alone only without breaks: the shifts' breaks leave no room for the drives and"
        " the service in its windows"
    )


def _longest_overlap(visit: Visit, van_days: list[tuple[Van, Shift]]) -> int | None:
    """:meth:`VanDayMemo.longest_overlap` without the memo."""
    if not visit.windows:
        return max((s.end - s.start for _, s in van_days), default=None)
    parts = [
        min(w.end, shift.end) - max(w.start, shift.start)
        for _, shift in van_days
        for w in visit.windows
        if max(w.start, shift.start) <= min(w.end, shift.end)
    ]
    return max(parts, default=None)


def eligible_van_days(
    problem: Problem, visit: Visit, *, use_pin: bool = True
) -> list[tuple[Van, Shift]]:
    """Van-days that may serve ``visit`` by skills, capacity, allowed days and pin (no timing)."""
    pin = visit.pin if use_pin else None
    out = []
    for shift in problem.shifts_by_day:
        van = problem.van(shift.van_id)
        if not visit.skills <= van.skills:
            continue
        if van.capacity is not None and visit.demand > van.capacity:
            continue
        if visit.days is not None and shift.day not in visit.days:
            continue
        if pin is not None and pin.van_id is not None and pin.van_id != van.id:
            continue
        if pin is not None and pin.day is not None and pin.day != shift.day:
            continue
        out.append((van, shift))
    return out


def _pin_problem(problem: Problem, visit: Visit, vans: list[Van]) -> str | None:
    pin = visit.pin
    assert pin is not None
    if pin.van_id is not None:
        van = problem.van(pin.van_id)
        missing = sorted(visit.skills - van.skills)
        if missing:
            return f"it is pinned to van {van.id}, which lacks the skill(s) {', '.join(missing)}"
        if van not in vans:
            return f"it is pinned to van {van.id}, which cannot carry its demand {visit.demand}"
    if pin.day is not None:
        if visit.days is not None and pin.day not in visit.days:
            return f"it is pinned to {_day(problem, pin.day)}, which is not an allowed day"
        who = [pin.van_id] if pin.van_id is not None else [v.id for v in vans]
        if all(problem.shift(v, pin.day) is None for v in who):
            whom = f"van {pin.van_id} has" if pin.van_id is not None else "no suitable van has"
            return f"it is pinned to {_day(problem, pin.day)}, but {whom} no shift that day"
    if pin.start is not None:
        service = TimeWindow(pin.start, pin.start + visit.duration)
        when = _when(problem, pin.start)
        if visit.windows and not any(_contains(w, service) for w in visit.windows):
            return f"its fixed start {when} puts the service outside its time windows"
        van_days = eligible_van_days(problem, visit)
        if van_days and not any(_contains(s.window, service) for _, s in van_days):
            return f"its fixed start {when} lies outside every shift of a van that could serve it"
    return None


# --- the exact single-visit test ---------------------------------------------------------------


def alone_start(problem: Problem, visit: Visit, van: Van, shift: Shift) -> int | None:
    """A service start at which ``visit`` can be served as the only stop of ``van`` on ``shift``'s
    day (route depot -> visit -> depot), or None when there is none."""
    m = problem.matrix
    out = m.duration(van.start_location, visit.location)
    back = m.duration(visit.location, van.end)
    if out == UNREACHABLE or back == UNREACHABLE:
        return None
    dur = visit.duration
    work = out + dur + back
    if shift.max_work is not None and work > shift.max_work:
        return None
    if visit.days is not None and shift.day not in visit.days:
        return None
    windows = list(visit.windows) or [shift.window]
    pin = visit.pin
    if pin is not None and pin.start is not None:
        windows = [TimeWindow(pin.start, pin.start + dur)]
        if visit.windows and not any(_contains(w, windows[0]) for w in visit.windows):
            return None
    for w in sorted(windows, key=lambda w: w.start):
        lo, hi = w.start, w.end - dur  # service start range
        if lo > hi:
            continue
        if shift.breaks is None:
            found = _alone_statutory(problem, shift, out, dur, back, lo, hi)
        else:
            found = _alone_explicit(shift, shift.breaks, out, dur, back, lo, hi)
        if found is not None:
            return found
    return None


def _alone_statutory(
    problem: Problem, shift: Shift, out: int, dur: int, back: int, lo: int, hi: int
) -> int | None:
    rule = problem.break_rule
    work = out + dur + back
    need = rule.required_break(work)
    piece = min(MIN_BREAK_PIECE, rule.first)
    # (break before the service, break after it) candidates: all, or split in two pieces.
    options: list[tuple[int, int]] = []
    if work <= rule.after_first:
        options.append((0, 0))
    else:
        need = max(need, piece)
        if out <= rule.after_first and dur + back <= rule.after_first:
            options.append((need, 0))
        if out + dur <= rule.after_first and back <= rule.after_first:
            options.append((0, need))
        if max(out, dur, back) <= rule.after_first and need >= 2 * piece:
            # Any split with both pieces >= piece; the earliest start uses the smallest first piece.
            options.extend([(piece, need - piece), (need - piece, piece)])
    best: int | None = None
    # Breaks keep ``earliest_after_start`` away from the shift start (as the model places them).
    earliest_break = shift.start + rule.earliest_after_start
    for before, after in options:
        start = max(lo, shift.start + out + before)
        if before:
            start = max(start, earliest_break + before)
        if after:
            start = max(start, earliest_break - dur)
        if start <= hi and start + dur + after + back <= shift.end:
            best = start if best is None else min(best, start)
    return best


def _alone_explicit(
    shift: Shift, breaks: tuple[Break, ...], out: int, dur: int, back: int, lo: int, hi: int
) -> int | None:
    """Each break goes before or after the service; on each side a single-machine schedule of the
    breaks and the drive must meet their windows. Prefix feasibility only improves with a later
    start, suffix feasibility only with an earlier one, so one binary search settles each split.

    The enumeration is exponential in the number of breaks; beyond :data:`MAX_EXACT_BREAKS` the
    breaks are ignored (optimistic: such a visit is then explained as "no room" at worst)."""
    if len(breaks) > MAX_EXACT_BREAKS:
        log.debug(
            "%d breaks on %s/day %d: single-visit test ignores them",
            len(breaks),
            shift.van_id,
            shift.day,
        )
        breaks = ()
    for sides in product((False, True), repeat=len(breaks)):
        before = [b for b, after in zip(breaks, sides, strict=True) if not after]
        after_ = [b for b, after in zip(breaks, sides, strict=True) if after]

        def prefix_ok(s: int, before: list[Break] = before) -> bool:
            jobs = [(shift.start, s, out)] + [
                (b.earliest_start, b.latest_end, b.duration) for b in before
            ]
            return _fits(jobs, s)

        def suffix_ok(s: int, after_: list[Break] = after_) -> bool:
            e = s + dur
            jobs = [(e, shift.end, back)] + [
                (max(e, b.earliest_start), b.latest_end, b.duration) for b in after_
            ]
            return all(
                b.latest_end - max(e, b.earliest_start) >= b.duration for b in after_
            ) and _fits(jobs, shift.end)

        if not prefix_ok(hi) or not suffix_ok(lo):
            continue
        first = _first_true(prefix_ok, lo, hi)  # earliest start the prefix allows
        if suffix_ok(first):
            return first
    return None


def _fits(jobs: list[tuple[int, int, int]], horizon_end: int) -> bool:
    """Can jobs (release, deadline, duration) run one at a time, each inside its window?"""
    for order in permutations(jobs):
        t = -(1 << 62)
        ok = True
        for release, deadline, length in order:
            t = max(t, release) + length
            if t > min(deadline, horizon_end):
                ok = False
                break
        if ok:
            return True
    return False


def _first_true(pred: Callable[[int], bool], lo: int, hi: int) -> int:
    """Smallest x in [lo, hi] with pred(x), pred monotone and pred(hi) true."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _round_trip(problem: Problem, visit: Visit, van: Van) -> int:
    m = problem.matrix
    return (
        m.duration(van.start_location, visit.location)
        + visit.duration
        + m.duration(visit.location, van.end)
    )


# --- no room -----------------------------------------------------------------------------------


def _no_room(problem: Problem, visit: Visit, routes: Sequence[Route]) -> Unassigned:
    # Van-days alike in what the single-visit test reads are tested once: a fleet of many
    # similar vans would otherwise make explaining thousands of visits take minutes.
    starts: dict[tuple[object, ...], int | None] = {}
    feasible = []
    for van, shift in eligible_van_days(problem, visit):
        key: tuple[object, ...] = (van.start_location, van.end, shift.day, shift.start)
        key += (shift.end, shift.max_work, shift.breaks)
        if key not in starts:
            starts[key] = alone_start(problem, visit, van, shift)
        start = starts[key]
        if start is not None:
            feasible.append((van, shift, start))
    by_key = {(r.van_id, r.day): r for r in routes}
    windows = list(visit.windows)
    conflicts: dict[str, None] = {}  # in order; a set to look up (thousands of names)
    busy: list[str] = []
    for van, shift, _ in feasible:
        route = by_key.get((van.id, shift.day))
        if route is None:
            continue
        span = windows or [shift.window]
        names = [
            s.visit_id
            for s in route.stops
            if any(s.start < w.end and w.start < s.end for w in span)
        ]
        if names:
            conflicts.update(dict.fromkeys(names))
            shown = ", ".join(names[:NAMED_PER_ROUTE])
            if len(names) > NAMED_PER_ROUTE:
                shown += f" and {len(names) - NAMED_PER_ROUTE} more"
            busy.append(
                f"van {van.id} on {_day(problem, shift.day)}: {shown}{_limit(route, shift, visit)}"
            )
    keys = [f"{van.id}/{shift.day}" for van, shift, _ in feasible]
    if feasible:
        van, shift, start = feasible[0]
        alone = f"it could be served alone (e.g. van {van.id} at {_when(problem, start)})"
    else:  # the solver dropped a visit the static test accepts: should not happen
        alone = "it passes the single-visit checks"
    if busy:
        detail = "; ".join(busy[:4]) + ("; ..." if len(busy) > 4 else "")
        message = f"{alone}, but there is no room in this week. Busy during its windows: {detail}"
    else:
        message = (
            f"{alone}, but not together with the other visits of this week"
            f" (priority {visit.priority}: it was cheaper to leave it out)"
        )
    return Unassigned(
        visit.id, Reason.NO_ROOM, f"Visit {visit.id}: {message}.", (*conflicts, *keys)
    )


def _limit(route: Route, shift: Shift, visit: Visit) -> str:
    """What caps the van-day besides its visits: its ``max_work`` when the route's working time
    plus this service exceeds it (the cause a dispatcher can change), else nothing."""
    if shift.max_work is None or route.working_time + visit.duration <= shift.max_work:
        return ""
    return (
        f" (max work {_dur(shift.max_work)} reached: {_dur(route.working_time)} worked,"
        f" this visit needs {_dur(visit.duration)} more)"
    )


# --- wording -----------------------------------------------------------------------------------


def _contains(outer: TimeWindow, inner: TimeWindow) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def _day(problem: Problem, day: int) -> str:
    d = problem.horizon.date_of(day)
    return f"{d.strftime('%a')} {d.isoformat()}"


def _when(problem: Problem, seconds: int) -> str:
    return problem.horizon.to_datetime(seconds).strftime("%a %Y-%m-%d %H:%M")


def _span(problem: Problem, w: TimeWindow) -> str:
    a = problem.horizon.to_datetime(w.start)
    b = problem.horizon.to_datetime(w.end)
    end = b.strftime("%H:%M") if a.date() == b.date() else b.strftime("%a %Y-%m-%d %H:%M")
    return f"{a.strftime('%a %Y-%m-%d %H:%M')}-{end}"


def _dur(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min"
