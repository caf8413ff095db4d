"""Solve jobs: the :class:`JobRunner` interface and the default in-process runner.

The database (:class:`~api.storage.jobs.JobStore`) is the record of every job; a runner only
executes. Routes talk to the interface, so a distributed runner (:mod:`api.celery_jobs`) plugs in
without touching them.

Lifecycle: ``queued -> running -> succeeded | cancelled | failed``. Cancelling a running job sets
its stop event; the solver then returns the best plan found so far, kept as the job's plan.
A job left queued or running when the process stopped is resumed by :meth:`JobRunner.recover`
on the next start, or marked failed with a reason once it has been interrupted too often.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from api.db.base import DEFAULT_TENANT
from api.planner import ProgressFn
from api.schemas.planning import JobOut, JobStatus, PlanOut, SolveRequest
from api.storage.jobs import JobStore
from optimizer.processes import SolverProcessError

log = logging.getLogger(__name__)

SolveJobFn = Callable[[SolveRequest, ProgressFn, threading.Event, str], PlanOut]
"""Runs one solve of a tenant: (request, progress, stop, tenant id) -> plan: maps the request
(with the tenant's service area), solves until done or ``stop`` is set."""

TaskFn = Callable[
    [str, dict[str, Any], SolveRequest, ProgressFn, threading.Event, str], tuple[PlanOut, str]
]
"""Runs a week job: (job id, task, request, progress, stop, tenant id) -> (plan, id of the
stored version); see :class:`api.weeks.WeekTasks`."""

MAX_ATTEMPTS = 2
"""A job interrupted this many times (process stopped while it ran) is marked failed."""

PROGRESS_INTERVAL = 0.5
"""Seconds between progress writes to the database."""


class JobRunner(ABC):
    """Submit, observe, stop and collect solve jobs."""

    name: str = "abstract"

    def __init__(self, store: JobStore) -> None:
        self.store = store

    @abstractmethod
    def _enqueue(self, job_id: str) -> None:
        """Hand a queued job to the executing side."""

    @abstractmethod
    def _signal_stop(self, job_id: str) -> None:
        """Tell the executing side to stop a running job early."""

    def submit(
        self,
        request: SolveRequest,
        task: dict[str, Any] | None = None,
        *,
        tenant_id: str = DEFAULT_TENANT,
    ) -> JobOut:
        """Record a new job of ``tenant_id`` and queue it; returns its state (``queued``).
        ``task`` makes it a week job (:func:`api.weeks.week_task`)."""
        record = self.store.create(request.model_dump(mode="json"), self.name, task, tenant_id)
        kind = task["kind"] if task else "solve"
        log.info("job %s submitted (%s, %d visits)", record.id, kind, len(request.visits))
        self._enqueue(record.id)
        return record.out()

    def status(self, job_id: str, *, tenant_id: str = DEFAULT_TENANT) -> JobOut:
        """The state of a job of ``tenant_id``; raises :class:`~api.storage.jobs.UnknownJobError`
        (also for another tenant's job)."""
        return self.store.get(job_id, tenant_id).out()

    def cancel(self, job_id: str, *, tenant_id: str = DEFAULT_TENANT) -> JobOut:
        """Stop a job early. A running job keeps the best plan found; a queued one never runs."""
        record = self.store.request_cancel(job_id, tenant_id)
        if record.status is JobStatus.RUNNING:
            self._signal_stop(job_id)
            log.info("job %s: stop requested", job_id)
        return record.out()

    def result(self, job_id: str, *, tenant_id: str = DEFAULT_TENANT) -> PlanOut | None:
        """The job's plan (also for a cancelled job that found one); None while there is none."""
        payload = self.store.result(job_id, tenant_id)
        return None if payload is None else PlanOut.model_validate(payload)

    def recover(self) -> list[str]:
        """Resume this runner's jobs left queued or running by a stopped process.

        Returns the ids requeued; jobs interrupted :data:`MAX_ATTEMPTS` times are marked failed.
        """
        resumed: list[str] = []
        for record in self.store.unfinished(self.name):
            if record.status is JobStatus.RUNNING and record.attempts >= MAX_ATTEMPTS:
                self.store.finish(
                    record.id,
                    JobStatus.FAILED,
                    error=f"interrupted {record.attempts} times by a service stop; given up",
                )
                log.warning("job %s failed: interrupted %d times", record.id, record.attempts)
                continue
            if record.status is JobStatus.RUNNING:
                self.store.requeue(record.id)
            log.info("job %s resumed after a restart (was %s)", record.id, record.status)
            self._enqueue(record.id)
            resumed.append(record.id)
        return resumed

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release workers; unfinished jobs stay recorded for :meth:`recover`."""


class ProgressThrottle:
    """Writes progress to the store at most every :data:`PROGRESS_INTERVAL` seconds."""

    def __init__(self, store: JobStore, job_id: str, interval: float = PROGRESS_INTERVAL):
        self._store = store
        self._job_id = job_id
        self._interval = interval
        self._last = 0.0
        self.best_cost: float | None = None
        self.solutions = 0

    def __call__(self, progress: float, best_cost: float | None, solutions: int) -> None:
        if best_cost is not None:
            self.best_cost = best_cost
        self.solutions = max(self.solutions, solutions)
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._store.progress(self._job_id, progress, self.best_cost, self.solutions)


def execute(
    store: JobStore,
    job_id: str,
    solve: SolveJobFn,
    stop: threading.Event,
    shutting_down: Callable[[], bool] = lambda: False,
    tasks: TaskFn | None = None,
    started: Callable[[], None] = lambda: None,
) -> JobStatus | None:
    """Run one queued job to its end and record the outcome; shared by every runner.

    A plain job runs ``solve``; a week job (one with a task) runs ``tasks``, which also stores
    the plan as a week version. ``started`` is called once this process owns the job (marked
    running). Returns the final status, or None when the job was not (or no longer) queued, or
    when the process is shutting down (the job is then put back in the queue for the next start).
    """
    if not store.start(job_id):
        return None
    plan_id: str | None = None
    try:
        started()
        record = store.get(job_id)
        request = SolveRequest.model_validate(store.request(job_id))
        if store.cancel_requested(job_id):
            stop.set()
        progress = ProgressThrottle(store, job_id)
        if record.task is None:
            plan = solve(request, progress, stop, record.tenant_id)
        elif tasks is None:
            raise ValueError("this job runner cannot run week jobs")
        else:
            plan, plan_id = tasks(job_id, record.task, request, progress, stop, record.tenant_id)
    except ValueError as exc:  # bad input found while mapping (e.g. an address not found)
        store.finish(job_id, JobStatus.FAILED, error=str(exc))
        log.info("job %s failed: invalid input", job_id)
        return JobStatus.FAILED
    except Exception as exc:
        if shutting_down():
            store.requeue(job_id)
            return None
        log.exception("job %s failed", job_id)
        reason = str(exc) if isinstance(exc, SolverProcessError) else type(exc).__name__
        store.finish(job_id, JobStatus.FAILED, error=f"internal error ({reason})")
        return JobStatus.FAILED
    if stop.is_set() and shutting_down():
        store.requeue(job_id)  # interrupted by a shutdown, not by a user: run again next start
        log.info("job %s interrupted by shutdown; queued for the next start", job_id)
        return None
    status = JobStatus.CANCELLED if stop.is_set() else JobStatus.SUCCEEDED
    store.finish(job_id, status, result=plan.model_dump(mode="json"), plan_id=plan_id)
    log.info("job %s %s (cost %s)", job_id, status.value, plan.summary.cost)
    return status


class InProcessRunner(JobRunner):
    """Runs jobs on a pool of worker threads inside the API process (the default).

    Each thread maps its request and hands the search to a solver process
    (:func:`optimizer.processes.run_in_child`, used by :class:`~api.planner.Planner`): OR-Tools
    holds the GIL while it searches, so the API stays responsive only because the search runs
    elsewhere.
    """

    name = "in_process"

    def __init__(
        self,
        store: JobStore,
        solve: SolveJobFn,
        workers: int = 2,
        tasks: TaskFn | None = None,
    ) -> None:
        super().__init__(store)
        self._solve = solve
        self._tasks = tasks
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vanplan-job")
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._closing = False

    def _enqueue(self, job_id: str) -> None:
        with self._lock:
            self._stops.setdefault(job_id, threading.Event())
        self._pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        with self._lock:
            stop = self._stops.setdefault(job_id, threading.Event())
        try:
            if not self._closing:
                execute(self.store, job_id, self._solve, stop, lambda: self._closing, self._tasks)
        finally:
            with self._lock:
                self._stops.pop(job_id, None)

    def _signal_stop(self, job_id: str) -> None:
        with self._lock:
            stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()

    def wait(
        self, job_id: str, timeout: float = 60.0, *, tenant_id: str = DEFAULT_TENANT
    ) -> JobOut:
        """Block until the job has finished (for tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.status(job_id, tenant_id=tenant_id)
            if out.status.finished or time.monotonic() > deadline:
                return out
            time.sleep(0.05)

    def close(self) -> None:
        """Stop running jobs (they are requeued, not lost) and shut the pool down."""
        self._closing = True
        with self._lock:
            for stop in self._stops.values():
                stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
