"""Failed events: what a faulty plugin held up, and "run again"."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..event_retry import failed_events, retry
from ..mail.jobs import failure_text
from . import bp
from .scope import tenant_id


@bp.route("/events/failed")
def failed_events_page():
    events = failed_events(tenant_id())
    return render_template(
        "admin/failed_events.html",
        events=events,
        reasons={e.id: [failure_text(f) for f in e.failures or ()] or [e.error or ""] for e in events},
    )


@bp.route("/events/failed/retry", methods=["POST"])
def failed_events_retry():
    wanted = request.form.get("id", "all")
    ids = None if wanted == "all" else [int(wanted)] if wanted.isdigit() else []
    done = retry(tenant_id(), ids, actor=f"user:{current_user.id}")
    flash(_("%(count)s event(s) will run again.", count=len(done)), "success")
    return redirect(url_for("admin.failed_events_page"))
