"""Files attached to outgoing mail: stored once per tenant by content,
referenced by the events and messages that carry them (core.attachments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class AttachmentBlob(db.Model):
    """The bytes of one file, once per tenant and content (SHA-256): a
    contract mailed to both parties, or a report to twenty people, is one row.
    Per tenant, never shared across tenants (a reference by hash must not
    reveal that another tenant has the same file)."""

    __tablename__ = "attachment_blob"
    __table_args__ = (UniqueConstraint("tenant_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    # Hex SHA-256 of content: the address callers of the HTTP API refer to.
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventAttachment(db.Model):
    """A file given with an event (emit(attachments=), the HTTP API); the
    expander copies the reference to each of the event's messages."""

    __tablename__ = "event_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("attachment_blob.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))


class MessageAttachment(db.Model):
    """One file of one message. Deleting the message (retention) deletes
    these rows; the blob goes when no row refers to it any more."""

    __tablename__ = "message_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("attachment_blob.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
