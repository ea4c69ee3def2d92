"""The outbox: every emitted event, written in the producer's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class EventStatus:
    NEW = "NEW"  # written, not yet expanded into messages
    EXPANDED = "EXPANDED"  # rules evaluated, messages written
    FAILED = "FAILED"  # expansion failed, wholly or for some rules (reason in .error and .failures);
    # kept until it is run again


class Event(db.Model):
    __tablename__ = "event"
    __table_args__ = (Index("ix_event_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(JSON)
    # The user whose action caused the event, if any (sender selection).
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(10), default=EventStatus.NEW)
    error: Mapped[str | None] = mapped_column(Text)
    # What failed, part by part: [{"plugin", "hook", "error", "rule_id"}]
    # (rule_id None: the whole event). A retry runs only these rules again.
    failures: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # emit(..., send_at=): its mail waits until then (revision c0790).
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # emit(..., priority=): overrides the rules' priority for its mail (None: the rule's).
    priority: Mapped[int | None] = mapped_column(Integer)
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
