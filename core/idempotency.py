"""How long the HTTP API remembers an Idempotency-Key, and forgetting old ones.

Apart from ``core.http_api`` (the web layer) because AUTOMATE's retention
task, below the web layer, forgets the old keys; the HTTP API keeps both
names.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .extensions import db
from .models import IdempotencyKey
from .models.types import utcnow

# How long a retry with the same Idempotency-Key is recognised.
IDEMPOTENCY_DAYS = 7


def expire_idempotency_keys(now: datetime | None = None, tenant_id: int | None = None) -> int:
    """Forget keys older than IDEMPOTENCY_DAYS (the events stay); returns how
    many. AUTOMATE's retention task calls it per tenant; the caller commits."""
    cutoff = (now or utcnow()) - timedelta(days=IDEMPOTENCY_DAYS)
    old = db.delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
    if tenant_id is not None:
        old = old.where(IdempotencyKey.tenant_id == tenant_id)
    # A DELETE answers with a CursorResult; SQLAlchemy types execute() as the general Result.
    return db.session.execute(old).rowcount  # type: ignore[attr-defined]
