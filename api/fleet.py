"""Vans and their shifts of a week for the dispatcher page, edited through the JSON API's rules.

The page's forms build the API's request schemas (:class:`api.schemas.core.VanCreate`,
``VanPatch``, ``ShiftCreate``, ``ShiftPatch``, via :func:`api.forms.form_model`) and call the
handlers of :mod:`api.routers.resources`, so the page and the API follow one rule (names,
skills, shift length, no overlapping shifts of a van). Shift times are entered as a day and
wall-clock times in the district's zone (:func:`api.forms.local_moment`).

The week template is the shifts of one week: :func:`copy_week` repeats them seven days later at
the same local times, skipping those that would overlap a shift already there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.db.core_models import ShiftRow, VanRow
from api.errors import ApiError
from api.forms import form_model, refusal
from api.i18n import Language
from api.routers import resources
from api.schemas.core import ShiftCreate
from api.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetVan:
    id: str
    name: str
    skills: str  # comma-separated, as the form shows them
    shifts: list[dict[str, Any]]


def week_start(week: str) -> date:
    """The Monday of an ISO week ``YYYY-Www``."""
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def next_week(week: str) -> str:
    year, number, _ = (week_start(week) + timedelta(days=7)).isocalendar()
    return f"{year}-W{number:02d}"


def week_shifts(session: Session, week: str, tz: ZoneInfo) -> list[ShiftRow]:
    monday = datetime.combine(week_start(week), time(), tzinfo=tz)
    stmt = (
        select(ShiftRow)
        .where(ShiftRow.start >= monday, ShiftRow.start < monday + timedelta(days=7))
        .order_by(ShiftRow.van_id, ShiftRow.start)
    )
    return list(session.scalars(stmt))


def fleet(session: Session, week: str, timezone: str) -> list[FleetVan]:
    """Every van with its shifts in ``week`` (local times), for the dispatcher page."""
    tz = ZoneInfo(timezone)
    shifts: dict[str, list[dict[str, Any]]] = {}
    for s in week_shifts(session, week, tz):
        start, end = _aware(s.start).astimezone(tz), _aware(s.end).astimezone(tz)
        shifts.setdefault(s.van_id, []).append(
            {"id": s.id, "day": start.date(), "start": start, "end": end, "crew": ", ".join(s.crew)}
        )
    vans = session.scalars(select(VanRow).order_by(VanRow.id))
    return [FleetVan(v.id, v.name, ", ".join(v.skills), shifts.get(v.id, [])) for v in vans]


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive UTC; PostgreSQL aware datetimes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))


def copy_week(
    session: Session, settings: Settings, principal: Principal, week: str, lang: Language
) -> tuple[int, list[str]]:
    """Create next week's copy of each shift of ``week`` (same van, weekday, local times and
    crew) through the API's handler; a copy that would overlap a shift already there is skipped
    and named (in ``lang``). Returns the number created and the skipped ones."""
    tz = ZoneInfo(settings.timezone)
    created, skipped = 0, []
    for s in week_shifts(session, week, tz):
        start, end = _aware(s.start).astimezone(tz), _aware(s.end).astimezone(tz)
        # Same wall-clock time a week later (a DST change in between keeps the local hours).
        data = {
            "start": datetime.combine(start.date() + timedelta(days=7), start.time(), tzinfo=tz),
            "end": datetime.combine(end.date() + timedelta(days=7), end.time(), tzinfo=tz),
            "crew": list(s.crew),
            "max_work_minutes": s.max_work_minutes,
        }
        try:
            resources.create_shift(
                s.van_id, form_model(ShiftCreate, data), session, settings, principal
            )
            created += 1
        except ApiError as exc:
            session.rollback()
            why = "; ".join(refusal(exc, lang))
            skipped.append(f"{s.van_id} {data['start']:%d.%m.%Y %H:%M}: {why}")
    log.info("week %s copied: %d shifts created, %d skipped", week, created, len(skipped))
    return created, skipped
