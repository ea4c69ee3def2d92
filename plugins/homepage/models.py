"""The homepage plugin's tables (its own Alembic branch: migrations/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.api import UTCDateTime, db, utcnow

NAME = "homepage"
_INFO = {"info": {"plugin": NAME}}


class Inquiry(db.Model):
    """One message sent through a tenant's public inquiry form."""

    __tablename__ = "homepage_inquiry"
    __table_args__ = (Index("ix_homepage_inquiry_tenant_id_id", "tenant_id", "id"), _INFO)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(50), default="")
    message: Mapped[str] = mapped_column(Text)
    # Free text: an object number or address the inquirer refers to.
    property_ref: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(2), default="de")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HomepageSettings(db.Model):
    """Per tenant: where inquiry notifications go (else the list ``office``)."""

    __tablename__ = "homepage_settings"
    __table_args__ = _INFO

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    office_email: Mapped[str] = mapped_column(String(254), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
