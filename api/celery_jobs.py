"""The distributed job runner, API side: jobs go to Celery workers (``vanplan worker``) through
the Redis broker; the database stays the record of every job.

Submitting records the job and publishes its id (:data:`api.celery_app.TASK_NAME`). Stopping sets
a Redis key the job's worker watches; the solve then ends with its best plan. While the API runs,
a watch thread looks for running jobs whose worker's heartbeat has gone (the worker was killed or
its machine lost) and queues them again, or marks them failed once they have been lost
:data:`~api.jobs.MAX_ATTEMPTS` times; see :mod:`api.celery_app` for why this is not left to the
broker's visibility timeout alone.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from celery import Celery

from api.celery_app import TASK_NAME, Keys, make_celery
from api.jobs import MAX_ATTEMPTS, JobRunner
from api.schemas.planning import JobStatus
from api.settings import Settings
from api.storage.jobs import JobRecord, JobStore

log = logging.getLogger(__name__)

STOP_KEY_SECONDS = 24 * 3600
"""How long a stop request waits in Redis for its job."""


def lost_error(attempts: int) -> str:
    """The reason of a job failed because its workers were lost too often."""
    return f"its worker was lost {attempts} times (killed or stopped mid-job); given up"


def settle_lost(store: JobStore, record: JobRecord) -> JobStatus | None:
    """Deal with a running job whose worker is lost: cancelled if it was being stopped, failed
    once lost :data:`~api.jobs.MAX_ATTEMPTS` times, else queued again (not published: the
    caller does that or runs it). The new status, or None if the job has left that attempt
    meanwhile (ended, or taken over by someone else)."""
    if record.cancel_requested:  # it was being stopped: no reason to run it again
        error = "stopped; its worker was lost before it could keep a plan"
        ended = store.give_up(record.id, record.attempts, error, JobStatus.CANCELLED)
        return JobStatus.CANCELLED if ended else None
    if record.attempts >= MAX_ATTEMPTS:
        ended = store.give_up(record.id, record.attempts, lost_error(record.attempts))
        return JobStatus.FAILED if ended else None
    return JobStatus.QUEUED if store.requeue(record.id, attempts=record.attempts) else None


class CeleryRunner(JobRunner):
    """Queues jobs for Celery workers and brings back the jobs of lost workers."""

    name = "celery"

    def __init__(
        self,
        store: JobStore,
        celery: Celery,
        client: redis.Redis,
        keys: Keys,
        heartbeat_ttl: float,
        watch: bool = True,
    ) -> None:
        super().__init__(store)
        self.celery = celery
        self.redis = client
        self.keys = keys
        self.heartbeat_ttl = heartbeat_ttl
        self._missing: dict[str, float] = {}  # job id -> when its heartbeat was first missed
        self._closed = threading.Event()
        self._watch: threading.Thread | None = None
        if watch:
            self._watch = threading.Thread(
                target=self._watch_loop, name="vanplan-job-watch", daemon=True
            )
            self._watch.start()

    @classmethod
    def from_settings(cls, store: JobStore, settings: Settings, watch: bool = True) -> CeleryRunner:
        return cls(
            store,
            make_celery(settings),
            redis.Redis.from_url(settings.redis_url),
            Keys(settings.redis_prefix),
            settings.heartbeat_ttl,
            watch,
        )

    def _enqueue(self, job_id: str) -> None:
        self.celery.send_task(TASK_NAME, args=[job_id], queue=self.keys.queue)

    def _signal_stop(self, job_id: str) -> None:
        self.redis.set(self.keys.stop(job_id), "1", ex=STOP_KEY_SECONDS)

    @property
    def check_interval(self) -> float:
        """Seconds between two looks for lost jobs."""
        return self.heartbeat_ttl / 3

    def recover(self) -> list[str]:
        """Publish this runner's queued jobs again (a message may have been lost with a broker
        restart; a duplicate is dropped by the worker) and look for lost running jobs."""
        resumed: list[str] = []
        for record in self.store.unfinished(self.name):
            if record.status is JobStatus.QUEUED:
                self._enqueue(record.id)
                resumed.append(record.id)
                log.info("job %s published again after a start", record.id)
        return resumed + self.check_lost()

    def check_lost(self) -> list[str]:
        """One look for running jobs without a heartbeat; returns the ids queued again or failed.

        A job counts as lost when its heartbeat is missing at two looks at least
        :attr:`check_interval` apart (a worker writes the first heartbeat just after it marked
        the job running, so one miss alone can be that moment).
        """
        now = time.monotonic()
        running = [r for r in self.store.unfinished(self.name) if r.status is JobStatus.RUNNING]
        handled: list[str] = []
        seen: dict[str, float] = {}
        for record in running:
            if self.redis.exists(self.keys.heartbeat(record.id)):
                continue
            first = self._missing.get(f"{record.id}:{record.attempts}", now)
            if now - first < self.check_interval * 0.9:
                seen[f"{record.id}:{record.attempts}"] = first
                continue
            if self._bring_back(record):
                handled.append(record.id)
        self._missing = seen
        return handled

    def _bring_back(self, record: JobRecord) -> bool:
        outcome = settle_lost(self.store, record)
        if outcome is JobStatus.QUEUED:
            self._enqueue(record.id)
            log.warning("job %s: its worker was lost; queued again", record.id)
        elif outcome is not None:
            log.warning("job %s %s: its worker was lost", record.id, outcome.value)
        return outcome is not None

    def _watch_loop(self) -> None:
        while not self._closed.wait(self.check_interval):
            try:
                self.check_lost()
            except Exception:  # the database or Redis briefly gone: look again next time
                log.exception("looking for lost jobs failed")

    def close(self) -> None:
        self._closed.set()
        if self._watch is not None:
            self._watch.join()
        self.redis.close()
        self.celery.close()
