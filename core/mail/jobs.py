"""The RQ jobs of the mail pipeline: expand events, deliver messages.

Each job works through everything due for one tenant in batches and is
woken (deduplicated) by ``core.queueing.wake``; the database says what is
due, so a duplicate or lost job is harmless.
"""

from __future__ import annotations

import functools
import logging
import time

from flask import current_app, g
from redis.exceptions import RedisError
from rq import get_current_job
from sqlalchemy import bindparam, insert, null, update

from .. import attachments as attachment_store
from .. import metrics, wakeups
from ..automate.models import AutomateState, TaskState
from ..automate.registry import MAIL_WORKER
from ..extensions import db
from ..jobs import in_app_context
from ..logs import bound
from ..models import Event, EventStatus, Message, MessageStatus
from ..models.message import Priority
from ..models.types import utcnow
from ..notify import notify
from ..plugins import HookFailure, PluginHookError, describe
from .. import queueing
from ..queueing import TenantMutex, clear_wake
from . import delivery, expansion

log = logging.getLogger(__name__)

EXPAND_BATCH = 200
# Under a trickle (events committed one at a time) a job that ended as soon
# as it found nothing made one RQ job per few events: each job's overhead,
# a new SMTP connection per delivery job and batches of 3-6 events. Instead
# a job that ran out of work waits in steps of LINGER_POLL_SECONDS, up to
# LINGER_IDLE_SECONDS without new work, before it ends. Only the waiting
# is added: the first event or mail after a quiet period is taken at once
# by a fresh job, later ones within one poll step. It never waits while
# other jobs are queued (another tenant's), nor beyond LINGER_MAX_SECONDS
# of the job's life (settings and rules are read again by the next job).
LINGER_IDLE_SECONDS = 0.5  # POSTWERK_LINGER_SECONDS
LINGER_POLL_SECONDS = 0.02
LINGER_MAX_SECONDS = 10.0
EXPAND_GATHER_SECONDS = 0.05
QUEUED_WAIT_SECONDS = 0.05  # a job queued this long finds no free worker


# Kept here too (the same functions): callers of the mail pipeline wake its jobs from here.
wake_expander = wakeups.wake_expander
wake_deliverer = wakeups.wake_deliverer


def in_system_lane() -> bool:
    """Whether the running job was taken from the system queue (woken for a
    sign-in code, a password reset, an emit(priority=SYSTEM)). Such a job
    does only the system work and gives its worker back at once: the
    tenant's other work has its own jobs, and a system job that took on a
    bulk backlog would make the next sign-in code wait behind it."""
    job = get_current_job()
    return job is not None and job.origin == queueing.queue_name(queueing.PRIORITY_KINDS[Priority.SYSTEM])


class Linger:
    """The waiting of a job that found no work (see LINGER_IDLE_SECONDS).

    While it waits the job holds its wake key (with its own job id and a
    short expiry renewed at every step), so a producer's commit costs a
    failed SET NX instead of enqueueing a job, and the sweeper sees a live
    job. ``release()`` clears the key; the caller then looks for work once
    more, so nothing committed meanwhile waits for the sweeper.
    """

    def __init__(self, key: str, has_work):
        self.key = key
        self.has_work = has_work
        job = get_current_job()
        # Only in a long-running worker: a burst worker, a test or the CLI
        # calling the job directly end as soon as nothing is left.
        self.worker = g.get("postwerk_worker")
        self.job_id = job.id if job is not None and self._worker_lingers() else None
        self.started = time.monotonic()
        self.idle_since: float | None = None
        self.progress = -1
        config = current_app.config
        self.idle = config.get("LINGER_SECONDS", LINGER_IDLE_SECONDS)
        self.poll = LINGER_POLL_SECONDS
        self.max = max(LINGER_MAX_SECONDS, 4 * self.idle)
        self.holding = False

    def _worker_lingers(self) -> bool:
        return bool(getattr(self.worker, "lingers", False))

    @property
    def gathers(self) -> bool:
        """Whether this job may wait a moment for work to gather."""
        return self.job_id is not None and self.idle > 0

    def too_old(self) -> bool:
        """Whether a lingering job has lived long enough (LINGER_MAX_SECONDS)."""
        return self.gathers and time.monotonic() - self.started >= self.max

    def __call__(self, progress: int = 0) -> bool:
        """Wait one step for work; False when the job should end."""
        if self.job_id is None or self.idle <= 0:
            return False
        now = time.monotonic()
        if progress != self.progress or self.idle_since is None:
            self.progress, self.idle_since = progress, now
        if now - self.idle_since >= self.idle or now - self.started >= self.max:
            return False
        try:
            conn = queueing.redis()
            conn.set(self.key, self.job_id, ex=max(2, int(self.idle * 4)))
            self.holding = True
            waiting_since = None
            while time.monotonic() - self.idle_since < self.idle:
                if queueing.waiting() == 0:
                    waiting_since = None
                elif waiting_since is None:
                    waiting_since = time.monotonic()  # a free worker takes it at once (often our own wake)
                elif time.monotonic() - waiting_since >= QUEUED_WAIT_SECONDS:
                    return False  # jobs wait for a worker: give this one back
                time.sleep(self.poll)
                if not self._worker_lingers():
                    return False  # the worker is asked to stop
                if self.has_work():
                    return True
        except RedisError:
            pass
        return False

    def release(self) -> None:
        if self.holding:
            self.holding = False
            clear_wake(self.key)


@in_app_context
def expand_events(tenant_id: int, wake_key: str | None = None) -> int:
    """Expand every NEW event of a tenant into messages; returns how many.

    One expander per tenant at a time: two would render the same events and
    throw one rendering away. A job woken while another runs ends at once
    and leaves its wake key in place, so further wakes wait for the running
    one instead of queueing more jobs that end at once; the running one
    clears the key after letting go and looks for NEW events once more.
    """
    if in_system_lane():
        return _expand_system_events(tenant_id, wake_key)
    mutex = TenantMutex("expand_events", tenant_id)
    if not mutex.acquire():
        return 0
    clear_wake(wake_key)
    total = 0
    linger = Linger(queueing.wake_key(expand_events.__name__, tenant_id), lambda: _any_new_event(tenant_id))
    # The context (tenant, settings, templates, rules) stays loaded across
    # the job's commits: expired after each, it was read again row by row
    # for every batch, which under a trickle meant a query per few events.
    db.session().expire_on_commit = False
    try:
        ctx = expansion.ExpansionContext(tenant_id)
        while True:
            ids = _new_events(tenant_id, EXPAND_BATCH)
            if ids:
                total += _expand_batch(ctx, ids)
                mutex.renew()
                if linger.too_old():
                    break  # a successor (woken below) reads the rules and templates again
                if len(ids) < EXPAND_BATCH and linger.gathers:
                    # A trickle: let the next events gather for a moment
                    # instead of taking them in batches of one or two (the
                    # first batch after a quiet period went at once).
                    time.sleep(EXPAND_GATHER_SECONDS)
                continue
            db.session.commit()  # no read transaction (SQLite's snapshot) held while lingering
            if not linger(total):
                break
            mutex.renew()
        linger.release()
        mutex.release()
        # Every priority's key: a system wake that found this job running
        # ended at once and left its key, which would swallow the next
        # system wake after this job is gone.
        for priority in queueing.PRIORITY_KINDS:
            clear_wake(queueing.wake_key(expand_events.__name__, tenant_id, priority=priority))
        if _new_events(tenant_id, 1):
            wake_expander(tenant_id)
    finally:
        mutex.release()
        db.session().expire_on_commit = True
        db.session.remove()
    return total


def _expand_system_events(tenant_id: int, wake_key: str | None) -> int:
    """The system lane's expander: only events emitted with priority=SYSTEM,
    beside the tenant's expander (under a mutex of its own) instead of
    behind it. Waiting for the tenant's expander meant waiting for the batch
    of up to EXPAND_BATCH bulk events it was rendering (bench.priority).
    Should both take the same event, the update NEW -> EXPANDED lets one of
    them have it (``_expand_batch``); the other's rendering is thrown away."""
    mutex = TenantMutex("expand_events:system", tenant_id)
    if not mutex.acquire():
        return 0  # the key stays: the running one looks once more after letting go
    clear_wake(wake_key)
    total = 0
    try:
        ctx = expansion.ExpansionContext(tenant_id)
        while ids := _new_events(tenant_id, EXPAND_BATCH, min_priority=Priority.SYSTEM):
            total += _expand_batch(ctx, ids, wake=False)
            mutex.renew()
        mutex.release()
        # A system job that found this one running ended at once and left
        # its key, which would swallow the wake below.
        clear_wake(queueing.wake_key(expand_events.__name__, tenant_id, priority=Priority.SYSTEM))
        if _new_events(tenant_id, 1, min_priority=Priority.SYSTEM):
            wake_expander(tenant_id, priority=Priority.SYSTEM)
    finally:
        mutex.release()
        db.session.remove()
    if total:
        # Sent by this job at once: a delivery job of its own waited for a
        # worker a second time (bench.priority: 80 ms at the median, 270 ms
        # at the 95th percentile with the machine's load at 9).
        try:
            deliver_messages(tenant_id)
        except Exception:
            wake_deliverer(tenant_id, priority=Priority.SYSTEM)
            raise
    return total


@functools.cache
def _statement(name: str, limit: int = 1, by_priority: bool = False):
    """The pipeline's recurring queries, built once (values bound at
    execution): under a trickle a job runs them every few events and every
    poll step, and building a statement cost more CPU than running it."""
    if name == "new_events":
        due = db.select(Event.id).where(Event.tenant_id == bindparam("_tenant"), Event.status == EventStatus.NEW)
        if by_priority:  # the system lane's expander (_expand_system_events)
            due = due.where(Event.priority >= bindparam("_min_priority"))
        return (
            due
            # Priority lane: an event emitted with priority=SYSTEM is expanded
            # before a backlog of other events (NULL: the rules decide, as 1).
            .order_by(db.func.coalesce(Event.priority, 1).desc(), Event.id).limit(limit)
        )
    if name == "any_new_event":
        return (
            db.select(Event.id).where(Event.tenant_id == bindparam("_tenant"), Event.status == EventStatus.NEW).limit(1)
        )
    if name == "any_due_message":
        return (
            db.select(Message.id)
            .where(
                Message.tenant_id == bindparam("_tenant"),
                Message.status == MessageStatus.PENDING,
                Message.next_attempt_at <= bindparam("_now"),
            )
            .limit(1)
        )
    if name == "paused":
        return db.select(AutomateState.paused).where(AutomateState.tenant_id == bindparam("_tenant"))
    if name == "mail_worker_enabled":
        return db.select(TaskState.enabled).where(
            TaskState.tenant_id == bindparam("_tenant"), TaskState.task_key == MAIL_WORKER
        )
    if name == "events_of_batch":
        return (
            db.select(Event)
            .where(Event.id.in_(bindparam("_ids", expanding=True)), Event.status == EventStatus.NEW)
            .order_by(Event.id)
        )
    if name == "take_events":
        return (
            update(Event)
            .where(Event.id.in_(bindparam("_ids", expanding=True)), Event.status == EventStatus.NEW)
            .values(status=EventStatus.EXPANDED, expanded_at=bindparam("_now"), error=null(), failures=null())
            .returning(Event.id)
            .execution_options(synchronize_session=False)
        )
    raise KeyError(name)


def _new_events(tenant_id: int, limit: int, min_priority: int | None = None) -> list[int]:
    if min_priority is None:
        return db.session.execute(_statement("new_events", limit), {"_tenant": tenant_id}).scalars().all()
    statement = _statement("new_events", limit, by_priority=True)
    return db.session.execute(statement, {"_tenant": tenant_id, "_min_priority": min_priority}).scalars().all()


def _any_new_event(tenant_id: int) -> bool:
    # Own short connection: the session's objects (the expansion context)
    # stay loaded, and no read transaction is held between the steps.
    with db.engine.connect() as conn:
        return conn.execute(_statement("any_new_event"), {"_tenant": tenant_id}).first() is not None


def _any_due_message(tenant_id: int) -> bool:
    with db.engine.connect() as conn:
        return conn.execute(_statement("any_due_message"), {"_tenant": tenant_id, "_now": utcnow()}).first() is not None


def _deliverable(tenant_id: int) -> bool:
    """Due mail that AUTOMATE does not hold, read afresh: a pause or the mail
    worker task switched off while a delivery job lingers ends its waiting,
    as ``deliver_due`` would hold a new job (core.automate.status)."""
    with db.engine.connect() as conn:
        if conn.execute(_statement("any_due_message"), {"_tenant": tenant_id, "_now": utcnow()}).first() is None:
            return False
        paused = conn.execute(_statement("paused"), {"_tenant": tenant_id}).scalar_one_or_none()
        enabled = conn.execute(_statement("mail_worker_enabled"), {"_tenant": tenant_id}).scalar_one_or_none()
    return not paused and enabled is not False


def _expand_batch(ctx: expansion.ExpansionContext, ids: list[int], *, wake: bool = True) -> int:
    """Expand and write one batch; ``wake=False``: the caller sends the
    mail itself (the system lane's expander)."""
    events = db.session.execute(_statement("events_of_batch"), {"_ids": ids}).scalars().all()
    # Render before taking anything: on SQLite the first write takes the one
    # lock of the whole file, and rendering a batch inside the transaction
    # held it for tens of milliseconds, stalling every web request's emit().
    results: dict[int, tuple[list[dict], list[dict], list[str]]] = {}
    if events:
        ctx.refresh_suppressions()
    files: dict[int, list] = {}  # what plugins attach, by event: stored below, in the write transaction
    for event in events:
        failures: list[dict] = []
        skipped: list[str] = []
        try:
            with bound(event_id=event.id):
                results[event.id] = (
                    expansion.expand(event, ctx, failures=failures, skipped=skipped, files=files),
                    failures,
                    skipped,
                )
        except Exception as exc:  # a bug outside the isolated hooks: keep the event, say why, go on
            with bound(event_id=event.id):
                log.exception("expanding event %s failed", event.id)
            failure = (
                exc.failure.as_dict()
                if isinstance(exc, PluginHookError)
                else {"plugin": None, "hook": None, "error": describe(exc)}
            )
            results[event.id] = [], [dict(failure, rule_id=None)], []
    # Taking the events (NEW -> EXPANDED) happens in the same transaction as
    # writing their messages: a concurrent expander finds nothing left to
    # take, and what it took first is left out here (its rendering wasted).
    taken = set(
        db.session.execute(_statement("take_events"), {"_ids": [e.id for e in events], "_now": utcnow()}).scalars()
    )
    rows: list[dict] = []
    given = attachment_store.of_events([e.id for e in events if e.id in taken])
    links: dict[str, list] = {}  # Message-ID -> the files it carries
    for event in events:
        if event.id not in taken:
            continue
        event_rows, failures, skipped = results[event.id]
        refs = given.get(event.id, []) + (
            attachment_store.store_all(ctx.tenant.id, files[event.id]) if event.id in files and event_rows else []
        )
        if refs:
            for row in event_rows:
                row["attachments"] = len(refs)
                links[row["message_id"]] = refs
        rows.extend(event_rows)
        for reason in skipped:
            notify(ctx.tenant.id, "warning", f"Event #{event.id} ({event.key}): {reason}")
        if failures:
            _record_failures(ctx.tenant.id, event, failures)
    pending = [r for r in rows if r["status"] == MessageStatus.PENDING]
    failed = [Message(**r) for r in rows if r["status"] != MessageStatus.PENDING]
    if pending:
        # One executemany for the batch: the ORM's unit of work per object
        # cost more than rendering the mail.
        db.session.execute(insert(Message.__table__), pending)
    db.session.add_all(failed)
    if links:
        db.session.flush()
        ids = db.session.execute(
            db.select(Message.message_id, Message.id).where(
                Message.tenant_id == ctx.tenant.id, Message.message_id.in_(list(links))
            )
        ).all()
        attachment_store.attach_to_messages([(pk, links[mid]) for mid, pk in ids])
    db.session.commit()
    # A CANCELLED row (an opt-out of bulk mail) is no failure: nothing to report.
    failed = [m for m in failed if m.status == MessageStatus.FAILED]
    for message in failed:
        delivery.record_permanent_failure(message, message.last_error or "failed")
    if failed:
        db.session.commit()
    if pending and wake:
        wake_deliverer(ctx.tenant.id, priority=max(r["priority"] for r in pending))
    return len(taken)


def _record_failures(tenant_id: int, event: Event, failures: list[dict]) -> None:
    """The event stays FAILED, with each failed part, until it is run again
    (``core.event_retry``); the admin hears of it in the notification log."""
    texts = [failure_text(f) for f in failures]
    db.session.execute(
        update(Event)
        .where(Event.id == event.id)
        .values(status=EventStatus.FAILED, error="; ".join(dict.fromkeys(texts)), failures=failures)
        .execution_options(synchronize_session=False)
    )
    for text in dict.fromkeys(texts):
        notify(tenant_id, "error", f"Event #{event.id} ({event.key}) was not fully mailed: {text}")


def failure_text(failure: dict) -> str:
    if failure.get("plugin"):
        return str(HookFailure(failure["plugin"], failure["hook"], failure["error"]))
    return failure["error"]


@in_app_context
def deliver_messages(tenant_id: int, wake_key: str | None = None, lane: int = 0) -> dict:
    """Send every due message of a tenant; schedules a wake for retries.

    Lane 0 is the tenant's deliverer; while it finds a backlog it wakes a
    helper in the next lane, each on its own connection, up to the lanes
    allowed (see ``delivery.Delivery.lanes``).
    """
    clear_wake(wake_key)
    system = in_system_lane()
    # Lane 0 lingers (keeping its SMTP connection); helpers end when idle.
    # A system job neither lingers nor calls helpers: it sends the system
    # mail that is due and gives its worker back (see ``in_system_lane``).
    linger = (
        Linger(queueing.wake_key(deliver_messages.__name__, tenant_id), lambda: _deliverable(tenant_id))
        if lane == 0 and not system
        else None
    )
    try:
        try:
            stats = delivery.deliver_due(
                tenant_id,
                lane=lane,
                linger=linger,
                call_helper=None if system else lambda: wake_deliverer(tenant_id, lane=lane + 1),
                min_priority=Priority.SYSTEM if system else None,
            )
            metrics.count_deliveries(vars(stats))
            if system and _any_due_message(tenant_id):
                # The rest of the tenant's mail, woken with the system mail
                # (a batch of events held both), goes with its own job.
                wake_deliverer(tenant_id)
        finally:
            if linger is not None and linger.holding:
                linger.release()
                # Committed while the key was held: nobody else was woken.
                if _any_due_message(tenant_id):
                    wake_deliverer(tenant_id)
        for delay in sorted(stats.retry_delays):
            wake_deliverer(tenant_id, delay=delay, priority=Priority.SYSTEM if system else 1)
        if stats.more:
            wake_deliverer(tenant_id, lane=lane, priority=Priority.SYSTEM if system else 1)
        return {
            "sent": stats.sent,
            "retried": stats.retried,
            "failed": stats.failed,
            "unknown": stats.unknown,
            "held": stats.held,
        }
    finally:
        db.session.remove()
