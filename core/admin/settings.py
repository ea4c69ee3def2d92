"""SMTP settings, the test mail and removing the stored password.

The form is ``sending_form.SendingSettingsForm`` (the basic fields plus the
other logins, DKIM and the forced system sender); ``settings_save`` copies
it onto the row. Presets, the connection check and removing the DKIM key
live in ``sending.py``.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from wtforms.validators import ValidationError

from ..crypto import encrypt
from ..extensions import db
from ..mail import mime
from ..crypto import SecretError
from ..mail import inbound_login
from ..mail.delivery import dkim_key, mailbox_credentials, smtp_config
from ..mail.dkim import signed
from ..mail.jobs import wake_deliverer
from ..mail.transport import DeliveryError, SmtpTransport
from ..models import MailSettings
from ..notify import audit
from ..tenancy import get_tenant
from . import bp
from .forms import ActionForm, TestMailForm
from .scope import actor, tenant_id
from .sending import apply_preset, record_test
from .settings_page import form_for, hint_for  # noqa: F401 (hint_for: name kept here)
from .settings_page import page as _page
from .sending_form import SendingSettingsForm, default_scopes, resolve_port

# Columns the form edits directly (the port, scopes and secrets are handled apart).
PLAIN_FIELDS = (
    "host",
    "security",
    "auth",
    "username",
    "sender_address",
    "sender_name",
    "reply_to",
    "bounce_address",
    "sender_mode",
    "encoding",
    "max_connections",
    "system_sender_only",
    "pop3_host",
    "pop3_port",
    "pop3_security",
    "pop3_username",
    "oauth_provider",
    "oauth_authority",
    "oauth_tenant",
    "oauth_client_id",
    "dkim_domain",
    "dkim_selector",
)
# Changing any of these makes the linked account's tokens useless.
OAUTH_IDENTITY = ("oauth_provider", "oauth_authority", "oauth_tenant", "oauth_client_id")
# Secret inputs: an empty field keeps the stored value; audited by name only.
SECRETS = {
    "password": "password_encrypted",
    "pop3_password": "pop3_password_encrypted",
    "oauth_client_secret": "oauth_client_secret_encrypted",
}
# Where each secret goes: a stored secret never follows a changed server
# (RELIABILITY 36). Changing one of these without entering the secret again
# drops the stored one; the OAuth tokens also go to the SMTP server (XOAUTH2).
SECRET_TARGETS = {
    "password": ("host", "port"),
    "pop3_password": ("pop3_host", "pop3_port"),
    "oauth_client_secret": ("oauth_provider", "oauth_authority"),
}
TOKEN_TARGETS = ("host", "port", "oauth_provider", "oauth_authority")


def current_settings() -> MailSettings:
    settings = db.session.get(MailSettings, tenant_id())
    if settings is None:
        settings = MailSettings(
            tenant_id=tenant_id(),
            host="",
            port=587,
            security="starttls",
            auth="none",
            username="",
            sender_address="",
            sender_name="",
            reply_to="",
            bounce_address="",
            sender_mode="system",
            encoding="utf-8",
            max_connections=10,
            system_sender_only=False,
            pop3_host="",
            pop3_port=995,
            pop3_security="ssl",
            pop3_username="",
            oauth_provider="",
            oauth_authority="",
            oauth_tenant="",
            oauth_client_id="",
            oauth_scopes="",
            dkim_domain="",
            dkim_selector="",
        )
    return settings


@bp.route("/settings", methods=["GET"])
def settings_page():
    settings = current_settings()
    return _page(form_for(settings), settings, check_after_save=bool(request.args.get("saved")) and bool(settings.host))


@bp.route("/settings", methods=["POST"])
def settings_save():
    settings = current_settings()
    form = SendingSettingsForm()
    if "apply_preset" in request.form:
        return apply_preset(form, settings)
    pem = dkim_pem = None
    valid = form.validate()
    if valid:
        try:
            pem = form.trusted_ca_pem()
            dkim_pem = form.dkim_pem()
        except ValidationError:
            valid = False
    if not valid:
        return _page(form, settings, status=400)
    form.port.data = resolve_port(
        form.port.data,
        form.security.data,
        previous_port=settings.port,
        previous_security=settings.security or "starttls",
    )
    scopes = " ".join((form.oauth_scopes.data or "").split())
    if scopes == default_scopes(form.oauth_provider.data):
        scopes = ""  # the provider's defaults, also after switching provider
    new = {name: _clean(getattr(form, name).data) for name in (*PLAIN_FIELDS, "port")}
    new["oauth_scopes"] = scopes
    # Fields a client did not send (older forms, scripts) keep sensible values.
    new["pop3_port"] = new["pop3_port"] or (995 if new["pop3_security"] == "ssl" else 110)
    new.update({name: "" for name, value in new.items() if value is None})
    if not settings.oauth_provider and new["auth"] != "oauth2" and new["oauth_provider"] == "microsoft":
        new["oauth_provider"] = ""  # the form shows Microsoft for an empty provider; the admin did not choose it
    # Only what the admin changed: None and "" are the same empty field.
    changed = [
        name
        for name, value in new.items()
        if (getattr(settings, name) or "") != (value or "") and getattr(settings, name) != value
    ]
    confirmed_for, problem = _inbound_login_confirmation(form, settings, new, changed)
    if problem:
        form.inbound_password.errors = [*form.inbound_password.errors, problem]
        return _page(form, settings, status=400)
    if confirmed_for != settings.inbound_login_confirmed_for:
        changed.append(
            f"inbound login allowed for {confirmed_for}"
            if confirmed_for
            else "inbound login permission removed (server changed)"
        )
        settings.inbound_login_confirmed_for = confirmed_for
    dropped = _drop_moved_secrets(form, settings, changed)
    linked = settings.oauth_refresh_token_encrypted or settings.oauth_access_token_encrypted
    if linked and any(name in changed for name in (*OAUTH_IDENTITY, *TOKEN_TARGETS)):
        # Another app or directory: the stored tokens belong to the old one.
        settings.oauth_access_token_encrypted = settings.oauth_refresh_token_encrypted = None
        settings.oauth_expires_at = None
        changed.append("oauth tokens removed")
    for name, value in new.items():
        setattr(settings, name, value)
    for field_name, column in SECRETS.items():
        if getattr(form, field_name).data:
            setattr(settings, column, encrypt(getattr(form, field_name).data))
            changed.append(field_name)
    if dkim_pem is not None:
        settings.dkim_private_key_encrypted = encrypt(dkim_pem)
        changed.append("dkim_private_key")
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
    audit(
        tenant_id(),
        actor(),
        "mail_settings.saved",
        "mail_settings",
        tenant_id(),
        changed=changed,
        cleared_broken_reason=previous_break,
    )
    db.session.commit()
    wake_deliverer(tenant_id())
    flash(_("Settings saved."), "success")
    if dropped:
        flash(
            _(
                "The server changed, so the stored secret was removed: enter it again (%(fields)s).",
                fields=", ".join(str(getattr(form, name).label.text) for name in dropped),
            ),
            "warning",
        )
    # The page then tries the connection by itself (admin_settings.js), without holding up the save.
    return redirect(url_for("admin.settings_page", saved=1) if settings.host else url_for("admin.settings_page"))


def _drop_moved_secrets(form: SendingSettingsForm, settings: MailSettings, changed: list[str]) -> list[str]:
    """Remove each stored secret whose server changed while its field was left
    empty; returns the names of the form fields concerned."""
    dropped = []
    for field_name, targets in SECRET_TARGETS.items():
        column = SECRETS[field_name]
        if (
            getattr(settings, column)
            and not getattr(form, field_name).data
            and any(name in changed for name in targets)
        ):
            setattr(settings, column, None)
            changed.append(f"{field_name} removed (server changed)")
            dropped.append(field_name)
    return dropped


def _inbound_login_confirmation(
    form: SendingSettingsForm, settings: MailSettings, new: dict, changed: list[str]
) -> tuple[str | None, str | None]:
    """The SMTP server the incoming mailbox's password may go to besides the
    mailbox's own (``MailSettings.inbound_login_confirmed_for``), and why the
    form is refused, if it is: a changed host or port drops the permission,
    and "same login as the incoming mailbox" with another server than the
    mailbox's needs the mailbox password typed (core.mail.inbound_login)."""
    moved = "host" in changed or "port" in changed
    confirmed_for = None if moved else settings.inbound_login_confirmed_for
    if new["auth"] != "inbound" or not new["host"]:
        return confirmed_for, None
    login = mailbox_credentials(tenant_id())
    if login is None or inbound_login.same_server(login, new["host"]):
        return confirmed_for, None
    server = inbound_login.target(new["host"], new["port"])
    typed = form.inbound_password.data or ""
    if typed:
        if not inbound_login.confirms(login, typed):
            return confirmed_for, _("This is not the incoming mailbox's password; nothing was allowed.")
        return server, None
    if confirmed_for == server:
        return confirmed_for, None
    return confirmed_for, _(
        "The incoming mailbox's password was saved for its own server (%(mailbox)s), not for "
        "%(server)s. Enter it here to allow sending it to %(server)s, or choose another login.",
        mailbox=login.host or _("unknown"),
        server=server,
    )


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


def send_test_mail(settings: MailSettings, recipient: str) -> dict:
    """Send one mail directly (not through the queue); the server's words come back."""
    sender = settings.sender_address or f"postwerk@{get_tenant(settings.tenant_id).slug}.invalid"
    tenant = get_tenant(settings.tenant_id)
    try:
        payload = mime.build(
            sender=sender,
            sender_name=settings.sender_name or tenant.name,
            recipients=[recipient],
            subject=_("Postwerk test mail"),
            body_text=_("This test mail shows that %(tenant)s can send mail.", tenant=tenant.name),
            body_html="",
            message_id=mime.new_message_id(sender),
            reply_to=settings.reply_to,
            encoding=settings.encoding,
        )
        # Signed like real mail, so the test also shows that DKIM works.
        payload = signed(payload, dkim_key(settings), sender)
        needs_utf8 = mime.needs_smtputf8(sender, [recipient], settings.reply_to)
        envelope_from, envelope_to = mime.transport_address(sender)[0], mime.transport_address(recipient)[0]
        with SmtpTransport(smtp_config(settings)) as transport:
            results = transport.send(envelope_from, [envelope_to], payload, needs_smtputf8=needs_utf8)
        answer = results.get(envelope_to, "")
    except DeliveryError as exc:
        return {"ok": False, "words": exc.text, "hint": hint_for(exc)}
    except (ValueError, SecretError) as exc:  # a stored CA or DKIM key that no longer works, a bad address
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
        return _page(form_for(settings), settings, test_form=form, status=400)
    outcome = send_test_mail(settings, form.recipient.data.strip())
    record_test(settings, outcome, "mail_settings.tested", "test mail")
    return _page(form_for(settings), settings, test_form=form, test_outcome=outcome)
