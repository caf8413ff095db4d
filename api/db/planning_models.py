"""ORM models of the planning side: solve jobs and versioned weekly plans.

Payloads (requests and plans) are stored as JSON in the response schema of
:mod:`api.schemas.planning`; they hold visit ids and opaque client references, never names.
"""

from __future__ import annotations

import weakref
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, Session, mapped_column, object_session

from api.db.base import Base, UtcDateTime, utcnow
from api.db.core_models import ClientRow, TenantOwned


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


class PlanRenderRow(Base):
    """One rendered output of a published plan version (:mod:`api.renders`): the bytes a read
    path answers with, rendered once. ``key`` is :attr:`api.renders.RenderKey.key`, a digest of
    everything else that changes the bytes (format, language, the render context); ``kind``,
    ``van_id``, ``day`` and ``lang`` are kept readable beside it."""

    __tablename__ = "plan_renders"

    plan_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    van_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    day: Mapped[date | None] = mapped_column(Date, nullable=True)
    lang: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str] = mapped_column(String(100))
    disposition: Mapped[str | None] = mapped_column(String(300), nullable=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RenderGenerationRow(Base):
    """The render generation of a tenant: raised in the transaction of every change of its plans
    or clients (the listeners below). A server process serves a stored render without asking the
    database again while the generation it last read is current and at most
    ``render_check_seconds`` old (see :mod:`api.renders`)."""

    __tablename__ = "render_generations"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


GENERATIONS_KEY = "render_generations"
"""Key in ``session.info``: tenant -> the render generation this transaction raised it to."""


class GenerationWatcher(Protocol):
    """Told of every render generation a committed transaction of this process made."""

    def saw_generation(self, tenant_id: str, generation: int) -> None: ...


_WATCHERS: weakref.WeakSet[Any] = weakref.WeakSet()
"""The watchers of this process (weak: a render cache goes with its app)."""


def watch_generations(watcher: GenerationWatcher) -> None:
    """Tell ``watcher`` of the generations this process commits (``api.renders.RenderCache``)."""
    _WATCHERS.add(watcher)


def _raise_generation(connection: Connection, row: PlanRow | ClientRow) -> None:
    """Raise the render generation of ``row``'s tenant in the row's transaction; the committing
    session then tells this process's watchers (``after_commit`` below)."""
    dialect = connection.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(RenderGenerationRow)
        .values(tenant_id=row.tenant_id, generation=1)
        .on_conflict_do_update(
            index_elements=[RenderGenerationRow.tenant_id],
            set_={"generation": RenderGenerationRow.generation + 1},
        )
        .returning(RenderGenerationRow.generation)
    )
    generation = int(connection.execute(statement).scalar_one())
    session = object_session(row)
    if session is not None:
        session.info.setdefault(GENERATIONS_KEY, {})[row.tenant_id] = generation


@event.listens_for(Session, "after_commit")
def _tell_watchers(session: Session) -> None:
    raised: dict[str, int] = session.info.pop(GENERATIONS_KEY, {})
    for tenant_id, generation in raised.items():
        for watcher in list(_WATCHERS):
            watcher.saw_generation(tenant_id, generation)


@event.listens_for(Session, "after_rollback")
def _forget_raised(session: Session) -> None:
    session.info.pop(GENERATIONS_KEY, None)


@event.listens_for(PlanRow, "after_insert")
def _plan_added(_mapper: Mapper[PlanRow], connection: Connection, row: PlanRow) -> None:
    """A new version may be the one a week's reads now show: a new generation."""
    _raise_generation(connection, row)


@event.listens_for(PlanRow, "after_update")
def _plan_changed(_mapper: Mapper[PlanRow], connection: Connection, row: PlanRow) -> None:
    """A changed version (a draft's confirmed visits or publication, an erasure in a published
    one) loses its stored renders in the same transaction, and its tenant gets a new
    generation (see :mod:`api.renders`)."""
    connection.execute(delete(PlanRenderRow).where(PlanRenderRow.plan_id == row.id))
    _raise_generation(connection, row)


@event.listens_for(ClientRow, "after_insert")
@event.listens_for(ClientRow, "after_update")
@event.listens_for(ClientRow, "after_delete")
def _client_changed(_mapper: Mapper[ClientRow], connection: Connection, row: ClientRow) -> None:
    """Rendered plan outputs show client names, addresses and notes (and drop erased clients):
    any change of a client deletes the stored renders of its tenant's plans and raises its
    tenant's generation in the same transaction, so no output of an old name, or of an erased
    client, is served again (see :mod:`api.renders`)."""
    plans_of_tenant = select(PlanRow.id).where(PlanRow.tenant_id == row.tenant_id)
    connection.execute(delete(PlanRenderRow).where(PlanRenderRow.plan_id.in_(plans_of_tenant)))
    _raise_generation(connection, row)
