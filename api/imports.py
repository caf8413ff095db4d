"""Appointments uploaded as CSV or Excel by the dispatcher: template, parsing, row-level checks.

One row per visit. Columns (see :data:`COLUMNS`): the client (``client_id``; ``client_name`` is
needed when the client is new), the place (``lon`` and ``lat``, or an ``address``), the duration,
an optional time window (local time in the district's zone, or ISO-8601 with an offset),
priority, skills (separated by ``;``) and notes for the crew.

:func:`parse_upload` checks every row and returns all problems with their row number (the
header is row 1), so the dispatcher can fix the file in one go; nothing is stored unless every
row is good (:func:`store_rows`).
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.db.core_models import ClientRow, VisitRow

log = logging.getLogger(__name__)

COLUMNS = (
    "visit_id",
    "client_id",
    "client_name",
    "address",
    "lon",
    "lat",
    "duration_minutes",
    "window_start",
    "window_end",
    "priority",
    "skills",
    "notes",
)
REQUIRED = ("client_id", "duration_minutes")
EXAMPLE = {
    "visit_id": "",
    "client_id": "client-17",
    "client_name": "Erika Mustermann",
    "address": "Hauptstraße 12, 64711 Erbach",
    "lon": "8.9931",
    "lat": "49.6571",
    "duration_minutes": "45",
    "window_start": "2026-11-24 09:00",
    "window_end": "2026-11-24 12:00",
    "priority": "1",
    "skills": "arabic",
    "notes": "Prefers mornings",
}
MAX_ROWS = 2000


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line of the sheet, header = 1
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}"


@dataclass(frozen=True)
class Appointment:
    row: int
    visit_id: str | None
    client_id: str
    client_name: str | None
    address: str | None
    lon: float | None
    lat: float | None
    duration_minutes: int
    window: tuple[datetime, datetime] | None
    priority: int
    skills: tuple[str, ...]
    notes: str | None


@dataclass
class ParseResult:
    appointments: list[Appointment] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def template_csv() -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    w.writerow([EXAMPLE[c] for c in COLUMNS])
    return buf.getvalue()


def template_xlsx() -> bytes:
    from openpyxl import Workbook  # lazy: only the spreadsheet template needs it

    wb = Workbook()
    ws = wb.active
    ws.title = "appointments"
    ws.append(list(COLUMNS))
    ws.append([EXAMPLE[c] for c in COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _read_rows(filename: str, content: bytes) -> list[list[Any]]:
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook  # lazy: only spreadsheet uploads need it

        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True)]
    if name.endswith(".csv") or name.endswith(".txt"):
        text = content.decode("utf-8-sig")
        try:
            dialect: Any = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", ",;\t")
        except csv.Error:
            dialect = csv.excel
        return [list(r) for r in csv.reader(io.StringIO(text), dialect)]
    raise ValueError(f"file {filename!r}: upload a .csv or .xlsx file")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _moment(value: Any, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value)
        moment = datetime.fromisoformat(text)  # ValueError names the problem
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_upload(filename: str, content: bytes, timezone: str = "Europe/Berlin") -> ParseResult:
    """Check every row; return the good appointments and every problem found."""
    out = ParseResult()
    try:
        rows = _read_rows(filename, content)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        out.errors.append(RowError(0, "file", str(exc)))
        return out
    except Exception as exc:  # openpyxl raises several types for a broken workbook
        out.errors.append(RowError(0, "file", f"cannot read the workbook: {exc}"))
        return out
    if not rows:
        out.errors.append(RowError(1, "header", "the file is empty"))
        return out
    header = [_text(h).lower() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h and h not in COLUMNS]
    if missing:
        out.errors.append(RowError(1, "header", f"missing columns: {', '.join(missing)}"))
    if unknown:
        out.errors.append(RowError(1, "header", f"unknown columns: {', '.join(unknown)}"))
    if missing or unknown:
        return out
    if len(rows) - 1 > MAX_ROWS:
        out.errors.append(RowError(1, "file", f"more than {MAX_ROWS} rows"))
        return out
    tz = ZoneInfo(timezone)
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows[1:], start=2):
        cells = {h: raw[j] if j < len(raw) else None for j, h in enumerate(header) if h}
        if all(_text(v) == "" for v in cells.values()):
            continue  # blank line
        appt = _parse_row(i, cells, tz, out.errors)
        if appt is None:
            continue
        if appt.visit_id:
            if appt.visit_id in seen:
                out.errors.append(
                    RowError(
                        i, "visit_id", f"{appt.visit_id!r} already in row {seen[appt.visit_id]}"
                    )
                )
                continue
            seen[appt.visit_id] = i
        out.appointments.append(appt)
    return out


def _parse_row(
    i: int, cells: dict[str, Any], tz: ZoneInfo, errors: list[RowError]
) -> Appointment | None:
    before = len(errors)

    def err(column: str, message: str) -> None:
        errors.append(RowError(i, column, message))

    client_id = _text(cells.get("client_id"))
    if not client_id:
        err("client_id", "missing")
    elif len(client_id) > 64:
        err("client_id", "longer than 64 characters")
    duration = 0
    try:
        duration = int(float(_text(cells.get("duration_minutes"))))
        if not 0 < duration <= 600:
            err("duration_minutes", f"must be 1..600, got {duration}")
    except ValueError:
        err("duration_minutes", f"not a number: {_text(cells.get('duration_minutes'))!r}")
    lon = lat = None
    lon_t, lat_t = _text(cells.get("lon")), _text(cells.get("lat"))
    if lon_t or lat_t:
        try:
            lon, lat = float(lon_t.replace(",", ".")), float(lat_t.replace(",", "."))
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                err("lon", f"position ({lon}, {lat}) is not a longitude/latitude")
            elif 45 <= lon <= 56 and 5 <= lat <= 16:
                err("lon", "longitude and latitude look swapped (give lon, then lat)")
        except ValueError:
            err("lon", f"lon/lat must both be numbers, got {lon_t!r}, {lat_t!r}")
    address = _text(cells.get("address")) or None
    if lon is None and address is None:
        err("address", "give lon and lat, or an address")
    window = None
    ws, we = cells.get("window_start"), cells.get("window_end")
    if _text(ws) or _text(we):
        try:
            start, end = _moment(ws, tz), _moment(we, tz)
            if end <= start:
                err("window_end", "must be after window_start")
            else:
                window = (start, end)
        except ValueError:
            err("window_start", "give both window_start and window_end as YYYY-MM-DD HH:MM")
    priority = 1
    if _text(cells.get("priority")):
        try:
            priority = int(float(_text(cells.get("priority"))))
            if not 1 <= priority <= 10:
                err("priority", f"must be 1..10, got {priority}")
        except ValueError:
            err("priority", f"not a number: {_text(cells.get('priority'))!r}")
    skills = tuple(
        s.strip() for s in _text(cells.get("skills")).replace(",", ";").split(";") if s.strip()
    )
    if len(errors) > before:
        return None
    return Appointment(
        row=i,
        visit_id=_text(cells.get("visit_id")) or None,
        client_id=client_id,
        client_name=_text(cells.get("client_name")) or None,
        address=address,
        lon=lon,
        lat=lat,
        duration_minutes=duration,
        window=window,
        priority=priority,
        skills=skills,
        notes=_text(cells.get("notes")) or None,
    )


def store_rows(session: Any, appointments: list[Appointment]) -> tuple[list[str], list[RowError]]:
    """Create the clients that are new and one open visit per row. Checks against the database
    first (unknown client without a name, visit id taken, erased client); stores nothing if any
    row fails. Returns the new visit ids, or the errors. The caller commits."""
    errors: list[RowError] = []
    new_clients: dict[str, ClientRow] = {}
    for a in appointments:
        client = session.get(ClientRow, a.client_id) or new_clients.get(a.client_id)
        if client is None:
            if not a.client_name:
                errors.append(
                    RowError(a.row, "client_name", f"client {a.client_id!r} is new: give a name")
                )
                continue
            new_clients[a.client_id] = ClientRow(
                id=a.client_id,
                name=a.client_name,
                address=a.address,
                lon=a.lon,
                lat=a.lat,
                language="de",
                notes=a.notes,
            )
        elif getattr(client, "erased_at", None) is not None:
            errors.append(RowError(a.row, "client_id", f"client {a.client_id!r} was erased"))
        if a.visit_id and session.get(VisitRow, a.visit_id) is not None:
            errors.append(RowError(a.row, "visit_id", f"visit {a.visit_id!r} exists already"))
    if errors:
        return [], errors
    for c in new_clients.values():
        session.add(c)
    session.flush()
    ids = []
    for a in appointments:
        ident = a.visit_id or f"visit_{secrets.token_hex(6)}"
        windows = (
            [[a.window[0].astimezone(UTC).isoformat(), a.window[1].astimezone(UTC).isoformat()]]
            if a.window
            else []
        )
        session.add(
            VisitRow(
                id=ident,
                client_id=a.client_id,
                duration_minutes=a.duration_minutes,
                windows=windows,
                skills=list(a.skills),
                priority=a.priority,
                address=a.address,
                lon=a.lon,
                lat=a.lat,
                status="open",
            )
        )
        ids.append(ident)
    session.flush()
    log.info("imported %d visits (%d new clients)", len(ids), len(new_clients))
    return ids, []
