"""The start page after log-in."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required
from sqlalchemy import func

from ..automate.status import why_mail_waits
from ..extensions import db
from ..models import MailSettings, Message
from ..plugins import registry
from ..admin.forms import SECURITY_CHOICES

bp = Blueprint("home", __name__)


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for it on the first page; an SVG icon, cached for a day."""
    return current_app.send_static_file("favicon.svg"), 200, {"Cache-Control": "public, max-age=86400"}


@bp.route("/")
@login_required
def index():
    tenant_id = current_user.tenant_id
    counts = dict(
        db.session.execute(
            db.select(Message.status, func.count()).where(Message.tenant_id == tenant_id).group_by(Message.status)
        ).all()
    )
    enabled = registry().enabled_plugins(tenant_id)
    recent = (
        db.session.execute(
            db.select(Message).where(Message.tenant_id == tenant_id).order_by(Message.id.desc()).limit(10)
        )
        .scalars()
        .all()
    )
    settings = db.session.get(MailSettings, tenant_id)
    return render_template(
        "home.html",
        security_labels=dict(SECURITY_CHOICES),
        counts=counts,
        enabled=sorted(enabled - {"core"}),
        recent=recent,
        settings=settings,
        waits=why_mail_waits(tenant_id),
    )
