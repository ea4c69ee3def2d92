"""homepage tables

Revision ID: h0001
Revises:
"""

from alembic import op
import sqlalchemy as sa


revision = "h0001"
down_revision = None
branch_labels = ("homepage",)
depends_on = "c0001"


def upgrade():
    op.create_table(
        "homepage_inquiry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("property_ref", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_homepage_inquiry_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_homepage_inquiry")),
        info={"plugin": "homepage"},
    )
    with op.batch_alter_table("homepage_inquiry", schema=None) as batch_op:
        batch_op.create_index("ix_homepage_inquiry_tenant_id_id", ["tenant_id", "id"], unique=False)
    op.create_table(
        "homepage_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("office_email", sa.String(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_homepage_settings_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_homepage_settings")),
        info={"plugin": "homepage"},
    )


def downgrade():
    op.drop_table("homepage_settings")
    with op.batch_alter_table("homepage_inquiry", schema=None) as batch_op:
        batch_op.drop_index("ix_homepage_inquiry_tenant_id_id")
    op.drop_table("homepage_inquiry")
