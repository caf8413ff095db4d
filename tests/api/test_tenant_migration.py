"""Migration 0007_tenants on SQLite and PostgreSQL: a database at 0004 with data upgrades
(through 0005_client_phone and 0006_plan_renders) with every row in the tenant ``default``, ids
become unique per tenant, the references keep working inside a tenant, and the downgrade goes
back while only ``default`` has rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from api.db.base import alembic_config
from api.db.database import Database

NOW = datetime(2026, 11, 23, 8, 0)
PREVIOUS = "0006_plan_renders"
"""The revision 0007_tenants follows (the data below is written at 0004, before it)."""
TABLES = (
    "vans",
    "shifts",
    "clients",
    "visits",
    "consultation_hours",
    "api_tokens",
    "solve_jobs",
    "week_plans",
)


def _run(db: Database, action: Any, revision: str) -> None:
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def _insert(connection: Connection, table: str, **values: Any) -> None:
    columns = ", ".join(f'"{c}"' for c in values)
    params = ", ".join(f":{c}" for c in values)
    connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({params})"), values)


def _fill_0004(db: Database) -> None:
    """One row in every table, as revision 0004 stores them."""
    stamps = {"created_at": NOW, "updated_at": NOW}
    with db.engine.begin() as c:
        _insert(
            c,
            "vans",
            id="van-1",
            name="Mobiles Büro 1",
            skills="[]",
            cost_per_hour=30.0,
            cost_per_km=0.35,
            **stamps,
        )
        _insert(c, "shifts", id="s1", van_id="van-1", start=NOW, end=NOW, crew="[]", **stamps)
        _insert(c, "clients", id="c-1", name="Erika", preferred_van_id="van-1", **stamps)
        _insert(
            c,
            "visits",
            id="v1",
            client_id="c-1",
            duration_minutes=30,
            windows="[]",
            skills="[]",
            priority=1,
            status="open",
            preferred_van_id="van-1",
            **stamps,
        )
        _insert(
            c,
            "consultation_hours",
            id="ch1",
            title="Sprechstunde",
            municipality="Erbach",
            lon=9.0,
            lat=49.6,
            weekday=2,
            start_time="09:00:00",
            end_time="10:00:00",
            every_weeks=1,
            valid_from="2026-11-23",
            skills="[]",
            van_id="van-1",
            **stamps,
        )
        _insert(
            c,
            "api_tokens",
            id="tok_1",
            name="crew",
            role="crew",
            van_id="van-1",
            secret_hash="0" * 64,
            created_at=NOW,
        )
        _insert(
            c,
            "solve_jobs",
            id="job1",
            status="succeeded",
            runner="in_process",
            request="{}",
            progress=1.0,
            solutions=1,
            attempts=1,
            cancel_requested=False,
            created_at=NOW,
        )
        _insert(
            c,
            "week_plans",
            id="plan1",
            week="2026-W48",
            version=1,
            status="draft",
            request="{}",
            payload="{}",
            domain_plan="{}",
            confirmed="[]",
            created_at=NOW,
        )


def _count(db: Database, sql: str) -> int:
    with db.engine.connect() as c:
        return int(c.execute(text(sql)).scalar_one())


@pytest.fixture
def at_0004(database_url: str) -> Any:
    db = Database(database_url)
    _run(db, command.upgrade, "0004_week_jobs")
    _fill_0004(db)
    yield db
    db.dispose()


def test_upgrade_puts_every_row_in_the_default_tenant(at_0004: Database) -> None:
    db = at_0004
    _run(db, command.upgrade, "0007_tenants")
    for table in TABLES:
        assert _count(db, f"SELECT COUNT(*) FROM {table}") == 1, table
        assert _count(db, f"SELECT COUNT(*) FROM {table} WHERE tenant_id = 'default'") == 1
    assert _count(db, "SELECT COUNT(*) FROM tenants WHERE id = 'default'") == 1
    with db.engine.connect() as c:  # the references survived the rebuild
        row = c.execute(text("SELECT preferred_van_id FROM visits WHERE id = 'v1'")).one()
        assert row[0] == "van-1"
    # the same ids in another tenant; references stay inside a tenant
    with db.engine.begin() as c:
        _insert(c, "tenants", id="b", name="B", created_at=NOW)
        _insert(
            c,
            "vans",
            tenant_id="b",
            id="van-1",
            name="B 1",
            skills="[]",
            cost_per_hour=30.0,
            cost_per_km=0.35,
            created_at=NOW,
            updated_at=NOW,
        )
    with pytest.raises(IntegrityError), db.engine.begin() as c:  # b has no van-2 ...
        _insert(c, "clients", tenant_id="b", id="c-1", name="x", preferred_van_id="van-2")
    with pytest.raises(IntegrityError), db.engine.begin() as c:  # ... and b has no client c-1
        _insert(
            c,
            "visits",
            tenant_id="b",
            id="v1",
            client_id="c-1",
            duration_minutes=30,
            windows="[]",
            skills="[]",
            priority=1,
            status="open",
            created_at=NOW,
            updated_at=NOW,
        )
    with pytest.raises(IntegrityError), db.engine.begin() as c:  # an unknown tenant
        _insert(c, "solve_jobs", **_job("job2", "nobody"))
    # deleting b's van-1 cascades to nothing of default's; default's cascade still works
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM vans WHERE tenant_id = 'b'"))
    assert _count(db, "SELECT COUNT(*) FROM shifts") == 1
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM visits"))
        c.execute(text("UPDATE clients SET preferred_van_id = NULL"))
        c.execute(text("UPDATE consultation_hours SET van_id = NULL"))
        c.execute(text("DELETE FROM vans WHERE tenant_id = 'default'"))
    assert _count(db, "SELECT COUNT(*) FROM shifts") == 0
    assert _count(db, "SELECT COUNT(*) FROM api_tokens") == 0  # crew token of the van


def _job(job_id: str, tenant: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "tenant_id": tenant,
        "status": "queued",
        "runner": "in_process",
        "request": "{}",
        "progress": 0.0,
        "solutions": 0,
        "attempts": 0,
        "cancel_requested": False,
        "created_at": NOW,
    }


def test_downgrade_keeps_the_default_tenants_rows(at_0004: Database) -> None:
    db = at_0004
    _run(db, command.upgrade, "0007_tenants")
    with db.engine.begin() as c:
        _insert(c, "tenants", id="b", name="B", created_at=NOW)
        _insert(c, "solve_jobs", **_job("job-b", "b"))
    with pytest.raises(RuntimeError, match="other tenants"):
        _run(db, command.downgrade, PREVIOUS)
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM solve_jobs WHERE tenant_id = 'b'"))
    _run(db, command.downgrade, PREVIOUS)
    for table in TABLES:
        assert _count(db, f"SELECT COUNT(*) FROM {table}") == 1, table
    with db.engine.connect() as c:
        row = c.execute(text("SELECT van_id FROM shifts WHERE id = 's1'")).one()
        assert row[0] == "van-1"
    _run(db, command.upgrade, "head")
    assert db.ping()
