"""Clients and visits created, edited and deleted in the dispatcher pages alone (no API call by
the test for them), German first, in Chromium: on a desktop and on a phone (390x844, no
sideways scrolling); the client's phone number then reaches the crew's stop card as a tel: link.
The Stop button of the week page stays hidden while nothing runs. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

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
MONDAY_DE = "07.12.2026"  # as typed into the day fields
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _login(page: Any, server: Server, token: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")


def _token(server: Server, role: Role, van_id: str | None = None) -> str:
    settings = Settings(database_url=server.database_url)
    return create_token(role, name=f"browser {role}", van_id=van_id, settings=settings).secret


def _submit(form: Any) -> None:
    form.locator("button[type=submit]").click()
    form.page.wait_for_load_state("networkidle")


def _fill_client(form: Any, **fields: str) -> None:
    for name, value in fields.items():
        if name == "notes":
            form.locator("textarea[name=notes]").fill(value)
        elif name == "preferred_van_id":
            form.locator("select[name=preferred_van_id]").select_option(value)
        else:
            form.locator(f"input[name={name}]").fill(value)


def _overflow(page: Any) -> int:
    """How far the page is wider than the viewport (0: no sideways scrolling)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def test_clients_and_visits_from_the_pages(server: Server, browser: Any, artifacts: Path) -> None:
    dispatcher = _token(server, Role.DISPATCHER)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {dispatcher}"}, timeout=120
    ) as api:  # the fleet only (tested in test_fleet.py): a van with a Monday shift
        assert api.post("/v1/vans", json={"id": "van-1", "name": "Mobiles Büro 1"}).is_success
        shift = {"start": f"{MONDAY}T08:00:00+01:00", "end": f"{MONDAY}T16:00:00+01:00"}
        assert api.post("/v1/vans/van-1/shifts", json=shift).is_success

    errors: list[str] = []
    context = browser.new_context(viewport=DESKTOP, locale="de-DE")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())  # "Klient ... löschen?"
    _login(page, server, dispatcher)
    page.goto(f"{server.url}/dispatcher?week={WEEK}")
    assert page.locator("#stop-plan").is_hidden()  # nothing runs: no Stop button
    page.click("#nav-clients")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Klienten"
    assert page.locator("#no-clients").is_visible()

    # A refused client: every problem in German, naming its field; the form keeps the input.
    form = page.locator("#add-client")
    _fill_client(form, client_id="k 1", name="Erika Mustermann", phone="ruf an", lon="9,0036")
    _submit(form)
    problems = page.inner_text("#record-errors")
    assert "Kennung: nur Buchstaben, Ziffern" in problems
    assert "Telefon: eine Telefonnummer" in problems
    assert "Position (Länge, Breite): Länge und Breite beide angeben oder keine" in problems
    assert page.locator("#add-client input[name=name]").input_value() == "Erika Mustermann"
    page.screenshot(path=str(artifacts / "dispatcher-client-errors.png"), full_page=True)

    # Fixed, saved; a second client.
    form = page.locator("#add-client")
    _fill_client(form, client_id="k1", phone="06062 / 123456", lat="49.6786", notes="Klingeln")
    _submit(form)
    assert "Klient k1 gespeichert." in page.inner_text("#record-saved")
    form = page.locator("#add-client")
    _fill_client(form, client_id="k2", name="Max Muster", lon="9.0067", lat="49.7414")
    _submit(form)
    assert page.locator("details.record").count() == 2

    # Edit k1: another phone number, the preferred van.
    record = page.locator("#client-k1")
    record.locator("summary").click()
    edit = record.locator("form.client-form")
    _fill_client(edit, phone="+49 6062 70-0", preferred_van_id="van-1")
    _submit(edit)
    record = page.locator("#client-k1")
    assert "+49 6062 70-0" in record.locator("summary").inner_text()
    assert record.locator("select[name=preferred_van_id]").input_value() == "van-1"
    page.screenshot(path=str(artifacts / "dispatcher-clients.png"), full_page=True)

    # Visits: a refused one (window shorter than the visit), then two good ones.
    page.click("#nav-visits")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("Besuche")
    form = page.locator("#add-visit")
    form.locator("input[name=visit_id]").fill("b1")
    form.locator("select[name=client_id]").select_option("k1")
    form.locator("input[name=duration_minutes]").fill("90")
    form.locator("input[name=window_day]").nth(0).fill(MONDAY_DE)
    form.locator("input[name=window_start]").nth(0).fill("09:00")
    form.locator("input[name=window_end]").nth(0).fill("10:00")
    _submit(form)
    assert "so lang wie die Dauer" in page.inner_text("#record-errors")
    form = page.locator("#add-visit")
    assert form.locator("input[name=window_end]").nth(0).input_value() == "10:00"
    form.locator("input[name=duration_minutes]").fill("45")
    _submit(form)
    assert "Besuch b1 gespeichert." in page.inner_text("#record-saved")
    form = page.locator("#add-visit")
    form.locator("input[name=visit_id]").fill("b2")
    form.locator("select[name=client_id]").select_option("k2")
    form.locator("input[name=duration_minutes]").fill("30")
    _submit(form)
    assert page.locator("details.record").count() == 2
    summary = page.locator("#visit-b1 summary").inner_text()
    assert "Erika Mustermann" in summary and "Mo. 07.12. 09:00–10:00" in summary
    assert "jederzeit" in page.locator("#visit-b2 summary").inner_text()

    # Edit b1: a wider window; delete b2.
    page.locator("#visit-b1 summary").click()
    edit = page.locator("#visit-b1 form.visit-form")
    edit.locator("input[name=window_end]").nth(0).fill("12:00")
    _submit(edit)
    assert "09:00–12:00" in page.locator("#visit-b1 summary").inner_text()
    page.locator("#visit-b2 summary").click()
    page.locator("#visit-b2 form.delete-form button").click()
    page.wait_for_load_state("networkidle")
    assert "Besuch b2 gelöscht." in page.inner_text("#record-deleted")
    assert page.locator("#visit-b2").count() == 0
    page.screenshot(path=str(artifacts / "dispatcher-visits.png"), full_page=True)

    # A client with visits is not deleted (the reason in German); k2 without visits is.
    page.click("#nav-clients")
    page.wait_for_load_state("networkidle")
    page.locator("#client-k1 summary").click()
    page.locator("#client-k1 form.delete-form button").click()
    page.wait_for_load_state("networkidle")
    assert "hat Besuche: zuerst diese löschen" in page.inner_text("#record-errors")
    page.locator("#client-k2 summary").click()
    page.locator("#client-k2 form.delete-form button").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#client-k2").count() == 0
    assert errors == []
    context.close()

    # On a phone: both pages and an open record fit the width; a visit is added there.
    phone = browser.new_context(viewport=PHONE, locale="de-DE", is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, server, dispatcher)
    page.goto(f"{server.url}/dispatcher/clients")
    page.locator("#client-k1 summary").click()
    assert _overflow(page) == 0
    page.screenshot(path=str(artifacts / "phone-clients.png"), full_page=True)
    page.goto(f"{server.url}/dispatcher/visits?week={WEEK}")
    form = page.locator("#add-visit")
    form.locator("input[name=visit_id]").fill("b3")
    form.locator("select[name=client_id]").select_option("k1")
    form.locator("input[name=duration_minutes]").fill("30")
    form.locator("input[name=window_day]").nth(0).fill(MONDAY_DE)
    form.locator("input[name=window_start]").nth(0).fill("13:00")
    form.locator("input[name=window_end]").nth(0).fill("15:00")
    _submit(form)
    assert "Besuch b3 gespeichert." in page.inner_text("#record-saved")
    assert page.locator("#visit-b3[open]").count() == 1
    assert _overflow(page) == 0
    page.screenshot(path=str(artifacts / "phone-visits.png"), full_page=True)
    # A window over several days (an end day): Tuesday 14:00 to Thursday 11:00 (no shift
    # there: b4 stays unassigned and off the crew's Monday below).
    form = page.locator("#add-visit")
    form.locator("input[name=visit_id]").fill("b4")
    form.locator("select[name=client_id]").select_option("k1")
    form.locator("input[name=duration_minutes]").fill("30")
    form.locator("input[name=window_day]").nth(0).fill("08.12.2026")
    form.locator("input[name=window_start]").nth(0).fill("14:00")
    form.locator("input[name=window_end]").nth(0).fill("11:00")
    form.locator("input[name=window_end_day]").nth(0).fill("10.12.2026")
    _submit(form)
    assert "Besuch b4 gespeichert." in page.inner_text("#record-saved")
    assert "Di. 08.12. 14:00–Do. 10.12. 11:00" in page.locator("#visit-b4 summary").inner_text()
    edit = page.locator("#visit-b4 form.visit-form")
    assert edit.locator("input[name=window_end_day]").nth(0).input_value() == "10.12.2026"
    assert edit.locator("input[name=window_end_day]").nth(0).bounding_box()["height"] >= 40
    assert _overflow(page) == 0
    page.screenshot(path=str(artifacts / "phone-visits-several-days.png"), full_page=True)
    page.goto(f"{server.url}/dispatcher?week={WEEK}")
    assert _overflow(page) == 0
    assert errors == []

    # Planned and published, the crew sees k1's number as a call link on the stop card.
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {dispatcher}"}, timeout=120
    ) as api:
        r = api.post(f"/v1/weeks/{WEEK}/plan", json={})
        assert r.status_code in (200, 201), r.text
        assert api.post(f"/v1/plans/{r.json()['id']}/publish").status_code == 200
    page.goto(f"{server.url}/dispatcher?week={WEEK}")
    assert page.locator("#stop-plan").is_hidden()  # a plan shown, nothing runs
    crew = browser.new_context(viewport=PHONE, locale="de-DE")
    page = crew.new_page()
    _login(page, server, _token(server, Role.CREW, "van-1"))
    page.goto(f"{server.url}/crew/van-1/{MONDAY}")
    tel = page.locator("li.stop a.tel")
    assert tel.count() == 2  # b1 and b3, both k1's
    assert tel.first.get_attribute("href") == "tel:+496062700"
    assert tel.first.inner_text() == "+49 6062 70-0"
    page.screenshot(path=str(artifacts / "crew-phone-tel.png"), full_page=True)
    phone.close()
    crew.close()
