"""Rendered outputs of published plans (itineraries, GeoJSON, maps, crew pages and files),
rendered once and served again (:mod:`api.renders`).

One row per plan version and render key; ``key`` digests everything that changes the bytes.
No foreign key (plans are never deleted; SQLite needs no table rebuild); rows of a plan go
with ``DELETE ... WHERE plan_id``, and all rows when client data changes.

Revision ID: 0006_plan_renders
Revises: 0005_client_phone
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_plan_renders"
down_revision = "0005_client_phone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_renders",
        sa.Column("plan_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("van_id", sa.String(length=64), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("disposition", sa.String(length=300), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("etag", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "key", name="pk_plan_renders"),
    )


def downgrade() -> None:
    op.drop_table("plan_renders")
