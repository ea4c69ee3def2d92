"""Helpers for the outgoing-mail tests: queue a message, run one delivery."""

from __future__ import annotations

import itertools
from datetime import timedelta

from core.extensions import db
from core.mail.delivery import deliver_due
from core.models import AuditEntry, Message, MessageStatus, Notification
from core.models.types import utcnow

_ids = itertools.count(1)


def queue_message(
    tenant_id: int,
    *,
    recipients=("erika@example.org",),
    subject="Hallo",
    body="Guten Tag",
    sender="",
    sender_name="",
    html="",
    reply_to="",
) -> Message:
    now = utcnow()
    message = Message(
        tenant_id=tenant_id,
        message_id=f"<t{next(_ids)}.{now.timestamp()}@acme.example>",
        sender=sender,
        sender_name=sender_name,
        reply_to=reply_to,
        recipients=list(recipients),
        subject=subject,
        body_text=body,
        body_html=html,
        status=MessageStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    db.session.commit()
    return message


def deliver(tenant_id: int):
    stats = deliver_due(tenant_id)
    db.session.expire_all()
    return stats


def make_due(message: Message) -> None:
    """Skip the wait before the next attempt (the delay itself is checked elsewhere)."""
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def audits(tenant_id: int, action: str) -> list[AuditEntry]:
    return (
        db.session.execute(db.select(AuditEntry).where(AuditEntry.tenant_id == tenant_id, AuditEntry.action == action))
        .scalars()
        .all()
    )


def notifications(tenant_id: int) -> list[Notification]:
    return (
        db.session.execute(db.select(Notification).where(Notification.tenant_id == tenant_id).order_by(Notification.id))
        .scalars()
        .all()
    )
