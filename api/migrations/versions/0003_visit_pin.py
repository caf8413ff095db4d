"""Visit pin: the dispatcher fixes a visit to a van and/or a date.

Plain nullable columns (no foreign key, so SQLite needs no table rebuild); the API checks that
the van exists.

Revision ID: 0003_visit_pin
Revises: 0002_planning
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_visit_pin"
down_revision = "0002_planning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("pinned_van_id", sa.String(length=64), nullable=True))
    op.add_column("visits", sa.Column("pinned_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("pinned_date")
        batch.drop_column("pinned_van_id")
