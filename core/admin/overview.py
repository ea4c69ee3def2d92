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
from ..models import MailSettings, Message, MessageStatus
from . import bp
from .scope import tenant_id


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
        automate_status.PAUSED: _("AUTOMATE is paused: mail waits as PENDING and goes out after it is resumed"),
        automate_status.MAIL_WORKER_OFF: _("the mail worker task is switched off in AUTOMATE: mail waits as "
                                           "PENDING until it is switched on"),
        "no SMTP server is configured": _("no SMTP server is configured"),
    }
    return known.get(reason, reason) if reason else None


@bp.route("")
@bp.route("/")
def overview():
    tid = tenant_id()
    settings = db.session.get(MailSettings, tid)
    counts = {status: capped_count(tid, status) for status in MessageStatus.ALL}
    failures = db.session.execute(
        db.select(Message).where(Message.tenant_id == tid, Message.status == MessageStatus.FAILED)
        .order_by(Message.id.desc()).limit(10)).scalars().all()
    automate = {"paused": is_paused(tid), "mail_worker": task_enabled(tid, MAIL_WORKER)}
    return render_template("admin/overview.html", settings=settings,
                           held=explain(automate_status.why_mail_waits(tid)), automate=automate, counts=counts,
                           statuses=MessageStatus.ALL, failures=failures, failed_events=failed_events(tid, 10),
                           failed_event_count=count_failed(tid), failure_text=failure_text)
