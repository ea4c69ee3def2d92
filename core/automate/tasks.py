"""The core's own AUTOMATE tasks (contributed by the core plugin through the
same ``postwerk_tasks`` hook a plugin uses). They drive the mail pipeline, so
they sit above it; which tasks exist and how one is looked up is
``core.automate.registry`` (its names are kept here too)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, exists, select, update

from .. import attachments
from ..extensions import db
from ..idempotency import expire_idempotency_keys
from ..mail import jobs
from ..mail.sweeper import sweep
from ..models import Event, EventStatus, IdempotencyKey, Message, MessageStatus, User, WebSession
from ..models import web_session
from ..models.types import utcnow
from .models import DEFAULT_RETENTION_DAYS, AutomateState
from .registry import (
    CORE_TASKS,
    FAILURE_DIGEST,
    MAIL_WORKER,
    RETENTION,
    SWEEPER,
    DeclaredTasks,
    declared_tasks,
    notify_once,
    resolve,
    task_specs,
)


# --- the core tasks ----------------------------------------------------------


def run_mail_worker(tenant_id: int) -> str:
    """Wake the expander and the deliverer for anything due (the delivery
    itself runs in the RQ workers, so a slow SMTP server never blocks AUTOMATE)."""
    now = utcnow()
    due = db.session.execute(
        select(db.func.count())
        .select_from(Message)
        .where(Message.tenant_id == tenant_id, Message.status == MessageStatus.PENDING, Message.next_attempt_at <= now)
    ).scalar()
    new_events = db.session.execute(
        select(db.func.count()).select_from(Event).where(Event.tenant_id == tenant_id, Event.status == EventStatus.NEW)
    ).scalar()
    if new_events:
        jobs.wake_expander(tenant_id)
    if due:
        jobs.wake_deliverer(tenant_id)
    return f"{due} message(s) due, {new_events} event(s) to expand"


def run_sweeper(tenant_id: int) -> str:
    result = sweep(tenant_id)
    return ", ".join(f"{k} {v}" for k, v in result.items())


def run_retention(tenant_id: int) -> str:
    state = db.session.get(AutomateState, tenant_id)
    days = state.retention_days if state is not None else DEFAULT_RETENTION_DAYS
    cutoff = utcnow() - timedelta(days=days)
    old = select(Message.id).where(
        Message.tenant_id == tenant_id, Message.status == MessageStatus.SENT, Message.sent_at < cutoff
    )
    # A resend keeps living when its original goes; only the link is dropped.
    db.session.execute(
        update(Message).where(Message.tenant_id == tenant_id, Message.resend_of_id.in_(old)).values(resend_of_id=None)
    )
    messages = db.session.execute(delete(Message).where(Message.id.in_(old))).rowcount
    # API idempotency keys are kept for days, not months: forget the old ones
    # here, so they neither pile up nor hold their events.
    keys = expire_idempotency_keys(tenant_id=tenant_id)
    # Events are deleted once old and no message (FAILED, UNKNOWN, ...) or
    # idempotency key still points at them.
    events = db.session.execute(
        delete(Event).where(
            Event.tenant_id == tenant_id,
            Event.created_at < cutoff,
            Event.status.notin_((EventStatus.NEW, EventStatus.FAILED)),  # a FAILED one waits to run again
            ~exists().where(Message.event_id == Event.id),
            ~exists().where(IdempotencyKey.event_id == Event.id),
        )
    ).rowcount
    # A stored attachment goes with the last message (or event) that carries it.
    files = attachments.prune(tenant_id)
    sessions = expire_ended_sessions(tenant_id)
    db.session.commit()
    return (
        f"deleted {messages} message(s) and {events} event(s) older than {days} days, "
        f"{files} attachment file(s) no longer used, {keys} expired API idempotency key(s), "
        f"{sessions} ended log-in session(s)"
    )


def expire_ended_sessions(tenant_id: int) -> int:
    """Delete the log-in sessions of the tenant's users that ended (idle or
    too old) without a logout: a log-in clears only its own user's rows, so
    a user who never comes back would leave one behind for ever."""
    return db.session.execute(
        delete(WebSession).where(
            WebSession.user_id.in_(select(User.id).where(User.tenant_id == tenant_id)),
            web_session.ended(utcnow()),
        )
    ).rowcount


__all__ = [
    "CORE_TASKS",
    "FAILURE_DIGEST",
    "MAIL_WORKER",
    "RETENTION",
    "SWEEPER",
    "DeclaredTasks",
    "declared_tasks",
    "notify_once",
    "resolve",
    "task_specs",
]
