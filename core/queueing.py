"""RQ queues and the wake-up signal.

Redis only wakes workers; the database holds the truth (DESIGN invariant 1).
A wake is deduplicated with a short-lived Redis key per (job, tenant): the job
deletes its key *before* it reads the database, so anything committed after
that moment wakes a new job, and anything committed before is seen by it.
If Redis is unreachable the wake is dropped and the sweeper catches up.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

WAKE_TTL_SECONDS = 300  # a lost job can block wakes at most this long; the sweeper covers it


# Threads of one process that ask at once must share one client, not each
# make their own and drop all but the last.
_client_lock = threading.Lock()


def redis() -> Redis:
    conn = current_app.extensions.get("postwerk.redis")
    if conn is None:
        with _client_lock:
            conn = current_app.extensions.get("postwerk.redis")
            if conn is None:
                conn = _client()
                current_app.extensions["postwerk.redis"] = conn
    return conn


def _wake_redis() -> Redis:
    """A client holding one connection (behind redis-py's lock) for the
    wake-up's SET NX, the one Redis command of every committing request:
    without taking and probing a pooled connection each time it costs 57
    instead of 87 µs of CPU here."""
    conn = current_app.extensions.get("postwerk.redis.wake")
    if conn is None:
        with _client_lock:
            conn = current_app.extensions.get("postwerk.redis.wake")
            if conn is None:
                conn = _client(single_connection_client=True)
                current_app.extensions["postwerk.redis.wake"] = conn
    return conn


def _client(**options) -> Redis:
    return Redis.from_url(
        current_app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2, health_check_interval=30, **options
    )


# One RQ queue per priority (models.message.Priority: 2 system, 1
# transactional, 0 bulk); workers listen to them in this order, so a job
# woken for a sign-in code is taken before every job already waiting for
# other mail, whichever tenant's.
PRIORITY_KINDS = {2: "mail-system", 1: "mail", 0: "mail-bulk"}


def queue_name(kind: str = "mail") -> str:
    return f"{current_app.config['QUEUE_PREFIX']}-{kind}"


def queue(kind: str = "mail") -> Queue:
    return Queue(queue_name(kind), connection=redis())


def queues() -> list[Queue]:
    """The mail queues in the order workers take jobs from them."""
    return [queue(PRIORITY_KINDS[p]) for p in sorted(PRIORITY_KINDS, reverse=True)]


def waiting() -> int:
    """Jobs waiting for a worker in all mail queues."""
    conn = redis()
    pipe = conn.pipeline()
    for q in queues():
        pipe.llen(q.key)
    return sum(pipe.execute())


SLOT_WANTED_SECONDS = 5  # how long a system job's call for a connection slot stands


def system_waiting(tenant_id: int | None = None) -> bool:
    """Whether a job waits in the system queue (for a sign-in code, say), or
    a running system job of ``tenant_id`` waits for one of the tenant's
    connection slots (``want_slot``): a job sending other mail then gives
    its worker and its connection back (core.mail.delivery)."""
    if tenant_id is None:
        return redis().llen(queue(PRIORITY_KINDS[2]).key) > 0
    pipe = redis().pipeline(transaction=False)
    pipe.llen(queue(PRIORITY_KINDS[2]).key)
    pipe.exists(_slot_wanted_key(tenant_id))
    queued, wanted = pipe.execute()
    return queued > 0 or bool(wanted)


def _slot_wanted_key(tenant_id: int) -> str:
    return f"{current_app.config['QUEUE_PREFIX']}:slot-wanted:{tenant_id}"


def want_slot(tenant_id: int, wanted: bool = True) -> None:
    """Call for (or, ``wanted=False``, withdraw the call for) one of the
    tenant's connection slots, all held by jobs sending other mail. Expires
    by itself: a system job that died cannot stall the others for long."""
    try:
        if wanted:
            redis().set(_slot_wanted_key(tenant_id), 1, ex=SLOT_WANTED_SECONDS)
        else:
            redis().delete(_slot_wanted_key(tenant_id))
    except RedisError as exc:
        log.warning("could not call for a connection slot of tenant %s: %s", tenant_id, exc)


def wake_key(job_name: str, tenant_id: int, lane: int = 0, priority: int = 1) -> str:
    key = f"{current_app.config['QUEUE_PREFIX']}:wake:{job_name}:{tenant_id}"
    if priority != 1:
        # Its own key: a transactional job already waiting must not swallow
        # the wake of a system one (it waits in a slower queue).
        key += f":p{priority}"
    return f"{key}:lane:{lane}" if lane else key


def wake(
    func, tenant_id: int, *, delay: float | None = None, timeout: int | None = None, lane: int = 0, priority: int = 1
) -> bool:
    """Enqueue ``func(tenant_id)`` unless such a job is already waiting.

    ``lane`` > 0 asks for a helper job running beside the first one (called
    as ``func(tenant_id, key, lane)``), deduplicated per lane. ``priority``
    picks the RQ queue (PRIORITY_KINDS). Returns whether a job was
    enqueued. Never raises for Redis trouble. ``func`` is the job function
    or its import path (``"core.mail.jobs.expand_events"``), as RQ takes
    either: code below the mail pipeline wakes it by name (``core.wakeups``).
    """
    name = func.rsplit(".", 1)[-1] if isinstance(func, str) else func.__name__
    if priority not in PRIORITY_KINDS:
        raise ValueError(f"unknown priority {priority!r}")
    key = wake_key(name, tenant_id, lane, priority)
    if delay:
        # Delayed wakes (retries) are deduplicated per second of due time.
        key += f":at:{int(time.time() + delay)}"
    # The key holds the job's id, so the sweeper can tell a waiting job from
    # a key left behind by a job that died (see ``rewake``).
    lane_part = f"-lane{lane}" if lane else ""
    job_id = f"{name}-{tenant_id}{lane_part}-{uuid.uuid4().hex}"
    try:
        if not _wake_redis().set(key, job_id, nx=True, ex=WAKE_TTL_SECONDS + int(delay or 0)):
            return False
        q = queue(PRIORITY_KINDS[priority])
        kwargs = dict(
            job_timeout=timeout or current_app.config["DELIVERY_JOB_TIMEOUT"],
            job_id=job_id,
            result_ttl=0,
            failure_ttl=24 * 3600,
            description=f"{name}(tenant={tenant_id})",
        )
        args = (tenant_id, key, lane) if lane else (tenant_id, key)
        if delay:
            q.enqueue_in(timedelta(seconds=delay), func, *args, **kwargs)
        else:
            q.enqueue(func, *args, **kwargs)
        return True
    except RedisError as exc:
        log.warning("could not wake %s for tenant %s (Redis: %s); the sweeper will", name, tenant_id, exc)
        return False


class TenantMutex:
    """At most one job of a kind per tenant at a time, across every worker.

    redis-py's ``Lock`` (SET NX PX with a token, released only by its
    holder). A job that finds the mutex taken ends at once, so the holder
    must look for new work once more after releasing (see
    ``core.mail.jobs.expand_events``). Without Redis the job runs unguarded:
    the jobs' work is idempotent, at worst done twice. A holder that dies
    blocks the kind for at most ``ttl`` seconds; a live one renews.
    """

    def __init__(self, job_name: str, tenant_id: int, ttl: float = 60):
        key = f"{current_app.config['QUEUE_PREFIX']}:running:{job_name}:{tenant_id}"
        self._lock = redis().lock(key, timeout=ttl, blocking=False, raise_on_release_error=False)
        self.held = False

    def acquire(self) -> bool:
        """Whether this job may go on."""
        try:
            self.held = bool(self._lock.acquire(blocking=False))
            return self.held
        except RedisError as exc:
            log.warning("could not take %s (Redis: %s); running unguarded", self._lock.name, exc)
            return True

    def renew(self) -> None:
        if self.held:
            try:
                self._lock.reacquire()
            except (RedisError, LockError) as exc:  # expired meanwhile: a second job may run; harmless
                log.warning("could not renew %s: %s", self._lock.name, exc)
                self.held = False

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                self._lock.release()
            except (RedisError, LockError) as exc:  # it expires by itself
                log.warning("could not release %s: %s", self._lock.name, exc)


def clear_wake(key: str | None) -> None:
    if not key:
        return
    try:
        redis().delete(key)
    except RedisError as exc:
        log.warning("could not clear wake key %s: %s", key, exc)


def rewake(func, tenant_id: int) -> bool:
    """Wake ``func(tenant_id)`` unless a live job for it is already waiting.

    For the sweeper: a wake key whose job is gone (Redis lost it, or its
    worker was killed after taking it and before clearing the key) would
    otherwise block every wake until the key expires. Returns whether a job
    was enqueued; never raises for Redis trouble.
    """
    key = wake_key(func.__name__, tenant_id)
    try:
        conn = redis()
        job_id = conn.get(key)
        if job_id is not None:
            if _job_is_live(job_id.decode(), conn):
                return False
            conn.delete(key)
    except RedisError as exc:
        log.warning("could not check the wake of %s for tenant %s: %s", func.__name__, tenant_id, exc)
        return False
    return wake(func, tenant_id)


def _job_is_live(job_id: str, conn: Redis) -> bool:
    try:
        job = Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        # A job taken by a worker that was killed before starting it stays
        # "queued" in that worker's intermediate list until RQ's maintenance
        # finds it, and would block every wake meanwhile: it is live only
        # while it really waits in its queue (or was enqueued a moment ago).
        if conn.lpos(Queue(job.origin, connection=conn).key, job.id) is not None:
            return True
        return job.enqueued_at is not None and time.time() - job.enqueued_at.timestamp() < 5
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.STARTED and job.started_at is not None:
        # Started but the key is still there: the worker died before the job
        # cleared it, unless it is younger than a job may run.
        age = time.time() - job.started_at.timestamp()
        return age < (job.timeout or current_app.config["DELIVERY_JOB_TIMEOUT"])
    return False
