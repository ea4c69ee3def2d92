"""The core's own AUTOMATE tasks (contributed by the core plugin through the
same ``postwerk_tasks`` hook a plugin uses) and how a task is looked up."""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from flask import current_app
from sqlalchemy import delete, exists, select, update

from .. import attachments
from ..extensions import db
from ..http_api import expire_idempotency_keys
from ..models import Event, EventStatus, IdempotencyKey, Message, MessageStatus, Notification, User, WebSession
from ..models.types import utcnow
from ..notify import notify
from ..plugins import HookFailure, registry
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
    is not a TaskSpec, is left out and named in the tenant's notification log
    (see ``declared_tasks``); the other plugins' tasks, the core's among
    them, run on."""
    return declared_tasks(tenant_id).specs


@dataclass
class DeclaredTasks:
    specs: dict[str, TaskSpec] = field(default_factory=dict)
    #: task key -> the plugin that declared it (named when a run fails)
    owners: dict[str, str] = field(default_factory=dict)
    failures: list[HookFailure] = field(default_factory=list)


def declared_tasks(tenant_id: int) -> DeclaredTasks:
    """The tenant's tasks with their plugins, and the plugins whose
    ``postwerk_tasks`` failed: each failure goes to the notification log
    once per day and text (this runs on every scheduler tick), so the admin
    sees it without the log filling up."""
    found = DeclaredTasks()
    for plugin, answer in registry().call_each("postwerk_tasks", tenant_id, failures=found.failures):
        bad = [spec for spec in answer or () if not isinstance(spec, TaskSpec)]
        if bad:
            found.failures.append(HookFailure(plugin, "postwerk_tasks",
                                              f"returned {bad[0]!r}, not a core.api.TaskSpec; its tasks are left out"))
            continue
        for spec in answer or ():
            found.specs.setdefault(spec.key, spec)
            found.owners.setdefault(spec.key, plugin)
    # Scheduled report mails are tasks of their own, one per schedule (core.reports).
    from .. import reports

    for key, spec in reports.task_specs(tenant_id).items():
        found.specs.setdefault(key, spec)
    for failure in found.failures:
        notify_once(tenant_id, "error", f"AUTOMATE: {failure}")
    return found


def notify_once(tenant_id: int, level: str, text: str, within: timedelta = timedelta(days=1)) -> None:
    """A notification, unless the same text was noted within ``within``; committed."""
    seen = db.session.execute(select(Notification.id).where(
        Notification.tenant_id == tenant_id, Notification.text == text,
        Notification.created_at > utcnow() - within).limit(1)).scalar()
    if seen is None:
        notify(tenant_id, level, text)
        db.session.commit()


def resolve(spec: TaskSpec) -> Callable[[int], object]:
    """``package.module:function`` (or ``package.module.function``) -> the function."""
    from .. import reports

    if spec.key.startswith(reports.TASK_PREFIX):
        # One function for every schedule: it learns which one from the key.
        return partial(reports.run_schedule, int(spec.key[len(reports.TASK_PREFIX):]))
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
    # A stored attachment goes with the last message (or event) that carries it.
    files = attachments.prune(tenant_id)
    sessions = expire_ended_sessions(tenant_id)
    db.session.commit()
    return (f"deleted {messages} message(s) and {events} event(s) older than {days} days, "
            f"{files} attachment file(s) no longer used, {keys} expired API idempotency key(s), "
            f"{sessions} ended log-in session(s)")


def expire_ended_sessions(tenant_id: int) -> int:
    """Delete the log-in sessions of the tenant's users that ended (idle or
    too old) without a logout: a log-in clears only its own user's rows, so
    a user who never comes back would leave one behind for ever."""
    now = utcnow()
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    longest = timedelta(hours=current_app.config["SESSION_MAX_HOURS"])
    return db.session.execute(delete(WebSession).where(
        WebSession.user_id.in_(select(User.id).where(User.tenant_id == tenant_id)),
        (WebSession.last_seen_at < now - idle) | (WebSession.started_at < now - longest))).rowcount


__all__ = ["CORE_TASKS", "MAIL_WORKER", "RETENTION", "SWEEPER", "declared_tasks", "notify_once", "resolve",
           "task_specs"]
