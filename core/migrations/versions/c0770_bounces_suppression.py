"""Bounces: the suppression list (suppressed_address); BOUNCED is a new value
of message.status (a String(10), no schema change)

Revision ID: c0770
Revises: c0601
"""

from alembic import op
import sqlalchemy as sa

revision = "c0770"
down_revision = "c0720"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "suppressed_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("soft_bounces", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_suppressed_address_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressed_address")),
        sa.UniqueConstraint("tenant_id", "address", name=op.f("uq_suppressed_address_tenant_id")),
    )
    with op.batch_alter_table("suppressed_address", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppressed_address_tenant_id"), ["tenant_id"], unique=False)


def downgrade():
    with op.batch_alter_table("suppressed_address", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppressed_address_tenant_id"))
    op.drop_table("suppressed_address")
