"""The sweeper: the database is the truth, Redis only a wake-up signal.

It wakes the expander for every tenant with NEW events and the deliverer for
every tenant with due PENDING mail, unless a live job for it already waits
(a wake key whose job Redis lost, or whose worker died, is replaced). It
takes back SENDING messages whose lease expired (their worker died or lost
the database) or whose worker RQ knows is dead, deciding by the delivery
markers and the Redis epoch (core.mail.markers) whether each was sent,
possibly sent (UNKNOWN) or never handed over (PENDING). Each take-back
counts the attempt and writes an audit entry with the reason.
Running it twice at once is harmless: every change is a conditional UPDATE
on the claim that expired, and wakes are deduplicated.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq.worker import Worker
from sqlalchemy import update

from ..extensions import db
from ..models import Event, EventStatus, Message, MessageStatus
from ..models.types import utcnow
from ..notify import audit, notify, tell_outcome
from .failure_mail import tell_admins
from ..tenancy import get_tenant, tenant_ref
from ..queueing import redis, rewake
from . import jobs, markers

log = logging.getLogger(__name__)

RECLAIMED = "the worker sending it stopped before handing it over; queued again"
RECONCILED = "the server accepted it, but the worker could not record that; recorded as sent, not resent"
POSSIBLY_SENT = (
    "the worker stopped while handing it to the server: it may have been delivered. "
    "Check with the recipient before resending"
)
REDIS_FORGOT = (
    "the worker sending it stopped, and Redis lost its data (flushed, restarted or replaced) since the "
    "message was claimed, so whether the server accepted it cannot be known: it may have been delivered. "
    "Check with the recipient before resending"
)
LEASE_EXPIRED = "its claim expired"
WORKER_DEAD = "RQ reports the worker holding it ({worker}) as dead"


def sweep(tenant_id: int | None = None) -> dict:
    """Sweep one tenant, or all tenants with ``tenant_id=None``."""
    result = reclaim(tenant_id)
    scope = [] if tenant_id is None else [Event.tenant_id == tenant_id]
    event_tenants = (
        db.session.execute(db.select(Event.tenant_id).where(Event.status == EventStatus.NEW, *scope).distinct())
        .scalars()
        .all()
    )
    scope = [] if tenant_id is None else [Message.tenant_id == tenant_id]
    mail_tenants = (
        db.session.execute(
            db.select(Message.tenant_id)
            .where(Message.status == MessageStatus.PENDING, Message.next_attempt_at <= utcnow(), *scope)
            .distinct()
        )
        .scalars()
        .all()
    )
    db.session.commit()
    result["expand"] = sum(rewake(jobs.expand_events, t) for t in event_tenants)
    result["deliver"] = sum(rewake(jobs.deliver_messages, t) for t in mail_tenants)
    return result


def _lapsed(row, now) -> bool:
    return row.lease_until is not None and row.lease_until < now


def _dead_workers(names: set[str]) -> set[str]:
    """The workers among ``names`` whose RQ registration expired: a live
    worker renews it while it runs a job (core.worker's heartbeat)."""
    names = sorted(names)
    pipe = redis().pipeline(transaction=False)
    for name in names:
        pipe.exists(Worker.redis_worker_namespace_prefix + name)
    return {name for name, alive in zip(names, pipe.execute()) if not alive}


def reclaim(tenant_id: int | None = None) -> dict:
    """Take back SENDING messages whose lease expired, or whose worker RQ
    knows is dead (its registration expired without a heartbeat)."""
    now = utcnow()
    counts = {"reclaimed": 0, "reconciled": 0, "unknown": 0}
    scope = [] if tenant_id is None else [Message.tenant_id == tenant_id]
    columns = (
        Message.id,
        Message.claim_token,
        Message.tenant_id,
        Message.recipients,
        Message.claim_epoch,
        Message.claimed_by,
        Message.last_error,
        Message.attempts,
        Message.lease_until,
    )
    sending = db.session.execute(db.select(*columns).where(Message.status == MessageStatus.SENDING, *scope)).all()
    if not sending:
        db.session.rollback()
        return counts
    try:
        current = markers.epoch()

        # Only under the epoch of the claim: after a flush a live worker's
        # registration is missing until its next heartbeat, and must not
        # look dead. (The lease remains the last resort.)
        def named(row) -> bool:
            return not _lapsed(row, now) and bool(row.claimed_by) and row.claim_epoch == current

        suspects = {row.claimed_by for row in sending if named(row)}
        dead = _dead_workers(suspects) if suspects else set()
        expired = [row for row in sending if _lapsed(row, now) or (named(row) and row.claimed_by in dead)]
        found = markers.outcomes([(row.id, row.claim_token) for row in expired])
    except RedisError as exc:
        # Without the markers we cannot tell sent from unsent: wait for Redis
        # rather than risk sending twice. (Nothing could be woken anyway.)
        log.warning("not reclaiming expired message(s) while Redis is unreachable: %s", exc)
        db.session.rollback()
        return counts
    finished: list[tuple[int, int, str, str]] = []
    for row in expired:
        outcome = found[row.id]
        why = LEASE_EXPIRED if _lapsed(row, now) else WORKER_DEAD.format(worker=row.claimed_by)
        claimed = update(Message).where(
            Message.id == row.id, Message.claim_token == row.claim_token, Message.status == MessageStatus.SENDING
        )
        # Every take-back counts the attempt, and its audit entry keeps the
        # error the message had before (a later SENT overwrites last_error).
        common = dict(
            claim_token=None,
            lease_until=None,
            claim_epoch=None,
            claimed_by=None,
            updated_at=now,
            attempts=Message.attempts + 1,
        )
        trace = dict(
            taken_back=why,
            worker=row.claimed_by,
            claim=row.claim_token,
            attempt=row.attempts + 1,
            previous_error=row.last_error,
        )
        if outcome is None and row.claim_epoch is not None and row.claim_epoch == current:
            done = db.session.execute(
                claimed.values(status=MessageStatus.PENDING, last_error=RECLAIMED, **common)
            ).rowcount
            if done:
                counts["reclaimed"] += 1
                audit(row.tenant_id, "system", "mail.reclaimed", "message", row.id, reason=RECLAIMED, **trace)
        elif outcome == "sent":
            done = db.session.execute(
                claimed.values(status=MessageStatus.SENT, sent_at=now, last_error=RECONCILED, **common)
            ).rowcount
            if done:
                counts["reconciled"] += 1
                audit(row.tenant_id, "system", "mail.sent_reconciled", "message", row.id, reason=RECONCILED, **trace)
                finished.append((row.tenant_id, row.id, MessageStatus.SENT, RECONCILED))
        else:
            # Attempted by that very claim (RFC 1047's window), or no markers
            # under another epoch: Redis may have forgotten a "sent".
            reason = POSSIBLY_SENT if outcome == "attempted" else REDIS_FORGOT
            done = db.session.execute(
                claimed.values(status=MessageStatus.UNKNOWN, last_error=reason, **common)
            ).rowcount
            if done:
                counts["unknown"] += 1
                notify(row.tenant_id, "warning", f"Message {row.id} to {', '.join(row.recipients)}: {reason}.", row.id)
                audit(row.tenant_id, "system", "mail.unknown", "message", row.id, reason=reason, **trace)
                finished.append((row.tenant_id, row.id, MessageStatus.UNKNOWN, reason))
    db.session.commit()
    for tenant_id, message_pk, status, detail in finished:
        _tell_plugins(tenant_id, message_pk, status, detail)
    return counts


def _tell_plugins(tenant_id: int, message_pk: int, status: str, detail: str) -> None:
    """The same postwerk_delivery_outcome call a worker makes, after commit."""
    tell_admins(tenant_id, message_pk, status, detail)
    try:
        tenant = tenant_ref(get_tenant(tenant_id))
        tell_outcome(tenant_id, tenant, message_pk, status, detail)
    except Exception:  # recording the failure failed: the committed outcome stays
        log.exception("postwerk_delivery_outcome failed for message %s", message_pk)
