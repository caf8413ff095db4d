"""Appointment uploads: template, CSV/Excel parsing, row-level errors."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook, load_workbook

from api.imports import COLUMNS, parse_upload, template_csv, template_xlsx

HEADER = ",".join(COLUMNS)


def test_templates_parse_cleanly() -> None:
    res = parse_upload("t.csv", template_csv().encode())
    assert res.errors == [] and len(res.appointments) == 1
    a = res.appointments[0]
    assert a.client_id == "client-17" and a.duration_minutes == 45
    assert a.window is not None
    assert a.window[0] == datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert a.skills == ("arabic",)
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
