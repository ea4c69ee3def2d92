"""Scheduled report mails: which report goes to whom. The schedule itself
(cron, enabled, runs, history) is the AUTOMATE task ``report:ID``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class ReportSchedule(db.Model):
    __tablename__ = "report_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    # ReportSpec.key of a plugin (postwerk_reports).
    report_key: Mapped[str] = mapped_column(String(100))
    # Comma-separated roles of the tenant's users: "admins", "users".
    roles: Mapped[str] = mapped_column(String(100), default="")
    # Comma-separated addresses.
    addresses: Mapped[str] = mapped_column(Text, default="")
    # Comma-separated names of the tenant's distribution lists, resolved to
    # their addresses when the report runs (a list edited later counts).
    lists: Mapped[str] = mapped_column(Text, default="", server_default="")
    # de | en: the mail's text and the report's language.
    language: Mapped[str] = mapped_column(String(2), default="de")
    # Only "pdf" so far: the format the report is attached in.
    format: Mapped[str] = mapped_column(String(10), default="pdf")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
