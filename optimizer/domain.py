"""Domain types of the optimizer: horizon, vans, shifts, visits, travel matrix, problem.

Conventions (see STYLE.md):
- time is an integer number of seconds from the start of the horizon (local midnight of
  ``Horizon.start_date`` in ``Horizon.timezone``); elapsed time, so a DST change inside the week is
  handled by :class:`Horizon` when converting to and from wall-clock time;
- distances are integer metres;
- a visit's time window contains the *whole* service: ``window.start <= start`` and
  ``start + duration <= window.end``;
- locations are referred to by id; the :class:`TravelMatrix` maps ids to rows.

Each type checks itself on construction; :meth:`Problem.validate` runs the cross-object checks and
raises one :class:`~optimizer.errors.ValidationError` listing every problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from optimizer.errors import Collector, Issue, ValidationError

UNREACHABLE = -1
"""Matrix entry for a pair of locations with no road between them."""

DEFAULT_DEPOT = "base"
"""Location id of the vans' default start and end (the service area's first base)."""

HOUR = 3600
MINUTE = 60

# --- bounds of the input --------------------------------------------------------------------------
# The model turns euros into integer milli-euros and dates into seconds from the horizon start, so
# every number it scales has a finite, documented range. The bounds keep a whole van-day at the
# dearest rates (16 h, 800 km, fixed cost) far below the penalty of an unserved must visit, so no
# cost a caller can set makes the search drop a must visit, and no product overflows int64. The API
# schemas reuse these constants for their OpenAPI constraints.

MIN_YEAR = 2000
"""Earliest year of a horizon (and of any date or time the API accepts)."""
MAX_YEAR = 2100
"""Latest year of a horizon (and of any date or time the API accepts)."""
MAX_COST_PER_HOUR = 1_000.0
"""Largest ``Van.cost_per_hour`` in euros."""
MAX_COST_PER_KM = 10.0
"""Largest ``Van.cost_per_km`` in euros."""
MAX_FIXED_COST_PER_DAY = 10_000.0
"""Largest ``Van.fixed_cost_per_day`` in euros."""
MAX_PRIORITY = 10
"""Largest (least urgent) ``Visit.priority``; 1 is a must."""
MAX_PENALTY = 1_000_000.0
"""Largest weight of the :class:`Objective` in euros."""


def _check_amount(c: Collector, value: float, maximum: float, where: str) -> None:
    """A finite amount in ``0..maximum`` (NaN and infinities are refused)."""
    c.check(
        isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= maximum,
        where,
        f"must be a finite number in 0..{maximum:g}, got {value}",
    )


@dataclass(frozen=True)
class Horizon:
    """The planning horizon: ``days`` consecutive calendar days from ``start_date``."""

    start_date: date
    days: int = 5
    timezone: str = "Europe/Berlin"

    def __post_init__(self) -> None:
        c = Collector()
        c.check(1 <= self.days <= 31, "horizon.days", f"must be 1..31, got {self.days}")
        c.check(
            MIN_YEAR <= self.start_date.year <= MAX_YEAR,
            "horizon.start_date",
            f"year must be {MIN_YEAR}..{MAX_YEAR}, got {self.start_date.isoformat()}",
        )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            c.add("horizon.timezone", f"unknown time zone {self.timezone!r}")
        c.raise_if_any()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def origin(self) -> datetime:
        """Local midnight at the start of day 0 (aware datetime)."""
        return datetime.combine(self.start_date, time(0), tzinfo=self.tz)

    def to_seconds(self, moment: datetime) -> int:
        """Seconds from the horizon origin to an aware datetime."""
        if moment.tzinfo is None:
            raise ValueError(f"datetime {moment.isoformat()} has no time zone")
        # Subtract in UTC: aware datetimes sharing a tzinfo subtract as wall-clock times.
        utc = ZoneInfo("UTC")
        return int((moment.astimezone(utc) - self.origin.astimezone(utc)).total_seconds())

    def to_datetime(self, seconds: int) -> datetime:
        """The aware local datetime ``seconds`` after the origin (DST-correct)."""
        utc = self.origin.astimezone(ZoneInfo("UTC")) + timedelta(seconds=seconds)
        return utc.astimezone(self.tz)

    def at(self, day: int, hour: int, minute: int = 0) -> int:
        """Seconds from the origin to local wall-clock ``hour:minute`` on ``day``."""
        local = datetime.combine(self.start_date + timedelta(days=day), time(hour, minute))
        return self.to_seconds(local.replace(tzinfo=self.tz))

    def day_start(self, day: int) -> int:
        return self.at(day, 0)

    def day_end(self, day: int) -> int:
        return self.day_start(day + 1)

    def day_of(self, seconds: int) -> int:
        """Index of the calendar day containing ``seconds`` (may be outside 0..days-1)."""
        return (self.to_datetime(seconds).date() - self.start_date).days

    def date_of(self, day: int) -> date:
        return self.start_date + timedelta(days=day)

    @property
    def end(self) -> int:
        return self.day_end(self.days - 1)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open-free interval ``[start, end]`` in horizon seconds."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"time window ends ({self.end}) before it starts ({self.start})")

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: TimeWindow) -> bool:
        return self.start <= other.end and other.start <= self.end

    def intersect(self, other: TimeWindow) -> TimeWindow | None:
        lo, hi = max(self.start, other.start), min(self.end, other.end)
        return TimeWindow(lo, hi) if lo <= hi else None


@dataclass(frozen=True)
class Van:
    """A van with its crew. Costs are in euros; ``capacity`` is for generic VRP use (None: none)."""

    id: str
    name: str = ""
    start_location: str = DEFAULT_DEPOT
    end_location: str | None = None  # None: back to start_location
    skills: frozenset[str] = frozenset()
    cost_per_hour: float = 30.0
    cost_per_km: float = 0.35
    fixed_cost_per_day: float = 0.0
    capacity: int | None = None

    def __post_init__(self) -> None:
        c = Collector()
        c.check(bool(self.id), "van.id", "must not be empty")
        for name, maximum in (
            ("cost_per_hour", MAX_COST_PER_HOUR),
            ("cost_per_km", MAX_COST_PER_KM),
            ("fixed_cost_per_day", MAX_FIXED_COST_PER_DAY),
        ):
            _check_amount(c, getattr(self, name), maximum, f"van[{self.id}].{name}")
        if self.capacity is not None:
            c.check(self.capacity >= 0, f"van[{self.id}].capacity", "must be >= 0")
        c.raise_if_any()

    @property
    def end(self) -> str:
        return self.end_location or self.start_location


@dataclass(frozen=True)
class Break:
    """A break of ``duration`` seconds taken entirely inside ``[earliest_start, latest_end]``."""

    earliest_start: int
    latest_end: int
    duration: int

    def __post_init__(self) -> None:
        c = Collector()
        where = f"break[{self.earliest_start}..{self.latest_end}]"
        if c.check(self.duration > 0, f"{where}.duration", f"must be > 0, got {self.duration}"):
            c.check(
                self.latest_end - self.earliest_start >= self.duration,
                f"{where}.duration",
                "longer than the break window",
            )
        c.raise_if_any()


@dataclass(frozen=True)
class BreakRule:
    """The statutory rule (German Working Hours Act, ArbZG §4) applied when a shift lists no breaks.

    A route that works more than ``after_first`` needs a break of ``first``; more than
    ``after_second`` needs ``second`` in all. No work stretch may exceed ``after_first`` without a
    break. ``earliest_after_start`` keeps the break away from the very start of the shift.
    """

    after_first: int = 6 * HOUR
    first: int = 30 * MINUTE
    after_second: int = 9 * HOUR
    second: int = 45 * MINUTE
    earliest_after_start: int = 2 * HOUR

    def required_break(self, working_time: int) -> int:
        """Total break time the rule requires for ``working_time`` seconds of work."""
        if working_time > self.after_second:
            return self.second
        if working_time > self.after_first:
            return self.first
        return 0


@dataclass(frozen=True)
class Shift:
    """The working window of one van on one day.

    ``breaks`` None means the statutory :class:`BreakRule`; an explicit tuple (possibly empty)
    replaces it. ``max_work`` caps working time (route span minus breaks).
    """

    van_id: str
    day: int
    start: int
    end: int
    max_work: int | None = None
    breaks: tuple[Break, ...] | None = None

    def __post_init__(self) -> None:
        c = Collector()
        where = f"shift[{self.van_id}, day {self.day}]"
        c.check(self.end > self.start, f"{where}.end", "must be after start")
        if self.max_work is not None:
            c.check(self.max_work > 0, f"{where}.max_work", "must be > 0")
        for i, b in enumerate(self.breaks or ()):
            c.check(
                self.start <= b.earliest_start and b.latest_end <= self.end,
                f"{where}.breaks[{i}]",
                "break window must lie inside the shift",
            )
        c.raise_if_any()

    @property
    def window(self) -> TimeWindow:
        return TimeWindow(self.start, self.end)

    @property
    def longest_work(self) -> int:
        """The most working time a route of this shift can have: its length, capped by
        ``max_work``."""
        length = self.end - self.start
        return length if self.max_work is None else min(length, self.max_work)

    def needs_statutory_break(self, rule: BreakRule) -> bool:
        """Whether the statutory ``rule`` can require a break on this shift: it has no
        explicit breaks and a route may work longer than ``rule.after_first`` (a shift whose
        ``max_work`` is at most that never needs one, however long the shift)."""
        return self.breaks is None and self.longest_work > rule.after_first

    @property
    def key(self) -> tuple[str, int]:
        return (self.van_id, self.day)


def is_must_priority(priority: int) -> bool:
    """Priority 1 is a must; 2, 3, ... are optional."""
    return priority <= 1


class VisitKind(StrEnum):
    APPOINTMENT = "appointment"
    CONSULTATION = "consultation_hours"  # fixed stop at a fixed time in a village


@dataclass(frozen=True)
class Pin:
    """Fixes a visit to a van, a day and/or a start time (any subset)."""

    van_id: str | None = None
    day: int | None = None
    start: int | None = None

    def __post_init__(self) -> None:
        if self.van_id is None and self.day is None and self.start is None:
            raise ValidationError(
                Issue("pin", "must fix at least one of van_id, day (date), start")
            )


@dataclass(frozen=True)
class Visit:
    """One stop to serve: a client appointment or village consultation hours.

    ``windows`` empty means "any time inside a shift". ``days`` None means any day. ``priority`` 1
    is a must; 2, 3, ... are optional with decreasing penalty. ``preferred_van`` expresses
    continuity for a returning client (soft). ``demand`` is for generic capacity-constrained use.
    """

    id: str
    location: str
    duration: int
    windows: tuple[TimeWindow, ...] = ()
    client: str | None = None
    days: frozenset[int] | None = None
    skills: frozenset[str] = frozenset()
    priority: int = 1
    pin: Pin | None = None
    kind: VisitKind = VisitKind.APPOINTMENT
    preferred_van: str | None = None
    demand: int = 0

    @property
    def is_must(self) -> bool:
        """Priority 1: the plan must serve it (it stays droppable only to keep solving robust)."""
        return is_must_priority(self.priority)

    def __post_init__(self) -> None:
        c = Collector()
        where = f"visit[{self.id}]"
        c.check(bool(self.id), "visit.id", "must not be empty")
        c.check(bool(self.location), f"{where}.location", "must not be empty")
        c.check(self.duration >= 0, f"{where}.duration", f"must be >= 0, got {self.duration}")
        c.check(
            1 <= self.priority <= MAX_PRIORITY,
            f"{where}.priority",
            f"must be 1..{MAX_PRIORITY}, got {self.priority}",
        )
        c.check(self.demand >= 0, f"{where}.demand", "must be >= 0")
        if self.kind is VisitKind.CONSULTATION:
            c.check(
                len(self.windows) >= 1,
                f"{where}.windows",
                "consultation hours need a fixed time window",
            )
        c.raise_if_any()


@dataclass(frozen=True, eq=False)
class TravelMatrix:
    """Travel durations (s) and distances (m) between locations; row/column order = ``locations``.

    Entries equal to :data:`UNREACHABLE` mark pairs with no route.
    """

    locations: tuple[str, ...]
    durations: NDArray[np.int64]
    distances: NDArray[np.int64]
    approximate: bool = False  # True when not computed on a road network
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = Collector()
        n = len(self.locations)
        c.check(len(set(self.locations)) == n, "matrix.locations", "duplicate location ids")
        durations = np.asarray(self.durations, dtype=np.int64)
        distances = np.asarray(self.distances, dtype=np.int64)
        for name, arr in (("durations", durations), ("distances", distances)):
            if arr.shape != (n, n):
                c.add(f"matrix.{name}", f"shape {arr.shape} does not match {n} locations")
            elif np.any((arr < 0) & (arr != UNREACHABLE)):
                c.add(f"matrix.{name}", "negative entries (other than UNREACHABLE = -1)")
        c.raise_if_any()
        durations.setflags(write=False)
        distances.setflags(write=False)
        object.__setattr__(self, "durations", durations)
        object.__setattr__(self, "distances", distances)
        object.__setattr__(self, "_index", {loc: i for i, loc in enumerate(self.locations)})

    def index(self, location: str) -> int:
        return self._index[location]

    def __contains__(self, location: object) -> bool:
        return location in self._index

    def duration(self, a: str, b: str) -> int:
        return int(self.durations[self._index[a], self._index[b]])

    def distance(self, a: str, b: str) -> int:
        return int(self.distances[self._index[a], self._index[b]])

    def reachable(self, a: str, b: str) -> bool:
        return self.duration(a, b) != UNREACHABLE

    def round_trip(self, start: str, location: str, end: str) -> bool:
        """Whether ``location`` can be reached from ``start`` and ``end`` from it."""
        return self.reachable(start, location) and self.reachable(location, end)


@dataclass(frozen=True)
class Objective:
    """Weights of the objective, in euros (van costs per hour/km live on :class:`Van`)."""

    must_penalty: float = 100_000.0  # per unassigned priority-1 visit (kept droppable: robust)
    optional_penalty: float = 500.0  # priority 2; priority p pays optional_penalty / (p - 1)
    continuity_cost: float = 20.0  # per visit served by another than its preferred van
    moved_visit_cost: float = 50.0  # re-planning: per confirmed visit moved

    def __post_init__(self) -> None:
        c = Collector()
        for name in ("must_penalty", "optional_penalty", "continuity_cost", "moved_visit_cost"):
            _check_amount(c, getattr(self, name), MAX_PENALTY, f"objective.{name}")
        c.raise_if_any()

    def penalty(self, priority: int) -> float:
        if is_must_priority(priority):
            return self.must_penalty
        return self.optional_penalty / (priority - 1)


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything the optimizer needs for one horizon."""

    horizon: Horizon
    vans: tuple[Van, ...]
    shifts: tuple[Shift, ...]
    visits: tuple[Visit, ...]
    matrix: TravelMatrix
    objective: Objective = Objective()
    break_rule: BreakRule = BreakRule()
    skill_catalogue: frozenset[str] | None = None  # None: any skill name is accepted

    # Lookups by id, built on first use: the problem is frozen, and a week of a thousand visits
    # asks for vans and shifts hundreds of thousands of times while it is diagnosed and modelled.
    @cached_property
    def _vans_by_id(self) -> dict[str, Van]:
        return {v.id: v for v in reversed(self.vans)}  # the first of duplicate ids wins

    @cached_property
    def _visits_by_id(self) -> dict[str, Visit]:
        return {v.id: v for v in reversed(self.visits)}

    @cached_property
    def _shifts_by_key(self) -> dict[tuple[str, int], Shift]:
        return {(s.van_id, s.day): s for s in reversed(self.shifts)}

    @cached_property
    def shifts_by_day(self) -> tuple[Shift, ...]:
        """The shifts ordered by day, then van id."""
        return tuple(sorted(self.shifts, key=lambda s: (s.day, s.van_id)))

    def van(self, van_id: str) -> Van:
        """The van with this id (KeyError when there is none)."""
        return self._vans_by_id[van_id]

    def visit(self, visit_id: str) -> Visit:
        """The visit with this id (KeyError when there is none)."""
        return self._visits_by_id[visit_id]

    def shift(self, van_id: str, day: int) -> Shift | None:
        return self._shifts_by_key.get((van_id, day))

    def validate(self) -> Problem:
        """Cross-object checks; raises one ValidationError listing every problem."""
        c = Collector()
        van_ids = [v.id for v in self.vans]
        _duplicates(c, "vans", van_ids)
        _duplicates(c, "visits", [v.id for v in self.visits])
        _duplicates(c, "shifts", [f"{s.van_id}/day {s.day}" for s in self.shifts])
        known_vans = set(van_ids)
        catalogue = self.skill_catalogue
        for i, van in enumerate(self.vans):
            if catalogue is not None:
                unknown_skills = sorted(van.skills - catalogue)
                c.check(not unknown_skills, f"vans[{i}].skills", f"unknown skills {unknown_skills}")
            for loc in {van.start_location, van.end}:
                c.check(loc in self.matrix, f"vans[{i}].location", f"{loc!r} not in the matrix")
        for i, s in enumerate(self.shifts):
            c.check(s.van_id in known_vans, f"shifts[{i}].van_id", f"unknown van {s.van_id!r}")
            c.check(
                0 <= s.day < self.horizon.days,
                f"shifts[{i}].day",
                f"day {s.day} outside the horizon of {self.horizon.days} days",
            )
        for i, v in enumerate(self.visits):
            where = f"visits[{i}]"
            c.check(v.location in self.matrix, f"{where}.location", f"{v.location!r} not in matrix")
            if catalogue is not None:
                unknown = sorted(v.skills - catalogue)
                c.check(not unknown, f"{where}.skills", f"unknown skills {unknown}")
            if v.preferred_van is not None:
                c.check(
                    v.preferred_van in known_vans,
                    f"{where}.preferred_van",
                    f"unknown van {v.preferred_van!r}",
                )
            if v.pin is not None and v.pin.van_id is not None:
                c.check(
                    v.pin.van_id in known_vans, f"{where}.pin.van_id", f"unknown {v.pin.van_id!r}"
                )
            if v.pin is not None:
                _check_pin(c, f"{where}.pin", v.pin, self.horizon)
            if v.days is not None:
                bad = sorted(d for d in v.days if not 0 <= d < self.horizon.days)
                c.check(not bad, f"{where}.days", f"days {bad} outside the horizon")
            horizon = TimeWindow(0, self.horizon.end)
            for j, w in enumerate(v.windows):
                # A window inside the horizon but outside every shift is not an input error: the
                # visit is reported unassigned ("no window overlaps any shift").
                c.check(
                    w.overlaps(horizon),
                    f"{where}.windows[{j}]",
                    "lies outside the planning horizon (and so outside every shift)",
                )
        c.raise_if_any()
        return self


def _check_pin(c: Collector, where: str, pin: Pin, horizon: Horizon) -> None:
    """A pinned day or start must lie inside the horizon: a pin outside it can never hold."""
    first, last = horizon.start_date, horizon.date_of(horizon.days - 1)
    span = f"the horizon {first.isoformat()}..{last.isoformat()}"
    if pin.day is not None and not 0 <= pin.day < horizon.days:
        c.add(where, f"pinned to day {pin.day}, outside {span}")
    if pin.start is not None and not 0 <= pin.start < horizon.end:
        try:
            moment = horizon.to_datetime(pin.start).isoformat()
        except OverflowError:
            moment = f"{pin.start} s from the horizon start"
        c.add(where, f"pinned start {moment} is outside {span}")


def _duplicates(c: Collector, what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            c.add(f"{what}[{i}].id", f"duplicate id {ident!r}")
        seen.add(ident)
