"""ORM models of the planning side: solve jobs and versioned weekly plans.

Payloads (requests and plans) are stored as JSON in the response schema of
:mod:`api.schemas.planning`; they hold visit ids and opaque client references, never names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, UtcDateTime, utcnow
from api.db.core_models import TenantOwned


class JobRow(TenantOwned, Base):
    """A solve job: its request, live state and, when finished, the plan (``result``); a week
    job also its task and the week plan version it stored."""

    __tablename__ = "solve_jobs"
    __table_args__ = (Index("ix_solve_jobs_tenant_id", "tenant_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    runner: Mapped[str] = mapped_column(String(32), default="in_process")
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Week jobs: {"kind": "week_plan" | "week_replan", "week": ..., "base_plan_id": ...}
    task: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    plan_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # version it stored
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    best_cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    solutions: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PlanRow(TenantOwned, Base):
    """One version of a weekly plan. Published versions are never changed in place."""

    __tablename__ = "week_plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "week", "version", name="uq_week_plans_week_version"),
        Index("ix_week_plans_tenant_id", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    week: Mapped[str] = mapped_column(String(8), index=True)  # ISO week, e.g. 2026-W48
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # draft | published
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # the SolveRequest planned
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the PlanOut
    domain_plan: Mapped[dict[str, Any]] = mapped_column(JSON)  # optimizer.plan.Plan, for replan
    confirmed: Mapped[list[str]] = mapped_column(JSON, default=list)  # confirmed visit ids
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # replan diff
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True, unique=True)
