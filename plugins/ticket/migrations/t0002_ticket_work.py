"""ticket assignee, watchers, comments, attachments (issue 5)

Revision ID: t0002
Revises: t0001
"""

from alembic import op
import sqlalchemy as sa


revision = "t0002"
down_revision = "t0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ticket_ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ticket_ticket_assignee_id_user"), "user", ["assignee_id"], ["id"], ondelete="SET NULL"
        )

    op.create_table(
        "ticket_watcher",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_ticket_watcher_tenant_id_tenant")),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket_ticket.id"],
            name=op.f("fk_ticket_watcher_ticket_id_ticket_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_watcher")),
        sa.UniqueConstraint("ticket_id", "email", name=op.f("uq_ticket_watcher_ticket_id")),
        info={"plugin": "ticket"},
    )
    with op.batch_alter_table("ticket_watcher", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_watcher_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_email", sa.String(length=254), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_ticket_comment_tenant_id_tenant")),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket_ticket.id"],
            name=op.f("fk_ticket_comment_ticket_id_ticket_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_comment")),
        info={"plugin": "ticket"},
    )
    with op.batch_alter_table("ticket_comment", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_comment_ticket_id_id", ["ticket_id", "id"], unique=False)

    op.create_table(
        "ticket_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["ticket_comment.id"],
            name=op.f("fk_ticket_attachment_comment_id_ticket_comment"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_ticket_attachment_tenant_id_tenant")),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket_ticket.id"],
            name=op.f("fk_ticket_attachment_ticket_id_ticket_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_attachment")),
        info={"plugin": "ticket"},
    )
    with op.batch_alter_table("ticket_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_attachment_ticket_id"), ["ticket_id"], unique=False)


def downgrade():
    with op.batch_alter_table("ticket_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_attachment_ticket_id"))
    op.drop_table("ticket_attachment")
    with op.batch_alter_table("ticket_comment", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_comment_ticket_id_id")
    op.drop_table("ticket_comment")
    with op.batch_alter_table("ticket_watcher", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_watcher_ticket_id"))
    op.drop_table("ticket_watcher")
    with op.batch_alter_table("ticket_ticket", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_ticket_ticket_assignee_id_user"), type_="foreignkey")
        batch_op.drop_column("assignee_id")
