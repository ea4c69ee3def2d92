"""Prometheus metrics, and what /readyz checks.

Most figures are read at scrape time from where the truth is (the database,
RQ's registries in Redis): messages by status and tenant, the age of the
oldest due PENDING mail, queue depth, workers seen, the last scheduler tick.
Nothing on the hot path pays for them. Only what cannot be read afterwards is
counted where it happens, each with one call in one place:

- deliveries per outcome        ``core.mail.jobs.deliver_messages``
- SMTP latency                  ``core.mail.transport.SmtpTransport.send``
- expansion / delivery job time ``core.worker.PostwerkWorker.perform_job``
- inbound mails by outcome      ``core.api.call_inbound``
- scheduler ticks               ``core.automate.scheduler.Scheduler.tick``

Several processes (gunicorn's workers, ``postwerk worker``s on one machine)
share their counters through prometheus-client's multiprocess mode: set
``PROMETHEUS_MULTIPROC_DIR`` to an empty folder, the same for every process
of the machine, before they start (docs/operations.md).
"""

from __future__ import annotations

import logging
import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .extensions import db
from .models import Message, MessageStatus, Tenant
from .queueing import queue, queues, redis

log = logging.getLogger(__name__)

DELIVERIES = Counter("postwerk_deliveries", "Delivery attempts by outcome", ["outcome"])
SMTP_SECONDS = Histogram(
    "postwerk_smtp_send_seconds",
    "Time to hand one message to the SMTP server",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOB_SECONDS = Histogram(
    "postwerk_job_seconds",
    "Run time of RQ jobs",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600),
)
INBOUND = Counter("postwerk_inbound_mails", "Inbound mails offered to the plugins, by outcome", ["outcome"])
SCHEDULER_TICKS = Counter("postwerk_scheduler_ticks", "AUTOMATE scheduler ticks", ["outcome"])

OUTCOMES = ("sent", "retried", "failed", "unknown")
SCHEDULER_STALE_SECONDS = 120  # /readyz: a scheduler that has not ticked for this long is missing


def count_deliveries(stats: dict) -> None:
    for outcome in OUTCOMES:
        if stats.get(outcome):
            DELIVERIES.labels(outcome).inc(stats[outcome])


def tick_key() -> str:
    from flask import current_app

    return f"{current_app.config['QUEUE_PREFIX']}:automate:last_tick"


def scheduler_ticked(ok: bool = True) -> None:
    """Count a tick and leave its time in Redis for /readyz and /metrics."""
    from redis.exceptions import RedisError

    SCHEDULER_TICKS.labels("ok" if ok else "failed").inc()
    try:
        redis().set(tick_key(), f"{time.time():.3f}", ex=24 * 3600)
    except RedisError:
        pass  # the tick itself already said so


# --- read at scrape time ---------------------------------------------------------


def last_tick_age() -> float | None:
    value = redis().get(tick_key())
    return None if value is None else max(0.0, time.time() - float(value))


def workers_seen() -> int:
    from rq import Worker

    return Worker.count(queue=queue())


class DatabaseCollector:
    """Gauges computed from the database and Redis on every scrape."""

    def collect(self):
        from datetime import datetime, timezone

        from sqlalchemy import func, select

        slugs = dict(db.session.execute(select(Tenant.id, Tenant.slug)).all())
        messages = GaugeMetricFamily("postwerk_messages", "Messages by tenant and status", labels=["tenant", "status"])
        for tenant_id, status, count in db.session.execute(
            select(Message.tenant_id, Message.status, func.count()).group_by(Message.tenant_id, Message.status)
        ):
            messages.add_metric([slugs.get(tenant_id, str(tenant_id)), status], count)
        yield messages

        oldest = GaugeMetricFamily(
            "postwerk_oldest_pending_seconds",
            "Age of the oldest PENDING message that is due, per tenant",
            labels=["tenant"],
        )
        now = datetime.now(timezone.utc)
        for tenant_id, created in db.session.execute(
            select(Message.tenant_id, func.min(Message.created_at))
            .where(Message.status == MessageStatus.PENDING, Message.next_attempt_at <= now)
            .group_by(Message.tenant_id)
        ):
            if created is not None:
                if created.tzinfo is None:
                    created = created.replace(tzinfo=timezone.utc)
                oldest.add_metric([slugs.get(tenant_id, str(tenant_id))], (now - created).total_seconds())
        yield oldest

        try:
            depth = GaugeMetricFamily("postwerk_queue_depth", "Jobs waiting in each RQ queue", labels=["queue"])
            for q in queues():
                depth.add_metric([q.name], q.count)
            yield depth
            yield GaugeMetricFamily("postwerk_workers", "RQ workers registered on the queue", value=workers_seen())
            age = last_tick_age()
            if age is not None:
                yield GaugeMetricFamily(
                    "postwerk_scheduler_last_tick_seconds", "Seconds since the last AUTOMATE scheduler tick", value=age
                )
        except Exception as exc:  # Redis away: the database figures still count
            log.warning("metrics from Redis unavailable: %s", exc)


def render() -> bytes:
    """The exposition text: this process's (or, in multiprocess mode, every
    process's) counters plus the scrape-time gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
        text = generate_latest(REGISTRY)
        extra = CollectorRegistry()
        extra.register(DatabaseCollector())
        return text + generate_latest(extra)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
