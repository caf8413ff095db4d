"""The dispatcher's week at a glance in a real browser: the overview and the timeline with van
names and an idle van-day, then a slot offered for a new visit and booked from the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import Role, create_token
from api.settings import Settings
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEEK = "2026-W51"  # Monday 2026-12-14
MONDAY, TUESDAY, WEDNESDAY = "2026-12-14", "2026-12-15", "2026-12-16"
CLIENTS = [
    # client, lon, lat, visit day, window
    ("oc1", 9.0036, 49.6786, MONDAY, ("09:00", "11:00")),
    ("oc2", 9.0067, 49.7414, MONDAY, ("10:00", "14:00")),
    ("oc3", 8.9756, 49.5700, TUESDAY, ("09:00", "12:00")),
    ("oc4", 8.9944, 49.7986, TUESDAY, ("11:00", "15:00")),
]


def _at(day: str, hhmm: str) -> str:
    return f"{day}T{hhmm}:00+01:00"


@pytest.fixture(scope="module")
def dispatcher(server: Server) -> str:
    """Three vans; van-3 works only on Wednesday, when no visit can be: an idle van-day.
    Four visits on Monday and Tuesday, a fifth client without a visit yet; the week planned."""
    settings = Settings(database_url=server.database_url)
    token = create_token(Role.DISPATCHER, name="overview", settings=settings).secret
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as api:
        shifts = {"van-1": (MONDAY, TUESDAY), "van-2": (MONDAY, TUESDAY), "van-3": (WEDNESDAY,)}
        for van, days in shifts.items():
            r = api.post("/v1/vans", json={"id": van, "name": f"Mobiles Büro {van[-1]}"})
            assert r.status_code == 201, r.text
            for day in days:
                body = {"start": _at(day, "08:00"), "end": _at(day, "16:00")}
                r = api.post(f"/v1/vans/{van}/shifts", json=body)
                assert r.status_code == 201, r.text
        for client, lon, lat, day, (a, b) in CLIENTS:
            body = {"id": client, "name": f"Klient {client}", "location": [lon, lat]}
            assert api.post("/v1/clients", json=body).status_code == 201
            visit = {
                "id": f"v-{client}",
                "client_id": client,
                "duration_minutes": 45,
                "windows": [{"start": _at(day, a), "end": _at(day, b)}],
            }
            r = api.post("/v1/visits", json=visit)
            assert r.status_code == 201, r.text
        body = {"id": "oc9", "name": "Klient oc9", "location": [8.9937, 49.6567]}
        assert api.post("/v1/clients", json=body).status_code == 201
        r = api.post(f"/v1/weeks/{WEEK}/plan", json={"seed": 1, "time_limit_seconds": 2})
        assert r.status_code == 201, r.text
    return token


def test_overview_timeline_idle_day_and_a_booked_offer(
    server: Server, browser: Any, dispatcher: str, artifacts: Path
) -> None:
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/login")
    page.fill("#token", dispatcher)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{server.url}/dispatcher?week={WEEK}")

    # The overview at the top: counts and the utilisation of every van-day, the idle one at 0 %.
    overview = page.locator("#overview")
    assert overview.is_visible() and "Wochenüberblick" in overview.inner_text()
    assert page.inner_text("#ov-planned") == "4" and page.inner_text("#ov-unassigned") == "0"
    idle_days = int(page.inner_text("#ov-idle"))  # van-3's Wednesday, and maybe more
    assert idle_days >= 1 and page.locator("td.load.idle").count() == idle_days
    idle_cell = page.locator(f"td.load.idle[data-van=van-3][data-date='{WEDNESDAY}']")
    assert idle_cell.is_visible() and idle_cell.get_attribute("data-utilisation") == "0"
    assert page.locator("#utilisation td.load").count() == 5
    assert "Mobiles Büro 3" in page.inner_text("#utilisation")

    # The timeline: a row per van-day by the van's name, the idle day shown with its shift.
    rows = page.locator(".tl-row[data-van]")
    assert rows.count() == 5
    assert page.locator(".tl-row.idle").count() == idle_days
    idle_row = page.locator(f".tl-row.idle[data-van=van-3][data-date='{WEDNESDAY}']")
    assert idle_row.is_visible()
    assert "Mobiles Büro 3 · Mi. 16.12." in idle_row.inner_text()
    assert "ohne Besuche: 08:00–16:00 frei" in idle_row.inner_text()
    assert idle_row.locator(".shift").is_visible()
    labels = page.locator(".tl-row[data-van] .tl-label").all_inner_texts()
    assert all("Mobiles Büro" in text for text in labels)
    assert page.locator(".block.appointment").count() == 4
    assert page.locator(".block.drive").count() >= 4
    page.locator("#timeline-card").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "dispatcher-overview.png"), full_page=True)

    # A slot for client oc9, 30 minutes, on Tuesday: the best offers, then book the first.
    form = page.locator("#offer-form")
    form.locator("select[name=client_id]").select_option("oc9")
    form.locator("input[name=duration_minutes]").fill("30")
    form.locator(f"input[name=dates][value='{TUESDAY}']").check()
    page.click("#offer-submit")
    page.wait_for_selector("#offer-list")
    offers = page.locator("#offer-list tbody tr")
    assert offers.count() >= 1
    first = offers.first
    assert first.get_attribute("data-date") == TUESDAY
    assert "Di. 15.12." in first.inner_text() and "Mobiles Büro" in first.inner_text()
    van = first.get_attribute("data-van")
    page.locator("#offers").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "dispatcher-offers.png"), full_page=True)
    first.locator("button[type=submit]").click()
    page.wait_for_selector("#offer-booked")
    assert "gebucht" in page.inner_text("#offer-booked")
    booked = page.locator(f".tl-row[data-van={van}][data-date='{TUESDAY}'] .block.booked")
    assert booked.count() == 1 and booked.is_visible()
    assert page.inner_text("#ov-planned") == "5"
    assert "Version 2 · Entwurf" in page.inner_text("#plan-status")
    page.screenshot(path=str(artifacts / "dispatcher-offer-booked.png"), full_page=True)
    assert errors == []
    context.close()
