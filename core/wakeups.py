"""Waking the mail jobs, for code below the mail pipeline.

An event committed (``core.events``), events retried (``core.event_retry``)
or AUTOMATE resumed (``core.automate.state``) wakes the expander or the
deliverer. Those callers sit below the mail pipeline, so they name its jobs
the way RQ itself does, by import path: enqueueing needs only the name, the
worker imports the job. ``tests/test_layers.py`` checks that the names
point at the real jobs of ``core.mail.jobs``.
"""

from __future__ import annotations

from .queueing import wake

EXPAND_EVENTS = "core.mail.jobs.expand_events"
DELIVER_MESSAGES = "core.mail.jobs.deliver_messages"


def wake_expander(tenant_id: int, *, priority: int = 1) -> bool:
    return wake(EXPAND_EVENTS, tenant_id, priority=priority)


def wake_deliverer(tenant_id: int, delay: float | None = None, *, lane: int = 0, priority: int = 1) -> bool:
    """``priority``: the highest priority of the mail this wake is for; it
    picks the RQ queue (a system wake does not wait behind other jobs)."""
    return wake(DELIVER_MESSAGES, tenant_id, delay=delay, lane=lane, priority=priority)
