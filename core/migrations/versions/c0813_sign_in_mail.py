"""Sign-in by mail: account secrets (reset links, sign-in codes, recovery
codes; hashes only) and the sign-in code settings of tenants and users.

Revision ID: c0813
Revises: c0812
"""

from alembic import op
import sqlalchemy as sa

revision = "c0813"
down_revision = "c0812"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "account_secret",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenant.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.String(10), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_tries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_account_secret_user_purpose", "account_secret", ["user_id", "purpose"])
    with op.batch_alter_table("tenant") as batch:
        batch.add_column(sa.Column("sign_in_codes", sa.String(10), nullable=False, server_default="off"))
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("sign_in_codes", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_column("sign_in_codes")
    with op.batch_alter_table("tenant") as batch:
        batch.drop_column("sign_in_codes")
    op.drop_index("ix_account_secret_user_purpose", "account_secret")
    op.drop_table("account_secret")
