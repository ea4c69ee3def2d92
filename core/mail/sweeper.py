"""The sweeper: the database is the truth, Redis only a wake-up signal.

It wakes the expander for every tenant with NEW events and the deliverer for
every tenant with due PENDING mail, unless a live job for it already waits
(a wake key whose job Redis lost, or whose worker died, is replaced). It
takes back SENDING messages whose lease expired (their worker died or lost
the database), deciding by the delivery markers (core.mail.markers) whether
each was sent, possibly sent (UNKNOWN) or never handed over (PENDING).
Running it twice at once is harmless: every change is a conditional UPDATE
on the claim that expired, and wakes are deduplicated.
"""
from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import update

from ..extensions import db
from ..models import Event, EventStatus, Message, MessageStatus
from ..models.types import utcnow
from ..notify import audit, notify, tell_outcome
from ..tenancy import get_tenant, tenant_ref
from ..queueing import rewake
from . import jobs, markers

log = logging.getLogger(__name__)

RECLAIMED = "the worker sending it stopped before handing it over; queued again"
RECONCILED = "the server accepted it, but the worker could not record that; recorded as sent, not resent"
POSSIBLY_SENT = ("the worker stopped while handing it to the server: it may have been delivered. "
                 "Check with the recipient before resending")


def sweep(tenant_id: int | None = None) -> dict:
    """Sweep one tenant, or all tenants with ``tenant_id=None``."""
    result = reclaim(tenant_id)
    scope = [] if tenant_id is None else [Event.tenant_id == tenant_id]
    event_tenants = db.session.execute(
        db.select(Event.tenant_id).where(Event.status == EventStatus.NEW, *scope).distinct()).scalars().all()
    scope = [] if tenant_id is None else [Message.tenant_id == tenant_id]
    mail_tenants = db.session.execute(
        db.select(Message.tenant_id).where(Message.status == MessageStatus.PENDING,
                                           Message.next_attempt_at <= utcnow(), *scope)
        .distinct()).scalars().all()
    db.session.commit()
    result["expand"] = sum(rewake(jobs.expand_events, t) for t in event_tenants)
    result["deliver"] = sum(rewake(jobs.deliver_messages, t) for t in mail_tenants)
    return result


def reclaim(tenant_id: int | None = None) -> dict:
    """Take back SENDING messages whose lease expired."""
    now = utcnow()
    scope = [] if tenant_id is None else [Message.tenant_id == tenant_id]
    expired = db.session.execute(
        db.select(Message.id, Message.claim_token, Message.tenant_id, Message.recipients).where(
            Message.status == MessageStatus.SENDING, Message.lease_until < now, *scope)).all()
    counts = {"reclaimed": 0, "reconciled": 0, "unknown": 0}
    if not expired:
        return counts
    try:
        found = markers.outcomes([(row.id, row.claim_token) for row in expired])
    except RedisError as exc:
        # Without the markers we cannot tell sent from unsent: wait for Redis
        # rather than risk sending twice. (Nothing could be woken anyway.)
        log.warning("not reclaiming %d expired message(s) while Redis is unreachable: %s", len(expired), exc)
        db.session.rollback()
        return counts
    finished: list[tuple[int, int, str, str]] = []
    for row in expired:
        outcome = found[row.id]
        claimed = update(Message).where(Message.id == row.id, Message.claim_token == row.claim_token,
                                        Message.status == MessageStatus.SENDING)
        common = dict(claim_token=None, lease_until=None, updated_at=now)
        if outcome == "sent":
            done = db.session.execute(claimed.values(status=MessageStatus.SENT, sent_at=now, last_error=RECONCILED,
                                                     attempts=Message.attempts + 1, **common)).rowcount
            counts["reconciled"] += done
            if done:
                audit(row.tenant_id, "system", "mail.sent_reconciled", "message", row.id, reason=RECONCILED)
                finished.append((row.tenant_id, row.id, MessageStatus.SENT, RECONCILED))
        elif outcome == "attempted":
            done = db.session.execute(claimed.values(status=MessageStatus.UNKNOWN, last_error=POSSIBLY_SENT,
                                                     attempts=Message.attempts + 1, **common)).rowcount
            if done:
                counts["unknown"] += 1
                notify(row.tenant_id, "warning", f"Message {row.id} to {', '.join(row.recipients)}: {POSSIBLY_SENT}.",
                       row.id)
                audit(row.tenant_id, "system", "mail.unknown", "message", row.id, reason=POSSIBLY_SENT)
                finished.append((row.tenant_id, row.id, MessageStatus.UNKNOWN, POSSIBLY_SENT))
        else:
            counts["reclaimed"] += db.session.execute(
                claimed.values(status=MessageStatus.PENDING, last_error=RECLAIMED, **common)).rowcount
    db.session.commit()
    for tenant_id, message_pk, status, detail in finished:
        _tell_plugins(tenant_id, message_pk, status, detail)
    return counts


def _tell_plugins(tenant_id: int, message_pk: int, status: str, detail: str) -> None:
    """The same postwerk_delivery_outcome call a worker makes, after commit."""
    try:
        tenant = tenant_ref(get_tenant(tenant_id))
        tell_outcome(tenant_id, tenant, message_pk, status, detail)
    except Exception:  # recording the failure failed: the committed outcome stays
        log.exception("postwerk_delivery_outcome failed for message %s", message_pk)
