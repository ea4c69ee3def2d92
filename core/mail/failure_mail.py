"""Mail to admins about mail that failed: at once, or a daily digest.

Each admin chooses (``User.failure_mail``): "off", "immediate" (one mail per
message that ends FAILED or BOUNCED) or "daily" (one digest a day listing
them, from the AUTOMATE task ``failure_digest``). The notices are system
mail: rows of the normal queue with ``Priority.SYSTEM``, sent by the
tenant's own SMTP settings like any other mail, in the admin's language.

A notice never causes a notice: its failure is left in the queue like any
other, and the queue names it (``NOTICE_KEY``), so a broken server cannot
feed a loop of mail about mail. "Immediate" is capped at
``IMMEDIATE_PER_HOUR`` an hour per admin; past the cap the failures wait in
the queue and in the next digest of an admin who chose one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from markupsafe import escape

from ..extensions import db
from ..models import MailSettings, Message, MessageStatus, Tenant, User
from ..models.message import Priority
from ..models.types import utcnow
from ..wakeups import wake_deliverer
from . import mime

CHOICES = ("off", "immediate", "daily")
# The queue's event_key of the notices: no plugin event is named so (plugin keys are upper case).
NOTICE_KEY = "postwerk.failure_notice"
DIGEST_KEY = "postwerk.failure_digest"
OWN_KEYS = (NOTICE_KEY, DIGEST_KEY)
log = logging.getLogger(__name__)

FAILED_STATES = (MessageStatus.FAILED, MessageStatus.BOUNCED)
IMMEDIATE_PER_HOUR = 20
DIGEST_EVERY = timedelta(hours=24)
# At most this many failures are listed one by one in a digest; the count covers all.
DIGEST_LISTED = 50


def choose(user: User, choice: str) -> None:
    """Set an admin's choice; anything else is refused where it enters."""
    if choice not in CHOICES:
        raise ValueError(f"failure mail must be one of {', '.join(CHOICES)}, not {choice!r}")
    if not user.is_admin:
        raise ValueError("only admins receive mail about failed mail")
    if choice == "daily" and user.failure_mail != "daily":
        # The first digest covers the day before the choice, not all history.
        user.failure_digest_at = utcnow() - DIGEST_EVERY
    user.failure_mail = choice


def _language(user: User, tenant: Tenant) -> str:
    return user.language or tenant.language or "en"


def _admins(tenant_id: int, choice: str) -> list[User]:
    return list(
        db.session.execute(
            db.select(User)
            .where(User.tenant_id == tenant_id, User.is_admin.is_(True), User.failure_mail == choice)
            .order_by(User.id)
        ).scalars()
    )


def _queue(tenant: Tenant, user: User, key: str, subject: str, text: str, html: str, now: datetime) -> Message:
    settings = db.session.get(MailSettings, tenant.id)
    sender = settings.sender_address if settings else ""
    message = Message(
        tenant_id=tenant.id,
        event_id=None,
        rule_id=None,
        event_key=key,
        template_key=key,
        language=_language(user, tenant),
        message_id=mime.new_message_id(sender or f"postwerk@{tenant.slug}.postwerk.invalid"),
        sender=sender,
        sender_name=(settings.sender_name if settings else "") or "Postwerk",
        reply_to="",
        recipients=[user.email],
        subject=subject,
        body_text=text,
        body_html=html,
        status=MessageStatus.PENDING,
        priority=Priority.SYSTEM,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    return message


def _sent_this_hour(tenant_id: int, address: str, now: datetime) -> int:
    rows = db.session.execute(
        db.select(Message.recipients).where(
            Message.tenant_id == tenant_id,
            Message.event_key == NOTICE_KEY,
            Message.created_at > now - timedelta(hours=1),
        )
    ).scalars()
    return sum(1 for recipients in rows if recipients == [address])


def _line(message: Message) -> str:
    to = ", ".join(message.recipients or ())
    return f"#{message.id} · {to} · {message.subject or ''}"


def notice(tenant_id: int, message_pk: int, status: str, detail: str) -> list[Message]:
    """Queue a notice to every admin who chose "immediate" about the message
    that just ended ``status``; the caller commits and wakes the deliverer.
    Nothing for a notice or digest of our own, nor for other outcomes."""
    if status not in FAILED_STATES:
        return []
    failed = db.session.get(Message, message_pk)
    if failed is None or failed.tenant_id != tenant_id or failed.event_key in OWN_KEYS:
        return []
    tenant = db.session.get(Tenant, tenant_id)
    now = utcnow()
    queued = []
    for admin in _admins(tenant_id, "immediate"):
        if _sent_this_hour(tenant_id, admin.email, now) >= IMMEDIATE_PER_HOUR:
            continue
        with force_locale(_language(admin, tenant)):
            word = gettext("failed") if status == MessageStatus.FAILED else gettext("bounced")
            subject = gettext(
                "Mail #%(id)s %(outcome)s: %(subject)s", id=failed.id, outcome=word, subject=failed.subject or ""
            )
            facts = [
                (gettext("To"), ", ".join(failed.recipients or ())),
                (gettext("Subject"), failed.subject or ""),
                (gettext("Event"), failed.event_key or ""),
                (gettext("Reason"), detail or failed.last_error or ""),
            ]
            intro = gettext("A mail of %(tenant)s could not be delivered.", tenant=tenant.name)
            outro = gettext(
                "Find it in the queue as #%(id)s; resend it there once the cause is fixed. "
                "At most %(cap)s of these mails are sent per hour.",
                id=failed.id,
                cap=IMMEDIATE_PER_HOUR,
            )
            why = gettext(
                "You receive this because you chose mail about failures at once in Postwerk (Settings > Mail)."
            )
        text = "\n".join([intro, "", *(f"{k}: {v}" for k, v in facts), "", outro, "", "-- ", why]) + "\n"
        html = (
            f"<p>{escape(intro)}</p><table>"
            + "".join(f'<tr><th align="left">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in facts)
            + f"</table><p>{escape(outro)}</p><p><small>{escape(why)}</small></p>"
        )
        queued.append(_queue(tenant, admin, NOTICE_KEY, subject, text, html, now))
    return queued


def digests(tenant_id: int, now: datetime | None = None) -> list[Message]:
    """Queue the daily digest to every admin who chose "daily" and whose last
    digest is a day old, listing the messages that ended FAILED or BOUNCED
    since; none when nothing failed (the window moves on all the same). The
    caller commits."""
    now = now or utcnow()
    tenant = db.session.get(Tenant, tenant_id)
    queued = []
    for admin in _admins(tenant_id, "daily"):
        since = admin.failure_digest_at or (now - DIGEST_EVERY)
        if now - since < DIGEST_EVERY:
            continue
        failed = list(
            db.session.execute(
                db.select(Message)
                .where(
                    Message.tenant_id == tenant_id,
                    Message.status.in_(FAILED_STATES),
                    Message.event_key.not_in(OWN_KEYS) | Message.event_key.is_(None),
                    Message.updated_at > since,
                    Message.updated_at <= now,
                )
                .order_by(Message.id)
            ).scalars()
        )
        admin.failure_digest_at = now
        if not failed:
            continue
        with force_locale(_language(admin, tenant)):
            subject = gettext(
                "%(count)s mails failed in the last day (%(tenant)s)", count=len(failed), tenant=tenant.name
            )
            intro = gettext(
                "These mails of %(tenant)s could not be delivered since the last digest:", tenant=tenant.name
            )
            more = (
                gettext("and %(count)s more: see the queue.", count=len(failed) - DIGEST_LISTED)
                if len(failed) > DIGEST_LISTED
                else ""
            )
            why = gettext(
                "You receive this because you chose a daily digest of failures in Postwerk (Settings > Mail)."
            )
        lines = [f"{_line(m)} — {m.last_error or ''}" for m in failed[:DIGEST_LISTED]]
        text = "\n".join([intro, "", *lines, *([more] if more else []), "", "-- ", why]) + "\n"
        html = (
            f"<p>{escape(intro)}</p><ul>"
            + "".join(f"<li>{escape(line)}</li>" for line in lines)
            + "</ul>"
            + (f"<p>{escape(more)}</p>" if more else "")
            + f"<p><small>{escape(why)}</small></p>"
        )
        queued.append(_queue(tenant, admin, DIGEST_KEY, subject, text, html, now))
    return queued


def run_digests(tenant_id: int) -> str:
    """The AUTOMATE task: queue the due digests, commit, wake the deliverer."""
    queued = digests(tenant_id)
    db.session.commit()
    if queued:
        wake_deliverer(tenant_id)
    return f"{len(queued)} digest(s) queued"


def tell_admins(tenant_id: int, message_pk: int, status: str, detail: str) -> None:
    """Queue mail to the admins who chose to hear of failed mail at once,
    commit it and wake the deliverer. Called after the outcome was
    committed (beside ``notify.tell_outcome``); its own failure never
    touches the outcome."""
    if status not in FAILED_STATES:
        return
    try:
        if notice(tenant_id, message_pk, status, detail):
            db.session.commit()
            wake_deliverer(tenant_id)
    except Exception:
        db.session.rollback()
        log.exception("the admins' mail about failed message %s could not be queued", message_pk)
