"""A small hand-made plan view for the renderer tests: two vans, three van-days, one
consultation-hours stop, one unassigned visit; legs bent (three points) to stand in for
road-following geometry."""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from datetime import date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np

from geo.view import (
    DayKeys,
    DepotView,
    LegView,
    PlanView,
    StopView,
    UnassignedView,
    VanDayView,
    VisitInfo,
)
from optimizer.domain import (
    Horizon,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
    VisitKind,
)
from optimizer.plan import Plan, Reason, Route, SolverStats, Stop, Unassigned

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 3, 2)
HORIZON = Horizon(MONDAY, days=5)
ERBACH = (8.9937, 49.6567)
PLACES = {
    "michelstadt": (9.0036, 49.6786),
    "bad-koenig": (9.0067, 49.7414),
    "beerfelden": (8.9756, 49.5700),
    "hoechst": (8.9944, 49.7986),
    "reichelsheim": (8.8375, 49.7125),
}
COORDS = {"base": ERBACH, **PLACES}


def _at(day: int, hhmm: str) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(2026, 3, 2 + day, hour, minute, tzinfo=BERLIN)


def _leg(index: int, a: str, b: str, visits: dict[str, str]) -> LegView:
    pa, pb = COORDS[a], COORDS[b]
    mid = ((pa[0] + pb[0]) / 2 + 0.004, (pa[1] + pb[1]) / 2)
    return LegView(
        index=index,
        from_location=a,
        to_location=b,
        from_visit=visits.get(a),
        to_visit=visits.get(b),
        coords=(pa, mid, pb),
        travel_time=900,
        distance=7400,
        approximate=False,
    )


def _stop(
    day: int,
    order: int,
    visit: str,
    place: str,
    times: tuple[str, str, str],
    names: Mapping[str, str],
    info: Mapping[str, VisitInfo],
    kind: VisitKind = VisitKind.APPOINTMENT,
) -> StopView:
    arrival, start, end = (_at(day, t) for t in times)
    return StopView(
        visit_id=visit,
        order=order,
        location=place,
        name=names.get(visit, place.replace("-", " ").title()),
        coord=PLACES[place],
        kind=kind,
        arrival=arrival,
        start=start,
        end=end,
        arrival_s=HORIZON.to_seconds(arrival),
        start_s=HORIZON.to_seconds(start),
        end_s=HORIZON.to_seconds(end),
        waiting=int((start - arrival).total_seconds()),
        info=info.get(visit, VisitInfo()),
    )


def _van_day(van: str, day: int, route: list[str], stops: tuple[StopView, ...]) -> VanDayView:
    visits = {s.location: s.visit_id for s in stops}
    legs = tuple(_leg(n, a, b, visits) for n, (a, b) in enumerate(pairwise(route)))
    return VanDayView(
        van_id=van,
        van_name=van,
        day=day,
        date=HORIZON.date_of(day),
        key=str(day),
        day_name=f"day {day}",
        legs=legs,
        stops=stops,
    )


def sample_view(
    names: Mapping[str, str] | None = None, info: Mapping[str, VisitInfo] | None = None
) -> PlanView:
    """The view; ``names``/``info`` override a visit's display name and crew details."""
    names = names or {}
    info = info or {}
    v1d0 = (
        _stop(0, 1, "a1", "michelstadt", ("08:15", "08:30", "09:30"), names, info),
        _stop(
            0,
            2,
            "c1",
            "bad-koenig",
            ("09:50", "10:00", "12:00"),
            names,
            info,
            VisitKind.CONSULTATION,
        ),
    )
    v1d1 = (_stop(1, 1, "a2", "beerfelden", ("09:05", "09:05", "10:05"), names, info),)
    v2d0 = (_stop(0, 1, "a3", "hoechst", ("10:40", "11:00", "11:45"), names, info),)
    return PlanView(
        timezone="Europe/Berlin",
        start_date=MONDAY,
        day_keys=DayKeys.INDEX,
        approximate=False,
        van_days=(
            _van_day("v1", 0, ["base", "michelstadt", "bad-koenig", "base"], v1d0),
            _van_day("v1", 1, ["base", "beerfelden", "base"], v1d1),
            _van_day("v2", 0, ["base", "hoechst", "base"], v2d0),
        ),
        depots=(DepotView("base", "InA Erbach", ERBACH),),
        unassigned=(
            UnassignedView(
                visit_id="a9",
                location="reichelsheim",
                name="Reichelsheim",
                coord=PLACES["reichelsheim"],
                reason="no_room",
                message="the week is full",
            ),
        ),
    )


def small_plan() -> tuple[Plan, Problem, dict[str, tuple[float, float]]]:
    """A solved-looking one-van day: base -> a1 (m) -> c1 (b, consultation hours) -> base, and
    ``x`` (r) unassigned; with bare coordinates for every location."""
    h = Horizon(MONDAY, days=1)
    locs = ("base", "m", "b", "r")
    n = len(locs)
    matrix = TravelMatrix(
        locs, np.full((n, n), 600) - np.eye(n, dtype=int) * 600, np.full((n, n), 5000)
    )
    visits = (
        Visit("a1", "m", 3600),
        Visit(
            "c1",
            "b",
            7200,
            windows=(TimeWindow(h.at(0, 10), h.at(0, 12)),),
            kind=VisitKind.CONSULTATION,
        ),
        Visit("x", "r", 3600),
    )
    problem = Problem(h, (Van("v1"),), (Shift("v1", 0, h.at(0, 8), h.at(0, 16)),), visits, matrix)
    stops = (
        Stop("a1", "m", h.at(0, 8, 10), h.at(0, 8, 10), h.at(0, 9, 10), 0, 600, 5000),
        Stop("c1", "b", h.at(0, 9, 20), h.at(0, 10), h.at(0, 12), 2400, 600, 5000),
    )
    route = Route("v1", 0, "base", "base", h.at(0, 8), h.at(0, 12, 10), stops, (), 600, 5000)
    plan = Plan((route,), (Unassigned("x", Reason.NO_ROOM, "full"),), SolverStats("ok", 0, 0))
    places = {
        "base": ERBACH,
        "m": PLACES["michelstadt"],
        "b": PLACES["bad-koenig"],
        "r": PLACES["reichelsheim"],
    }
    return plan, problem, places


class Words(gettext.NullTranslations):
    """A small catalogue for renderer tests (the real ones live in api/locale)."""

    def __init__(self, words: Mapping[str, str]) -> None:
        super().__init__()
        self.words = dict(words)

    def gettext(self, message: str) -> str:
        return self.words.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


GERMAN = Words(
    {
        "%(order)s. Consultation hours %(place)s": "%(order)s. Sprechstunde %(place)s",
        "Break": "Pause",
        "Consultation hours": "Sprechstunde",
        "Legend": "Legende",
        "Unassigned": "Nicht eingeplant",
    }
)
