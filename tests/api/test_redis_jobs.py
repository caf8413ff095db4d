"""The Redis job runner with real worker processes, against the Redis at 127.0.0.1:6379.

Never skipped: if Redis is down these tests fail. Each test uses its own key prefix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from api.auth import issue_token
from api.db.base import Database
from api.planner import Planner
from api.redis_jobs import Keys, RedisRunner
from api.schemas.planning import JobKind, JobOut, JobStatus, PlanOut, SolveRequest
from api.settings import Settings
from api.storage import plans as plan_store
from api.storage.jobs import JobStore
from api.storage.weeks import week_request
from api.weeks import week_task
from geo.providers import approximate_provider
from tests.api.conftest import PG_URL, _pg_schema_url
from tests.api.test_jobs import busy_request, wait_for
from tests.api.test_plans import WEEK, store_week
from tests.api.test_solve import assert_feasible, small_request

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("VANPLAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database per backend, shared by this module's tests (workers take time)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('redis') / 'vanplan.db'}"
        database = Database(url)
        database.migrate()
        database.dispose()
        yield url
        return
    schema = f"vp_redis_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)
        database = Database(url)
        database.migrate()
        database.dispose()
        yield url
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def db(backend: str) -> Iterator[Database]:
    database = Database(backend)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def prefix(redis_client: redis.Redis, backend: str) -> Iterator[str]:
    name = f"vptest-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_client.scan_iter(f"{name}*"))
    if keys:
        redis_client.delete(*keys)


Spawn = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture(scope="module")
def spawn_worker(
    backend: str, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Spawn]:
    """Start ``python -m api.redis_jobs worker`` processes; all are stopped after the module."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    folder = tmp_path_factory.mktemp("workers")

    def spawn() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "VANPLAN_DATABASE_URL": backend,
            "VANPLAN_REDIS_URL": REDIS_URL,
            "VANPLAN_REDIS_PREFIX": prefix,
            "VANPLAN_HEARTBEAT_TTL": "2",
            "VANPLAN_JOB_TIME_LIMIT": "60",
            "PYTHONPATH": str(ROOT),
        }
        log = open(folder / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
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


@pytest.fixture(scope="module")
def worker(spawn_worker: Spawn) -> subprocess.Popen[bytes]:
    """One worker shared by the tests of a backend."""
    return spawn_worker()


def planner() -> Planner:
    return Planner(approximate_provider())


def test_a_worker_process_runs_a_job(
    db: Database, redis_client: redis.Redis, prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    runner = RedisRunner(JobStore(db), redis_client, prefix)
    request = SolveRequest.model_validate(small_request())
    job = runner.submit(request)
    wait_for(lambda: runner.status(job.id).status.finished, timeout=60)
    done = runner.status(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    plan = runner.result(job.id)
    assert plan is not None and plan.summary.assigned == 3
    assert_feasible(plan, planner().map(request))


def test_stopping_a_job_on_a_worker_keeps_its_best_plan(
    db: Database, redis_client: redis.Redis, prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    runner = RedisRunner(JobStore(db), redis_client, prefix)
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
    db: Database, redis_client: redis.Redis, prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    store = JobStore(db)
    runner = RedisRunner(store, redis_client, prefix)
    request = SolveRequest.model_validate(busy_request(visits=12, time_limit=3))
    # A job that a worker took and then lost (the worker died: no clean shutdown): it is
    # "running" in the database, out of the queue, and its heartbeat is about to expire.
    job = store.create(request.model_dump(mode="json"), RedisRunner.name)
    assert store.start(job.id)
    redis_client.set(Keys(prefix).heartbeat(job.id), "1", px=1500)
    assert runner.recover() == []  # heartbeat still alive: a worker may be on it
    wait_for(lambda: not redis_client.exists(Keys(prefix).heartbeat(job.id)), timeout=10)
    assert runner.recover() == [job.id]
    wait_for(lambda: runner.status(job.id).status.finished, timeout=60)
    assert runner.status(job.id).status is JobStatus.SUCCEEDED
    assert store.get(job.id).attempts == 2
    plan = runner.result(job.id)
    assert plan is not None
    assert_feasible(plan, planner().map(request))


def test_a_job_lost_too_often_fails_with_a_reason(
    db: Database, redis_client: redis.Redis, prefix: str
) -> None:
    store = JobStore(db)
    runner = RedisRunner(store, redis_client, f"{prefix}-idle")  # no worker on this queue
    job = store.create(small_request(), RedisRunner.name)
    for _ in range(2):
        store.start(job.id)
        store.requeue(job.id)
    store.start(job.id)  # third attempt, then lost
    assert runner.recover() == []
    failed = runner.status(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and "given up" in failed.error


def test_the_api_uses_the_redis_runner_when_configured(
    backend: str,
    redis_client: redis.Redis,
    prefix: str,
    worker: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANPLAN_JOB_RUNNER", "redis")
    monkeypatch.setenv("VANPLAN_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VANPLAN_REDIS_PREFIX", prefix)
    app = create_app(Settings(database_url=backend, osm_file=None))
    with TestClient(app) as client:
        assert isinstance(app.state.job_runner, RedisRunner)
        with app.state.db.session() as session:
            headers = {"Authorization": f"Bearer {issue_token(session, 'system').secret}"}
        response = client.post("/v1/jobs", json=small_request(), headers=headers)
        assert response.status_code == 202
        job = JobOut.model_validate(response.json())

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
    idle = f"{prefix}-idle"  # no worker on this queue
    runner = RedisRunner(JobStore(db), redis_client, idle)
    ids = [runner.submit(SolveRequest.model_validate(small_request())).id for _ in range(3)]
    assert [i.decode() for i in redis_client.lrange(Keys(idle).queue, 0, -1)] == ids
    # a queued job cancelled before any worker saw it never runs
    cancelled = runner.cancel(ids[0])
    assert cancelled.status is JobStatus.CANCELLED and cancelled.started_at is None


def test_a_worker_plans_a_stored_week_and_stores_the_version(
    db: Database, redis_client: redis.Redis, prefix: str, worker: subprocess.Popen[bytes]
) -> None:
    """A week job on a worker process writes the draft version into the shared database."""
    store_week(db)
    with db.session() as s:
        request = week_request(s, WEEK, "Europe/Berlin", seed=1, solution_limit=100)
    runner = RedisRunner(JobStore(db), redis_client, prefix)
    job = runner.submit(request, week_task(JobKind.WEEK_PLAN, WEEK))
    assert (job.kind, job.week) == ("week_plan", WEEK)
    wait_for(lambda: runner.status(job.id).status.finished, timeout=60)
    done = runner.status(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.plan_id is not None
    with db.session() as s:
        row = plan_store.get(s, done.plan_id)
        assert row is not None
        assert (row.week, row.version, row.status, row.job_id) == (WEEK, 1, "draft", job.id)
        payload = PlanOut.model_validate(row.payload)
    assert runner.result(job.id) == payload
    assert_feasible(payload, planner().map(request))
    assert payload.summary.assigned == len(request.visits)
