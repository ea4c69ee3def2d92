"""The settings page's helpers for the sending options: provider presets
(server-side, so they work without JavaScript), the connection check,
removing the DKIM key or the linked OAuth account, and what the page shows
about them (DNS record, linked account, why the system sender was forced).
"""

from __future__ import annotations

from flask import current_app, flash, jsonify, redirect, url_for
from flask_babel import gettext as _

from ..extensions import db
from ..mail.delivery import check_connection
from ..mail.presets import BY_KEY
from ..mail.transport import DeliveryError
from ..models import MailSettings
from ..models.types import utcnow
from ..notify import audit
from . import bp
from .forms import ActionForm, TestMailForm
from .scope import actor, tenant_id
from .sending_form import SendingSettingsForm, default_scopes
from .settings_page import form_for, hint_for, page_extras  # noqa: F401 (page_extras: name kept here)
from .settings_page import page as _page
from ..web.words import tr
from ..web.words import said


def apply_preset(form: SendingSettingsForm, settings: MailSettings):
    """Fill the posted form with the chosen preset and show it again, unsaved:
    the admin still enters the credentials and saves."""
    chosen = BY_KEY.get(form.preset.data or "")
    if chosen is None:
        flash(_("Choose a provider preset first."), "error")
        return _page(form, settings, status=400)
    form.host.data, form.port.data, form.security.data = chosen.host, chosen.port, chosen.security
    form.port.raw_data = None  # else the posted port is shown again
    form.auth.data = chosen.auth
    form.system_sender_only.data = chosen.system_sender_only or bool(form.system_sender_only.data)
    if chosen.oauth_provider:
        form.oauth_provider.data = chosen.oauth_provider
        form.oauth_scopes.data = default_scopes(chosen.oauth_provider)
    flash(_("Preset “%(name)s” filled in: check the fields, enter the login and save.", name=tr(chosen.label)), "info")
    return _page(form, settings, preset=chosen)


@bp.route("/settings/check", methods=["POST"])
def settings_check():
    """Connect, log in and quit: shows the server's words; sends nothing."""
    settings = db.session.get(MailSettings, tenant_id())
    if settings is None or not settings.host:
        flash(_("Save the SMTP settings first."), "error")
        return redirect(url_for("admin.settings_page"))
    outcome = _check(settings)
    return _page(form_for(settings), settings, test_form=TestMailForm(), test_outcome=outcome)


def _check(settings: MailSettings) -> dict:
    try:
        outcome = {"ok": True, "words": check_connection(settings), "hint": "", "check": True}
    except DeliveryError as exc:
        outcome = {"ok": False, "words": exc.text, "hint": hint_for(exc), "check": True}
    except ValueError as exc:  # a stored CA certificate that no longer parses
        outcome = {"ok": False, "words": str(exc), "hint": _("Check the settings above."), "check": True}
    record_test(settings, outcome, "mail_settings.checked", "connection check")
    return outcome


@bp.route("/settings/check.json", methods=["POST"])
def settings_check_json():
    """The check the settings page runs by itself after a save (admin_settings.js):
    the save never waits for the server; the page shows the answer when it comes."""
    if not ActionForm().validate_on_submit():
        return jsonify({"error": "csrf"}), 400
    settings = db.session.get(MailSettings, tenant_id())
    if settings is None or not settings.host:
        return jsonify({"ok": False, "words": "", "hint": _("Save the SMTP settings first.")})
    outcome = _check(settings)
    title = _("Connection works.") if outcome["ok"] else _("No connection.")
    return jsonify({"ok": outcome["ok"], "title": title, "words": said(outcome["words"]), "hint": outcome["hint"]})


def record_test(settings: MailSettings, outcome: dict, action: str, what: str) -> None:
    """Keep the outcome of a test button on the settings, in the audit log
    and in the application log, and commit."""
    settings.last_test_at = utcnow()
    settings.last_test_result = ("OK: " if outcome["ok"] else "FAILED: ") + outcome["words"]
    audit(tenant_id(), actor(), action, "mail_settings", tenant_id(), ok=outcome["ok"], answer=outcome["words"])
    db.session.commit()
    current_app.logger.info("%s for tenant %s: %s", what, tenant_id(), settings.last_test_result)


def _remove(columns: tuple[str, ...], action: str, message: str):
    form = ActionForm()
    if form.validate_on_submit():
        settings = db.session.get(MailSettings, tenant_id())
        if settings is not None and any(getattr(settings, c) for c in columns):
            for column in columns:
                setattr(settings, column, None)
            audit(tenant_id(), actor(), action, "mail_settings", tenant_id())
            db.session.commit()
            flash(message, "success")
    return redirect(url_for("admin.settings_page"))


@bp.route("/settings/delete-dkim-key", methods=["POST"])
def settings_delete_dkim_key():
    return _remove(
        ("dkim_private_key_encrypted",),
        "mail_settings.dkim_key_deleted",
        _("The DKIM key was removed; mail is no longer signed."),
    )


@bp.route("/settings/unlink-oauth", methods=["POST"])
def settings_unlink_oauth():
    return _remove(
        ("oauth_access_token_encrypted", "oauth_refresh_token_encrypted", "oauth_expires_at"),
        "mail_settings.oauth_unlinked",
        _("The linked account was removed from Postwerk."),
    )
