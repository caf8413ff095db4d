"""Crew-day exports: iCalendar (RFC 5545) and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from api.exports import (
    CSV_COLUMNS,
    ClientDisplay,
    CrewDay,
    StopDetails,
    crew_day_csv,
    crew_day_from_geojson,
    crew_day_ics,
    export_filename,
)
from optimizer.domain import Horizon
from optimizer.errors import ValidationError
from tests.geo.test_maps import PLACES, sample_collection

BERLIN = ZoneInfo("Europe/Berlin")
STAMP = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DETAILS = {
    "a1": StopDetails(
        client="Erika Mustermann",
        pseudonym="K-17",
        notes="Bitte klingeln; Hund, freundlich",
        address="Hauptstraße 1, 64720 Michelstadt",
    )
}


@pytest.fixture()
def day0() -> CrewDay:
    return crew_day_from_geojson(sample_collection(), "v1", 0, van_name="Bus 1", details=DETAILS)


def test_crew_day_from_geojson(day0: CrewDay) -> None:
    assert day0.date == date(2026, 3, 2)
    assert [s.order for s in day0.stops] == [1, 2]
    first = day0.stops[0]
    assert first.start == datetime(2026, 3, 2, 8, 30, tzinfo=BERLIN)
    assert (first.lon, first.lat) == PLACES["michelstadt"]
    assert first.client == "Erika Mustermann" and first.notes.startswith("Bitte")
    assert day0.stops[1].kind == "consultation_hours"
    assert first.geo_uri == "geo:49.678600,9.003600"
    assert "route=" in first.osm_directions((8.9937, 49.6567))


def test_horizon_seconds_are_converted() -> None:
    col = sample_collection()
    horizon = Horizon(date(2026, 3, 2))
    for f in col["features"]:
        p = f["properties"]
        if p.get("van_id") == "v1" and p.get("day") == 0 and "arrival" in p:
            for k in ("arrival", "start", "end"):
                p[k] = horizon.to_seconds(datetime.fromisoformat(p[k]))
    cd = crew_day_from_geojson(col, "v1", 0, horizon=horizon)
    assert cd.stops[0].start == datetime(2026, 3, 2, 8, 30, tzinfo=BERLIN)
    with pytest.raises(ValidationError, match="no horizon"):
        crew_day_from_geojson(col, "v1", 0)


def test_bad_times_name_the_stop_and_field() -> None:
    col = sample_collection()
    for f in col["features"]:
        if f["properties"].get("visit_id") == "c1":
            f["properties"]["start"] = "10 Uhr"
            f["properties"]["end"] = "2026-03-02T12:00:00"
    with pytest.raises(ValidationError) as err:
        crew_day_from_geojson(col, "v1", 0)
    fields = {i.field for i in err.value.issues}
    assert fields == {"stops[c1].start", "stops[c1].end"}


def test_unknown_van_day() -> None:
    with pytest.raises(KeyError):
        crew_day_from_geojson(sample_collection(), "v9", 0)


def _unfold(raw: bytes) -> list[str]:
    text = raw.decode("utf-8")
    assert "\n" not in text.replace("\r\n", ""), "every line must end in CRLF"
    return text.replace("\r\n ", "").split("\r\n")


def test_ics_structure_and_times(day0: CrewDay) -> None:
    raw = crew_day_ics(day0, stamp=STAMP)
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


def test_ics_escapes_text_and_hides_names_by_default(day0: CrewDay) -> None:
    raw = crew_day_ics(day0, stamp=STAMP)
    lines = _unfold(raw)
    summary = next(x for x in lines if x.startswith("SUMMARY:1."))
    assert "K-17" in summary and "Mustermann" not in raw.decode()
    desc = next(x for x in lines if x.startswith("DESCRIPTION:") and "Bitte" in x)
    # RFC 5545 text escaping: comma, semicolon, newline.
    assert "Bitte klingeln\\; Hund\\, freundlich" in desc
    assert "\\n" in desc
    loc = next(x for x in lines if x.startswith("LOCATION:Michelstadt"))
    assert "Hauptstraße 1\\, 64720 Michelstadt" in loc
    event = next(e for e in Calendar.from_ical(raw).walk("VEVENT") if "K-17" in str(e["summary"]))
    assert str(event["description"]).splitlines()[-1] == "Bitte klingeln; Hund, freundlich"


def test_ics_with_names(day0: CrewDay) -> None:
    raw = crew_day_ics(day0, display=ClientDisplay.NAME, stamp=STAMP)
    assert "Erika Mustermann" in raw.decode()
    # Consultation hours have no client.
    assert "SUMMARY:2. Sprechstunde Bad Koenig" in _unfold(raw)


def test_ics_event_lasts_the_service(day0: CrewDay) -> None:
    events = list(Calendar.from_ical(crew_day_ics(day0, stamp=STAMP)).walk("VEVENT"))
    durations = [e.decoded("dtend") - e.decoded("dtstart") for e in events]
    assert durations == [timedelta(hours=1), timedelta(hours=2)]


def test_csv_rows(day0: CrewDay) -> None:
    text = crew_day_csv(day0)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["order"] == "1"
    assert (first["arrival"], first["start"], first["end"]) == ("08:15", "08:30", "09:30")
    assert first["place"] == "Michelstadt"
    assert first["client"] == "K-17"
    assert first["notes"] == "Bitte klingeln; Hund, freundlich"
    assert (first["lat"], first["lon"]) == ("49.678600", "9.003600")
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["kind"] == "consultation_hours" and second["client"] == ""
    named = list(csv.reader(io.StringIO(crew_day_csv(day0, display=ClientDisplay.NAME))))
    assert named[1][CSV_COLUMNS.index("client")] == "Erika Mustermann"


def test_csv_semicolon_and_formula_injection() -> None:
    details = {"a1": StopDetails(client='=HYPERLINK("x")', notes="+49 6062 1234")}
    cd = crew_day_from_geojson(sample_collection(), "v1", 0, details=details)
    rows = list(
        csv.reader(
            io.StringIO(crew_day_csv(cd, display=ClientDisplay.NAME, delimiter=";")), delimiter=";"
        )
    )
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["client"] == '\'=HYPERLINK("x")'
    assert row["notes"] == "'+49 6062 1234"


def test_pseudonym_fallback_never_shows_name() -> None:
    cd = crew_day_from_geojson(
        sample_collection(), "v1", 0, details={"a1": StopDetails(client="Max Muster")}
    )
    assert cd.stops[0].client_label(ClientDisplay.PSEUDONYM) == "Client a1"


def test_export_filename(day0: CrewDay) -> None:
    assert export_filename(day0, "ics") == "vanplan-v1-2026-03-02.ics"
