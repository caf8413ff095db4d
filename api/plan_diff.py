"""What a stored version changes against the week's published version, as the API reports it.

The comparison itself is :func:`optimizer.diff.plan_diff` (pure, on the stored optimizer plans);
this module picks the version to compare with, turns days and seconds into dates and times, and
adds what the dispatcher needs beside: confirmed or not, and why a dropped visit is out.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.planning_models import PlanRow
from api.schemas.planning import DiffKind, DiffVisitOut, PlacementOut, PlanDiffOut
from api.storage import plans as store
from optimizer.diff import Placement, PlanChange, PlanDiff, placements, plan_diff
from optimizer.domain import Horizon

REMOVED = "removed"
"""Reason of a dropped visit that is no longer part of the week (cancelled or deleted)."""


def published_base(session: Session, row: PlanRow) -> PlanRow | None:
    """The version ``row`` is compared with: the week's newest published version; for a
    published version, the one published before it."""
    if row.status != store.PUBLISHED:
        return store.latest(session, row.week, published_only=True)
    query = (
        select(PlanRow)
        .where(
            PlanRow.week == row.week,
            PlanRow.status == store.PUBLISHED,
            PlanRow.version < row.version,
        )
        .order_by(PlanRow.version.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def published_placements(row: PlanRow) -> dict[str, Placement]:
    """Where the version ``row`` serves each visit."""
    return placements(store.plan_from_json(row.domain_plan))


def _horizon(request: dict[str, Any]) -> Horizon:
    h = request["horizon"]
    return Horizon(date.fromisoformat(str(h["start_date"])), int(h["days"]), str(h["timezone"]))


def version_diff(session: Session, row: PlanRow) -> PlanDiffOut:
    """``row`` against its published base (:func:`published_base`)."""
    return diff_out(row, published_base(session, row))


def diff_out(row: PlanRow, base: PlanRow | None) -> PlanDiffOut:
    """The diff of ``row`` against ``base`` (None: against nothing, every visit is added)."""
    horizon = _horizon(row.request)
    plan = store.plan_from_json(row.domain_plan)
    before = published_placements(base) if base is not None else {}
    diff: PlanDiff = plan_diff(before, plan)
    confirmed = set(row.confirmed or ()) | set(base.confirmed or () if base is not None else ())
    why = {u.visit_id: u for u in plan.unassigned}
    present = {v["id"] for v in row.request.get("visits", [])}

    def at(p: Placement | None) -> PlacementOut | None:
        if p is None:
            return None
        return PlacementOut(
            van_id=p.van_id, date=horizon.date_of(p.day), start=horizon.to_datetime(p.start)
        )

    def out(c: PlanChange) -> DiffVisitOut:
        reason = message = None
        if c.after is None:
            u = why.get(c.visit_id)
            if u is not None:
                reason, message = u.reason.value, u.message
            elif c.visit_id not in present:
                reason = REMOVED
        shift = c.shift_seconds
        return DiffVisitOut(
            visit_id=c.visit_id,
            kind=DiffKind(c.kind.value),
            before=at(c.before),
            after=at(c.after),
            shift_minutes=round(shift / 60) if shift is not None else None,
            confirmed=c.visit_id in confirmed,
            reason=reason,
            message=message,
        )

    return PlanDiffOut(
        plan_id=row.id,
        published_plan_id=base.id if base is not None else None,
        published_version=base.version if base is not None else None,
        moved=[out(c) for c in diff.moved],
        retimed=[out(c) for c in diff.retimed],
        added=[out(c) for c in diff.added],
        dropped=[out(c) for c in diff.dropped],
        published_changed=len(diff.touches_earlier),
    )


def describe(c: DiffVisitOut) -> str:
    """One change in words (English, for API error details and logs)."""

    def where(p: PlacementOut | None) -> str:
        if p is None:
            return "not planned"
        return f"{p.van_id} {p.date.isoformat()} {p.start.strftime('%H:%M')}"

    text = f"{c.kind.value}: {where(c.before)} -> {where(c.after)}"
    if c.reason:
        text += f" ({c.reason})"
    return text + (" [confirmed]" if c.confirmed else "")
