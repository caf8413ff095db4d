"""A fictitious but realistic sample week for a service area (the demo's embedded default).

Two vans leave the area's first base; clients live around the area's named places (for the shipped
Odenwaldkreis: GeoNames village centres, jittered by up to ~1.5 km: no real addresses); the area's
consultation places with their hours; crews with shifts, statutory breaks and skills. The week is
generated from a seed, so the same seed, week and area give the same sample.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.schemas.planning import (
    HorizonIn,
    Place,
    ShiftIn,
    SolveOptions,
    SolveRequest,
    VanIn,
    VisitIn,
    Window,
)
from geo.places import normalize_name
from geo.service_area import LonLat, ServiceArea, default_service_area

# Skills a client may need, with the share of clients needing it.
CLIENT_NEEDS: tuple[tuple[str, float], ...] = (
    ("lang:ar", 0.15),
    ("lang:uk", 0.15),
    ("team:u25", 0.10),
    ("team:50plus", 0.10),
    ("wheelchair", 0.05),
)


def _slug(name: str) -> str:
    return normalize_name(name).replace(" ", "-")


def next_monday(today: date | None = None) -> date:
    today = today or date.today()
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


def monday_of_iso_week(iso_week: str) -> date:
    """``2026-W48`` -> the Monday of that ISO week; a clear error otherwise."""
    try:
        year, week = iso_week.upper().split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError as exc:
        raise ValueError(f"week {iso_week!r} is not an ISO week like 2026-W48") from exc


def _at(day: date, clock: time, zone: str) -> datetime:
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone))


def _jitter(rng: random.Random, lon: float, lat: float, radius_m: float) -> tuple[float, float]:
    angle = rng.uniform(0, 2 * math.pi)
    dist = radius_m * math.sqrt(rng.random())
    dlat = dist * math.cos(angle) / 111_320
    dlon = dist * math.sin(angle) / (111_320 * math.cos(math.radians(lat)))
    return (round(lon + dlon, 6), round(lat + dlat, 6))


def _client_place(rng: random.Random, area: ServiceArea, lon: float, lat: float) -> LonLat:
    """Up to ~1.5 km from the place, inside the area (drawn again if outside; the place itself
    after ten misses)."""
    for _ in range(10):
        point = _jitter(rng, lon, lat, 1500)
        if area.contains(*point):
            return point
    return (lon, lat)


def sample_week(
    monday: date | None = None,
    *,
    clients: int = 34,
    seed: int = 7,
    time_limit_seconds: float = 10.0,
    area: ServiceArea | None = None,
) -> SolveRequest:
    """The sample planning request for the week starting ``monday`` (default: next Monday) in
    ``area`` (default: the shipped service area)."""
    area = area or default_service_area()
    zone = area.timezone
    villages = {p.name: p.location for p in area.places}
    villages.update(
        {p.name: p.location for p in area.consultation_places if p.name not in villages}
    )
    if not villages and clients:
        raise ValueError(
            f"service area {area.name!r}: places or consultation_places are needed to place "
            "sample clients"
        )
    if clients < 0:
        raise ValueError(f"clients must be >= 0, got {clients}")
    monday = monday or next_monday()
    if monday.weekday() != 0:
        raise ValueError(f"week must start on a Monday, got {monday.isoformat()} ({monday:%A})")
    rng = random.Random(seed)
    days = [monday + timedelta(days=i) for i in range(5)]
    base = Place(coordinates=area.base)

    vans = [
        VanIn(
            id="van-1",
            name="Mobiles Büro 1",
            skills=["lang:ar", "team:u25", "wheelchair"],
            start=base,
        ),
        VanIn(
            id="van-2",
            name="Mobiles Büro 2",
            skills=["lang:uk", "team:50plus", "wheelchair"],
            start=base,
        ),
    ]
    shifts: list[ShiftIn] = []
    for day in days:
        shifts.append(
            ShiftIn(van_id="van-1", start=_at(day, time(8), zone), end=_at(day, time(16, 30), zone))
        )
        friday = day.weekday() == 4
        end = time(13) if friday else time(17)
        shifts.append(
            ShiftIn(van_id="van-2", start=_at(day, time(8, 30), zone), end=_at(day, end, zone))
        )

    visits: list[VisitIn] = []
    for village in area.consultation_places:
        for hours in village.hours:
            if hours.weekday_index >= len(days):  # the sample week runs Monday to Friday
                continue
            day = days[hours.weekday_index]
            minutes = (_at(day, hours.end, zone) - _at(day, hours.start, zone)).seconds // 60
            visits.append(
                VisitIn(
                    id=f"sprechstunde-{_slug(village.name)}-{hours.weekday}"
                    if len(village.hours) > 1
                    else f"sprechstunde-{_slug(village.name)}",
                    place=Place(coordinates=village.location),
                    duration_minutes=minutes,
                    windows=[
                        Window(start=_at(day, hours.start, zone), end=_at(day, hours.end, zone))
                    ],
                    kind="consultation_hours",
                )
            )

    names = sorted(villages)
    for i in range(clients):
        lon, lat = villages[rng.choice(names)]
        needs = [skill for skill, share in CLIENT_NEEDS if rng.random() < share][:1]
        windows: list[Window] = []
        style = rng.random()
        if style < 0.45:  # a half-day on one or two days
            for day in rng.sample(days[:4], k=rng.choice((1, 2))):
                morning = rng.random() < 0.5
                start, end = (time(8, 30), time(12, 30)) if morning else (time(12, 30), time(16))
                windows.append(Window(start=_at(day, start, zone), end=_at(day, end, zone)))
            windows.sort(key=lambda w: w.start)
        elif style < 0.65:  # a fixed two-hour slot
            day = rng.choice(days)
            hour = rng.choice((9, 10, 11, 13, 14)) if day.weekday() < 4 else rng.choice((9, 10))
            windows.append(
                Window(start=_at(day, time(hour), zone), end=_at(day, time(hour + 2), zone))
            )
        # else: any time in the week
        visits.append(
            VisitIn(
                id=f"client-{i + 1:02d}",
                place=Place(coordinates=_client_place(rng, area, lon, lat)),
                duration_minutes=rng.choice((45, 45, 60, 60, 90)),
                windows=windows,
                skills=needs,
                priority=1 if rng.random() < 0.8 else rng.choice((2, 3)),
                preferred_van=rng.choice(("van-1", "van-2")) if rng.random() < 0.25 else None,
                client_ref=f"K-{1000 + i}",
            )
        )
    # Keep continuity wishes consistent with the skills the preferred van has.
    skills_of = {v.id: set(v.skills) for v in vans}
    visits = [
        v.model_copy(update={"preferred_van": None})
        if v.preferred_van and not set(v.skills) <= skills_of[v.preferred_van]
        else v
        for v in visits
    ]
    return SolveRequest(
        horizon=HorizonIn(start_date=monday, days=5, timezone=zone),
        vans=vans,
        shifts=shifts,
        visits=visits,
        options=SolveOptions(time_limit_seconds=time_limit_seconds, seed=seed),
    )
