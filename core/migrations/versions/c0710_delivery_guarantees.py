"""Delivery guarantees: claim epoch and worker, the latest resend of a message, audit by object

Revision ID: c0710
Revises: c0601
"""

from alembic import op
import sqlalchemy as sa

revision = "c0710"
down_revision = "c0601"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("message", sa.Column("claim_epoch", sa.String(length=80), nullable=True))
    op.add_column("message", sa.Column("claimed_by", sa.String(length=200), nullable=True))
    op.add_column("message", sa.Column("resent_as_id", sa.Integer(), nullable=True))
    # A message's history on its body page: its audit entries.
    op.create_index("ix_audit_entry_object", "audit_entry", ["tenant_id", "object_type", "object_id"])
    # Messages resent before this revision: their latest resend.
    op.execute(
        "UPDATE message SET resent_as_id = (SELECT max(r.id) FROM message r WHERE r.resend_of_id = message.id) "
        "WHERE EXISTS (SELECT 1 FROM message r WHERE r.resend_of_id = message.id)"
    )


def downgrade():
    op.drop_index("ix_audit_entry_object", table_name="audit_entry")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("resent_as_id")
        batch.drop_column("claimed_by")
        batch.drop_column("claim_epoch")
