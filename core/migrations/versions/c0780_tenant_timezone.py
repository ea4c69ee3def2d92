"""tenant.timezone: the zone the admin reads times in (queue, logs, AUTOMATE)

Revision ID: c0780
Revises: c0601
"""

from alembic import op
import sqlalchemy as sa

revision = "c0780"
down_revision = "c0770"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tenant") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=False, server_default="Europe/Berlin"))


def downgrade():
    with op.batch_alter_table("tenant") as batch:
        batch.drop_column("timezone")
