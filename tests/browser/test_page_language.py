"""The pages in German whatever the browser, in Chromium: refusals the week page's script gets
from the JSON API (a pin to an impossible van-day, a publish of a version published meanwhile)
are shown in the page's language; day and time fields take and show ``TT.MM.JJJJ`` and 24 h
times with an English-speaking browser; a visit window past midnight is entered on the visits
page; and every dispatcher and crew page fits a phone (390x844: no sideways scrolling, no
control too small to read or tap). Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.auth import Role, create_token
from api.settings import Settings
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEEK = "2026-W50"
MONDAY, TUESDAY = "2026-12-07", "2026-12-08"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
BERLIN = ZoneInfo("Europe/Berlin")
CLIENTS = [
    # id, lon, lat, day of the visit's only window
    ("s1", 9.0036, 49.6786, MONDAY),
    ("s2", 9.0067, 49.7414, MONDAY),
    ("s3", 8.9756, 49.5700, TUESDAY),
]


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {"VANPLAN_TEST_NOW": f"{MONDAY}T07:30:00+01:00"}


@pytest.fixture(scope="module")
def week(server: Server) -> Iterator[dict[str, Any]]:
    """One van on Monday and Tuesday, three visits each with a window on one day, planned as
    a draft (version 1, not published); tokens for both roles."""
    settings = Settings(database_url=server.database_url)
    dispatcher = create_token(Role.DISPATCHER, name="d", settings=settings).secret
    auth = {"Authorization": f"Bearer {dispatcher}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=120) as api:
        r = api.post("/v1/vans", json={"id": "van-1", "name": "Mobiles Büro 1"})
        assert r.status_code == 201, r.text
        for day in (MONDAY, TUESDAY):
            shift = {"start": f"{day}T08:00:00+01:00", "end": f"{day}T16:00:00+01:00"}
            assert api.post("/v1/vans/van-1/shifts", json=shift).status_code == 201
        for cid, lon, lat, day in CLIENTS:
            client = {"id": cid, "name": f"Kundin {cid}", "location": [lon, lat]}
            assert api.post("/v1/clients", json=client).status_code == 201
            visit = {
                "id": f"v-{cid}",
                "client_id": cid,
                "duration_minutes": 45,
                "windows": [{"start": f"{day}T09:00:00+01:00", "end": f"{day}T15:00:00+01:00"}],
            }
            r = api.post("/v1/visits", json=visit)
            assert r.status_code == 201, r.text
        r = api.post(f"/v1/weeks/{WEEK}/plan", json={"seed": 1, "time_limit_seconds": 2})
        assert r.status_code == 201, r.text
        plan = r.json()
    crew = create_token(Role.CREW, name="crew", van_id="van-1", settings=settings).secret
    yield {"dispatcher": dispatcher, "crew": crew, "plan": plan, "auth": auth}


def _login(page: Any, server: Server, token: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")


def _refusal(page: Any) -> str:
    page.wait_for_selector("#progress.error")
    return str(page.inner_text("#progress"))


def test_refused_pin_and_publish_are_shown_in_the_pages_language(
    server: Server, browser: Any, artifacts: Path, week: dict[str, Any]
) -> None:
    plan_id = week["plan"]["id"]
    errors: list[str] = []
    context = browser.new_context(viewport=DESKTOP, locale="de-DE")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, server, week["dispatcher"])
    page.goto(f"{server.url}/dispatcher?week={WEEK}&plan={plan_id}")
    assert page.get_attribute("html", "lang") == "de"

    # s1's only window is on Monday: a pin to Tuesday is refused by the API (422, reason
    # pin_outside_windows); the page says why in German and keeps the select as it was.
    select = page.locator("select.pin-to[data-visit=v-s1]")
    select.select_option(f"van-1|{TUESDAY}")
    text = _refusal(page)
    assert text == (
        "Fixierung nicht gespeichert: der Tag liegt außerhalb aller Zeitfenster des Besuchs"
    )
    assert "outside all the visit's time windows" in page.get_attribute("#progress", "title")
    assert select.input_value() == ""
    page.screenshot(path=str(artifacts / "dispatcher-pin-refused-de.png"), full_page=True)

    # Published meanwhile (another dispatcher, here the API): Publish on the stale page is
    # refused (409) and the page says so in German.
    with httpx.Client(base_url=server.url, headers=week["auth"], timeout=60) as api:
        assert api.post(f"/v1/plans/{plan_id}/publish").status_code == 200
    page.click("#publish")
    text = _refusal(page)
    assert text == (
        "Nicht veröffentlicht: Die Änderung widerspricht den gespeicherten Daten; "
        "laden Sie die Seite neu."
    )
    assert "already published" in page.get_attribute("#progress", "title")
    page.screenshot(path=str(artifacts / "dispatcher-publish-refused-de.png"), full_page=True)

    # The same mechanism in English on the English page.
    page.goto(f"{server.url}/dispatcher?week={WEEK}&plan={plan_id}&lang=en")
    page.locator("select.pin-to[data-visit=v-s1]").select_option(f"van-1|{TUESDAY}")
    assert _refusal(page) == "Pin not saved: the day lies outside all the visit's time windows"
    assert errors == []
    context.close()


def test_german_days_and_times_and_a_window_past_midnight(
    server: Server, browser: Any, artifacts: Path, week: dict[str, Any]
) -> None:
    # A browser set to American English (where date inputs show mm/dd/yyyy) on the German
    # pages: the fields still show and take the German spelling.
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    _login(page, server, week["dispatcher"])

    page.goto(f"{server.url}/dispatcher?week={WEEK}&lang=de")
    assert page.get_attribute("html", "lang") == "de"
    day = page.locator(".fleet-van[data-van=van-1] tr[data-shift] input[name=day]").first
    assert day.get_attribute("type") == "text"
    assert day.input_value() == "07.12.2026"
    assert day.get_attribute("placeholder") == "TT.MM.JJJJ"

    page.goto(f"{server.url}/dispatcher/visits?week={WEEK}")
    form = page.locator("#add-visit")
    assert form.locator("input[name=window_day]").first.get_attribute("placeholder") == (
        "TT.MM.JJJJ"
    )
    hint = page.inner_text("#add-visit .window-hint")
    assert "Ein Ende vor dem Beginn liegt am nächsten Tag" in hint
    form.locator("input[name=visit_id]").fill("v-night")
    form.locator("select[name=client_id]").select_option("s1")
    form.locator("input[name=duration_minutes]").fill("60")
    form.locator("input[name=window_day]").first.fill("8.12.2026")
    form.locator("input[name=window_start]").first.fill("22:00")
    form.locator("input[name=window_end]").first.fill("2:00")
    form.locator("input[name=pinned_date]").fill("")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "Besuch v-night gespeichert." in page.inner_text("#record-saved")
    saved = page.locator("#visit-v-night form")
    assert saved.locator("input[name=window_day]").first.input_value() == "08.12.2026"
    assert saved.locator("input[name=window_start]").first.input_value() == "22:00"
    assert saved.locator("input[name=window_end]").first.input_value() == "02:00"
    page.screenshot(path=str(artifacts / "visits-window-past-midnight.png"), full_page=True)

    # Stored as ending on the next day.
    with httpx.Client(base_url=server.url, headers=week["auth"], timeout=60) as api:
        window = api.get("/v1/visits/v-night").json()["windows"][0]
        assert api.delete("/v1/visits/v-night").status_code == 204
    assert datetime.fromisoformat(window["start"]) == datetime(2026, 12, 8, 22, tzinfo=BERLIN)
    assert datetime.fromisoformat(window["end"]) == datetime(2026, 12, 9, 2, tzinfo=BERLIN)

    # A pinned day typed the German way is read as such.
    page.goto(f"{server.url}/dispatcher/visits?week={WEEK}")
    edit = page.locator("#visit-v-s3 form.visit-form")
    page.locator("#visit-v-s3 summary").click()
    edit.locator("input[name=pinned_date]").fill("08.12.2026")
    edit.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "Besuch v-s3 gespeichert." in page.inner_text("#record-saved")
    assert page.locator("#visit-v-s3 input[name=pinned_date]").input_value() == "08.12.2026"
    context.close()


# Every page a dispatcher or a crew member opens, by role.
def _pages(plan_id: str) -> list[tuple[str, str, str]]:
    return [
        ("dispatcher", "week", f"/dispatcher?week={WEEK}"),
        ("dispatcher", "week-plan", f"/dispatcher?week={WEEK}&plan={plan_id}"),
        ("dispatcher", "week-map", f"/dispatcher/map?plan={plan_id}"),
        ("dispatcher", "clients", "/dispatcher/clients"),
        ("dispatcher", "visits-week", f"/dispatcher/visits?week={WEEK}"),
        ("dispatcher", "visits-all", "/dispatcher/visits"),
        ("crew", "crew-start", "/crew/van-1"),
        ("crew", "crew-day", f"/crew/van-1/{MONDAY}"),
        ("crew", "crew-day-2", f"/crew/van-1/{TUESDAY}"),
        ("crew", "crew-map", f"/crew/van-1/{MONDAY}/map"),
    ]


# Controls too small to read or tap on a phone: visible inputs, selects, buttons and links
# inside forms and navigation whose text is under 12 px or whose box is under 24 px high.
_SMALL_CONTROLS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, button, textarea, nav a, .actions a, a.button'))
  .filter(e => e.offsetParent !== null)
  .map(e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return {tag: e.tagName, name: e.name || e.id || e.textContent.trim().slice(0, 30),
            font: parseFloat(s.fontSize), h: r.height, right: r.right}; })
  .filter(c => c.font < 12 || (c.h > 0 && c.h < 24)
    || c.right > document.documentElement.clientWidth + 0.5)"""


# The innermost elements reaching past the viewport's right edge (to name what overflows).
_WIDE = """() => { const w = document.documentElement.clientWidth;
  const out = e => e.getBoundingClientRect().right > w + 0.5;
  return Array.from(document.querySelectorAll('body *'))
    .filter(e => out(e) && !Array.from(e.children).some(out))
    .slice(0, 8).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className); }"""


def test_every_page_fits_a_phone(
    server: Server, browser: Any, artifacts: Path, week: dict[str, Any]
) -> None:
    plan_id = week["plan"]["id"]
    with httpx.Client(base_url=server.url, headers=week["auth"], timeout=60) as api:
        # the crew pages show published plans (409: published by the first test already)
        assert api.post(f"/v1/plans/{plan_id}/publish").status_code in (200, 409)
    problems: list[str] = []
    for role in ("dispatcher", "crew"):
        context = browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="de-DE"
        )
        page = context.new_page()
        _login(page, server, week[role])
        for who, name, path in _pages(plan_id):
            if who != role:
                continue
            response = page.goto(f"{server.url}{path}")
            page.wait_for_load_state("networkidle")
            assert response is not None and response.ok, (path, response and response.status)
            page.screenshot(path=str(artifacts / f"phone-{name}.png"), full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                wide = page.evaluate(_WIDE)
                problems.append(f"{path}: {overflow} px wider than the phone: {wide}")
            for control in page.evaluate(_SMALL_CONTROLS):
                problems.append(f"{path}: {control}")
        context.close()
    assert problems == [], "\n".join(problems)
