"""Vans and shifts edited in the dispatcher page (api/fleet.py, api/routers/fleet_pages.py): the
forms follow the JSON API's rules, the week template is copied at the same local times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth import Role, issue_token
from api.db.core_models import ShiftRow, VanRow
from api.fleet import week_start
from api.routers.pages import COOKIE

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = "2026-W13"  # Monday 2026-03-23; summer time starts on Sunday 2026-03-29


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        with app.state.db.session() as session:
            secret = issue_token(session, Role.DISPATCHER, name="d").secret
        resp = client.post("/login", data={"token": secret}, follow_redirects=False)
        assert resp.status_code == 303 and client.cookies.get(COOKIE)
        yield client


def _shifts(app: FastAPI) -> list[tuple[str, datetime, datetime, list[str]]]:
    def local(m: datetime) -> datetime:
        return (m if m.tzinfo else m.replace(tzinfo=ZoneInfo("UTC"))).astimezone(BERLIN)

    with app.state.db.session() as session:
        rows = session.query(ShiftRow).order_by(ShiftRow.start).all()
        return [(r.van_id, local(r.start), local(r.end), list(r.crew)) for r in rows]


def test_week_start() -> None:
    assert week_start("2026-W13").isoformat() == "2026-03-23"
    assert week_start("2026-W53").isoformat() == "2026-12-28"


def test_no_vans_yet_then_add_van_and_shift(app: FastAPI, web: TestClient) -> None:
    page = web.get(f"/dispatcher?week={WEEK}")
    assert page.status_code == 200 and 'id="no-vans"' in page.text
    resp = web.post(
        "/dispatcher/vans",
        data={"week": WEEK, "van_id": "van-1", "name": "Mobiles Büro 1", "skills": "arabic; b"},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == f"/dispatcher?week={WEEK}#fleet"
    with app.state.db.session() as session:
        van = session.get(VanRow, "van-1")
        assert (van.name, van.skills) == ("Mobiles Büro 1", ["arabic", "b"])
    resp = web.post(
        "/dispatcher/shifts",
        data={
            "week": WEEK,
            "van_id": "van-1",
            "day": "2026-03-27",
            "start": "08:00",
            "end": "16:30",
            "crew": "A. Becker, M. Yilmaz",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert _shifts(app) == [
        (
            "van-1",
            datetime(2026, 3, 27, 8, tzinfo=BERLIN),
            datetime(2026, 3, 27, 16, 30, tzinfo=BERLIN),
            ["A. Becker", "M. Yilmaz"],
        )
    ]
    page = web.get(f"/dispatcher?week={WEEK}")
    assert 'value="16:30"' in page.text and "A. Becker, M. Yilmaz" in page.text
    assert "Fahrzeuge und Schichten" in page.text
    # Another week does not list the shift.
    assert "16:30" not in web.get("/dispatcher?week=2026-W14").text


def test_refusals_name_the_field_and_store_nothing(app: FastAPI, web: TestClient) -> None:
    """Refusals come in the page's language (German by default), each naming its field."""
    web.post("/dispatcher/vans", data={"week": WEEK, "van_id": "van-1", "name": "Eins"})
    base = {"week": WEEK, "van_id": "van-1", "day": "2026-03-24", "crew": ""}
    resp = web.post("/dispatcher/shifts", data={**base, "start": "16:00", "end": "08:00"})
    assert resp.status_code == 422 and "das Ende muss nach dem Beginn liegen" in resp.text
    resp = web.post("/dispatcher/shifts", data={**base, "start": "8 Uhr", "end": "16:00"})
    assert resp.status_code == 422
    refused = "Von: Tag (TT.MM.JJJJ) und Uhrzeit (HH:MM) angeben, erhalten: 2026-03-24 8 Uhr"
    assert refused in resp.text
    resp = web.post("/dispatcher/shifts", data={**base, "start": "06:00", "end": "23:00"})
    assert resp.status_code == 422 and "eine Schicht dauert höchstens 16 Stunden" in resp.text
    assert _shifts(app) == []
    web.post("/dispatcher/shifts", data={**base, "start": "08:00", "end": "16:00"})
    resp = web.post("/dispatcher/shifts", data={**base, "start": "12:00", "end": "18:00"})
    assert resp.status_code == 409 and "Von: überschneidet sich mit Schicht shift_" in resp.text
    resp = web.post("/dispatcher/vans", data={"week": WEEK, "van_id": "van-1", "name": "Zwei"})
    assert resp.status_code == 409 and "Kennung: Kennung schon vergeben" in resp.text
    resp = web.post("/dispatcher/vans", data={"week": WEEK, "van_id": "bad id!", "name": " "})
    assert resp.status_code == 422 and 'id="fleet-errors"' in resp.text
    assert "Kennung: nur Buchstaben, Ziffern" in resp.text
    assert "Name: darf nicht leer sein" in resp.text  # every problem, not the first only
    resp = web.post("/dispatcher/vans", data={"week": WEEK, "existing": "van-9", "name": "X"})
    assert resp.status_code == 404 and "Fahrzeug: unbekanntes Fahrzeug" in resp.text
    assert len(_shifts(app)) == 1


def test_refusals_in_english_when_asked(app: FastAPI, web: TestClient) -> None:
    web.cookies.set("vanplan_lang", "en")
    web.post("/dispatcher/vans", data={"week": WEEK, "van_id": "van-1", "name": "One"})
    base = {"week": WEEK, "van_id": "van-1", "day": "2026-03-24", "crew": ""}
    resp = web.post("/dispatcher/shifts", data={**base, "start": "16:00", "end": "08:00"})
    assert resp.status_code == 422 and "end must be after start" in resp.text
    web.post("/dispatcher/shifts", data={**base, "start": "08:00", "end": "16:00"})
    resp = web.post("/dispatcher/shifts", data={**base, "start": "12:00", "end": "18:00"})
    assert resp.status_code == 409 and "From: overlaps shift shift_" in resp.text
    assert "Vans and shifts" in resp.text and "überschneidet" not in resp.text


def test_edit_van_and_shift_then_delete(app: FastAPI, web: TestClient) -> None:
    web.post("/dispatcher/vans", data={"week": WEEK, "van_id": "van-1", "name": "Eins"})
    resp = web.post(
        "/dispatcher/vans",
        data={"week": WEEK, "existing": "van-1", "name": "Mobiles Büro", "skills": "wheelchair"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    with app.state.db.session() as session:
        van = session.get(VanRow, "van-1")
        assert (van.name, van.skills) == ("Mobiles Büro", ["wheelchair"])
    base = {"week": WEEK, "van_id": "van-1", "day": "2026-03-24"}
    web.post("/dispatcher/shifts", data={**base, "start": "08:00", "end": "16:00"})
    (shift_id,) = [s.id for s in _rows(app)]
    resp = web.post(
        "/dispatcher/shifts",
        data={**base, "shift_id": shift_id, "start": "09:00", "end": "17:00", "crew": "Ali"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert _shifts(app) == [
        (
            "van-1",
            datetime(2026, 3, 24, 9, tzinfo=BERLIN),
            datetime(2026, 3, 24, 17, tzinfo=BERLIN),
            ["Ali"],
        )
    ]
    resp = web.post(
        f"/dispatcher/shifts/{shift_id}/delete",
        data={"week": WEEK, "van_id": "van-1"},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and _shifts(app) == []


def _rows(app: FastAPI) -> list[ShiftRow]:
    with app.state.db.session() as session:
        rows = session.query(ShiftRow).all()
        session.expunge_all()
        return rows


def test_copy_week_keeps_local_times_across_dst_and_skips_overlaps(
    app: FastAPI, web: TestClient
) -> None:
    for van in ("van-1", "van-2"):
        web.post("/dispatcher/vans", data={"week": WEEK, "van_id": van, "name": van})
    for day in ("2026-03-23", "2026-03-27"):
        web.post(
            "/dispatcher/shifts",
            data={"week": WEEK, "van_id": "van-1", "day": day, "start": "08:00", "end": "16:00"},
        )
    # Already in the next week: van-1 on Monday the 30th, overlapping the copy.
    web.post(
        "/dispatcher/shifts",
        data={
            "week": "2026-W14",
            "van_id": "van-1",
            "day": "2026-03-30",
            "start": "15:00",
            "end": "18:00",
        },
    )
    resp = web.post("/dispatcher/week/copy", data={"week": WEEK})
    assert resp.status_code == 200
    assert "1 Schicht aus Woche 2026-W13 kopiert" in resp.text
    assert "van-1 30.03.2026 08:00" in resp.text  # the skipped copy is named
    assert "Woche 2026-W14" in resp.text
    got = [(v, s, e) for v, s, e, _ in _shifts(app)]
    assert got[-1] == (
        "van-1",
        datetime(2026, 4, 3, 8, tzinfo=BERLIN),  # 08:00 summer time, as 08:00 winter time
        datetime(2026, 4, 3, 16, tzinfo=BERLIN),
    )
    assert len(got) == 4
