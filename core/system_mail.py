"""System mail: the mails Postwerk itself sends to a tenant's users
(password resets, sign-in codes).

They take the same road as every other mail (a message row, the queue,
claims, retries, the audit trail) with three differences: they are
``Priority.SYSTEM`` (claimed before any other mail of the tenant, on RQ's
system queue), they go from the tenant's system address (never a user's),
and when the tenant's own SMTP is missing or broken they leave through the
installation's fallback server (``POSTWERK_SYSTEM_SMTP_URL``, see
``core.mail.delivery.deliver_due``).
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from .extensions import db
from .mail import expansion, mime
from .models import MailSettings, Message, MessageStatus, Template, Tenant, User
from .models.message import Priority
from .models.types import utcnow
from .specs import Recipient
from .system_templates import TEMPLATES
from .wakeups import wake_deliverer

FALLBACK_SENDER = "postwerk@{slug}.postwerk.invalid"


class SystemMailError(RuntimeError):
    """A system template cannot be rendered (an admin's edit broke it)."""


def template_for(tenant: Tenant, key: str, language: str):
    """The tenant's own version of ``key`` in ``language`` (or the tenant's
    language), else the shipped one."""
    rows = {
        t.language: t
        for t in db.session.execute(
            db.select(Template).where(Template.tenant_id == tenant.id, Template.key == key)
        ).scalars()
    }
    shipped = {t.language: t for t in TEMPLATES if t.key == key}
    for versions in (rows, shipped):
        found = versions.get(language) or versions.get(tenant.language)
        if found is not None:
            return found
    return rows.get("en") or shipped["en"]


def system_sender(tenant: Tenant) -> tuple[str, str]:
    """(address, name) system mail of ``tenant`` is sent from."""
    settings = db.session.get(MailSettings, tenant.id)
    address = (settings.sender_address if settings else "") or current_app.config.get("SYSTEM_MAIL_FROM") or ""
    name = (settings.sender_name if settings else "") or tenant.name
    return address or FALLBACK_SENDER.format(slug=tenant.slug), name


def queue_for_user(user: User, key: str, values: dict[str, Any]) -> Message:
    """Render ``key`` for ``user`` in their language and add it to the queue
    as system mail; the caller commits and then calls :func:`wake`."""
    tenant = db.session.get(Tenant, user.tenant_id)
    language = user.language or tenant.language
    template = template_for(tenant, key, language)
    scoped = dict(
        values,
        tenant={"name": tenant.name, "slug": tenant.slug, "colour": tenant.colour},
        now=utcnow(),
        user={"name": user.name, "email": user.email},
    )
    mail = expansion.render_mail(
        template, scoped, Recipient(address=user.email, name=user.name, language=language), template.language
    )
    if mail.error:
        raise SystemMailError(mail.error)
    sender, sender_name = system_sender(tenant)
    now = utcnow()
    message = Message(
        tenant_id=tenant.id,
        template_key=key,
        language=mail.language,
        message_id=mime.new_message_id(sender),
        sender=sender,
        sender_name=sender_name,
        recipients=[user.email],
        subject=mail.subject,
        body_text=mail.body_text,
        body_html=mail.body_html,
        status=MessageStatus.PENDING,
        priority=Priority.SYSTEM,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    db.session.flush()
    return message


def wake(tenant_id: int) -> None:
    """After the commit: a deliverer on the system queue."""
    wake_deliverer(tenant_id, priority=Priority.SYSTEM)
