"""What the settings page shows, shared by the views of ``settings.py``
(saving, the test mail) and ``sending.py`` (presets, the connection check):
the form filled from the row, the page itself with what it says about DKIM,
OAuth and a forced system sender, and the hint for a failed test."""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _

from ..crypto import SecretError, decrypt
from ..extensions import db
from ..mail.dkim import DkimKey, dns_record
from ..mail.transport import DEFAULT_PORTS, ConfigurationError, DeliveryError
from ..models import AuditEntry, MailSettings
from .forms import ActionForm, TestMailForm
from .sending_form import SendingSettingsForm, default_scopes


def form_for(settings: MailSettings) -> SendingSettingsForm:
    """The form filled from the stored row (secrets never)."""
    form = SendingSettingsForm(obj=settings)
    form.oauth_provider.data = settings.oauth_provider or "microsoft"
    # Empty scopes mean the provider's defaults: show them, so the admin sees what is asked for.
    form.oauth_scopes.data = settings.oauth_scopes or default_scopes(form.oauth_provider.data)
    return form


def page(
    form: SendingSettingsForm,
    settings: MailSettings,
    test_form: TestMailForm | None = None,
    test_outcome: dict | None = None,
    status: int = 200,
    preset=None,
    check_after_save: bool = False,
):
    return render_template(
        "admin/settings.html",
        form=form,
        settings=settings,
        test_form=test_form or TestMailForm(),
        action_form=ActionForm(),
        test_outcome=test_outcome,
        preset=preset,
        check_after_save=check_after_save,
        **page_extras(settings),
    ), status


def page_extras(settings: MailSettings) -> dict:
    return {
        "dkim_dns": _dkim_dns(settings),
        "forced_reason": _forced_reason(settings),
        "oauth_linked": bool(settings.oauth_refresh_token_encrypted or settings.oauth_access_token_encrypted),
        "default_ports": {s.value: port for s, port in DEFAULT_PORTS.items()},
        "check_form": ActionForm(id="check"),
    }


def _dkim_dns(settings: MailSettings) -> tuple[str, str] | None:
    if not (settings.dkim_private_key_encrypted and settings.dkim_domain and settings.dkim_selector):
        return None
    try:
        pem = decrypt(settings.dkim_private_key_encrypted)
    except SecretError:
        return None
    return dns_record(DkimKey(settings.dkim_domain, settings.dkim_selector, pem))


def _forced_reason(settings: MailSettings) -> str | None:
    """The server's answer that made delivery switch to the system sender."""
    if not settings.system_sender_only or settings.tenant_id is None:
        return None
    entry = db.session.execute(
        db.select(AuditEntry)
        .where(AuditEntry.tenant_id == settings.tenant_id, AuditEntry.action == "mail.system_sender_forced")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return (entry.detail or {}).get("reason") if entry else None


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
