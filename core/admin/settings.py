"""SMTP settings, the test mail and removing the stored password.

The form lives in ``forms.SmtpSettingsForm``; ``apply()`` copies it onto the
row, so more fields (OAuth2, presets, DKIM) are added in one place.
"""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms.validators import ValidationError

from ..crypto import encrypt
from ..extensions import db
from ..mail import mime
from ..mail.delivery import smtp_config
from ..mail.jobs import wake_deliverer
from ..mail.transport import ConfigurationError, DeliveryError, SmtpTransport
from ..models import MailSettings
from ..models.types import utcnow
from ..notify import audit
from ..tenancy import get_tenant
from . import bp
from .forms import ActionForm, SmtpSettingsForm, TestMailForm
from .scope import actor, tenant_id

# Columns the form edits directly (the password and CA are handled apart).
PLAIN_FIELDS = ("host", "port", "security", "auth", "username", "sender_address", "sender_name", "reply_to",
                "sender_mode", "encoding", "max_connections")


def current_settings() -> MailSettings:
    settings = db.session.get(MailSettings, tenant_id())
    if settings is None:
        settings = MailSettings(tenant_id=tenant_id(), host="", port=587, security="starttls", auth="none",
                                username="", sender_address="", sender_name="", reply_to="",
                                sender_mode="system", encoding="utf-8", max_connections=10)
    return settings


def _page(form: SmtpSettingsForm, settings: MailSettings, test_form: TestMailForm | None = None,
          test_outcome: dict | None = None, status: int = 200):
    return render_template("admin/settings.html", form=form, settings=settings,
                           test_form=test_form or TestMailForm(), action_form=ActionForm(),
                           test_outcome=test_outcome), status


@bp.route("/settings", methods=["GET"])
def settings_page():
    settings = current_settings()
    return _page(SmtpSettingsForm(obj=settings), settings)


@bp.route("/settings", methods=["POST"])
def settings_save():
    settings = current_settings()
    form = SmtpSettingsForm()
    pem = None
    valid = form.validate()
    if valid:
        try:
            pem = form.trusted_ca_pem()
        except ValidationError:
            valid = False
    if not valid:
        return _page(form, settings, status=400)
    changed = [name for name in PLAIN_FIELDS if getattr(settings, name) != _clean(getattr(form, name).data)]
    for name in PLAIN_FIELDS:
        setattr(settings, name, _clean(getattr(form, name).data))
    if form.password.data:
        settings.password_encrypted = encrypt(form.password.data)
        changed.append("password")
    if pem is not None:
        settings.trusted_ca_pem = pem
        changed.append("trusted_ca_pem")
    elif form.remove_trusted_ca.data and settings.trusted_ca_pem:
        settings.trusted_ca_pem = None
        changed.append("trusted_ca_pem removed")
    # New settings deserve a new try: held mail goes out again.
    previous_break = settings.broken_reason
    settings.broken_reason = None
    db.session.add(settings)
    audit(tenant_id(), actor(), "mail_settings.saved", "mail_settings", tenant_id(), changed=changed,
          cleared_broken_reason=previous_break)
    db.session.commit()
    wake_deliverer(tenant_id())
    flash(_("Settings saved."), "success")
    return redirect(url_for("admin.settings_page"))


def _clean(value):
    return value.strip() if isinstance(value, str) else value


@bp.route("/settings/delete-password", methods=["POST"])
def settings_delete_password():
    form = ActionForm(id="password")
    if not form.validate_on_submit():
        return redirect(url_for("admin.settings_page"))
    settings = db.session.get(MailSettings, tenant_id())
    if settings is not None and settings.password_encrypted:
        settings.password_encrypted = None
        audit(tenant_id(), actor(), "mail_settings.password_deleted", "mail_settings", tenant_id())
        db.session.commit()
        flash(_("The stored password was deleted."), "success")
    return redirect(url_for("admin.settings_page"))


def hint_for(error: DeliveryError) -> str:
    """What the admin should look at, from the kind of error."""
    text = error.text.lower()
    if "certificate" in text:
        return _("Certificate: upload the CA certificate of an internal server, or check the host name.")
    if "login refused" in text or error.code in (530, 535) or "auth" in text:
        return _("Authentication: check user name, password and the authentication method.")
    if "tls" in text or "ssl" in text or "starttls" in text or "wrong version number" in text:
        return _("Port and TLS: SSL/TLS usually runs on port 465, STARTTLS on 587 (or 25).")
    if "cannot connect" in text or "did not answer" in text or "closed the connection" in text:
        return _("Connection: check the server name and port, and that the server is reachable.")
    if isinstance(error, ConfigurationError):
        return _("Check the settings above.")
    return _("The server refused the mail: read its answer above.")


def send_test_mail(settings: MailSettings, recipient: str) -> dict:
    """Send one mail directly (not through the queue); the server's words come back."""
    sender = settings.sender_address or f"postwerk@{get_tenant(settings.tenant_id).slug}.invalid"
    tenant = get_tenant(settings.tenant_id)
    try:
        payload = mime.build(sender=sender, sender_name=settings.sender_name or tenant.name,
                             recipients=[recipient], subject=_("Postwerk test mail"),
                             body_text=_("This test mail shows that %(tenant)s can send mail.", tenant=tenant.name),
                             body_html="", message_id=mime.new_message_id(sender), reply_to=settings.reply_to,
                             encoding=settings.encoding)
        needs_utf8 = mime.needs_smtputf8(sender, [recipient], settings.reply_to)
        envelope_from, envelope_to = mime.transport_address(sender)[0], mime.transport_address(recipient)[0]
        with SmtpTransport(smtp_config(settings)) as transport:
            results = transport.send(envelope_from, [envelope_to], payload, needs_smtputf8=needs_utf8)
        answer = results.get(envelope_to, "")
    except DeliveryError as exc:
        return {"ok": False, "words": exc.text, "hint": hint_for(exc)}
    except ValueError as exc:  # e.g. a stored CA that no longer parses, or a bad address
        return {"ok": False, "words": str(exc), "hint": _("Check the settings above.")}
    if not answer.startswith("25"):
        return {"ok": False, "words": answer, "hint": _("The server refused the recipient.")}
    return {"ok": True, "words": answer, "hint": ""}


@bp.route("/test", methods=["POST"])
def settings_test():
    settings = db.session.get(MailSettings, tenant_id())
    form = TestMailForm()
    if settings is None or not settings.host:
        flash(_("Save the SMTP settings first."), "error")
        return redirect(url_for("admin.settings_page"))
    if not form.validate_on_submit():
        return _page(SmtpSettingsForm(obj=settings), settings, test_form=form, status=400)
    outcome = send_test_mail(settings, form.recipient.data.strip())
    settings.last_test_at = utcnow()
    settings.last_test_result = ("OK: " if outcome["ok"] else "FAILED: ") + outcome["words"]
    audit(tenant_id(), actor(), "mail_settings.tested", "mail_settings", tenant_id(), ok=outcome["ok"],
          answer=outcome["words"])
    db.session.commit()
    current_app.logger.info("test mail for tenant %s: %s", tenant_id(), settings.last_test_result)
    return _page(SmtpSettingsForm(obj=settings), settings, test_form=form, test_outcome=outcome)
