"""The whole flow in a real browser: upload, plan, view, publish, crew view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import Role, create_token
from api.imports import COLUMNS
from api.settings import Settings
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEEK = "2026-W49"  # Monday 2026-11-30
MONDAY = "2026-11-30"
TUESDAY = "2026-12-01"
APPOINTMENTS = [
    # visit, client, name, lon, lat, minutes, window start, window end
    ("b1", "bc1", "Anna Arnold", 9.0036, 49.6786, 45, f"{MONDAY} 09:00", f"{MONDAY} 11:00"),
    ("b2", "bc2", "Bert Bauer", 9.0067, 49.7414, 30, "", ""),
    ("b3", "bc3", "Carla Christ", 8.9756, 49.5700, 60, f"{TUESDAY} 10:00", f"{TUESDAY} 13:00"),
    ("b4", "bc4", "Dieter Dorn", 8.9944, 49.7986, 30, "", ""),
    ("b5", "bc5", "Emma Ernst", 8.8375, 49.7125, 45, "", ""),
]


def _csv(rows: list[tuple[Any, ...]]) -> str:
    lines = [",".join(COLUMNS)]
    for visit, client, name, lon, lat, minutes, ws, we in rows:
        values = {
            "visit_id": visit,
            "client_id": client,
            "client_name": name,
            "lon": str(lon),
            "lat": str(lat),
            "duration_minutes": str(minutes),
            "window_start": ws,
            "window_end": we,
            "notes": f"Notes for {name}",
        }
        lines.append(",".join(values.get(c, "") for c in COLUMNS))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, str]:
    settings = Settings(database_url=server.database_url)
    dispatcher = create_token(Role.DISPATCHER, name="browser", settings=settings).secret
    auth = {"Authorization": f"Bearer {dispatcher}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as api:
        for van in ("van-1", "van-2"):
            r = api.post("/v1/vans", json={"id": van, "name": f"Mobiles Büro {van[-1]}"})
            assert r.status_code == 201, r.text
            for day in (MONDAY, TUESDAY):
                r = api.post(
                    f"/v1/vans/{van}/shifts",
                    json={"start": f"{day}T08:00:00+01:00", "end": f"{day}T16:00:00+01:00"},
                )
                assert r.status_code == 201, r.text
    crew = create_token(Role.CREW, name="crew", van_id="van-1", settings=settings).secret
    return {"dispatcher": dispatcher, "crew": crew}


def _login(page: Any, server: Server, token: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_upload_plan_publish_and_crew_view(
    server: Server, browser: Any, tokens: dict[str, str], artifacts: Path, tmp_path: Path
) -> None:
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))

    _login(page, server, tokens["dispatcher"])
    assert page.url.endswith("/dispatcher")
    page.goto(f"{server.url}/dispatcher?week={WEEK}")
    assert page.locator("#no-plan").is_visible()

    # Upload: a bad file first (row-level errors), then the good one.
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv([("x1", "xc1", "", 9.0, 49.7, 0, "", "")]), encoding="utf-8")
    page.set_input_files("#upload-file", str(bad))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-errors")
    text = page.inner_text("#upload-errors")
    assert "Zeile 2, duration_minutes: muss 1..600 sein, erhalten: 0" in text
    page.screenshot(path=str(artifacts / "dispatcher-upload-errors.png"), full_page=True)

    good = tmp_path / "appointments.csv"
    good.write_text(_csv(APPOINTMENTS), encoding="utf-8")
    page.set_input_files("#upload-file", str(good))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-ok")
    assert "5 Termine gelesen: 5 neu, 0 geändert, 0 unverändert" in page.inner_text("#upload-ok")

    # The same file again, one window in German spelling moved: nothing is duplicated, the
    # summary says what changed. Then the original file puts the window back.
    changed = [*APPOINTMENTS]
    changed[0] = (*APPOINTMENTS[0][:6], "30.11.2026 9:30", "30.11.2026 11:30")
    again = tmp_path / "appointments-again.csv"
    again.write_text(_csv(changed), encoding="utf-8")
    page.set_input_files("#upload-file", str(again))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-ok")
    assert "5 Termine gelesen: 0 neu, 1 geändert, 4 unverändert" in page.inner_text("#upload-ok")
    assert page.locator("#upload-errors").count() == 0
    page.screenshot(path=str(artifacts / "dispatcher-upload-again.png"), full_page=True)
    page.set_input_files("#upload-file", str(good))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-ok")
    assert "0 neu, 1 geändert, 4 unverändert" in page.inner_text("#upload-ok")

    # Plan: a job; the page shows its real progress (share of the time limit, solutions, best
    # cost) and a stop button, then opens the new draft. No Stop button while nothing runs.
    assert page.locator("#stop-plan").is_hidden()
    page.click("#run-plan")
    page.wait_for_function(
        "document.querySelector('#progress').innerText.includes('beste Kosten')", timeout=20000
    )
    assert page.locator("#stop-plan").is_visible()
    assert page.locator("#plan-progress").is_visible()
    status_text = page.inner_text("#progress")
    assert "Planung läuft…" in status_text and "Lösung" in status_text
    page.screenshot(path=str(artifacts / "dispatcher-planning.png"), full_page=True)
    page.wait_for_selector("#timeline", timeout=60000)
    assert "Version 1 · Entwurf" in page.inner_text("#plan-status")
    rows = page.locator(".tl-row[data-van]")
    assert rows.count() >= 2
    assert page.locator(".block").count() >= 5
    # The week map (inside its iframe) drew routes without tiles.
    frame = page.frame_locator("#week-map")
    frame.locator("path.leaflet-interactive").first.wait_for(timeout=15000)
    # One day at a time: the day switcher's days together show the five visits.
    shown = 0
    for button in frame.locator("#vp-days button.vp-day").all():
        button.click()
        shown += frame.locator(".vp-num").count()
    assert shown == 5
    assert frame.locator(".leaflet-tile").count() == 0
    page.screenshot(path=str(artifacts / "dispatcher-week.png"), full_page=True)

    # Pin b2 (no time window) to another van-day with its select; confirm another visit with
    # its pin button. The pin is stored on the visit: it survives a reload.
    b2 = page.locator("#assigned tr[data-visit=b2]")
    was = (b2.locator("td").nth(1).inner_text(), b2.locator("td").nth(2).inner_text())
    select = b2.locator("select.pin-to")
    target = next(
        o
        for o in select.locator("option").all()
        if o.get_attribute("value") and tuple(o.inner_text().split(" · ")) != was
    )
    target_value, target_label = target.get_attribute("value"), target.inner_text()
    select.select_option(target_value)
    page.wait_for_function(
        "document.querySelector('#progress').innerText.includes('b2 fixiert auf')"
    )
    other_pin = page.locator("#assigned tr:not([data-visit=b2]) button.pin").first
    confirmed_visit = other_pin.get_attribute("data-visit")
    other_pin.click()
    page.wait_for_selector(f"button.pin[data-visit={confirmed_visit}][data-pinned=yes]")
    page.reload()
    assert page.locator("#assigned tr[data-visit=b2] select.pin-to").input_value() == target_value

    # Re-plan (also a job): version 2 has b2 on the chosen van-day.
    page.click("#run-plan")
    page.wait_for_function(
        "document.querySelector('#plan-status') && "
        "document.querySelector('#plan-status').innerText.includes('Version 2')",
        timeout=60000,
    )
    b2 = page.locator("#assigned tr[data-visit=b2]")
    now = f"{b2.locator('td').nth(1).inner_text()} · {b2.locator('td').nth(2).inner_text()}"
    assert now == target_label
    confirmed_row = page.locator(f"#assigned tr[data-visit={confirmed_visit}]")
    assert confirmed_row.locator("button.pin").get_attribute("data-pinned") == "yes"
    page.screenshot(path=str(artifacts / "dispatcher-replanned.png"), full_page=True)
    page.click("#publish")
    page.wait_for_function(
        "document.querySelector('#plan-status').innerText.includes('veröffentlicht')"
    )
    assert page.locator("#publish").count() == 0
    page.screenshot(path=str(artifacts / "dispatcher-published.png"), full_page=True)
    assert errors == []
    context.close()

    # Crew: phone-sized, own van only, published plan.
    crew_ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, accept_downloads=True, locale="de-DE"
    )
    crew = crew_ctx.new_page()
    crew.on("pageerror", lambda e: errors.append(str(e)))
    _login(crew, server, tokens["crew"])
    crew.goto(f"{server.url}/crew/van-1/{MONDAY}")
    stops = crew.locator("li.stop")
    if stops.count() == 0:  # van-1 may only work on Tuesday in this plan
        crew.goto(f"{server.url}/crew/van-1/{TUESDAY}")
    assert crew.locator("li.stop").count() >= 1
    first = crew.locator("li.stop").first
    assert first.locator(".num").inner_text() == "1"
    assert first.locator("a[href^='geo:']").count() == 1
    assert "Notes for" in first.inner_text()
    assert "Klient bc" in first.inner_text()  # pseudonym by default, not the name
    assert "bei " in first.locator(".place").inner_text()  # a village, not an internal id
    crew_frame = crew.frame_locator("#crew-map")
    crew_frame.locator("path.leaflet-interactive").first.wait_for(timeout=15000)
    crew.screenshot(path=str(artifacts / "crew-day.png"), full_page=True)
    with crew.expect_download() as dl:
        crew.click("#dl-ics")
    ics = Path(dl.value.path()).read_bytes()
    assert ics.startswith(b"BEGIN:VCALENDAR") and b"BEGIN:VEVENT" in ics
    # Another van's page is refused.
    resp = crew.goto(f"{server.url}/crew/van-2/{MONDAY}")
    assert resp is not None and resp.status == 403
    assert errors == []
    crew_ctx.close()
