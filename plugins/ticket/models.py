"""The ticket plugin's tables (its own Alembic branch: migrations/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.api import UTCDateTime, db, utcnow

NAME = "ticket"
STATUSES = ("open", "in_progress", "waiting", "closed")
SOURCES = ("web", "mail")
_INFO = {"info": {"plugin": NAME}}


class Workspace(db.Model):
    """A team's share of the tenant's tickets, optionally fed by one mailbox."""

    __tablename__ = "ticket_workspace"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), _INFO)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The inbound mailbox (its name, as the inbound plugin hands it over in
    # InboundMail.mailbox) whose new tickets land here; "" = none. The ticket
    # plugin cannot import the inbound plugin, so the name is the link.
    mailbox: Mapped[str] = mapped_column(String(100), default="")
    # Exactly one per tenant: catches mail from mailboxes without a
    # workspace and tickets created anywhere else (web form, events, API).
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Ticket(db.Model):
    __tablename__ = "ticket_ticket"
    __table_args__ = _INFO

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    reporter_name: Mapped[str] = mapped_column(String(200))
    reporter_email: Mapped[str] = mapped_column(String(254))
    reporter_language: Mapped[str] = mapped_column(String(2), default="de")
    # A core user of the same tenant (checked by the service, not by the FK).
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Set by the service on every new ticket (the default workspace when
    # none is named); NULL only for rows older than workspaces, which the
    # migration moved into a default workspace.
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_workspace.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    watchers: Mapped[list["TicketWatcher"]] = relationship(order_by="TicketWatcher.id", cascade="all, delete-orphan")

    def snapshot(self, assignee=None) -> dict:
        """The event payload: the ticket as it was when the event happened.

        ``assignee`` is the assignee's ``UserRef`` (the service looks it up).
        """
        return {
            "ticket": {
                "id": self.id,
                "title": self.title,
                "description": self.description,
                "status": self.status,
                "reporter": {
                    "name": self.reporter_name,
                    "email": self.reporter_email,
                    "language": self.reporter_language,
                },
                "assignee": (
                    {"name": assignee.name, "email": assignee.email, "language": assignee.language or None}
                    if assignee is not None
                    else None
                ),
                "watchers": [w.email for w in self.watchers],
            }
        }


class TicketWatcher(db.Model):
    """Someone who follows a ticket's news without reporting or handling it."""

    __tablename__ = "ticket_watcher"
    __table_args__ = (UniqueConstraint("ticket_id", "email"), _INFO)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")


class TicketComment(db.Model):
    __tablename__ = "ticket_comment"
    __table_args__ = (Index("ix_ticket_comment_ticket_id_id", "ticket_id", "id"), _INFO)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id", ondelete="CASCADE"))
    author_name: Mapped[str] = mapped_column(String(200))
    author_email: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10), default="web")  # web | mail
    # Mail only: False when the sender was not authenticated (DMARC/DKIM from
    # the trusted receiving server): shown as "sender not verified".
    sender_verified: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketAttachment(db.Model):
    """A file on a ticket, kept in the database (size-capped by the service)."""

    __tablename__ = "ticket_attachment"
    __table_args__ = _INFO

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket_ticket.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_comment.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
