"""AUTOMATE's tables: per-tenant state, per-task state, run history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models.types import UTCDateTime, utcnow

DEFAULT_RETENTION_DAYS = 90


class AutomateState(db.Model):
    """Whether AUTOMATE runs for a tenant. No row means the defaults: active, 90 days."""

    __tablename__ = "automate_state"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # SENT messages and their events older than this are deleted by the retention task.
    retention_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_RETENTION_DAYS)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TaskState(db.Model):
    """One task of one tenant: its schedule and its last outcome.

    ``runs`` is bumped by the scheduler that wins a due run (a conditional
    UPDATE on the value it read), so two schedulers never run one slot twice.
    """

    __tablename__ = "automate_task"
    __table_args__ = (
        UniqueConstraint("tenant_id", "task_key"),
        Index("ix_automate_task_due", "enabled", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    task_key: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Exactly one of the two: every N seconds, or a cron expression (UTC).
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(100))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    # "Run now" from the admin page: the next tick runs it, even if disabled.
    run_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_result: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TaskRun(db.Model):
    """One run of a task (the history on the admin page)."""

    __tablename__ = "automate_run"
    __table_args__ = (Index("ix_automate_run_task", "tenant_id", "task_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"))
    task_key: Mapped[str] = mapped_column(String(100))
    # "schedule" or "manual"
    trigger: Mapped[str] = mapped_column(String(10), default="schedule")
    scheduler: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    result: Mapped[str | None] = mapped_column(Text)
