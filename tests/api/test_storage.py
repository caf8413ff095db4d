"""Storage: migrations on both databases, persistence across an app restart, the embedded default
database created on first start, and erasure of a client (including stored plans)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from api.app import create_app
from api.auth import create_token
from api.db.base import alembic_config, head_revisions
from api.db.database import Database
from api.db.planning_models import PlanRow
from api.settings import Settings
from api.storage import plans as plan_storage
from api.storage.clients import UnknownClientError, erase_client, pseudonym_for
from optimizer.plan import Plan, SolverStats

Headers = dict[str, str]

CORE_TABLES = {"vans", "shifts", "clients", "visits", "consultation_hours", "api_tokens"}


def test_migrations_create_upgrade_and_downgrade(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert db.ping() is False  # empty database: schema not at head
        db.migrate()
        db.migrate()  # idempotent
        assert db.current_revisions() == head_revisions()
        assert len(head_revisions()) == 1  # one linear history, no two heads
        assert set(inspect(db.engine).get_table_names()) >= CORE_TABLES
        assert db.ping() is True
        config = alembic_config()
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert not CORE_TABLES & set(inspect(db.engine).get_table_names())
        db.migrate()
        assert db.ping() is True
    finally:
        db.dispose()


def test_data_and_tokens_survive_a_restart(settings: Settings) -> None:
    issued = create_token("dispatcher", name="restart", settings=settings)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    with TestClient(create_app(settings)) as first:
        assert (
            first.post("/v1/vans", json={"id": "v", "name": "A"}, headers=headers).status_code
            == 201
        )
        body = {"id": "c", "name": "Erika Mustermann", "location": [8.99, 49.65]}
        assert first.post("/v1/clients", json=body, headers=headers).status_code == 201
        shift = {
            "id": "s",
            "start": "2026-11-23T08:00:00+01:00",
            "end": "2026-11-23T16:00:00+01:00",
        }
        assert first.post("/v1/vans/v/shifts", json=shift, headers=headers).status_code == 201
    with TestClient(create_app(settings)) as second:
        assert second.get("/v1/vans/v", headers=headers).json()["name"] == "A"
        client = second.get("/v1/clients/c", headers=headers).json()
        assert client["name"] == "Erika Mustermann" and client["location"] == [8.99, 49.65]
        shift_out = second.get("/v1/vans/v/shifts/s", headers=headers).json()
        assert shift_out["start"] == "2026-11-23T08:00:00+01:00"


def test_default_sqlite_is_created_in_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "user-data" / "vanplan"
    monkeypatch.setattr("platformdirs.user_data_dir", lambda *a, **k: str(data_dir))
    monkeypatch.delenv("VANPLAN_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.database_url == f"sqlite:///{data_dir / 'vanplan.db'}"
    assert not data_dir.exists()  # nothing happens before the first start
    with TestClient(create_app(settings)) as client:
        assert client.get("/ready").json()["checks"]["database"] is True
    assert (data_dir / "vanplan.db").is_file()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANPLAN_DATABASE_URL", "postgresql+psycopg://u@h:5432/db")
    monkeypatch.setenv("VANPLAN_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("VANPLAN_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("VANPLAN_SOLVER_WORKERS", "2")
    settings = Settings()
    assert settings.solver_workers == 2
    assert settings.database_url.startswith("postgresql")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_body_bytes == 4096
    monkeypatch.setenv("VANPLAN_DATABASE_URL", "mysql://x")
    with pytest.raises(ValueError, match="database_url"):
        Settings()
    monkeypatch.setenv("VANPLAN_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("VANPLAN_SOLVER_WORKERS", "0")
    with pytest.raises(ValueError, match="solver_workers"):
        Settings()


def _store_plan_with_client(app: FastAPI, client_id: str) -> str:
    request = {
        "visits": [
            {"id": "visit-1", "client_ref": client_id, "place": {"address": "Hauptstraße 12"}},
            {"id": "other", "client_ref": "someone-else", "place": {"coordinates": [9.0, 49.6]}},
        ]
    }
    payload = {
        "routes": [
            {
                "steps": [
                    {"type": "visit", "visit_id": "visit-1", "location": [8.9931, 49.6571]},
                    {"type": "visit", "visit_id": "other", "location": [9.0, 49.6]},
                ]
            }
        ]
    }
    plan = Plan(routes=(), unassigned=(), stats=SolverStats("test", 0.0, 0.0))
    with app.state.db.session() as session:
        row = plan_storage.create_version(
            session, "2026-W48", request=request, payload=payload, plan=plan
        )
        return row.id


def test_erase_clears_personal_fields_everywhere(
    app: FastAPI, client: TestClient, dispatcher: Headers
) -> None:
    body = {
        "id": "client-17",
        "name": "Erika Mustermann",
        "address": "Hauptstraße 12, 64711 Erbach",
        "location": [8.9931, 49.6571],
        "language": "de",
        "notes": "Prefers mornings.",
    }
    client.post("/v1/clients", json=body, headers=dispatcher)
    visit = {
        "id": "visit-1",
        "client_id": "client-17",
        "duration_minutes": 30,
        "address": "Am Markt 1",
    }
    client.post("/v1/visits", json=visit, headers=dispatcher)
    plan_id = _store_plan_with_client(app, "client-17")

    r = client.post("/v1/clients/client-17/erase", headers=dispatcher)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "client_id": "client-17",
        "pseudonym": pseudonym_for("client-17"),
        "visits_cancelled": 1,
        "plans_updated": 1,
    }
    erased = client.get("/v1/clients/client-17", headers=dispatcher).json()
    assert erased["erased"] is True
    assert [erased[k] for k in ("name", "address", "location", "language", "notes")] == [None] * 5
    stored_visit = client.get("/v1/visits/visit-1", headers=dispatcher).json()
    assert stored_visit["status"] == "cancelled" and stored_visit["address"] is None

    with app.state.db.session() as session:
        row = session.scalars(select(PlanRow).where(PlanRow.id == plan_id)).one()
        text = str(row.request) + str(row.payload)
        assert "Hauptstraße" not in text and "8.9931" not in text
        assert [v["id"] for v in row.request["visits"]] == ["other"]  # others untouched

    # Erased clients cannot be edited or get new open visits; erasing again changes nothing.
    r = client.patch("/v1/clients/client-17", json={"name": "Back"}, headers=dispatcher)
    assert r.status_code == 409
    r = client.post(
        "/v1/visits", json={"client_id": "client-17", "duration_minutes": 5}, headers=dispatcher
    )
    assert r.status_code == 409
    again = client.post("/v1/clients/client-17/erase", headers=dispatcher).json()
    assert again["visits_cancelled"] == 0 and again["plans_updated"] == 0
    assert client.post("/v1/clients/ghost/erase", headers=dispatcher).status_code == 404


def test_erase_client_function_unknown_id(app: FastAPI, client: TestClient) -> None:
    with app.state.db.session() as session, pytest.raises(UnknownClientError):
        erase_client(session, "nobody")


def test_the_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    """No drift between the ORM models and the Alembic history (columns, types, indexes)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from api.db.base import Base

    db = Database(database_url)
    try:
        db.migrate()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        db.dispose()
