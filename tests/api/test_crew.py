"""The standalone crew page (for ``vanplan demo``): stops, embedded map and downloads."""

from __future__ import annotations

import base64
import html as htmllib
import re
from datetime import date

import pytest
from icalendar import Calendar

from api.crew import crew_page_html
from api.schemas.planning import MatrixInfo, PlanOut, RouteOut, Summary
from geo.render.base import TileSource
from geo.view import ClientDisplay, VisitInfo
from tests.geo.sample_view import sample_view

MONDAY = date(2026, 3, 2)


def plan_out() -> PlanOut:
    counts = dict.fromkeys(
        ("drive_seconds", "distance_m", "service_seconds", "waiting_seconds", "working_seconds"), 0
    )
    return PlanOut(
        timezone="Europe/Berlin",
        matrix=MatrixInfo(source="approximate", approximate=True, note="test"),
        summary=Summary(
            cost=1.0,
            status="feasible",
            routes=1,
            assigned=2,
            unassigned=1,
            wall_time_seconds=0.1,
            solutions=1,
            **counts,
        ),
        routes=[
            RouteOut(
                van_id="v1",
                date=MONDAY,
                steps=[],
                drive_seconds=2700,
                distance_m=22200,
                service_seconds=0,
                waiting_seconds=0,
                break_seconds=0,
                working_seconds=0,
            )
        ],
        unassigned=[],
    )


def test_van_day_by_date_index_or_key() -> None:
    view = sample_view()
    assert view.van_day("v1", MONDAY).day == 0
    assert view.van_day("v1", date(2026, 3, 3)).key == "1"
    assert view.van_day("v1", 1).date == date(2026, 3, 3)
    assert view.van_day("v1", "1").date == date(2026, 3, 3)
    with pytest.raises(KeyError):
        view.van_day("v2", date(2026, 3, 3))


def test_standalone_crew_page() -> None:
    details = {"a1": VisitInfo(client="Erika Mustermann", pseudonym="K-17", notes="Hund")}
    page = crew_page_html(
        plan_out(), sample_view(info=details), "v1", MONDAY, tiles=TileSource.none()
    )
    assert page.startswith('<!DOCTYPE html>\n<html lang="de">')  # German by default
    assert "K-17" in page and "Erika Mustermann" not in page
    assert "Hund" in page and "Sprechstunde" in page
    assert "Fahrzeit 45 min · 22.2 km" in page
    assert "Montag, 02.03.2026" in page
    assert "Fahrzeiten sind geschätzt" in page
    assert "geo:49.678600,9.003600" in page
    # No server, no CDN: Leaflet is inside the map's srcdoc, downloads are data: URIs.
    srcdoc = htmllib.unescape(re.search(r'srcdoc="([^"]*)"', page, re.S).group(1))
    assert "L.polyline(" in srcdoc and "cdn.jsdelivr" not in srcdoc
    assert "Leaflet" in srcdoc[:200_000]  # the inlined library
    ics_uri = re.search(r'id="dl-ics" href="data:text/calendar;base64,([^"]+)"', page).group(1)
    cal = Calendar.from_ical(base64.b64decode(ics_uri))
    assert len(list(cal.walk("VEVENT"))) == 2
    assert 'download="vanplan-v1-2026-03-02.gpx"' in page


def test_standalone_crew_page_with_names() -> None:
    details = {"a1": VisitInfo(client="Erika Mustermann", pseudonym="K-17")}
    page = crew_page_html(
        plan_out(), sample_view(info=details), "v1", MONDAY, display=ClientDisplay.NAME
    )
    assert "Erika Mustermann" in page


def test_standalone_crew_page_in_english() -> None:
    page = crew_page_html(plan_out(), sample_view(), "v1", MONDAY, lang="en")
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "Consultation hours" in page and "Sprechstunde" not in page
    assert "Monday, 02.03.2026" in page and "driving 45 min" in page
