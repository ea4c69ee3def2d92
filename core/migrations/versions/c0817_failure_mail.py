"""user.failure_mail, user.failure_digest_at: an admin's mail about failed mail

"off", "immediate" (one mail per failed or bounced message, at most
core.mail.failure_mail.IMMEDIATE_PER_HOUR an hour) or "daily" (a digest);
failure_digest_at is where the last digest's window ended.

Revision ID: c0817
Revises: c0816
"""

from alembic import op
import sqlalchemy as sa


revision = "c0817"
down_revision = "c0816"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("failure_mail", sa.String(length=10), nullable=False, server_default="off"))
        batch.add_column(sa.Column("failure_digest_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_column("failure_digest_at")
        batch.drop_column("failure_mail")
