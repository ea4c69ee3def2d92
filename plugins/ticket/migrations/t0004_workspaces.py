"""Workspaces: ticket_workspace, and ticket_ticket.workspace_id; every
tenant's existing tickets move into a new default workspace

Revision ID: t0004
Revises: t0003
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = "t0004"
down_revision = "t0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ticket_workspace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("mailbox", sa.String(length=100), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_ticket_workspace_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_workspace")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_ticket_workspace_tenant_id")),
    )
    with op.batch_alter_table("ticket_workspace", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_workspace_tenant_id"), ["tenant_id"], unique=False)
    with op.batch_alter_table("ticket_ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_ticket_ticket_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_ticket_ticket_workspace_id_ticket_workspace"), "ticket_workspace", ["workspace_id"], ["id"]
        )

    # Nothing already accepted is lost: each tenant with tickets gets its
    # default workspace, holding all of them.
    conn = op.get_bind()
    workspace = sa.table(
        "ticket_workspace",
        sa.column("id", sa.Integer),
        sa.column("tenant_id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("mailbox", sa.String),
        sa.column("is_default", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    ticket = sa.table("ticket_ticket", sa.column("tenant_id", sa.Integer), sa.column("workspace_id", sa.Integer))
    tenant = sa.table("tenant", sa.column("id", sa.Integer), sa.column("language", sa.String))
    tenants = conn.execute(
        sa.select(tenant.c.id, tenant.c.language).where(tenant.c.id.in_(sa.select(ticket.c.tenant_id).distinct()))
    ).all()
    for tenant_id, language in tenants:
        name = "Allgemein" if language == "de" else "General"  # as workspaces.DEFAULT_NAMES
        conn.execute(
            workspace.insert().values(
                tenant_id=tenant_id, name=name, mailbox="", is_default=True, created_at=datetime.now(timezone.utc)
            )
        )
        workspace_id = conn.execute(sa.select(workspace.c.id).where(workspace.c.tenant_id == tenant_id)).scalar()
        conn.execute(ticket.update().where(ticket.c.tenant_id == tenant_id).values(workspace_id=workspace_id))


def downgrade():
    with op.batch_alter_table("ticket_ticket", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_ticket_ticket_workspace_id_ticket_workspace"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_ticket_ticket_workspace_id"))
        batch_op.drop_column("workspace_id")
    with op.batch_alter_table("ticket_workspace", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_workspace_tenant_id"))
    op.drop_table("ticket_workspace")
