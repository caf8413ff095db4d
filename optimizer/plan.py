"""The plan the optimizer returns: routes per van-day, unassigned visits with reasons, statistics.

Times are horizon seconds, distances metres (see :mod:`optimizer.domain`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Stop:
    """A served visit. ``arrival`` at the location, service from ``start`` to ``end``;
    ``waiting`` = time spent idle before ``start`` (``start - arrival`` minus breaks taken there).
    ``travel_time``/``distance`` are those of the leg arriving here."""

    visit_id: str
    location: str
    arrival: int
    start: int
    end: int
    waiting: int
    travel_time: int
    distance: int


@dataclass(frozen=True)
class BreakSlot:
    """A break taken from ``start`` to ``end``, between two activities of the route."""

    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Route:
    """What one van does on one day. ``start``: departure from ``start_location``; ``end``: arrival
    at ``end_location``; ``return_travel_time``/``return_distance``: the last leg home."""

    van_id: str
    day: int
    start_location: str
    end_location: str
    start: int
    end: int
    stops: tuple[Stop, ...]
    breaks: tuple[BreakSlot, ...]
    return_travel_time: int
    return_distance: int

    @property
    def drive_time(self) -> int:
        return sum(s.travel_time for s in self.stops) + self.return_travel_time

    @property
    def distance(self) -> int:
        return sum(s.distance for s in self.stops) + self.return_distance

    @property
    def break_time(self) -> int:
        """Break time inside the route span (``start``..``end``). Configured breaks that fall
        before the departure or after the return are listed in ``breaks`` (they are taken, off
        duty) but clipped away here."""
        return sum(max(0, min(b.end, self.end) - max(b.start, self.start)) for b in self.breaks)

    @property
    def working_time(self) -> int:
        """Route span minus the break time inside it (driving, service and waiting are work)."""
        return (self.end - self.start) - self.break_time

    @property
    def service_time(self) -> int:
        return sum(s.end - s.start for s in self.stops)

    @property
    def waiting_time(self) -> int:
        return sum(s.waiting for s in self.stops)


class Reason(StrEnum):
    """Why a visit could not be placed (codes are stable; messages are for people)."""

    NO_SKILLED_VAN = "no_skilled_van"
    NO_SHIFT_IN_WINDOW = "no_shift_in_window"
    SERVICE_TOO_LONG = "service_too_long"
    UNREACHABLE = "unreachable"
    PIN_IMPOSSIBLE = "pin_impossible"
    PIN_NOT_HONOURED = "pin_not_honoured"  # the pin is possible alone, but its van-day is full
    NO_ROOM = "no_room"  # feasible alone, but the week is full: see ``conflicts``
    BREAKS_DO_NOT_FIT = "breaks_do_not_fit"  # fits alone only without the breaks
    NOT_PLANNED = "not_planned"  # stopped or out of time before the search placed any visit
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Unassigned:
    visit_id: str
    reason: Reason
    message: str
    conflicts: tuple[str, ...] = ()  # visit ids (or "van/day" keys) that compete for the room


@dataclass(frozen=True)
class SolverStats:
    status: str
    objective: float  # euros, as the model saw it
    wall_time: float  # seconds
    solutions: int = 0
    workers: int = 1
    strategy: str = ""
    # Which engine made the plan: "ortools", "pyvrp" (PyVRP's checked plan), "pyvrp+ortools"
    # (PyVRP's plan polished by OR-Tools), "pyvrp-days" (the greedy plan improved by PyVRP one
    # day at a time: optimizer.decompose), "greedy" (no first solution in time); "" when
    # nothing was searched or not recorded (plans stored before it existed).
    engine: str = ""


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    stats: SolverStats
    # Said loudly (plan summary, CLI): most visits unassigned and why, no plan found in time.
    warnings: tuple[str, ...] = ()
    extras: dict[str, object] = field(default_factory=dict, compare=False)

    def route(self, van_id: str, day: int) -> Route | None:
        return next((r for r in self.routes if r.van_id == van_id and r.day == day), None)

    @property
    def assigned(self) -> dict[str, tuple[str, int]]:
        """visit id -> (van id, day)."""
        return {s.visit_id: (r.van_id, r.day) for r in self.routes for s in r.stops}

    @property
    def drive_time(self) -> int:
        return sum(r.drive_time for r in self.routes)

    @property
    def distance(self) -> int:
        return sum(r.distance for r in self.routes)

    @property
    def working_time(self) -> int:
        return sum(r.working_time for r in self.routes)
