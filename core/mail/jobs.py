"""The RQ jobs of the mail pipeline: expand events, deliver messages.

Each job works through everything due for one tenant in batches and is
woken (deduplicated) by ``core.queueing.wake``; the database says what is
due, so a duplicate or lost job is harmless.
"""
from __future__ import annotations

import logging

from sqlalchemy import insert, update

from .. import metrics
from ..extensions import db
from ..jobs import in_app_context
from ..logs import bound
from ..models import Event, EventStatus, Message, MessageStatus
from ..models.types import utcnow
from .. import queueing
from ..queueing import TenantMutex, clear_wake, wake
from . import delivery, expansion

log = logging.getLogger(__name__)

EXPAND_BATCH = 200


def wake_expander(tenant_id: int) -> bool:
    return wake(expand_events, tenant_id)


def wake_deliverer(tenant_id: int, delay: float | None = None, *, lane: int = 0) -> bool:
    return wake(deliver_messages, tenant_id, delay=delay, lane=lane)


@in_app_context
def expand_events(tenant_id: int, wake_key: str | None = None) -> int:
    """Expand every NEW event of a tenant into messages; returns how many.

    One expander per tenant at a time: two would render the same events and
    throw one rendering away. A job woken while another runs ends at once
    and leaves its wake key in place, so further wakes wait for the running
    one instead of queueing more jobs that end at once; the running one
    clears the key after letting go and looks for NEW events once more.
    """
    mutex = TenantMutex("expand_events", tenant_id)
    if not mutex.acquire():
        return 0
    clear_wake(wake_key)
    total = 0
    try:
        ctx = expansion.ExpansionContext(tenant_id)
        while ids := _new_events(tenant_id, EXPAND_BATCH):
            total += _expand_batch(ctx, ids)
            mutex.renew()
        mutex.release()
        clear_wake(queueing.wake_key(expand_events.__name__, tenant_id))
        if _new_events(tenant_id, 1):
            wake_expander(tenant_id)
    finally:
        mutex.release()
        db.session.remove()
    return total


def _new_events(tenant_id: int, limit: int) -> list[int]:
    return db.session.execute(
        db.select(Event.id).where(Event.tenant_id == tenant_id, Event.status == EventStatus.NEW)
        .order_by(Event.id).limit(limit)).scalars().all()


def _expand_batch(ctx: expansion.ExpansionContext, ids: list[int]) -> int:
    events = db.session.execute(db.select(Event).where(Event.id.in_(ids), Event.status == EventStatus.NEW)
                                .order_by(Event.id)).scalars().all()
    # Render before taking anything: on SQLite the first write takes the one
    # lock of the whole file, and rendering a batch inside the transaction
    # held it for tens of milliseconds, stalling every web request's emit().
    results: dict[int, list[dict] | Exception] = {}
    for event in events:
        try:
            with bound(event_id=event.id):
                results[event.id] = expansion.expand(event, ctx)
        except Exception as exc:  # a plugin's bug: keep the event, say why, go on
            with bound(event_id=event.id):
                log.exception("expanding event %s failed", event.id)
            results[event.id] = exc
    # Taking the events (NEW -> EXPANDED) happens in the same transaction as
    # writing their messages: a concurrent expander finds nothing left to
    # take, and what it took first is left out here (its rendering wasted).
    taken = set(db.session.execute(
        update(Event).where(Event.id.in_([e.id for e in events]), Event.status == EventStatus.NEW)
        .values(status=EventStatus.EXPANDED, expanded_at=utcnow()).returning(Event.id)
        .execution_options(synchronize_session=False)).scalars())
    rows: list[dict] = []
    for event in events:
        result = results[event.id]
        if event.id not in taken:
            continue
        if isinstance(result, Exception):
            event.status, event.error = EventStatus.FAILED, f"{type(result).__name__}: {result}"
        else:
            rows.extend(result)
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
    return len(taken)


@in_app_context
def deliver_messages(tenant_id: int, wake_key: str | None = None, lane: int = 0) -> dict:
    """Send every due message of a tenant; schedules a wake for retries.

    Lane 0 is the tenant's deliverer; while it finds a backlog it wakes a
    helper in the next lane, each on its own connection, up to the lanes
    allowed (see ``delivery.Delivery.lanes``).
    """
    clear_wake(wake_key)
    try:
        stats = delivery.deliver_due(tenant_id, lane=lane,
                                     call_helper=lambda: wake_deliverer(tenant_id, lane=lane + 1))
        metrics.count_deliveries(vars(stats))
        for delay in sorted(stats.retry_delays):
            wake_deliverer(tenant_id, delay=delay)
        if stats.more:
            wake_deliverer(tenant_id, lane=lane)
        return {"sent": stats.sent, "retried": stats.retried, "failed": stats.failed,
                "unknown": stats.unknown, "held": stats.held}
    finally:
        db.session.remove()
