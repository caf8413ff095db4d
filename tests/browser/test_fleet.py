"""A week planned from the dispatcher page alone: vans and shifts made and edited in the page
(no API call by the test), the week template copied to the next week, appointments uploaded
with German times, then planned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.auth import Role, create_token
from api.imports import COLUMNS
from api.settings import Settings
from tests.browser.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEEK = "2026-W50"  # Monday 2026-12-07


def _login(page: Any, server: Server) -> None:
    settings = Settings(database_url=server.database_url)
    token = create_token(Role.DISPATCHER, name="fleet", settings=settings).secret
    page.goto(f"{server.url}/login")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")


def _add_shift(page: Any, van: str, day: str, start: str, end: str, crew: str) -> None:
    form = page.locator("#add-shift")
    form.locator("select[name=van_id]").select_option(van)
    form.locator("input[name=day]").fill(day)
    form.locator("input[name=start]").fill(start)
    form.locator("input[name=end]").fill(end)
    form.locator("input[name=crew]").fill(crew)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def test_vans_shifts_template_and_plan_from_the_page(
    server: Server, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, server)
    page.goto(f"{server.url}/dispatcher?week={WEEK}")
    assert page.locator("#no-vans").is_visible()
    assert "Fahrzeuge und Schichten" in page.inner_text("#fleet")

    # Two vans, the second with a skill.
    for van, name, skills in (("van-a", "Mobiles Büro A", ""), ("van-b", "Mobiles Büro B", "")):
        form = page.locator("#add-van")
        form.locator("input[name=van_id]").fill(van)
        form.locator("input[name=name]").fill(name)
        form.locator("input[name=skills]").fill(skills)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("networkidle")
    assert page.locator(".fleet-van").count() == 2

    # Edit van B: a skill and a new name.
    van_b = page.locator(".fleet-van[data-van=van-b] form.van-form")
    van_b.locator("input[name=name]").fill("Mobiles Büro Beerfelden")
    van_b.locator("input[name=skills]").fill("arabisch")
    van_b.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    van_b = page.locator(".fleet-van[data-van=van-b] form.van-form")
    assert van_b.locator("input[name=name]").input_value() == "Mobiles Büro Beerfelden"
    assert van_b.locator("input[name=skills]").input_value() == "arabisch"

    # Shifts: Monday and Tuesday for both vans; an overlapping one is refused with the reason.
    for van in ("van-a", "van-b"):
        for day in ("07.12.2026", "8.12.2026"):  # typed the German way
            _add_shift(page, van, day, "08:00", "16:00", "A. Becker, M. Yilmaz")
    _add_shift(page, "van-a", "07.12.2026", "15:00", "18:00", "")
    assert "überschneidet sich mit Schicht" in page.inner_text("#fleet-errors")  # the API's rule
    page.goto(f"{server.url}/dispatcher?week={WEEK}")
    assert page.locator(".fleet-van[data-van=van-a] tr[data-shift]").count() == 2

    # Edit a shift: van A's Tuesday ends at 15:00.
    row = page.locator(".fleet-van[data-van=van-a] tr[data-shift]").nth(1)
    row.locator("input[name=end]").fill("15:00")
    row.locator("form.shift-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    row = page.locator(".fleet-van[data-van=van-a] tr[data-shift]").nth(1)
    assert row.locator("input[name=end]").input_value() == "15:00"
    page.screenshot(path=str(artifacts / "dispatcher-fleet.png"), full_page=True)

    # Appointments with German times, then plan the week: no "no vans stored" any more.
    lines = [",".join(COLUMNS)]
    for i, (lon, lat, window) in enumerate(
        [
            (9.0036, 49.6786, ("07.12.2026 09:00", "07.12.2026 11:00")),
            (9.0067, 49.7414, ("", "")),
            (8.9756, 49.5700, ("8.12.2026 10:00", "8.12.2026 13:00")),
        ]
    ):
        values = {
            "visit_id": f"f{i}",
            "client_id": f"fc{i}",
            "client_name": f"Klient {i}",
            "lon": str(lon),
            "lat": str(lat),
            "duration_minutes": "30",
            "window_start": window[0],
            "window_end": window[1],
        }
        lines.append(",".join(values.get(c, "") for c in COLUMNS))
    upload = tmp_path / "termine.csv"
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.set_input_files("#upload-file", str(upload))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-ok")
    assert "3 neu" in page.inner_text("#upload-ok")
    page.click("#run-plan")
    page.wait_for_selector("#timeline", timeout=90000)
    assert page.locator(".tl-row[data-van]").count() >= 1
    assert page.locator(".block").count() >= 3

    # Copy the week's shifts (the template) to the next week: the page shows the next week.
    page.click("#copy-week button[type=submit]")
    page.wait_for_selector("#fleet-copied")
    assert "4 Schichten aus Woche 2026-W50 kopiert" in page.inner_text("#fleet-copied")
    assert page.locator("h1").inner_text() == "Woche 2026-W51"
    shifts = page.locator(".fleet-van[data-van=van-a] tr[data-shift]")
    assert shifts.count() == 2
    assert shifts.nth(0).locator("input[name=day]").input_value() == "14.12.2026"
    assert shifts.nth(1).locator("input[name=end]").input_value() == "15:00"
    page.screenshot(path=str(artifacts / "dispatcher-fleet-copied.png"), full_page=True)

    # Delete one copied shift.
    page.locator(".fleet-van[data-van=van-b] tr[data-shift] form.shift-delete button").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".fleet-van[data-van=van-b] tr[data-shift]").count() == 1
    assert errors == []
    context.close()
