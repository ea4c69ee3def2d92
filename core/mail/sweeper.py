"""The sweeper: the database is the truth, Redis only a wake-up signal.

It wakes the expander for every tenant with NEW events, the deliverer for
every tenant with due PENDING mail, and puts SENDING messages whose lease
expired (their worker died) back to PENDING. Running it twice at once is
harmless: wakes are deduplicated and the lease reclaim is one conditional
UPDATE.
"""
from __future__ import annotations

from sqlalchemy import update

from ..extensions import db
from ..models import Event, EventStatus, Message, MessageStatus
from ..models.types import utcnow
from . import jobs


def sweep() -> dict:
    now = utcnow()
    reclaimed = db.session.execute(
        update(Message).where(Message.status == MessageStatus.SENDING, Message.lease_until < now)
        .values(status=MessageStatus.PENDING, claim_token=None, lease_until=None, updated_at=now,
                last_error="the worker sending it stopped; queued again")).rowcount
    db.session.commit()
    event_tenants = db.session.execute(
        db.select(Event.tenant_id).where(Event.status == EventStatus.NEW).distinct()).scalars().all()
    mail_tenants = db.session.execute(
        db.select(Message.tenant_id).where(Message.status == MessageStatus.PENDING, Message.next_attempt_at <= now)
        .distinct()).scalars().all()
    for tenant_id in event_tenants:
        jobs.wake_expander(tenant_id)
    for tenant_id in mail_tenants:
        jobs.wake_deliverer(tenant_id)
    return {"reclaimed": reclaimed, "expand": len(event_tenants), "deliver": len(mail_tenants)}
