"""The mail queue: one row per mail, the source of truth for its state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class MessageStatus:
    PENDING = "PENDING"  # waiting for its (next) attempt
    SENDING = "SENDING"  # claimed by a worker until lease_until
    SENT = "SENT"
    FAILED = "FAILED"  # permanent; reason in last_error
    # The link broke after the data was handed over and before the server's
    # reply (RFC 1047): the server may have it. Shown, never silently resent.
    UNKNOWN = "UNKNOWN"
    # Accepted by the server, then returned: a delivery status notification
    # matched it (core.bounces); the diagnostic in last_error.
    BOUNCED = "BOUNCED"
    # An admin cancelled it before it was sent (a scheduled mail, usually):
    # a conditional UPDATE from PENDING, so it never races a worker's claim.
    CANCELLED = "CANCELLED"

    ALL = (PENDING, SENDING, SENT, FAILED, UNKNOWN, BOUNCED, CANCELLED)


class Priority:
    """Which mail goes first when a tenant's queue is long: the claim takes
    the highest priority first (core.mail.delivery.claim)."""

    BULK = 0
    TRANSACTIONAL = 1  # the default
    SYSTEM = 2  # sign-in codes, password resets: never behind other mail

    ALL = (SYSTEM, TRANSACTIONAL, BULK)
    NAMES = {SYSTEM: "system", TRANSACTIONAL: "transactional", BULK: "bulk"}


class Message(db.Model):
    __tablename__ = "message"
    __table_args__ = (
        # Claiming due mail: WHERE status='PENDING' AND next_attempt_at <= now.
        Index("ix_message_status_next_attempt", "status", "next_attempt_at"),
        # The admin's queue page: newest first per tenant, keyset pagination.
        Index("ix_message_tenant_id_desc", "tenant_id", "id"),
        Index("ix_message_tenant_status_id", "tenant_id", "status", "id"),
        # The queue page's event filter (revision c0301).
        Index("ix_message_tenant_event_id", "tenant_id", "event_key", "id"),
        # Resends of a message (partial: nearly all rows are NULL there).
        Index(
            "ix_message_resend_of_id",
            "resend_of_id",
            sqlite_where=text("resend_of_id IS NOT NULL"),
            postgresql_where=text("resend_of_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rule.id", ondelete="SET NULL"))
    event_key: Mapped[str | None] = mapped_column(String(100))
    template_key: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(2))
    # Fixed once at creation: the same on every attempt, so the receiving side
    # and our own tests can count deliveries per message.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    sender: Mapped[str] = mapped_column(String(254))
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    recipients: Mapped[list] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=MessageStatus.PENDING)
    # Priority.SYSTEM > TRANSACTIONAL > BULK; the claim takes higher first (revision c0790).
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The rule's "send only if" condition, asked of the plugins when the mail
    # is due (core.mail.conditions); None for none (revision c0814).
    send_condition: Mapped[str | None] = mapped_column(String(100))
    # How many files it carries (message_attachment rows): delivery looks
    # them up only when this is not 0 (revision c0814).
    attachments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Random token of the claim; a worker only finishes what it still holds.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # Which Redis the claim's delivery markers went to (core.mail.markers.epoch):
    # a dead claim without markers under another epoch may have been sent.
    claim_epoch: Mapped[str | None] = mapped_column(String(80))
    # The RQ worker holding the claim, so the sweeper can take back the
    # claims of a worker RQ knows is dead before the lease runs out.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Per-recipient outcome of the last attempt: {"addr": "250 ok" | "550 ..."}.
    rcpt_results: Mapped[dict | None] = mapped_column(JSON)
    resend_of_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    # The latest resend of this message. Set by a conditional UPDATE (only
    # from the value the resend saw), so of two resends at once one wins.
    resent_as_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
