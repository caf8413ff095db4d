"""Hypothesis strategies: random small but valid planning problems.

1-3 vans, 1-3 days, 0-12 visits; random asymmetric travel matrices with some unreachable pairs;
random windows (possibly several, on different days), allowed days, skills, priorities, pins,
capacities, explicit breaks or the statutory rule, and ``max_work``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import strategies as st

from optimizer.breaks import route_of, schedule
from optimizer.domain import (
    HOUR,
    MINUTE,
    UNREACHABLE,
    Break,
    Horizon,
    Pin,
    Problem,
    Shift,
    TimeWindow,
    TravelMatrix,
    Van,
    Visit,
)
from optimizer.plan import Route
from tests.optimizer.conftest import Tiny, euclid_matrix

SKILLS = ("lang:ar", "lang:uk", "wheelchair")
START = date(2026, 11, 23)  # a Monday; no DST change in the following days


@st.composite
def matrices(draw: st.DrawFn, n_places: int) -> TravelMatrix:
    """Base + ``n_places`` locations; durations 1-60 min, asymmetric, ~10 % unreachable pairs."""
    locations = ("base", *(f"p{i}" for i in range(n_places)))
    n = len(locations)
    seconds = st.integers(60, HOUR)
    dur = np.array(
        [[0 if i == j else draw(seconds) for j in range(n)] for i in range(n)], dtype=np.int64
    )
    # Distances roughly follow the durations (40-90 km/h) but are not a fixed multiple.
    speed = st.integers(11, 25)  # m/s
    dist = np.array(
        [[int(dur[i, j]) * draw(speed) for j in range(n)] for i in range(n)], dtype=np.int64
    )
    cut = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1]),
            max_size=max(1, n * n // 10),
        )
    )
    for i, j in cut:
        dur[i, j] = dist[i, j] = UNREACHABLE
    return TravelMatrix(locations, dur, dist)


@st.composite
def shifts_for(draw: st.DrawFn, horizon: Horizon, van_ids: list[str]) -> tuple[Shift, ...]:
    out = []
    for day in range(horizon.days):
        for vid in van_ids:
            if not draw(st.booleans()) and draw(st.booleans()):  # ~25 % of van-days off
                continue
            start = horizon.at(day, draw(st.integers(6, 9)), draw(st.sampled_from((0, 30))))
            end = start + draw(st.integers(4, 10)) * HOUR
            max_work = draw(st.one_of(st.none(), st.integers(4, 9).map(lambda h: h * HOUR)))
            breaks: tuple[Break, ...] | None = None
            if draw(st.integers(0, 2)) == 0:  # a third: explicit breaks (0 or 1)
                breaks = ()
                if draw(st.booleans()):
                    earliest = start + draw(st.integers(1, 4)) * HOUR
                    length = draw(st.sampled_from((15, 30, 45))) * MINUTE
                    latest = min(end, earliest + length + draw(st.integers(0, 3)) * HOUR)
                    if latest - earliest >= length:
                        breaks = (Break(earliest, latest, length),)
            out.append(Shift(vid, day, start, end, max_work=max_work, breaks=breaks))
    return tuple(out)


@st.composite
def visits_for(
    draw: st.DrawFn, horizon: Horizon, places: list[str], van_ids: list[str], count: int
) -> tuple[Visit, ...]:
    out = []
    for k in range(count):
        n_windows = draw(st.integers(0, 2))
        windows = []
        for _ in range(n_windows):
            day = draw(st.integers(0, horizon.days - 1))
            ws = horizon.at(day, draw(st.integers(6, 17)), draw(st.sampled_from((0, 15, 30))))
            windows.append(TimeWindow(ws, ws + draw(st.integers(1, 14)) * 30 * MINUTE))
        days = draw(
            st.one_of(st.none(), st.frozensets(st.integers(0, horizon.days - 1), min_size=1))
        )
        skills = draw(
            st.frozensets(st.sampled_from(SKILLS), max_size=2).filter(lambda s: len(s) < 2 or True)
        )
        if draw(st.integers(0, 2)) > 0:
            skills = frozenset()  # most visits need no skill
        # Mostly short appointments; some long consultation hours that make days exceed 6 h.
        long = draw(st.integers(0, 4)) == 0
        duration = draw(st.integers(12, 30) if long else st.integers(1, 12)) * 10 * MINUTE
        pin = None
        if draw(st.integers(0, 5)) == 0:
            van = draw(st.one_of(st.none(), st.sampled_from(van_ids)))
            day = draw(st.one_of(st.none(), st.integers(0, horizon.days - 1)))
            start = None
            if windows and draw(st.booleans()):
                start = windows[0].start
            if van is not None or day is not None or start is not None:
                pin = Pin(van, day, start)
        out.append(
            Visit(
                id=f"v{k}",
                location=draw(st.sampled_from(places)),
                duration=duration,
                windows=tuple(windows),
                days=days,
                skills=skills,
                priority=draw(st.integers(1, 3)),
                pin=pin,
                preferred_van=draw(st.one_of(st.none(), st.sampled_from(van_ids))),
                demand=draw(st.integers(0, 3)),
            )
        )
    return tuple(out)


@st.composite
def problems(draw: st.DrawFn, max_visits: int = 12) -> Problem:
    """A random valid :class:`Problem` (already validated)."""
    horizon = Horizon(START, days=draw(st.integers(1, 3)))
    n_places = draw(st.integers(1, 6))
    matrix = draw(matrices(n_places))
    places = list(matrix.locations[1:])
    n_vans = draw(st.integers(1, 3))
    vans = tuple(
        Van(
            f"van{i}",
            skills=draw(st.frozensets(st.sampled_from(SKILLS))),
            capacity=draw(st.one_of(st.none(), st.integers(2, 12))),
        )
        for i in range(n_vans)
    )
    van_ids = [v.id for v in vans]
    shifts = draw(shifts_for(horizon, van_ids))
    visits = draw(visits_for(horizon, places, van_ids, draw(st.integers(0, max_visits))))
    return Problem(horizon, vans, shifts, visits, matrix).validate()


def day_visits(
    draw: st.DrawFn, n: int, start: int, reach: int, max_tens: int, max_slot: int
) -> tuple[dict[str, tuple[float, float]], list[Visit]]:
    """Places ``p0..`` within ``reach`` half-units of ``base`` (at the origin) and ``n`` visits
    there of 30 to ``max_tens`` x 10 minutes and priority 1-3; about half have one window
    opening at ``start`` plus up to ``max_slot`` half hours, with up to 4 h of slack."""
    points = {"base": (0.0, 0.0)}
    visits = []
    for i in range(n):
        points[f"p{i}"] = (
            draw(st.integers(-reach, reach)) / 2,
            draw(st.integers(-reach, reach)) / 2,
        )
        duration = draw(st.integers(3, max_tens)) * 10 * MINUTE
        windows: tuple[TimeWindow, ...] = ()
        if draw(st.booleans()):
            ws = start + draw(st.integers(0, max_slot)) * 30 * MINUTE
            windows = (TimeWindow(ws, ws + duration + draw(st.integers(0, 8)) * 30 * MINUTE),)
        visits.append(Visit(f"v{i}", f"p{i}", duration, windows, priority=draw(st.integers(1, 3))))
    return points, visits


@st.composite
def two_van_days(draw: st.DrawFn) -> tuple[Problem, list[list[int]]]:
    """Two van-days (8:00-16:30 and 8:00-12:00) and up to 9 visits of random priority and
    length, some with a window; a random split of a random subset into the two routes."""
    n = draw(st.integers(2, 9))
    start = 8 * HOUR
    points, visits = day_visits(draw, n, start, reach=16, max_tens=12, max_slot=12)
    tiny = Tiny()
    problem = Problem(
        tiny.horizon,
        (tiny.van("A").vans[0], tiny.van("B").vans[1]),
        (Shift("A", 0, start, start + 17 * HOUR // 2), Shift("B", 0, start, start + 4 * HOUR)),
        tuple(visits),
        euclid_matrix(points),
    ).validate()
    order = draw(st.permutations(list(range(n))))
    cut = draw(st.integers(0, n))
    split = draw(st.integers(0, cut))
    return problem, [order[:split], order[split:cut]]


def fitting_route(problem: Problem, shift: Shift, indices: list[int]) -> Route | None:
    """The route of ``shift`` over the visits ``indices``, shortened from the end until it fits."""
    ids = [problem.visits[i].id for i in indices]
    while ids:
        visits = [problem.visit(v) for v in ids]
        windows = [
            (
                max(shift.start, v.windows[0].start) if v.windows else shift.start,
                min(shift.end, v.windows[0].end) - v.duration
                if v.windows
                else shift.end - v.duration,
            )
            for v in visits
        ]
        if all(lo <= hi for lo, hi in windows):
            timing = schedule(problem, shift, visits, windows)
            if timing is not None:
                return route_of(problem, shift, visits, timing)
        ids.pop()
    return None
