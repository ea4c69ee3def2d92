"""VERP: the tenant's bounce address (mail_settings.bounce_address)

Revision ID: c0812
Revises: c0790
"""

from alembic import op
import sqlalchemy as sa

revision = "c0812"
down_revision = "c0790"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_settings") as batch:
        batch.add_column(sa.Column("bounce_address", sa.String(length=254), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("mail_settings") as batch:
        batch.drop_column("bounce_address")
