"""vertrag tables

Revision ID: v0001
Revises:
"""

from alembic import op
import sqlalchemy as sa


revision = "v0001"
down_revision = None
branch_labels = ("vertrag",)
depends_on = "c0001"


def upgrade():
    op.create_table(
        "vertrag_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("property_address", sa.String(length=300), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("rent_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("mieter_name", sa.String(length=200), nullable=False),
        sa.Column("mieter_salutation", sa.String(length=50), nullable=False),
        sa.Column("mieter_email", sa.String(length=254), nullable=False),
        sa.Column("mieter_language", sa.String(length=2), nullable=False),
        sa.Column("vermieter_name", sa.String(length=200), nullable=False),
        sa.Column("vermieter_salutation", sa.String(length=50), nullable=False),
        sa.Column("vermieter_email", sa.String(length=254), nullable=False),
        sa.Column("vermieter_language", sa.String(length=2), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("termination_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_vertrag_contract_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vertrag_contract")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_vertrag_contract_tenant_id")),
        info={"plugin": "vertrag"},
    )
    with op.batch_alter_table("vertrag_contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vertrag_contract_tenant_id"), ["tenant_id"], unique=False)


def downgrade():
    with op.batch_alter_table("vertrag_contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vertrag_contract_tenant_id"))
    op.drop_table("vertrag_contract")
