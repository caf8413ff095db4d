"""Appointments uploaded as CSV or Excel by the dispatcher: template, parsing, row-level checks.

One row per visit. Columns (see :data:`COLUMNS`): the client (``client_id``; ``client_name`` is
needed when the client is new; an optional ``phone``, checked like the API's client phone, is
the client's and updates it when it differs), the place (``lon`` and ``lat``, or an
``address``), the duration, an optional time window (local time in the district's zone as
``07.12.2026 09:00``, ``7.12.2026 9:00`` or ``2026-12-07 09:00``, or ISO-8601 with an offset),
priority, skills (separated by ``;``) and notes for the crew.

:func:`parse_upload` checks every row and returns all problems with their row number (the
header is row 1), so the dispatcher can fix the file in one go.

Imports are idempotent: the same row always means the same visit (:func:`store_rows`). A row
is identified by its ``visit_id`` when it has one; otherwise by its client and its window (or
by "no window"): the stored visit of that client with that window. Such a row creates the visit
the first time, leaves it alone when nothing changed and updates it (duration, skills, priority,
place) when something did; so uploading a file twice never duplicates its visits. A visit's
status is never changed by an import (a cancelled visit stays cancelled). Good rows are stored
and bad rows rejected with their reasons (:class:`ImportSummary`); after fixing the file the
dispatcher uploads it again, and the rows stored the first time come back unchanged.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from api.db.core_models import ClientRow, VisitRow
from api.forms import CLOCK, GERMAN_DAY, parse_clock, parse_day
from api.i18n import N_, SOURCE_LANGUAGE, Language
from api.schemas.core import PHONE_MESSAGE, normalise_phone

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
    "phone",  # last: files made from the earlier template keep their column order
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
    "window_start": "24.11.2026 09:00",
    "window_end": "24.11.2026 12:00",
    "priority": "1",
    "skills": "arabic",
    "notes": "Prefers mornings",
    "phone": "+49 6062 123456",
}
MAX_ROWS = 2000
NOT_A_NUMBER = N_("not a number: %(value)s")


@dataclass(frozen=True)
class RowError:
    """A rejected row: ``msgid`` is an English message id with ``%(name)s`` placeholders
    filled from ``params`` (translated by the page, :meth:`text`)."""

    row: int  # 1-based line of the sheet, header = 1
    column: str
    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The message in English."""
        return self.msgid % dict(self.params) if self.params else self.msgid

    def text(self, lang: Language) -> str:
        """``Zeile 3, duration_minutes: keine Zahl: 'x'`` in ``lang`` (columns keep the file's
        names)."""
        message = lang.gettext(self.msgid)
        if self.params:
            message = message % dict(self.params)
        line = lang.gettext("row %(row)s, %(column)s: %(message)s")
        return line % {"row": self.row, "column": self.column, "message": message}

    def __str__(self) -> str:
        return self.text(Language(SOURCE_LANGUAGE))


@dataclass(frozen=True)
class Appointment:
    row: int
    visit_id: str | None
    client_id: str
    client_name: str | None
    phone: str | None
    address: str | None
    lon: float | None
    lat: float | None
    duration_minutes: int
    window: tuple[datetime, datetime] | None
    priority: int
    skills: tuple[str, ...]
    notes: str | None

    def windows(self) -> list[list[str]]:
        """The window as stored on a visit: ``[[start, end]]`` in UTC, ``[]`` without one."""
        if self.window is None:
            return []
        return [
            [self.window[0].astimezone(UTC).isoformat(), self.window[1].astimezone(UTC).isoformat()]
        ]

    def identity(self) -> tuple[str, ...]:
        """What makes two rows "the same row" (see the module's docstring)."""
        if self.visit_id:
            return ("visit", self.visit_id)
        return ("client", self.client_id, *_window_key(self.windows()))


def _window_key(windows: list[list[str]]) -> tuple[str, ...]:
    """Windows compared as instants, whatever ISO spelling stored them."""
    return tuple(
        datetime.fromisoformat(t).astimezone(UTC).isoformat() for pair in windows for t in pair
    )


@dataclass
class ParseResult:
    appointments: list[Appointment] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportSummary:
    """What an import did: visit ids added, changed and left unchanged, and the rejected rows
    with their reasons (row 0: the file itself, row 1: its header; then nothing was stored)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return len(self.added) + len(self.changed) + len(self.unchanged)


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
    raise ValueError(N_("upload a .csv or .xlsx file"))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# German spelling: day.month.year, then hours:minutes (one-digit day, month and hour allowed),
# read by the same functions as the pages' date and time fields.
_GERMAN = re.compile(rf"({GERMAN_DAY})[ T,]+({CLOCK})")
# ISO date with a one-digit hour ("2026-12-07 9:00"), which fromisoformat refuses.
_ISO_SHORT_HOUR = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d):(\d{2})(?::(\d{2}))?")


def _moment(value: Any, tz: ZoneInfo) -> datetime:
    """A point in time from a cell: an Excel datetime, ``07.12.2026 09:00``, ``7.12.2026 9:00``
    or ISO-8601 (``2026-12-07 09:00``, with or without offset); local time in ``tz`` unless the
    text gives an offset. Raises ValueError otherwise."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value)
        if m := _GERMAN.fullmatch(text):
            moment = datetime.combine(parse_day(m.group(1)), parse_clock(m.group(2)))
        elif m := _ISO_SHORT_HOUR.fullmatch(text):
            year, month, day, hour, minute, second = m.groups()
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
            )
        else:
            moment = datetime.fromisoformat(text)  # ValueError names the problem
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_upload(filename: str, content: bytes, timezone: str = "Europe/Berlin") -> ParseResult:
    """Check every row; return the good appointments and every problem found."""
    out = ParseResult()
    try:
        rows = _read_rows(filename, content)
    except UnicodeDecodeError:
        out.errors.append(RowError(0, "file", N_("not UTF-8 text: save the file as CSV UTF-8")))
        return out
    except ValueError as exc:
        out.errors.append(RowError(0, "file", str(exc)))
        return out
    except Exception as exc:  # openpyxl raises several types for a broken workbook
        message = N_("cannot read the file: %(error)s")
        out.errors.append(RowError(0, "file", message, {"error": exc}))
        return out
    if not rows:
        out.errors.append(RowError(1, "header", N_("the file is empty")))
        return out
    header = [_text(h).lower() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h and h not in COLUMNS]
    if missing:
        message, found = N_("missing columns: %(columns)s"), ", ".join(missing)
        out.errors.append(RowError(1, "header", message, {"columns": found}))
    if unknown:
        message, found = N_("unknown columns: %(columns)s"), ", ".join(unknown)
        out.errors.append(RowError(1, "header", message, {"columns": found}))
    if missing or unknown:
        return out
    if len(rows) - 1 > MAX_ROWS:
        out.errors.append(RowError(1, "file", N_("more than %(max)s rows"), {"max": MAX_ROWS}))
        return out
    tz = ZoneInfo(timezone)
    seen: dict[tuple[str, ...], int] = {}
    for i, raw in enumerate(rows[1:], start=2):
        cells = {h: raw[j] if j < len(raw) else None for j, h in enumerate(header) if h}
        if all(_text(v) == "" for v in cells.values()):
            continue  # blank line
        appt = _parse_row(i, cells, tz, out.errors)
        if appt is None:
            continue
        key = appt.identity()
        if key in seen:
            if appt.visit_id:
                message = N_("%(visit)s already in row %(row)s")
                params = {"visit": repr(appt.visit_id), "row": seen[key]}
                out.errors.append(RowError(i, "visit_id", message, params))
            else:
                message = N_("same client and window as row %(row)s: give each a visit_id")
                out.errors.append(RowError(i, "client_id", message, {"row": seen[key]}))
            continue
        seen[key] = i
        out.appointments.append(appt)
    return out


def _parse_row(
    i: int, cells: dict[str, Any], tz: ZoneInfo, errors: list[RowError]
) -> Appointment | None:
    before = len(errors)

    def err(column: str, message: str, **params: Any) -> None:
        errors.append(RowError(i, column, message, params))

    client_id = _text(cells.get("client_id"))
    if not client_id:
        err("client_id", N_("missing"))
    elif len(client_id) > 64:
        err("client_id", N_("longer than 64 characters"))
    duration = 0
    try:
        duration = int(float(_text(cells.get("duration_minutes"))))
        if not 0 < duration <= 600:
            err("duration_minutes", N_("must be 1..600, got %(value)s"), value=duration)
    except ValueError:
        err("duration_minutes", NOT_A_NUMBER, value=repr(_text(cells.get("duration_minutes"))))
    lon = lat = None
    lon_t, lat_t = _text(cells.get("lon")), _text(cells.get("lat"))
    if lon_t or lat_t:
        try:
            lon, lat = float(lon_t.replace(",", ".")), float(lat_t.replace(",", "."))
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                message = N_("position (%(lon)s, %(lat)s) is not a longitude/latitude")
                err("lon", message, lon=lon, lat=lat)
            elif 45 <= lon <= 56 and 5 <= lat <= 16:
                err("lon", N_("longitude and latitude look swapped (give lon, then lat)"))
        except ValueError:
            message = N_("lon/lat must both be numbers, got %(lon)s, %(lat)s")
            err("lon", message, lon=repr(lon_t), lat=repr(lat_t))
    phone = _text(cells.get("phone")) or None
    if phone is not None:
        try:
            phone = normalise_phone(phone)
            if len(phone) > 32:  # the column's and the API field's size
                raise ValueError(phone)
        except ValueError:
            err("phone", PHONE_MESSAGE)
    address = _text(cells.get("address")) or None
    if lon is None and address is None:
        err("address", N_("give lon and lat, or an address"))
    window = None
    ws, we = cells.get("window_start"), cells.get("window_end")
    if _text(ws) or _text(we):
        try:
            start, end = _moment(ws, tz), _moment(we, tz)
            if end <= start:
                err("window_end", N_("must be after window_start"))
            else:
                window = (start, end)
        except ValueError:
            err(
                "window_start",
                N_("give both window_start and window_end as DD.MM.YYYY HH:MM or YYYY-MM-DD HH:MM"),
            )
    priority = 1
    if _text(cells.get("priority")):
        try:
            priority = int(float(_text(cells.get("priority"))))
            if not 1 <= priority <= 10:
                err("priority", N_("must be 1..10, got %(value)s"), value=priority)
        except ValueError:
            err("priority", NOT_A_NUMBER, value=repr(_text(cells.get("priority"))))
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
        phone=phone,
        address=address,
        lon=lon,
        lat=lat,
        duration_minutes=duration,
        window=window,
        priority=priority,
        skills=skills,
        notes=_text(cells.get("notes")) or None,
    )


def import_file(
    session: Any, filename: str, content: bytes, timezone: str = "Europe/Berlin"
) -> ImportSummary:
    """Parse an upload and store its good rows (:func:`parse_upload`, :func:`store_rows`); the
    rows that fail either step are rejected. A file or header problem stores nothing. The caller
    commits."""
    parsed = parse_upload(filename, content, timezone)
    if any(e.row <= 1 for e in parsed.errors):
        return ImportSummary(rejected=parsed.errors)
    summary = store_rows(session, parsed.appointments)
    summary.rejected = sorted([*parsed.errors, *summary.rejected], key=lambda e: e.row)
    return summary


def _find(session: Any, a: Appointment) -> VisitRow | None:
    """The stored visit this row is (see the module's docstring), or None."""
    if a.visit_id:
        row: VisitRow | None = session.get(VisitRow, a.visit_id)
        return row
    key = _window_key(a.windows())
    rows = session.scalars(
        select(VisitRow).where(VisitRow.client_id == a.client_id).order_by(VisitRow.id)
    )
    return next((r for r in rows if _window_key(r.windows or []) == key), None)


def _fields(a: Appointment) -> dict[str, Any]:
    """The visit's fields a row sets."""
    return {
        "duration_minutes": a.duration_minutes,
        "windows": a.windows(),
        "skills": list(a.skills),
        "priority": a.priority,
        "address": a.address,
        "lon": a.lon,
        "lat": a.lat,
    }


def _differs(row: VisitRow, fields: dict[str, Any]) -> bool:
    """Whether storing ``fields`` would change the visit (an empty text or list equals None)."""
    for name, value in fields.items():
        current = getattr(row, name)
        if name == "windows":
            if _window_key(current or []) != _window_key(value):
                return True
        elif name in ("address", "skills"):
            if (current or None) != (value or None):
                return True
        elif current != value:
            return True
    return False


def store_rows(session: Any, appointments: list[Appointment]) -> ImportSummary:
    """Store each row as its visit: add it when new, update it when the row changed, leave it
    when not (the same row is always the same visit: see the module's docstring). New clients
    are created. A row is rejected, and the others still stored, when its client is new without
    a name or was erased, or its ``visit_id`` belongs to another client. The caller commits."""
    summary = ImportSummary()
    new_clients: dict[str, ClientRow] = {}
    for a in appointments:
        client = session.get(ClientRow, a.client_id) or new_clients.get(a.client_id)
        if client is None:
            if not a.client_name:
                message = N_("client %(client)s is new: give a name")
                params = {"client": repr(a.client_id)}
                summary.rejected.append(RowError(a.row, "client_name", message, params))
                continue
            client = new_clients[a.client_id] = ClientRow(
                id=a.client_id,
                name=a.client_name,
                address=a.address,
                lon=a.lon,
                lat=a.lat,
                language="de",
                notes=a.notes,
                phone=a.phone,
            )
            session.add(client)
            session.flush()
        elif getattr(client, "erased_at", None) is not None:
            message = N_("client %(client)s was erased")
            params = {"client": repr(a.client_id)}
            summary.rejected.append(RowError(a.row, "client_id", message, params))
            continue
        # A row's phone is its client's: set when given and different (an empty cell keeps it).
        phone_changed = a.phone is not None and client.phone != a.phone
        if phone_changed:
            client.phone = a.phone
            session.flush()
        existing = _find(session, a)
        fields = _fields(a)
        if existing is None:
            ident = a.visit_id or f"visit_{secrets.token_hex(6)}"
            session.add(VisitRow(id=ident, client_id=a.client_id, status="open", **fields))
            session.flush()
            summary.added.append(ident)
        elif existing.client_id != a.client_id:
            message = N_("visit %(visit)s belongs to another client")
            params = {"visit": repr(existing.id)}
            summary.rejected.append(RowError(a.row, "visit_id", message, params))
        elif _differs(existing, fields):
            for name, value in fields.items():
                setattr(existing, name, value)
            session.flush()
            summary.changed.append(existing.id)
        elif phone_changed:
            summary.changed.append(existing.id)
        else:
            summary.unchanged.append(existing.id)
    log.info(
        "import: %d visits added, %d changed, %d unchanged, %d rows rejected (%d new clients)",
        len(summary.added),
        len(summary.changed),
        len(summary.unchanged),
        len(summary.rejected),
        len(new_clients),
    )
    return summary
