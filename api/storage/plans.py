"""Storage of weekly plans: versions per ISO week, draft -> published, never changed once published.

Each version keeps the request it planned (for re-planning and outputs), the response payload and
the optimizer's plan (serialised by :func:`plan_to_json`), so a re-plan can start from it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.base import utcnow
from api.db.planning_models import PlanRow
from optimizer.plan import BreakSlot, Plan, Reason, Route, SolverStats, Stop, Unassigned

DRAFT = "draft"
PUBLISHED = "published"


class PublishedPlanError(ValueError):
    """A published plan was to be changed in place."""


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The optimizer's plan as plain JSON (``extras`` are not kept)."""
    return {
        "routes": [
            {
                "van_id": r.van_id,
                "day": r.day,
                "start_location": r.start_location,
                "end_location": r.end_location,
                "start": r.start,
                "end": r.end,
                "stops": [
                    [
                        s.visit_id,
                        s.location,
                        s.arrival,
                        s.start,
                        s.end,
                        s.waiting,
                        s.travel_time,
                        s.distance,
                    ]
                    for s in r.stops
                ],
                "breaks": [[b.start, b.end] for b in r.breaks],
                "return_travel_time": r.return_travel_time,
                "return_distance": r.return_distance,
            }
            for r in plan.routes
        ],
        "unassigned": [
            {
                "visit_id": u.visit_id,
                "reason": u.reason.value,
                "message": u.message,
                "conflicts": list(u.conflicts),
            }
            for u in plan.unassigned
        ],
        "stats": {
            "status": plan.stats.status,
            "objective": plan.stats.objective,
            "wall_time": plan.stats.wall_time,
            "solutions": plan.stats.solutions,
            "workers": plan.stats.workers,
            "strategy": plan.stats.strategy,
            "engine": plan.stats.engine,
        },
        "warnings": list(plan.warnings),
    }


def plan_from_json(data: dict[str, Any]) -> Plan:
    """Inverse of :func:`plan_to_json`."""
    routes = tuple(
        Route(
            van_id=r["van_id"],
            day=r["day"],
            start_location=r["start_location"],
            end_location=r["end_location"],
            start=r["start"],
            end=r["end"],
            stops=tuple(Stop(*s) for s in r["stops"]),
            breaks=tuple(BreakSlot(*b) for b in r["breaks"]),
            return_travel_time=r["return_travel_time"],
            return_distance=r["return_distance"],
        )
        for r in data["routes"]
    )
    unassigned = tuple(
        Unassigned(u["visit_id"], Reason(u["reason"]), u["message"], tuple(u["conflicts"]))
        for u in data["unassigned"]
    )
    warnings = tuple(data.get("warnings", ()))  # plans stored before warnings existed
    return Plan(routes, unassigned, SolverStats(**data["stats"]), warnings)


def next_version(session: Session, week: str) -> int:
    current = session.scalar(select(func.max(PlanRow.version)).where(PlanRow.week == week))
    return int(current or 0) + 1


def create_version(
    session: Session,
    week: str,
    *,
    request: dict[str, Any],
    payload: dict[str, Any],
    plan: Plan,
    parent_id: str | None = None,
    confirmed: list[str] | None = None,
    changes: dict[str, Any] | None = None,
    job_id: str | None = None,
) -> PlanRow:
    """A new draft version of ``week`` (the caller commits); ``job_id``: the week job that made
    it (at most one version per job)."""
    row = PlanRow(
        id=uuid.uuid4().hex,
        week=week,
        version=next_version(session, week),
        status=DRAFT,
        parent_id=parent_id,
        request=request,
        payload=payload,
        domain_plan=plan_to_json(plan),
        confirmed=sorted(confirmed or []),
        changes=changes,
        created_at=utcnow(),
        job_id=job_id,
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, plan_id: str) -> PlanRow | None:
    return session.get(PlanRow, plan_id)


def by_job(session: Session, job_id: str) -> PlanRow | None:
    """The version a week job stored, if it stored one."""
    return session.scalar(select(PlanRow).where(PlanRow.job_id == job_id))


def versions(session: Session, week: str) -> list[PlanRow]:
    return list(
        session.scalars(select(PlanRow).where(PlanRow.week == week).order_by(PlanRow.version))
    )


def latest(session: Session, week: str, *, published_only: bool = False) -> PlanRow | None:
    query = select(PlanRow).where(PlanRow.week == week)
    if published_only:
        query = query.where(PlanRow.status == PUBLISHED)
    return session.scalars(query.order_by(PlanRow.version.desc()).limit(1)).first()


def publish(session: Session, row: PlanRow) -> PlanRow:
    """Mark a draft published; a published plan cannot be published again."""
    if row.status == PUBLISHED:
        raise PublishedPlanError(f"plan {row.id} (version {row.version}) is already published")
    row.status = PUBLISHED
    row.published_at = utcnow()
    session.flush()
    return row


def set_confirmed(session: Session, row: PlanRow, visit_ids: list[str]) -> PlanRow:
    """Replace the confirmed visits of a draft; a published plan is never edited in place."""
    if row.status == PUBLISHED:
        raise PublishedPlanError(
            f"plan {row.id} (version {row.version}) is published; re-plan to make a new version"
        )
    row.confirmed = sorted(set(visit_ids))
    session.flush()
    return row


def erase_client(session: Session, client_id: str) -> int:
    """Remove a client's personal fields from every stored plan (erasure on request).

    The client's visits leave the stored requests (so a re-plan no longer sees them) and their
    places are dropped from the payload's steps; visit ids stay (they are not personal).
    Returns the number of plan versions changed.
    """
    changed = 0
    for row in session.scalars(select(PlanRow)):
        visits = row.request.get("visits", [])
        mine = {v["id"] for v in visits if v.get("client_ref") == client_id}
        if not mine:
            continue
        request = dict(row.request)
        request["visits"] = [v for v in visits if v["id"] not in mine]
        payload = dict(row.payload)
        payload["routes"] = [
            {
                **r,
                "steps": [
                    {**s, "location": None} if s.get("visit_id") in mine else s for s in r["steps"]
                ],
            }
            for r in payload.get("routes", [])
        ]
        row.request = request
        row.payload = payload
        changed += 1
    session.flush()
    return changed


def published_weeks(session: Session) -> list[str]:
    """The weeks (``YYYY-Www``, in order) that have a published version."""
    query = select(PlanRow.week).where(PlanRow.status == PUBLISHED).distinct()
    return sorted(session.scalars(query))
