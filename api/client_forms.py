"""The dispatcher's clients and visits forms: the fields as sent (kept to show a refused form
again), read into the JSON API's request schemas (:class:`api.schemas.core.ClientCreate`,
``ClientPatch``, ``VisitCreate``, ``VisitPatch``) with :func:`api.forms.form_model`, so the
pages and ``/v1/clients``, ``/v1/visits`` follow one set of rules; every problem names its field
(:class:`api.forms.Problem`).

A change is checked as the whole resource (the ``*Create`` model) and sent as a patch of every
field the form shows, so a field left empty clears the stored value. A visit's time windows are
rows of a day (``07.12.2026``), two 24 h wall-clock times in the district's zone and an optional
end day; empty rows are left out. Without an end day, the end is on the start's day, or on the
next day when it is earlier than the start (a window over midnight: ``07.12.2026``, ``22:00``,
``02:00``). With one, the window ends then (``07.12.2026 09:00`` to ``09.12.2026 12:00``), and
an end not after the start is refused naming the row's end. The other rules are the API's
(:class:`api.schemas.core.WindowIn`, :class:`~api.schemas.core.VisitCreate`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.core_models import ClientRow, VisitRow
from api.fleet import week_start
from api.forms import (
    FormError,
    Problem,
    form_model,
    form_patch,
    iso_day,
    items,
    local_moment,
    optional,
)
from api.i18n import N_
from api.schemas.core import ClientCreate, ClientPatch, VisitCreate, VisitPatch

WINDOW_ROWS = 3
"""Time-window rows an empty visit form offers (an edited visit: its windows and one more)."""


def _number(text: str, name: str, problems: list[Problem]) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        problems.append(Problem(name, N_("a number, e.g. 8.9931"), {}))
        return None


@dataclass(frozen=True)
class ClientForm:
    """A client as the form shows and sends it (texts); ``existing``: the client edited."""

    existing: str = ""
    client_id: str = ""
    name: str = ""
    phone: str = ""
    address: str = ""
    lon: str = ""
    lat: str = ""
    language: str = "de"
    notes: str = ""
    preferred_van_id: str = ""

    @classmethod
    def of(cls, row: ClientRow) -> ClientForm:
        return cls(
            existing=row.id,
            client_id=row.id,
            name=row.name or "",
            phone=row.phone or "",
            address=row.address or "",
            lon="" if row.lon is None else f"{row.lon:g}",
            lat="" if row.lat is None else f"{row.lat:g}",
            language=row.language or "de",
            notes=row.notes or "",
            preferred_van_id=row.preferred_van_id or "",
        )

    def _data(self) -> tuple[dict[str, Any], list[Problem]]:
        """The fields as schema data, and the problems of fields that could not be read."""
        problems: list[Problem] = []
        location = None
        if self.lon.strip() or self.lat.strip():
            if not (self.lon.strip() and self.lat.strip()):
                problems.append(Problem("location", N_("give both lon and lat, or neither")))
            else:
                lon = _number(self.lon, "location", problems)
                lat = _number(self.lat, "location", problems)
                location = None if lon is None or lat is None else [lon, lat]
        return {
            "name": self.name.strip(),
            "phone": optional(self.phone),
            "address": optional(self.address),
            "location": location,
            "language": self.language.strip() or "de",
            "notes": optional(self.notes),
            "preferred_van_id": optional(self.preferred_van_id),
        }, problems

    def create(self) -> ClientCreate:
        data, problems = self._data()
        return form_model(ClientCreate, {"id": optional(self.client_id), **data}, problems)

    def patch(self) -> ClientPatch:
        """Every field of the form (an empty one clears the stored value)."""
        data, problems = self._data()
        return form_patch(ClientPatch, form_model(ClientCreate, data, problems), data)


@dataclass(frozen=True)
class WindowRow:
    """A window as the form shows it: ``day`` and ``start``, ``end`` on ``end_day`` (empty:
    the start's day, or the next when ``end`` is earlier than ``start``)."""

    day: str = ""
    start: str = ""
    end: str = ""
    end_day: str = ""

    def empty(self) -> bool:
        return not any(v.strip() for v in (self.day, self.start, self.end, self.end_day))

    @classmethod
    def of(cls, window: Sequence[str], tz: ZoneInfo) -> WindowRow:
        """A stored window (ISO start and end); the end day shown when it is not the start's."""
        start = datetime.fromisoformat(window[0]).astimezone(tz)
        end = datetime.fromisoformat(window[1]).astimezone(tz)
        end_day = f"{end:%d.%m.%Y}" if end.date() != start.date() else ""
        return cls(f"{start:%d.%m.%Y}", f"{start:%H:%M}", f"{end:%H:%M}", end_day)

    def moments(self, tz: ZoneInfo, field: str) -> tuple[datetime, datetime]:
        """Start and end in ``tz``; :class:`FormError` naming ``field.start``/``field.end``."""
        start = local_moment(self.day, self.start, f"{field}.start", tz)
        if self.end_day.strip():
            end = local_moment(self.end_day, self.end, f"{field}.end", tz)
            if end <= start:
                raise FormError([Problem(f"{field}.end", N_("end must be after start"))])
            return start, end
        end = local_moment(self.day, self.end, f"{field}.end", tz)
        if end < start:  # a window past midnight: the end time is on the next day
            next_day = (start.date() + timedelta(days=1)).isoformat()
            end = local_moment(next_day, self.end, f"{field}.end", tz)
        return start, end


@dataclass(frozen=True)
class VisitForm:
    """A visit as the form shows and sends it; ``existing``: the visit edited."""

    existing: str = ""
    visit_id: str = ""
    client_id: str = ""
    duration_minutes: str = "45"
    windows: tuple[WindowRow, ...] = field(default_factory=tuple)
    skills: str = ""
    priority: str = "1"
    preferred_van_id: str = ""
    status: str = "open"
    pinned_van_id: str = ""
    pinned_date: str = ""

    @classmethod
    def of(cls, row: VisitRow, tz: ZoneInfo) -> VisitForm:
        windows = [WindowRow.of(w, tz) for w in row.windows]
        return cls(
            existing=row.id,
            visit_id=row.id,
            client_id=row.client_id,
            duration_minutes=str(row.duration_minutes),
            windows=tuple(windows),
            skills=", ".join(row.skills),
            priority=str(row.priority),
            preferred_van_id=row.preferred_van_id or "",
            status=row.status,
            pinned_van_id=row.pinned_van_id or "",
            pinned_date=f"{row.pinned_date:%d.%m.%Y}" if row.pinned_date else "",
        )

    @classmethod
    def sent(
        cls,
        days: Sequence[str] | None,
        starts: Sequence[str] | None,
        ends: Sequence[str] | None,
        end_days: Sequence[str] | None = None,
        **fields: str,
    ) -> VisitForm:
        """The form as posted: window rows from the parallel lists ``days``, ``starts``,
        ``ends`` and ``end_days``."""
        columns = [list(c or ()) for c in (days, starts, ends, end_days)]
        n = max(len(c) for c in columns)
        rows = tuple(WindowRow(*(c[i] if i < len(c) else "" for c in columns)) for i in range(n))
        return cls(windows=rows, **fields)

    def rows(self) -> list[WindowRow]:
        """The window rows to show: the visit's and empty ones to add more."""
        filled = [w for w in self.windows if not w.empty()]
        return [*filled, *[WindowRow()] * max(1, WINDOW_ROWS - len(filled))]

    def _data(self, tz: ZoneInfo) -> tuple[dict[str, Any], list[Problem]]:
        """The fields as schema data, and the problems of fields that could not be read."""
        problems: list[Problem] = []
        windows = []
        for i, w in enumerate(self.windows):
            if w.empty():
                continue
            try:
                start, end = w.moments(tz, f"windows[{i}]")
                windows.append({"start": start, "end": end})
            except FormError as exc:
                problems += exc.problems
        return {
            "client_id": self.client_id.strip(),
            "duration_minutes": self.duration_minutes.strip(),
            "windows": windows,
            "skills": items(self.skills),
            "priority": self.priority.strip() or 1,
            "preferred_van_id": optional(self.preferred_van_id),
            "status": self.status or "open",
            "pinned_van_id": optional(self.pinned_van_id),
            "pinned_date": iso_day(self.pinned_date),
        }, problems

    def _model(self, data: dict[str, Any], problems: list[Problem]) -> VisitCreate:
        """The visit checked as a whole; a window's problem names the form's row (empty and
        unreadable rows are not in ``data["windows"]``)."""
        try:
            return form_model(VisitCreate, data, problems)
        except FormError as exc:
            rows = [i for i, w in enumerate(self.windows) if not w.empty()]
            good = [
                i for i in rows if not any(p.field.startswith(f"windows[{i}]") for p in problems)
            ]

            def renumber(m: re.Match[str]) -> str:
                j = int(m.group(1))
                return f"windows[{good[j] if j < len(good) else j}]"

            found = exc.problems[len(problems) :]
            raise FormError(
                [
                    *problems,
                    *(
                        replace(p, field=re.sub(r"^windows\[(\d+)\]", renumber, p.field))
                        for p in found
                    ),
                ]
            ) from None

    def create(self, tz: ZoneInfo) -> VisitCreate:
        data, problems = self._data(tz)
        return self._model({"id": optional(self.visit_id), **data}, problems)

    def patch(self, tz: ZoneInfo) -> VisitPatch:
        """Every field of the form (the visit's own place, which the form does not show, is
        kept)."""
        data, problems = self._data(tz)
        return form_patch(VisitPatch, self._model(data, problems), data)


def clients(session: Session) -> list[ClientRow]:
    return list(session.scalars(select(ClientRow).order_by(ClientRow.id)))


def client_choices(session: Session) -> list[tuple[str, str]]:
    """(id, ``name (id)``) of the clients a visit can be for (not erased)."""
    rows = session.scalars(
        select(ClientRow).where(ClientRow.erased_at.is_(None)).order_by(ClientRow.id)
    )
    return [(c.id, f"{c.name} ({c.id})" if c.name else c.id) for c in rows]


def week_visits(session: Session, week: str | None, tz: ZoneInfo) -> list[VisitRow]:
    """The visits of ``week`` (local Monday to Sunday in ``tz``: a window in it, or no window,
    i.e. any time), all without a week; ordered by their first window (visits without one
    last), then id."""
    rows = list(session.scalars(select(VisitRow).order_by(VisitRow.id)))
    if week:
        first = datetime.combine(week_start(week), time(), tzinfo=tz)
        last = datetime.combine(week_start(week) + timedelta(days=7), time(), tzinfo=tz)

        def in_week(v: VisitRow) -> bool:
            return not v.windows or any(
                datetime.fromisoformat(a) < last and datetime.fromisoformat(b) > first
                for a, b in v.windows
            )

        rows = [v for v in rows if in_week(v)]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda v: (min((w[0] for w in v.windows), default=str(far)), v.id))


def window_label(window: Sequence[str], tz: ZoneInfo) -> tuple[date, datetime, datetime]:
    """A stored window as (local day, start, end)."""
    start = datetime.fromisoformat(window[0]).astimezone(tz)
    return start.date(), start, datetime.fromisoformat(window[1]).astimezone(tz)
