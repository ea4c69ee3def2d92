"""Failed events: listed for the admin and run again once the faulty plugin
is fixed or disabled. An accepted event is never dropped: it stays FAILED,
with what failed, until someone runs it again."""

from __future__ import annotations

from sqlalchemy import update

from .extensions import db
from .models import Event, EventStatus
from .notify import audit
from .wakeups import wake_expander


def failed_events(tenant_id: int, limit: int = 100) -> list[Event]:
    return list(
        db.session.execute(
            db.select(Event)
            .where(Event.tenant_id == tenant_id, Event.status == EventStatus.FAILED)
            .order_by(Event.id.desc())
            .limit(limit)
        ).scalars()
    )


def count_failed(tenant_id: int) -> int:
    return db.session.execute(
        db.select(db.func.count())
        .select_from(Event)
        .where(Event.tenant_id == tenant_id, Event.status == EventStatus.FAILED)
    ).scalar()


def retry(tenant_id: int, event_ids: list[int] | None = None, *, actor: str = "system") -> list[int]:
    """Put FAILED events of a tenant (all, or those of ``event_ids``) back to
    NEW; the expander runs only the parts that failed, so rules that already
    mailed do not mail twice. Commits, then wakes the expander."""
    query = update(Event).where(Event.tenant_id == tenant_id, Event.status == EventStatus.FAILED)
    if event_ids is not None:
        query = query.where(Event.id.in_(event_ids))
    ids = sorted(
        db.session.execute(
            query.values(status=EventStatus.NEW).returning(Event.id).execution_options(synchronize_session=False)
        ).scalars()
    )
    if ids:
        audit(tenant_id, actor, "event.retried", "event", ",".join(map(str, ids)))
    db.session.commit()
    if ids:
        wake_expander(tenant_id)
    return ids
