"""The state at a glance: sending, queue counts, recent failures."""
from __future__ import annotations

from flask import render_template
from sqlalchemy import func

from ..extensions import db
from ..mail.delivery import why_held
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


@bp.route("")
@bp.route("/")
def overview():
    tid = tenant_id()
    settings = db.session.get(MailSettings, tid)
    counts = {status: capped_count(tid, status) for status in MessageStatus.ALL}
    failures = db.session.execute(
        db.select(Message).where(Message.tenant_id == tid, Message.status == MessageStatus.FAILED)
        .order_by(Message.id.desc()).limit(10)).scalars().all()
    return render_template("admin/overview.html", settings=settings, held=why_held(settings), counts=counts,
                           statuses=MessageStatus.ALL, failures=failures)
