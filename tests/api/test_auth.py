"""Tokens and roles: hashing, revocation, 401/403, crew scoped to its van, system to solve/jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

import api.auth
from api.auth import (
    LAST_USED_RESOLUTION,
    Principal,
    Role,
    TokenCache,
    authenticate,
    create_token,
    hash_secret,
    issue_token,
    list_tokens,
    revoke,
    revoke_token,
)
from api.db.core_models import TokenRow
from api.settings import Settings
from optimizer.errors import ValidationError

Headers = dict[str, str]


def test_only_the_hash_is_stored(app: FastAPI, client: TestClient) -> None:
    with app.state.db.session() as session:
        issued = issue_token(session, Role.DISPATCHER, name="desk")
    with app.state.db.session() as session:
        row = session.scalars(select(TokenRow)).one()
        assert row.secret_hash == hash_secret(issued.secret)
        assert issued.secret not in {row.secret_hash, row.id, row.name}
        principal = authenticate(session, issued.secret)
        assert principal is not None and principal.role is Role.DISPATCHER
        assert authenticate(session, issued.secret + "x") is None
        assert authenticate(session, "not-a-token") is None


def test_every_endpoint_but_health_needs_a_token(app: FastAPI, client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    schema = app.openapi()
    for path, operations in schema["paths"].items():
        if path in ("/health", "/ready"):
            continue
        concrete = path.replace("{", "").replace("}", "")
        for method in operations:
            r = client.request(method.upper(), concrete)
            assert r.status_code == 401, f"{method} {path}: {r.status_code}"
            assert r.json()["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_and_malformed_tokens_get_401(client: TestClient) -> None:
    for header in ("Bearer vp_nope", "Bearer ", "Basic dXNlcjpwdw==", "vp_x"):
        r = client.get("/v1/vans", headers={"Authorization": header})
        assert r.status_code == 401, header


def test_revoked_token_stops_working(settings: Settings, client: TestClient) -> None:
    issued = create_token("dispatcher", name="cli", settings=settings)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/v1/vans", headers=headers).status_code == 200
    assert revoke_token(issued.id, settings=settings) is True
    assert revoke_token(issued.id, settings=settings) is False  # already revoked
    assert revoke_token("tok_unknown", settings=settings) is False
    assert client.get("/v1/vans", headers=headers).status_code == 401
    [info] = list_tokens(settings=settings)
    assert info["id"] == issued.id and info["revoked_at"] is not None
    assert info["role"] == "dispatcher" and "secret" not in info
    token_id, secret = issued  # unpacks for the CLI
    assert (token_id, secret) == (issued.id, issued.secret)


def test_token_creation_validates(settings: Settings, client: TestClient) -> None:
    with pytest.raises(ValidationError) as err:
        create_token("admin", settings=settings)
    assert [i.field for i in err.value.issues] == ["role"]
    with pytest.raises(ValidationError) as err:
        create_token(Role.CREW, settings=settings)
    assert "bound to a van" in str(err.value)
    with pytest.raises(ValidationError) as err:
        create_token(Role.CREW, van_id="no-such-van", settings=settings)
    assert "unknown van" in str(err.value)
    with pytest.raises(ValidationError):
        create_token(Role.SYSTEM, van_id="van-1", settings=settings)


def test_crew_sees_only_its_own_van(
    client: TestClient, dispatcher: Headers, crew: Headers, crew_van: str
) -> None:
    client.post("/v1/vans", json={"id": "van-2", "name": "Other"}, headers=dispatcher)
    shift = {"start": "2026-11-23T08:00:00+01:00", "end": "2026-11-23T16:00:00+01:00"}
    for van in (crew_van, "van-2"):
        r = client.post(
            f"/v1/vans/{van}/shifts", json={"id": f"s-{van}", **shift}, headers=dispatcher
        )
        assert r.status_code == 201

    listed = client.get("/v1/vans", headers=crew).json()
    assert [v["id"] for v in listed["items"]] == [crew_van] and listed["total"] == 1
    assert client.get(f"/v1/vans/{crew_van}", headers=crew).status_code == 200
    assert client.get(f"/v1/vans/{crew_van}/shifts", headers=crew).json()["total"] == 1

    assert client.get("/v1/vans/van-2", headers=crew).status_code == 403
    assert client.get("/v1/vans/van-2/shifts", headers=crew).status_code == 403
    assert client.get("/v1/vans/van-2/shifts/s-van-2", headers=crew).status_code == 403


def test_crew_is_read_only_and_sees_no_clients(
    client: TestClient, crew: Headers, crew_van: str
) -> None:
    r = client.patch(f"/v1/vans/{crew_van}", json={"name": "mine now"}, headers=crew)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert client.post("/v1/vans", json={"name": "x"}, headers=crew).status_code == 403
    assert client.get("/v1/clients", headers=crew).status_code == 403
    assert client.get("/v1/visits", headers=crew).status_code == 403
    assert client.get("/v1/consultation-hours", headers=crew).status_code == 403


def test_system_cannot_read_dispatcher_data(client: TestClient, system: Headers) -> None:
    for path in ("/v1/clients", "/v1/vans", "/v1/visits", "/v1/consultation-hours"):
        r = client.get(path, headers=system)
        assert r.status_code == 403, path
        assert "system" in r.json()["message"]
    assert client.post("/v1/clients", json={"name": "x"}, headers=system).status_code == 403


def test_system_may_call_solve_and_jobs(client: TestClient, system: Headers) -> None:
    # Authorised (validation error, not 403) with an empty body.
    assert client.post("/v1/solve", json={}, headers=system).status_code == 422
    assert client.get("/v1/jobs/unknown", headers=system).status_code == 404


def test_deleting_a_van_ends_its_crew_tokens(
    client: TestClient, dispatcher: Headers, make_token: Callable[..., Headers]
) -> None:
    client.post("/v1/vans", json={"id": "van-9", "name": "Nine"}, headers=dispatcher)
    crew9 = make_token(Role.CREW, van_id="van-9")
    assert client.get("/v1/vans/van-9", headers=crew9).status_code == 200
    assert client.delete("/v1/vans/van-9", headers=dispatcher).status_code == 204
    assert client.get("/v1/vans", headers=crew9).status_code == 401


def test_last_used_at_is_recorded_at_most_once_a_minute(
    app: FastAPI, client: TestClient, settings: Settings
) -> None:
    with app.state.db.session() as session:
        issued = issue_token(session, Role.DISPATCHER, name="desk")

    def last_used() -> datetime | None:
        with app.state.db.session() as session:
            row = session.get(TokenRow, issued.id)
            assert row is not None
            return row.last_used_at

    assert last_used() is None
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/v1/vans", headers=headers).status_code == 200
    first = last_used()
    assert first is not None
    assert abs(datetime.now(UTC) - first) < timedelta(minutes=5)
    # Within a minute of the last record nothing is written; after it, the new use is.
    with app.state.db.sessions() as session:
        assert authenticate(session, issued.secret, now=first + timedelta(seconds=59))
    assert last_used() == first
    later = first + LAST_USED_RESOLUTION + timedelta(seconds=1)
    with app.state.db.sessions() as session:
        assert authenticate(session, issued.secret, now=later)
    assert last_used() == later
    # A failed authentication records nothing.
    with app.state.db.sessions() as session:
        assert authenticate(session, issued.secret + "x", now=later + timedelta(hours=1)) is None
    assert last_used() == later
    [info] = list_tokens(settings=settings)
    assert info["last_used_at"] == later


# --------------------------------------------------------------------------- the token cache


def _revoke_behind_the_cache(app: FastAPI, token_id: str) -> None:
    """Revoke as another process would: the row changes, this process's caches are not told."""
    with app.state.db.unscoped() as session:
        session.execute(
            update(TokenRow).where(TokenRow.id == token_id).values(revoked_at=datetime.now(UTC))
        )


def test_a_token_looked_up_moments_ago_is_served_from_the_cache(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the cache's time a revocation by another process is not seen yet (the documented
    lag); once the entry expires, it is."""
    with app.state.db.session() as session:
        issued = issue_token(session, Role.DISPATCHER, name="desk")
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/v1/vans", headers=headers).status_code == 200
    cached = app.state.tokens.get(hash_secret(issued.secret))
    assert cached is not None and cached.token_id == issued.id
    _revoke_behind_the_cache(app, issued.id)
    assert client.get("/v1/vans", headers=headers).status_code == 200  # cached
    later = time.monotonic() + app.state.tokens.ttl + 1
    monkeypatch.setattr(api.auth.time, "monotonic", lambda: later)
    assert client.get("/v1/vans", headers=headers).status_code == 401


def test_a_revocation_in_this_process_is_honoured_at_once(app: FastAPI, client: TestClient) -> None:
    with app.state.db.session() as session:
        issued = issue_token(session, Role.DISPATCHER, name="desk")
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/v1/vans", headers=headers).status_code == 200
    assert app.state.tokens.get(hash_secret(issued.secret)) is not None
    with app.state.db.unscoped() as session:
        assert revoke(session, issued.id) is True
    assert app.state.tokens.get(hash_secret(issued.secret)) is None
    assert client.get("/v1/vans", headers=headers).status_code == 401


def test_a_lookup_between_revoke_and_commit_is_not_kept() -> None:
    """``revoke`` forgets the token again when its session commits: a request that looked the
    token up before the commit (and saw it valid) leaves nothing behind."""
    cache = TokenCache(ttl=60)
    principal = Principal(token_id="tok_1", role=Role.DISPATCHER, tenant_id="a")
    engine = create_engine("sqlite://")
    TokenRow.metadata.create_all(engine, tables=[TokenRow.__table__])  # type: ignore[list-item]
    with Session(engine) as session:
        session.add(TokenRow(id="tok_1", tenant_id="a", role="dispatcher", secret_hash="h"))
        session.commit()
        assert revoke(session, "tok_1") is True
        cache.put("h", principal)  # a concurrent request's lookup, before the commit
        assert cache.get("h") == principal
        session.commit()
    assert cache.get("h") is None
    engine.dispose()


def test_the_cache_keeps_the_tenant_and_its_bounds() -> None:
    cache = TokenCache(ttl=60, max_entries=2)
    a = Principal(token_id="tok_a", role=Role.CREW, van_id="van-1", tenant_id="a")
    b = Principal(token_id="tok_b", role=Role.CREW, van_id="van-1", tenant_id="b")
    cache.put("ha", a)
    cache.put("hb", b)
    assert cache.get("ha") == a and cache.get("hb") == b
    assert cache.get("ha").tenant_id == "a"  # type: ignore[union-attr]
    cache.forget_van("a", "van-1")  # van-1 of tenant a deleted: b's crew token stays
    assert cache.get("ha") is None and cache.get("hb") == b
    cache.put("h1", a)
    cache.put("h2", a)  # past max_entries the oldest goes
    assert cache.get("hb") is None and cache.get("h1") == a and cache.get("h2") == a
    with pytest.raises(ValueError, match="ttl"):
        TokenCache(ttl=-1)


def test_a_zero_cache_time_looks_every_token_up(settings: Settings) -> None:
    cache = TokenCache(ttl=0)
    principal = Principal(token_id="tok_1", role=Role.DISPATCHER)
    calls: list[int] = []

    def lookup() -> Principal:
        calls.append(1)
        return principal

    secret = "vp_" + "x" * 43
    assert cache.authenticate(secret, lookup) == principal
    assert cache.authenticate(secret, lookup) == principal
    assert len(calls) == 2
    assert cache.authenticate("not-a-token", lookup) is None and len(calls) == 2
    assert (
        Settings(database_url=settings.database_url, token_cache_seconds=0).token_cache_seconds == 0
    )
    with pytest.raises(PydanticValidationError, match="token_cache_seconds"):
        Settings(database_url=settings.database_url, token_cache_seconds=-1)
