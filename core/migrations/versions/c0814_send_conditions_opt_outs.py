"""Send-time conditions (rule.send_condition, message.send_condition) and
bulk-mail opt-outs (opt_out: who unsubscribed from a tenant's bulk mail)

Revision ID: c0814
Revises: c0790
"""
from alembic import op
import sqlalchemy as sa

revision = "c0814"
down_revision = "c0790"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rule") as batch:
        batch.add_column(sa.Column("send_condition", sa.String(length=100), nullable=False, server_default=""))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("send_condition", sa.String(length=100), nullable=True))
    op.create_table(
        "opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_opt_out_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opt_out")),
        sa.UniqueConstraint("tenant_id", "address", name=op.f("uq_opt_out_tenant_id")),
    )


def downgrade():
    op.drop_table("opt_out")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("send_condition")
    with op.batch_alter_table("rule") as batch:
        batch.drop_column("send_condition")
