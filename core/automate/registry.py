"""Which AUTOMATE tasks a tenant has and how a task's function is found.

Apart from the core's task functions (``core.automate.tasks``), which drive
the mail pipeline: the state, the status and the scheduler need only the
task keys and specs, and the mail pipeline asks about the mail worker task,
so this part sits below the mail pipeline and the functions above it. A
task's function is named by import path and imported when it runs, for the
core's tasks as for a plugin's.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from sqlalchemy import select

from ..extensions import db
from ..models import Notification
from ..models.types import utcnow
from ..notify import notify
from ..plugins import HookFailure, registry
from ..specs import TaskSpec

log = logging.getLogger(__name__)

MAIL_WORKER = "mail_worker"
SWEEPER = "sweeper"
RETENTION = "retention"
FAILURE_DIGEST = "failure_digest"

CORE_TASKS = [
    TaskSpec(
        key=MAIL_WORKER,
        label="Mail worker",
        function="core.automate.tasks:run_mail_worker",
        interval=60,
        description="Sends due mail. While it is off, mail waits in the queue.",
    ),
    TaskSpec(
        key=SWEEPER,
        label="Check the queue",
        function="core.automate.tasks:run_sweeper",
        interval=60,
        description="Re-queues events and mail whose wake-up Redis lost; takes back mail of workers that died.",
    ),
    TaskSpec(
        key=RETENTION,
        label="Retention",
        function="core.automate.tasks:run_retention",
        interval=24 * 3600,
        description="Deletes sent messages and their events older than the retention period.",
    ),
    # Hourly: each admin's digest goes out once their last one is a day old.
    TaskSpec(
        key=FAILURE_DIGEST,
        label="Failure digest",
        function="core.mail.failure_mail:run_digests",
        interval=3600,
        description="Mails the daily digest of failed mail to the admins who chose it.",
    ),
]


def task_specs(tenant_id: int) -> dict[str, TaskSpec]:
    """Every task of the plugins enabled for the tenant (the core's included).

    A plugin whose ``postwerk_tasks`` raises, or answers with something that
    is not a TaskSpec, is left out and named in the tenant's notification log
    (see ``declared_tasks``); the other plugins' tasks, the core's among
    them, run on."""
    return declared_tasks(tenant_id).specs


@dataclass(frozen=True)
class TaskSource:
    """Tasks the core makes at run time rather than declares: their keys
    start with ``prefix``; ``specs(tenant_id)`` lists a tenant's, and
    ``run(rest_of_key, tenant_id)`` runs one. Registered by the module that
    owns them (``core.reports`` for scheduled report mails), which sits
    above this registry: the mail pipeline reads the registry, and a report
    mail goes through the pipeline."""

    prefix: str
    specs: Callable[[int], dict[str, TaskSpec]]
    run: Callable[[str, int], object]


_SOURCES: list[TaskSource] = []


def add_source(source: TaskSource) -> None:
    """Register a source of run-time tasks (once per prefix)."""
    if all(existing.prefix != source.prefix for existing in _SOURCES):
        _SOURCES.append(source)


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
            found.failures.append(
                HookFailure(
                    plugin, "postwerk_tasks", f"returned {bad[0]!r}, not a core.api.TaskSpec; its tasks are left out"
                )
            )
            continue
        for spec in answer or ():
            found.specs.setdefault(spec.key, spec)
            found.owners.setdefault(spec.key, plugin)
    # Tasks the core makes at run time (one per report schedule, core.reports).
    for source in _SOURCES:
        for key, spec in source.specs(tenant_id).items():
            found.specs.setdefault(key, spec)
    for failure in found.failures:
        notify_once(tenant_id, "error", f"AUTOMATE: {failure}")
    return found


def notify_once(tenant_id: int, level: str, text: str, within: timedelta = timedelta(days=1)) -> None:
    """A notification, unless the same text was noted within ``within``; committed."""
    seen = db.session.execute(
        select(Notification.id)
        .where(
            Notification.tenant_id == tenant_id, Notification.text == text, Notification.created_at > utcnow() - within
        )
        .limit(1)
    ).scalar()
    if seen is None:
        notify(tenant_id, level, text)
        db.session.commit()


def resolve(spec: TaskSpec) -> Callable[[int], object]:
    """``package.module:function`` (or ``package.module.function``) -> the function."""
    for source in _SOURCES:
        if spec.key.startswith(source.prefix):
            # One function for all of a source's tasks: it learns which from the key.
            return partial(source.run, spec.key[len(source.prefix) :])
    module, sep, name = spec.function.partition(":")
    if not sep:
        module, _, name = spec.function.rpartition(".")
    return getattr(importlib.import_module(module), name)
