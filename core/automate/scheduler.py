"""AUTOMATE's scheduler loop: run every due task of every tenant.

Safe to run twice by mistake (or on purpose, for availability):

- a leader lock in Redis (redis-py's ``Lock``, kept alive by a thread while
  a tick runs, so a long tick cannot lose it silently) lets one scheduler
  work while the others stand by, so two do not waste work; a scheduler that
  finds its lock gone stops claiming in the middle of its tick;
- the guarantee does not rest on the lock: a due run is *claimed* with a
  conditional UPDATE on the task's run counter (``runs = runs + 1 WHERE
  runs = <value read>``). Of two schedulers that both see a task due, one
  UPDATE matches and the other's matches nothing, so even two leaders (a
  lock lost in a Redis restart) never run one slot twice.

The scheduler only claims: each claimed run becomes an RQ job
(:func:`run_claimed`) that a worker runs and records, so one tenant's stalled
mailbox holds one worker up to its network deadline, never the scheduler or
another tenant's runs. A task with a run still in flight is not claimed again
until that run ends (or its job timeout passes).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from sqlalchemy import and_, delete, func, or_, select, update

from ..extensions import db
from ..metrics import scheduler_ticked
from ..models import PluginState, Tenant
from ..models.types import utcnow
from ..notify import notify
from ..plugins import HookFailure, describe
from ..queueing import queue, redis
from .models import AutomateState, TaskRun, TaskState
from .state import ensure_tasks, next_run
from .registry import declared_tasks, resolve, task_specs

log = logging.getLogger(__name__)

HISTORY_PER_TASK = 100
SYNC_EVERY_TICKS = 12
RESULT_LIMIT = 2000


@dataclass(frozen=True)
class RunRecord:
    """What one run did (plain data: it outlives the session)."""

    tenant_id: int
    task_key: str
    trigger: str
    ok: bool | None  # None: queued, the worker records the outcome
    result: str
    started_at: datetime


class Scheduler:
    def __init__(self, app: Flask, *, tick: float = 5.0, name: str | None = None, use_lock: bool = True):
        self.app = app
        self.tick_seconds = tick
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.use_lock = use_lock
        self.stopping = threading.Event()
        self._ticks = 0
        self._seen: tuple | None = None
        self._lock: Lock | None = None
        self._lock_lost = threading.Event()

    # -- the lock ------------------------------------------------------------
    def _lock_key(self) -> str:
        return f"{current_app.config['QUEUE_PREFIX']}:automate:leader"

    def _ttl(self) -> float:
        return max(self.tick_seconds * 3, 2)

    def is_leader(self) -> bool:
        """Take or renew the leader lock. Without Redis, go on: the per-task
        claim in the database still keeps runs single."""
        if not self.use_lock:
            return True
        try:
            if self._lock is None:
                self._lock = Lock(redis(), self._lock_key(), timeout=self._ttl(), thread_local=False)
            if self._lock.local.token is not None:
                try:
                    self._lock.reacquire()
                    return True
                except LockError:  # expired or taken meanwhile: try again like anyone
                    self._lock.local.token = None
            return self._lock.acquire(blocking=False)
        except RedisError as exc:
            log.warning("leader lock unavailable (%s); relying on the database claims", exc)
            return True

    def _keep_lock(self, done: threading.Event) -> None:
        """While a tick runs, renew the lock every third of its life; if it is
        lost anyway (Redis restarted, the process stalled), say so and let the
        tick stop claiming."""
        while not done.wait(self._ttl() / 3):
            try:
                self._lock.reacquire()
            except LockError:
                log.warning("AUTOMATE scheduler %s lost the leader lock during a tick", self.name)
                self._lock_lost.set()
                return
            except RedisError:
                pass  # Redis away: the database claims still hold

    def release(self) -> None:
        if not self.use_lock or self._lock is None:
            return
        try:
            self._lock.release()
        except (LockError, RedisError):
            pass

    # -- one round -----------------------------------------------------------
    def tick(self) -> list[RunRecord]:
        """Run whatever is due now; returns the runs this scheduler made."""
        with self.app.app_context():
            done = threading.Event()
            try:
                if not self.is_leader():
                    return []
                self._lock_lost.clear()
                if self.use_lock and self._lock is not None:
                    threading.Thread(
                        target=self._keep_lock, args=(done,), daemon=True, name="postwerk-leader-lock"
                    ).start()
                runs = self._run_due()
                scheduler_ticked()
                return runs
            finally:
                done.set()
                db.session.remove()

    def _run_due(self) -> list[RunRecord]:
        paused = set(db.session.execute(select(AutomateState.tenant_id).where(AutomateState.paused)).scalars())
        # Every tenant is visited (creating task rows for new tenants and newly
        # enabled plugins) when tenants or plugin switches changed, and every
        # so many ticks; in between only tenants with something due.
        self._ticks += 1
        seen = (
            tuple(db.session.execute(select(func.count(Tenant.id), func.max(Tenant.id))).one()),
            db.session.execute(select(func.max(PluginState.updated_at))).scalar(),
        )
        if seen != self._seen or self._ticks % SYNC_EVERY_TICKS == 1:
            self._seen = seen
            tenant_ids = db.session.execute(select(Tenant.id).order_by(Tenant.id)).scalars().all()
        else:
            tenant_ids = (
                db.session.execute(
                    select(TaskState.tenant_id)
                    .where(or_(TaskState.run_requested, and_(TaskState.enabled, TaskState.next_run_at <= utcnow())))
                    .distinct()
                )
                .scalars()
                .all()
            )
        runs = []
        for tenant_id in tenant_ids:
            if self._lock_lost.is_set():
                break  # another scheduler may lead now; the database claims keep us apart until then
            if tenant_id in paused or self.stopping.is_set():
                continue
            specs = task_specs(tenant_id)
            tasks = ensure_tasks(tenant_id, specs)
            now = utcnow()  # after ensure_tasks: new rows are due at once
            for task in tasks.values():
                due = task.enabled and task.next_run_at is not None and task.next_run_at <= now
                if due or task.run_requested:
                    run = self._claim_and_enqueue(task, now)
                    if run is not None:
                        runs.append(run)
        return runs

    def _claim_and_enqueue(self, task: TaskState, now) -> RunRecord | None:
        manual = task.run_requested
        job_timeout = current_app.config["DELIVERY_JOB_TIMEOUT"]
        in_flight = db.session.execute(
            select(TaskRun.id)
            .where(
                TaskRun.tenant_id == task.tenant_id,
                TaskRun.task_key == task.task_key,
                TaskRun.finished_at.is_(None),
                TaskRun.started_at > now - timedelta(seconds=job_timeout),
            )
            .limit(1)
        ).scalar()
        if in_flight is not None:
            return None  # its last run is still going (a slow mailbox): never two at once
        # Still due and nobody ran it since we looked: only then is it ours.
        still_due = or_(TaskState.run_requested, and_(TaskState.enabled, TaskState.next_run_at <= now))
        won = db.session.execute(
            update(TaskState)
            .where(TaskState.id == task.id, TaskState.runs == task.runs, still_due)
            .values(
                runs=TaskState.runs + 1,
                last_run_at=now,
                run_requested=False,
                next_run_at=next_run(task, now) if task.enabled else task.next_run_at,
            )
        ).rowcount
        db.session.commit()
        if not won:
            return None  # another scheduler took this run
        trigger = "manual" if manual else "schedule"
        run = TaskRun(
            tenant_id=task.tenant_id, task_key=task.task_key, trigger=trigger, scheduler=self.name, started_at=now
        )
        db.session.add(run)
        db.session.commit()
        try:
            queue().enqueue(
                run_claimed,
                run.id,
                job_timeout=job_timeout,
                job_id=f"{current_app.config['QUEUE_PREFIX']}-task-run-{run.id}",
            )
        except RedisError as exc:
            _record(run.id, False, f"not queued, Redis is unavailable: {exc}")
            return RunRecord(task.tenant_id, task.task_key, trigger, False, "not queued", now)
        return RunRecord(task.tenant_id, task.task_key, trigger, None, "queued", now)

    # -- the loop ------------------------------------------------------------
    def run_forever(self) -> None:
        log.info("AUTOMATE scheduler %s started (tick %.1f s)", self.name, self.tick_seconds)
        try:
            while not self.stopping.is_set():
                try:
                    self.tick()
                except Exception:  # the database or Redis may be briefly away: next tick
                    log.exception("AUTOMATE tick failed")
                self.stopping.wait(self.tick_seconds)
        finally:
            with self.app.app_context():
                self.release()

    def stop(self) -> None:
        self.stopping.set()


def run_claimed(run_id: int) -> str:
    """RQ job: run one claimed task run and record its outcome."""
    run = db.session.get(TaskRun, run_id)
    if run is None or run.finished_at is not None:
        return "nothing to do"
    tenant_id, key = run.tenant_id, run.task_key
    declared = declared_tasks(tenant_id)
    spec, owner = declared.specs.get(key), declared.owners.get(key, "")
    try:
        if spec is None:
            raise LookupError(f"the task {key!r} is no longer offered (its plugin was switched off)")
        result, ok = resolve(spec)(tenant_id), True
        text = "" if result is None else str(result)
    except Exception as exc:  # a task's failure is its result, never the worker's end
        db.session.rollback()
        log.exception("AUTOMATE task %s of tenant %s (plugin %s) failed", key, tenant_id, owner or "-")
        # The history names the plugin at fault, as a failed hook does.
        text = str(HookFailure(owner, f"task {key}", describe(exc))) if owner else describe(exc)
        ok = False
    _record(run_id, ok, text)
    return text


def _record(run_id: int, ok: bool, text: str) -> None:
    run = db.session.get(TaskRun, run_id)
    text = text[:RESULT_LIMIT]
    was_ok = db.session.execute(
        select(TaskState.last_ok).where(TaskState.tenant_id == run.tenant_id, TaskState.task_key == run.task_key)
    ).scalar()
    if not ok and was_ok is not False:
        # When a task starts failing, not on every failed run: a poller that
        # fails each minute must not bury the rest of the log.
        notify(run.tenant_id, "error", f"AUTOMATE task {run.task_key} failed: {text}")
    db.session.execute(update(TaskRun).where(TaskRun.id == run_id).values(finished_at=utcnow(), ok=ok, result=text))
    db.session.execute(
        update(TaskState)
        .where(TaskState.tenant_id == run.tenant_id, TaskState.task_key == run.task_key)
        .values(last_ok=ok, last_result=text)
    )
    _prune(run.tenant_id, run.task_key, run_id)
    db.session.commit()


def _prune(tenant_id: int, key: str, newest_id: int) -> None:
    if newest_id % 20:  # now and then is enough
        return
    keep = (
        select(TaskRun.id)
        .where(TaskRun.tenant_id == tenant_id, TaskRun.task_key == key)
        .order_by(TaskRun.id.desc())
        .limit(HISTORY_PER_TASK)
    )
    db.session.execute(
        delete(TaskRun).where(
            TaskRun.tenant_id == tenant_id, TaskRun.task_key == key, TaskRun.id.not_in(keep.scalar_subquery())
        )
    )
