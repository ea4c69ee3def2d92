"""The tenant's suppression list: addresses mail is no longer sent to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class SuppressedAddress(db.Model):
    """One address of a tenant that bounced (or an admin added).

    ``suppressed`` is set by a hard bounce, by ``soft_bounces`` reaching the
    limit, or by the admin; a row with ``suppressed`` off only counts soft
    bounces so far."""

    __tablename__ = "suppressed_address"
    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    # Lower case.
    address: Mapped[str] = mapped_column(String(254))
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    # "5.1.1 user unknown (message 12)", "added by admin@...": the admin's to read.
    reason: Mapped[str] = mapped_column(Text, default="")
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    # The message whose bounce put it here, if any.
    message_pk: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OptOut(db.Model):
    """An address that unsubscribed from a tenant's bulk mail (the
    List-Unsubscribe link, or an admin). Only rules of priority "bulk" skip
    it: transactional and system mail still reach it (core.unsubscribe)."""

    __tablename__ = "opt_out"
    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    # Lower case.
    address: Mapped[str] = mapped_column(String(254))
    # "link" (the recipient, through the signed link) or "admin".
    source: Mapped[str] = mapped_column(String(20), default="link")
    # Who added it, or the admin's note.
    note: Mapped[str] = mapped_column(Text, default="")
    # The message whose link was used, if any.
    message_pk: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
