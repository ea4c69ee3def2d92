"""AUTOMATE tables: automate_state, automate_task, automate_run

Revision ID: c0601
Revises: c0501
"""

from alembic import op
import sqlalchemy as sa

revision = "c0601"
down_revision = "c0501"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "automate_state",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_automate_state_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_automate_state")),
    )
    op.create_table(
        "automate_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("task_key", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(length=100), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("run_requested", sa.Boolean(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_automate_task_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automate_task")),
        sa.UniqueConstraint("tenant_id", "task_key", name=op.f("uq_automate_task_tenant_id")),
    )
    op.create_index("ix_automate_task_due", "automate_task", ["enabled", "next_run_at"])
    op.create_index(op.f("ix_automate_task_tenant_id"), "automate_task", ["tenant_id"])
    op.create_table(
        "automate_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("task_key", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("scheduler", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_automate_run_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automate_run")),
    )
    op.create_index("ix_automate_run_task", "automate_run", ["tenant_id", "task_key", "id"])


def downgrade():
    op.drop_index("ix_automate_run_task", table_name="automate_run")
    op.drop_table("automate_run")
    op.drop_index(op.f("ix_automate_task_tenant_id"), table_name="automate_task")
    op.drop_index("ix_automate_task_due", table_name="automate_task")
    op.drop_table("automate_task")
    op.drop_table("automate_state")
