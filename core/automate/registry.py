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

from ..plugins import registry
from ..specs import TaskSpec

log = logging.getLogger(__name__)

MAIL_WORKER = "mail_worker"
SWEEPER = "sweeper"
RETENTION = "retention"

CORE_TASKS = [
    TaskSpec(key=MAIL_WORKER, label="Mail worker", function="core.automate.tasks:run_mail_worker", interval=60,
             description="Sends due mail. While it is off, mail waits as PENDING."),
    TaskSpec(key=SWEEPER, label="Sweeper", function="core.automate.tasks:run_sweeper", interval=60,
             description="Re-queues events and mail whose wake-up Redis lost; takes back mail of "
                         "workers that died."),
    TaskSpec(key=RETENTION, label="Retention", function="core.automate.tasks:run_retention", interval=24 * 3600,
             description="Deletes SENT messages and their events older than the retention period."),
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
