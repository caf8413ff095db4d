"""How long the dispatcher page's week overview takes on a large week (api.overview).

A synthetic plan view with ``--vans`` vans on 5 days (one 08:00-16:00 shift each, every tenth
van-day idle), ``--stops`` stops per busy van-day (30 minutes each, back to back with 10-minute
drives, one 30-minute break) and ``--unassigned`` unassigned visits of the kinds the page fixes
(a window on a full day, no window, a missing skill). Measured per part, ``--repeat`` times
(median seconds): :func:`api.overview.week_overview`, :func:`api.overview.timeline` and
:func:`api.overview.unassigned_rows` (the fixes: each unassigned visit checked against the free
time of every van-day; the first :data:`api.overview.MAX_FIXES` only). Prints JSON.

    python3 benchmarks/overview.py --vans 50 --stops 20 --unassigned 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from api.i18n import Language
from api.overview import MAX_FIXES, timeline, unassigned_rows, week_overview
from api.schemas.planning import SolveRequest
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
MONDAY = date(2026, 12, 7)
BASE = (8.9937, 49.6567)


def _at(day: date, minutes: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BERLIN) + timedelta(minutes=minutes)


def _place(n: int) -> tuple[float, float]:
    return (8.85 + (n * 37 % 300) / 1000, 49.55 + (n * 53 % 300) / 1000)


def week(vans: int, stops: int, unassigned: int) -> tuple[PlanView, SolveRequest]:
    days = [MONDAY + timedelta(days=d) for d in range(5)]
    van_days: list[VanDayView] = []
    visits: list[dict[str, Any]] = []
    shifts = []
    n = 0
    for v in range(vans):
        for d, day in enumerate(days):
            shifts.append(
                {
                    "van_id": f"van-{v}",
                    "start": _at(day, 8 * 60).isoformat(),
                    "end": _at(day, 16 * 60).isoformat(),
                }
            )
            if (v * 5 + d) % 10 == 9:
                continue  # idle
            views = []
            for k in range(stops):
                start = 8 * 60 + 10 + k * 22
                views.append(
                    StopView(
                        visit_id=f"s{n}",
                        order=k + 1,
                        location=f"s{n}",
                        name=f"s{n}",
                        coord=_place(n),
                        kind=VisitKind.APPOINTMENT,
                        arrival=_at(day, start),
                        start=_at(day, start),
                        end=_at(day, start + 12),
                        arrival_s=0,
                        start_s=0,
                        end_s=0,
                    )
                )
                n += 1
            places = [BASE, *(s.coord for s in views), BASE]
            ids = [None, *(s.visit_id for s in views), None]
            legs = tuple(
                LegView(i, "a", "b", ids[i], ids[i + 1], (p, q), 600, 5000, True)
                for i, (p, q) in enumerate(pairwise(places))
            )
            van_days.append(
                VanDayView(
                    van_id=f"van-{v}",
                    van_name=f"Mobiles Büro {v}",
                    day=d,
                    date=day,
                    key=day.isoformat(),
                    day_name=day.isoformat(),
                    legs=legs,
                    stops=tuple(views),
                    breaks=(BreakView(_at(day, 12 * 60), _at(day, 12 * 60 + 30), 0, 0),),
                    departure=views[0].arrival - timedelta(minutes=10),
                    back=views[-1].end + timedelta(minutes=10),
                )
            )
    lost = []
    for u in range(unassigned):
        kind = u % 3
        body: dict[str, Any] = {
            "id": f"u{u}",
            "place": {"coordinates": _place(10_000 + u)},
            "duration_minutes": 45,
        }
        if kind == 0:
            day = days[u % 5]
            body["windows"] = [
                {"start": _at(day, 9 * 60).isoformat(), "end": _at(day, 10 * 60).isoformat()}
            ]
        elif kind == 2:
            body["skills"] = ["sign-language"]
        visits.append(body)
        reason = "no_skilled_van" if kind == 2 else "no_room"
        lost.append(UnassignedView(f"u{u}", f"u{u}", f"u{u}", _place(10_000 + u), reason, ""))
    request = SolveRequest.model_validate(
        {
            "horizon": {"start_date": MONDAY.isoformat(), "days": 5},
            "vans": [{"id": f"van-{v}", "name": f"Mobiles Büro {v}"} for v in range(vans)],
            "shifts": shifts,
            "visits": visits,
        }
    )
    view = PlanView(
        timezone="Europe/Berlin",
        start_date=MONDAY,
        day_keys=DayKeys.DATE,
        approximate=True,
        van_days=tuple(van_days),
        depots=(DepotView("base", "Depot", BASE),),
        unassigned=tuple(lost),
    )
    return view, request


def _median(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vans", type=int, default=50)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--unassigned", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    view, request = week(args.vans, args.stops, args.unassigned)
    lang = Language("de")
    ov = week_overview(view, request)
    out = {
        "van_days": len(ov.van_days),
        "stops": ov.planned,
        "unassigned": len(view.unassigned),
        "fixed": min(MAX_FIXES, len(view.unassigned)),
        "overview_s": round(_median(lambda: week_overview(view, request), args.repeat), 4),
        "timeline_s": round(_median(lambda: timeline(ov), args.repeat), 4),
        "fixes_s": round(
            _median(lambda: unassigned_rows(view, request, ov, {}, lang), args.repeat), 4
        ),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
