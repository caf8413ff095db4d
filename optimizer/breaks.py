"""Statutory breaks placed into a route after the search (``SolverSettings.statutory_breaks``
``"placed"``).

OR-Tools' break intervals make its local search crawl (every move re-propagates them), and PyVRP
has no breaks at all. So the search runs on a cheap stand-in instead (:func:`relaxed_span`: the
route span, waiting included, leaves room for the one break the route may need) and this module
then places the break exactly into the fixed order of each route: a forward pass for the
earliest and a backward pass for the latest service starts, with the break as one more activity
in one of the gaps between two stops, either right after the previous service (before the
drive, which it then delays) or on arrival at the next stop (during the waiting there).

The rule placed is the checker's (:func:`optimizer.checker.check_plan`) under
``Problem.break_rule``: a route that works longer than ``after_first`` takes a break of
``first`` inside its span, no stretch of work is longer than ``after_first``, and the break
starts no earlier than ``earliest_after_start`` after the shift start (as in the OR-Tools
model). :func:`relaxed_span` keeps the working time at most ``after_second`` and within
``max_work``, so one break always suffices. Each stop keeps the time window it was served in.

A route whose break cannot be placed loses stops (:func:`fit_breaks`): the visit whose removal
costs least (optional before must visits), until the break fits or no break is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from optimizer.domain import BreakRule, Problem, Shift, Visit
from optimizer.plan import BreakSlot, Route, Stop


def placed_here(shift: Shift, rule: BreakRule) -> bool:
    """Whether the statutory break of ``shift`` is placed after the search (it has no explicit
    breaks and may work longer than the rule allows without one)."""
    return shift.needs_statutory_break(rule)


def relaxed_span(shift: Shift, rule: BreakRule) -> int:
    """The longest route span (waiting included, no break) the search may plan on a shift whose
    statutory break is placed afterwards: room for the break of ``rule.first`` inside the
    shift, at most ``after_second`` (one break then suffices) and at most ``max_work``."""
    cap = min(shift.end - shift.start - rule.first, rule.after_second)
    if shift.max_work is not None:
        cap = min(cap, shift.max_work)
    return max(cap, min(rule.after_first, shift.end - shift.start))


@dataclass(frozen=True)
class _Leg:
    """One activity of a route in order: its service starts in ``[lo, hi]``, lasts
    ``duration`` and is reached ``travel`` seconds after the previous activity ends."""

    lo: int
    hi: int
    duration: int
    travel: int


@dataclass(frozen=True)
class Timing:
    """A schedule of a route's stops: departure, service starts, return, and the break (its
    start, or None without one)."""

    depart: int
    starts: tuple[int, ...]
    end: int
    break_start: int | None


def start_range(visit: Visit, shift: Shift) -> tuple[int, int] | None:
    """The service-start range of a visit with at most one window on ``shift`` (its pinned
    start, or its window, inside the shift); None when it does not fit."""
    lo, hi = shift.start, shift.end - visit.duration
    if visit.windows:
        w = visit.windows[0]
        lo, hi = max(lo, w.start), min(hi, w.end - visit.duration)
    pinned = visit.pin.start if visit.pin is not None else None
    if pinned is not None:
        if not lo <= pinned <= hi:
            return None
        lo = hi = pinned
    return (lo, hi) if lo <= hi else None


def stop_ranges(problem: Problem, shift: Shift, route: Route) -> list[tuple[int, int]]:
    """Each stop's service-start range: the window it is served in (see :func:`_window`)."""
    return [_window(problem.visit(s.visit_id), shift, s.start) for s in route.stops]


def _window(visit: Visit, shift: Shift, start: int) -> tuple[int, int]:
    """The service-start range of ``visit`` served at ``start``: its pinned start, or the
    window it is served in (the shift without windows), inside the shift."""
    first, last = shift.start, shift.end - visit.duration
    if visit.pin is not None and visit.pin.start is not None:
        return visit.pin.start, visit.pin.start
    for w in visit.windows:
        if w.start <= start and start + visit.duration <= w.end:
            return max(first, w.start), min(last, w.end - visit.duration)
    if visit.windows:  # served outside every window: keep it where it is
        return start, start
    return first, last


def _forward(legs: Sequence[_Leg], depart: int, back: int) -> tuple[list[int], int] | None:
    """Earliest service starts leaving at ``depart`` and the return; None when a window is
    missed."""
    starts: list[int] = []
    t = depart
    for leg in legs:
        s = max(leg.lo, t + leg.travel)
        if s > leg.hi:
            return None
        starts.append(s)
        t = s + leg.duration
    return starts, t + back


def _latest_depart(legs: Sequence[_Leg], deadline: int) -> int:
    """The latest departure from which every leg can still be served by ``deadline`` (the
    end of the last activity plus nothing after it; windows' ends respected)."""
    t = deadline
    for leg in reversed(legs):
        t = min(leg.hi, t - leg.duration) - leg.travel
    return t


def schedule(
    problem: Problem, shift: Shift, visits: Sequence[Visit], windows: Sequence[tuple[int, int]]
) -> Timing | None:
    """The schedule of ``visits`` in this order on ``shift`` (stop ``i`` starting within
    ``windows[i]``) with the statutory break where the rule needs it: the shortest span without
    a break when that needs none, else a placement of the break; None when there is none."""
    m, van = problem.matrix, problem.van(shift.van_id)
    rule = problem.break_rule
    locs = [van.start_location, *(v.location for v in visits), van.end]
    travel = [m.duration(a, b) for a, b in pairwise(locs)]
    legs = [
        _Leg(lo, hi, v.duration, t) for v, (lo, hi), t in zip(visits, windows, travel, strict=False)
    ]
    back = travel[-1]
    # Without a break: the latest departure gives the shortest span.
    depart = _latest_depart(legs, shift.end - back)
    if depart < shift.start:
        return None
    plain = _forward(legs, depart, back)
    if plain is None or plain[1] > shift.end:
        return None
    span = plain[1] - depart
    if shift.max_work is not None and span > shift.max_work:
        return None
    if span <= rule.after_first:
        return Timing(depart, tuple(plain[0]), plain[1], None)
    # No span is shorter than the work and the break without waiting: a placement that
    # reaches it is the answer (the first found, as the full scan would keep it).
    least = sum(travel) + sum(v.duration for v in visits) + rule.first
    best: Timing | None = None
    for gap in range(len(legs) + 1):
        for on_arrival in (True, False):
            found = _with_break(problem, shift, legs, back, gap, on_arrival)
            if found is not None and (
                best is None or found.end - found.depart < best.end - best.depart
            ):
                best = found
                if best.end - best.depart <= least:
                    return best
    return best


def _split(
    legs: Sequence[_Leg], back: int, gap: int, on_arrival: bool, b: int, duration: int
) -> tuple[list[_Leg], list[_Leg], int] | None:
    """The legs before the break (ending with the break pinned at ``b``) and after it, and the
    return; None when the placement does not exist (a break after the return is off duty)."""
    last = gap == len(legs)
    if last and on_arrival:
        return None
    t = back if last else legs[gap].travel
    before, after = (t, 0) if on_arrival else (0, t)
    pre = [*legs[:gap], _Leg(b, b, duration, before)]
    post = list(legs[gap:])
    if last:
        return pre, post, after
    post[0] = _Leg(post[0].lo, post[0].hi, post[0].duration, after)
    return pre, post, back


def _with_break(
    problem: Problem,
    shift: Shift,
    legs: Sequence[_Leg],
    back: int,
    gap: int,
    on_arrival: bool,
) -> Timing | None:
    """The schedule with the break in ``gap`` (before stop ``gap``; after the last stop when
    ``gap == len(legs)``), on arrival there or before the drive to it, or None.

    For a break start ``b``, the stops before it are served as late as possible (the latest
    departure) and those after it as early as possible. The stretch after the break shrinks as
    ``b`` grows, the stretch before it grows: the smallest ``b`` whose after-stretch is short
    enough is the one to try (a binary search)."""
    rule = problem.break_rule
    d = rule.first

    def timing(b: int) -> Timing | None:
        parts = _split(legs, back, gap, on_arrival, b, d)
        if parts is None:
            return None
        pre, post, ret = parts
        depart = _latest_depart(pre, b + d)
        if depart < shift.start:
            return None
        head = _forward(pre, depart, 0)
        tail = _forward(post, b + d, ret)
        if head is None or tail is None or head[0][-1] != b or tail[1] > shift.end:
            return None
        if gap == len(legs) and gap and head[0][-2] + legs[-1].duration != b:
            return None  # the van may not idle before the return: the break starts at once
        return Timing(depart, tuple(head[0][:-1] + tail[0]), tail[1], b)

    lo = shift.start + rule.earliest_after_start
    hi = shift.end - d
    # The earliest b the stops before it allow, and the latest the stops after it allow.
    parts = _split(legs, back, gap, on_arrival, 0, d)
    if parts is None:
        return None
    pre, post, ret = parts
    first = _forward(pre[:-1], shift.start, 0)
    if first is None:
        return None
    lo = max(lo, first[1] + pre[-1].travel)
    hi = min(hi, _latest_depart(post, shift.end - ret) - d)
    if lo > hi:
        return None

    def after(b: int) -> int:
        t = timing(b)
        return rule.after_first + 1 if t is None else t.end - (b + d)

    if gap == len(legs):
        # After the last stop: the stretch after the break is the drive home; the earliest
        # break that fits keeps the stretch before it short.
        candidates = [b for b in (lo, hi) if timing(b) is not None]
        a = candidates[0] if candidates else hi
    else:
        if after(hi) > rule.after_first:
            return None
        a, z = lo, hi
        while a < z:
            mid = (a + z) // 2
            if after(mid) <= rule.after_first:
                z = mid
            else:
                a = mid + 1
    found = timing(a)
    if found is None or a - found.depart > rule.after_first:
        return None
    if found.end - (a + d) > rule.after_first:
        return None
    work = found.end - found.depart - d
    if work > rule.after_second or (shift.max_work is not None and work > shift.max_work):
        return None
    return found


def route_of(problem: Problem, shift: Shift, visits: Sequence[Visit], timing: Timing) -> Route:
    """The route of ``shift`` serving ``visits`` at ``timing`` (arrivals, waiting, legs replayed
    on the matrix, the break where the timing puts it)."""
    m = problem.matrix
    van = problem.van(shift.van_id)
    rule = problem.break_rule
    slot = (
        None
        if timing.break_start is None
        else BreakSlot(timing.break_start, timing.break_start + rule.first)
    )
    stops: list[Stop] = []
    here, clock = van.start_location, timing.depart
    for v, s in zip(visits, timing.starts, strict=True):
        travel = m.duration(here, v.location)
        arrival, on_wait = _arrive(clock, travel, s, slot)
        stops.append(
            Stop(
                visit_id=v.id,
                location=v.location,
                arrival=arrival,
                start=s,
                end=s + v.duration,
                waiting=s - arrival - on_wait,
                travel_time=travel,
                distance=m.distance(here, v.location),
            )
        )
        here, clock = v.location, s + v.duration
    return Route(
        van_id=shift.van_id,
        day=shift.day,
        start_location=van.start_location,
        end_location=van.end,
        start=timing.depart,
        end=timing.end,
        stops=tuple(stops),
        breaks=() if slot is None else (slot,),
        return_travel_time=m.duration(here, van.end),
        return_distance=m.distance(here, van.end),
    )


def _arrive(leave: int, travel: int, start: int, slot: BreakSlot | None) -> tuple[int, int]:
    """Arrival after leaving at ``leave`` and driving ``travel`` s (a break that starts before
    the van would arrive interrupts the drive), and the break time spent waiting before
    ``start``."""
    if slot is None or not (leave <= slot.start < start):
        return leave + travel, 0
    if slot.start < leave + travel:
        return leave + travel + slot.duration, 0
    return leave + travel, slot.duration


@dataclass(frozen=True)
class Fitted:
    """A route with its break placed (None when no stop is left) and the visits it lost."""

    route: Route | None
    dropped: tuple[str, ...]


def fit_breaks(problem: Problem, shift: Shift, route: Route) -> Fitted:
    """``route`` (planned without its statutory break) with the break placed; when it cannot
    be, without the visit whose removal lets it fit at the least cost (then again)."""
    visits = [problem.visit(s.visit_id) for s in route.stops]
    windows = stop_ranges(problem, shift, route)
    dropped: list[str] = []
    while visits:
        timing = schedule(problem, shift, visits, windows)
        if timing is not None:
            return Fitted(route_of(problem, shift, visits, timing), tuple(dropped))
        i = _cheapest_loss(problem, shift, visits, windows)
        dropped.append(visits[i].id)
        del visits[i], windows[i]
    return Fitted(None, tuple(dropped))


def _cheapest_loss(
    problem: Problem, shift: Shift, visits: list[Visit], windows: list[tuple[int, int]]
) -> int:
    """The stop to remove: one whose removal lets the break fit, the lowest penalty first
    (then the latest stop); without such a stop, the lowest-penalty stop."""
    penalty = [problem.objective.penalty(v.priority) for v in visits]
    order = sorted(range(len(visits)), key=lambda i: (penalty[i], -i))
    for i in order:
        rest = visits[:i] + visits[i + 1 :]
        if not rest or schedule(problem, shift, rest, windows[:i] + windows[i + 1 :]):
            return i
    return order[0]
