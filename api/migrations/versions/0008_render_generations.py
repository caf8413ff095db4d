"""Render generations: one row per tenant, raised with every change of its plans or clients, so
that a server process can tell in one small read whether the renders it keeps are still the
stored ones (:mod:`api.renders`).

Revision ID: 0008_render_generations
Revises: 0007_tenants
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_render_generations"
down_revision = "0007_tenants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "render_generations",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_render_generations"),
    )


def downgrade() -> None:
    op.drop_table("render_generations")
