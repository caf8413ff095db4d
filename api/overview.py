"""The dispatcher's week at a glance, computed from the plan view (:mod:`geo.view`) and the
request the plan was made for: totals, utilisation per van-day, the timeline and a concrete fix
for every unassigned visit.

- :func:`week_overview`: one :class:`VanDayLoad` for **every** van-day that has a shift, also the
  idle ones (no route: 0 % utilisation). Utilisation is work time / shift length, work time as
  the optimizer counts it: from leaving the base to being back, minus the breaks in between
  (driving, service and waiting are work).
- :func:`timeline`: the van-days as rows of positioned blocks (shift limits, drives, visits,
  breaks) on one hour scale for the whole week, times in the plan's zone.
- :func:`suggest_fix`: for an unassigned visit, a fix derived from its reason and from the plan:
  the free time of each van-day (between its stops, inside its shift, around its breaks) is
  checked for the visit's duration plus the drive there and on (straight-line estimate,
  :mod:`geo.approximate`). The first that holds wins: pin it to a van-day with room inside its
  windows, widen a window to a free time on an allowed day, move it to another day, else say
  what is missing (a skill, a shorter duration, a longer shift). A suggestion is a hint: the
  re-plan (or a booking) checks it exactly.
- :func:`fix_text`: the fix in the page's language.

Nothing here reads the database or the request's HTTP side; templates only draw the results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np

from api.i18n import N_, Language
from api.schemas.planning import SolveRequest, VisitIn, Window
from geo.approximate import approximate_seconds
from geo.build import great_circle_m
from geo.geometry import Coord
from geo.settings import ApproximateSettings
from geo.view import PlanView, StopView, VanDayView
from optimizer.plan import Reason

SLOT_STEP = 300
"""Suggested times lie on the 5-minute marks of the clock (as the offers' do)."""

DEFAULT_HOURS = (6, 20)
"""The timeline's scale when the week has no shift (local hours)."""


# --------------------------------------------------------------------------- overview


@dataclass(frozen=True)
class Span:
    """A stretch of local time."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return max(0, int((self.end - self.start).total_seconds()))


@dataclass(frozen=True)
class VanDayLoad:
    """One van on one day it has a shift: its shift(s) and, when it drives, its route."""

    van_id: str
    van_name: str
    date: date
    shifts: tuple[Span, ...]
    route: VanDayView | None
    home: Coord | None  # where the van starts its day, when known

    @property
    def shift_seconds(self) -> int:
        return sum(s.seconds for s in self.shifts)

    @property
    def visits(self) -> int:
        return len(self.route.stops) if self.route is not None else 0

    @property
    def idle(self) -> bool:
        return self.visits == 0

    @property
    def drive_seconds(self) -> int:
        if self.route is None:
            return 0
        return sum(leg.travel_time or 0 for leg in self.route.legs)

    @property
    def distance_m(self) -> int:
        if self.route is None:
            return 0
        return sum(leg.distance or 0 for leg in self.route.legs)

    @property
    def work_seconds(self) -> int:
        """Leaving the base to being back, minus the breaks in between; 0 when idle."""
        r = self.route
        if r is None or self.idle or r.departure is None or r.back is None:
            return 0
        span = Span(r.departure, r.back)
        pauses = sum(
            max(0.0, (min(b.end, span.end) - max(b.start, span.start)).total_seconds())
            for b in r.breaks
        )
        return max(0, span.seconds - int(pauses))

    @property
    def utilisation(self) -> float:
        """Work time / shift length (0.0 for an idle day or a shift of no length)."""
        return self.work_seconds / self.shift_seconds if self.shift_seconds else 0.0

    @cached_property
    def gaps(self) -> tuple[_Gap, ...]:
        """Its free times (see :func:`_gaps`), computed once."""
        return _gaps(self)

    @cached_property
    def most_room(self) -> int:
        """Seconds of its largest free time."""
        return max((g.room for g in self.gaps), default=0)


@dataclass(frozen=True)
class WeekOverview:
    """The week's totals and its van-days (sorted by day, then van name)."""

    planned: int
    unassigned: int
    drive_seconds: int
    distance_m: int
    van_days: tuple[VanDayLoad, ...]
    timezone: str

    @property
    def shift_seconds(self) -> int:
        return sum(v.shift_seconds for v in self.van_days)

    @property
    def work_seconds(self) -> int:
        return sum(v.work_seconds for v in self.van_days)

    @property
    def utilisation(self) -> float:
        """The whole week's work time / shift time."""
        return self.work_seconds / self.shift_seconds if self.shift_seconds else 0.0

    @property
    def idle_days(self) -> int:
        return sum(1 for v in self.van_days if v.idle)

    def van_day(self, van_id: str, day: date) -> VanDayLoad:
        for v in self.van_days:
            if v.van_id == van_id and v.date == day:
                return v
        raise KeyError(f"van {van_id!r} has no shift on {day.isoformat()}")


def _home(request: SolveRequest, view: PlanView) -> dict[str, Coord]:
    """Where each van starts its day: its start place's coordinates, else where one of its
    routes starts, else the plan's only depot (unknown when none of these)."""
    homes: dict[str, Coord] = {}
    only = view.depots[0].coord if len(view.depots) == 1 else None
    for van in request.vans:
        if van.start is not None and van.start.coordinates is not None:
            homes[van.id] = van.start.coordinates
            continue
        starts = [vd.start for vd in view.van_days if vd.van_id == van.id and vd.start]
        found = starts[0] if starts else only
        if found is not None:
            homes[van.id] = found
    return homes


def week_overview(view: PlanView, request: SolveRequest) -> WeekOverview:
    """The overview of ``view`` (a plan of ``request``): every van-day with a shift, routes or
    not; routes on a day without a shift are kept too (with no shift length)."""
    tz = ZoneInfo(view.timezone)
    names = {v.id: v.name or v.id for v in request.vans}
    shifts: dict[tuple[str, date], list[Span]] = {}
    for s in request.shifts:
        start, end = s.start.astimezone(tz), s.end.astimezone(tz)
        shifts.setdefault((s.van_id, start.date()), []).append(Span(start, end))
    routes = {(vd.van_id, vd.date): vd for vd in view.van_days}
    homes = _home(request, view)
    keys = set(shifts) | set(routes)
    loads = [
        VanDayLoad(
            van_id=van,
            van_name=names.get(van, van),
            date=day,
            shifts=tuple(sorted(shifts.get((van, day), []), key=lambda s: s.start)),
            route=routes.get((van, day)),
            home=homes.get(van),
        )
        for van, day in keys
    ]
    loads.sort(key=lambda v: (v.date, v.van_name, v.van_id))
    return WeekOverview(
        planned=sum(v.visits for v in loads),
        unassigned=len(view.unassigned),
        drive_seconds=sum(v.drive_seconds for v in loads),
        distance_m=sum(v.distance_m for v in loads),
        van_days=tuple(loads),
        timezone=view.timezone,
    )


# --------------------------------------------------------------------------- timeline


class BlockKind(StrEnum):
    SHIFT = "shift"
    DRIVE = "drive"
    APPOINTMENT = "appointment"
    CONSULTATION = "consultation_hours"
    BREAK = "break"


@dataclass(frozen=True)
class Block:
    """Something drawn on a timeline row: ``left``/``width`` in percent of the scale."""

    kind: BlockKind
    start: datetime
    end: datetime
    left: float
    width: float
    visit_id: str | None = None
    stop: StopView | None = None


@dataclass(frozen=True)
class TimelineRow:
    load: VanDayLoad
    shifts: tuple[Block, ...]
    blocks: tuple[Block, ...]  # drives, visits and breaks, in time order


@dataclass(frozen=True)
class Timeline:
    first_hour: int
    last_hour: int
    rows: tuple[TimelineRow, ...]

    @property
    def ticks(self) -> list[tuple[int, float]]:
        """(hour, left in percent) of every second hour of the scale."""
        span = self.last_hour - self.first_hour
        return [
            (h, (h - self.first_hour) / span * 100)
            for h in range(self.first_hour, self.last_hour + 1)
            if (h - self.first_hour) % 2 == 0
        ]


def _clock(moment: datetime, day: date) -> float:
    """Hours since midnight of ``day`` (local), so a moment after midnight stays on its row."""
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=moment.tzinfo)
    return (moment - midnight).total_seconds() / 3600


def timeline(overview: WeekOverview) -> Timeline:
    """Every van-day of ``overview`` as a row on one scale: whole hours from the earliest shift
    start (or departure) to the latest shift end (or return) of the week."""
    tz = ZoneInfo(overview.timezone)
    moments: list[tuple[date, datetime]] = []
    for v in overview.van_days:
        moments += [(v.date, t.astimezone(tz)) for s in v.shifts for t in (s.start, s.end)]
        r = v.route
        if r is not None:
            moments += [(v.date, t.astimezone(tz)) for t in (r.departure, r.back) if t]
    if moments:
        hours = [_clock(t, d) for d, t in moments]
        first = max(0, math.floor(min(hours)))
        last = min(48, max(first + 1, math.ceil(max(hours))))
    else:
        first, last = DEFAULT_HOURS
    scale = (last - first) * 3600.0

    def block(kind: BlockKind, day: date, a: datetime, b: datetime, **kw: object) -> Block:
        a, b = a.astimezone(tz), b.astimezone(tz)
        lo = (_clock(a, day) - first) * 3600
        hi = (_clock(b, day) - first) * 3600
        left = min(100.0, max(0.0, lo / scale * 100))
        width = max(0.0, min(100.0, hi / scale * 100) - left)
        return Block(kind, a, b, round(left, 2), round(width, 2), **kw)  # type: ignore[arg-type]

    rows = []
    for v in overview.van_days:
        shifts = tuple(block(BlockKind.SHIFT, v.date, s.start, s.end) for s in v.shifts)
        blocks: list[Block] = []
        r = v.route
        if r is not None and r.stops:
            stops = {s.visit_id: s for s in r.stops}
            for leg in r.legs:
                if not leg.travel_time:
                    continue
                arrive = stops[leg.to_visit].arrival if leg.to_visit in stops else r.back
                if arrive is None:
                    continue
                went = arrive - timedelta(seconds=leg.travel_time)
                blocks.append(block(BlockKind.DRIVE, v.date, went, arrive))
            for s in r.stops:
                kind = BlockKind.CONSULTATION if s.consultation else BlockKind.APPOINTMENT
                blocks.append(block(kind, v.date, s.start, s.end, visit_id=s.visit_id, stop=s))
            for b in r.breaks:
                blocks.append(block(BlockKind.BREAK, v.date, b.start, b.end))
        blocks.sort(key=lambda b: (b.start, b.kind != BlockKind.DRIVE))
        rows.append(TimelineRow(v, shifts, tuple(blocks)))
    return Timeline(first, last, tuple(rows))


# --------------------------------------------------------------------------- fixes


class FixKind(StrEnum):
    PIN = "pin"  # a van-day has room inside the visit's windows: pin it there
    WIDEN = "widen"  # room on an allowed day, outside the windows: widen a window
    OTHER_DAY = "other_day"  # room only on a day the visit does not allow
    SKILL = "skill"  # no van has a skill it needs
    SHORTEN = "shorten"  # longer than any shift can take
    CHECK_PLACE = "check_place"  # the place cannot be reached
    REPLAN = "replan"  # the search never got to it
    MORE_TIME = "more_time"  # no van-day has room: a longer shift or another van
    NONE = "none"  # nothing to do (cancelled)
    NOT_CHECKED = "not_checked"  # beyond MAX_FIXES: no search made


@dataclass(frozen=True)
class Fix:
    """A suggested fix; ``van_id``/``date``/``start``/``end``: the van-day and free time it
    found (for WIDEN: the widened window), ``skills``/``minutes`` for SKILL/SHORTEN."""

    kind: FixKind
    van_id: str | None = None
    van_name: str | None = None
    date: date | None = None
    start: datetime | None = None
    end: datetime | None = None
    skills: tuple[str, ...] = ()
    minutes: int | None = None


@dataclass(frozen=True)
class Slot:
    """A free time of a van-day for the visit: its service from ``start`` to ``end``;
    ``travel``: the estimated drive there and on to the next place."""

    load: VanDayLoad
    start: datetime
    end: datetime
    travel: int


class Travel:
    """Straight-line drive estimates (seconds) between ``(lon, lat)`` points, as
    :mod:`geo.approximate` makes them (remembered per pair); 0 when a point is not known."""

    def __init__(self, settings: ApproximateSettings | None = None) -> None:
        self.settings = settings or ApproximateSettings()
        self._known: dict[tuple[Coord, Coord], int] = {}

    def __call__(self, a: Coord | None, b: Coord | None) -> int:
        if a is None or b is None or a == b:
            return 0
        key = (a, b) if a <= b else (b, a)
        found = self._known.get(key)
        if found is None:
            beeline = great_circle_m(
                np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]])
            )
            road = np.asarray(beeline, dtype=np.float64) * self.settings.detour_factor
            found = math.ceil(float(approximate_seconds(road, self.settings)[0]))
            self._known[key] = found
        return found


@dataclass(frozen=True)
class _Gap:
    """Free time between two places of a van-day: leave ``origin`` at ``start``, be at
    ``destination`` by ``end``; ``pause`` seconds of break fall inside."""

    start: datetime
    end: datetime
    origin: Coord | None
    destination: Coord | None
    pause: int
    room: int  # seconds free in the gap, breaks taken off


def _gaps(load: VanDayLoad) -> tuple[_Gap, ...]:
    """The free times of a van-day, shift by shift: before its first stop, between stops and
    after its last stop (inside the shift); breaks inside a gap count against it."""
    out: list[_Gap] = []
    stops = list(load.route.stops) if load.route is not None else []
    breaks = list(load.route.breaks) if load.route is not None else []
    for shift in load.shifts:
        inside = [s for s in stops if shift.start <= s.start < shift.end]
        marks: list[tuple[datetime, datetime, Coord | None]] = [
            (shift.start, shift.start, load.home)
        ]
        marks += [(s.start, s.end, s.coord) for s in inside]
        marks.append((shift.end, shift.end, load.home))
        for (_, left, here), (right, _, there) in itertools.pairwise(marks):
            if right <= left:
                continue
            pause = sum(
                int(max(0.0, (min(b.end, right) - max(b.start, left)).total_seconds()))
                for b in breaks
            )
            room = int((right - left).total_seconds()) - pause
            out.append(_Gap(left, right, here, there, pause, room))
    return tuple(out)


def _mark(moment: datetime) -> datetime:
    """``moment`` rounded up to the next 5-minute mark (a time a client can be told)."""
    moment = moment.replace(microsecond=0)
    return moment + timedelta(seconds=-(moment.minute * 60 + moment.second) % SLOT_STEP)


def _fit(
    gap: _Gap, at: Coord | None, duration: int, travel: Travel, within: Span | None
) -> tuple[datetime, int] | None:
    """The earliest service start (on a 5-minute mark) in ``gap``, inside ``within`` when
    given, and the drive there and on; None when it does not fit. The gap's breaks go before
    or after the visit, whichever has the room."""
    if gap.room < duration:
        return None
    if within is not None and (within.end <= gap.start or within.start >= gap.end):
        return None
    there, on = travel(gap.origin, at), travel(at, gap.destination)
    need = timedelta(seconds=duration)
    latest_end = gap.end - timedelta(seconds=on)
    if within is not None:
        latest_end = min(latest_end, within.end)
    pause = timedelta(seconds=gap.pause)
    for delay in (timedelta(0), pause) if gap.pause else (timedelta(0),):
        start = gap.start + timedelta(seconds=there) + delay
        if within is not None:
            start = max(start, within.start)
        start = _mark(start)
        if start + need > latest_end:
            continue
        # with the break after the visit, it must still fit before the next place
        if delay or start + need + pause <= gap.end - timedelta(seconds=on):
            return start, there + on
    return None


def _windows_on(visit: VisitIn, day: date, tz: ZoneInfo) -> list[Span]:
    """The visit's windows touching ``day`` (local), clipped to it."""
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    lo, hi = midnight, midnight + timedelta(days=1)
    out = []
    for w in visit.windows:
        a, b = max(w.start.astimezone(tz), lo), min(w.end.astimezone(tz), hi)
        if a < b:
            out.append(Span(a, b))
    return out


def _allowed(visit: VisitIn, day: date, tz: ZoneInfo) -> bool:
    if visit.dates is not None and day not in visit.dates:
        return False
    return not visit.windows or bool(_windows_on(visit, day, tz))


def _same_clock(visit: VisitIn, day: date, tz: ZoneInfo) -> list[Span]:
    """The visit's windows moved to ``day`` at the same local clock times."""
    out = []
    for w in visit.windows:
        a, b = w.start.astimezone(tz), w.end.astimezone(tz)
        start = datetime.combine(day, a.time(), tzinfo=tz)
        out.append(Span(start, start + (b - a)))
    return out


def free_slots(
    visit: VisitIn,
    at: Coord | None,
    overview: WeekOverview,
    request: SolveRequest,
    travel: Travel | None = None,
    *,
    windows: bool = True,
    days: Sequence[date] | None = None,
    same_clock: bool = False,
) -> list[Slot]:
    """Where the visit fits in the plan as it is: per van-day with the skills (on ``days``
    when given), its slot with the least drive, least drive first. ``windows``: inside the
    visit's windows of that day (a day without one has no slot; ``same_clock``: its windows'
    clock times moved to that day); otherwise any time in a free gap."""
    travel = travel or Travel()
    tz = ZoneInfo(overview.timezone)
    skills = {v.id: set(v.skills) for v in request.vans}
    need = set(visit.skills)
    duration = visit.duration_minutes * 60
    found: list[Slot] = []
    for load in overview.van_days:
        if not need <= skills.get(load.van_id, set()):
            continue
        if (days is not None and load.date not in days) or load.most_room < duration:
            continue
        spans: list[Span | None] = [None]
        if windows and visit.windows:
            on_day = _same_clock if same_clock else _windows_on
            spans = list(on_day(visit, load.date, tz))
        best: Slot | None = None
        for gap in load.gaps:
            for span in spans:
                fit = _fit(gap, at, duration, travel, span)
                if fit is None:
                    continue
                start, drive = fit
                slot = Slot(load, start, start + timedelta(seconds=duration), drive)
                if best is None or (slot.travel, slot.start) < (best.travel, best.start):
                    best = slot
        if best is not None:
            found.append(best)
    found.sort(key=lambda s: (s.travel, s.start, s.load.van_id))
    return found


def _widened(visit: VisitIn, slot: Slot, tz: ZoneInfo) -> Span:
    """The visit's window on the slot's day stretched to take the slot (the slot itself when
    the visit has no window that day)."""
    on_day = _windows_on(visit, slot.load.date, tz)
    if not on_day:
        return Span(slot.start, slot.end)
    nearest = min(
        on_day, key=lambda w: abs((w.start - slot.start).total_seconds())
    )  # the window to stretch
    return Span(min(nearest.start, slot.start), max(nearest.end, slot.end))


def suggest_fix(
    visit: VisitIn,
    reason: str,
    at: Coord | None,
    overview: WeekOverview,
    request: SolveRequest,
    travel: Travel | None = None,
) -> Fix:
    """A concrete fix for the unassigned ``visit`` (at ``at``, ``(lon, lat)``) given its
    ``reason`` code and the plan's free time (see the module doc)."""
    travel = travel or Travel()
    tz = ZoneInfo(overview.timezone)
    if reason == Reason.CANCELLED:
        return Fix(FixKind.NONE)
    if reason == Reason.UNREACHABLE:
        return Fix(FixKind.CHECK_PLACE)
    if reason == Reason.NOT_PLANNED:
        return Fix(FixKind.REPLAN)
    have = set().union(*(set(v.skills) for v in request.vans)) if request.vans else set()
    missing = tuple(sorted(set(visit.skills) - have))
    if reason == Reason.NO_SKILLED_VAN or missing:
        return Fix(FixKind.SKILL, skills=missing or tuple(sorted(visit.skills)))
    if reason == Reason.SERVICE_TOO_LONG:
        return _shorten(visit, at, overview, request, travel)

    days = [d for d in _days(overview) if _allowed(visit, d, tz)]
    inside = free_slots(visit, at, overview, request, travel, days=days)
    if inside:
        return _fix(FixKind.PIN, inside[0])
    anytime = free_slots(visit, at, overview, request, travel, windows=False, days=days)
    if anytime:
        slot = anytime[0]
        wider = _widened(visit, slot, tz)
        return _fix(FixKind.WIDEN, slot, wider.start, wider.end)
    others = [d for d in _days(overview) if d not in days]
    for d in others:
        same = free_slots(visit, at, overview, request, travel, days=[d], same_clock=True)
        if same:
            return _fix(FixKind.OTHER_DAY, same[0])
    elsewhere = free_slots(visit, at, overview, request, travel, windows=False, days=others)
    if elsewhere:
        first = min(elsewhere, key=lambda s: (s.load.date, s.travel))
        return _fix(FixKind.OTHER_DAY, first)
    return Fix(FixKind.MORE_TIME, minutes=visit.duration_minutes)


def _days(overview: WeekOverview) -> list[date]:
    return sorted({v.date for v in overview.van_days})


def _fix(
    kind: FixKind, slot: Slot, start: datetime | None = None, end: datetime | None = None
) -> Fix:
    return Fix(
        kind,
        van_id=slot.load.van_id,
        van_name=slot.load.van_name,
        date=slot.load.date,
        start=start or slot.start,
        end=end or slot.end,
    )


def _shorten(
    visit: VisitIn,
    at: Coord | None,
    overview: WeekOverview,
    request: SolveRequest,
    travel: Travel,
) -> Fix:
    """The longest service any shift of a van with the skills could take (whole 5 minutes)."""
    skills = {v.id: set(v.skills) for v in request.vans}
    longest = 0
    best: VanDayLoad | None = None
    for load in overview.van_days:
        if not set(visit.skills) <= skills.get(load.van_id, set()):
            continue
        for s in load.shifts:
            room = s.seconds - travel(load.home, at) - travel(at, load.home)
            if room > longest:
                longest, best = room, load
    minutes = (longest // 60) // 5 * 5
    if best is None or minutes <= 0:
        return Fix(FixKind.MORE_TIME, minutes=visit.duration_minutes)
    return Fix(
        FixKind.SHORTEN, van_id=best.van_id, van_name=best.van_name, date=best.date, minutes=minutes
    )


FIX_TEXTS: Mapping[FixKind, str] = {
    FixKind.PIN: N_("Pin to %(van)s on %(day)s (free %(start)s–%(end)s), then re-plan"),
    FixKind.WIDEN: N_("Widen the window to %(start)s–%(end)s (%(van)s has time on %(day)s)"),
    FixKind.OTHER_DAY: N_("Other day: %(day)s (%(van)s has time there, %(start)s–%(end)s)"),
    FixKind.SKILL: N_("Give a van the skill %(skills)s (vans and shifts)"),
    FixKind.SHORTEN: N_("Shorten to at most %(minutes)s min or split it (longest shift: %(van)s)"),
    FixKind.CHECK_PLACE: N_("Check the address or coordinates of the place"),
    FixKind.REPLAN: N_("Re-plan the week with more time"),
    FixKind.MORE_TIME: N_(
        "No van-day has %(minutes)s min free: lengthen a shift or add a van's shift"
    ),
    FixKind.NONE: N_("Nothing to do"),
    FixKind.NOT_CHECKED: N_("Not checked: only the first %(limit)s unassigned visits get a fix"),
}


def fix_text(fix: Fix, lang: Language) -> str:
    """The fix in ``lang`` (days ``Mi. 09.12.``, times 24 h in the plan's zone)."""
    values = {
        "van": fix.van_name or fix.van_id or "",
        "day": lang.day_label(fix.date, short=True) if fix.date else "",
        "start": lang.format_time(fix.start) if fix.start else "",
        "end": lang.format_time(fix.end) if fix.end else "",
        "skills": ", ".join(f"»{s}«" for s in fix.skills),
        "minutes": fix.minutes if fix.minutes is not None else "",
        "limit": MAX_FIXES,
    }
    return lang.gettext(FIX_TEXTS[fix.kind]) % values


# --------------------------------------------------------------------------- unassigned rows


@dataclass(frozen=True)
class UnassignedRow:
    """An unassigned visit as the page lists it."""

    visit_id: str
    client: str
    windows: tuple[Window, ...]
    dates: tuple[date, ...]
    duration_minutes: int
    reason: str
    message: str
    fix: Fix
    fix_text: str


MAX_FIXES = 100
"""Unassigned visits that get a fix searched (in the plan's order); a page stays quick on a
week with very many of them (benchmarks/overview.py)."""


def unassigned_rows(
    view: PlanView,
    request: SolveRequest,
    overview: WeekOverview,
    clients: Mapping[str, str],
    lang: Language,
    travel: Travel | None = None,
) -> list[UnassignedRow]:
    """The view's unassigned visits with their client (``clients``: visit id -> label),
    windows, reason (already in ``lang`` in the view) and fix (the first :data:`MAX_FIXES`)."""
    travel = travel or Travel()
    visits = {v.id: v for v in request.visits}
    rows: list[UnassignedRow] = []
    for u in view.unassigned:
        visit = visits.get(u.visit_id)
        if visit is None:
            continue
        if len(rows) < MAX_FIXES:
            fix = suggest_fix(visit, u.reason, u.coord, overview, request, travel)
        else:
            fix = Fix(FixKind.NOT_CHECKED)
        rows.append(
            UnassignedRow(
                visit_id=u.visit_id,
                client=clients.get(u.visit_id, ""),
                windows=tuple(visit.windows),
                dates=tuple(visit.dates or ()),
                duration_minutes=visit.duration_minutes,
                reason=u.reason,
                message=u.message,
                fix=fix,
                fix_text=fix_text(fix, lang),
            )
        )
    return rows
