"""report_schedule.lists: distribution lists a scheduled report is mailed to

Comma-separated names of the tenant's distribution lists (core.distribution_lists),
resolved to their addresses when the report runs.

Revision ID: c0820
Revises: c0817
"""

from alembic import op
import sqlalchemy as sa


revision = "c0820"
down_revision = "c0817"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("report_schedule") as batch:
        batch.add_column(sa.Column("lists", sa.Text(), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("report_schedule") as batch:
        batch.drop_column("lists")
