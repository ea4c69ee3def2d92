"""Audit entries and the admin's notification log."""
from __future__ import annotations

import logging

from .extensions import db
from .models import AuditEntry, Notification

log = logging.getLogger(__name__)


def audit(tenant_id: int | None, actor: str, action: str, object_type: str = "", object_id: object = "",
          **detail) -> AuditEntry:
    """Record who did what. Never put secrets into ``detail``."""
    entry = AuditEntry(tenant_id=tenant_id, actor=actor, action=action, object_type=object_type,
                       object_id=str(object_id), detail=detail or None)
    db.session.add(entry)
    return entry


def notify(tenant_id: int, level: str, text: str, message_pk: int | None = None) -> Notification:
    entry = Notification(tenant_id=tenant_id, level=level, text=text, message_pk=message_pk)
    db.session.add(entry)
    log.log(logging.ERROR if level == "error" else logging.WARNING if level == "warning" else logging.INFO,
            "tenant %s: %s", tenant_id, text)
    return entry


def tell_outcome(tenant_id: int, tenant, message_pk: int, status: str, detail: str) -> None:
    """``postwerk_delivery_outcome`` on each enabled plugin, after the
    outcome was committed: a plugin whose hook raises is named in the
    notification log (committed here) and never keeps the others from
    hearing of it, nor changes the message."""
    from .plugins import registry

    tell_admins(tenant_id, message_pk, status, detail)
    failures: list = []
    registry().call_each("postwerk_delivery_outcome", tenant_id, failures=failures,
                         tenant=tenant, message_id=message_pk, status=status, detail=detail)
    for failure in failures:
        notify(tenant_id, "error", f"Message {message_pk} ({status}): {failure}", message_pk)
    if failures:
        db.session.commit()


def tell_admins(tenant_id: int, message_pk: int, status: str, detail: str) -> None:
    """Queue mail to the admins who chose to hear of failed mail at once
    (core.mail.failure_mail), commit it and wake the deliverer. Called after
    the outcome was committed; its own failure never touches the outcome."""
    from .mail import failure_mail

    if status not in failure_mail.FAILED_STATES:
        return
    try:
        if failure_mail.notice(tenant_id, message_pk, status, detail):
            db.session.commit()
            from .mail.jobs import wake_deliverer

            wake_deliverer(tenant_id)
    except Exception:
        db.session.rollback()
        log.exception("the admins' mail about failed message %s could not be queued", message_pk)
