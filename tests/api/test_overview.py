"""The week overview, the timeline and the fixes for unassigned visits (api.overview), on a
hand-made plan view whose free times are known exactly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api import overview
from api.i18n import Language
from api.overview import (
    BlockKind,
    FixKind,
    Travel,
    fix_text,
    free_slots,
    suggest_fix,
    timeline,
    unassigned_rows,
    week_overview,
)
from api.schemas.planning import SolveRequest, VisitIn
from geo.geometry import Coord
from geo.view import (
    BreakView,
    DayKeys,
    DepotView,
    LegView,
    PlanView,
    StopView,
    UnassignedView,
    VanDayView,
)
from optimizer.domain import VisitKind

BERLIN = ZoneInfo("Europe/Berlin")
MON, TUE, WED = date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9)
BASE: Coord = (8.9937, 49.6567)  # Erbach
HERE: Coord = (9.0036, 49.6786)  # Michelstadt, where the Monday stops of van-1 are
FAR: Coord = (8.65, 49.87)  # Darmstadt, ~45 km away
LEG = 600  # every leg of the hand-made routes: 10 minutes, 5 km


def at(day: date, hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return datetime(day.year, day.month, day.day, int(h), int(m), tzinfo=BERLIN)


def request(visits: Sequence[dict[str, Any]] = ()) -> SolveRequest:
    """van-1 works Monday and Tuesday 08-16; van-2 (arabic) Monday 08-12 and Wednesday 08-16."""
    shifts = [
        ("van-1", MON, "08:00", "16:00"),
        ("van-1", TUE, "08:00", "16:00"),
        ("van-2", MON, "08:00", "12:00"),
        ("van-2", WED, "08:00", "16:00"),
    ]
    return SolveRequest.model_validate(
        {
            "horizon": {"start_date": MON.isoformat(), "days": 3},
            "vans": [
                {"id": "van-1", "name": "Mobiles Büro 1", "start": {"coordinates": BASE}},
                {"id": "van-2", "name": "Mobiles Büro 2", "skills": ["arabic"]},
            ],
            "shifts": [
                {"van_id": v, "start": at(d, a).isoformat(), "end": at(d, b).isoformat()}
                for v, d, a, b in shifts
            ],
            "visits": [
                {"id": "s1", "place": {"coordinates": HERE}, "duration_minutes": 60},
                *visits,
            ],
        }
    )


def van_day(
    van: str,
    day: date,
    stops: Sequence[tuple[str, str, str, Coord]],
    breaks: Sequence[tuple[str, str]] = (),
) -> VanDayView:
    """A route from the base through ``stops`` (id, start, end, place) and back; every leg
    takes LEG seconds and the van arrives just in time."""
    views = [
        StopView(
            visit_id=vid,
            order=n,
            location=vid,
            name=f"Ort {vid}",
            coord=coord,
            kind=VisitKind.APPOINTMENT,
            arrival=at(day, a),
            start=at(day, a),
            end=at(day, b),
            arrival_s=0,
            start_s=0,
            end_s=0,
        )
        for n, (vid, a, b, coord) in enumerate(stops, start=1)
    ]
    places = [BASE, *(s.coord for s in views), BASE]
    ids: list[str | None] = [None, *(s.visit_id for s in views), None]
    legs = tuple(
        LegView(n, "x", "y", ids[n], ids[n + 1], (p, q), LEG, 5000, True)
        for n, (p, q) in enumerate(pairwise(places))
    )
    return VanDayView(
        van_id=van,
        van_name=f"Mobiles Büro {van[-1]}",
        day=(day - MON).days,
        date=day,
        key=day.isoformat(),
        day_name=day.isoformat(),
        legs=legs,
        stops=tuple(views),
        breaks=tuple(BreakView(at(day, a), at(day, b), 0, 0) for a, b in breaks),
        departure=views[0].arrival - timedelta(seconds=LEG),
        back=views[-1].end + timedelta(seconds=LEG),
    )


def view(unassigned: Sequence[tuple[str, str, Coord]] = ()) -> PlanView:
    """van-1 Monday: 09-10 and 10:30-15:30 at HERE, a break 12:00-12:30 (inside the long
    visit, as a crew takes it on site); van-1 Tuesday: 08:10-15:40; van-2 Monday 08:30-11:30;
    van-2 Wednesday: idle."""
    return PlanView(
        timezone="Europe/Berlin",
        start_date=MON,
        day_keys=DayKeys.DATE,
        approximate=True,
        van_days=(
            van_day(
                "van-1",
                MON,
                [("s1", "09:00", "10:00", HERE), ("s2", "10:30", "15:30", HERE)],
                breaks=[("12:00", "12:30")],
            ),
            van_day("van-1", TUE, [("s4", "08:10", "15:40", HERE)]),
            van_day("van-2", MON, [("s3", "08:30", "11:30", BASE)]),
        ),
        depots=(DepotView("base", "Depot", BASE),),
        unassigned=tuple(UnassignedView(v, v, v, c, r, r) for v, r, c in unassigned),
    )


def visit(**fields: Any) -> VisitIn:
    return VisitIn.model_validate({"id": "u", "place": {"coordinates": HERE}, **fields})


def window(day: date, a: str, b: str) -> dict[str, str]:
    return {"start": at(day, a).isoformat(), "end": at(day, b).isoformat()}


# --------------------------------------------------------------------------- overview


def test_every_van_day_with_a_shift_is_listed_idle_days_at_zero() -> None:
    ov = week_overview(view([("u1", "no_room", HERE)]), request())
    assert [(v.van_id, v.date) for v in ov.van_days] == [
        ("van-1", MON),
        ("van-2", MON),
        ("van-1", TUE),
        ("van-2", WED),
    ]
    idle = ov.van_day("van-2", WED)
    assert idle.idle and idle.utilisation == 0.0 and idle.work_seconds == 0
    assert idle.shift_seconds == 8 * 3600 and idle.van_name == "Mobiles Büro 2"
    assert ov.idle_days == 1
    assert (ov.planned, ov.unassigned) == (4, 1)
    legs = 3 + 2 + 2  # legs of the three routes
    assert ov.drive_seconds == legs * LEG and ov.distance_m == legs * 5000


def test_utilisation_is_work_time_over_shift_length() -> None:
    ov = week_overview(view(), request())
    monday = ov.van_day("van-1", MON)
    # 08:50 out, 15:40 back, the 30-minute break off: 6 h 20 min of 8 h.
    assert monday.work_seconds == (6 * 60 + 20) * 60
    assert monday.utilisation == pytest.approx(380 / 480)
    short = ov.van_day("van-2", MON)  # 08:20-11:40 of a 4 h shift
    assert short.utilisation == pytest.approx(200 / 240)
    total = (380 + 470 + 200) * 60  # Tuesday: 08:00 out, 15:50 back
    assert ov.work_seconds == total and ov.shift_seconds == 28 * 3600
    assert ov.utilisation == pytest.approx(total / (28 * 3600))
    with pytest.raises(KeyError):
        ov.van_day("van-2", TUE)


def test_timeline_draws_shift_limits_drives_visits_breaks_and_idle_days() -> None:
    tl = timeline(week_overview(view(), request()))
    assert (tl.first_hour, tl.last_hour) == (8, 16)  # the week's shifts, 08:00-16:00
    assert [h for h, _ in tl.ticks] == [8, 10, 12, 14, 16]
    rows = {(r.load.van_id, r.load.date): r for r in tl.rows}
    assert len(rows) == 4
    short = rows["van-2", MON].shifts[0]
    assert (short.left, short.width) == (0.0, 50.0)  # 08:00-12:00 on an 8-hour scale
    monday = rows["van-1", MON].blocks
    assert [b.kind for b in monday] == [
        BlockKind.DRIVE,
        BlockKind.APPOINTMENT,
        BlockKind.DRIVE,
        BlockKind.APPOINTMENT,
        BlockKind.BREAK,
        BlockKind.DRIVE,
    ]
    first_drive = monday[0]  # 08:50-09:00
    assert first_drive.start == at(MON, "08:50") and first_drive.end == at(MON, "09:00")
    assert (first_drive.left, first_drive.width) == (10.42, 2.08)
    pause = next(b for b in monday if b.kind is BlockKind.BREAK)
    assert (pause.left, pause.width) == (50.0, 6.25)
    idle = rows["van-2", WED]
    assert idle.blocks == () and idle.load.idle and idle.shifts[0].width == 100.0


def test_timeline_scale_follows_the_shifts() -> None:
    req = request()
    late = req.shifts[0].model_copy(update={"end": at(MON, "19:30")})
    req = req.model_copy(update={"shifts": [late, *req.shifts[1:]]})
    tl = timeline(week_overview(view(), req))
    assert (tl.first_hour, tl.last_hour) == (8, 20)


# --------------------------------------------------------------------------- fixes


def fix_for(reason: str = "no_room", **fields: Any) -> Any:
    v = visit(**fields)
    req = request([v.model_dump(mode="json")])
    return suggest_fix(v, reason, v.place.coordinates, week_overview(view(), req), req)


def test_room_inside_the_window_pins_the_visit_there() -> None:
    fix = fix_for(duration_minutes=60, windows=[window(WED, "10:00", "12:00")])
    assert fix.kind is FixKind.PIN
    assert (fix.van_id, fix.van_name, fix.date) == ("van-2", "Mobiles Büro 2", WED)
    assert fix.start == at(WED, "10:00") and fix.end == at(WED, "11:00")


def test_room_outside_the_window_on_an_allowed_day_widens_the_window() -> None:
    # Monday 09-10 is taken on both vans; van-1 is free 10:00-10:30 at the visit's own place.
    fix = fix_for(
        duration_minutes=20, dates=[MON.isoformat()], windows=[window(MON, "09:00", "10:00")]
    )
    assert fix.kind is FixKind.WIDEN
    assert (fix.van_id, fix.date) == ("van-1", MON)
    assert fix.start == at(MON, "09:00") and fix.end == at(MON, "10:20")
    text = fix_text(fix, Language("de"))
    assert text == "Zeitfenster auf 09:00–10:20 erweitern (Mobiles Büro 1 hat am Mo. 07.12. Zeit)"


def test_no_room_on_the_allowed_days_proposes_another_day_at_the_same_time() -> None:
    # 55 minutes fit nowhere on Monday (van-1 could start 08:10 at the earliest, its first
    # visit is at 09:00); Tuesday is full; van-2 is free on Wednesday at the same clock time.
    fix = fix_for(
        duration_minutes=55, dates=[MON.isoformat()], windows=[window(MON, "09:00", "10:00")]
    )
    assert fix.kind is FixKind.OTHER_DAY
    assert (fix.van_id, fix.date, fix.start) == ("van-2", WED, at(WED, "09:00"))
    assert fix_text(fix, Language("de")) == (
        "Anderer Tag: Mi. 09.12. (Mobiles Büro 2 hat dort Zeit, 09:00–09:55)"
    )
    assert fix_text(fix, Language("en")) == (
        "Other day: Wed 09.12. (Mobiles Büro 2 has time there, 09:00–09:55)"
    )


def test_drive_time_counts_a_gap_too_small_for_a_far_visit_is_skipped() -> None:
    v = visit(duration_minutes=20, dates=[MON.isoformat()])
    req = request([v.model_dump(mode="json")])
    ov = week_overview(view(), req)
    near = free_slots(v, HERE, ov, req, days=[MON])
    # van-1's 30 minutes between its Monday visits hold a 20-minute visit at the same place
    assert next((s.load.van_id, s.start, s.travel) for s in near) == ("van-1", at(MON, "10:00"), 0)
    far = free_slots(v, FAR, ov, req, days=[MON])
    assert far == []  # 45 km each way fit in no Monday gap
    assert Travel()(BASE, FAR) > 30 * 60


def test_a_break_in_a_gap_takes_its_room() -> None:
    v = visit(duration_minutes=230, dates=[WED.isoformat()])
    req = request([v.model_dump(mode="json")])
    # van-2 on Wednesday: a short stop at the base, free 08:20-16:00 (7 h 40 min) but for
    # its break 10:00-14:00: 3 h 40 min left, short of 230 minutes.
    route = van_day("van-2", WED, [("x", "08:10", "08:20", BASE)], breaks=[("10:00", "14:00")])
    busy = PlanView(**{**view().__dict__, "van_days": (*view().van_days, route)})
    assert free_slots(v, BASE, week_overview(busy, req), req, days=[WED]) == []
    without = replace(route, breaks=())
    free = PlanView(**{**view().__dict__, "van_days": (*view().van_days, without)})
    slots = free_slots(v, BASE, week_overview(free, req), req, days=[WED])
    assert [(s.load.van_id, s.start, s.end) for s in slots] == [
        ("van-2", at(WED, "08:20"), at(WED, "12:10"))
    ]
    # a visit that fits beside the break goes before it
    short = visit(duration_minutes=90, dates=[WED.isoformat()])
    first = free_slots(short, BASE, week_overview(busy, req), req, days=[WED])[0]
    assert (first.start, first.end) == (at(WED, "08:20"), at(WED, "09:50"))


def test_missing_skill_too_long_no_time_and_other_reasons() -> None:
    skill = fix_for("no_skilled_van", duration_minutes=30, skills=["sign-language"])
    assert skill.kind is FixKind.SKILL and skill.skills == ("sign-language",)
    assert "»sign-language«" in fix_text(skill, Language("de"))
    long = fix_for("service_too_long", duration_minutes=600)
    assert long.kind is FixKind.SHORTEN and long.minutes is not None
    assert 450 <= long.minutes < 480 and long.minutes % 5 == 0  # an 8-hour shift less the drives
    full = fix_for(duration_minutes=470, skills=["arabic"], place={"coordinates": FAR})
    assert full.kind is FixKind.MORE_TIME
    assert fix_text(full, Language("de")).startswith("Kein Fahrzeugtag hat 470 Min. frei")
    assert fix_for("unreachable", duration_minutes=30).kind is FixKind.CHECK_PLACE
    assert fix_for("not_planned", duration_minutes=30).kind is FixKind.REPLAN
    assert fix_for("cancelled", duration_minutes=30).kind is FixKind.NONE


def test_a_pinned_visit_that_cannot_be_served_gets_another_van_day() -> None:
    fix = fix_for(
        "pin_impossible",
        duration_minutes=30,
        dates=[WED.isoformat()],
        pin={"van_id": "van-1", "date": WED.isoformat()},
    )
    assert fix.kind is FixKind.PIN and (fix.van_id, fix.date) == ("van-2", WED)


def test_unassigned_rows_carry_client_windows_reason_and_fix() -> None:
    v = visit(duration_minutes=30, windows=[window(WED, "10:00", "12:00")], client_ref="c9")
    req = request([v.model_dump(mode="json")])
    pv = view([("u", "no_room", HERE)])
    ov = week_overview(pv, req)
    rows = unassigned_rows(pv, req, ov, {"u": "Client c9"}, Language("de"))
    assert len(rows) == 1
    row = rows[0]
    assert (row.visit_id, row.client, row.duration_minutes) == ("u", "Client c9", 30)
    assert [(w.start, w.end) for w in row.windows] == [(at(WED, "10:00"), at(WED, "12:00"))]
    assert row.fix.kind is FixKind.PIN
    assert row.fix_text == (
        "Fixieren auf Mobiles Büro 2 am Mi. 09.12. (frei 10:00–10:30), dann neu planen"
    )


def test_only_the_first_unassigned_visits_get_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overview, "MAX_FIXES", 1)
    first = visit(duration_minutes=30, windows=[window(WED, "10:00", "12:00")])
    second = visit(id="u2", duration_minutes=30)
    req = request([first.model_dump(mode="json"), second.model_dump(mode="json")])
    pv = view([("u", "no_room", HERE), ("u2", "no_room", HERE)])
    rows = unassigned_rows(pv, req, week_overview(pv, req), {}, Language("de"))
    assert [r.fix.kind for r in rows] == [FixKind.PIN, FixKind.NOT_CHECKED]
    assert rows[1].fix_text == (
        "Nicht geprüft: nur die ersten 1 nicht eingeplanten Besuche erhalten eine Lösung"
    )
