"""Tenants, their users and which plugins each tenant has enabled."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime, utcnow


class Tenant(db.Model):
    __tablename__ = "tenant"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Brand colour used by the default templates.
    colour: Mapped[str] = mapped_column(String(7), default="#1f6feb")
    language: Mapped[str] = mapped_column(String(2), default="de")
    # The zone the admin reads times in (an IANA name); stored times stay UTC.
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin", server_default="Europe/Berlin")
    # Sign-in codes by mail (core.web.sign_in_codes.POLICIES): off | optional |
    # admins | everyone (revision c0813).
    sign_in_codes: Mapped[str] = mapped_column(String(10), default="off", server_default="off")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(UserMixin, db.Model):
    __tablename__ = "user"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # "" = follow the browser.
    language: Mapped[str] = mapped_column(String(2), default="")
    # The user's own choice where the tenant makes sign-in codes optional.
    sign_in_codes: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An admin's mail about failed mail: "off", "immediate" or "daily"
    # (core.mail.failure_mail; revision c0817).
    failure_mail: Mapped[str] = mapped_column(String(10), default="off", server_default="off")
    # Where the last daily digest's window ended (None: never sent).
    failure_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class PluginState(db.Model):
    """Whether a plugin is enabled for a tenant: data, so it changes without restart.

    No row means disabled: installing a package never switches anything on.
    """

    __tablename__ = "plugin_state"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
