"""API tokens: random, shown once, stored as SHA-256, revocable per tenant."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .extensions import db
from .models import ApiToken
from .models.types import utcnow
from .notify import audit

PREFIX = "pw_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(tenant_id: int, name: str, *, actor: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the token itself, which is never
    stored and cannot be shown again. The caller commits."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValueError("give the token a name of up to 100 characters (who uses it?)")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(tenant_id=tenant_id, name=name, token_hash=digest(token), prefix=token[:10])
    db.session.add(row)
    db.session.flush()
    audit(tenant_id, actor, "api_token.created", "api_token", row.id, name=name)
    return row, token


def revoke(tenant_id: int, token_id: int, *, actor: str) -> ApiToken | None:
    row = db.session.execute(
        db.select(ApiToken).where(ApiToken.tenant_id == tenant_id, ApiToken.id == token_id)
    ).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(tenant_id, actor, "api_token.revoked", "api_token", row.id, name=row.name)
    return row


def authenticate(token: str) -> ApiToken | None:
    """The live token row for a presented token, or None."""
    if not token or not token.startswith(PREFIX) or len(token) > 200:
        return None
    wanted = digest(token)
    row = db.session.execute(db.select(ApiToken).where(ApiToken.token_hash == wanted)).scalar_one_or_none()
    # The lookup is by hash; compare again in constant time for good measure.
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    return row


def for_tenant(tenant_id: int) -> list[ApiToken]:
    return list(
        db.session.execute(
            db.select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.id.desc())
        ).scalars()
    )
