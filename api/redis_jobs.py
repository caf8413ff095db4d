"""A distributed job runner: a Redis queue and separate worker processes.

The API side (:class:`RedisRunner`) records the job in the database and pushes its id onto a Redis
list; workers (``python -m api.redis_jobs worker``) pop ids, run them through the same
:func:`api.jobs.execute` as the in-process runner and write progress and results to the database.
Stopping a job sets a Redis key the worker watches. Each running job has a heartbeat key with a
short expiry, so a job whose worker died is found and queued again by :meth:`RedisRunner.recover`
(or failed once interrupted too often); nothing is silently lost.

Settings (:class:`api.settings.Settings`, environment prefix ``VANPLAN_``): ``JOB_RUNNER=redis``
selects this runner in the app, ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``),
``REDIS_PREFIX`` (key prefix, default ``vanplan``), ``HEARTBEAT_TTL``, ``DATABASE_URL`` as for the
app.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

import redis

from api.db.base import Database
from api.jobs import MAX_ATTEMPTS, JobRunner, SolveJobFn, TaskFn, execute
from api.planner import planner_from_settings
from api.schemas.planning import JobStatus
from api.settings import HEARTBEAT_TTL, Settings
from api.storage.jobs import JobStore
from api.weeks import WeekTasks

log = logging.getLogger(__name__)


class Keys:
    """Redis key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.queue = f"{prefix}:jobs:queue"
        self._prefix = prefix

    def stop(self, job_id: str) -> str:
        return f"{self._prefix}:jobs:stop:{job_id}"

    def heartbeat(self, job_id: str) -> str:
        return f"{self._prefix}:jobs:heartbeat:{job_id}"


class RedisRunner(JobRunner):
    """Queues jobs in Redis for :class:`RedisWorker` processes; state lives in the database."""

    name = "redis"

    def __init__(self, store: JobStore, client: redis.Redis, prefix: str = "vanplan") -> None:
        super().__init__(store)
        self.redis = client
        self.keys = Keys(prefix)

    @classmethod
    def from_settings(cls, store: JobStore, settings: Settings) -> RedisRunner:
        return cls(store, redis.Redis.from_url(settings.redis_url), settings.redis_prefix)

    def _enqueue(self, job_id: str) -> None:
        self.redis.rpush(self.keys.queue, job_id)

    def _signal_stop(self, job_id: str) -> None:
        self.redis.set(self.keys.stop(job_id), "1", ex=24 * 3600)

    def recover(self) -> list[str]:
        """Re-queue jobs that are queued in the database but whose worker is gone.

        Queued jobs already in the Redis list are harmless duplicates (a worker starts a job only
        if it is still queued in the database); running jobs with a live heartbeat are left alone.
        """
        resumed: list[str] = []
        for record in self.store.unfinished(self.name):
            if record.status is JobStatus.RUNNING:
                if self.redis.exists(self.keys.heartbeat(record.id)):
                    continue  # a worker is on it
                if record.attempts >= MAX_ATTEMPTS:
                    self.store.finish(
                        record.id,
                        JobStatus.FAILED,
                        error=f"its worker stopped {record.attempts} times; given up",
                    )
                    log.warning("job %s failed: worker lost %d times", record.id, record.attempts)
                    continue
                self.store.requeue(record.id)
            self._enqueue(record.id)
            resumed.append(record.id)
            log.info("job %s queued again (was %s)", record.id, record.status.value)
        return resumed

    def close(self) -> None:
        self.redis.close()


class RedisWorker:
    """Pops job ids from the Redis queue and runs them (one at a time per worker)."""

    def __init__(
        self,
        store: JobStore,
        client: redis.Redis,
        solve: SolveJobFn,
        prefix: str = "vanplan",
        heartbeat_ttl: float = HEARTBEAT_TTL,
        tasks: TaskFn | None = None,
    ) -> None:
        self.store = store
        self.redis = client
        self.solve = solve
        self.tasks = tasks
        self.keys = Keys(prefix)
        self.heartbeat_ttl = heartbeat_ttl
        self.stopping = threading.Event()

    def run_once(self, timeout: float = 1.0) -> JobStatus | None:
        """Wait up to ``timeout`` s for a job and run it; its final status (None: none ran)."""
        popped: Any = self.redis.blpop([self.keys.queue], timeout=max(1, int(timeout)))
        if popped is None:
            return None
        job_id = popped[1].decode() if isinstance(popped[1], bytes) else str(popped[1])
        stop = threading.Event()
        done = threading.Event()
        beat_key, stop_key = self.keys.heartbeat(job_id), self.keys.stop(job_id)
        ttl_ms = int(self.heartbeat_ttl * 1000)

        def watch() -> None:
            # Heartbeat for recover(), and the stop key (or a worker shutdown) -> stop event.
            while not done.is_set():
                self.redis.set(beat_key, "1", px=ttl_ms)
                if self.redis.exists(stop_key) or self.stopping.is_set():
                    stop.set()
                done.wait(min(0.2, self.heartbeat_ttl / 3))

        self.redis.set(beat_key, "1", px=ttl_ms)
        watcher = threading.Thread(target=watch, name=f"vanplan-watch-{job_id}", daemon=True)
        watcher.start()
        try:
            status = execute(self.store, job_id, self.solve, stop, self.stopping.is_set, self.tasks)
        finally:
            done.set()
            watcher.join()
            self.redis.delete(beat_key)
        if status is None and self.store.get(job_id).status is JobStatus.QUEUED:
            self.redis.rpush(self.keys.queue, job_id)  # interrupted by our shutdown: hand on
            log.info("job %s handed back to the queue", job_id)
        elif status is not None:
            self.redis.delete(stop_key)
        return status

    def run_forever(self) -> None:
        log.info("worker waiting for jobs on %s", self.keys.queue)
        while not self.stopping.is_set():
            self.run_once(timeout=1.0)
        log.info("worker stopped")


def main(argv: list[str] | None = None) -> int:
    """``python -m api.redis_jobs worker``: run a job worker until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m api.redis_jobs")
    parser.add_argument("command", choices=["worker"])
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")

    settings = Settings()
    db = Database(settings.database_url)
    planner = planner_from_settings(settings)
    worker = RedisWorker(
        JobStore(db),
        redis.Redis.from_url(settings.redis_url),
        lambda request, progress, stop: planner.solve(
            request, progress, stop, time_limit=settings.job_time_limit
        ),
        prefix=settings.redis_prefix,
        heartbeat_ttl=settings.heartbeat_ttl,
        tasks=WeekTasks(db, planner, settings.week_time_limit, settings.job_time_limit),
    )

    def on_signal(_signum: int, _frame: Any) -> None:
        worker.stopping.set()  # running job: back to the queue for the next worker

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        worker.run_forever()
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
