"""Jobs on Celery workers: throughput with 1, 2 and 4 workers, and time from a worker's kill to
its job's redelivery.

Throughput: for each worker count, start that many ``vanplan worker`` processes, submit the same
mix of sample weeks (:func:`api.sample_week.sample_week`, several sizes and seeds, straight-line
travel times, a fixed time limit each) through the API's runner
(:class:`api.celery_jobs.CeleryRunner`) and time from the first submission to the last job's end;
prints jobs per minute and how the jobs ended.

Redelivery: with two workers, submit a long week job, wait until it has a first plan, ``kill -9``
the worker running it (found through the job's heartbeat) and time until the job is queued again
by the API's watch and until the other worker runs it (its second attempt).

Uses the PostgreSQL at ``--database-url`` (a fresh schema, dropped afterwards) and the Redis at
``--redis-url`` (a fresh key prefix, removed afterwards). One JSON line per measurement.

    python3 benchmarks/jobs.py --workers 1,2,4 --jobs 8 --time-limit 5 --kills 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import quote

import redis
from sqlalchemy import create_engine, text

from api.celery_jobs import CeleryRunner
from api.db.database import Database
from api.sample_week import sample_week
from api.schemas.planning import JobStatus, SolveRequest
from api.settings import Settings
from api.storage.jobs import JobStore

ROOT = Path(__file__).resolve().parents[1]
MONDAY = date(2026, 11, 23)
SIZES = (20, 34, 50)
"""Clients per sample week in the mix, taken in turn."""


def week_mix(jobs: int, time_limit: float) -> list[SolveRequest]:
    """``jobs`` sample weeks of the sizes in :data:`SIZES` in turn, each with its own seed."""
    return [
        sample_week(
            MONDAY, clients=SIZES[i % len(SIZES)], seed=100 + i, time_limit_seconds=time_limit
        )
        for i in range(jobs)
    ]


@contextmanager
def fresh_schema(admin_url: str) -> Iterator[str]:
    """A migrated PostgreSQL schema of its own; its URL."""
    schema = f"vp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in admin_url else "?"
    url = f"{admin_url}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        db = Database(url)
        db.migrate()
        db.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Workers:
    """``vanplan worker`` processes on one database and key prefix."""

    def __init__(self, database_url: str, settings: Settings, logs: Path) -> None:
        self.env = {
            **os.environ,
            "VANPLAN_DATABASE_URL": database_url,
            "VANPLAN_REDIS_URL": settings.redis_url,
            "VANPLAN_REDIS_PREFIX": settings.redis_prefix,
            "VANPLAN_HEARTBEAT_TTL": str(settings.heartbeat_ttl),
            "VANPLAN_JOB_TIME_LIMIT": str(settings.job_time_limit),
            "PYTHONPATH": str(ROOT),
        }
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            log = open(self.logs / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "api.cli", "worker"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()  # the child has its own copy
        for index in range(len(self.procs) - count, len(self.procs)):
            path = self.logs / f"worker-{index}.log"
            wait_for(lambda p=path: b" ready." in p.read_bytes(), 180, f"{path.name} ready")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until true; the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic()


def throughput(
    runner: CeleryRunner, workers: Workers, count: int, requests: list[SolveRequest]
) -> dict[str, object]:
    """Jobs per minute of ``count`` workers on ``requests``."""
    workers.start(count)
    try:
        t0 = time.monotonic()
        ids = [runner.submit(r).id for r in requests]
        timeout = 60 + 3 * sum(r.options.time_limit_seconds or 10 for r in requests)
        end = wait_for(
            lambda: all(runner.status(i).status.finished for i in ids), timeout, "all jobs ended"
        )
        outcomes = [runner.status(i) for i in ids]
    finally:
        workers.stop()
    minutes = (end - t0) / 60
    return {
        "measure": "throughput",
        "workers": count,
        "jobs": len(ids),
        "seconds": round(end - t0, 1),
        "jobs_per_minute": round(len(ids) / minutes, 2),
        "succeeded": sum(o.status is JobStatus.SUCCEEDED for o in outcomes),
        "failed": sum(o.status is JobStatus.FAILED for o in outcomes),
    }


def redelivery(
    runner: CeleryRunner, workers: Workers, store: JobStore, request: SolveRequest
) -> dict[str, object]:
    """Kill the worker of a running job; seconds until the job is queued and running again."""
    workers.start(2)
    try:
        job = runner.submit(request)
        wait_for(lambda: store.get(job.id).best_cost is not None, 300, "a first plan")
        beat = runner.redis.get(runner.keys.heartbeat(job.id))
        assert isinstance(beat, bytes), "running job without a heartbeat"
        pid = int(beat.decode().split(":")[1])  # JobWorker.token: host:pid:random
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        queued = wait_for(
            lambda: store.get(job.id).attempts >= 2 or store.get(job.id).status is JobStatus.QUEUED,
            120,
            "job queued again",
        )
        running = wait_for(lambda: store.get(job.id).attempts >= 2, 120, "job running again")
        runner.cancel(job.id)
        wait_for(lambda: store.get(job.id).status.finished, 120, "job stopped")
        final = store.get(job.id)
    finally:
        workers.stop()
    return {
        "measure": "redelivery",
        "heartbeat_ttl": runner.heartbeat_ttl,
        "kill_to_queued_s": round(queued - killed, 1),
        "kill_to_running_s": round(running - killed, 1),
        "final_status": final.status.value,
        "kept_plan": final.has_plan,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workers", default="1,2,4", help="worker counts to measure (default 1,2,4)")
    p.add_argument("--jobs", type=int, default=8, help="week jobs per worker count (default 8)")
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds per job (default 5)")
    p.add_argument("--kills", type=int, default=3, help="redelivery measurements (default 3)")
    p.add_argument("--heartbeat-ttl", type=float, default=15.0, help="VANPLAN_HEARTBEAT_TTL")
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "VANPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL to create a scratch schema in",
    )
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="the Celery broker")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    counts = [int(c) for c in args.workers.split(",") if c.strip()]
    prefix = f"vpbench-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        job_runner="celery",
        redis_url=args.redis_url,
        redis_prefix=prefix,
        heartbeat_ttl=args.heartbeat_ttl,
        osm_file=None,
    )
    requests = week_mix(args.jobs, args.time_limit)
    long_week = sample_week(MONDAY, clients=50, seed=7, time_limit_seconds=100)
    with fresh_schema(args.database_url) as url, tempfile.TemporaryDirectory() as logs:
        db = Database(url)
        store = JobStore(db)
        runner = CeleryRunner.from_settings(store, settings)
        workers = Workers(url, settings, Path(logs))
        try:
            for count in counts:
                print(json.dumps(throughput(runner, workers, count, requests)), flush=True)
            for _ in range(args.kills):
                print(json.dumps(redelivery(runner, workers, store, long_week)), flush=True)
        finally:
            workers.stop()
            runner.close()
            db.dispose()
            client = redis.Redis.from_url(args.redis_url)
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
