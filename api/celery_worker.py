"""The Celery worker of the job runner (``vanplan worker``): runs one job at a time.

Each message carries a job id; :class:`JobWorker` runs the job through the same
:func:`api.jobs.execute` as the in-process runner, so progress, best cost and the plan reach the
database as there, and the job runs for its tenant (read from the job's row: its service area's
planner, sessions bound to that tenant). While the job runs, a watch thread renews the job's
heartbeat key and turns the API's stop key (or a shutdown of the worker) into the solve's stop
event.

A worker uses Celery's ``solo`` pool: the solve itself runs in solver processes
(:mod:`optimizer.processes`), so a pool of processes would only add a layer; a worker process is
one job slot, and more slots are more ``vanplan worker`` processes (on this or other machines).
Killing a worker (``kill -9``) ends its solver processes too, and the API queues the job again
(:class:`api.celery_jobs.CeleryRunner`). A warm shutdown (SIGTERM) stops the running job and
hands it back to the queue for another worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

import redis
from celery import Celery, signals
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from api.celery_app import TASK_NAME, Keys, make_celery
from api.celery_jobs import settle_lost
from api.db.database import Database
from api.jobs import SolveJobFn, TaskFn, execute
from api.planner import planner_from_settings
from api.schemas.planning import JobStatus
from api.settings import Settings
from api.storage.jobs import JobStore, UnknownJobError
from api.tenants import TenantPlanners
from api.weeks import WeekTasks

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.25
"""Seconds between two looks at the stop key (the heartbeat is renewed at least as often as a
third of its time to live)."""

TRANSIENT_RETRIES = 5
"""Times a job message is retried when the database or Redis could not be reached."""

_DELETE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class JobWorker:
    """Runs the jobs of one worker process."""

    def __init__(
        self,
        store: JobStore,
        client: redis.Redis,
        keys: Keys,
        solve: SolveJobFn,
        tasks: TaskFn | None = None,
        heartbeat_ttl: float = 15.0,
    ) -> None:
        self.store = store
        self.redis = client
        self.keys = keys
        self.solve = solve
        self.tasks = tasks
        self.heartbeat_ttl = heartbeat_ttl
        self.shutting_down = threading.Event()
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """This worker's mark on the heartbeats it writes."""

    def run(self, job_id: str) -> JobStatus | None:
        """Run the job if it is this worker's to run; its final status (None: not run here,
        or handed back to the queue by a shutdown)."""
        try:
            record = self.store.get(job_id)
        except UnknownJobError:
            log.warning("job %s: unknown; message dropped", job_id)
            return None
        if record.status is JobStatus.RUNNING:
            # A message of a job marked running: the broker handed out the message of a lost
            # worker again (visibility timeout), or a second copy arrived meanwhile.
            if self.redis.exists(self.keys.heartbeat(job_id)):
                return None  # a live worker is on it
            outcome = settle_lost(self.store, record)
            if outcome is not JobStatus.QUEUED:
                return outcome
            log.info("job %s: taken over from a lost worker", job_id)
        elif record.status is not JobStatus.QUEUED:
            return None  # ended already (e.g. cancelled while queued)
        return self._execute(job_id)

    def _execute(self, job_id: str) -> JobStatus | None:
        stop = threading.Event()
        done = threading.Event()
        beat, stop_key = self.keys.heartbeat(job_id), self.keys.stop(job_id)
        ttl_ms = max(1, int(self.heartbeat_ttl * 1000))
        renew = min(WATCH_INTERVAL, self.heartbeat_ttl / 3)
        watcher: threading.Thread | None = None

        def watch() -> None:
            while not done.is_set():
                try:
                    self.redis.set(beat, self.token, px=ttl_ms)
                    if self.redis.exists(stop_key):
                        stop.set()
                except RedisConnectionError:
                    log.warning("job %s: Redis not reachable; heartbeat missed", job_id)
                if self.shutting_down.is_set():
                    stop.set()
                done.wait(renew)

        def started() -> None:
            nonlocal watcher
            self.redis.set(beat, self.token, px=ttl_ms)
            watcher = threading.Thread(target=watch, name=f"vanplan-watch-{job_id}", daemon=True)
            watcher.start()

        try:
            status = execute(
                self.store,
                job_id,
                self.solve,
                stop,
                self.shutting_down.is_set,
                self.tasks,
                started=started,
            )
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
                self.redis.eval(_DELETE_IF_OURS, 1, beat, self.token)
        if status is not None:
            self.redis.delete(stop_key)
        return status


def register(app: Celery, worker: JobWorker) -> None:
    """Register the job task of ``worker`` on ``app``."""

    @app.task(name=TASK_NAME, bind=True, max_retries=TRANSIENT_RETRIES)
    def run_job(task: Any, job_id: str) -> str | None:
        try:
            status = worker.run(job_id)
        except (OperationalError, RedisConnectionError) as exc:
            # The database or Redis was not reachable: try again shortly, a few times; a job
            # left running by this is then brought back by the API like a lost one.
            log.warning("job %s: %s; retrying", job_id, type(exc).__name__)
            raise task.retry(exc=exc, countdown=5) from exc
        handed_back = status is None and worker.shutting_down.is_set()
        if handed_back and worker.store.get(job_id).status is JobStatus.QUEUED:
            app.send_task(TASK_NAME, args=[job_id], queue=worker.keys.queue)
            log.info("job %s handed back to the queue (worker shutting down)", job_id)
        return None if status is None else status.value

    del run_job  # registered on the app by the decorator


def run_worker(settings: Settings, log_level: str = "INFO") -> int:
    """Run a Celery worker for these settings until it is stopped (SIGTERM: warm shutdown);
    vanplan's and Celery's log records of ``log_level`` and above go to the root logger."""
    logging.getLogger().setLevel(log_level.upper())
    db = Database(settings.database_url)
    planner = planner_from_settings(settings)
    planners = TenantPlanners(db, settings, planner)  # each tenant's service area
    keys = Keys(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_url)
    worker = JobWorker(
        JobStore(db),
        client,
        keys,
        lambda request, progress, stop, tenant_id: planners(tenant_id).solve(
            request, progress, stop, time_limit=settings.job_time_limit
        ),
        WeekTasks(db, planner, settings.week_time_limit, settings.job_time_limit, planners),
        settings.heartbeat_ttl,
    )
    app = make_celery(settings)
    register(app, worker)

    def on_shutdown(**_: Any) -> None:
        worker.shutting_down.set()  # the running job stops and goes back to the queue

    signals.worker_shutting_down.connect(on_shutdown, weak=False)
    try:
        celery_worker = app.Worker(
            pool="solo",
            concurrency=1,
            queues=[keys.queue],
            loglevel=log_level,
            without_mingle=True,
            without_gossip=True,
            without_heartbeat=True,
        )
        celery_worker.start()
        return int(celery_worker.exitcode or 0)
    finally:
        signals.worker_shutting_down.disconnect(on_shutdown)
        client.close()
        db.dispose()
