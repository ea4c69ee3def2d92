"""event.failures: which plugin hook failed for which rule of an event

Revision ID: c0720
Revises: c0601
"""

from alembic import op
import sqlalchemy as sa

revision = "c0720"
down_revision = "c0710"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("failures", sa.JSON(none_as_null=True), nullable=True))


def downgrade():
    with op.batch_alter_table("event") as batch:
        batch.drop_column("failures")
