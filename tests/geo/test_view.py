"""The typed plan view: built from Plan + Problem, every stop once and in order, times inside
the day, one name per stop in every output format."""

from __future__ import annotations

import csv
import html
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from geo.geometry import GeometryError
from geo.render import RENDERERS, RenderOptions, Selection
from geo.render.gpx import GPX_NS
from geo.view import DayKeys, PlanView, build_view
from optimizer.domain import Problem, VisitKind
from optimizer.plan import BreakSlot, Plan
from optimizer.settings import SolverSettings
from optimizer.solve import solve
from tests.geo.sample_view import ERBACH, PLACES, small_plan
from tests.optimizer.strategies import problems

STAMP = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_view_of_a_plan() -> None:
    plan, problem, places = small_plan()
    view = build_view(plan, problem, places, names={"a1": "Michelstadt, Markt 1"})
    assert view.approximate and view.day_keys is DayKeys.INDEX
    (vd,) = view.van_days
    assert (vd.van_id, vd.day, vd.date, vd.key, vd.day_name) == (
        "v1",
        0,
        problem.horizon.start_date,
        "0",
        "day 0",
    )
    assert [(s.order, s.visit_id) for s in vd.stops] == [(1, "a1"), (2, "c1")]
    a1, c1 = vd.stops
    assert a1.name == "Michelstadt, Markt 1" and c1.name == "b"  # default: the location id
    assert c1.kind is VisitKind.CONSULTATION and c1.consultation and not a1.consultation
    # aware datetimes in the horizon's zone, with the horizon seconds they came from
    assert a1.arrival.isoformat() == "2026-03-02T08:10:00+01:00"
    assert str(a1.arrival.tzinfo) == "Europe/Berlin"
    assert (a1.arrival_s, a1.start_s, a1.end_s) == (
        plan.routes[0].stops[0].arrival,
        plan.routes[0].stops[0].start,
        plan.routes[0].stops[0].end,
    )
    assert c1.waiting == 2400 and c1.start - c1.arrival == timedelta(seconds=2400)
    # depot -> a1 -> c1 -> depot, straight and flagged without a network
    assert [(leg.from_location, leg.to_location) for leg in vd.legs] == [
        ("base", "m"),
        ("m", "b"),
        ("b", "base"),
    ]
    assert [(leg.from_visit, leg.to_visit) for leg in vd.legs] == [
        (None, "a1"),
        ("a1", "c1"),
        ("c1", None),
    ]
    assert all(leg.approximate and len(leg.coords) == 2 for leg in vd.legs)
    assert vd.start == ERBACH and vd.end == ERBACH
    assert [(d.id, d.coord) for d in view.depots] == [("base", ERBACH)]
    (gone,) = view.unassigned
    assert (gone.visit_id, gone.reason, gone.message, gone.coord) == (
        "x",
        "no_room",
        "full",
        PLACES["reichelsheim"],
    )


def test_breaks_and_names_of_vans_and_days() -> None:
    plan, problem, places = small_plan()
    h = problem.horizon
    route = replace(plan.routes[0], breaks=(BreakSlot(h.at(0, 9, 10), h.at(0, 9, 20)),))
    view = build_view(
        replace(plan, routes=(route,)),
        problem,
        places,
        van_names={"v1": "Bus 1"},
        day_names={0: "Mon 02.03."},
        depot_names={"base": "InA Erbach"},
        day_keys=DayKeys.DATE,
    )
    vd = view.van_day("v1", "2026-03-02")
    assert (vd.van_name, vd.day_name, vd.key) == ("Bus 1", "Mon 02.03.", "2026-03-02")
    (brk,) = vd.breaks
    assert brk.start.strftime("%H:%M") == "09:10" and brk.end_s - brk.start_s == 600
    assert view.depots[0].name == "InA Erbach"


def test_missing_place_is_named() -> None:
    plan, problem, places = small_plan()
    del places["b"]
    with pytest.raises(GeometryError, match=r"no coordinates for locations \['b'\]"):
        build_view(plan, problem, places)


def test_select_and_lookup() -> None:
    plan, problem, places = small_plan()
    view = build_view(plan, problem, places)
    assert view.select() is view
    own = view.select("v1", 0)
    assert len(own.van_days) == 1 and own.unassigned == () and own.depots == view.depots
    assert view.select("v2").van_days == ()
    assert view.van_day("v1", problem.horizon.start_date) is view.van_days[0]
    with pytest.raises(KeyError, match="v2"):
        view.van_day("v2", 0)


# --------------------------------------------------------------------------- properties

FAST = SolverSettings(time_limit=0.5, solution_limit=5, seed=1)


def _named_places(problem: Problem) -> dict[str, tuple[float, float]]:
    """A coordinate per location, spread around Erbach."""
    return {
        loc: (ERBACH[0] + 0.01 * i, ERBACH[1] + 0.005 * (i % 7))
        for i, loc in enumerate(problem.matrix.locations)
    }


def _names_in_every_format(view: PlanView) -> None:
    """Every renderer shows each stop under the view's one name."""
    options = RenderOptions(stamp=STAMP)
    geojson = json.loads(RENDERERS["geojson"].render(view, None, options))
    by_visit = {
        f["properties"]["visit_id"]: f["properties"]["name"]
        for f in geojson["features"]
        if f["properties"]["feature"] == "stop"
    }
    assert by_visit == {s.visit_id: s.name for s in view.stops()}
    for vd in view.van_days:
        sel = Selection(vd.van_id, vd.day)
        names = [s.name for s in vd.stops]
        gpx = ET.fromstring(RENDERERS["gpx"].render(view, sel, options))
        wpts = [w.findtext(f"{{{GPX_NS}}}name") for w in gpx.findall(f"{{{GPX_NS}}}wpt")]
        assert wpts[1:-1] == [f"{s.order} {s.name}" for s in vd.stops]
        table = list(
            csv.DictReader(
                io.StringIO(RENDERERS["csv"].render(view, sel, options).decode("utf-8-sig"))
            )
        )
        assert [row["place"] for row in table] == names
        events = Calendar.from_ical(RENDERERS["ics"].render(view, sel, options)).walk("VEVENT")
        stops = [e for e in events if "break" not in e.get("categories").cats]
        assert [str(e["location"]) for e in stops] == names
        assert len(events) - len(stops) == len(vd.breaks)
        page = RENDERERS["html"].render(view, sel, options).decode()
        for s in vd.stops:
            assert html.escape(f"{s.order} · {s.arrival:%H:%M} {s.name}") in page  # tooltip


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(problems(max_visits=8), st.data())
def test_every_served_visit_appears_once_in_order_inside_its_day(
    problem: Problem, data: st.DataObject
) -> None:
    plan: Plan = solve(problem, FAST)
    names = {
        v.id: data.draw(st.text("abcÄö &<>'\"", min_size=1, max_size=6), label=f"name {v.id}")
        for v in problem.visits
    }
    view = build_view(plan, problem, _named_places(problem), names=names)
    horizon = problem.horizon

    served = [s.visit_id for vd in view.van_days for s in vd.stops]
    assert sorted(served) == sorted(s.visit_id for r in plan.routes for s in r.stops)
    assert len(served) == len(set(served))
    assert {u.visit_id for u in view.unassigned} == {u.visit_id for u in plan.unassigned}
    for route, vd in zip(plan.routes, view.van_days, strict=True):
        assert (vd.van_id, vd.day) == (route.van_id, route.day)
        assert [s.visit_id for s in vd.stops] == [s.visit_id for s in route.stops]
        assert [s.order for s in vd.stops] == list(range(1, len(vd.stops) + 1))
        assert len(vd.legs) == len(vd.stops) + 1
        for s in vd.stops:
            assert s.name == names[s.visit_id]
            assert s.arrival <= s.start <= s.end
            assert horizon.day_start(vd.day) <= s.arrival_s and s.end_s <= horizon.day_end(vd.day)
            assert s.start.date() == vd.date == horizon.date_of(vd.day)
            assert s.start == horizon.to_datetime(s.start_s)
            assert s.start.utcoffset() == s.start.astimezone(horizon.tz).utcoffset()
    _names_in_every_format(view)
