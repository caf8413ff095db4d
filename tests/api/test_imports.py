"""Appointment uploads: template, CSV/Excel parsing, row-level errors."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from api.db.core_models import ClientRow, VisitRow
from api.imports import COLUMNS, import_file, parse_upload, template_csv, template_xlsx
from api.schemas.core import PHONE_MESSAGE

HEADER = ",".join(COLUMNS)


def test_templates_parse_cleanly() -> None:
    res = parse_upload("t.csv", template_csv().encode())
    assert res.errors == [] and len(res.appointments) == 1
    a = res.appointments[0]
    assert a.client_id == "client-17" and a.duration_minutes == 45
    assert a.window is not None
    assert a.window[0] == datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert a.skills == ("arabic",) and a.phone == "+49 6062 123456"
    res = parse_upload("t.xlsx", template_xlsx())
    assert res.errors == [] and res.appointments[0].lon == 8.9931
    ws = load_workbook(io.BytesIO(template_xlsx())).active
    assert [c.value for c in ws[1]] == list(COLUMNS)


def test_row_level_errors_name_row_and_column() -> None:
    text = "\n".join(
        [
            HEADER,
            "v1,c1,Anna,,9.0,49.7,45,,,,,",  # good
            "v2,,Bert,,9.0,49.7,45,,,,,",  # no client id
            "v3,c3,Carl,,9.0,49.7,abc,,,,,",  # bad duration
            "v4,c4,Dora,,49.7,9.0,30,,,,,",  # swapped lon/lat
            "v5,c5,Emil,,,,30,,,,,",  # no place
            "v6,c6,Fritz,,9.0,49.7,30,2026-11-24 12:00,2026-11-24 09:00,,,",  # window backwards
            "v1,c7,Gerd,,9.0,49.7,30,,,,,",  # duplicate visit id
            "v8,c8,Hans,,9.0,49.7,30,,,11,,",  # priority out of range
        ]
    )
    res = parse_upload("a.csv", text.encode())
    got = {(e.row, e.column) for e in res.errors}
    assert got == {
        (3, "client_id"),
        (4, "duration_minutes"),
        (5, "lon"),
        (6, "address"),
        (7, "window_end"),
        (8, "visit_id"),
        (9, "priority"),
    }
    assert "swapped" in next(e.message for e in res.errors if e.row == 5)
    assert [a.visit_id for a in res.appointments] == ["v1"]
    assert str(res.errors[0]).startswith("row 3, client_id:")


def test_semicolon_csv_with_bom_and_comma_decimals() -> None:
    text = "\ufeff" + ";".join(COLUMNS) + '\n;c1;Anna;;"9,01";"49,70";30;;;2;a; b;\n'
    res = parse_upload("a.csv", text.encode("utf-8"))
    assert res.errors == []
    a = res.appointments[0]
    assert (a.lon, a.lat, a.priority) == (9.01, 49.70, 2)


def test_header_problems() -> None:
    res = parse_upload("a.csv", b"client,minutes\nx,1\n")
    assert {e.column for e in res.errors} == {"header"}
    assert "missing columns: client_id, duration_minutes" in str(res.errors[0])
    assert parse_upload("a.pdf", b"%PDF").errors[0].column == "file"
    assert parse_upload("a.xlsx", b"not a zip").errors[0].column == "file"


def test_excel_datetimes_are_local() -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    ws.append(
        [
            "",
            "c1",
            "Anna",
            "Markt 1, Erbach",
            None,
            None,
            30,
            datetime(2026, 3, 2, 9),
            datetime(2026, 3, 2, 11),
            1,
            "",
            "",
        ]
    )
    buf = io.BytesIO()
    wb.save(buf)
    res = parse_upload("a.xlsx", buf.getvalue())
    assert res.errors == []
    a = res.appointments[0]
    assert a.address == "Markt 1, Erbach" and a.lon is None
    assert a.window is not None and a.window[0].utcoffset().total_seconds() == 3600


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("07.12.2026 09:00", "07.12.2026 11:30"),
        ("7.12.2026 9:00", "7.12.2026 11:30"),
        ("2026-12-07 09:00", "2026-12-07 11:30"),
        ("2026-12-07 9:00", "2026-12-07 11:30:00"),
        ("2026-12-07T08:00:00+00:00", "2026-12-07T10:30:00Z"),
    ],
)
def test_german_and_iso_times(start: str, end: str) -> None:
    text = f"{HEADER}\nv1,c1,Anna,,9.0,49.7,45,{start},{end},,,\n"
    res = parse_upload("a.csv", text.encode())
    assert res.errors == []
    window = res.appointments[0].window
    assert window == (
        datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN),
        datetime(2026, 12, 7, 11, 30, tzinfo=BERLIN),
    )


@pytest.mark.parametrize("bad", ["32.12.2026 09:00", "07.12.26 09:00", "07.12.2026", "morgen"])
def test_bad_times_name_the_formats(bad: str) -> None:
    text = f"{HEADER}\nv1,c1,Anna,,9.0,49.7,45,{bad},07.12.2026 11:00,,,\n"
    res = parse_upload("a.csv", text.encode())
    assert [(e.row, e.column) for e in res.errors] == [(2, "window_start")]
    assert "DD.MM.YYYY HH:MM" in res.errors[0].message


def test_rows_without_visit_id_are_told_apart_by_client_and_window() -> None:
    text = "\n".join(
        [
            HEADER,
            ",c1,Anna,,9.0,49.7,45,07.12.2026 09:00,07.12.2026 11:00,,,",
            ",c1,Anna,,9.0,49.7,30,08.12.2026 09:00,08.12.2026 11:00,,,",  # other window: fine
            ",c1,Anna,,9.0,49.7,60,2026-12-07 09:00,2026-12-07 11:00,,,",  # same as row 2
            ",c2,Bert,,9.0,49.7,30,,,,,",
            ",c2,Bert,,9.0,49.7,45,,,,,",  # same client, both without window
        ]
    )
    res = parse_upload("a.csv", text.encode())
    assert [(e.row, e.column) for e in res.errors] == [(4, "client_id"), (6, "client_id")]
    assert "row 2" in res.errors[0].message
    assert [a.row for a in res.appointments] == [2, 3, 5]


def _visits(app: FastAPI) -> dict[str, VisitRow]:
    with app.state.db.session() as session:
        rows = session.query(VisitRow).all()
        session.expunge_all()
        return {r.id: r for r in rows}


def _import(app: FastAPI, text: str) -> tuple[list[str], list[str], list[str], list[str]]:
    with app.state.db.session() as session:
        s = import_file(session, "a.csv", text.encode())
        session.commit()
    return s.added, s.changed, s.unchanged, [f"{e.row}:{e.column}" for e in s.rejected]


def test_import_twice_is_idempotent_and_changes_update(app: FastAPI, client: TestClient) -> None:
    rows = [
        "v1,c1,Anna,,9.0,49.7,45,07.12.2026 09:00,07.12.2026 11:00,,,",
        ",c2,Bert,Markt 1,9.1,49.6,30,,,,b;a,",
        ",c1,,,9.0,49.7,20,8.12.2026 9:00,8.12.2026 10:00,,,",
    ]
    text = "\n".join([HEADER, *rows]) + "\n"
    added, changed, unchanged, rejected = _import(app, text)
    assert len(added) == 3 and added[0] == "v1" and changed == unchanged == rejected == []
    first = _visits(app)
    assert len(first) == 3

    # The same file again: nothing added, nothing changed.
    assert _import(app, text) == ([], [], added, [])
    assert _visits(app).keys() == first.keys()

    # Changed rows update their visit (the key stays: visit id, or client + window); a new
    # window without visit id is a new visit; a bad row is rejected while the others are stored.
    rows[0] = "v1,c1,Anna,,9.0,49.7,60,07.12.2026 10:00,07.12.2026 12:00,3,,"
    rows[1] = ",c2,Bert,Markt 2,9.1,49.6,40,,,,a;b,"
    rows.append(",c3,,,9.0,49.7,20,,,,,")  # new client without a name
    rows.append(",c2,,,9.0,49.7,30,09.12.2026 09:00,09.12.2026 10:00,,,")
    added2, changed2, unchanged2, rejected2 = _import(app, "\n".join([HEADER, *rows]) + "\n")
    assert changed2 == ["v1", added[1]] and unchanged2 == [added[2]]
    assert len(added2) == 1 and rejected2 == ["5:client_name"]
    after = _visits(app)
    assert len(after) == 4
    v1 = after["v1"]
    assert (v1.duration_minutes, v1.priority) == (60, 3)
    assert datetime.fromisoformat(v1.windows[0][0]) == datetime(2026, 12, 7, 10, tzinfo=BERLIN)
    bert = after[added[1]]
    assert (bert.address, bert.duration_minutes, bert.skills) == ("Markt 2", 40, ["a", "b"])


def test_phone_column_is_checked_and_sets_the_clients_phone(
    app: FastAPI, client: TestClient
) -> None:
    """The optional last column: checked like the API's phone (the bad row is rejected with
    the API's message), stored on a new client, a different number updates the client (the
    row's visit counts as changed), the same file again changes nothing, an empty cell keeps
    the number."""
    row = "v1,c1,Anna,,9.0,49.7,45,07.12.2026 09:00,07.12.2026 11:00,,,,{phone}"
    bad = parse_upload("a.csv", "\n".join([HEADER, row.format(phone="call me")]).encode())
    assert [(e.row, e.column) for e in bad.errors] == [(2, "phone")]
    assert bad.errors[0].message == PHONE_MESSAGE

    def phone() -> str | None:
        with app.state.db.session() as session:
            client = session.get(ClientRow, "c1")
            return client.phone if client else None

    first = "\n".join([HEADER, row.format(phone=" +49 6062  123456 ")]) + "\n"
    assert _import(app, first) == (["v1"], [], [], [])
    assert phone() == "+49 6062 123456"
    assert _import(app, first) == ([], [], ["v1"], [])
    assert _import(app, "\n".join([HEADER, row.format(phone="06062 / 70-0")])) == (
        [],
        ["v1"],
        [],
        [],
    )
    assert phone() == "06062 / 70-0"
    assert _import(app, "\n".join([HEADER, row.format(phone="")])) == ([], [], ["v1"], [])
    assert phone() == "06062 / 70-0"


def test_import_matches_visits_stored_through_the_api(app: FastAPI, client: TestClient) -> None:
    """A visit created elsewhere (windows spelt with "Z") is the row with its client and window."""
    with app.state.db.session() as session:
        session.add(ClientRow(id="c1", name="Anna"))
        session.flush()
        session.add(
            VisitRow(
                id="api-1",
                client_id="c1",
                duration_minutes=45,
                windows=[["2026-12-07T08:00:00Z", "2026-12-07T10:00:00Z"]],
                skills=[],
                priority=1,
                lon=9.0,
                lat=49.7,
                status="cancelled",
            )
        )
        session.commit()
    text = f"{HEADER}\n,c1,,,9.0,49.7,45,07.12.2026 09:00,07.12.2026 11:00,,,\n"
    assert _import(app, text) == ([], [], ["api-1"], [])
    text = f"{HEADER}\n,c1,,,9.0,49.7,50,07.12.2026 09:00,07.12.2026 11:00,,,\n"
    assert _import(app, text) == ([], ["api-1"], [], [])
    visit = _visits(app)["api-1"]
    assert visit.duration_minutes == 50 and visit.status == "cancelled"  # status untouched
    # A visit id of another client is refused, not taken over.
    text = f"{HEADER}\napi-1,c2,Bert,,9.0,49.7,45,,,,,\n"
    assert _import(app, text) == ([], [], [], ["2:visit_id"])


def test_file_problems_store_nothing(app: FastAPI, client: TestClient) -> None:
    text = f"{HEADER},colour\nv1,c1,Anna,,9.0,49.7,45,,,,,,red\n"  # a good row, unknown column
    assert _import(app, text) == ([], [], [], ["1:header"])
    assert _visits(app) == {}
