"""Log-in sessions, kept in the database (core.web.sessions).

The database is the source of truth, so signing in and the admin keep
working while Redis is down, and logout still ends a session on the server:
the cookie carries only a random id, and a row that is gone (logout, idle,
too old) makes that cookie worthless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class WebSession(db.Model):
    __tablename__ = "web_session"

    # SHA-256 of the cookie's session id: the table alone lets nobody in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def ended(now: datetime):
    """The SQL condition of a session that has ended without a logout: idle
    longer than ``POSTWERK_SESSION_IDLE_MINUTES`` or started longer than
    ``POSTWERK_SESSION_MAX_HOURS`` ago. One definition for the log-in (which
    clears its user's ended rows) and the retention task (everyone's)."""
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    longest = timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    return (WebSession.last_seen_at < now - idle) | (WebSession.started_at < now - longest)
