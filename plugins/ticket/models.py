"""The ticket plugin's tables (its own Alembic branch: migrations/)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.api import UTCDateTime, db, utcnow

STATUSES = ("open", "in_progress", "waiting", "closed")


class Ticket(db.Model):
    __tablename__ = "ticket_ticket"
    __table_args__ = {"info": {"plugin": "ticket"}}

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    reporter_name: Mapped[str] = mapped_column(String(200))
    reporter_email: Mapped[str] = mapped_column(String(254))
    reporter_language: Mapped[str] = mapped_column(String(2), default="de")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def snapshot(self) -> dict:
        """The event payload: the ticket as it was when the event happened."""
        return {"ticket": {
            "id": self.id, "title": self.title, "description": self.description, "status": self.status,
            "reporter": {"name": self.reporter_name, "email": self.reporter_email,
                         "language": self.reporter_language},
        }}
