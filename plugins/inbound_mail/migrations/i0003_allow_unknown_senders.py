"""inbound_mail: the mailbox's "allow unknown senders" switch

Revision ID: i0003
Revises: i0002
Create Date: 2026-12-01 03:10:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "i0003"
down_revision = "i0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("inbound_mailbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allow_unknown_senders", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade():
    with op.batch_alter_table("inbound_mailbox", schema=None) as batch_op:
        batch_op.drop_column("allow_unknown_senders")
