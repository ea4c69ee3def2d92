"""The core's own AUTOMATE tasks (contributed by the core plugin through the
same ``postwerk_tasks`` hook a plugin uses) and how a task is looked up."""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, exists, select, update

from ..extensions import db
from ..http_api import expire_idempotency_keys
from ..models import Event, EventStatus, IdempotencyKey, Message, MessageStatus
from ..models.types import utcnow
from ..plugins import registry
from ..specs import TaskSpec
from .models import DEFAULT_RETENTION_DAYS, AutomateState

log = logging.getLogger(__name__)

MAIL_WORKER = "mail_worker"
SWEEPER = "sweeper"
RETENTION = "retention"
FAILURE_DIGEST = "failure_digest"

CORE_TASKS = [
    TaskSpec(key=MAIL_WORKER, label="Mail worker", function="core.automate.tasks:run_mail_worker", interval=60,
             description="Sends due mail. While it is off, mail waits as PENDING."),
    TaskSpec(key=SWEEPER, label="Sweeper", function="core.automate.tasks:run_sweeper", interval=60,
             description="Re-queues events and mail whose wake-up Redis lost; takes back mail of "
                         "workers that died."),
    TaskSpec(key=RETENTION, label="Retention", function="core.automate.tasks:run_retention", interval=24 * 3600,
             description="Deletes SENT messages and their events older than the retention period."),
    # Hourly: each admin's digest goes out once their last one is a day old.
    TaskSpec(key=FAILURE_DIGEST, label="Failure digest", function="core.mail.failure_mail:run_digests",
             interval=3600,
             description="Mails the daily digest of failed mail to the admins who chose it."),
]


def task_specs(tenant_id: int) -> dict[str, TaskSpec]:
    """Every task of the plugins enabled for the tenant (the core's included).

    A plugin whose ``postwerk_tasks`` raises, or answers with something that
    is not a TaskSpec, is left out (logged with its name); the other
    plugins' tasks, the core's among them, run on."""
    specs: dict[str, TaskSpec] = {}
    failures: list = []
    for plugin, answer in registry().call_each("postwerk_tasks", tenant_id, failures=failures):
        bad = [spec for spec in answer or () if not isinstance(spec, TaskSpec)]
        if bad:
            log.error("plugin '%s' returned %r from postwerk_tasks, not a TaskSpec; its tasks are left out",
                      plugin, bad[0])
            continue
        for spec in answer or ():
            specs.setdefault(spec.key, spec)
    return specs


def resolve(spec: TaskSpec) -> Callable[[int], object]:
    """``package.module:function`` (or ``package.module.function``) -> the function."""
    module, sep, name = spec.function.partition(":")
    if not sep:
        module, _, name = spec.function.rpartition(".")
    return getattr(importlib.import_module(module), name)


# --- the core tasks ----------------------------------------------------------

def run_mail_worker(tenant_id: int) -> str:
    """Wake the expander and the deliverer for anything due (the delivery
    itself runs in the RQ workers, so a slow SMTP server never blocks AUTOMATE)."""
    from ..mail import jobs

    now = utcnow()
    due = db.session.execute(select(db.func.count()).select_from(Message).where(
        Message.tenant_id == tenant_id, Message.status == MessageStatus.PENDING,
        Message.next_attempt_at <= now)).scalar()
    new_events = db.session.execute(select(db.func.count()).select_from(Event).where(
        Event.tenant_id == tenant_id, Event.status == EventStatus.NEW)).scalar()
    if new_events:
        jobs.wake_expander(tenant_id)
    if due:
        jobs.wake_deliverer(tenant_id)
    return f"{due} message(s) due, {new_events} event(s) to expand"


def run_sweeper(tenant_id: int) -> str:
    from ..mail.sweeper import sweep

    result = sweep(tenant_id)
    return ", ".join(f"{k} {v}" for k, v in result.items())


def run_retention(tenant_id: int) -> str:
    state = db.session.get(AutomateState, tenant_id)
    days = state.retention_days if state is not None else DEFAULT_RETENTION_DAYS
    cutoff = utcnow() - timedelta(days=days)
    old = select(Message.id).where(Message.tenant_id == tenant_id, Message.status == MessageStatus.SENT,
                                   Message.sent_at < cutoff)
    # A resend keeps living when its original goes; only the link is dropped.
    db.session.execute(update(Message).where(Message.tenant_id == tenant_id, Message.resend_of_id.in_(old))
                       .values(resend_of_id=None))
    messages = db.session.execute(delete(Message).where(Message.id.in_(old))).rowcount
    # API idempotency keys are kept for days, not months: forget the old ones
    # here, so they neither pile up nor hold their events.
    keys = expire_idempotency_keys(tenant_id=tenant_id)
    # Events are deleted once old and no message (FAILED, UNKNOWN, ...) or
    # idempotency key still points at them.
    events = db.session.execute(delete(Event).where(
        Event.tenant_id == tenant_id, Event.created_at < cutoff,
        Event.status.notin_((EventStatus.NEW, EventStatus.FAILED)),  # a FAILED one waits to run again
        ~exists().where(Message.event_id == Event.id),
        ~exists().where(IdempotencyKey.event_id == Event.id))).rowcount
    db.session.commit()
    return (f"deleted {messages} message(s) and {events} event(s) older than {days} days, "
            f"{keys} expired API idempotency key(s)")


__all__ = ["CORE_TASKS", "MAIL_WORKER", "RETENTION", "SWEEPER", "resolve", "task_specs"]
