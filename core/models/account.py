"""One-time secrets of a user's account: password-reset links, sign-in
codes and recovery codes. Only a SHA-256 of each is stored; the secret
itself exists only in the mail (or on the recovery-code page) once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class AccountSecretPurpose:
    RESET = "reset"  # the link of a "forgot password" mail
    SIGN_IN_CODE = "code"  # the 6-digit code of a sign-in mail
    RECOVERY = "recovery"  # a recovery code, for when the mail does not arrive


class AccountSecret(db.Model):
    __tablename__ = "account_secret"
    __table_args__ = (Index("ix_account_secret_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(10))
    # hex SHA-256 of the secret: the secrets are random (not guessable like
    # passwords), so a fast hash suffices and lookups stay indexable.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # None: does not expire (recovery codes).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once by a conditional UPDATE: a secret works exactly once.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Wrong guesses against a sign-in code; at the limit it is dead.
    failed_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
