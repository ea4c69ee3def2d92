"""Issuing and redeeming one-time secrets of a user's account (reset
links, sign-in codes, recovery codes); models.account stores their hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import update

from .extensions import db
from .models import AccountSecret, AccountSecretPurpose as Purpose, User
from .models.types import utcnow

RESET_MINUTES = 60
CODE_MINUTES = 10
CODE_TRIES = 5
RECOVERY_CODES = 10


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _retire(user: User, purpose: str) -> None:
    """Earlier unused secrets of this kind stop working: only the newest
    reset link (or code, or set of recovery codes) counts."""
    db.session.execute(
        update(AccountSecret)
        .where(AccountSecret.user_id == user.id, AccountSecret.purpose == purpose, AccountSecret.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def issue_reset(user: User) -> str:
    """A new reset token (URL-safe, 256 bits); the caller commits."""
    _retire(user, Purpose.RESET)
    token = secrets.token_urlsafe(32)
    db.session.add(
        AccountSecret(
            tenant_id=user.tenant_id,
            user_id=user.id,
            purpose=Purpose.RESET,
            secret_hash=digest(token),
            expires_at=utcnow() + timedelta(minutes=RESET_MINUTES),
        )
    )
    return token


def issue_code(user: User) -> str:
    """A new 6-digit sign-in code; the caller commits."""
    _retire(user, Purpose.SIGN_IN_CODE)
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        # Hashes are unique over all users: a collision with a live code of
        # someone else would fail the INSERT; a new draw avoids it.
        if (
            db.session.execute(
                db.select(AccountSecret.id).where(AccountSecret.secret_hash == digest(code + f":{user.id}"))
            ).first()
            is None
        ):
            break
    db.session.add(
        AccountSecret(
            tenant_id=user.tenant_id,
            user_id=user.id,
            purpose=Purpose.SIGN_IN_CODE,
            secret_hash=digest(code + f":{user.id}"),
            expires_at=utcnow() + timedelta(minutes=CODE_MINUTES),
        )
    )
    return code


def issue_recovery_codes(user: User) -> list[str]:
    """A fresh set of recovery codes (the old set stops working); the caller commits."""
    _retire(user, Purpose.RECOVERY)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.session.add(
            AccountSecret(
                tenant_id=user.tenant_id,
                user_id=user.id,
                purpose=Purpose.RECOVERY,
                secret_hash=digest(f"{code}:{user.id}"),
            )
        )
    return codes


def live_reset(token: str) -> AccountSecret | None:
    """The unused, unexpired reset secret of ``token``, or None."""
    row = db.session.execute(
        db.select(AccountSecret).where(
            AccountSecret.secret_hash == digest(token), AccountSecret.purpose == Purpose.RESET
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def use(row: AccountSecret) -> bool:
    """Mark ``row`` used; False when someone else used it first (a
    conditional UPDATE: two requests with one link never both succeed)."""
    return bool(
        db.session.execute(
            update(AccountSecret)
            .where(AccountSecret.id == row.id, AccountSecret.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    )


class CodeResult:
    OK = "ok"
    WRONG = "wrong"
    DEAD = "dead"  # expired, used up, or too many wrong tries: sign in again


def check_code(user: User, code: str) -> str:
    """Check a sign-in code of ``user``: single use, CODE_TRIES wrong tries,
    compared in constant time. The caller commits."""
    row = db.session.execute(
        db.select(AccountSecret)
        .where(
            AccountSecret.user_id == user.id,
            AccountSecret.purpose == Purpose.SIGN_IN_CODE,
            AccountSecret.used_at.is_(None),
        )
        .order_by(AccountSecret.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None or row.expires_at <= utcnow() or row.failed_tries >= CODE_TRIES:
        return CodeResult.DEAD
    given = digest("".join(code.split()) + f":{user.id}")
    if hmac.compare_digest(given, row.secret_hash):
        return CodeResult.OK if use(row) else CodeResult.DEAD
    # Counted in the database, not the session: a second browser gets no fresh tries.
    db.session.execute(
        update(AccountSecret)
        .where(AccountSecret.id == row.id)
        .values(failed_tries=AccountSecret.failed_tries + 1)
        .execution_options(synchronize_session=False)
    )
    return CodeResult.WRONG


def check_recovery_code(user: User, code: str) -> bool:
    """Use one recovery code of ``user``; the caller commits."""
    row = db.session.execute(
        db.select(AccountSecret).where(
            AccountSecret.user_id == user.id,
            AccountSecret.purpose == Purpose.RECOVERY,
            AccountSecret.secret_hash == digest(f"{code.strip().lower()}:{user.id}"),
            AccountSecret.used_at.is_(None),
        )
    ).scalar_one_or_none()
    return row is not None and use(row)


def recovery_codes_left(user: User) -> int:
    return db.session.execute(
        db.select(db.func.count())
        .select_from(AccountSecret)
        .where(
            AccountSecret.user_id == user.id, AccountSecret.purpose == Purpose.RECOVERY, AccountSecret.used_at.is_(None)
        )
    ).scalar_one()
