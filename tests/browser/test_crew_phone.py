"""The crew's day on a phone (390x844) and the dispatcher's week map, in Chromium, German first.

A week is planned and published through the API; the pages' clock is fixed (``VANPLAN_TEST_NOW``)
to Monday 10:30 of that week. Screenshots go to ``test-artifacts/`` (the path is printed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import Role, create_token
from api.settings import Settings
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEEK = "2026-W50"
MONDAY = "2026-12-07"
TUESDAY = "2026-12-08"
NOW = f"{MONDAY}T10:30:00+01:00"
PHONE = {"width": 390, "height": 844}
CLIENTS = [
    # id, lon, lat, minutes, day
    ("k1", 9.0036, 49.6786, 45, MONDAY),
    ("k2", 9.0067, 49.7414, 30, MONDAY),
    ("k3", 8.9756, 49.5700, 150, MONDAY),
    ("k4", 8.9944, 49.7986, 30, TUESDAY),
    ("k5", 8.8375, 49.7125, 45, TUESDAY),
    ("k6", 9.0500, 49.6500, 120, MONDAY),
    ("k7", 8.9500, 49.7000, 30, TUESDAY),
]


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {"VANPLAN_TEST_NOW": NOW}


@pytest.fixture(scope="module")
def week(server: Server) -> Iterator[dict[str, Any]]:
    """Two vans (van-1 on Monday and Tuesday, van-2 on Tuesday; shifts without listed breaks,
    so the statutory break applies), seven visits with windows on their day (Monday's more than
    six hours of work: a break), planned and published; tokens for both roles."""
    settings = Settings(database_url=server.database_url)
    dispatcher = create_token(Role.DISPATCHER, name="d", settings=settings).secret
    auth = {"Authorization": f"Bearer {dispatcher}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=120) as api:
        for van, days in (("van-1", (MONDAY, TUESDAY)), ("van-2", (TUESDAY,))):
            r = api.post("/v1/vans", json={"id": van, "name": f"Mobiles Büro {van[-1]}"})
            assert r.status_code == 201, r.text
            for day in days:
                shift = {"start": f"{day}T08:00:00+01:00", "end": f"{day}T16:30:00+01:00"}
                r = api.post(f"/v1/vans/{van}/shifts", json=shift)
                assert r.status_code == 201, r.text
        for cid, lon, lat, minutes, day in CLIENTS:
            client = {"id": cid, "name": f"Kundin {cid}", "location": [lon, lat]}
            r = api.post("/v1/clients", json=client)
            assert r.status_code == 201, r.text
            window = {"start": f"{day}T08:30:00+01:00", "end": f"{day}T15:30:00+01:00"}
            visit = {
                "id": f"v-{cid}",
                "client_id": cid,
                "duration_minutes": minutes,
                "windows": [window],
                "preferred_van_id": "van-1" if cid in ("k1", "k4", "k5") else None,
            }
            r = api.post("/v1/visits", json={k: v for k, v in visit.items() if v is not None})
            assert r.status_code == 201, r.text
        r = api.post(f"/v1/weeks/{WEEK}/plan", json={})
        assert r.status_code in (200, 201), r.text
        plan = r.json()
        assert api.post(f"/v1/plans/{plan['id']}/publish").status_code == 200
    crew = create_token(Role.CREW, name="crew", van_id="van-1", settings=settings).secret
    yield {"dispatcher": dispatcher, "crew": crew, "plan": plan}


def _login(page: Any, server: Server, token: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")


def _watch(page: Any) -> list[str]:
    """Collects script errors and every failed request (404 marker images, missing assets)."""
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    # A download ends its request as "aborted" for the page: that is no failure.
    page.on(
        "requestfailed",
        lambda r: None if "/download." in r.url else problems.append(f"failed {r.url}"),
    )
    return problems


def _shot(page: Any, artifacts: Path, name: str) -> Path:
    path = artifacts / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _route(plan: dict[str, Any], van: str, day: str) -> dict[str, Any]:
    return next(r for r in plan["plan"]["routes"] if r["van_id"] == van and r["date"] == day)


def test_crew_day_on_a_phone(
    server: Server, browser: Any, week: dict[str, Any], artifacts: Path
) -> None:
    ctx = browser.new_context(viewport=PHONE, accept_downloads=True, locale="de-DE")
    page = ctx.new_page()
    problems = _watch(page)
    _login(page, server, week["crew"])
    # The login opens the van's next working day with a published plan: Monday (it is 10:30).
    assert page.url == f"{server.url}/crew/van-1/{MONDAY}"
    assert page.get_attribute("html", "lang") == "de"
    assert "Montag, 07.12.2026" in page.inner_text("h1")

    route = _route(week["plan"], "van-1", MONDAY)
    visits = [s for s in route["steps"] if s["type"] == "visit"]
    breaks = [s for s in route["steps"] if s["type"] == "break"]
    stops = page.locator("li.stop")
    assert stops.count() == len(visits) >= 2
    # Departure first, return last, breaks where they fall.
    classes = [c.get_attribute("class") for c in page.locator("ol#stops > li").all()]
    assert classes[0] == "depot departure" and classes[-1] == "depot back"
    assert page.locator("li.pause").count() == len(breaks) == 1
    assert "Pause" in page.inner_text("li.pause")
    meta = page.inner_text("#day-meta")
    assert re.search(r"Abfahrt \d\d:\d\d", meta) and re.search(r"zurück \d\d:\d\d", meta)
    # Exactly one next stop: the first one not over at 10:30.
    ends = [
        re.search(r"–(\d\d:\d\d)", s.locator(".time").inner_text()).group(1)  # type: ignore[union-attr]
        for s in stops.all()
    ]
    expected = next(i for i, end in enumerate(ends) if end > "10:30")
    assert page.locator("li.stop.next").count() == 1
    assert "next" in (stops.nth(expected).get_attribute("class") or "")
    assert "Nächster Halt" in stops.nth(expected).inner_text()
    # Large navigation buttons per stop: geo:, Google Maps, Apple Maps, OSM.
    first = stops.first
    hrefs = [a.get_attribute("href") or "" for a in first.locator("a.navbtn").all()]
    assert [h.split(":", 1)[0] for h in hrefs] == ["geo", "https", "https", "https"]
    assert "google.com/maps" in hrefs[1] and "maps.apple.com" in hrefs[2]
    assert "openstreetmap.org/directions" in hrefs[3]
    for button in first.locator("a.navbtn").all():
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 120
    # The map inside its iframe: routes without tiles, HTML markers.
    frame = page.frame_locator("#crew-map")
    frame.locator("path.leaflet-interactive").first.wait_for(timeout=15000)
    assert frame.locator(".vp-num").count() == len(visits)
    assert frame.locator(".leaflet-tile").count() == 0
    _shot(page, artifacts, "crew-phone-monday-de.png")

    # Downloads: .ics with the breaks and one LOCATION per stop, CSV with BOM and date.
    with page.expect_download() as dl:
        page.click("#dl-ics")
    ics = Path(dl.value.path()).read_text(encoding="utf-8").replace("\r\n ", "")
    assert ics.count("BEGIN:VEVENT") == len(visits) + len(breaks)
    assert ics.count("SUMMARY:Pause") == len(breaks)
    assert ics.count("LOCATION:") == len(visits)
    with page.expect_download() as dl:
        page.click("#dl-csv")
    table = Path(dl.value.path()).read_bytes()
    assert table.startswith(b"\xef\xbb\xbf") and b"07.12.2026" in table

    # The day switcher goes to Tuesday; English on request, and it stays.
    page.click("nav#days a.day")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/crew/van-1/{TUESDAY}")
    assert page.inner_text("nav#days .current") == "Di. 08.12."
    assert page.locator("li.stop.next").count() == 0  # not today: nothing under way
    page.click("#langs a[hreflang=en]")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "lang") == "en"
    assert "Tuesday, 08.12.2026" in page.inner_text("h1")
    assert "Departure from the base" in page.inner_text("#stops")
    page.click("nav#days a.day")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "lang") == "en"  # kept in a cookie
    _shot(page, artifacts, "crew-phone-monday-en.png")
    assert problems == []
    ctx.close()


def test_week_map_one_day_at_a_time(
    server: Server, browser: Any, week: dict[str, Any], artifacts: Path
) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = ctx.new_page()
    problems = _watch(page)
    _login(page, server, week["dispatcher"])
    page.goto(f"{server.url}/dispatcher?week={WEEK}")
    assert page.get_attribute("html", "lang") == "de"
    assert page.inner_text("h1") == f"Woche {WEEK}"
    page.goto(f"{server.url}/dispatcher/map?plan={week['plan']['id']}")
    page.locator("path.leaflet-interactive").first.wait_for(timeout=15000)
    plan = week["plan"]["plan"]
    per_day = {
        day: sum(
            s["type"] == "visit" for r in plan["routes"] if r["date"] == day for s in r["steps"]
        )
        for day in (MONDAY, TUESDAY)
    }
    buttons = page.locator("#vp-days button.vp-day")
    assert [b.inner_text() for b in buttons.all()] == ["Mo. 07.12.", "Di. 08.12."]
    assert buttons.first.get_attribute("aria-pressed") == "true"
    assert page.locator(".vp-num").count() == per_day[MONDAY]
    assert page.locator(".leaflet-tile").count() == 0
    _shot(page, artifacts, "week-map-monday.png")
    buttons.nth(1).click()
    assert buttons.nth(1).get_attribute("aria-pressed") == "true"
    assert buttons.first.get_attribute("aria-pressed") == "false"
    assert page.locator(".vp-num").count() == per_day[TUESDAY]
    # Colours per van: each van of the day in its own colour.
    colours = {
        m.get_attribute("style").split(";")[0]  # type: ignore[union-attr]
        for m in page.locator(".vp-num").all()
    }
    vans_tuesday = {r["van_id"] for r in plan["routes"] if r["date"] == TUESDAY}
    assert len(colours) == len(vans_tuesday)
    # The legend folds away.
    legend = page.locator("#vp-legend")
    assert legend.get_attribute("open") is not None
    page.click("#vp-legend summary")
    assert legend.get_attribute("open") is None
    _shot(page, artifacts, "week-map-tuesday-legend-folded.png")
    assert problems == []
    ctx.close()
