"""Checks of a visit's pin when it is set: a pin that can never hold is refused (422) at once,
naming the field and the reason, instead of leaving the visit unplanned at the next plan.

A pin is impossible when its day lies outside all the visit's time windows, its van lacks a skill
the visit needs, its van has no shift that day (or, pinned to a day only, no van with the skills
has), or the visit's service is longer than every such shift (or than the part of its windows
inside them). A pin that is possible alone but meets a full van-day is not refused: the plan
reports the visit unassigned with the reason ``pin_not_honoured``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.core_models import ShiftRow, VanRow
from api.schemas.core import VisitCreate


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> float:
    """Seconds two intervals share (0 when they do not meet)."""
    return max(0.0, (min(a[1], b[1]) - max(a[0], b[0])).total_seconds())


def _minutes(seconds: float) -> str:
    return f"{round(seconds / 60)} min"


def pin_problems(session: Session, body: VisitCreate, tz: ZoneInfo) -> list[tuple[str, str, str]]:
    """Why ``body``'s pin can never hold, as ``(field, message, reason)`` triples (empty:
    possible). ``reason`` is a stable code the pages translate: ``pin_lacks_skill``,
    ``pin_outside_windows``, ``pin_no_shift`` (the van's), ``pin_no_skilled_shift`` (no van's),
    ``pin_too_long``, ``pin_no_window_in_shift``."""
    van_id, day = body.pinned_van_id, body.pinned_date
    if van_id is None and day is None:
        return []
    out: list[tuple[str, str, str]] = []
    need = set(body.skills)
    duration = body.duration_minutes * 60
    windows = [(w.start, w.end) for w in body.windows]
    van = session.get(VanRow, van_id) if van_id is not None else None
    if van is not None:
        missing = sorted(need - set(van.skills))
        if missing:
            out.append(
                (
                    "body.pinned_van_id",
                    f"van {van.id} lacks the skill(s) {', '.join(missing)} the visit needs",
                    "pin_lacks_skill",
                )
            )
    if day is None:
        return out
    bounds = _day_bounds(day, tz)
    if windows and not any(_overlap(w, bounds) >= duration for w in windows):
        out.append(
            (
                "body.pinned_date",
                f"{day.isoformat()} lies outside all the visit's time windows",
                "pin_outside_windows",
            )
        )
        return out
    shifts = _shifts_on(session, day, tz, van_id)
    if van_id is None:
        vans = {v.id: v for v in session.scalars(select(VanRow))}
        shifts = [s for s in shifts if need <= set(vans[s.van_id].skills)]
    who = f"van {van_id}" if van_id is not None else "no van with the needed skills"
    if not shifts:
        verb = "has no shift" if van_id is not None else "has a shift"
        reason = "pin_no_shift" if van_id is not None else "pin_no_skilled_shift"
        out.append(("body.pinned_date", f"{who} {verb} on {day.isoformat()}", reason))
        return out
    spans = [(s.start, s.end) for s in shifts]
    longest = max((b - a).total_seconds() for a, b in spans)
    if duration > longest:
        out.append(
            (
                "body.pinned_date",
                f"the visit's {body.duration_minutes} min are longer than "
                f"{'the' if van_id is not None else 'every'} shift on {day.isoformat()} "
                f"(longest {_minutes(longest)})",
                "pin_too_long",
            )
        )
    elif windows and not any(_overlap(w, s) >= duration for w in windows for s in spans):
        out.append(
            (
                "body.pinned_date",
                f"no time window of the visit leaves {body.duration_minutes} min inside "
                f"{'the shift of ' + who if van_id is not None else 'a shift'} "
                f"on {day.isoformat()}",
                "pin_no_window_in_shift",
            )
        )
    return out


def _shifts_on(session: Session, day: date, tz: ZoneInfo, van_id: str | None) -> Sequence[ShiftRow]:
    """Shifts starting on the local ``day`` (of ``van_id`` when given)."""
    lo, hi = _day_bounds(day, tz)
    query = select(ShiftRow).where(ShiftRow.start >= lo, ShiftRow.start < hi)
    if van_id is not None:
        query = query.where(ShiftRow.van_id == van_id)
    return list(session.scalars(query))
