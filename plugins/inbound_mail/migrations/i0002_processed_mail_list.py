"""inbound_mail: what each processed mail became (link, duplicate of, subject)

Revision ID: i0002
Revises: i0001
Create Date: 2026-12-01 02:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "i0002"
down_revision = "i0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("inbound_seen_mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("duplicate_of", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=300), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("inbound_seen_mail", schema=None) as batch_op:
        batch_op.drop_column("subject")
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("link")
