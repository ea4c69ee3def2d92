"""Audit entries and the admin's notification log."""

from __future__ import annotations

import logging

from .extensions import db
from .models import AuditEntry, Notification
from .plugins import registry

log = logging.getLogger(__name__)


def audit(
    tenant_id: int | None, actor: str, action: str, object_type: str = "", object_id: object = "", **detail
) -> AuditEntry:
    """Record who did what. Never put secrets into ``detail``."""
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail or None,
    )
    db.session.add(entry)
    return entry


def notify(tenant_id: int, level: str, text: str, message_pk: int | None = None) -> Notification:
    entry = Notification(tenant_id=tenant_id, level=level, text=text, message_pk=message_pk)
    db.session.add(entry)
    log.log(
        logging.ERROR if level == "error" else logging.WARNING if level == "warning" else logging.INFO,
        "tenant %s: %s",
        tenant_id,
        text,
    )
    return entry


def tell_outcome(tenant_id: int, tenant, message_pk: int, status: str, detail: str) -> None:
    """``postwerk_delivery_outcome`` on each enabled plugin, after the
    outcome was committed: a plugin whose hook raises is named in the
    notification log (committed here) and never keeps the others from
    hearing of it, nor changes the message."""
    failures: list = []
    registry().call_each(
        "postwerk_delivery_outcome",
        tenant_id,
        failures=failures,
        tenant=tenant,
        message_id=message_pk,
        status=status,
        detail=detail,
    )
    for failure in failures:
        notify(tenant_id, "error", f"Message {message_pk} ({status}): {failure}", message_pk)
    if failures:
        db.session.commit()
