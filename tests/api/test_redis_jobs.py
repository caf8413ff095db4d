"""The Redis job runner with real worker processes, against the Redis at 127.0.0.1:6379.

Never skipped: if Redis is down these tests fail. Each test uses its own key prefix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_token
from api.db.base import Database
from api.planning import Planner, approximate_provider
from api.redis_jobs import Keys, RedisRunner
from api.schemas.planning import JobOut, JobStatus, SolveRequest
from api.settings import Settings
from api.storage.jobs import JobStore
from tests.api.test_jobs import busy_request, wait_for
from tests.api.test_solve import assert_feasible, small_request

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("VANPLAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    name = f"vptest-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_client.scan_iter(f"{name}:*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


Spawn = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture
def spawn_worker(database_url: str, prefix: str, tmp_path: Path) -> Iterator[Spawn]:
    """Start ``python -m api.redis_jobs worker`` processes; all are stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "VANPLAN_DATABASE_URL": database_url,
            "VANPLAN_REDIS_URL": REDIS_URL,
            "VANPLAN_REDIS_PREFIX": prefix,
            "VANPLAN_HEARTBEAT_TTL": "2",
            "VANPLAN_JOB_TIME_LIMIT": "60",
            "PYTHONPATH": str(ROOT),
        }
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
        logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.redis_jobs", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for log in logs:
        log.close()


def planner() -> Planner:
    return Planner(approximate_provider())


def test_a_worker_process_runs_a_job(
    db: Database, redis_client: redis.Redis, prefix: str, spawn_worker: Spawn
) -> None:
    runner = RedisRunner(JobStore(db), redis_client, prefix)
    request = SolveRequest.model_validate(small_request())
    job = runner.submit(request)
    assert redis_client.lrange(Keys(prefix).queue, 0, -1) == [job.id.encode()]
    spawn_worker()
    wait_for(lambda: runner.status(job.id).status.finished, timeout=60)
    done = runner.status(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    plan = runner.result(job.id)
    assert plan is not None and plan.summary.assigned == 3
    assert_feasible(plan, planner().map(request))


def test_stopping_a_job_on_a_worker_keeps_its_best_plan(
    db: Database, redis_client: redis.Redis, prefix: str, spawn_worker: Spawn
) -> None:
    runner = RedisRunner(JobStore(db), redis_client, prefix)
    spawn_worker()
    request = SolveRequest.model_validate(busy_request(time_limit=60))
    job = runner.submit(request)
    wait_for(lambda: runner.status(job.id).best_cost is not None, timeout=60)
    assert redis_client.exists(Keys(prefix).heartbeat(job.id))
    runner.cancel(job.id)
    wait_for(lambda: runner.status(job.id).status.finished, timeout=20)
    done = runner.status(job.id)
    assert done.status is JobStatus.CANCELLED
    plan = runner.result(job.id)
    assert plan is not None and plan.summary.assigned > 0
    assert_feasible(plan, planner().map(request))


def test_a_job_whose_worker_died_is_run_again(
    db: Database, redis_client: redis.Redis, prefix: str, spawn_worker: Spawn
) -> None:
    store = JobStore(db)
    runner = RedisRunner(store, redis_client, prefix)
    first = spawn_worker()
    request = SolveRequest.model_validate(busy_request(visits=12, time_limit=3))
    job = runner.submit(request)
    wait_for(lambda: runner.status(job.id).status is JobStatus.RUNNING, timeout=60)
    first.kill()  # no clean shutdown: the job stays "running" in the database
    first.wait()
    assert runner.recover() == []  # heartbeat still alive: not yet
    wait_for(lambda: not redis_client.exists(Keys(prefix).heartbeat(job.id)), timeout=10)
    assert runner.recover() == [job.id]
    assert store.get(job.id).status is JobStatus.QUEUED
    spawn_worker()
    wait_for(lambda: runner.status(job.id).status.finished, timeout=60)
    assert runner.status(job.id).status is JobStatus.SUCCEEDED
    assert store.get(job.id).attempts == 2
    plan = runner.result(job.id)
    assert plan is not None
    assert_feasible(plan, planner().map(request))


def test_the_api_uses_the_redis_runner_when_configured(
    database_url: str,
    redis_client: redis.Redis,
    prefix: str,
    spawn_worker: Spawn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANPLAN_JOB_RUNNER", "redis")
    monkeypatch.setenv("VANPLAN_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VANPLAN_REDIS_PREFIX", prefix)
    app = create_app(Settings(database_url=database_url, osm_file=None))
    with TestClient(app) as client:
        assert isinstance(app.state.job_runner, RedisRunner)
        with app.state.db.session() as session:
            headers = {"Authorization": f"Bearer {issue_token(session, 'system').secret}"}
        response = client.post("/v1/jobs", json=small_request(), headers=headers)
        assert response.status_code == 202
        job = JobOut.model_validate(response.json())
        spawn_worker()

        def finished() -> bool:
            out = JobOut.model_validate(client.get(f"/v1/jobs/{job.id}", headers=headers).json())
            return out.status.finished

        wait_for(finished, timeout=60)
        response = client.get(f"/v1/jobs/{job.id}/plan", headers=headers)
        assert response.status_code == 200
        assert_feasible(
            response.json(), planner().map(SolveRequest.model_validate(small_request()))
        )


def test_redis_queue_order_is_first_in_first_out(
    db: Database, redis_client: redis.Redis, prefix: str
) -> None:
    runner = RedisRunner(JobStore(db), redis_client, prefix)
    ids = [runner.submit(SolveRequest.model_validate(small_request())).id for _ in range(3)]
    assert [i.decode() for i in redis_client.lrange(Keys(prefix).queue, 0, -1)] == ids
    # a queued job cancelled before any worker saw it never runs
    assert runner.cancel(ids[0]).status is JobStatus.CANCELLED
    started = time.monotonic()
    assert runner.status(ids[0]).started_at is None
    assert time.monotonic() - started < 5
