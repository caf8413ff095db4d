"""Jobs survive a stop of the service: queued or running jobs are resumed on the next start, or
failed with a reason once interrupted too often. Nothing is silently lost."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import create_token, issue_token
from api.db.database import Database
from api.planner import Planner
from api.schemas.planning import JobOut, JobStatus, SolveRequest
from api.settings import Settings
from api.storage.jobs import JobStore
from geo.providers import approximate_provider
from tests.api.test_e2e_uvicorn import Server
from tests.api.test_jobs import PATIENCE, busy_request, wait_for
from tests.api.test_solve import assert_feasible, small_request

pytestmark = pytest.mark.slow


def checked(plan: dict[str, object], body: dict[str, object]) -> None:
    assert_feasible(plan, Planner(approximate_provider()).map(SolveRequest.model_validate(body)))


def test_a_job_running_at_shutdown_runs_again_after_the_restart(database_url: str) -> None:
    settings = Settings(database_url=database_url, osm_file=None, job_workers=1)
    body = busy_request(visits=12, time_limit=2)
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.db.session() as s:
            headers = {"Authorization": f"Bearer {issue_token(s, 'system').secret}"}
        job = JobOut.model_validate(client.post("/v1/jobs", json=body, headers=headers).json())
        wait_for(
            lambda: client.get(f"/v1/jobs/{job.id}", headers=headers).json()["status"] == "running",
            timeout=PATIENCE,
        )
    # the service has stopped while the job ran: it is queued again, not lost
    db = Database(database_url)
    try:
        record = JobStore(db).get(job.id)
        assert record.status is JobStatus.QUEUED and record.attempts == 1
    finally:
        db.dispose()

    app = create_app(settings)
    with TestClient(app) as client:
        wait_for(
            lambda: (
                client.get(f"/v1/jobs/{job.id}", headers=headers).json()["status"] == "succeeded"
            ),
            timeout=PATIENCE,
        )
        response = client.get(f"/v1/jobs/{job.id}/plan", headers=headers)
        assert response.status_code == 200
        checked(response.json(), body)


def test_jobs_left_by_a_crash_are_resumed_or_failed_on_start(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    store = JobStore(db)
    body = small_request()
    queued = store.create(body, "in_process")  # never started
    running = store.create(body, "in_process")  # started once, then the process died
    assert store.start(running.id)
    hopeless = store.create(body, "in_process")  # died with it twice
    for _ in range(2):
        assert store.start(hopeless.id)
        store.requeue(hopeless.id)
    assert store.start(hopeless.id)
    db.dispose()

    app = create_app(Settings(database_url=database_url, osm_file=None))
    with TestClient(app) as client:
        with app.state.db.session() as s:
            headers = {"Authorization": f"Bearer {issue_token(s, 'dispatcher').secret}"}

        def status(job_id: str) -> JobOut:
            return JobOut.model_validate(client.get(f"/v1/jobs/{job_id}", headers=headers).json())

        failed = status(hopeless.id)
        assert failed.status is JobStatus.FAILED
        assert failed.error is not None and "interrupted 3 times" in failed.error
        wait_for(
            lambda: status(queued.id).status.finished and status(running.id).status.finished,
            timeout=PATIENCE,
        )
        for job_id in (queued.id, running.id):
            assert status(job_id).status is JobStatus.SUCCEEDED
            checked(client.get(f"/v1/jobs/{job_id}/plan", headers=headers).json(), body)


def test_a_killed_server_resumes_its_jobs(database_url: str, tmp_path: Path) -> None:
    """End to end over HTTP: uvicorn is killed (no clean shutdown) during a job."""
    token = create_token("system", name="restart", settings=Settings(database_url=database_url))
    auth = {"Authorization": f"Bearer {token.secret}"}
    body = busy_request(visits=12, time_limit=2)
    server = Server(database_url, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=PATIENCE) as http:
            job = JobOut.model_validate(http.post("/v1/jobs", json=body, headers=auth).json())
            wait_for(
                lambda: http.get(f"/v1/jobs/{job.id}", headers=auth).json()["status"] == "running",
                timeout=PATIENCE,
            )
        server.process.kill()
        server.process.wait()
    finally:
        server.stop()
    time.sleep(0.1)
    server = Server(database_url, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=PATIENCE) as http:
            wait_for(
                lambda: (
                    http.get(f"/v1/jobs/{job.id}", headers=auth).json()["status"] == "succeeded"
                ),
                timeout=PATIENCE,
            )
            out = JobOut.model_validate(http.get(f"/v1/jobs/{job.id}", headers=auth).json())
            response = http.get(f"/v1/jobs/{job.id}/plan", headers=auth)
            assert response.status_code == 200
            checked(response.json(), body)
    finally:
        server.stop()
    assert out.status is JobStatus.SUCCEEDED and out.has_plan
