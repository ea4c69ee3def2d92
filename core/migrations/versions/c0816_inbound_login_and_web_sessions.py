"""Issue 16's open items:
- mail_settings.inbound_login_confirmed_for: the SMTP server ("host:port")
  an admin allowed to receive the incoming mailbox's login;
- web_session: log-in sessions in the database instead of Redis, so signing
  in works while Redis is down (core.web.sessions).

Revision ID: c0816
Revises: c0814
"""

from alembic import op
import sqlalchemy as sa

revision = "c0816"
down_revision = "c0814"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_settings") as batch:
        batch.add_column(sa.Column("inbound_login_confirmed_for", sa.String(300), nullable=True))
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])


def downgrade():
    op.drop_index("ix_web_session_user_id", table_name="web_session")
    op.drop_table("web_session")
    with op.batch_alter_table("mail_settings") as batch:
        batch.drop_column("inbound_login_confirmed_for")
