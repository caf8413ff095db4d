"""Stored dispatcher data -> the planning request of one ISO week.

Vans with their shifts in the week; open visits whose windows touch the week (or that have none);
consultation hours occurring in the week (:mod:`api.recurrence`) as fixed visits.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.core_models import ClientRow, ConsultationHoursRow, ShiftRow, VanRow, VisitRow
from api.recurrence import Recurrence, session_days
from api.schemas.planning import (
    HorizonIn,
    PinIn,
    Place,
    ShiftIn,
    SolveOptions,
    SolveRequest,
    VanIn,
    VisitIn,
    Window,
)
from optimizer.errors import Issue, ValidationError


class NothingToPlanError(ValidationError):
    """The stored data has no vans or no shifts in the requested week."""


def week_start(iso_week: str) -> date:
    """Monday of an ISO week ``YYYY-Www``; ValidationError naming ``path.iso_week`` if invalid."""
    try:
        year, week = iso_week.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValidationError(
            Issue("path.iso_week", f"{iso_week!r} is not an ISO week such as 2026-W48")
        ) from None


def week_request(
    session: Session,
    iso_week: str,
    timezone: str,
    *,
    time_limit_seconds: float | None = None,
    seed: int | None = None,
    solution_limit: int | None = None,
) -> SolveRequest:
    """The planning request of one ISO week built from the stored dispatcher data.

    Vans with their shifts in the week; open visits whose windows touch the week (or that have
    none); consultation hours occurring in the week as fixed visits (pinned to their van if set).
    """
    tz = ZoneInfo(timezone)
    monday = week_start(iso_week)
    lo = datetime.combine(monday, datetime.min.time(), tzinfo=tz)
    hi = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=tz)
    sunday_next = monday + timedelta(days=7)

    vans = [
        VanIn(
            id=v.id,
            name=v.name,
            skills=list(v.skills or []),
            start=(
                Place(coordinates=(v.base_lon, v.base_lat))
                if v.base_lon is not None and v.base_lat is not None
                else None
            ),
            cost_per_hour=v.cost_per_hour,
            cost_per_km=v.cost_per_km,
        )
        for v in session.scalars(select(VanRow).order_by(VanRow.id))
    ]
    shifts = [
        ShiftIn(
            van_id=s.van_id,
            start=s.start.astimezone(tz),
            end=s.end.astimezone(tz),
            max_work_minutes=s.max_work_minutes,
        )
        for s in session.scalars(
            select(ShiftRow)
            .where(ShiftRow.start >= lo, ShiftRow.start < hi)
            .order_by(ShiftRow.start, ShiftRow.van_id)
        )
    ]
    clients = {c.id: c for c in session.scalars(select(ClientRow))}
    visits: list[VisitIn] = []
    for v in session.scalars(
        select(VisitRow).where(VisitRow.status == "open").order_by(VisitRow.id)
    ):
        windows = [
            Window(
                start=datetime.fromisoformat(a).astimezone(tz),
                end=datetime.fromisoformat(b).astimezone(tz),
            )
            for a, b in (v.windows or [])
        ]
        windows = [w for w in windows if w.end > lo and w.start < hi]
        if v.windows and not windows:
            continue  # appointment in another week
        client = clients.get(v.client_id)
        if client is not None and client.erased_at is not None:
            continue
        place = _stored_place(v, client)
        # The dispatcher's pin; a pinned date outside this week pins only the van (if any).
        pin_date = (
            v.pinned_date if v.pinned_date and monday <= v.pinned_date < sunday_next else None
        )
        pin = (
            PinIn(van_id=v.pinned_van_id, date=pin_date)
            if v.pinned_van_id is not None or pin_date is not None
            else None
        )
        visits.append(
            VisitIn(
                id=v.id,
                place=place,
                duration_minutes=v.duration_minutes,
                windows=windows,
                skills=list(v.skills or []),
                priority=v.priority,
                preferred_van=v.preferred_van_id
                or (client.preferred_van_id if client is not None else None),
                client_ref=v.client_id,
                pin=pin,
            )
        )
    for ch in session.scalars(select(ConsultationHoursRow).order_by(ConsultationHoursRow.id)):
        try:
            rule = Recurrence(ch.weekday, ch.every_weeks, ch.valid_from, ch.valid_until)
        except ValueError as exc:  # the API never stores such a row; say which one if it is there
            raise ValidationError(Issue(f"stored.consultation_hours[{ch.id}]", str(exc))) from exc
        for day in session_days(rule, monday, monday + timedelta(days=6)):
            start = datetime.combine(day, ch.start_time, tzinfo=tz)
            end = datetime.combine(day, ch.end_time, tzinfo=tz)
            visits.append(
                VisitIn(
                    id=f"ch-{ch.id}-{day.isoformat()}",
                    place=Place(coordinates=(ch.lon, ch.lat)),
                    duration_minutes=int((end - start).total_seconds() // 60),
                    windows=[Window(start=start, end=end)],
                    dates=[day],
                    skills=list(ch.skills or []),
                    kind="consultation_hours",
                    pin=PinIn(van_id=ch.van_id) if ch.van_id else None,
                )
            )
    if not vans or not shifts:
        raise NothingToPlanError(
            Issue("path.iso_week", f"no {'vans' if not vans else 'shifts'} stored for {iso_week}")
        )
    return SolveRequest(
        horizon=HorizonIn(start_date=monday, days=7, timezone=timezone),
        vans=vans,
        shifts=shifts,
        visits=visits,
        options=SolveOptions(
            time_limit_seconds=time_limit_seconds, seed=seed, solution_limit=solution_limit
        ),
    )


def _stored_place(visit: VisitRow, client: ClientRow | None) -> Place:
    """A stored visit's place: its own position or address, else its client's."""
    for source in (visit, client):
        if source is None:
            continue
        if source.lon is not None and source.lat is not None:
            return Place(coordinates=(source.lon, source.lat))
    for source in (visit, client):
        if source is not None and source.address:
            return Place(address=source.address)
    # Nothing to go by: an address that cannot be found yields a clear error naming the visit.
    return Place(address=f"(no address stored for visit {visit.id})")
