"""Appointment slot offers: where a new visit fits into an existing plan, cheapest first.

When a client calls, :func:`find_offers` tries the new visit at every position of every van-day
route that may serve it (skills, capacity, allowed days, pin) and on the idle van-days, re-times
the route with the insertion and keeps the positions where everything still holds. Offers are
ranked by the drive time the insertion adds (then distance, then the earlier day and start).

Re-timing semantics (the plan's, see :mod:`optimizer.checker`): the van leaves the depot, drives
straight on, may wait, and a break may interrupt a drive. Booking never moves a stop earlier than
the plan has it: the stops before the new visit keep their times, later stops may be pushed later
inside their windows, except stops whose start is fixed (a pinned start, or a visit listed in
``fixed_times``, e.g. the confirmed ones), which must keep their start exactly. Breaks keep their
order relative to the stops and move later only inside their windows; when the statutory rule
(ArbZG §4) needs more break time after the insertion, one break is added in the first gap between
activities where the route then holds. Only the position of the first stop may move the departure
earlier.

The function never routes anew: it reads the travel matrix of the problem, so the new visit's
location must be in it. Every offered route can be applied with :func:`apply_offer`; the result
passes :func:`optimizer.checker.check_plan` (the tests check this on random instances).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import product

from optimizer.checker import MIN_STATUTORY_BREAK
from optimizer.diagnose import eligible_van_days, static_reason
from optimizer.domain import UNREACHABLE, Problem, Shift, TimeWindow, Van, Visit
from optimizer.errors import Collector
from optimizer.plan import BreakSlot, Plan, Reason, Route, Stop, Unassigned

log = logging.getLogger(__name__)

MAX_BREAK_LAYOUTS = 64
"""Placements of configured breaks tried on an idle van-day (4 per break: before departure,
before the visit, after it, after the return)."""


@dataclass(frozen=True)
class Offer:
    """One bookable slot: the new visit as stop ``position`` of ``van_id``'s route on ``day``.

    ``previous``/``next`` are the visit ids of the neighbouring stops (None: the depot);
    ``added_drive_time`` (s) and ``added_distance`` (m) compare the van-day's route with and
    without the visit; ``route`` is the re-timed route with the visit in it.
    """

    van_id: str
    day: int
    position: int
    arrival: int
    start: int
    end: int
    added_drive_time: int
    added_distance: int
    previous: str | None
    next: str | None
    route: Route

    @property
    def key(self) -> tuple[int, int, int, int, str, int]:
        """The ranking: cheapest drive, then distance, earlier day and start, van, position."""
        return (
            self.added_drive_time,
            self.added_distance,
            self.day,
            self.start,
            self.van_id,
            self.position,
        )


@dataclass(frozen=True)
class OfferResult:
    """The best offers (at most ``limit``), and why there is none when ``offers`` is empty.

    ``evaluated``: insertion positions tried; ``feasible``: how many of them hold.
    """

    visit_id: str
    offers: tuple[Offer, ...]
    reason: Unassigned | None
    evaluated: int
    feasible: int


def find_offers(
    problem: Problem,
    plan: Plan,
    visit: Visit,
    *,
    limit: int = 5,
    per_van_day: int = 1,
    fixed_times: Collection[str] = (),
    granularity: int = 1,
) -> OfferResult:
    """The ``limit`` cheapest feasible insertions of ``visit`` into ``plan``.

    ``plan`` must be a plan of ``problem`` (which must not contain ``visit``); at most
    ``per_van_day`` offers come from one van-day (its cheapest positions), so the caller sees
    different days and vans rather than neighbouring positions of one route. ``fixed_times``:
    visits whose start must not change (pinned starts are always fixed). ``granularity``: the
    new visit starts at a multiple of this many seconds from the horizon origin (300: on the
    5-minute marks of the clock, as a client is told), unless its pin fixes the start. Raises
    :class:`~optimizer.errors.ValidationError` for a visit that cannot be offered at all (unknown
    location, id already planned, bad ``limit``).
    """
    c = Collector()
    c.check(limit >= 1, "limit", f"must be >= 1, got {limit}")
    c.check(per_van_day >= 1, "per_van_day", f"must be >= 1, got {per_van_day}")
    c.check(granularity >= 1, "granularity", f"must be >= 1 s, got {granularity}")
    c.check(
        visit.location in problem.matrix,
        "visit.location",
        f"{visit.location!r} is not in the travel matrix",
    )
    known = {v.id for v in problem.visits}
    c.check(visit.id not in known, "visit.id", f"visit {visit.id!r} is already in the week")
    c.raise_if_any()

    found = static_reason(problem, visit)
    if found is not None:
        return OfferResult(visit.id, (), found, 0, 0)

    fixed = set(fixed_times)
    candidates: list[Offer] = []
    evaluated = 0
    for van, shift in eligible_van_days(problem, visit):
        route = plan.route(van.id, shift.day)
        mine: list[Offer] = []
        for offer in _van_day_offers(problem, van, shift, route, visit, fixed, granularity):
            mine.append(offer)
        evaluated += len(route.stops) + 1 if route is not None else 1
        mine.sort(key=lambda o: o.key)
        candidates.extend(mine[:per_van_day])
    candidates.sort(key=lambda o: o.key)
    feasible = len(candidates)
    offers = tuple(candidates[:limit])
    reason = None if offers else _no_slot(problem, plan, visit)
    log.debug("offers for %s: %d of %d positions hold", visit.id, feasible, evaluated)
    return OfferResult(visit.id, offers, reason, evaluated, feasible)


def apply_offer(plan: Plan, offer: Offer) -> Plan:
    """``plan`` with the offer's route in place of its van-day's route (added when idle)."""
    others = tuple(r for r in plan.routes if (r.van_id, r.day) != (offer.van_id, offer.day))
    routes = tuple(sorted((*others, offer.route), key=lambda r: (r.day, r.van_id)))
    visit_id = offer.route.stops[offer.position].visit_id
    unassigned = tuple(u for u in plan.unassigned if u.visit_id != visit_id)
    return replace(plan, routes=routes, unassigned=unassigned)


def _no_slot(problem: Problem, plan: Plan, visit: Visit) -> Unassigned:
    """The visit could be served alone, but no route of ``plan`` has room for it."""
    keys = [f"{van.id}/{shift.day}" for van, shift in eligible_van_days(problem, visit)]
    busy = [f"{r.van_id}/{r.day}" for r in plan.routes if f"{r.van_id}/{r.day}" in keys and r.stops]
    message = (
        f"Visit {visit.id}: it could be served alone, but it fits into none of the"
        f" {len(keys)} van-day(s) that could serve it without breaking a time window, a shift,"
        " a break or a fixed time of the visits already planned."
    )
    return Unassigned(visit.id, Reason.NO_ROOM, message, tuple(busy or keys))


# --- one van-day --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Break:
    """A break to place: wanted from ``desired`` on (pushed later if need be), ``duration``
    long, inside ``[lo, hi]``."""

    desired: int
    duration: int
    lo: int
    hi: int


@dataclass(frozen=True)
class _Slot:
    """A stop to place: ``floor`` is its planned start (None for the new visit)."""

    visit: Visit
    floor: int | None
    fixed: bool
    step: int = 1  # the start is a multiple of it (the new visit's granularity)


@dataclass(frozen=True)
class _Layout:
    """A van-day to re-time: stops in order, the breaks of each gap (``gaps[i]`` before stop
    ``i``, ``gaps[-1]`` before the return), breaks before the departure and after the return."""

    depart: int
    slots: tuple[_Slot, ...]
    gaps: tuple[tuple[_Break, ...], ...]
    pre: tuple[_Break, ...]
    post: tuple[_Break, ...]


def _van_day_offers(
    problem: Problem,
    van: Van,
    shift: Shift,
    route: Route | None,
    visit: Visit,
    fixed: set[str],
    step: int,
) -> Iterator[Offer]:
    """Every feasible insertion of ``visit`` into this van-day."""
    m = problem.matrix
    if van.capacity is not None and route is not None:
        load = sum(problem.visit(s.visit_id).demand for s in route.stops) + visit.demand
        if load > van.capacity:
            return
    stops = route.stops if route is not None else ()
    old_drive = route.drive_time if route is not None else 0
    old_distance = route.distance if route is not None else 0
    locations = [van.start_location, *(s.location for s in stops), van.end]
    for position in range(len(stops) + 1):
        before, after = locations[position], locations[position + 1]
        if m.duration(before, visit.location) == UNREACHABLE:
            continue
        if m.duration(visit.location, after) == UNREACHABLE:
            continue
        new_route = _insert(problem, van, shift, route, visit, position, fixed, step)
        if new_route is None:
            continue
        stop = new_route.stops[position]
        yield Offer(
            van_id=van.id,
            day=shift.day,
            position=position,
            arrival=stop.arrival,
            start=stop.start,
            end=stop.end,
            added_drive_time=new_route.drive_time - old_drive,
            added_distance=new_route.distance - old_distance,
            previous=stops[position - 1].visit_id if position > 0 else None,
            next=stops[position].visit_id if position < len(stops) else None,
            route=new_route,
        )


def _insert(
    problem: Problem,
    van: Van,
    shift: Shift,
    route: Route | None,
    visit: Visit,
    position: int,
    fixed: set[str],
    step: int,
) -> Route | None:
    """The van-day's route with ``visit`` as stop ``position``, re-timed; None if none holds."""
    for layout in _layouts(problem, van, shift, route, visit, position, fixed, step):
        found = _retime(problem, van, shift, layout)
        if found is None:
            continue
        retimed, ok = found
        if ok:
            return retimed
        if shift.breaks is None:
            repaired = _add_statutory_break(problem, van, shift, layout)
            if repaired is not None:
                return repaired
    return None


def _layouts(
    problem: Problem,
    van: Van,
    shift: Shift,
    route: Route | None,
    visit: Visit,
    position: int,
    fixed: set[str],
    step: int,
) -> Iterator[_Layout]:
    """The ways to lay the insertion out: breaks in the gap the visit splits go before or after
    it; on an idle day the configured breaks go before, around or after the visit."""
    pinned = visit.pin is not None and visit.pin.start is not None
    step = 1 if pinned else step
    new = _Slot(visit, None, False, step)
    if route is None:
        configured = [
            _Break(b.earliest_start, b.duration, b.earliest_start, b.latest_end)
            for b in shift.breaks or ()
        ]
        depart = _first_departure(problem, van, shift, visit, step)
        if depart is None:
            return
        sides = list(product(range(4), repeat=len(configured)))[:MAX_BREAK_LAYOUTS]
        for choice in sides:
            parts: list[list[_Break]] = [[], [], [], []]
            for b, side in zip(configured, choice, strict=True):
                parts[side].append(b)
            yield _Layout(
                depart, (new,), (tuple(parts[1]), tuple(parts[2])), tuple(parts[0]), tuple(parts[3])
            )
        return

    slots = [
        _Slot(
            problem.visit(s.visit_id),
            s.start,
            s.visit_id in fixed or _pinned_start(problem.visit(s.visit_id)),
        )
        for s in route.stops
    ]
    windows = _break_windows(shift, route)
    pre: list[_Break] = []
    post: list[_Break] = []
    gaps: list[list[_Break]] = [[] for _ in range(len(route.stops) + 1)]
    for taken in sorted(route.breaks, key=lambda b: b.start):
        lo, hi = windows[taken]
        item = _Break(taken.start, taken.duration, lo, hi)
        if taken.end <= route.start:
            pre.append(item)
        elif taken.start >= route.end:
            post.append(item)
        else:
            gaps[sum(1 for stop in route.stops if stop.end <= taken.start)].append(item)

    depart = route.start
    if position == 0:
        # The only insertion that may make the van leave earlier: as late as the visit allows.
        earliest = _first_departure(problem, van, shift, visit, step)
        if earliest is None:
            return
        depart = min(depart, earliest)

    split = gaps[position]
    for k in range(len(split), -1, -1):  # all breaks before the visit first, then fewer
        new_gaps = [
            *map(tuple, gaps[:position]),
            tuple(split[:k]),
            tuple(split[k:]),
            *map(tuple, gaps[position + 1 :]),
        ]
        new_slots = (*slots[:position], new, *slots[position:])
        yield _Layout(depart, new_slots, tuple(new_gaps), tuple(pre), tuple(post))


def _pinned_start(visit: Visit) -> bool:
    return visit.pin is not None and visit.pin.start is not None


def _break_windows(shift: Shift, route: Route) -> dict[BreakSlot, tuple[int, int]]:
    """Where each break of ``route`` may move: its configured break's window (matched as the
    checker matches them), the shift for statutory breaks, the slot itself if unmatched."""
    if shift.breaks is None:
        return {b: (shift.start, shift.end) for b in route.breaks}
    out: dict[BreakSlot, tuple[int, int]] = {}
    free = list(shift.breaks)
    for b in sorted(route.breaks, key=lambda b: b.start):
        match = next(
            (
                w
                for w in free
                if b.duration >= w.duration
                and w.earliest_start <= b.start
                and b.end <= w.latest_end
            ),
            None,
        )
        if match is None:
            out[b] = (b.start, b.end)
        else:
            free.remove(match)
            out[b] = (match.earliest_start, match.latest_end)
    return out


def _first_departure(
    problem: Problem, van: Van, shift: Shift, visit: Visit, step: int
) -> int | None:
    """The departure that reaches ``visit`` at its earliest possible start (no earlier than the
    shift start), or None when the visit cannot start inside the shift after the first drive."""
    travel = problem.matrix.duration(van.start_location, visit.location)
    if travel == UNREACHABLE:
        return None
    start = _earliest_start(problem, shift, visit, shift.start + travel, step)
    if start is None:
        return None
    return max(shift.start, start - travel)


def _windows(shift: Shift, visit: Visit) -> list[TimeWindow]:
    windows = list(visit.windows) or [shift.window]
    pin = visit.pin
    if pin is not None and pin.start is not None:
        fixed = TimeWindow(pin.start, pin.start + visit.duration)
        windows = (
            [fixed] if any(w.start <= fixed.start and fixed.end <= w.end for w in windows) else []
        )
    return sorted(windows, key=lambda w: w.start)


def _earliest_start(
    problem: Problem, shift: Shift, visit: Visit, ready: int, step: int = 1
) -> int | None:
    """The earliest service start at or after ``ready`` inside a window of the visit, at a
    multiple of ``step`` seconds."""
    for w in _windows(shift, visit):
        start = -(-max(ready, w.start) // step) * step
        if start + visit.duration <= w.end:
            return start
    return None


def _drive(
    leave: int, travel: int, breaks: Sequence[_Break]
) -> tuple[int, int, list[tuple[int, int]]] | None:
    """Leave at ``leave``, drive ``travel`` s and take ``breaks`` in order, each at its desired
    start or as soon after as possible: a break that would start after the arrival is taken while
    waiting there. Returns (arrival, time free after the breaks, break slots), or None when a
    break leaves its window."""
    cur, rest = leave, travel
    arrived: int | None = None
    slots: list[tuple[int, int]] = []
    for b in breaks:
        start = max(b.desired, cur)
        if arrived is None and cur + rest <= start:
            arrived = cur + rest
            cur = arrived
            start = max(b.desired, cur)
        if arrived is None:
            rest -= start - cur
        if start < b.lo or start + b.duration > b.hi:
            return None
        slots.append((start, start + b.duration))
        cur = start + b.duration
    if arrived is None:
        arrived = cur + rest
        cur = arrived
    return arrived, cur, slots


def _inside(slots: Sequence[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(e, hi) - max(s, lo)) for s, e in slots)


def _retime(problem: Problem, van: Van, shift: Shift, layout: _Layout) -> tuple[Route, bool] | None:
    """Re-time a layout. None when a hard rule fails (window, fixed start, shift, break window,
    ``max_work``); otherwise the route and whether it meets the statutory break rule too."""
    m = problem.matrix
    depart = layout.depart
    if depart < shift.start:
        return None
    slots: list[tuple[int, int]] = []
    for b in layout.pre:
        if b.desired < b.lo or b.desired + b.duration > min(b.hi, depart):
            return None
        slots.append((b.desired, b.desired + b.duration))
    stops: list[Stop] = []
    loc, t = van.start_location, depart
    for slot, gap in zip(layout.slots, layout.gaps, strict=False):
        visit = slot.visit
        travel = m.duration(loc, visit.location)
        if travel == UNREACHABLE:
            return None
        driven = _drive(t, travel, gap)
        if driven is None:
            return None
        arrival, free, taken = driven
        ready = free if slot.floor is None else max(free, slot.floor)
        start = _earliest_start(problem, shift, visit, ready, slot.step)
        if start is None or (slot.fixed and start != slot.floor):
            return None
        slots.extend(taken)
        stops.append(
            Stop(
                visit_id=visit.id,
                location=visit.location,
                arrival=arrival,
                start=start,
                end=start + visit.duration,
                waiting=start - arrival - _inside(taken, arrival, start),
                travel_time=travel,
                distance=m.distance(loc, visit.location),
            )
        )
        loc, t = visit.location, start + visit.duration
    travel = m.duration(loc, van.end)
    if travel == UNREACHABLE:
        return None
    driven = _drive(t, travel, layout.gaps[-1])
    if driven is None:
        return None
    end, free, taken = driven
    slots.extend(taken)
    for b in layout.post:
        start = max(b.desired, free)
        if start < b.lo or start + b.duration > b.hi:
            return None
        slots.append((start, start + b.duration))
        free = start + b.duration
    if end > shift.end or any(s < shift.start or e > shift.end for s, e in slots):
        return None
    inner = [(s, e) for s, e in slots if e > depart and s < end]
    work = (end - depart) - _inside(inner, depart, end)
    if shift.max_work is not None and work > shift.max_work:
        return None
    route = Route(
        van_id=van.id,
        day=shift.day,
        start_location=van.start_location,
        end_location=van.end,
        start=depart,
        end=end,
        stops=tuple(stops),
        breaks=tuple(BreakSlot(s, e) for s, e in sorted(slots)),
        return_travel_time=travel,
        return_distance=m.distance(loc, van.end),
    )
    return route, shift.breaks is not None or _statutory_ok(problem, route)


def _statutory_ok(problem: Problem, route: Route) -> bool:
    """ArbZG §4 as the checker reads it: enough break (pieces of at least 15 min inside the
    route) for the working time, and no stretch of work longer than ``after_first``."""
    rule = problem.break_rule
    piece = min(MIN_STATUTORY_BREAK, rule.first)
    inside = [
        (max(b.start, route.start), min(b.end, route.end))
        for b in sorted(route.breaks, key=lambda b: b.start)
        if min(b.end, route.end) - max(b.start, route.start) >= piece
    ]
    if sum(e - s for s, e in inside) < rule.required_break(route.working_time):
        return False
    cursor = route.start
    for s, e in [*inside, (route.end, route.end)]:
        if s - cursor > rule.after_first:
            return False
        cursor = max(cursor, e)
    return True


def _add_statutory_break(problem: Problem, van: Van, shift: Shift, layout: _Layout) -> Route | None:
    """The layout with one more statutory break, in the first gap where the route then holds."""
    rule = problem.break_rule
    piece = min(MIN_STATUTORY_BREAK, rule.first)
    found = _retime(problem, van, shift, layout)
    if found is None:
        return None
    route = found[0]
    counted = route.break_time
    # The missing break time (a piece at least: a stretch may be too long with enough in all);
    # the statutory amounts too, as a break taken while waiting may change the working time.
    needs = {max(rule.required_break(route.working_time) - counted, piece), rule.first}
    earliest = shift.start + rule.earliest_after_start
    for duration, g in product(sorted(needs), range(len(layout.gaps))):
        extra = _Break(earliest, duration, earliest, shift.end)
        gaps = list(layout.gaps)
        gaps[g] = (*gaps[g], extra)
        again = _retime(problem, van, shift, replace(layout, gaps=tuple(gaps)))
        if again is not None and again[1]:
            return again[0]
    return None
