"""mail settings for sending: OAuth2, DKIM, POP-before-SMTP, forced system sender

Revision ID: c0401
Revises: c0301
"""

from alembic import op
import sqlalchemy as sa

revision = "c0401"
down_revision = "c0301"
branch_labels = None
depends_on = None

_COLUMNS = [
    ("system_sender_only", sa.Boolean(), sa.false()),
    ("oauth_provider", sa.String(length=20), ""),
    ("oauth_tenant", sa.String(length=100), ""),
    ("oauth_client_id", sa.String(length=255), ""),
    ("oauth_client_secret_encrypted", sa.Text(), None),
    ("oauth_scopes", sa.Text(), ""),
    ("oauth_authority", sa.String(length=255), ""),
    ("oauth_access_token_encrypted", sa.Text(), None),
    ("oauth_refresh_token_encrypted", sa.Text(), None),
    ("oauth_expires_at", sa.DateTime(timezone=True), None),
    ("dkim_domain", sa.String(length=253), ""),
    ("dkim_selector", sa.String(length=63), ""),
    ("dkim_private_key_encrypted", sa.Text(), None),
    ("pop3_host", sa.String(length=255), ""),
    ("pop3_port", sa.Integer(), "995"),
    ("pop3_security", sa.String(length=20), "ssl"),
    ("pop3_username", sa.String(length=255), ""),
    ("pop3_password_encrypted", sa.Text(), None),
]


def upgrade():
    with op.batch_alter_table("mail_settings") as batch:
        for name, type_, default in _COLUMNS:
            if default is None:
                batch.add_column(sa.Column(name, type_, nullable=True))
            else:
                batch.add_column(sa.Column(name, type_, nullable=False, server_default=default))


def downgrade():
    with op.batch_alter_table("mail_settings") as batch:
        for name, _, _ in reversed(_COLUMNS):
            batch.drop_column(name)
