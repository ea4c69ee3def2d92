"""AUTOMATE's scheduler loop: run every due task of every tenant.

Safe to run twice by mistake (or on purpose, for availability):

- a leader lock in Redis (SET NX PX, renewed each tick) lets one scheduler
  work while the others stand by, so two do not waste work;
- the guarantee does not rest on the lock: a due run is *claimed* with a
  conditional UPDATE on the task's run counter (``runs = runs + 1 WHERE
  runs = <value read>``). Of two schedulers that both see a task due, one
  UPDATE matches and the other's matches nothing, so even two leaders (a
  lock lost in a Redis restart) never run one slot twice.

Tasks run in this process, one after another: the core tasks only wake RQ
jobs or delete rows, so they are quick; mail itself goes out in the workers.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy import and_, delete, func, or_, select, update

from ..extensions import db
from ..metrics import scheduler_ticked
from ..models import PluginState, Tenant
from ..models.types import utcnow
from ..queueing import redis
from .models import AutomateState, TaskRun, TaskState
from .state import ensure_tasks, next_run
from .tasks import resolve, task_specs

log = logging.getLogger(__name__)

HISTORY_PER_TASK = 100
SYNC_EVERY_TICKS = 12
RESULT_LIMIT = 2000

# Renew the lock only if we still hold it.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


@dataclass(frozen=True)
class RunRecord:
    """What one run did (plain data: it outlives the session)."""

    tenant_id: int
    task_key: str
    trigger: str
    ok: bool
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

    # -- the lock ------------------------------------------------------------
    def _lock_key(self) -> str:
        return f"{current_app.config['QUEUE_PREFIX']}:automate:leader"

    def is_leader(self) -> bool:
        """Take or renew the leader lock. Without Redis, go on: the per-task
        claim in the database still keeps runs single."""
        if not self.use_lock:
            return True
        ttl_ms = int(max(self.tick_seconds * 3, 2) * 1000)
        try:
            conn = redis()
            if conn.set(self._lock_key(), self.name, nx=True, px=ttl_ms):
                return True
            return bool(conn.eval(_RENEW, 1, self._lock_key(), self.name, ttl_ms))
        except RedisError as exc:
            log.warning("leader lock unavailable (%s); relying on the database claims", exc)
            return True

    def release(self) -> None:
        if not self.use_lock:
            return
        try:
            conn = redis()
            if conn.get(self._lock_key()) == self.name.encode():
                conn.delete(self._lock_key())
        except RedisError:
            pass

    # -- one round -----------------------------------------------------------
    def tick(self) -> list[RunRecord]:
        """Run whatever is due now; returns the runs this scheduler made."""
        with self.app.app_context():
            try:
                if not self.is_leader():
                    return []
                runs = self._run_due()
                scheduler_ticked()
                return runs
            finally:
                db.session.remove()

    def _run_due(self) -> list[RunRecord]:
        paused = set(db.session.execute(select(AutomateState.tenant_id).where(AutomateState.paused)).scalars())
        # Every tenant is visited (creating task rows for new tenants and newly
        # enabled plugins) when tenants or plugin switches changed, and every
        # so many ticks; in between only tenants with something due.
        self._ticks += 1
        seen = (tuple(db.session.execute(select(func.count(Tenant.id), func.max(Tenant.id))).one()),
                db.session.execute(select(func.max(PluginState.updated_at))).scalar())
        if seen != self._seen or self._ticks % SYNC_EVERY_TICKS == 1:
            self._seen = seen
            tenant_ids = db.session.execute(select(Tenant.id).order_by(Tenant.id)).scalars().all()
        else:
            tenant_ids = db.session.execute(
                select(TaskState.tenant_id).where(or_(TaskState.run_requested, and_(
                    TaskState.enabled, TaskState.next_run_at <= utcnow()))).distinct()).scalars().all()
        runs = []
        for tenant_id in tenant_ids:
            if tenant_id in paused or self.stopping.is_set():
                continue
            specs = task_specs(tenant_id)
            tasks = ensure_tasks(tenant_id, specs)
            now = utcnow()  # after ensure_tasks: new rows are due at once
            for key, task in tasks.items():
                due = task.enabled and task.next_run_at is not None and task.next_run_at <= now
                if due or task.run_requested:
                    run = self._claim_and_run(task, specs[key], now)
                    if run is not None:
                        runs.append(run)
        return runs

    def _claim_and_run(self, task: TaskState, spec, now) -> RunRecord | None:
        manual = task.run_requested
        # Still due and nobody ran it since we looked: only then is it ours.
        still_due = or_(TaskState.run_requested, and_(TaskState.enabled, TaskState.next_run_at <= now))
        won = db.session.execute(
            update(TaskState).where(TaskState.id == task.id, TaskState.runs == task.runs, still_due)
            .values(runs=TaskState.runs + 1, last_run_at=now, run_requested=False,
                    next_run_at=next_run(task, now) if task.enabled else task.next_run_at)).rowcount
        db.session.commit()
        if not won:
            return None  # another scheduler took this run
        run = TaskRun(tenant_id=task.tenant_id, task_key=task.task_key, trigger="manual" if manual else "schedule",
                      scheduler=self.name, started_at=now)
        db.session.add(run)
        db.session.commit()
        tenant_id, key, run_id = task.tenant_id, task.task_key, run.id
        try:
            result, ok = resolve(spec)(tenant_id), True
            text = "" if result is None else str(result)
        except Exception as exc:  # a task's failure is its result, never the scheduler's end
            db.session.rollback()
            log.exception("AUTOMATE task %s of tenant %s failed", key, tenant_id)
            ok, text = False, f"{type(exc).__name__}: {exc}"
        text = text[:RESULT_LIMIT]
        finished = utcnow()
        db.session.execute(update(TaskRun).where(TaskRun.id == run_id).values(finished_at=finished, ok=ok,
                                                                               result=text))
        db.session.execute(update(TaskState).where(TaskState.id == task.id).values(last_ok=ok, last_result=text))
        _prune(tenant_id, key, run_id)
        db.session.commit()
        return RunRecord(tenant_id, key, "manual" if manual else "schedule", ok, text, now)

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


def _prune(tenant_id: int, key: str, newest_id: int) -> None:
    if newest_id % 20:  # now and then is enough
        return
    keep = select(TaskRun.id).where(TaskRun.tenant_id == tenant_id, TaskRun.task_key == key) \
        .order_by(TaskRun.id.desc()).limit(HISTORY_PER_TASK)
    db.session.execute(delete(TaskRun).where(TaskRun.tenant_id == tenant_id, TaskRun.task_key == key,
                                             TaskRun.id.not_in(keep.scalar_subquery())))
