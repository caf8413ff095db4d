"""Tenants: every job centre's vans, shifts, clients, visits, consultation hours, tokens, jobs and
plans carry ``tenant_id``; existing rows go to the tenant ``default``.

Ids chosen by users become unique per tenant: the primary keys of vans, shifts, clients, visits
and consultation hours become ``(tenant_id, id)``, and references between them include the tenant
(so a shift can only name a van of its own tenant). Jobs, plans and tokens keep their random ids
and get an indexed ``tenant_id``; a week's version numbers count per tenant.

References that used ``ON DELETE SET NULL`` (a client's or visit's preferred van, consultation
hours' van) keep the tenant in the key and lose the database action: SQLite cannot null one column
of a composite key, so deleting a van clears them in the API (``delete_van``).

SQLite rebuilds each table (batch mode), and dropping a table that others reference would run
their ``ON DELETE`` actions; so the references are dropped first (children before parents), the
keys changed, and the references made again parents first. PostgreSQL runs the same steps as
plain ``ALTER TABLE`` statements.

Revision ID: 0007_tenants
Revises: 0006_plan_renders
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007_tenants"
down_revision = "0006_plan_renders"
branch_labels = None
depends_on = None

DEFAULT = "default"
KEYED = ("vans", "shifts", "clients", "visits", "consultation_hours")
"""Tables whose ids users choose: primary key (tenant_id, id)."""
SCOPED = ("api_tokens", "solve_jobs", "week_plans")
"""Tables with server-made ids: an indexed tenant_id."""
# (table, column, referred table, ondelete) of every reference between tenant-owned tables.
REFERENCES = (
    ("clients", "preferred_van_id", "vans", "SET NULL"),
    ("shifts", "van_id", "vans", "CASCADE"),
    ("api_tokens", "van_id", "vans", "CASCADE"),
    ("consultation_hours", "van_id", "vans", "SET NULL"),
    ("visits", "preferred_van_id", "vans", "SET NULL"),
    ("visits", "client_id", "clients", "RESTRICT"),
)
"""In the order the references are made again (parents' references first: ``visits`` refers to
``clients``, so ``clients`` must not be rebuilt after it)."""


def _fk(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    tenants = op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("service_area", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(
        tenants, [{"id": DEFAULT, "name": "Default", "service_area": None, "created_at": now}]
    )

    # 1. Children first: drop their references (and add tenant_id, filled with "default").
    for table in ("visits", "shifts", "api_tokens", "consultation_hours", "clients"):
        with op.batch_alter_table(table) as batch:
            for t, column, referred, _ in REFERENCES:
                if t == table:
                    batch.drop_constraint(_fk(table, column, referred), type_="foreignkey")
            batch.add_column(
                sa.Column("tenant_id", sa.String(length=64), nullable=False, server_default=DEFAULT)
            )
    for table in ("vans", "solve_jobs", "week_plans"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("tenant_id", sa.String(length=64), nullable=False, server_default=DEFAULT)
            )

    # 2. Keys: (tenant_id, id) where users choose ids; tenant_id -> tenants everywhere.
    for table in (*KEYED, *SCOPED):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("tenant_id", server_default=None)
            if table in KEYED:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", ["tenant_id", "id"])
            else:
                batch.create_index(f"ix_{table}_tenant_id", ["tenant_id"])
            if table == "week_plans":
                batch.drop_constraint("uq_week_plans_week_version", type_="unique")
                batch.create_unique_constraint(
                    "uq_week_plans_week_version", ["tenant_id", "week", "version"]
                )
            batch.create_foreign_key(
                _fk(table, "tenant_id", "tenants"),
                "tenants",
                ["tenant_id"],
                ["id"],
                ondelete="RESTRICT",
            )

    # 3. References again, within the tenant; parents before children.
    for table in ("clients", "shifts", "api_tokens", "consultation_hours", "visits"):
        with op.batch_alter_table(table) as batch:
            for t, column, referred, ondelete in REFERENCES:
                if t == table:
                    batch.create_foreign_key(
                        _fk(table, column, referred),
                        referred,
                        ["tenant_id", column],
                        ["tenant_id", "id"],
                        ondelete=None if ondelete == "SET NULL" else ondelete,
                    )


def downgrade() -> None:
    """Back to one tenant; refused while rows of another tenant than ``default`` exist."""
    connection = op.get_bind()
    for table in (*KEYED, *SCOPED):
        others = connection.execute(
            sa.text(f"SELECT COUNT(*) FROM {table} WHERE tenant_id <> :t"), {"t": DEFAULT}
        ).scalar()
        if others:
            raise RuntimeError(
                f"cannot downgrade below 0007_tenants: {table} has {others} row(s) of other "
                "tenants than 'default'"
            )
    for table in ("visits", "consultation_hours", "api_tokens", "shifts", "clients"):
        with op.batch_alter_table(table) as batch:
            for t, column, referred, _ in REFERENCES:
                if t == table:
                    batch.drop_constraint(_fk(table, column, referred), type_="foreignkey")
    for table in (*KEYED, *SCOPED):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(_fk(table, "tenant_id", "tenants"), type_="foreignkey")
            if table == "week_plans":
                batch.drop_constraint("uq_week_plans_week_version", type_="unique")
                batch.create_unique_constraint("uq_week_plans_week_version", ["week", "version"])
            if table in KEYED:
                batch.drop_constraint(f"pk_{table}", type_="primary")
                batch.create_primary_key(f"pk_{table}", ["id"])
            else:
                batch.drop_index(f"ix_{table}_tenant_id")
            batch.drop_column("tenant_id")
    for table in ("clients", "shifts", "api_tokens", "consultation_hours", "visits"):
        with op.batch_alter_table(table) as batch:
            for t, column, referred, ondelete in REFERENCES:
                if t == table:
                    batch.create_foreign_key(
                        _fk(table, column, referred),
                        referred,
                        [column],
                        ["id"],
                        ondelete=ondelete,
                    )
    op.drop_table("tenants")
