"""Week jobs: a solve job can plan or re-plan a stored week and records the version it made.

``solve_jobs.task`` ({"kind": "week_plan" | "week_replan", "week": ..., "base_plan_id": ...}) is
null for a plain solve job; ``solve_jobs.plan_id`` is the week plan version the job stored.
``week_plans.job_id`` (unique) makes storing that version idempotent when a job is resumed.

Revision ID: 0004_week_jobs
Revises: 0003_visit_pin
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_week_jobs"
down_revision = "0003_visit_pin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("solve_jobs", sa.Column("task", sa.JSON(), nullable=True))
    op.add_column("solve_jobs", sa.Column("plan_id", sa.String(length=32), nullable=True))
    op.add_column("week_plans", sa.Column("job_id", sa.String(length=32), nullable=True))
    op.create_index("ix_week_plans_job_id", "week_plans", ["job_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_week_plans_job_id", table_name="week_plans")
    with op.batch_alter_table("week_plans") as batch:
        batch.drop_column("job_id")
    with op.batch_alter_table("solve_jobs") as batch:
        batch.drop_column("plan_id")
        batch.drop_column("task")
