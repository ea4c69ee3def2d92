"""inbound_mail: the tenant's trust policy (trusted authserv-id, unauthenticated mail)

Revision ID: i0004
Revises: i0003
Create Date: 2026-12-01 05:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "i0004"
down_revision = "i0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inbound_trust_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("trusted_authserv_id", sa.String(length=255), nullable=False),
        sa.Column("accept_unauthenticated", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_inbound_trust_policy_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_trust_policy")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_inbound_trust_policy_tenant_id")),
    )


def downgrade():
    op.drop_table("inbound_trust_policy")
