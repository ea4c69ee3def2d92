"""The admin's own choice of mail about failed mail (Settings > Mail overview)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..mail import failure_mail
from ..notify import audit
from . import bp
from .forms import ActionForm
from .scope import actor, tenant_id


@bp.route("/failure-mail", methods=["POST"])
def failure_mail_save():
    """Off, at once, or a daily digest: the logged-in admin's own setting."""
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.overview"))
    choice = request.form.get("failure_mail", "")
    if choice not in failure_mail.CHOICES:
        flash(_("Nothing was saved: choose off, at once or a daily digest."), "error")
        return redirect(url_for("admin.overview") + "#failure-mail")
    before = current_user.failure_mail
    failure_mail.choose(current_user, choice)
    if before != choice:
        audit(tenant_id(), actor(), "user.saved", "user", current_user.id, changes={"failure_mail": [before, choice]})
    db.session.commit()
    flash(
        {
            "off": _("You get no mail about failed mail."),
            "immediate": _("You get a mail whenever a mail fails."),
            "daily": _("You get a daily digest of failed mail."),
        }[choice],
        "success",
    )
    return redirect(url_for("admin.overview") + "#failure-mail")
