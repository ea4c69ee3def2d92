"""The RQ jobs of the mail pipeline: expand events, deliver messages.

Each job works through everything due for one tenant in batches and is
woken (deduplicated) by ``core.queueing.wake``; the database says what is
due, so a duplicate or lost job is harmless.
"""
from __future__ import annotations

import logging

from sqlalchemy import insert, update

from ..extensions import db
from ..jobs import in_app_context
from ..models import Event, EventStatus, Message, MessageStatus
from ..models.types import utcnow
from ..queueing import clear_wake, wake
from . import delivery, expansion

log = logging.getLogger(__name__)

EXPAND_BATCH = 200


def wake_expander(tenant_id: int) -> bool:
    return wake(expand_events, tenant_id)


def wake_deliverer(tenant_id: int, delay: float | None = None) -> bool:
    return wake(deliver_messages, tenant_id, delay=delay)


@in_app_context
def expand_events(tenant_id: int, wake_key: str | None = None) -> int:
    """Expand every NEW event of a tenant into messages; returns how many."""
    clear_wake(wake_key)
    total = 0
    try:
        ctx = expansion.ExpansionContext(tenant_id)
        while True:
            ids = db.session.execute(
                db.select(Event.id).where(Event.tenant_id == tenant_id, Event.status == EventStatus.NEW)
                .order_by(Event.id).limit(EXPAND_BATCH)).scalars().all()
            if not ids:
                break
            total += _expand_batch(ctx, ids)
    finally:
        db.session.remove()
    return total


def _expand_batch(ctx: expansion.ExpansionContext, ids: list[int]) -> int:
    # Taking the events (NEW -> EXPANDED) happens in the same transaction as
    # writing their messages: a concurrent expander finds nothing left to take.
    taken = db.session.execute(
        update(Event).where(Event.id.in_(ids), Event.status == EventStatus.NEW)
        .values(status=EventStatus.EXPANDED, expanded_at=utcnow()).returning(Event.id)
        .execution_options(synchronize_session=False)).scalars().all()
    events = db.session.execute(db.select(Event).where(Event.id.in_(taken)).order_by(Event.id)).scalars().all()
    rows: list[dict] = []
    for event in events:
        try:
            rows.extend(expansion.expand(event, ctx))
        except Exception as exc:  # a plugin's bug: keep the event, say why, go on
            log.exception("expanding event %s failed", event.id)
            event.status, event.error = EventStatus.FAILED, f"{type(exc).__name__}: {exc}"
    pending = [r for r in rows if r["status"] == MessageStatus.PENDING]
    failed = [Message(**r) for r in rows if r["status"] != MessageStatus.PENDING]
    if pending:
        # One executemany for the batch: the ORM's unit of work per object
        # cost more than rendering the mail.
        db.session.execute(insert(Message.__table__), pending)
    db.session.add_all(failed)
    db.session.commit()
    for message in failed:
        delivery.record_permanent_failure(message, message.last_error or "failed")
    if failed:
        db.session.commit()
    if pending:
        wake_deliverer(ctx.tenant.id)
    return len(events)


@in_app_context
def deliver_messages(tenant_id: int, wake_key: str | None = None) -> dict:
    """Send every due message of a tenant; schedules a wake for retries."""
    clear_wake(wake_key)
    try:
        stats = delivery.deliver_due(tenant_id)
        for delay in sorted(stats.retry_delays):
            wake_deliverer(tenant_id, delay=delay)
        if stats.more:
            wake_deliverer(tenant_id)
        return {"sent": stats.sent, "retried": stats.retried, "failed": stats.failed,
                "unknown": stats.unknown, "held": stats.held}
    finally:
        db.session.remove()
