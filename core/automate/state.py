"""Reading and changing AUTOMATE's state for a tenant (pause, tasks, schedules).

Every function takes the tenant id and touches only that tenant's rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models.types import utcnow
from ..notify import audit
from ..specs import TaskSpec
from ..wakeups import wake_deliverer, wake_expander
from .models import AutomateState, TaskState
from .registry import task_specs


class ScheduleError(ValueError):
    """An interval or cron expression an admin entered is not usable."""


MIN_INTERVAL_SECONDS = 1


def automate_state(tenant_id: int) -> AutomateState:
    """The tenant's state row, created with the defaults if missing (not committed)."""
    state = db.session.get(AutomateState, tenant_id)
    if state is None:
        state = AutomateState(tenant_id=tenant_id, paused=False)
        db.session.add(state)
        db.session.flush()
    return state


def is_paused(tenant_id: int) -> bool:
    state = db.session.get(AutomateState, tenant_id)
    return bool(state and state.paused)


def next_run(task: TaskState, after: datetime) -> datetime:
    if task.cron:
        return croniter(task.cron, after).get_next(datetime)
    return after + timedelta(seconds=max(task.interval_seconds or 60, MIN_INTERVAL_SECONDS))


def check_schedule(interval_seconds: int | None, cron: str | None) -> None:
    if cron:
        if not croniter.is_valid(cron):
            raise ScheduleError(f"{cron!r} is not a cron expression (five fields: minute hour day month weekday)")
        return
    if interval_seconds is None or interval_seconds < MIN_INTERVAL_SECONDS:
        raise ScheduleError(f"the interval must be at least {MIN_INTERVAL_SECONDS} second(s)")


def ensure_tasks(tenant_id: int, specs: dict[str, TaskSpec] | None = None) -> dict[str, TaskState]:
    """The tenant's task rows for every task available to it, created from
    the specs' defaults where missing (committed). Rows of tasks whose plugin
    is now disabled are kept (with their settings) but not returned."""
    specs = task_specs(tenant_id) if specs is None else specs
    rows = {
        t.task_key: t for t in db.session.execute(select(TaskState).where(TaskState.tenant_id == tenant_id)).scalars()
    }
    missing = [spec for key, spec in specs.items() if key not in rows]
    if missing:
        now = utcnow()
        for spec in missing:
            row = TaskState(
                tenant_id=tenant_id,
                task_key=spec.key,
                enabled=spec.enabled_by_default,
                interval_seconds=spec.interval,
                runs=0,
                run_requested=False,
                next_run_at=now,
            )
            db.session.add(row)
            rows[spec.key] = row
        try:
            db.session.commit()
        except IntegrityError:  # another process created them first (unique tenant+key): read theirs
            db.session.rollback()
            return ensure_tasks(tenant_id, specs)
    return {key: rows[key] for key in specs}


def task_enabled(tenant_id: int, key: str, default: bool = True) -> bool:
    enabled = db.session.execute(
        select(TaskState.enabled).where(TaskState.tenant_id == tenant_id, TaskState.task_key == key)
    ).scalar_one_or_none()
    return default if enabled is None else bool(enabled)


def _wake_mail(tenant_id: int) -> None:
    wake_expander(tenant_id)
    wake_deliverer(tenant_id)


def set_paused(tenant_id: int, paused: bool, *, actor: str) -> None:
    state = automate_state(tenant_id)
    state.paused = paused
    audit(tenant_id, actor, "automate.paused" if paused else "automate.resumed", "automate", tenant_id)
    db.session.commit()
    if not paused:
        _wake_mail(tenant_id)  # mail that waited goes out now, not at the next tick


def set_task_enabled(tenant_id: int, key: str, enabled: bool, *, actor: str) -> TaskState:
    task = ensure_tasks(tenant_id)[key]  # KeyError: not a task of this tenant
    task.enabled = enabled
    if enabled:
        task.next_run_at = utcnow()
    audit(tenant_id, actor, "automate.task_enabled" if enabled else "automate.task_disabled", "task", key)
    db.session.commit()
    if enabled:
        _wake_mail(tenant_id)
    return task


def set_schedule(tenant_id: int, key: str, *, interval_seconds: int | None, cron: str | None, actor: str) -> TaskState:
    cron = (cron or "").strip() or None
    check_schedule(interval_seconds, cron)
    task = ensure_tasks(tenant_id)[key]
    task.interval_seconds, task.cron = (None, cron) if cron else (interval_seconds, None)
    task.next_run_at = next_run(task, utcnow())
    audit(tenant_id, actor, "automate.schedule", "task", key, interval_seconds=task.interval_seconds, cron=cron)
    db.session.commit()
    return task


def request_run(tenant_id: int, key: str, *, actor: str) -> TaskState:
    """Ask for one run at the scheduler's next tick (also of a disabled task;
    never while AUTOMATE is paused)."""
    task = ensure_tasks(tenant_id)[key]
    db.session.execute(update(TaskState).where(TaskState.id == task.id).values(run_requested=True))
    audit(tenant_id, actor, "automate.run_requested", "task", key)
    db.session.commit()
    return task


def set_retention(tenant_id: int, days: int, *, actor: str) -> None:
    if days < 1:
        raise ScheduleError("the retention period is at least one day")
    state = automate_state(tenant_id)
    state.retention_days = days
    audit(tenant_id, actor, "automate.retention", "automate", tenant_id, days=days)
    db.session.commit()
