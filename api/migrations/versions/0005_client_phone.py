"""Client phone: the number crews call from the stop card (a ``tel:`` link).

A plain nullable column (SQLite needs no table rebuild); erasure clears it like the other
personal fields.

Revision ID: 0005_client_phone
Revises: 0004_week_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_client_phone"
down_revision = "0004_week_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("phone", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("phone")
