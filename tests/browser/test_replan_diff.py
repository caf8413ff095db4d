"""Re-plan diff in a real browser: a published week is re-planned after a cancellation and a new
pin; the draft's page lists what changes against the published version before the Publish button,
and publishing asks for confirmation first (Cancel keeps the draft, Yes publishes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import Role, create_token
from api.settings import Settings
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEEK = "2026-W50"  # Monday 2026-12-07
MONDAY, TUESDAY = "2026-12-07", "2026-12-08"
CLIENTS = [
    # client, lon, lat, visit day
    ("rc1", 9.0036, 49.6786, MONDAY),
    ("rc2", 9.0067, 49.7414, MONDAY),
    ("rc3", 8.9756, 49.5700, TUESDAY),
    ("rc4", 8.9944, 49.7986, TUESDAY),
    ("rc5", 8.8390, 49.7121, MONDAY),
]


def _at(day: str, hhmm: str) -> str:
    return f"{day}T{hhmm}:00+01:00"


@pytest.fixture(scope="module")
def week(server: Server) -> dict[str, Any]:
    """Two vans on Monday and Tuesday, five visits; version 1 planned, one visit confirmed and
    published. Then rc2's visit is cancelled and rc4's pinned to the other van: version 2."""
    settings = Settings(database_url=server.database_url)
    token = create_token(Role.DISPATCHER, name="replan-diff", settings=settings).secret
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as api:
        for van in ("van-1", "van-2"):
            r = api.post("/v1/vans", json={"id": van, "name": f"Mobiles Büro {van[-1]}"})
            assert r.status_code == 201, r.text
            for day in (MONDAY, TUESDAY):
                body = {"start": _at(day, "08:00"), "end": _at(day, "16:00")}
                assert api.post(f"/v1/vans/{van}/shifts", json=body).status_code == 201
        for client, lon, lat, day in CLIENTS:
            body = {"id": client, "name": f"Klient {client}", "location": [lon, lat]}
            assert api.post("/v1/clients", json=body).status_code == 201
            visit = {
                "id": f"v-{client}",
                "client_id": client,
                "duration_minutes": 45,
                "windows": [{"start": _at(day, "09:00"), "end": _at(day, "15:00")}],
            }
            assert api.post("/v1/visits", json=visit).status_code == 201
        r = api.post(f"/v1/weeks/{WEEK}/plan", json={"seed": 1, "time_limit_seconds": 2})
        assert r.status_code == 201, r.text
        v1 = r.json()
        where = {
            s["visit_id"]: r["van_id"]
            for r in v1["plan"]["routes"]
            for s in r["steps"]
            if s["visit_id"]
        }
        r = api.put(f"/v1/plans/{v1['id']}/confirmed", json={"visit_ids": ["v-rc1"]})
        assert r.status_code == 200, r.text
        assert api.post(f"/v1/plans/{v1['id']}/publish").status_code == 200
        assert api.patch("/v1/visits/v-rc2", json={"status": "cancelled"}).status_code == 200
        other = "van-2" if where["v-rc4"] == "van-1" else "van-1"
        pin = {"pinned_van_id": other, "pinned_date": TUESDAY}
        r = api.patch("/v1/visits/v-rc4", json=pin)
        assert r.status_code == 200, r.text
        r = api.post(f"/v1/weeks/{WEEK}/replan", json={"seed": 1, "time_limit_seconds": 2})
        assert r.status_code == 201, r.text
        v2 = r.json()
    return {"token": token, "v1": v1, "v2": v2}


def test_the_draft_shows_its_changes_and_publishing_asks_first(
    server: Server, browser: Any, week: dict[str, Any], artifacts: Path
) -> None:
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/login")
    page.fill("#token", week["token"])
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    v2 = week["v2"]
    page.goto(f"{server.url}/dispatcher?week={WEEK}&plan={v2['id']}")

    # The changes against the published version 1, above the Publish button.
    changes = page.locator("#plan-changes")
    assert changes.is_visible()
    assert "Änderungen gegenüber der veröffentlichten Version 1" in changes.inner_text()
    dropped = page.locator("#plan-changes-table tr[data-visit=v-rc2]")
    assert dropped.get_attribute("data-kind") == "dropped"
    text = dropped.inner_text()
    assert "entfällt" in text and "nicht mehr Teil der Woche" in text
    moved = page.locator("#plan-changes-table tr[data-visit=v-rc4]")
    assert moved.get_attribute("data-kind") == "moved" and "verschoben" in moved.inner_text()
    summary = page.inner_text("#plan-changes-summary")
    assert "verschoben" in summary and "entfällt" in summary
    diff = v2["published_diff"]
    rows = page.locator("#plan-changes-table tbody tr")
    expected = sum(len(diff[k]) for k in ("moved", "retimed", "added", "dropped"))
    assert rows.count() == expected
    box = changes.bounding_box()
    button = page.locator("#publish").bounding_box()
    assert box is not None and button is not None and box["y"] < button["y"]
    page.screenshot(path=str(artifacts / "dispatcher-replan-diff.png"), full_page=True)

    # Publish asks first; Cancel publishes nothing.
    page.click("#publish")
    confirm = page.locator("#publish-confirm")
    confirm.wait_for(state="visible")
    count = diff["published_changed"]
    assert f"{count} veröffentlichte Besuche ändern sich" in confirm.inner_text()
    page.screenshot(path=str(artifacts / "dispatcher-publish-confirm.png"), full_page=True)
    assert page.locator("#publish").is_hidden() and page.locator("#stop-plan").is_hidden()
    page.click("#publish-confirm-no")
    assert confirm.is_hidden() and page.inner_text("#progress") == "Nicht veröffentlicht"
    with httpx.Client(base_url=server.url, timeout=30) as api:
        auth = {"Authorization": f"Bearer {week['token']}"}
        state = api.get(f"/v1/plans/{v2['id']}", headers=auth).json()["status"]
    assert state == "draft"

    # Yes publishes with accept_changes=true; the page reloads showing the published version.
    page.click("#publish")
    confirm.wait_for(state="visible")
    page.click("#publish-confirm-yes")
    page.wait_for_function(
        "document.querySelector('#plan-status') && "
        "document.querySelector('#plan-status').innerText.includes('veröffentlicht')"
    )
    assert page.locator("#publish").count() == 0 and page.locator("#plan-changes").count() == 0
    page.screenshot(path=str(artifacts / "dispatcher-published-changes.png"), full_page=True)
    assert errors == []
    context.close()
