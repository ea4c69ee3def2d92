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
