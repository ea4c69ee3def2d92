"""Send-time conditions (rule.send_condition, message.send_condition),
bulk-mail opt-outs (opt_out: who unsubscribed from a tenant's bulk mail) and
attachments of outgoing mail (attachment_blob, event_attachment,
message_attachment, message.attachments) and scheduled report mails
(report_schedule; the schedule itself is the AUTOMATE task "report:ID")

Revision ID: c0814
Revises: c0813
"""

from alembic import op
import sqlalchemy as sa

revision = "c0814"
down_revision = "c0813"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rule") as batch:
        batch.add_column(sa.Column("send_condition", sa.String(length=100), nullable=False, server_default=""))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("send_condition", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("attachments", sa.Integer(), nullable=False, server_default="0"))
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
    op.create_table(
        "attachment_blob",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_attachment_blob_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment_blob")),
        sa.UniqueConstraint("tenant_id", "sha256", name=op.f("uq_attachment_blob_tenant_id")),
    )
    op.create_table(
        "event_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_event_attachment_event_id_event"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["attachment_blob.id"], name=op.f("fk_event_attachment_blob_id_attachment_blob")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_attachment")),
    )
    op.create_index(op.f("ix_event_attachment_event_id"), "event_attachment", ["event_id"])
    op.create_index(op.f("ix_event_attachment_blob_id"), "event_attachment", ["blob_id"])
    op.create_table(
        "message_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_pk"], ["message.id"], name=op.f("fk_message_attachment_message_pk_message"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["attachment_blob.id"], name=op.f("fk_message_attachment_blob_id_attachment_blob")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_attachment")),
    )
    op.create_index(op.f("ix_message_attachment_message_pk"), "message_attachment", ["message_pk"])
    op.create_index(op.f("ix_message_attachment_blob_id"), "message_attachment", ["blob_id"])
    op.create_table(
        "report_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("report_key", sa.String(length=100), nullable=False),
        sa.Column("roles", sa.String(length=100), nullable=False),
        sa.Column("addresses", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_report_schedule_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedule")),
    )
    op.create_index(op.f("ix_report_schedule_tenant_id"), "report_schedule", ["tenant_id"])


def downgrade():
    op.drop_table("report_schedule")
    op.drop_table("message_attachment")
    op.drop_table("event_attachment")
    op.drop_table("attachment_blob")
    op.drop_table("opt_out")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("attachments")
        batch.drop_column("send_condition")
    with op.batch_alter_table("rule") as batch:
        batch.drop_column("send_condition")
