"""The mail queue: filters, keyset pagination, body view and actions.

Pages are cut by id (``WHERE id < :before ORDER BY id DESC LIMIT n``) on the
(tenant_id, id) and (tenant_id, status, id) indexes, so a page deep in a
queue of millions costs the same as the first one; OFFSET would scan.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import String, cast, update
from sqlalchemy.orm import defer

from .. import attachments as attachment_store
from ..extensions import db
from ..mail import mime
from ..mail.jobs import wake_deliverer
from ..models import AuditEntry, Message, MessageStatus
from ..models.types import utcnow
from ..notify import audit
from . import bp, trash
from .forms import ActionForm, QueueFilterForm, options
from .scope import actor, get_owned, tenant_id
from ..web.words import status_word

PAGE_SIZE = 50
RESENDABLE = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.UNKNOWN)
BULK_RESEND_LIMIT = 1000
# resent_as_id while the copy of a resend is being written (never committed).
RESEND_IN_PROGRESS = -1


def _date(text: str | None, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day, time.max if end else time.min, tzinfo=timezone.utc)


def filtered(form: QueueFilterForm):
    """The tenant's messages matching the filter (no order, no limit)."""
    # The list never shows the bodies: leave them in the database.
    query = (
        db.select(Message)
        .options(defer(Message.body_html), defer(Message.body_text))
        .where(Message.tenant_id == tenant_id())
    )
    if form.status.data in MessageStatus.ALL:
        query = query.where(Message.status == form.status.data)
    if form.event.data:
        query = query.where(Message.event_key == form.event.data.strip())
    if form.recipient.data:
        # Recipients are a JSON list; a substring match on its text is what an
        # admin searching "erika@" expects.
        needle = form.recipient.data.strip().lower().replace("%", r"\%").replace("_", r"\_")
        query = query.where(db.func.lower(cast(Message.recipients, String)).like(f"%{needle}%", escape="\\"))
    start, end = _date(form.date_from.data), _date(form.date_to.data, end=True)
    if start:
        query = query.where(Message.created_at >= start)
    if end:
        query = query.where(Message.created_at <= end)
    return query


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def filter_form() -> QueueFilterForm:
    form = QueueFilterForm(request.args)
    form.status.choices = options([("", _("all"))] + [(s, f"{status_word(s)} ({s})") for s in MessageStatus.ALL])
    return form


def filter_args(form: QueueFilterForm) -> dict:
    return {
        k: v
        for k in ("status", "recipient", "event", "date_from", "date_to")
        if (v := (getattr(form, k).data or "").strip())
    }


@bp.route("/queue")
def queue_page():
    form = filter_form()
    before, after = _int_arg("before"), _int_arg("after")
    query = filtered(form)
    if after is not None:
        # Going back towards the newest: ascending from the cursor, then flipped.
        rows = (
            db.session.execute(query.where(Message.id > after).order_by(Message.id.asc()).limit(PAGE_SIZE + 1))
            .scalars()
            .all()
        )
        has_newer = len(rows) > PAGE_SIZE
        messages = list(reversed(rows[:PAGE_SIZE]))
        has_older = True
    else:
        if before is not None:
            query = query.where(Message.id < before)
        rows = db.session.execute(query.order_by(Message.id.desc()).limit(PAGE_SIZE + 1)).scalars().all()
        has_older = len(rows) > PAGE_SIZE
        messages = rows[:PAGE_SIZE]
        has_newer = before is not None
    args = filter_args(form)
    newer_url = url_for("admin.queue_page", after=messages[0].id, **args) if messages and has_newer else None
    older_url = url_for("admin.queue_page", before=messages[-1].id, **args) if messages and has_older else None
    return render_template(
        "admin/queue.html",
        form=form,
        messages=messages,
        newer_url=newer_url,
        older_url=older_url,
        first_url=url_for("admin.queue_page", **args),
        filter_args=args,
        action_form=ActionForm(),
        resendable=RESENDABLE,
        now=utcnow(),
    )


@bp.route("/queue/body")
def queue_body():
    message = get_owned(Message, request.args.get("id"))
    resends = sorted(resends_of(message))
    response = make_response(
        render_template(
            "admin/queue_body.html",
            message=message,
            resends=resends,
            attachments=attachment_store.listing(message.id),
            history=history_of(message),
            history_labels=history_labels(),
            action_form=ActionForm(),
            resendable=RESENDABLE,
            now=utcnow(),
        )
    )
    # The mail's HTML is shown in a sandboxed iframe without scripts; this
    # page itself needs no scripts either.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'none'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-src 'self'"
    )
    return response


def history_of(message: Message) -> list[AuditEntry]:
    """Everything recorded about ``message``, oldest first: retries, take-backs
    from dead workers, outcomes, resends, admin actions (its audit entries,
    through ix_audit_entry_object)."""
    return (
        db.session.execute(
            db.select(AuditEntry)
            .where(
                AuditEntry.tenant_id == message.tenant_id,
                AuditEntry.object_type == "message",
                AuditEntry.object_id == str(message.id),
            )
            .order_by(AuditEntry.id)
        )
        .scalars()
        .all()
    )


def history_labels() -> dict[str, str]:
    return {
        "mail.retry": _("Temporary error, tried again later"),
        "mail.failed": _("Failed"),
        "mail.unknown": _("Outcome unknown: it may have been delivered"),
        "mail.reclaimed": _("Taken back from a stopped worker, queued again"),
        "mail.sent_reconciled": _("Taken back from a stopped worker, recorded as sent"),
        "mail.recipients_refused": _("Some recipients refused"),
        "message.resend": _("Resent"),
        "message.send_now": _("Send now requested"),
        "message.cancelled": _("Cancelled"),
        "mail.condition_cancelled": _("Cancelled: the rule's send-time condition no longer held"),
    }


def _action_target() -> Message:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    return get_owned(Message, form.id.data)


def _back(message: Message | None = None):
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    if message is not None:
        return redirect(url_for("admin.queue_body", id=message.id))
    return redirect(url_for("admin.queue_page"))


@bp.route("/queue/send-now", methods=["POST"])
def queue_send_now():
    message = _action_target()
    if message.status != MessageStatus.PENDING:
        flash(
            _("Only a waiting (PENDING) message can be sent now; this one is %(status)s.", status=message.status),
            "error",
        )
        return _back(message)
    # Conditional: only a message still PENDING, not yet due, and due when
    # this request saw it. A worker's claim or a second click meanwhile makes
    # this a no-op, so exactly one send-now is recorded.
    now, seen = utcnow(), message.next_attempt_at
    won = (
        seen is not None
        and seen > now
        and db.session.execute(
            update(Message)
            .where(
                Message.id == message.id,
                Message.tenant_id == tenant_id(),
                Message.status == MessageStatus.PENDING,
                Message.next_attempt_at == seen,
            )
            .values(next_attempt_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
    if not won:
        db.session.rollback()
        flash(_("Message %(id)s is already due or being sent; nothing changed.", id=message.id), "info")
        return _back(message)
    audit(tenant_id(), actor(), "message.send_now", "message", message.id)
    db.session.commit()
    wake_deliverer(tenant_id())
    flash(_("Message %(id)s will be sent now.", id=message.id), "success")
    return _back(message)


@bp.route("/queue/cancel", methods=["POST"])
def queue_cancel():
    """Cancel a message that is still waiting (a scheduled one, usually).

    One conditional UPDATE from PENDING: a worker's claim (PENDING ->
    SENDING, also conditional) and this cannot both win, the database
    serialises them on the row."""
    message = _action_target()
    now = utcnow()
    won = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.tenant_id == tenant_id(), Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CANCELLED, last_error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        db.session.rollback()
        flash(
            _("Message %(id)s is no longer waiting (it is being sent or was sent); nothing changed.", id=message.id),
            "error",
        )
        return _back(message)
    audit(
        tenant_id(),
        actor(),
        "message.cancelled",
        "message",
        message.id,
        scheduled_for=message.next_attempt_at.isoformat() if message.next_attempt_at else None,
    )
    db.session.commit()
    flash(_("Message %(id)s cancelled.", id=message.id), "success")
    return _back(message)


def resends_of(message: Message) -> list[tuple[int, str]]:
    """(id, status) of the resends of ``message``: few rows, found through
    ix_message_resend_of_id (no ORDER BY, which would tempt the planner to
    walk the tenant's whole queue in id order)."""
    return [
        tuple(row)
        for row in db.session.execute(
            db.select(Message.id, Message.status).where(
                Message.resend_of_id == message.id, Message.tenant_id == message.tenant_id
            )
        )
    ]


def resend(message: Message) -> Message | None:
    """A new send of ``message`` as a new row (new Message-ID); None when a
    resend of it is already waiting, or another resend of it won the race.

    Exactly one of two simultaneous resends wins, enforced by the database:
    the original's ``resent_as_id`` is taken by a conditional UPDATE from
    the value this request saw (a row lock on PostgreSQL, the write lock on
    SQLite), before the copy is written; the loser changes nothing."""
    seen = message.resent_as_id
    if seen is not None:
        latest = db.session.execute(
            db.select(Message.status).where(Message.id == seen, Message.tenant_id == message.tenant_id)
        ).scalar()
        if latest in (MessageStatus.PENDING, MessageStatus.SENDING):
            return None
    unchanged = Message.resent_as_id.is_(None) if seen is None else Message.resent_as_id == seen
    taken = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.tenant_id == message.tenant_id, unchanged)
        .values(resent_as_id=RESEND_IN_PROGRESS)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not taken:
        return None
    now = utcnow()
    copy = Message(
        tenant_id=message.tenant_id,
        event_id=message.event_id,
        rule_id=message.rule_id,
        event_key=message.event_key,
        template_key=message.template_key,
        language=message.language,
        message_id=mime.new_message_id(message.sender or "postwerk.invalid"),
        sender=message.sender,
        sender_name=message.sender_name,
        reply_to=message.reply_to,
        recipients=list(message.recipients),
        subject=message.subject,
        body_text=message.body_text,
        body_html=message.body_html,
        status=MessageStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        resend_of_id=message.id,
        priority=message.priority,
        attachments=message.attachments,
    )
    db.session.add(copy)
    db.session.flush()
    # The same stored files, referenced once more (never copied).
    attachment_store.attach_to_messages([(copy.id, attachment_store.of_message(message.id))])
    db.session.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(resent_as_id=copy.id)
        .execution_options(synchronize_session=False)
    )
    message.resent_as_id = copy.id
    audit(
        message.tenant_id,
        actor(),
        "message.resend",
        "message",
        message.id,
        new_message=copy.id,
        previous_status=message.status,
    )
    return copy


@bp.route("/queue/resend", methods=["POST"])
def queue_resend():
    message = _action_target()
    if message.status not in RESENDABLE:
        flash(
            _("Only SENT, FAILED or UNKNOWN messages can be resent; this one is %(status)s.", status=message.status),
            "error",
        )
        return _back(message)
    copy = resend(message)
    if copy is None:
        db.session.rollback()
        flash(_("A resend of message %(id)s is already waiting.", id=message.id), "error")
        return _back(message)
    db.session.commit()
    wake_deliverer(tenant_id())
    flash(_("Message %(id)s is sent again as message %(new)s.", id=message.id, new=copy.id), "success")
    return _back(copy)


@bp.route("/queue/delete", methods=["POST"])
def queue_delete():
    message = _action_target()
    if message.status == MessageStatus.SENDING:
        flash(_("A message being sent right now cannot be deleted."), "error")
        return _back(message)
    message_id, recipients, status = message.id, list(message.recipients), message.status
    copy = trash.snapshot(message)
    db.session.expunge(message)
    # Resends keep their own history; only the links to the deleted row go.
    db.session.execute(
        db.update(Message)
        .where(Message.tenant_id == tenant_id(), Message.resend_of_id == message_id)
        .values(resend_of_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        db.update(Message)
        .where(Message.tenant_id == tenant_id(), Message.resent_as_id == message_id)
        .values(resent_as_id=None)
        .execution_options(synchronize_session=False)
    )
    # Conditional: not while a worker holds it (it may have claimed it since
    # the page was read), and only once when two admins delete at the same time.
    gone = db.session.execute(
        db.delete(Message)
        .where(Message.id == message_id, Message.tenant_id == tenant_id(), Message.status != MessageStatus.SENDING)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not gone:
        db.session.rollback()
        flash(
            _("Message %(id)s was deleted or claimed for sending meanwhile; nothing changed.", id=message_id), "error"
        )
        return redirect(url_for("admin.queue_page"))
    # Softly: the copy in the audit entry can be restored ("Undo", core.admin.trash).
    entry = audit(
        tenant_id(),
        actor(),
        "message.deleted",
        "message",
        message_id,
        snapshot=copy,
        recipients=recipients,
        status=status,
    )
    db.session.flush()  # the entry's id, for the Undo button
    flash({"text": _("Message %(id)s deleted.", id=message_id), "entry": entry.id}, "undo")
    db.session.commit()
    return redirect(url_for("admin.queue_page"))


@bp.route("/queue/resend-failed", methods=["POST"])
def queue_resend_failed():
    """Resend every FAILED message matching the filter (the filter comes as
    form fields) that has no resend yet: pressed twice, the second press
    finds nothing (each message's resend is taken conditionally, see resend())."""
    if not ActionForm(id="bulk").validate_on_submit():
        abort(400)
    form = QueueFilterForm(request.form)
    form.status.data = MessageStatus.FAILED
    failed = (
        db.session.execute(
            filtered(form).where(Message.resent_as_id.is_(None)).order_by(Message.id.desc()).limit(BULK_RESEND_LIMIT)
        )
        .scalars()
        .all()
    )
    created = [copy for message in failed if (copy := resend(message)) is not None]
    db.session.commit()
    if created:
        wake_deliverer(tenant_id())
    flash(_("%(count)s failed messages are sent again.", count=len(created)), "success")
    return redirect(url_for("admin.queue_page", **filter_args(form)))
