"""Storage of solve jobs: the database is the record of every job, whichever runner executes it.

Workers in other processes (the Celery runner) write through the same store, so status, progress
and results are read from one place, and jobs left unfinished by a crash are found on restart.

Every job belongs to the tenant that submitted it. What a caller asks about a job (:meth:`get`,
:meth:`result`, :meth:`request_cancel` with ``tenant_id``) is read through a session bound to the
caller's tenant, so another tenant's job is unknown (404). The runners' own bookkeeping by job id
(ids are random) works across tenants.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.db.base import DEFAULT_TENANT, utcnow
from api.db.database import Database
from api.db.planning_models import JobRow
from api.schemas.planning import JobOut, JobStatus

UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class UnknownJobError(KeyError):
    """No job with this id."""


@dataclass(frozen=True)
class JobRecord:
    id: str
    status: JobStatus
    runner: str
    progress: float
    best_cost: float | None
    solutions: int
    attempts: int
    cancel_requested: bool
    has_plan: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    task: dict[str, Any] | None = None
    plan_id: str | None = None
    tenant_id: str = DEFAULT_TENANT

    def out(self) -> JobOut:
        task = self.task or {}
        return JobOut(
            id=self.id,
            kind=task.get("kind", "solve"),
            week=task.get("week"),
            plan_id=self.plan_id,
            status=self.status,
            progress=self.progress,
            best_cost=self.best_cost,
            solutions=self.solutions,
            has_plan=self.has_plan,
            error=self.error,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )


def _record(row: JobRow) -> JobRecord:
    return JobRecord(
        id=row.id,
        status=JobStatus(row.status),
        runner=row.runner,
        progress=row.progress,
        best_cost=row.best_cost,
        solutions=row.solutions,
        attempts=row.attempts,
        cancel_requested=row.cancel_requested,
        has_plan=row.result is not None,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        task=dict(row.task) if row.task else None,
        plan_id=row.plan_id,
        tenant_id=row.tenant_id,
    )


class JobStore:
    """Reads and writes solve jobs in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _session(self, tenant_id: str | None) -> AbstractContextManager[Session]:
        """The tenant's session, or (None) one across tenants for the runners' bookkeeping."""
        return self.db.unscoped() if tenant_id is None else self.db.session(tenant_id)

    def create(
        self,
        request: dict[str, Any],
        runner: str,
        task: dict[str, Any] | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> JobRecord:
        """A queued job of ``tenant_id``; ``task`` marks a week job (see :mod:`api.weeks`)."""
        row = JobRow(
            id=uuid.uuid4().hex,
            tenant_id=tenant_id,
            status=JobStatus.QUEUED.value,
            runner=runner,
            request=request,
            task=task,
            progress=0.0,
            solutions=0,
            attempts=0,
            cancel_requested=False,
            created_at=utcnow(),
        )
        with self.db.session(tenant_id) as s:
            s.add(row)
            s.flush()
            return _record(row)

    def get(self, job_id: str, tenant_id: str | None = None) -> JobRecord:
        """The job; with ``tenant_id`` only a job of that tenant (else UnknownJobError)."""
        with self._session(tenant_id) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise UnknownJobError(job_id)
            return _record(row)

    def request(self, job_id: str) -> dict[str, Any]:
        with self.db.unscoped() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise UnknownJobError(job_id)
            return dict(row.request)

    def result(self, job_id: str, tenant_id: str | None = None) -> dict[str, Any] | None:
        with self._session(tenant_id) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise UnknownJobError(job_id)
            return None if row.result is None else dict(row.result)

    def start(self, job_id: str) -> bool:
        """Mark a queued job running (one more attempt); False if it is no longer queued."""
        with self.db.unscoped() as s:
            done = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == JobStatus.QUEUED.value)
                .values(
                    status=JobStatus.RUNNING.value,
                    started_at=utcnow(),
                    attempts=JobRow.attempts + 1,
                )
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def progress(
        self, job_id: str, progress: float, best_cost: float | None, solutions: int
    ) -> None:
        with self.db.unscoped() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == JobStatus.RUNNING.value)
                .values(
                    progress=min(max(progress, 0.0), 1.0),
                    best_cost=best_cost,
                    solutions=solutions,
                )
            )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        plan_id: str | None = None,
    ) -> None:
        with self.db.unscoped() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise UnknownJobError(job_id)
            row.status = status.value
            row.finished_at = utcnow()
            row.error = error
            if plan_id is not None:
                row.plan_id = plan_id
            if result is not None:
                row.result = result
                summary = result.get("summary", {})
                row.best_cost = summary.get("cost", row.best_cost)
                row.solutions = summary.get("solutions", row.solutions)
                row.progress = 1.0

    def request_cancel(self, job_id: str, tenant_id: str | None = None) -> JobRecord:
        """Flag a job for stopping; a queued job is cancelled at once (it has no plan)."""
        with self._session(tenant_id) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise UnknownJobError(job_id)
            if row.status == JobStatus.QUEUED.value:
                row.status = JobStatus.CANCELLED.value
                row.finished_at = utcnow()
                row.error = "cancelled before it started"
            if row.status == JobStatus.RUNNING.value:
                row.cancel_requested = True
            s.flush()
            return _record(row)

    def cancel_requested(self, job_id: str) -> bool:
        with self.db.unscoped() as s:
            row = s.get(JobRow, job_id)
            return bool(row is not None and row.cancel_requested)

    def requeue(self, job_id: str, *, attempts: int | None = None) -> bool:
        """Put a job back in the queued state. With ``attempts``, only a job still running that
        attempt (a lost job nobody has taken over yet); False if the job is not in that state."""
        with self.db.unscoped() as s:
            query = update(JobRow).where(JobRow.id == job_id)
            if attempts is not None:
                query = query.where(
                    JobRow.status == JobStatus.RUNNING.value, JobRow.attempts == attempts
                )
            done = s.execute(
                query.values(status=JobStatus.QUEUED.value, progress=0.0, started_at=None)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def give_up(
        self, job_id: str, attempts: int, error: str, status: JobStatus = JobStatus.FAILED
    ) -> bool:
        """End a lost job (failed, or cancelled if it was being stopped) with ``error``, if it
        is still running that attempt."""
        with self.db.unscoped() as s:
            done = s.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.status == JobStatus.RUNNING.value,
                    JobRow.attempts == attempts,
                )
                .values(status=status.value, finished_at=utcnow(), error=error)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def unfinished(self, runner: str | None = None) -> list[JobRecord]:
        """Jobs queued or running, oldest first."""
        with self.db.unscoped() as s:
            query = select(JobRow).where(JobRow.status.in_(UNFINISHED))
            if runner is not None:
                query = query.where(JobRow.runner == runner)
            rows = s.scalars(query.order_by(JobRow.created_at)).all()
            return [_record(r) for r in rows]
