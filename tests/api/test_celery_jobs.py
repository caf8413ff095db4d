"""The Celery job runner with real ``vanplan worker`` processes, against the Redis at
127.0.0.1:6379 (``VANPLAN_TEST_REDIS_URL``) and both database backends.

Never skipped: if Redis is down these tests fail. Each module run uses its own Redis key prefix
(Celery's queue and broker keys included), removed afterwards. Tests wait on conditions with
generous timeouts and never assert durations.
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
from api.celery_app import Keys
from api.celery_jobs import CeleryRunner
from api.celery_worker import JobWorker
from api.db.database import Database
from api.jobs import MAX_ATTEMPTS
from api.planner import Planner
from api.schemas.planning import JobKind, JobOut, JobStatus, PlanOut, SolveRequest
from api.settings import Settings
from api.storage import plans as plan_store
from api.storage.jobs import JobStore
from api.storage.weeks import week_request
from api.weeks import week_task
from geo.providers import approximate_provider
from optimizer.processes import stop_helper_processes
from tests.api.conftest import PG_URL, _pg_schema_url
from tests.api.test_jobs import PATIENCE, busy_request, wait_for
from tests.api.test_plans import WEEK, store_week
from tests.api.test_solve import assert_feasible, small_request

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("VANPLAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HEARTBEAT_TTL = 2.0

pytestmark = [pytest.mark.redis, pytest.mark.slow]


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
        url = f"sqlite:///{tmp_path_factory.mktemp('celery') / 'vanplan.db'}"
        database = Database(url)
        database.migrate()
        database.dispose()
        yield url
        return
    schema = f"vp_celery_{uuid.uuid4().hex[:12]}"
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
    """This module run's key prefix; tests needing a queue of their own append to it."""
    name = f"vptest-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_client.scan_iter(f"{name}*"))
    if keys:
        redis_client.delete(*keys)


def settings_for(backend: str, prefix: str) -> Settings:
    return Settings(
        database_url=backend,
        osm_file=None,
        job_runner="celery",
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        heartbeat_ttl=HEARTBEAT_TTL,
        job_time_limit=60,
    )


Spawn = Callable[[str], subprocess.Popen[bytes]]


@pytest.fixture(scope="module")
def spawn_worker(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawn]:
    """Start ``vanplan worker`` processes on a key prefix; all are stopped after the module."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    folder = tmp_path_factory.mktemp("workers")

    def spawn(prefix: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "VANPLAN_DATABASE_URL": backend,
            "VANPLAN_REDIS_URL": REDIS_URL,
            "VANPLAN_REDIS_PREFIX": prefix,
            "VANPLAN_HEARTBEAT_TTL": str(HEARTBEAT_TTL),
            "VANPLAN_JOB_TIME_LIMIT": "60",
            "PYTHONPATH": str(ROOT),
        }
        log = open(folder / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
        logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker", "--log-level", "INFO"],
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
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for log in logs:
        log.close()


@pytest.fixture(scope="module")
def worker(spawn_worker: Spawn, prefix: str) -> subprocess.Popen[bytes]:
    """One worker on the module's prefix, shared by the tests of a backend."""
    return spawn_worker(prefix)


@pytest.fixture
def runner(db: Database, backend: str, prefix: str) -> Iterator[CeleryRunner]:
    """The API side on the module's prefix, watching for lost jobs."""
    r = CeleryRunner.from_settings(JobStore(db), settings_for(backend, prefix))
    yield r
    r.close()


def planner() -> Planner:
    return Planner(approximate_provider())


def test_a_worker_runs_a_job_and_reports_progress(
    runner: CeleryRunner, worker: subprocess.Popen[bytes]
) -> None:
    request = SolveRequest.model_validate(busy_request(visits=12, time_limit=3))
    job = runner.submit(request)
    assert job.status is JobStatus.QUEUED
    wait_for(lambda: runner.status(job.id).best_cost is not None, timeout=PATIENCE)
    wait_for(lambda: runner.status(job.id).status.finished, timeout=PATIENCE)
    done = runner.status(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.progress == 1.0 and done.solutions >= 1
    plan = runner.result(job.id)
    assert plan is not None and plan.summary.assigned > 0
    assert done.best_cost == plan.summary.cost
    assert_feasible(plan, planner().map(request))
    assert not runner.redis.exists(runner.keys.heartbeat(job.id))


def test_stopping_a_job_on_a_worker_keeps_its_best_plan(
    runner: CeleryRunner, worker: subprocess.Popen[bytes]
) -> None:
    request = SolveRequest.model_validate(busy_request(time_limit=60))
    job = runner.submit(request)
    wait_for(lambda: runner.status(job.id).best_cost is not None, timeout=PATIENCE)
    assert runner.redis.exists(runner.keys.heartbeat(job.id))
    assert runner.cancel(job.id).status is JobStatus.RUNNING
    wait_for(lambda: runner.status(job.id).status.finished, timeout=PATIENCE)
    done = runner.status(job.id)
    assert done.status is JobStatus.CANCELLED
    plan = runner.result(job.id)
    assert plan is not None and plan.summary.assigned > 0
    assert_feasible(plan, planner().map(request))


def test_a_job_cancelled_while_queued_never_runs(
    runner: CeleryRunner, worker: subprocess.Popen[bytes], db: Database
) -> None:
    # Two jobs: the worker is busy with the first while the second is cancelled in the queue.
    first = runner.submit(SolveRequest.model_validate(busy_request(visits=12, time_limit=3)))
    second = runner.submit(SolveRequest.model_validate(small_request()))
    cancelled = runner.cancel(second.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.started_at is None
    wait_for(lambda: runner.status(first.id).status.finished, timeout=PATIENCE)
    # The worker has taken the second job's message after the first (one at a time) and
    # dropped it: still cancelled, never started.
    third = runner.submit(SolveRequest.model_validate(small_request()))
    wait_for(lambda: runner.status(third.id).status.finished, timeout=PATIENCE)
    after = JobStore(db).get(second.id)
    assert (after.status, after.attempts, after.started_at) == (JobStatus.CANCELLED, 0, None)


def test_a_killed_workers_job_is_finished_by_another_worker(
    db: Database, backend: str, prefix: str, spawn_worker: Spawn
) -> None:
    own = f"{prefix}-kill"  # a queue of its own: only the workers started here take the job
    store = JobStore(db)
    runner = CeleryRunner.from_settings(store, settings_for(backend, own))
    try:
        # Two workers start together (no second start after the kill); the one whose mark is on
        # the job's heartbeat (host:pid:...; solo pool, the job runs in the worker process) runs it.
        workers = [spawn_worker(own), spawn_worker(own)]
        request = SolveRequest.model_validate(busy_request(visits=12, time_limit=6))
        job = runner.submit(request)
        wait_for(lambda: runner.status(job.id).best_cost is not None, timeout=PATIENCE)
        assert store.get(job.id).attempts == 1
        mark = runner.redis.get(runner.keys.heartbeat(job.id))
        assert mark is not None
        pid = int(mark.decode().split(":")[-2])
        (first,) = [w for w in workers if w.pid == pid]
        first.send_signal(signal.SIGKILL)  # mid-job, no goodbye
        first.wait(timeout=PATIENCE)
        wait_for(lambda: runner.status(job.id).status.finished, timeout=PATIENCE)
        done = store.get(job.id)
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert done.attempts == 2  # run again from the start by the second worker
        plan = runner.result(job.id)
        assert plan is not None
        assert_feasible(plan, planner().map(request))
    finally:
        runner.close()


def test_a_job_lost_too_often_fails_with_a_reason(db: Database, backend: str, prefix: str) -> None:
    store = JobStore(db)
    runner = CeleryRunner.from_settings(store, settings_for(backend, f"{prefix}-idle"), watch=False)
    try:
        job = store.create(small_request(), CeleryRunner.name)
        for _ in range(MAX_ATTEMPTS - 1):
            assert store.start(job.id)
            assert store.requeue(job.id)
        assert store.start(job.id)  # the last attempt, and its worker lost: no heartbeat
        assert runner.check_lost() == []  # one look without a heartbeat is not enough
        wait_for(lambda: runner.check_lost() == [job.id], timeout=PATIENCE)
        failed = runner.status(job.id)
        assert failed.status is JobStatus.FAILED
        assert failed.error is not None and "lost 2 times" in failed.error
        assert "given up" in failed.error
    finally:
        runner.close()


def test_a_lost_job_that_was_being_stopped_is_cancelled(
    db: Database, backend: str, prefix: str
) -> None:
    store = JobStore(db)
    runner = CeleryRunner.from_settings(store, settings_for(backend, f"{prefix}-idle"), watch=False)
    try:
        job = store.create(small_request(), CeleryRunner.name)
        assert store.start(job.id)
        assert runner.cancel(job.id).status is JobStatus.RUNNING  # its worker is gone
        wait_for(lambda: runner.check_lost() == [job.id], timeout=PATIENCE)
        done = runner.status(job.id)
        assert (done.status, done.has_plan, done.finished_at is not None) == (
            JobStatus.CANCELLED,
            False,
            True,
        )
        assert done.error is not None and "worker was lost" in done.error
    finally:
        runner.close()


def test_a_lost_job_with_a_live_heartbeat_is_left_alone(
    db: Database, backend: str, prefix: str
) -> None:
    store = JobStore(db)
    runner = CeleryRunner.from_settings(store, settings_for(backend, f"{prefix}-idle"), watch=False)
    try:
        job = store.create(small_request(), CeleryRunner.name)
        assert store.start(job.id)
        runner.redis.set(runner.keys.heartbeat(job.id), "a worker", ex=60)
        for _ in range(3):
            assert runner.check_lost() == []
        assert store.get(job.id).status is JobStatus.RUNNING
    finally:
        runner.close()


def test_a_redelivered_message_takes_over_a_lost_job_or_gives_it_up(
    db: Database, redis_client: redis.Redis, prefix: str
) -> None:
    """What a worker does with a message the broker handed out again (visibility timeout)."""
    store = JobStore(db)
    plans = planner()
    worker = JobWorker(
        store,
        redis_client,
        Keys(f"{prefix}-idle"),
        lambda request, progress, stop, _tenant: plans.solve(request, progress, stop),
        heartbeat_ttl=HEARTBEAT_TTL,
    )
    try:
        lost_once = store.create(small_request(), CeleryRunner.name)
        assert store.start(lost_once.id)
        assert worker.run(lost_once.id) is JobStatus.SUCCEEDED
        assert store.get(lost_once.id).attempts == 2
        assert worker.run(lost_once.id) is None  # a copy of a finished job's message

        hopeless = store.create(small_request(), CeleryRunner.name)
        for _ in range(MAX_ATTEMPTS - 1):
            store.start(hopeless.id)
            store.requeue(hopeless.id)
        store.start(hopeless.id)
        assert worker.run(hopeless.id) is JobStatus.FAILED
        error = store.get(hopeless.id).error
        assert error is not None and "given up" in error

        alive = store.create(small_request(), CeleryRunner.name)
        assert store.start(alive.id)
        redis_client.set(worker.keys.heartbeat(alive.id), "another worker", ex=60)
        assert worker.run(alive.id) is None  # another worker is on it
        assert store.get(alive.id).status is JobStatus.RUNNING
    finally:
        stop_helper_processes()


def test_the_api_uses_the_celery_runner_when_configured(
    backend: str,
    prefix: str,
    worker: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANPLAN_JOB_RUNNER", "redis")  # the former name still selects it
    monkeypatch.setenv("VANPLAN_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VANPLAN_REDIS_PREFIX", prefix)
    app = create_app(Settings(database_url=backend, osm_file=None))
    with TestClient(app) as client:
        assert isinstance(app.state.job_runner, CeleryRunner)
        with app.state.db.session() as session:
            headers = {"Authorization": f"Bearer {issue_token(session, 'system').secret}"}
        response = client.post("/v1/jobs", json=small_request(), headers=headers)
        assert response.status_code == 202
        job = JobOut.model_validate(response.json())

        def finished() -> bool:
            out = JobOut.model_validate(client.get(f"/v1/jobs/{job.id}", headers=headers).json())
            return out.status.finished

        wait_for(finished, timeout=PATIENCE)
        response = client.get(f"/v1/jobs/{job.id}/plan", headers=headers)
        assert response.status_code == 200
        assert_feasible(
            response.json(), planner().map(SolveRequest.model_validate(small_request()))
        )


def test_a_worker_plans_a_stored_week_and_stores_the_version(
    db: Database, runner: CeleryRunner, worker: subprocess.Popen[bytes]
) -> None:
    """A week job on a worker process writes the draft version into the shared database."""
    store_week(db)
    with db.session() as s:
        request = week_request(s, WEEK, "Europe/Berlin", seed=1, solution_limit=100)
    job = runner.submit(request, week_task(JobKind.WEEK_PLAN, WEEK))
    assert (job.kind, job.week) == ("week_plan", WEEK)
    wait_for(lambda: runner.status(job.id).status.finished, timeout=PATIENCE)
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


def test_a_stopped_worker_hands_its_running_job_to_another(
    db: Database, backend: str, prefix: str, spawn_worker: Spawn
) -> None:
    own = f"{prefix}-term"
    store = JobStore(db)
    runner = CeleryRunner.from_settings(store, settings_for(backend, own))
    try:
        first = spawn_worker(own)
        request = SolveRequest.model_validate(busy_request(visits=12, time_limit=6))
        job = runner.submit(request)
        wait_for(lambda: runner.status(job.id).best_cost is not None, timeout=PATIENCE)
        first.send_signal(signal.SIGTERM)  # warm shutdown: the job goes back to the queue
        assert first.wait(timeout=PATIENCE) == 0
        assert store.get(job.id).status is JobStatus.QUEUED
        spawn_worker(own)
        wait_for(lambda: runner.status(job.id).status.finished, timeout=PATIENCE)
        done = store.get(job.id)
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert done.attempts == 2
    finally:
        runner.close()
