"""Indexes for the admin's queue filters (issue 3).

The queue page cuts pages by id (keyset). Filtering by event walks
(tenant_id, event_key, id) instead of scanning the tenant's whole queue;
a message's resends (body page, the double-click check of a resend) are
found by resend_of_id.

Revision ID: c0301
Revises: c0001
"""

import sqlalchemy as sa
from alembic import op

revision = "c0301"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_tenant_event_id", ["tenant_id", "event_key", "id"], unique=False)
        # Partial: almost every row has NULL there, and statistics counting
        # the NULLs would talk the planner out of using the index.
        batch_op.create_index(
            "ix_message_resend_of_id",
            ["resend_of_id"],
            unique=False,
            sqlite_where=sa.text("resend_of_id IS NOT NULL"),
            postgresql_where=sa.text("resend_of_id IS NOT NULL"),
        )


def downgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_resend_of_id")
        batch_op.drop_index("ix_message_tenant_event_id")
