"""The inbound mail plugin's tables (its own Alembic branch: migrations/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.api import UTCDateTime, db, decrypt, encrypt, utcnow

PROTOCOLS = ("imap", "pop3", "exchange")
SECURITIES = ("ssl", "starttls", "none")


class Mailbox(db.Model):
    """A mailbox the poller reads for one tenant, with its backoff state."""

    __tablename__ = "inbound_mailbox"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), {"info": {"plugin": "inbound_mail"}})

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # imap | pop3 | exchange (= IMAP with XOAUTH2)
    protocol: Mapped[str] = mapped_column(String(10), default="imap")
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=993)
    # ssl | starttls | none (loopback only); certificates are always verified.
    security: Mapped[str] = mapped_column(String(10), default="ssl")
    # PEM of a CA the admin trusts for an internal server (public data).
    trusted_ca_pem: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(255), default="")
    # Fernet ciphertext (core.api.encrypt), never the plain secret.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    leave_on_server: Mapped[bool] = mapped_column(Boolean, default=True)
    # Only senders whose address matches are turned into tickets; "" = all.
    sender_pattern: Mapped[str] = mapped_column(Text, default="")
    # Off: only senders the tenant knows (its users, people its plugins know:
    # core.api.is_known_sender) are handed over; the pattern applies as well.
    allow_unknown_senders: Mapped[bool] = mapped_column(Boolean, default=True)
    # The authserv-id of the receiving server whose Authentication-Results
    # header is trusted (RFC 8601); "" = trust none, no mail is authenticated.
    trusted_authserv_id: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Backoff: consecutive failed polls and when the next one is due.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[str | None] = mapped_column(Text)
    # A mail whose handling raised: retried a few times, then kept aside, so
    # one bad mail cannot stop the mailbox for good.
    stuck_key: Mapped[str | None] = mapped_column(String(255))
    stuck_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def password(self) -> str:
        return decrypt(self.password_encrypted) if self.password_encrypted else ""

    @password.setter
    def password(self, value: str) -> None:
        self.password_encrypted = encrypt(value) if value else None

    @property
    def oauth_access_token(self) -> str:
        return decrypt(self.oauth_access_token_encrypted) if self.oauth_access_token_encrypted else ""

    @oauth_access_token.setter
    def oauth_access_token(self, value: str) -> None:
        self.oauth_access_token_encrypted = encrypt(value) if value else None

    @property
    def oauth_refresh_token(self) -> str:
        return decrypt(self.oauth_refresh_token_encrypted) if self.oauth_refresh_token_encrypted else ""

    @oauth_refresh_token.setter
    def oauth_refresh_token(self, value: str) -> None:
        self.oauth_refresh_token_encrypted = encrypt(value) if value else None


class SeenMail(db.Model):
    """One mail on a server, processed once.

    The unique key (mailbox, UIDVALIDITY, server key) is the claim: it is
    inserted before the handling hook runs and committed with its work, so a
    second poller or a restart after a crash cannot process the mail again.
    ``fingerprint`` (the Message-ID, or a hash of the bytes) recognises the
    same mail under a new key: after a UIDVALIDITY change or in a second
    mailbox of the tenant.
    """

    __tablename__ = "inbound_seen_mail"
    __table_args__ = (UniqueConstraint("mailbox_id", "uidvalidity", "server_key"), {"info": {"plugin": "inbound_mail"}})

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    # Kept (as NULL) when the mailbox is removed: its fingerprints still stop
    # the same mails from making tickets again if the mailbox is added anew.
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_mailbox.id", ondelete="SET NULL"), index=True)
    # IMAP UIDVALIDITY; 0 for POP3.
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    # IMAP UID as text, or the POP3 UIDL.
    server_key: Mapped[str] = mapped_column(String(255))
    # IMAP UID as a number (the watermark of the next poll); None for POP3.
    uid: Mapped[int | None] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(120), index=True)
    message_id: Mapped[str] = mapped_column(String(255), default="")
    from_address: Mapped[str] = mapped_column(String(254), default="", index=True)
    # handled | automatic | bounce | duplicate | quarantined
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    # handled: where the admin sees what it became (InboundResult.link).
    link: Mapped[str] = mapped_column(String(500), default="")
    # duplicate: the processed mail it repeats (no foreign key: that record
    # may belong to a mailbox removed since).
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(300), default="")
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuarantinedMail(db.Model):
    """A mail kept aside instead of being handled, with the reason why."""

    __tablename__ = "inbound_quarantined_mail"
    __table_args__ = {"info": {"plugin": "inbound_mail"}}

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("inbound_mailbox.id", ondelete="CASCADE"), index=True)
    seen_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_seen_mail.id", ondelete="SET NULL"))
    # A short code (plugins.inbound_mail.parsing.Rejected.code) and the words.
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    from_address: Mapped[str] = mapped_column(String(254), default="")
    message_id: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # The raw mail up to a cap; a larger one stays on the server, untouched.
    raw: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    raw_complete: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrustPolicy(db.Model):
    """A tenant's answer to "whose word do we take for who sent a mail?"
    (one row per tenant; no row = the installation's defaults)."""

    __tablename__ = "inbound_trust_policy"
    __table_args__ = {"info": {"plugin": "inbound_mail"}}

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), unique=True)
    # The authserv-id of the tenant's receiving server (RFC 8601) whose
    # Authentication-Results header is believed; "" = none. A mailbox with
    # its own authserv-id (another receiving server) overrides it.
    trusted_authserv_id: Mapped[str] = mapped_column(String(255), default="")
    # Mail comments from unauthenticated senders count as theirs.
    # None = the installation's setting (POSTWERK_TRUST_UNAUTHENTICATED_MAIL).
    accept_unauthenticated: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
