"""The state at a glance: sending, queue counts, recent failures."""
from __future__ import annotations

from flask import render_template
from sqlalchemy import func

from ..extensions import db
from ..mail.delivery import why_held
from ..models import MailSettings, Message, MessageStatus
from . import bp
from .scope import tenant_id


@bp.route("")
@bp.route("/")
def overview():
    tid = tenant_id()
    settings = db.session.get(MailSettings, tid)
    counts = dict(db.session.execute(
        db.select(Message.status, func.count()).where(Message.tenant_id == tid).group_by(Message.status)).all())
    failures = db.session.execute(
        db.select(Message).where(Message.tenant_id == tid, Message.status == MessageStatus.FAILED)
        .order_by(Message.id.desc()).limit(10)).scalars().all()
    return render_template("admin/overview.html", settings=settings, held=why_held(settings), counts=counts,
                           statuses=MessageStatus.ALL, failures=failures)
