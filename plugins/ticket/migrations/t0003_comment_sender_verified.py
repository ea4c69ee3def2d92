"""ticket_comment.sender_verified: a mail comment whose sender was not authenticated

Revision ID: t0003
Revises: t0002
"""

from alembic import op
import sqlalchemy as sa


revision = "t0003"
down_revision = "t0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ticket_comment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_verified", sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table("ticket_comment", schema=None) as batch_op:
        batch_op.drop_column("sender_verified")
