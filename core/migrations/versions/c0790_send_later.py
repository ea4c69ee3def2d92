"""Send later: event.send_at (emit(..., send_at=)) and rule.delay_minutes;
a priority lane: message/rule/event.priority (2 system, 1 transactional, 0 bulk)

A delayed mail waits as a PENDING message row whose next_attempt_at is its
send time (the claim takes only due mail); CANCELLED is a new value of the
existing message.status string, so it needs no schema change.

Revision ID: c0790
Revises: c0780
"""

from alembic import op
import sqlalchemy as sa

revision = "c0790"
down_revision = "c0780"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=True))
    with op.batch_alter_table("rule") as batch:
        batch.add_column(sa.Column("delay_minutes", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="1"))


def downgrade():
    with op.batch_alter_table("message") as batch:
        batch.drop_column("priority")
    with op.batch_alter_table("rule") as batch:
        batch.drop_column("priority")
        batch.drop_column("delay_minutes")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("priority")
        batch.drop_column("send_at")
