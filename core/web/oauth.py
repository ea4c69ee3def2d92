"""The admin's OAuth2 account linking and provider presets.

Only these routes live here; the mail settings form itself is a page of its
own (``/settings/admin/mail``).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..mail import oauth
from ..mail.presets import PRESETS
from ..models import MailSettings
from ..notify import audit
from .auth import admin_required
from .words import tr

# template_folder: core/web/templates (the app itself, created as "postwerk",
# has no template folder of its own).
bp = Blueprint("mail_oauth", __name__, url_prefix="/settings/admin/mail", template_folder="templates")

# Back to the SMTP settings page, where the Link button is.
SETTINGS_PATH = "/settings/admin/mail/settings"
_SESSION_KEY = "postwerk_oauth"


def _settings() -> MailSettings:
    settings = db.session.get(MailSettings, current_user.tenant_id)
    if settings is None:
        abort(404)
    return settings


@bp.get("/oauth/link")
@admin_required
def link():
    """Send the admin to the identity provider's sign-in page."""
    settings = _settings()
    state = secrets.token_urlsafe(24)
    verifier, challenge = oauth.new_pkce()
    redirect_uri = url_for(".callback", _external=True)
    try:
        target = oauth.authorize_url(settings, redirect_uri=redirect_uri, state=state, code_challenge=challenge)
    except oauth.OAuthError as exc:
        flash(_("Cannot link the account: %(error)s", error=exc), "error")
        return redirect(SETTINGS_PATH)
    # The state ties the callback to this admin, this tenant and this attempt.
    session[_SESSION_KEY] = {
        "state": state,
        "verifier": verifier,
        "tenant_id": current_user.tenant_id,
        "redirect_uri": redirect_uri,
    }
    return redirect(target)


@bp.get("/oauth/callback")
@admin_required
def callback():
    pending = session.pop(_SESSION_KEY, None)
    if (
        not pending
        or not secrets.compare_digest(pending["state"], request.args.get("state", ""))
        or pending["tenant_id"] != current_user.tenant_id
    ):
        abort(400, "This sign-in answer does not belong to a link started here; start again.")
    if request.args.get("error"):
        reason = request.args.get("error_description") or request.args["error"]
        flash(_("The identity provider refused: %(error)s", error=reason), "error")
        return redirect(SETTINGS_PATH)
    code = request.args.get("code", "")
    if not code:
        abort(400, "The identity provider answered without a code.")
    settings = _settings()
    try:
        oauth.exchange_code(settings, code=code, redirect_uri=pending["redirect_uri"], verifier=pending["verifier"])
    except oauth.OAuthError as exc:
        db.session.rollback()
        flash(_("Linking the account failed: %(error)s", error=exc), "error")
        return redirect(SETTINGS_PATH)
    audit(
        settings.tenant_id,
        f"user:{current_user.id}",
        "mail.oauth_linked",
        "mail_settings",
        settings.tenant_id,
        provider=settings.oauth_provider,
    )
    db.session.commit()
    flash(_("The account is linked; mail will be sent with it."), "success")
    return redirect(SETTINGS_PATH)


@bp.get("/presets.json")
@admin_required
def presets():
    return jsonify(
        [dict(p.as_dict(), label=tr(p.label), note=tr(p.note), username_hint=tr(p.username_hint)) for p in PRESETS]
    )


@bp.get("/notifications")
@admin_required
def notifications():
    """The notification log lives at ``/settings/admin/mail/log`` (the mail
    admin's page); this older address keeps working for bookmarks."""
    return redirect(url_for("admin.notification_log", **request.args), code=301)
