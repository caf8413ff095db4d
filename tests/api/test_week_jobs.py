"""Planning and re-planning a stored week as a job: progress, stop, the draft version it stores.

Runs on both databases (the ``app``/``client`` fixtures); every plan is replayed by the
independent checker against the problem the service mapped.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.db.core_models import VisitRow
from api.db.planning_models import PlanRow
from api.schemas.planning import JobOut, JobStatus, PlanOut, PlanVersionOut, SolveRequest
from api.storage import plans as store
from api.weeks import WeekTasks, compute_plan, store_outcome
from tests.api.test_jobs import wait_for
from tests.api.test_plans import FAST, WEEK, mapped_week, plan_week
from tests.api.test_plans import week as week
from tests.api.test_solve import (
    assert_feasible,
    no_helper_processes_left,  # noqa: F401  (autouse: no solver process outlives a test)
)

Headers = dict[str, str]


def submit(client: TestClient, headers: Headers, what: str, **body: Any) -> JobOut:
    response = client.post(f"/v1/weeks/{WEEK}/{what}/jobs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    job = JobOut.model_validate(response.json())
    assert response.headers["Location"] == f"/v1/jobs/{job.id}"
    return job


def job_state(client: TestClient, headers: Headers, job_id: str) -> JobOut:
    response = client.get(f"/v1/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    return JobOut.model_validate(response.json())


def finished(client: TestClient, headers: Headers, job_id: str) -> JobOut:
    wait_for(lambda: job_state(client, headers, job_id).status.finished, timeout=90)
    return job_state(client, headers, job_id)


def version(client: TestClient, headers: Headers, plan_id: str) -> PlanVersionOut:
    response = client.get(f"/v1/plans/{plan_id}", headers=headers)
    assert response.status_code == 200, response.text
    return PlanVersionOut.model_validate(response.json())


def test_a_week_plan_job_stores_a_draft_version(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers
) -> None:
    job = submit(client, dispatcher, "plan", **FAST)
    assert (job.kind, job.week, job.plan_id) == ("week_plan", WEEK, None)
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)
    done = finished(client, dispatcher, job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.plan_id is not None and done.progress == 1.0 and done.solutions >= 1
    v1 = version(client, dispatcher, done.plan_id)
    assert (v1.week, v1.version, v1.status, v1.parent_id) == (WEEK, 1, "draft", None)
    plan = assert_feasible(v1.plan, mapped_week(app, v1))
    assert plan.summary.assigned == 6 and plan.unassigned == []
    # the job's plan is the version's plan
    response = client.get(f"/v1/jobs/{job.id}/plan", headers=dispatcher)
    assert response.status_code == 200 and PlanOut.model_validate(response.json()) == v1.plan
    assert done.best_cost == pytest.approx(v1.plan.summary.cost)
    listed = client.get(f"/v1/weeks/{WEEK}/plans", headers=dispatcher).json()
    assert [p["id"] for p in listed] == [v1.id]


def test_a_week_replan_job_keeps_confirmed_visits(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers
) -> None:
    v1 = plan_week(client, dispatcher)
    where = {s.visit_id: (r.van_id, r.date) for r in v1.plan.routes for s in r.steps if s.visit_id}
    response = client.put(
        f"/v1/plans/{v1.id}/confirmed", json={"visit_ids": ["v1", "v3"]}, headers=dispatcher
    )
    assert response.status_code == 200
    with app.state.db.session() as s:
        cancelled = s.get(VisitRow, "v4")
        assert cancelled is not None
        cancelled.status = "cancelled"

    job = submit(client, dispatcher, "replan", **FAST)
    assert job.kind == "week_replan"
    done = finished(client, dispatcher, job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.plan_id is not None
    v2 = version(client, dispatcher, done.plan_id)
    assert (v2.version, v2.status, v2.parent_id) == (2, "draft", v1.id)
    assert_feasible(v2.plan, mapped_week(app, v2))
    assert v2.changes is not None and v2.changes.dropped == ["v4"]
    assert v2.changes.confirmed_kept == ["v1", "v3"] and v2.confirmed == ["v1", "v3"]
    now = {s.visit_id: (r.van_id, r.date) for r in v2.plan.routes for s in r.steps if s.visit_id}
    assert now["v1"] == where["v1"] and now["v3"] == where["v3"]


def test_stopping_a_week_job_stores_its_best_plan(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers
) -> None:
    job = submit(client, dispatcher, "plan", time_limit_seconds=60, seed=1)
    # progress is visible while the search runs: solutions and the best cost so far
    wait_for(lambda: job_state(client, dispatcher, job.id).best_cost is not None, timeout=60)
    # the share of the time limit used goes on growing between improvements
    wait_for(lambda: job_state(client, dispatcher, job.id).progress >= 0.04, timeout=30)
    running = job_state(client, dispatcher, job.id)
    assert running.status is JobStatus.RUNNING and running.solutions >= 1
    assert 0.04 <= running.progress < 1.0 and running.plan_id is None
    response = client.delete(f"/v1/jobs/{job.id}", headers=dispatcher)
    assert response.status_code == 200
    done = finished(client, dispatcher, job.id)
    assert done.status is JobStatus.CANCELLED and done.plan_id is not None
    stored = version(client, dispatcher, done.plan_id)
    assert stored.status == "draft" and stored.version == 1
    assert_feasible(stored.plan, mapped_week(app, stored))
    assert stored.plan.summary.wall_time_seconds < 50  # stopped, not run to its limit


def test_week_job_errors(
    client: TestClient, week: None, dispatcher: Headers, crew: Headers, system: Headers
) -> None:
    # nothing planned yet: nothing to re-plan from
    response = client.post(f"/v1/weeks/{WEEK}/replan/jobs", json=FAST, headers=dispatcher)
    assert response.status_code == 404
    assert response.json()["details"][0]["field"] == "path.iso_week"
    # a week without shifts or visits: the request is refused now, not as a failed job later
    response = client.post("/v1/weeks/2026-W02/plan/jobs", json=FAST, headers=dispatcher)
    assert response.status_code == 422 and response.json()["code"] == "nothing_to_plan"
    response = client.post(
        f"/v1/weeks/{WEEK}/plan/jobs", json={"time_limit_seconds": -1}, headers=dispatcher
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "body.time_limit_seconds"
    response = client.post("/v1/weeks/2026-48/plan/jobs", json=FAST, headers=dispatcher)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "path.iso_week"
    for who in (crew, system):
        response = client.post(f"/v1/weeks/{WEEK}/plan/jobs", json=FAST, headers=who)
        assert response.status_code == 403
    assert client.post(f"/v1/weeks/{WEEK}/plan/jobs", json=FAST).status_code == 401


def test_a_resumed_week_job_stores_no_second_version(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers
) -> None:
    """A job that had stored its version when its process stopped finds it and returns it."""
    plan = plan_week(client, dispatcher)
    with app.state.db.session() as s:
        row = store.get(s, plan.id)
        assert row is not None
        row.job_id = "job-before-restart"
        request = SolveRequest.model_validate(row.request)
    tasks = WeekTasks(app.state.db, app.state.planner, 10.0, 60.0)
    calls: list[Any] = []
    out, plan_id = tasks(
        "job-before-restart",
        {"kind": "week_plan", "week": WEEK},
        request,
        lambda *a: calls.append(a),
        threading.Event(),
    )
    assert plan_id == plan.id and out == plan.plan
    assert calls == []  # no search ran
    with app.state.db.session() as s:
        assert len(store.versions(s, WEEK)) == 1


def test_a_taken_version_number_is_retried(
    app: FastAPI, client: TestClient, week: None, dispatcher: Headers, monkeypatch: Any
) -> None:
    """Two plans of one week finishing together: the later one takes the next number."""
    first = plan_week(client, dispatcher)
    with app.state.db.session() as s:
        row = store.get(s, first.id)
        assert row is not None
        request = SolveRequest.model_validate(row.request)
    planner = app.state.planner
    outcome = compute_plan(planner, WEEK, request, planner.solver_settings(request, 5.0))
    real = store.next_version
    stale = iter([1])  # what a concurrent planner read before the first version was stored
    monkeypatch.setattr(store, "next_version", lambda s, w: next(stale, None) or real(s, w))
    with app.state.db.session() as s:
        row = store_outcome(s, WEEK, outcome, job_id="job-2")
        assert (row.version, row.job_id) == (2, "job-2")
    with app.state.db.session() as s:
        rows: list[PlanRow] = store.versions(s, WEEK)
        assert [r.version for r in rows] == [1, 2]
