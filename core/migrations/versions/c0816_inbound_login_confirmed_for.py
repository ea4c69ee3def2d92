"""mail_settings.inbound_login_confirmed_for: the SMTP server ("host:port")
an admin allowed the incoming mailbox's password to be sent to (issue 16)

Revision ID: c0816
Revises: c0790
"""
from alembic import op
import sqlalchemy as sa

revision = "c0816"
down_revision = "c0790"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_settings") as batch:
        batch.add_column(sa.Column("inbound_login_confirmed_for", sa.String(300), nullable=True))


def downgrade():
    with op.batch_alter_table("mail_settings") as batch:
        batch.drop_column("inbound_login_confirmed_for")
