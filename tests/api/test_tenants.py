"""Tenants: two job centres in one installation, with the same ids in both, never see or change
each other's data.

The sweep walks EVERY route of the app (API and pages): tenant B's dispatcher addresses tenant A's
objects (ids only A has) and gets 404 (not 403: existence is not leaked), or, on routes that work
on the caller's own data (lists, creating, planning its own week), an answer without anything of
A's; afterwards A's data is unchanged. A route added to the app without a case here fails
:func:`test_the_sweep_covers_every_route`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth import Role, hash_secret, issue_token
from api.db.core_models import TokenRow, VanRow
from api.db.database import unbound_session
from api.db.tenancy import TenantMismatchError, TenantNotBoundError
from api.routers.pages import COOKIE
from api.storage import plans as plan_store
from api.storage.jobs import JobStore
from api.tenants import TenantExistsError, create_tenant, list_tenants, network_of, planner_of
from geo.service_area import load_service_area
from optimizer.errors import ValidationError
from tests.api.conftest import bearer
from tests.api.test_pages import MONDAY, WEEK, _solved
from tests.api.test_pages import solve_request as page_request

Headers = dict[str, str]
MARK = "ALPHA"
"""In the name of everything only tenant A has: must never reach tenant B."""

PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/login"),
    ("POST", "/logout"),
    ("GET", "/static/{path:path}"),
}
"""Routes that read no tenant's data."""


def all_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route of the app, included routers unfolded."""
    found: set[tuple[str, str]] = set()

    def walk(routes: Any) -> None:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:  # an included router (FastAPI >= 0.165)
                walk(contexts())
                continue
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, route.path))

    walk(app.routes)
    return found


@dataclass
class Tenants:
    client: TestClient
    app: FastAPI
    a: Headers  # dispatcher of tenant a
    b: Headers  # dispatcher of tenant b
    a_secret: str
    b_secret: str
    b_crew: Headers
    plan_a: str  # a published week version of tenant a
    job_a: str  # a queued job of tenant a (never run)


def _token(app: FastAPI, tenant: str, role: Role, van_id: str | None = None) -> str:
    with app.state.db.session(tenant) as session:
        return issue_token(session, role, name=f"{tenant} {role}", van_id=van_id).secret


def _t(day: str, hhmm: str) -> str:
    return f"{day}T{hhmm}:00+01:00"


def _fill(client: TestClient, headers: Headers, tenant: str, only: str | None) -> None:
    """The same objects in every tenant (van-1, c-1, ...); ``only`` adds objects with ids only
    this tenant has, named with ``only``."""
    sets: list[tuple[str, str]] = [("1", f"{tenant} ")]
    if only is not None:
        sets.append(("a", f"{only} "))
    for suffix, label in sets:
        van = {"id": f"van-{suffix}", "name": f"{label}van"}
        assert client.post("/v1/vans", json=van, headers=headers).status_code == 201
        shift = {"id": f"s-{suffix}", "start": _t(MONDAY, "08:00"), "end": _t(MONDAY, "16:00")}
        url = f"/v1/vans/van-{suffix}/shifts"
        assert client.post(url, json=shift, headers=headers).status_code == 201
        person = {"id": f"c-{suffix}", "name": f"{label}client", "location": [9.0036, 49.6786]}
        assert client.post("/v1/clients", json=person, headers=headers).status_code == 201
        visit = {"id": f"v-{suffix}", "client_id": f"c-{suffix}", "duration_minutes": 30}
        assert client.post("/v1/visits", json=visit, headers=headers).status_code == 201
        hours = {
            "id": f"ch-{suffix}",
            "title": f"{label}hours",
            "municipality": "Erbach",
            "location": [9.0067, 49.7414],
            "weekday": 3,
            "start_time": "09:00",
            "end_time": "10:00",
            "valid_from": MONDAY,
        }
        assert client.post("/v1/consultation-hours", json=hours, headers=headers).status_code == 201


@pytest.fixture
def two(app: FastAPI, client: TestClient) -> Tenants:
    db = app.state.db
    create_tenant(db, "a", "Jobcenter A")
    create_tenant(db, "b", "Jobcenter B")
    a_secret, b_secret = _token(app, "a", Role.DISPATCHER), _token(app, "b", Role.DISPATCHER)
    a, b = bearer(a_secret), bearer(b_secret)
    _fill(client, a, "a", MARK)
    _fill(client, b, "b", None)
    payload, plan = _solved()
    request = page_request()
    for van in request["vans"]:
        van["name"] = f"{MARK} {van['name']}"
    with db.session("a") as session:
        row = plan_store.create_version(session, WEEK, request=request, payload=payload, plan=plan)
        plan_store.publish(session, row)
        plan_a = row.id
    job = JobStore(db).create(request, "in_process", tenant_id="a")  # queued, never run
    b_crew = bearer(_token(app, "b", Role.CREW, "van-1"))
    return Tenants(client, app, a, b, a_secret, b_secret, b_crew, plan_a, job.id)


# --------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class Case:
    """B's request on a route: ``url`` (with A's ids), and what B must get: ``"404"`` (A's
    object is unknown to B), ``"refused"`` (404 or a 422 naming the unknown id), ``"own"``
    (B's own data: any answer, but nothing of A's)."""

    url: str
    expect: str
    json: Any = None
    form: dict[str, Any] | None = None
    page: bool = False


def cases(t: Tenants) -> dict[tuple[str, str], Case]:
    plan, job, day = t.plan_a, t.job_a, MONDAY
    solve = page_request()
    solve["options"]["time_limit_seconds"] = 1
    offer = {"client_id": "c-a", "duration_minutes": 30}
    return {
        ("GET", "/v1/vans"): Case("/v1/vans", "own"),
        ("POST", "/v1/vans"): Case("/v1/vans", "own", json={"id": "van-b2", "name": "b van 2"}),
        ("GET", "/v1/vans/{van_id}"): Case("/v1/vans/van-a", "404"),
        ("PATCH", "/v1/vans/{van_id}"): Case("/v1/vans/van-a", "404", json={"name": "taken"}),
        ("DELETE", "/v1/vans/{van_id}"): Case("/v1/vans/van-a", "404"),
        ("GET", "/v1/vans/{van_id}/shifts"): Case("/v1/vans/van-a/shifts", "404"),
        ("POST", "/v1/vans/{van_id}/shifts"): Case(
            "/v1/vans/van-a/shifts",
            "404",
            json={"id": "s-x", "start": _t(day, "08:00"), "end": _t(day, "09:00")},
        ),
        ("GET", "/v1/vans/{van_id}/shifts/{shift_id}"): Case("/v1/vans/van-a/shifts/s-a", "404"),
        ("PATCH", "/v1/vans/{van_id}/shifts/{shift_id}"): Case(
            "/v1/vans/van-a/shifts/s-a", "404", json={"crew": ["X"]}
        ),
        ("DELETE", "/v1/vans/{van_id}/shifts/{shift_id}"): Case("/v1/vans/van-a/shifts/s-a", "404"),
        ("GET", "/v1/clients"): Case("/v1/clients", "own"),
        ("POST", "/v1/clients"): Case("/v1/clients", "own", json={"id": "c-b2", "name": "b"}),
        ("GET", "/v1/clients/{client_id}"): Case("/v1/clients/c-a", "404"),
        ("PATCH", "/v1/clients/{client_id}"): Case(
            "/v1/clients/c-a", "404", json={"notes": "taken"}
        ),
        ("POST", "/v1/clients/{client_id}/erase"): Case("/v1/clients/c-a/erase", "404"),
        ("DELETE", "/v1/clients/{client_id}"): Case("/v1/clients/c-a", "404"),
        ("GET", "/v1/visits"): Case("/v1/visits", "own"),
        ("POST", "/v1/visits"): Case(  # a visit of A's client
            "/v1/visits", "refused", json={"id": "v-x", "client_id": "c-a", "duration_minutes": 30}
        ),
        ("GET", "/v1/visits/{visit_id}"): Case("/v1/visits/v-a", "404"),
        ("PATCH", "/v1/visits/{visit_id}"): Case("/v1/visits/v-a", "404", json={"priority": 3}),
        ("DELETE", "/v1/visits/{visit_id}"): Case("/v1/visits/v-a", "404"),
        ("GET", "/v1/consultation-hours"): Case("/v1/consultation-hours", "own"),
        ("POST", "/v1/consultation-hours"): Case(  # hours on A's van
            "/v1/consultation-hours",
            "refused",
            json={
                "id": "ch-x",
                "title": "x",
                "municipality": "Erbach",
                "location": [9.0067, 49.7414],
                "weekday": 3,
                "start_time": "09:00",
                "end_time": "10:00",
                "valid_from": day,
                "van_id": "van-a",
            },
        ),
        ("GET", "/v1/consultation-hours/{ch_id}"): Case("/v1/consultation-hours/ch-a", "404"),
        ("PATCH", "/v1/consultation-hours/{ch_id}"): Case(
            "/v1/consultation-hours/ch-a", "404", json={"title": "taken"}
        ),
        ("DELETE", "/v1/consultation-hours/{ch_id}"): Case("/v1/consultation-hours/ch-a", "404"),
        ("POST", "/v1/solve"): Case("/v1/solve", "own", json=solve),
        ("POST", "/v1/jobs"): Case("/v1/jobs", "own", json=solve),
        ("GET", "/v1/jobs/{job_id}"): Case(f"/v1/jobs/{job}", "404"),
        ("GET", "/v1/jobs/{job_id}/plan"): Case(f"/v1/jobs/{job}/plan", "404"),
        ("DELETE", "/v1/jobs/{job_id}"): Case(f"/v1/jobs/{job}", "404"),
        # B has no plan of the week: re-planning finds none (A's is not B's)
        ("POST", "/v1/weeks/{iso_week}/replan"): Case(f"/v1/weeks/{WEEK}/replan", "404", json={}),
        ("POST", "/v1/weeks/{iso_week}/replan/jobs"): Case(
            f"/v1/weeks/{WEEK}/replan/jobs", "404", json={}
        ),
        ("GET", "/v1/weeks/{iso_week}/plans"): Case(f"/v1/weeks/{WEEK}/plans", "own"),
        ("GET", "/v1/weeks/{iso_week}/itinerary/{van_id}/{day}"): Case(
            f"/v1/weeks/{WEEK}/itinerary/van-1/{day}",
            "404",  # A's published week is not B's
        ),
        ("GET", "/v1/plans/{plan_id}"): Case(f"/v1/plans/{plan}", "404"),
        ("POST", "/v1/plans/{plan_id}/publish"): Case(f"/v1/plans/{plan}/publish", "404"),
        ("PUT", "/v1/plans/{plan_id}/confirmed"): Case(
            f"/v1/plans/{plan}/confirmed", "404", json={"visit_ids": []}
        ),
        ("GET", "/v1/plans/{plan_id}/changes"): Case(f"/v1/plans/{plan}/changes", "404"),
        ("GET", "/v1/plans/{plan_id}/geojson"): Case(f"/v1/plans/{plan}/geojson", "404"),
        ("GET", "/v1/plans/{plan_id}/map"): Case(f"/v1/plans/{plan}/map", "404"),
        ("GET", "/v1/plans/{plan_id}/itinerary/{van_id}/{day}"): Case(
            f"/v1/plans/{plan}/itinerary/van-1/{day}", "404"
        ),
        # planning B's own week comes last among the API cases: afterwards B has a plan too
        ("POST", "/v1/weeks/{iso_week}/plan/jobs"): Case(
            f"/v1/weeks/{WEEK}/plan/jobs", "own", json={"time_limit_seconds": 1}
        ),
        ("POST", "/v1/weeks/{iso_week}/plan"): Case(
            f"/v1/weeks/{WEEK}/plan", "own", json={"time_limit_seconds": 1}
        ),
        # B has a plan of the week now: offers for A's client are refused
        ("POST", "/v1/weeks/{iso_week}/offers"): Case(
            f"/v1/weeks/{WEEK}/offers", "refused", json=offer
        ),
        ("POST", "/v1/weeks/{iso_week}/offers/book"): Case(
            f"/v1/weeks/{WEEK}/offers/book",
            "refused",
            json={"visit": offer, "slot": {"van_id": "van-a", "date": day, "start": "09:00"}},
        ),
        # pages, with B's login cookie
        ("POST", "/login"): Case("/login", "own", form={"token": t.b_secret}, page=True),
        ("GET", "/"): Case("/", "own", page=True),
        ("GET", "/crew/{van_id}"): Case("/crew/van-a", "404", page=True),
        ("GET", "/crew/{van_id}/{day}"): Case(f"/crew/van-a/{day}", "404", page=True),
        ("GET", "/crew/{van_id}/{day}/map"): Case(f"/crew/van-a/{day}/map", "404", page=True),
        ("GET", "/crew/{van_id}/{day}/download.{ext}"): Case(
            f"/crew/van-a/{day}/download.csv", "404", page=True
        ),
        ("GET", "/dispatcher"): Case(f"/dispatcher?week={WEEK}", "own", page=True),
        ("GET", "/dispatcher/template.{ext}"): Case("/dispatcher/template.csv", "own", page=True),
        ("POST", "/dispatcher/upload"): Case("/dispatcher/upload", "own", page=True),
        ("GET", "/dispatcher/map"): Case(f"/dispatcher/map?plan={plan}", "404", page=True),
        ("POST", "/dispatcher/vans"): Case(
            "/dispatcher/vans",
            "refused",
            form={"week": WEEK, "name": "taken", "existing": "van-a"},
            page=True,
        ),
        ("POST", "/dispatcher/shifts"): Case(
            "/dispatcher/shifts",
            "refused",
            form={
                "week": WEEK,
                "van_id": "van-a",
                "shift_id": "s-a",
                "day": day,
                "start": "07:00",
                "end": "09:00",
            },
            page=True,
        ),
        ("POST", "/dispatcher/shifts/{shift_id}/delete"): Case(
            "/dispatcher/shifts/s-a/delete",
            "refused",
            form={"week": WEEK, "van_id": "van-a"},
            page=True,
        ),
        ("GET", "/dispatcher/clients"): Case("/dispatcher/clients", "own", page=True),
        ("POST", "/dispatcher/clients"): Case(  # change A's client
            "/dispatcher/clients",
            "refused",
            form={"existing": "c-a", "name": "taken"},
            page=True,
        ),
        ("POST", "/dispatcher/clients/{client_id}/delete"): Case(
            "/dispatcher/clients/c-a/delete", "refused", form={}, page=True
        ),
        ("GET", "/dispatcher/visits"): Case(f"/dispatcher/visits?week={WEEK}", "own", page=True),
        ("POST", "/dispatcher/visits"): Case(  # a visit of A's client, and A's visit changed
            "/dispatcher/visits",
            "refused",
            form={"client_id": "c-a", "duration_minutes": "30", "existing": "v-a"},
            page=True,
        ),
        ("POST", "/dispatcher/visits/{visit_id}/delete"): Case(
            "/dispatcher/visits/v-a/delete", "refused", form={}, page=True
        ),
        ("POST", "/dispatcher/week/copy"): Case(
            "/dispatcher/week/copy", "own", form={"week": WEEK}, page=True
        ),
        ("POST", "/dispatcher/offers"): Case(
            "/dispatcher/offers",
            "refused",
            form={"week": WEEK, "client_id": "c-a", "duration_minutes": "30"},
            page=True,
        ),
        ("POST", "/dispatcher/offers/book"): Case(
            "/dispatcher/offers/book",
            "refused",
            form={
                "week": WEEK,
                "van_id": "van-a",
                "day": day,
                "start": "09:00",
                "client_id": "c-a",
                "duration_minutes": "30",
                "plan_id": plan,
            },
            page=True,
        ),
    }


def snapshot(t: Tenants) -> dict[str, Any]:
    """Everything of tenant A, as A reads it."""
    urls = [
        "/v1/vans",
        "/v1/clients",
        "/v1/visits",
        "/v1/consultation-hours",
        "/v1/vans/van-a/shifts",
        "/v1/vans/van-1/shifts",
        f"/v1/weeks/{WEEK}/plans",
        f"/v1/plans/{t.plan_a}",
        f"/v1/jobs/{t.job_a}",
    ]
    out = {}
    for url in urls:
        response = t.client.get(url, headers=t.a)
        assert response.status_code == 200, (url, response.text)
        out[url] = response.json()
    return out


def _leaks(t: Tenants, case: Case, text: str) -> list[str]:
    """A's marks found in B's answer (ids only when B did not send them)."""
    marks = [MARK]
    sent = case.url + json.dumps(case.json) + json.dumps(case.form)
    marks += [i for i in (t.plan_a, t.job_a) if i not in sent]
    return [m for m in marks if m in text]


def test_the_sweep_covers_every_route(app: FastAPI, two: Tenants) -> None:
    """A new route fails here until it has a case in :func:`cases` (or is public)."""
    covered = set(cases(two)) | PUBLIC
    assert all_routes(app) == covered


def test_tenant_b_cannot_read_or_change_tenant_a(two: Tenants) -> None:
    before = snapshot(two)
    client = two.client
    problems: list[str] = []
    for (method, path), case in cases(two).items():
        client.cookies.clear()
        if case.page:
            client.cookies.set(COOKIE, two.b_secret)
            headers: Headers = {}
        else:
            headers = two.b
        files = None
        if path == "/dispatcher/upload":
            files = {"file": ("visits.csv", b"visit_id;client_id\nv-a;c-a\n", "text/csv")}
        response = client.request(
            method,
            case.url,
            headers=headers,
            json=case.json,
            data=case.form,
            files=files,
            follow_redirects=False,
        )
        status = response.status_code
        if case.expect == "404" and status != 404:
            problems.append(f"{method} {path}: {status} (want 404) {response.text[:200]}")
        if case.expect == "refused" and status not in (404, 422):
            problems.append(f"{method} {path}: {status} (want 404/422) {response.text[:200]}")
        if status >= 500 or status == 403:
            problems.append(f"{method} {path}: {status} {response.text[:200]}")
        leaked = _leaks(two, case, response.text)
        if leaked:
            problems.append(f"{method} {path}: answer holds {leaked}")
    client.cookies.clear()
    assert problems == []
    assert snapshot(two) == before


def test_the_same_ids_in_two_tenants_are_two_objects(two: Tenants) -> None:
    client = two.client
    van_a = client.get("/v1/vans/van-1", headers=two.a).json()
    van_b = client.get("/v1/vans/van-1", headers=two.b).json()
    assert (van_a["name"], van_b["name"]) == ("a van", "b van")
    assert [v["id"] for v in client.get("/v1/vans", headers=two.b).json()["items"]] == ["van-1"]
    # B deletes its van-1: A's stays, with its shift
    assert client.delete("/v1/vans/van-1", headers=two.b).status_code == 204
    assert client.get("/v1/vans/van-1", headers=two.a).status_code == 200
    assert client.get("/v1/vans/van-1/shifts/s-1", headers=two.a).status_code == 200
    assert client.get("/v1/vans/van-1", headers=two.b).status_code == 404
    # and may make a van with an id A uses
    body = {"id": "van-a", "name": "b's own van-a"}
    assert client.post("/v1/vans", json=body, headers=two.b).status_code == 201
    assert client.get("/v1/vans/van-a", headers=two.a).json()["name"] == f"{MARK} van"


def test_a_crew_token_of_b_sees_only_b(two: Tenants) -> None:
    client = two.client
    assert client.get("/v1/vans/van-1", headers=two.b_crew).json()["name"] == "b van"
    response = client.get(f"/v1/plans/{two.plan_a}/itinerary/van-1/{MONDAY}", headers=two.b_crew)
    assert response.status_code == 404


def test_cached_tokens_and_renders_keep_their_tenant(two: Tenants) -> None:
    """Warm reads (the token from the process's token cache, the render from the render cache)
    still serve a plan to its own tenant only."""
    client = two.client
    url = f"/v1/plans/{two.plan_a}/geojson"
    for _ in range(2):  # the second round: both tokens and A's render are cached
        own = client.get(url, headers=two.a)
        assert own.status_code == 200
        assert client.get(url, headers=two.b).status_code == 404
        assert client.get(url, headers=two.b_crew).status_code == 404
    assert own.headers["X-Render-Cache"] == "hit"
    assert two.app.state.renders.fast_hits >= 1  # A's second read came from memory
    cached = two.app.state.tokens.get(hash_secret(two.b_secret))
    assert cached is not None and cached.tenant_id == "b"


def test_jobs_run_for_their_tenant(two: Tenants) -> None:
    """A week job of B plans B's week and stores B's version; A sees neither."""
    client = two.client
    response = client.post(
        f"/v1/weeks/{WEEK}/plan/jobs", json={"time_limit_seconds": 1}, headers=two.b
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    done = two.app.state.job_runner.wait(job_id, 120, tenant_id="b")
    assert done.status.value == "succeeded", done
    assert client.get(f"/v1/jobs/{job_id}", headers=two.a).status_code == 404
    plans_b = client.get(f"/v1/weeks/{WEEK}/plans", headers=two.b).json()
    plans_a = client.get(f"/v1/weeks/{WEEK}/plans", headers=two.a).json()
    assert [p["id"] for p in plans_b] == [done.plan_id]
    assert [p["id"] for p in plans_a] == [two.plan_a]
    planned = client.get(f"/v1/plans/{done.plan_id}", headers=two.b).json()
    text = json.dumps(planned)
    assert MARK not in text and "van-a" not in text


# --------------------------------------------------------------------------- the session


def test_an_unbound_session_refuses_tenant_data(app: FastAPI, client: TestClient) -> None:
    with unbound_session(app.state.db) as session:
        with pytest.raises(TenantNotBoundError):
            session.scalars(select(VanRow)).all()
        session.add(VanRow(id="x", name="x", skills=[]))
        with pytest.raises(TenantNotBoundError):
            session.flush()


def test_a_session_cannot_write_into_another_tenant(app: FastAPI, two: Tenants) -> None:
    db = app.state.db
    with pytest.raises(TenantMismatchError), db.session("b") as session:
        session.add(VanRow(id="x", name="x", skills=[], tenant_id="a"))
    with db.session("b") as session:
        assert session.get(VanRow, "van-a") is None
        assert {r.tenant_id for r in session.scalars(select(TokenRow))} == {"b"}
    with db.unscoped() as session:  # across tenants only when asked for
        assert {r.tenant_id for r in session.scalars(select(VanRow))} == {"a", "b"}


def test_tenant_creation_is_checked(app: FastAPI, client: TestClient) -> None:
    db = app.state.db
    create_tenant(db, "jc-north", "Jobcenter Nord")
    with pytest.raises(TenantExistsError):
        create_tenant(db, "jc-north", "again")
    with pytest.raises(ValidationError) as info:
        create_tenant(db, "Bad Slug", "")
    fields = {i.field for i in info.value.issues}
    assert fields == {"slug", "name"}
    assert [t.id for t in list_tenants(db)] == ["default", "jc-north"]
    with pytest.raises(ValidationError, match="tenant"), db.session() as session:
        issue_token(session, Role.DISPATCHER, tenant_id="nobody")


@pytest.fixture
def default_only(client: TestClient, dispatcher: Headers) -> Iterator[Headers]:
    yield dispatcher


def test_single_tenant_use_is_unchanged(client: TestClient, default_only: Headers) -> None:
    """Tokens made as before belong to the tenant ``default``; everything works as before."""
    body = {"id": "van-1", "name": "Mobiles Büro 1"}
    assert client.post("/v1/vans", json=body, headers=default_only).status_code == 201
    assert client.get("/v1/vans/van-1", headers=default_only).json()["name"] == "Mobiles Büro 1"


def test_a_tenant_plans_in_its_own_service_area(app: FastAPI, client: TestClient) -> None:
    """A tenant with a service-area file gets a planner of that area (bases, places, roads);
    the others share the app's planner."""
    area = Path(__file__).resolve().parent.parent / "data" / "heidelberg_area.toml"
    create_tenant(app.state.db, "hd", "Jobcenter Heidelberg", area)
    create_tenant(app.state.db, "plain", "Jobcenter Plain")
    planners = app.state.planners
    assert planners("plain") is app.state.planner
    assert planners("default") is app.state.planner
    own = planners("hd")
    assert own is planners("hd")  # made once
    assert own.area.name == load_service_area(area).name != app.state.planner.area.name
    with app.state.db.session("hd") as session:
        assert planner_of(app.state, session) is own
        assert network_of(app.state, session) is None  # straight legs, not another area's roads
