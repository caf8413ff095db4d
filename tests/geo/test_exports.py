"""Crew-day exports from the plan view: iCalendar (RFC 5545) and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from geo.render import RENDERERS, RenderOptions, Selection
from geo.render.csv_table import CSV_COLUMNS, van_day_csv
from geo.render.ics import van_day_ics
from geo.view import BreakView, ClientDisplay, VanDayView, VisitInfo
from tests.geo.sample_view import GERMAN, PLACES, sample_view

BERLIN = ZoneInfo("Europe/Berlin")
STAMP = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DETAILS = {
    "a1": VisitInfo(
        client="Erika Mustermann",
        pseudonym="K-17",
        notes="Bitte klingeln; Hund, freundlich",
        address="Hauptstraße 1, 64720 Michelstadt",
    )
}


@pytest.fixture()
def day0() -> VanDayView:
    vd = sample_view(info=DETAILS).van_day("v1", 0)
    return replace(vd, van_name="Bus 1")


def test_van_day_of_the_view(day0: VanDayView) -> None:
    assert day0.date == date(2026, 3, 2)
    assert [s.order for s in day0.stops] == [1, 2]
    first = day0.stops[0]
    assert first.start == datetime(2026, 3, 2, 8, 30, tzinfo=BERLIN)
    assert first.coord == PLACES["michelstadt"]
    assert first.info.client == "Erika Mustermann" and first.info.notes.startswith("Bitte")
    assert day0.stops[1].consultation
    assert first.geo_uri == "geo:49.678600,9.003600?q=49.678600,9.003600(Michelstadt)"
    assert first.google_maps.endswith("destination=49.678600%2C9.003600")
    assert first.apple_maps == "https://maps.apple.com/?daddr=49.678600,9.003600&dirflg=d"
    assert "route=" in first.osm_directions((8.9937, 49.6567))


def test_unknown_van_day() -> None:
    with pytest.raises(KeyError, match="v9"):
        sample_view().van_day("v9", 0)


def _unfold(raw: bytes) -> list[str]:
    text = raw.decode("utf-8")
    assert "\n" not in text.replace("\r\n", ""), "every line must end in CRLF"
    return text.replace("\r\n ", "").split("\r\n")


def test_ics_structure_and_times(day0: VanDayView) -> None:
    raw = van_day_ics(day0, stamp=STAMP)
    for line in raw.split(b"\r\n"):
        assert len(line) <= 75, line  # folded at 75 octets
    lines = _unfold(raw)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(x.startswith("PRODID:") for x in lines)
    assert lines.count("BEGIN:VEVENT") == 2
    assert "BEGIN:VTIMEZONE" in lines and "TZID:Europe/Berlin" in lines
    assert "DTSTART;TZID=Europe/Berlin:20260302T083000" in lines
    assert "DTEND;TZID=Europe/Berlin:20260302T093000" in lines
    assert "DTSTAMP:20260301T120000Z" in lines
    assert "GEO:49.6786;9.0036" in lines

    cal = Calendar.from_ical(raw)
    events = list(cal.walk("VEVENT"))
    starts = [e.decoded("dtstart") for e in events]
    assert starts[1] == datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN)
    assert starts[1].astimezone(UTC).hour == 9
    uids = {str(e["uid"]) for e in events}
    assert len(uids) == 2


def test_ics_escapes_text_and_hides_names_by_default(day0: VanDayView) -> None:
    raw = van_day_ics(day0, stamp=STAMP)
    lines = _unfold(raw)
    summary = next(x for x in lines if x.startswith("SUMMARY:1."))
    assert "K-17" in summary and "Mustermann" not in raw.decode()
    desc = next(x for x in lines if x.startswith("DESCRIPTION:") and "Bitte" in x)
    # RFC 5545 text escaping: comma, semicolon, newline.
    assert "Bitte klingeln\\; Hund\\, freundlich" in desc
    assert "\\n" in desc
    # The stop's one name, once (the client's address is not appended a second time).
    assert [x for x in lines if x.startswith("LOCATION:")] == [
        "LOCATION:Michelstadt",
        "LOCATION:Bad Koenig",
    ]
    event = next(e for e in Calendar.from_ical(raw).walk("VEVENT") if "K-17" in str(e["summary"]))
    assert str(event["description"]).splitlines()[-1] == "Bitte klingeln; Hund, freundlich"


def test_ics_with_names(day0: VanDayView) -> None:
    raw = van_day_ics(day0, display=ClientDisplay.NAME, stamp=STAMP)
    assert "Erika Mustermann" in raw.decode()
    # Consultation hours have no client; the words are English unless a catalogue is given.
    assert "SUMMARY:2. Consultation hours Bad Koenig" in _unfold(raw)
    german = van_day_ics(day0, stamp=STAMP, messages=GERMAN)
    assert "SUMMARY:2. Sprechstunde Bad Koenig" in _unfold(german)


def test_ics_has_the_breaks(day0: VanDayView) -> None:
    start = datetime(2026, 3, 2, 12, 0, tzinfo=BERLIN)
    brk = BreakView(start, start + timedelta(minutes=30), 0, 0)
    raw = van_day_ics(replace(day0, breaks=(brk,)), stamp=STAMP, messages=GERMAN)
    events = list(Calendar.from_ical(raw).walk("VEVENT"))
    assert len(events) == 3
    pause = events[-1]
    assert str(pause["summary"]) == "Pause" and "location" not in pause
    assert pause.decoded("dtstart") == start
    assert pause.decoded("dtend") - pause.decoded("dtstart") == timedelta(minutes=30)
    assert len({str(e["uid"]) for e in events}) == 3


def test_ics_event_lasts_the_service(day0: VanDayView) -> None:
    events = list(Calendar.from_ical(van_day_ics(day0, stamp=STAMP)).walk("VEVENT"))
    assert len(events) == 2  # no breaks that day
    durations = [e.decoded("dtend") - e.decoded("dtstart") for e in events]
    assert durations == [timedelta(hours=1), timedelta(hours=2)]


def test_csv_rows(day0: VanDayView) -> None:
    text = van_day_csv(day0)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["order"] == "1" and first["date"] == "02.03.2026"
    assert "address" not in first  # the place is the stop's one name
    assert (first["arrival"], first["start"], first["end"]) == ("08:15", "08:30", "09:30")
    assert first["place"] == "Michelstadt"
    assert first["client"] == "K-17"
    assert first["notes"] == "Bitte klingeln; Hund, freundlich"
    assert (first["lat"], first["lon"]) == ("49.678600", "9.003600")
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["kind"] == "consultation_hours" and second["client"] == ""
    named = list(csv.reader(io.StringIO(van_day_csv(day0, display=ClientDisplay.NAME))))
    assert named[1][CSV_COLUMNS.index("client")] == "Erika Mustermann"


def test_csv_file_starts_with_a_bom_for_excel(day0: VanDayView) -> None:
    view = replace(sample_view(info=DETAILS), van_days=(day0,))
    raw = RENDERERS["csv"].render(view, Selection("v1", 0), RenderOptions())
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig") == van_day_csv(day0)
    assert "Hauptstraße" not in raw.decode("utf-8-sig")  # pseudonym view: no client address


def test_csv_semicolon_and_formula_injection() -> None:
    details = {"a1": VisitInfo(client='=HYPERLINK("x")', notes="+49 6062 1234")}
    cd = sample_view(info=details).van_day("v1", 0)
    rows = list(
        csv.reader(
            io.StringIO(van_day_csv(cd, display=ClientDisplay.NAME, delimiter=";")), delimiter=";"
        )
    )
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["client"] == '\'=HYPERLINK("x")'
    assert row["notes"] == "'+49 6062 1234"


def test_pseudonym_fallback_never_shows_name() -> None:
    cd = sample_view(info={"a1": VisitInfo(client="Max Muster")}).van_day("v1", 0)
    assert cd.stops[0].client_label(ClientDisplay.PSEUDONYM) == "Client a1"


def test_export_filename(day0: VanDayView) -> None:
    assert RENDERERS["ics"].filename(day0) == "vanplan-v1-2026-03-02.ics"
    assert RENDERERS["csv"].filename(replace(day0, van_id="a/b")) == "vanplan-a%2Fb-2026-03-02.csv"
