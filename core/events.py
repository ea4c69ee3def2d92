"""``emit()``: the one way an event enters Postwerk.

It only writes the event row in the caller's transaction (the outbox) and
remembers to wake the expander after that transaction commits. A rolled-back
transaction therefore sends nothing, and Redis being down never fails the
caller: the sweeper picks the event up later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.orm import Session

from .extensions import db
from .models import Event, EventStatus, Tenant
from .models.types import utcnow
from .plugins import PluginDisabledError, registry
from . import attachments as attachment_store
from .specs import MailAttachment, TenantRef
from .tenancy import get_tenant
from .wakeups import wake_expander
from .models.message import Priority

_WAKE = "postwerk_wake_expander"


class PayloadError(ValueError):
    """The payload cannot be stored (not a JSON object)."""


class SendAtError(ValueError):
    """``send_at`` is not a time-zone-aware time within ``MAX_SEND_AHEAD``."""


# The latest a mail may be scheduled: later than this is almost certainly a
# mistake (a year typed wrong, milliseconds taken for seconds).
MAX_SEND_AHEAD = timedelta(days=366)


def check_send_at(send_at: datetime | None, now: datetime | None = None) -> datetime | None:
    """``send_at`` as UTC, or None for "at once" (also when it lies in the
    past). Raises ``SendAtError`` for a naive time or one more than
    ``MAX_SEND_AHEAD`` away."""
    if send_at is None:
        return None
    if not isinstance(send_at, datetime):
        raise SendAtError(f"send_at must be a datetime, not {type(send_at).__name__}")
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        raise SendAtError("send_at must carry a time zone (e.g. 2026-12-24T09:00:00+01:00)")
    now = now or utcnow()
    if send_at - now > MAX_SEND_AHEAD:
        raise SendAtError(f"send_at may be at most {MAX_SEND_AHEAD.days} days ahead")
    return send_at if send_at > now else None


@dataclass(frozen=True)
class EmittedEvent:
    id: int
    tenant_id: int
    key: str


def _check_priority(priority: int | None) -> None:
    if priority is not None and priority not in Priority.ALL:
        raise ValueError(f"priority must be one of {Priority.ALL} (Priority.SYSTEM, TRANSACTIONAL, BULK)")


def emit(
    tenant: Tenant | TenantRef | int | str,
    event: str,
    payload: dict[str, Any],
    *,
    actor_user_id: int | None = None,
    send_at: datetime | None = None,
    priority: int | None = None,
    attachments: list[MailAttachment] | None = None,
) -> EmittedEvent:
    """Record ``event`` for ``tenant``; mail follows after the caller commits.

    With ``send_at`` (time-zone aware, at most ``MAX_SEND_AHEAD`` ahead) its
    mail is written at once but waits in the queue, as PENDING rows due at
    ``send_at``, until then ("scheduled" on the queue page, cancellable).

    ``priority`` (``models.message.Priority``; None: each rule's own) puts
    its mail ahead of lower-priority mail of the tenant.

    ``attachments`` (``MailAttachment``) go with every mail of the event;
    each is stored once per tenant by its content. ``AttachmentError`` when
    one is refused (no plain file name, no MIME type, over the limits).

    Raises ``SendAtError`` for a bad ``send_at``, ``ValueError`` for an unknown ``priority``, ``UnknownEventError`` when no installed plugin declares the event,
    ``PluginDisabledError`` when its plugin is disabled for the tenant and
    ``PayloadError`` when the payload is not a JSON object.
    """
    send_at = check_send_at(send_at)
    _check_priority(priority)
    files = attachment_store.check(attachments) if attachments else []
    reg = registry()
    _, owner = reg.event(event)
    # An id is taken as it is: the foreign key refuses an unknown tenant.
    tenant_id = tenant if isinstance(tenant, int) else get_tenant(tenant).id
    if owner not in reg.enabled_plugins(tenant_id):
        raise PluginDisabledError(f"the plugin {owner!r} is disabled for this tenant, so {event} is not accepted")
    if not isinstance(payload, dict):
        raise PayloadError(f"the payload of {event} must be a JSON object, not {type(payload).__name__}")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"the payload of {event} is not JSON: {exc}") from exc
    # A plain INSERT in the caller's transaction: emit() sits on the hot path
    # of every request that causes mail, and the ORM's unit of work for one
    # row cost twice as much.
    event_id = (
        db.session.connection()
        .execute(
            _INSERT_EVENT,
            {
                "tenant_id": tenant_id,
                "key": event,
                "payload": payload,
                "actor_user_id": actor_user_id,
                "status": EventStatus.NEW,
                "created_at": utcnow(),
                "send_at": send_at,
                "priority": priority,
            },
        )
        .scalar_one()
    )
    if files:
        attachment_store.attach_to_event(event_id, attachment_store.store_all(tenant_id, files))
    _note_wake(tenant_id, priority)
    return EmittedEvent(event_id, tenant_id, event)


_INSERT_EVENT = insert(Event.__table__).returning(Event.__table__.c.id)
_INSERT_EVENTS = insert(Event.__table__).returning(Event.__table__.c.id, sort_by_parameter_order=True)


def emit_many(
    tenant: Tenant | TenantRef | int | str,
    event: str,
    payloads: list[Any],
    *,
    actor_user_id: int | None = None,
    send_at: datetime | None = None,
    priority: int | None = None,
    attachments: list[list[MailAttachment] | None] | None = None,
) -> list[EmittedEvent | PayloadError]:
    """``emit()`` for many payloads of one event, in the caller's transaction
    (importers, the HTTP API's batch form): one INSERT for all of them.

    Each payload is checked like ``emit()`` checks one; the answer holds, in
    the order of ``payloads``, an ``EmittedEvent`` for each accepted item and
    the ``PayloadError`` of each refused one; a refused item never keeps the
    others out. ``send_at`` as for ``emit()``, for every item.
    ``attachments``, in the order of ``payloads`` (None or [] for an item
    without), as ``emit()`` takes them for one: a file sent with several
    items is stored once. Raises ``AttachmentError`` for a refused file
    (check them first, as the HTTP API does, to refuse only its item),
    ``UnknownEventError`` / ``PluginDisabledError`` / ``SendAtError`` (they
    concern every item).
    """
    send_at = check_send_at(send_at)
    _check_priority(priority)
    reg = registry()
    _, owner = reg.event(event)
    tenant_id = tenant if isinstance(tenant, int) else get_tenant(tenant).id
    if owner not in reg.enabled_plugins(tenant_id):
        raise PluginDisabledError(f"the plugin {owner!r} is disabled for this tenant, so {event} is not accepted")
    if attachments is not None and len(attachments) != len(payloads):
        raise ValueError("attachments: one list (or None) per payload")
    files = [attachment_store.check(f) if f else [] for f in attachments or []]
    results: list[EmittedEvent | PayloadError] = []
    rows, slots = [], []
    now = utcnow()
    for index, payload in enumerate(payloads):
        if not isinstance(payload, dict):
            results.append(PayloadError(f"the payload of {event} must be a JSON object, not {type(payload).__name__}"))
            continue
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            results.append(PayloadError(f"the payload of {event} is not JSON: {exc}"))
            continue
        results.append(None)  # type: ignore[arg-type]  # filled below
        slots.append(index)
        rows.append(
            {
                "tenant_id": tenant_id,
                "key": event,
                "payload": payload,
                "actor_user_id": actor_user_id,
                "status": EventStatus.NEW,
                "created_at": now,
                "send_at": send_at,
                "priority": priority,
            }
        )
    if rows:
        ids = db.session.connection().execute(_INSERT_EVENTS, rows).scalars().all()
        for index, event_id in zip(slots, ids):
            results[index] = EmittedEvent(event_id, tenant_id, event)
            if files and files[index]:
                attachment_store.attach_to_event(event_id, attachment_store.store_all(tenant_id, files[index]))
        _note_wake(tenant_id, priority)
    return results


def _note_wake(tenant_id: int, priority: int | None) -> None:
    """Wake the tenant's expander after the commit, on the queue of the
    highest priority emitted (None: the rules decide, woken as transactional)."""
    wakes = db.session.info.setdefault(_WAKE, {})
    wakes[tenant_id] = max(wakes.get(tenant_id, -1), 1 if priority is None else priority)


def _after_commit(session: Session) -> None:
    # SQLAlchemy calls this for a SAVEPOINT released too: the event is not
    # committed yet then, and an expander woken now would find nothing.
    if session.in_nested_transaction():
        return
    tenants = session.info.pop(_WAKE, None)
    if not tenants:
        return
    for tenant_id, priority in tenants.items():
        wake_expander(tenant_id, priority=priority)


def _after_rollback(session: Session) -> None:
    # A SAVEPOINT rolled back (one mail of a batch, one plugin) leaves the
    # events emitted before it in the transaction: their wake-up stays.
    if session.in_nested_transaction():
        return
    session.info.pop(_WAKE, None)


def install_session_hooks() -> None:
    """Listen on every SQLAlchemy session (idempotent)."""
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_rollback", _after_rollback)
