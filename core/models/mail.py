"""What a tenant configures: how mail is sent, what it looks like, when it goes out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class MailSettings(db.Model):
    """One row per tenant: the outgoing server and the sender."""

    __tablename__ = "mail_settings"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=587)
    # none | starttls | starttls_optional | ssl  (core.mail.transport.Security)
    security: Mapped[str] = mapped_column(String(20), default="starttls")
    # none | password | inbound | pop_before_smtp | oauth2
    auth: Mapped[str] = mapped_column(String(20), default="none")
    username: Mapped[str] = mapped_column(String(255), default="")
    # Fernet ciphertext (core.crypto); never the plain password.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    # PEM of a CA the admin trusts for an internal server (public data).
    trusted_ca_pem: Mapped[str | None] = mapped_column(Text)
    sender_address: Mapped[str] = mapped_column(String(254), default="")
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    # VERP: when set (bounce@tenant-domain), each message's envelope sender
    # is bounce+<id>-<tag>@tenant-domain (core.mail.return_path), so a bounce
    # names the message it belongs to; empty: the sender address.
    bounce_address: Mapped[str] = mapped_column(String(254), default="")
    # system | user: whose address mails caused by a user carry.
    sender_mode: Mapped[str] = mapped_column(String(10), default="system")
    encoding: Mapped[str] = mapped_column(String(20), default="utf-8")
    max_connections: Mapped[int] = mapped_column(Integer, default=10)
    # Set when sending failed for a reason only the admin can fix (535, ...).
    broken_reason: Mapped[str | None] = mapped_column(Text)
    last_test_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_test_result: Mapped[str | None] = mapped_column(Text)
    # Set by presets whose servers only accept the authenticated account as
    # sender (Gmail, Microsoft 365): "user" sender mode then falls back to
    # the system address.
    system_sender_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # --- OAuth2 (auth == "oauth2"); core.mail.oauth -------------------------
    # microsoft | google
    oauth_provider: Mapped[str] = mapped_column(String(20), default="")
    # Microsoft Entra directory (tenant) id or "common"/"organizations".
    oauth_tenant: Mapped[str] = mapped_column(String(100), default="")
    oauth_client_id: Mapped[str] = mapped_column(String(255), default="")
    oauth_client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # Space-separated; empty means the provider's defaults.
    oauth_scopes: Mapped[str] = mapped_column(Text, default="")
    # Identity provider base URL; empty means the provider's public one.
    oauth_authority: Mapped[str] = mapped_column(String(255), default="")
    oauth_access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # --- DKIM (core.mail.dkim) -------------------------------------------------
    dkim_domain: Mapped[str] = mapped_column(String(253), default="")
    dkim_selector: Mapped[str] = mapped_column(String(63), default="")
    dkim_private_key_encrypted: Mapped[str | None] = mapped_column(Text)
    # --- POP-before-SMTP (auth == "pop_before_smtp") ---------------------------
    pop3_host: Mapped[str] = mapped_column(String(255), default="")
    pop3_port: Mapped[int] = mapped_column(Integer, default=995)
    # ssl | starttls | none
    pop3_security: Mapped[str] = mapped_column(String(20), default="ssl")
    pop3_username: Mapped[str] = mapped_column(String(255), default="")
    pop3_password_encrypted: Mapped[str | None] = mapped_column(Text)
    # --- "same login as the incoming mailbox" (auth == "inbound") -------------
    # The SMTP server ("host:port") the admin allowed the mailbox password to
    # be sent to although it is not the mailbox's own server; None: only the
    # mailbox's own server (core.mail.inbound_login, revision c0816).
    inbound_login_confirmed_for: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Template(db.Model):
    """A mail template; one key has one version per language."""

    __tablename__ = "template"
    __table_args__ = (UniqueConstraint("tenant_id", "key", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Rule(db.Model):
    """On EVENT send to RECIPIENT using TEMPLATE.

    ``recipient`` is a recipient reference (core.recipients): ``role:NAME``,
    ``address:a@b.example[,c@d.example]`` or ``list:NAME``.
    """

    __tablename__ = "rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    event: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(Text)
    template_key: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # "24 hours after TICKET_CREATED": the rule's mail waits this long after
    # the event (or its send_at); 0 sends at once (revision c0790).
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # models.message.Priority: 2 system, 1 transactional (default), 0 bulk.
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # "Send only if": a condition of the event (EventSpec.conditions) that a
    # plugin checks when the mail is due; "" for none (revision c0814).
    send_condition: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
