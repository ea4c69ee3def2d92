"""The state at a glance: sending, queue counts, recent failures."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import func

from ..automate import status as automate_status
from ..automate.state import is_paused, task_enabled
from ..automate.tasks import MAIL_WORKER
from ..event_retry import count_failed, failed_events
from ..extensions import db
from ..mail.jobs import failure_text
from ..models import MailSettings, Message, MessageStatus, Tenant
from ..notify import audit
from ..web.words import said
from . import bp
from .forms import AUTH_CHOICES, SECURITY_CHOICES, ActionForm
from .scope import actor, tenant_id


# Counting is capped: a queue of millions is "10000+" at a glance, and the
# page stays fast (each count is a bounded walk of (tenant_id, status, id)).
COUNT_CAP = 10_000


def capped_count(tenant_id: int, status: str) -> str:
    ids = db.select(Message.id).where(Message.tenant_id == tenant_id, Message.status == status).limit(COUNT_CAP + 1)
    count = db.session.execute(db.select(func.count()).select_from(ids.subquery())).scalar()
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


def explain(reason: str | None) -> str | None:
    """The worker's reason (English, also in logs) in the admin's language."""
    known = {
        automate_status.PAUSED: _("AUTOMATE is paused: mail waits in the queue and goes out after it is resumed"),
        automate_status.MAIL_WORKER_OFF: _(
            "the mail worker task is switched off in AUTOMATE: mail waits in the queue until it is switched on"
        ),
        "no SMTP server is configured": _("no SMTP server is configured"),
    }
    return known.get(reason, reason) if reason else None


RECENT_OUTCOMES = 5


def sending_state(settings: MailSettings | None, held: str | None) -> dict:
    """What sending looks like from what happened last: the latest delivery
    attempts and the latest test, never a green light by default.

    ``level`` is ok, warning or error; ``text`` says why."""
    if settings is None or not settings.host:
        return {"level": "error", "text": _("No SMTP server is configured.")}
    if held:
        return {"level": "error", "text": held}
    # Among the newest messages only (by the (tenant_id, id) index), so a big queue stays fast.
    newest = (
        db.select(Message.id)
        .where(Message.tenant_id == settings.tenant_id)
        .order_by(Message.id.desc())
        .limit(200)
        .scalar_subquery()
    )
    recent = (
        db.session.execute(
            db.select(Message)
            .where(Message.id.in_(newest), Message.attempts > 0)
            .order_by(Message.updated_at.desc(), Message.id.desc())
            .limit(RECENT_OUTCOMES)
        )
        .scalars()
        .all()
    )
    tested = settings.last_test_result or ""
    test_failed = tested.startswith("FAILED")
    last = recent[0] if recent else None
    if last is not None and settings.last_test_at and last.updated_at and last.updated_at < settings.last_test_at:
        last = None  # the test is newer than any delivery: it speaks for the current settings
    if last is not None and last.status != MessageStatus.SENT and last.last_error:
        failing = sum(1 for m in recent if m.status != MessageStatus.SENT and m.last_error)
        return {
            "level": "error",
            "text": _(
                "Not sending: %(count)s of the last %(total)s attempts failed: %(error)s",
                count=failing,
                total=len(recent),
                error=said(last.last_error),
            ),
        }
    if last is None and test_failed:
        return {"level": "error", "text": _("The last test failed: %(answer)s", answer=said(tested.partition(": ")[2]))}
    if last is not None and last.status == MessageStatus.SENT:
        return {"level": "ok", "text": _("Sending works: the last mail went out.")}
    if tested.startswith("OK"):
        return {"level": "ok", "text": _("The last test worked; no mail was sent since.")}
    return {"level": "warning", "text": _("Not tried yet: send a test mail to see whether sending works.")}


@bp.route("/timezone", methods=["POST"])
def timezone_save():
    """The tenant's time zone, in which every page shows times."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from flask import flash, redirect, request, url_for

    name = (request.form.get("timezone") or "").strip()
    if ActionForm().validate_on_submit():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            flash(_("Unknown time zone %(name)s: use a name such as Europe/Berlin.", name=name or "—"), "error")
            return redirect(url_for("admin.overview"))
        tenant = db.session.get(Tenant, tenant_id())
        if tenant.timezone != name:
            audit(
                tenant_id(),
                actor(),
                "tenant.saved",
                "tenant",
                tenant_id(),
                changes={"timezone": [tenant.timezone, name]},
            )
            tenant.timezone = name
            db.session.commit()
        flash(_("Times are shown in %(name)s.", name=name), "success")
    return redirect(url_for("admin.overview"))


@bp.route("")
@bp.route("/")
def overview():
    tid = tenant_id()
    settings = db.session.get(MailSettings, tid)
    counts = {status: capped_count(tid, status) for status in MessageStatus.ALL}
    # Failed for good, and failing while still retried (PENDING with an error).
    # Two queries, each on the (tenant_id, status, id) index: a big queue stays fast.
    failures = [
        *db.session.execute(
            db.select(Message)
            .where(Message.tenant_id == tid, Message.status.in_((MessageStatus.FAILED, MessageStatus.UNKNOWN)))
            .order_by(Message.id.desc())
            .limit(10)
        ).scalars(),
        *db.session.execute(
            db.select(Message)
            .where(Message.tenant_id == tid, Message.status == MessageStatus.PENDING, Message.last_error.is_not(None))
            .order_by(Message.id.desc())
            .limit(10)
        ).scalars(),
    ]
    failures = sorted(failures, key=lambda m: m.id, reverse=True)[:10]
    automate = {"paused": is_paused(tid), "mail_worker": task_enabled(tid, MAIL_WORKER)}
    held = explain(automate_status.why_mail_waits(tid))
    return render_template(
        "admin/overview.html",
        settings=settings,
        held=held,
        automate=automate,
        counts=counts,
        timezone=db.session.get(Tenant, tid).timezone,
        zone_form=ActionForm(id="timezone"),
        statuses=MessageStatus.ALL,
        failures=failures,
        state=sending_state(settings, held),
        security_labels=dict(SECURITY_CHOICES),
        auth_labels=dict(AUTH_CHOICES),
        failed_events=failed_events(tid, 10),
        failed_event_count=count_failed(tid),
        failure_text=failure_text,
    )
