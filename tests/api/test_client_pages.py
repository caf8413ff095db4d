"""Clients and visits created, edited and deleted in the dispatcher pages (api/client_forms.py,
api/routers/client_pages.py), through the API's own handlers and schemas: refusals in the page's
language name every field at once and store nothing; the client's phone number (schema, column,
erasure) reaches the crew's stop card as a tel: link (tests/api/test_pages.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth import Role, issue_token
from api.db.core_models import ClientRow, ShiftRow, VanRow, VisitRow
from api.routers.pages import COOKIE
from tests.api.conftest import Headers

BERLIN = ZoneInfo("Europe/Berlin")


def _login(app: FastAPI, client: TestClient, role: Role = Role.DISPATCHER) -> None:
    with app.state.db.session() as session:
        van = "van-1" if role is Role.CREW else None
        if van and session.get(VanRow, van) is None:
            session.add(VanRow(id=van, name="Mobiles Büro 1", skills=[]))
            session.flush()
        secret = issue_token(session, role, name="t", van_id=van).secret
    resp = client.post("/login", data={"token": secret}, follow_redirects=False)
    assert resp.status_code == 303 and client.cookies.get(COOKIE)


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        _login(app, client)
        yield client


def _problems(html: str) -> list[str]:
    box = re.search(r'id="record-errors">(.*?)</div>', html, re.S)
    assert box, "no problems shown"
    return [re.sub(r"&#39;", "'", li) for li in re.findall(r"<li>(.*?)</li>", box.group(1))]


def _client(app: FastAPI, ident: str) -> ClientRow | None:
    with app.state.db.session() as session:
        row = session.get(ClientRow, ident)
        session.expunge_all()
        return row


def _visit(app: FastAPI, ident: str) -> VisitRow | None:
    with app.state.db.session() as session:
        row = session.get(VisitRow, ident)
        session.expunge_all()
        return row


CLIENT = {
    "client_id": "c-17",
    "name": "Erika Mustermann",
    "phone": " +49 6062  123456 ",
    "address": "Hauptstraße 12, 64711 Erbach",
    "lon": "8,9931",  # a German decimal comma is read
    "lat": "49.6571",
    "language": "de",
    "notes": "Bitte klingeln",
}


def test_add_edit_and_delete_a_client(app: FastAPI, web: TestClient) -> None:
    page = web.get("/dispatcher/clients")
    assert page.status_code == 200 and 'id="no-clients"' in page.text
    assert "Klient anlegen" in page.text and "Telefon" in page.text
    resp = web.post("/dispatcher/clients", data=CLIENT, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/dispatcher/clients?saved=c-17#client-c-17"
    row = _client(app, "c-17")
    assert row is not None
    assert (row.name, row.phone, row.lon, row.lat) == (
        "Erika Mustermann",
        "+49 6062 123456",  # spaces collapsed
        8.9931,
        49.6571,
    )
    page = web.get("/dispatcher/clients?saved=c-17")
    assert "Klient c-17 gespeichert." in page.text
    assert 'id="client-c-17"' in page.text and 'value="+49 6062 123456"' in page.text

    # Change the phone, clear the address and notes: empty fields clear the stored values.
    data = {**CLIENT, "existing": "c-17", "phone": "06062 / 70-0", "address": "", "notes": ""}
    resp = web.post("/dispatcher/clients", data=data, follow_redirects=False)
    assert resp.status_code == 303
    row = _client(app, "c-17")
    assert row is not None and (row.phone, row.address, row.notes) == ("06062 / 70-0", None, None)

    resp = web.post("/dispatcher/clients/c-17/delete", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].endswith("deleted=c-17")
    assert _client(app, "c-17") is None
    assert "Klient c-17 gelöscht." in web.get(resp.headers["location"]).text


def test_client_refusals_name_every_field_in_german(app: FastAPI, web: TestClient) -> None:
    bad = {"client_id": "bad id!", "name": " ", "phone": "call me", "lon": "8.99", "lat": ""}
    resp = web.post("/dispatcher/clients", data=bad)
    assert resp.status_code == 422
    assert _problems(resp.text) == [
        "Position (Länge, Breite): Länge und Breite beide angeben oder keine",
        "Kennung: nur Buchstaben, Ziffern, '_', '.' und '-', höchstens 64",
        "Name: darf nicht leer sein",
        "Telefon: eine Telefonnummer: nur Ziffern, Leerzeichen und ( ) / -, vorn ein + möglich, "
        "5 bis 15 Ziffern",
    ]
    assert 'value="call me"' in resp.text  # the form comes back as sent
    resp = web.post("/dispatcher/clients", data={**CLIENT, "phone": "0800"})  # 4 digits
    assert resp.status_code == 422 and _problems(resp.text)[0].startswith("Telefon:")
    resp = web.post("/dispatcher/clients", data={**CLIENT, "preferred_van_id": "van-9"})
    assert resp.status_code == 422
    assert _problems(resp.text) == ["Bevorzugtes Fahrzeug: unbekanntes Fahrzeug"]
    assert _client(app, "c-17") is None
    web.post("/dispatcher/clients", data=CLIENT)
    resp = web.post("/dispatcher/clients", data=CLIENT)
    assert resp.status_code == 409 and _problems(resp.text) == ["Kennung: Kennung schon vergeben"]

    web.cookies.set("vanplan_lang", "en")
    resp = web.post("/dispatcher/clients", data=bad)
    assert resp.status_code == 422
    assert "Name: must not be empty" in _problems(resp.text)
    assert "Phone: a phone number" in _problems(resp.text)[-1]


VISIT = {
    "client_id": "c-17",
    "duration_minutes": "45",
    "window_day": ["2026-12-07", "08.12.2026", ""],
    "window_start": ["09:00", "13:00", ""],
    "window_end": ["12:00", "16:30", ""],
    "skills": "lang:ar; wheelchair",
    "priority": "2",
    "week": "2026-W50",
}


def test_add_edit_and_delete_a_visit(app: FastAPI, web: TestClient) -> None:
    page = web.get("/dispatcher/visits?week=2026-W50")
    assert page.status_code == 200 and "Zuerst einen Klienten anlegen" in page.text
    web.post("/dispatcher/clients", data=CLIENT)
    with app.state.db.session() as session:
        session.add(VanRow(id="van-1", name="Mobiles Büro 1", skills=[]))
    resp = web.post("/dispatcher/visits", data={**VISIT, "visit_id": "v-1"}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/dispatcher/visits?week=2026-W50&saved=v-1#visit-v-1"
    row = _visit(app, "v-1")
    assert row is not None
    assert (row.client_id, row.duration_minutes, row.priority, row.skills) == (
        "c-17",
        45,
        2,
        ["lang:ar", "wheelchair"],
    )
    first, second = [[datetime.fromisoformat(t) for t in w] for w in row.windows]
    assert first == [
        datetime(2026, 12, 7, 9, tzinfo=BERLIN),
        datetime(2026, 12, 7, 12, tzinfo=BERLIN),
    ]
    assert second[1] == datetime(2026, 12, 8, 15, 30, tzinfo=UTC)  # 16:30 in Berlin

    page = web.get("/dispatcher/visits?week=2026-W50").text
    assert 'id="visit-v-1"' in page and "Erika Mustermann (c-17)" in page
    assert "Mo. 07.12. 09:00–12:00" in page and "Di. 08.12. 13:00–16:30" in page
    assert 'id="visit-v-1"' not in web.get("/dispatcher/visits?week=2026-W51").text
    assert 'id="visit-v-1"' in web.get("/dispatcher/visits").text  # all weeks

    # One window, cancelled, pinned to van-1 on Tuesday.
    data = {
        **VISIT,
        "existing": "v-1",
        "window_day": ["2026-12-08", "", ""],
        "window_start": ["10:00", "", ""],
        "window_end": ["11:00", "", ""],
        "status": "cancelled",
        "pinned_van_id": "van-1",
        "pinned_date": "2026-12-08",
    }
    resp = web.post("/dispatcher/visits", data=data)  # a pin that can never hold (api.pins)
    assert resp.status_code == 422
    assert _problems(resp.text) == [
        "Fixiertes Fahrzeug: Fahrzeug van-1 fehlt, was der Besuch braucht: lang:ar, wheelchair",
        "Fixierter Tag: Fahrzeug van-1 hat am 2026-12-08 keine Schicht",
    ]
    data["skills"] = ""
    with app.state.db.session() as session:
        start = datetime(2026, 12, 8, 8, tzinfo=BERLIN)
        session.add(ShiftRow(id="s-1", van_id="van-1", start=start, end=start.replace(hour=16)))
    resp = web.post("/dispatcher/visits", data=data, follow_redirects=False)
    assert resp.status_code == 303
    row = _visit(app, "v-1")
    assert row is not None and len(row.windows) == 1
    assert (row.status, row.pinned_van_id, str(row.pinned_date)) == (
        "cancelled",
        "van-1",
        "2026-12-08",
    )

    resp = web.post("/dispatcher/visits/v-1/delete", data={"week": "2026-W50"})
    assert resp.status_code == 200 and "Besuch v-1 gelöscht." in resp.text
    assert _visit(app, "v-1") is None


def test_visit_refusals_name_the_row_and_field(app: FastAPI, web: TestClient) -> None:
    web.post("/dispatcher/clients", data=CLIENT)
    data = {
        **VISIT,
        "window_day": ["9.12.2026", "2026-12-07", "2026-12-08"],
        "window_start": ["9 Uhr", "09:00", "12:00"],
        "window_end": ["10:00", "09:30", "12:00"],  # row 3: ends as it starts
        "priority": "0",
    }
    resp = web.post("/dispatcher/visits", data=data)
    assert resp.status_code == 422
    assert _problems(resp.text) == [
        "Zeitfenster 1 · Von: Tag (TT.MM.JJJJ) und Uhrzeit (HH:MM) angeben, "
        "erhalten: 9.12.2026 9 Uhr",
        "Zeitfenster 3: das Ende muss nach dem Beginn liegen",  # the form's row, not the list's
        "Priorität: muss mindestens 1 sein",
    ]
    data = {**VISIT, "duration_minutes": "240"}  # longer than the windows
    resp = web.post("/dispatcher/visits", data=data)
    assert resp.status_code == 422
    assert _problems(resp.text) == ["jedes Zeitfenster muss mindestens so lang wie die Dauer sein"]
    one = {"window_day": ["07.12.1999"], "window_start": ["09:00"], "window_end": ["12:00"]}
    resp = web.post("/dispatcher/visits", data={**VISIT, **one})
    assert resp.status_code == 422
    assert _problems(resp.text) == [
        "Zeitfenster 1 · Von: das Jahr muss zwischen 2000 und 2100 liegen",
        "Zeitfenster 1 · Bis: das Jahr muss zwischen 2000 und 2100 liegen",
    ]
    resp = web.post("/dispatcher/visits", data={**VISIT, "client_id": "nobody"})
    assert resp.status_code == 422 and _problems(resp.text) == ["Klient: unbekannter Klient"]
    with app.state.db.session() as session:
        assert session.query(VisitRow).count() == 0
    web.post("/dispatcher/visits", data={**VISIT, "visit_id": "v-1"})
    resp = web.post("/dispatcher/clients/c-17/delete")
    assert resp.status_code == 409
    assert _problems(resp.text) == ["Klient: hat Besuche: zuerst diese löschen"]


def test_a_window_past_midnight_ends_on_the_next_day(app: FastAPI, web: TestClient) -> None:
    """An end earlier than the start is the next day's: 07.12. 22:00 to 02:00 is stored as
    ending on 08.12., and the form shows it again as the row it was entered as."""
    web.post("/dispatcher/clients", data=CLIENT)
    data = {
        **VISIT,
        "visit_id": "v-night",
        "window_day": ["07.12.2026"],
        "window_start": ["22:00"],
        "window_end": ["2:00"],
        "pinned_date": "",
    }
    resp = web.post("/dispatcher/visits", data=data)
    assert resp.status_code == 200, resp.text
    row = _visit(app, "v-night")
    assert row is not None
    berlin = ZoneInfo("Europe/Berlin")
    (start, end), *_ = row.windows
    assert datetime.fromisoformat(start).astimezone(berlin) == datetime(
        2026, 12, 7, 22, 0, tzinfo=berlin
    )
    assert datetime.fromisoformat(end).astimezone(berlin) == datetime(
        2026, 12, 8, 2, 0, tzinfo=berlin
    )
    page = web.get("/dispatcher/visits?week=2026-W50").text
    form = page[page.index('id="visit-v-night"') :]
    assert 'name="window_day" value="07.12.2026"' in form
    assert 'name="window_start" value="22:00"' in form
    assert 'name="window_end" value="02:00"' in form
    assert "Ein Ende vor dem Beginn liegt am nächsten Tag" in page


def test_a_window_over_several_days_round_trips_through_the_page(
    app: FastAPI, web: TestClient
) -> None:
    """A window with an end day (Monday 09:00 to Wednesday 12:00) is stored as entered, listed
    with both days, shown again with its end day and changed; an end before the start on the
    end day is refused naming the row's end, in German and in English, and nothing changes."""
    web.post("/dispatcher/clients", data=CLIENT)
    data = {
        **VISIT,
        "visit_id": "v-long",
        "window_day": ["07.12.2026", ""],
        "window_start": ["09:00", ""],
        "window_end": ["12:00", ""],
        "window_end_day": ["09.12.2026", ""],
        "pinned_date": "",
    }
    resp = web.post("/dispatcher/visits", data={**data, "week": "2026-W50"})
    assert resp.status_code == 200, resp.text
    row = _visit(app, "v-long")
    assert row is not None
    (start, end), *rest = row.windows
    assert rest == []
    assert datetime.fromisoformat(start).astimezone(BERLIN) == datetime(
        2026, 12, 7, 9, 0, tzinfo=BERLIN
    )
    assert datetime.fromisoformat(end).astimezone(BERLIN) == datetime(
        2026, 12, 9, 12, 0, tzinfo=BERLIN
    )
    page = resp.text
    record = page[page.index('id="visit-v-long"') :]
    summary = record[: record.index("</summary>")]
    assert "Mo. 07.12. 09:00–Mi. 09.12. 12:00" in summary
    assert 'name="window_day" value="07.12.2026"' in record
    assert 'name="window_end" value="12:00"' in record
    assert 'name="window_end_day" value="09.12.2026"' in record
    assert "ein Zeitfenster über mehrere Tage bekommt einen Endtag" in page

    # Saved again unchanged from the shown form, then widened to Friday.
    changed = {**data, "existing": "v-long", "window_end_day": ["11.12.2026", ""]}
    assert web.post("/dispatcher/visits", data=changed).status_code == 200
    row = _visit(app, "v-long")
    assert row is not None
    assert datetime.fromisoformat(row.windows[0][1]).astimezone(BERLIN) == datetime(
        2026, 12, 11, 12, 0, tzinfo=BERLIN
    )

    backwards = {**changed, "window_end_day": ["06.12.2026", ""]}
    resp = web.post("/dispatcher/visits", data=backwards)
    assert resp.status_code == 422
    assert _problems(resp.text) == ["Zeitfenster 1 · Bis: das Ende muss nach dem Beginn liegen"]
    assert 'name="window_end_day" value="06.12.2026"' in resp.text  # the form as sent
    web.cookies.set("vanplan_lang", "en")
    resp = web.post("/dispatcher/visits", data=backwards)
    assert resp.status_code == 422
    assert _problems(resp.text) == ["Time window 1 · To: end must be after start"]
    row = _visit(app, "v-long")
    assert row is not None
    assert datetime.fromisoformat(row.windows[0][1]).astimezone(BERLIN).day == 11


def test_pages_are_for_dispatchers(app: FastAPI) -> None:
    with TestClient(app) as client:
        resp = client.get("/dispatcher/clients", follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next=")
        _login(app, client, Role.CREW)
        assert client.get("/dispatcher/visits").status_code == 403
        resp = client.post("/dispatcher/clients", data=CLIENT)
        assert resp.status_code == 403 and "Nur Disponenten" in resp.text
        assert _client(app, "c-17") is None


def test_the_week_page_links_clients_and_visits(web: TestClient) -> None:
    page = web.get("/dispatcher?week=2026-W50").text
    assert 'href="/dispatcher/clients" id="nav-clients">Klienten</a>' in page
    assert 'href="/dispatcher/visits?week=2026-W50" id="nav-visits">Besuche</a>' in page


def test_phone_in_the_api(client: TestClient, dispatcher: Headers, app: FastAPI) -> None:
    body = {"id": "c-1", "name": "Erika", "phone": "+49 (6062) 70-0"}
    resp = client.post("/v1/clients", json=body, headers=dispatcher)
    assert resp.status_code == 201 and resp.json()["phone"] == "+49 (6062) 70-0"
    for bad in ("12", "+49 6062 70 0 0 0 0 0 0 0 0 0", "0800-CALL-NOW", "49+6062", "x" * 40):
        resp = client.patch("/v1/clients/c-1", json={"phone": bad}, headers=dispatcher)
        assert resp.status_code == 422, bad
        assert resp.json()["details"][0]["field"] == "body.phone"
    assert client.get("/v1/clients/c-1", headers=dispatcher).json()["phone"] == "+49 (6062) 70-0"
    resp = client.post("/v1/clients/c-1/erase", headers=dispatcher)
    assert resp.status_code == 200
    assert client.get("/v1/clients/c-1", headers=dispatcher).json()["phone"] is None
