"""Log-in sessions, kept in the database (core.web.sessions).

The database is the source of truth, so signing in and the admin keep
working while Redis is down, and logout still ends a session on the server:
the cookie carries only a random id, and a row that is gone (logout, idle,
too old) makes that cookie worthless.
"""

from __future__ import annotations

from datetime import datetime

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
