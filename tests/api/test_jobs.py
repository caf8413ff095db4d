"""Solve jobs: the in-process runner and the /v1/jobs endpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.db.database import Database
from api.jobs import InProcessRunner, JobRunner, SolveJobFn
from api.planner import Planner
from api.schemas.planning import JobOut, JobStatus, SolveRequest
from api.settings import Settings
from api.storage.jobs import JobStore, UnknownJobError
from optimizer.processes import stop_helper_processes
from optimizer.sizing import size_issue
from tests.api.test_solve import (
    assert_feasible,
    no_helper_processes_left,  # noqa: F401  (autouse: no solver process outlives a test)
    small_request,
    straight_provider,
)

Headers = dict[str, str]


def busy_request(visits: int = 30, time_limit: float = 30.0) -> dict[str, Any]:
    """A request that keeps the solver busy until its (long) time limit or a stop."""
    body = small_request()
    body["options"] = {"time_limit_seconds": time_limit, "seed": 3}
    body["horizon"]["days"] = 2
    body["shifts"].append(
        {
            "van_id": "van-1",
            "start": "2026-11-24T08:00:00+01:00",
            "end": "2026-11-24T16:00:00+01:00",
        }
    )
    body["visits"] = [
        {
            "id": f"b{i}",
            "place": {"coordinates": [8.80 + 0.013 * (i % 11), 49.60 + 0.011 * (i // 3)]},
            "duration_minutes": 20,
        }
        for i in range(visits)
    ]
    return body


PATIENCE = 600.0
"""Seconds a test waits for a job, a worker or a server before it calls it hung: a ceiling that
only guards against hangs, generous because a machine loaded by other work is slow."""


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    db.migrate()
    yield JobStore(db)
    db.dispose()


@pytest.fixture
def solver_processes() -> Iterator[None]:
    """For tests that start solver processes without an app (whose shutdown would end them):
    the fork server, its resource tracker and any leftover solver process end with the test."""
    yield
    stop_helper_processes()


@pytest.fixture
def planner(solver_processes: None) -> Planner:
    return Planner(straight_provider, time_limit=30.0)


def solve_fn(planner: Planner) -> SolveJobFn:
    return lambda request, progress, stop, _tenant: planner.solve(request, progress, stop)


@pytest.fixture
def runner(store: JobStore, planner: Planner) -> Iterator[InProcessRunner]:
    r = InProcessRunner(store, solve_fn(planner), workers=1)
    yield r
    r.close()


# --- the runner -------------------------------------------------------------------------------


def test_job_runs_to_a_feasible_plan(runner: InProcessRunner, planner: Planner) -> None:
    request = SolveRequest.model_validate(small_request())
    job = runner.submit(request)
    assert job.status is JobStatus.QUEUED and not job.has_plan
    done = runner.wait(job.id, timeout=30)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.progress == 1.0 and done.has_plan and done.finished_at is not None
    plan = runner.result(job.id)
    assert plan is not None
    assert done.best_cost == plan.summary.cost
    assert_feasible(plan, planner.map(request))


def test_cancel_stops_early_and_keeps_the_best_plan(
    runner: InProcessRunner, planner: Planner
) -> None:
    request = SolveRequest.model_validate(busy_request(time_limit=60))
    job = runner.submit(request)
    # progress and the best cost so far are visible while it runs
    wait_for(lambda: runner.status(job.id).best_cost is not None)
    running = runner.status(job.id)
    assert running.status is JobStatus.RUNNING and 0 <= running.progress < 1
    assert running.solutions >= 1
    started = time.monotonic()
    runner.cancel(job.id)
    done = runner.wait(job.id, timeout=15)
    assert time.monotonic() - started < 10  # far less than the 60 s limit
    assert done.status is JobStatus.CANCELLED
    plan = runner.result(job.id)
    assert plan is not None and plan.summary.assigned > 0
    assert done.best_cost is not None and done.best_cost <= running.best_cost + 1e-6
    assert_feasible(plan, planner.map(request))


def test_cancelling_a_queued_job_means_it_never_runs(runner: InProcessRunner) -> None:
    busy = runner.submit(SolveRequest.model_validate(busy_request(time_limit=60)))
    queued = runner.submit(SolveRequest.model_validate(small_request()))
    wait_for(lambda: runner.status(busy.id).status is JobStatus.RUNNING)
    assert runner.status(queued.id).status is JobStatus.QUEUED  # one worker, busy
    cancelled = runner.cancel(queued.id)
    assert cancelled.status is JobStatus.CANCELLED and not cancelled.has_plan
    runner.cancel(busy.id)
    runner.wait(busy.id)
    time.sleep(0.2)
    final = runner.status(queued.id)
    assert final.status is JobStatus.CANCELLED and final.started_at is None
    assert runner.result(queued.id) is None


def test_input_errors_found_while_running_fail_the_job_with_the_reason(
    store: JobStore,
) -> None:
    # The worker's planner cannot locate addresses: the job fails with the field named.
    runner = InProcessRunner(store, solve_fn(Planner(straight_provider)), workers=1)
    try:
        body = small_request()
        body["visits"][0]["place"] = {"address": "Hauptstraße 1, 64720 Michelstadt"}
        job = runner.submit(SolveRequest.model_validate(body))
        done = runner.wait(job.id)
    finally:
        runner.close()
    assert done.status is JobStatus.FAILED
    assert done.error is not None and "visits[0].place.address" in done.error
    assert runner.result(job.id) is None


def test_unknown_job_ids_raise(runner: JobRunner) -> None:
    for call in (runner.status, runner.cancel, runner.result):
        with pytest.raises(UnknownJobError):
            call("nope")


def test_shutdown_requeues_a_running_job_and_recover_resumes_it(
    store: JobStore, planner: Planner
) -> None:
    first = InProcessRunner(store, solve_fn(planner), workers=1)
    request = SolveRequest.model_validate(busy_request(visits=12, time_limit=2))
    job = first.submit(request)
    wait_for(lambda: first.status(job.id).status is JobStatus.RUNNING)
    first.close()  # the service stops while the job runs
    interrupted = store.get(job.id)
    assert interrupted.status is JobStatus.QUEUED and interrupted.attempts == 1

    second = InProcessRunner(store, solve_fn(planner), workers=1)
    try:
        assert second.recover() == [job.id]
        done = second.wait(job.id, timeout=30)
    finally:
        second.close()
    assert done.status is JobStatus.SUCCEEDED
    assert store.get(job.id).attempts == 2
    plan = second.result(job.id)
    assert plan is not None
    assert_feasible(plan, planner.map(request))


# --- the endpoints ----------------------------------------------------------------------------


@pytest.fixture
def one_worker_app(database_url: str) -> FastAPI:
    return create_app(Settings(database_url=database_url, osm_file=None, job_workers=1))


@pytest.fixture
def jclient(one_worker_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(one_worker_app) as c:
        yield c


@pytest.fixture
def token(one_worker_app: FastAPI, jclient: TestClient) -> Callable[[str], Headers]:
    from api.auth import issue_token

    def make(role: str, van_id: str | None = None) -> Headers:
        with one_worker_app.state.db.session() as session:
            issued = issue_token(session, role, name="test", van_id=van_id)
        return {"Authorization": f"Bearer {issued.secret}"}

    return make


def poll(
    client: TestClient, job_id: str, headers: Headers, until: Callable[[JobOut], bool]
) -> JobOut:
    out: list[JobOut] = []

    def check() -> bool:
        response = client.get(f"/v1/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        out.append(JobOut.model_validate(response.json()))
        return until(out[-1])

    wait_for(check, timeout=30)
    return out[-1]


def test_job_round_trip(jclient: TestClient, token: Callable[[str], Headers]) -> None:
    system = token("system")
    body = small_request()
    response = jclient.post("/v1/jobs", json=body, headers=system)
    assert response.status_code == 202, response.text
    job = JobOut.model_validate(response.json())
    assert response.headers["location"] == f"/v1/jobs/{job.id}"
    done = poll(jclient, job.id, system, lambda j: j.status.finished)
    assert done.status is JobStatus.SUCCEEDED
    response = jclient.get(f"/v1/jobs/{job.id}/plan", headers=system)
    assert response.status_code == 200
    planner: Planner = jclient.app.state.planner  # type: ignore[attr-defined]
    plan = assert_feasible(response.json(), planner.map(SolveRequest.model_validate(body)))
    assert plan.summary.assigned == 3


def test_delete_stops_a_job_and_keeps_its_best_plan_while_the_api_stays_responsive(
    jclient: TestClient, token: Callable[[str], Headers]
) -> None:
    headers = token("dispatcher")
    body = busy_request(time_limit=60)
    job = JobOut.model_validate(jclient.post("/v1/jobs", json=body, headers=headers).json())
    running = poll(jclient, job.id, headers, lambda j: j.best_cost is not None)
    assert running.status is JobStatus.RUNNING
    # the API answers quickly while the solver works
    started = time.monotonic()
    assert jclient.get("/health").status_code == 200
    assert jclient.get(f"/v1/jobs/{job.id}", headers=headers).status_code == 200
    assert time.monotonic() - started < 1.0
    # a second job waits in the queue (one worker): no plan yet -> 409
    queued = JobOut.model_validate(
        jclient.post("/v1/jobs", json=small_request(), headers=headers).json()
    )
    response = jclient.get(f"/v1/jobs/{queued.id}/plan", headers=headers)
    assert response.status_code == 409 and response.json()["code"] == "job_has_no_plan"

    response = jclient.delete(f"/v1/jobs/{job.id}", headers=headers)
    assert response.status_code == 200
    done = poll(jclient, job.id, headers, lambda j: j.status.finished)
    assert done.status is JobStatus.CANCELLED and done.has_plan
    response = jclient.get(f"/v1/jobs/{job.id}/plan", headers=headers)
    assert response.status_code == 200
    planner: Planner = jclient.app.state.planner  # type: ignore[attr-defined]
    assert_feasible(response.json(), planner.map(SolveRequest.model_validate(body)))
    # the queued job then runs
    assert poll(jclient, queued.id, headers, lambda j: j.status.finished).status is (
        JobStatus.SUCCEEDED
    )


def test_a_job_above_the_largest_accepted_size_is_a_422_naming_it(
    jclient: TestClient, token: Callable[..., Headers]
) -> None:
    # 5,000 visits is the largest size accepted (measured in benchmarks/limits.py: a plan, or a
    # greedy one, within seconds of the limit, 2.6 GB at most); one more is refused up front.
    body = small_request()
    visit = body["visits"][0]
    body["visits"] = [{**visit, "id": f"v{i}"} for i in range(5001)]
    response = jclient.post("/v1/jobs", json=body, headers=token("system"))
    assert response.status_code == 422
    (detail,) = response.json()["details"]
    assert detail["field"] == "body.visits" and "5000" in detail["message"]


def test_a_job_too_large_for_its_time_limit_is_a_422_naming_the_size(
    jclient: TestClient, token: Callable[..., Headers]
) -> None:
    # 5,000 visits take about 50 s to model: a 30 s limit is refused up front, with the size
    # and the time limit it would need; 120 s is accepted.
    body = small_request()
    visit = {**body["visits"][0], "windows": []}
    body["visits"] = [{**visit, "id": f"v{i}"} for i in range(5000)]
    body["options"] = {**body.get("options", {}), "time_limit_seconds": 30}
    response = jclient.post("/v1/jobs", json=body, headers=token("system"))
    assert response.status_code == 422
    (detail,) = response.json()["details"]
    assert detail["field"] == "body.options.time_limit_seconds"
    assert "5000 visits" in detail["message"] and "at least 100 s" in detail["message"]
    assert size_issue(5000, 5000, 120.0) is None
    assert size_issue(1000, 1000, 30.0) is None


def test_job_errors(jclient: TestClient, token: Callable[..., Headers]) -> None:
    system = token("system")
    for method, path in (("get", ""), ("get", "/plan"), ("delete", "")):
        response = jclient.request(method, f"/v1/jobs/unknown{path}", headers=system)
        assert response.status_code == 404
        assert response.json()["details"][0]["field"] == "path.job_id"
    body = small_request()
    body["shifts"][0]["van_id"] = "ghost"
    response = jclient.post("/v1/jobs", json=body, headers=system)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.shifts[0].van_id"
    assert jclient.post("/v1/jobs", json=small_request()).status_code == 401
    with jclient.app.state.db.session() as session:  # type: ignore[attr-defined]
        from api.db.core_models import VanRow

        session.add(VanRow(id="van-1", name="Van 1", skills=[]))
    crew = token("crew", van_id="van-1")
    assert jclient.post("/v1/jobs", json=small_request(), headers=crew).status_code == 403


def one_solution_then_quiet(
    seconds: float, *, on_progress: Callable[[Any], None], stop: threading.Event
) -> str:
    """A stand-in search (module level: run in a solver process): one solution, then no
    improvement for ``seconds``."""
    from optimizer.solve import Progress

    on_progress(Progress(42.0, 1, 0.1))
    stop.wait(seconds)
    return "finished"


def test_a_quiet_search_still_reports_the_time_going_by(solver_processes: None) -> None:
    """The search reports only improvements; the parent adds the elapsed time meanwhile."""
    from optimizer.processes import run_in_child

    reports: list[Any] = []
    result = run_in_child(one_solution_then_quiet, 2.5, on_progress=reports.append)
    assert result == "finished"
    assert reports[0].elapsed == pytest.approx(0.1) and len(reports) >= 3
    assert all(r.objective == 42.0 and r.solutions == 1 for r in reports)
    elapsed = [r.elapsed for r in reports]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 1.5
