"""Admin pages: mailboxes (list, new, edit, delete, test, poll now) and the
mail kept aside. Stored secrets are never shown back; an empty field keeps them."""

from __future__ import annotations

import ssl

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from core.api import (
    SecretError,
    TargetRefused,
    admin_required,
    check_target_host,
    current_tenant_id,
    db,
    plugin_enabled_required,
)

from . import exchange_views, senders, trust_views
from .connections import LOOPBACK, MailboxError, tls_context
from .models import PROTOCOLS, SECURITIES, Mailbox, QuarantinedMail, SeenMail
from .poller import check_connection, poll_mailbox

bp = Blueprint("inbound_mail", __name__, url_prefix="/settings/admin/inbound", template_folder="templates")

_PROTOCOL_LABELS = {"imap": "IMAP", "pop3": "POP3", "exchange": _l("Exchange (IMAP with OAuth 2)")}
_SECURITY_LABELS = {
    "ssl": _l("TLS (implicit, port 993/995)"),
    "starttls": "STARTTLS (port 143/110)",
    "none": _l("none (loopback or trusted network only)"),
}


def _protected(view):
    return admin_required(plugin_enabled_required("inbound_mail")(view))


trust_views.register(bp, _protected)
exchange_views.register(bp, _protected)


class MailboxForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    protocol = SelectField(_l("Protocol"), choices=[SelectChoice(p, _PROTOCOL_LABELS[p]) for p in PROTOCOLS])
    host = StringField(_l("Server"), validators=[DataRequired(), Length(max=255)])
    port = IntegerField(_l("Port"), validators=[DataRequired(), NumberRange(1, 65535)])
    security = SelectField(_l("Security"), choices=[SelectChoice(s, _SECURITY_LABELS[s]) for s in SECURITIES])
    username = StringField(_l("User name"), validators=[Length(max=255)])
    password = PasswordField(_l("Password (empty keeps the stored one)"))
    oauth_access_token = PasswordField(_l("OAuth access token for Exchange (empty keeps the stored one)"))
    folder = StringField(_l("IMAP folder"), default="INBOX", validators=[Length(max=255)])
    leave_on_server = BooleanField(_l("Leave mail on the server"), default=True)
    sender_pattern = StringField(
        _l("Allowed senders (regular expression on the address; empty allows all)"),
        validators=[Optional(), Length(max=senders.MAX_PATTERN_LENGTH)],
    )
    allow_unknown_senders = BooleanField(
        _l("Allow unknown senders (off: only the tenant's users and people its plugins know, e.g. ticket reporters)"),
        default=True,
    )
    trusted_authserv_id = StringField(
        _l("Trusted Authentication-Results host (authserv-id; empty: the tenant's trust policy)"),
        validators=[Optional(), Length(max=255)],
    )
    trusted_ca_pem = TextAreaField(_l("Trusted CA certificate (PEM, for an internal server)"), validators=[Optional()])
    enabled = BooleanField(_l("Poll this mailbox"), default=True)

    def validate_sender_pattern(self, field):
        try:
            field.data = senders.validate(field.data or "")
        except senders.PatternError as exc:
            raise ValidationError(str(exc)) from None

    def validate_host(self, field):
        try:
            check_target_host((field.data or "").strip(), self.port.data or 0)
        except TargetRefused as exc:
            raise ValidationError(str(exc)) from None

    def validate_security(self, field):
        if field.data == "none" and (self.host.data or "").strip().lower() not in LOOPBACK:
            raise ValidationError(
                "without TLS the password would cross the network in clear; "
                "choose TLS or STARTTLS (none is only for a server on this machine)"
            )

    def validate_trusted_ca_pem(self, field):
        if field.data and field.data.strip():
            try:
                tls_context(field.data.strip())
            except (ssl.SSLError, ValueError):
                raise ValidationError("this is not a PEM certificate") from None


def _mailbox(mailbox_id: int) -> Mailbox:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.tenant_id != current_tenant_id():
        abort(404)
    return mailbox


def _name_taken(tenant_id: int, name: str, own_id: int | None) -> bool:
    other = db.session.execute(
        db.select(Mailbox.id).where(Mailbox.tenant_id == tenant_id, Mailbox.name == name)
    ).scalar()
    return other is not None and other != own_id


@bp.route("/")
@_protected
def index():
    tenant_id = current_tenant_id()
    mailboxes = (
        db.session.execute(db.select(Mailbox).where(Mailbox.tenant_id == tenant_id).order_by(Mailbox.name))
        .scalars()
        .all()
    )
    kept = (
        db.session.execute(
            db.select(QuarantinedMail)
            .where(QuarantinedMail.tenant_id == tenant_id)
            .order_by(QuarantinedMail.id.desc())
            .limit(100)
        )
        .scalars()
        .all()
    )
    names = {m.id: m.name for m in mailboxes}
    return render_template("inbound_mail/index.html", mailboxes=mailboxes, kept=kept, names=names)


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:mailbox_id>/edit", methods=["GET", "POST"])
@_protected
def edit(mailbox_id: int | None = None):
    tenant_id = current_tenant_id()
    mailbox = _mailbox(mailbox_id) if mailbox_id is not None else None
    form = MailboxForm(obj=mailbox)
    if mailbox is None and not form.is_submitted():
        form.port.data = 993
    if form.validate_on_submit():
        if _name_taken(tenant_id, form.name.data.strip(), mailbox.id if mailbox else None):
            form.name.errors.append("another mailbox has this name")
        else:
            if mailbox is None:
                mailbox = Mailbox(tenant_id=tenant_id)
                db.session.add(mailbox)
            # A stored secret never follows a changed server: without the
            # secret entered again, the stored one is dropped.
            moved = mailbox.id is not None and (
                (mailbox.host or "").strip().lower() != form.host.data.strip().lower() or mailbox.port != form.port.data
            )
            if moved and not form.password.data and mailbox.password_encrypted:
                mailbox.password_encrypted = None
                flash(_("The server changed, so the stored password was removed: enter it again."), "warning")
            if moved and not form.oauth_access_token.data:
                mailbox.oauth_access_token_encrypted = mailbox.oauth_refresh_token_encrypted = None
            for field in (
                "protocol",
                "host",
                "port",
                "security",
                "username",
                "folder",
                "leave_on_server",
                "sender_pattern",
                "allow_unknown_senders",
                "trusted_authserv_id",
                "enabled",
            ):
                value = getattr(form, field).data
                setattr(mailbox, field, value.strip() if isinstance(value, str) else value)
            mailbox.name = form.name.data.strip()
            mailbox.folder = mailbox.folder or "INBOX"
            mailbox.trusted_ca_pem = (form.trusted_ca_pem.data or "").strip() or None
            if form.password.data:
                mailbox.password = form.password.data
            if form.oauth_access_token.data:
                mailbox.oauth_access_token = form.oauth_access_token.data
            # Changed settings deserve a poll now, not after the backoff.
            mailbox.failures, mailbox.next_poll_at = 0, None
            db.session.commit()
            flash(_("Mailbox %(name)s saved.", name=mailbox.name), "success")
            return redirect(url_for("inbound_mail.index"))
    return render_template("inbound_mail/edit.html", form=form, mailbox=mailbox)


@bp.route("/<int:mailbox_id>/delete", methods=["POST"])
@_protected
def delete(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    name = mailbox.name
    db.session.delete(mailbox)
    db.session.commit()
    flash(_("Mailbox %(name)s removed; the mail on its server is untouched.", name=name), "success")
    return redirect(url_for("inbound_mail.index"))


@bp.route("/<int:mailbox_id>/test", methods=["POST"])
@_protected
def test(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    try:
        flash(f"{mailbox.name}: {check_connection(mailbox)}.", "success")
    except (MailboxError, SecretError) as exc:
        flash(f"{mailbox.name}: {exc}", "error")
    return redirect(url_for("inbound_mail.index"))


@bp.route("/<int:mailbox_id>/poll", methods=["POST"])
@_protected
def poll(mailbox_id: int):
    mailbox = _mailbox(mailbox_id)
    name = mailbox.name
    result = poll_mailbox(mailbox.id)
    flash(f"{name}: {result}", "error" if result.startswith("failed") else "success")
    return redirect(url_for("inbound_mail.index"))


@bp.route("/<int:mailbox_id>/skip", methods=["POST"])
@_protected
def skip(mailbox_id: int):
    """Keep the mail that keeps failing aside now, unread, and go on with the rest."""
    mailbox = _mailbox(mailbox_id)
    name, key = mailbox.name, mailbox.stuck_key
    if not key or request.form.get("key") != key:
        flash(_("%(name)s: no mail is waiting to be skipped (it may have been handled meanwhile).", name=name), "error")
        return redirect(url_for("inbound_mail.index"))
    result = poll_mailbox(mailbox.id, skip=key)
    flash(f"{name}: {result}", "error" if result.startswith("failed") else "success")
    return redirect(url_for("inbound_mail.index"))


OUTCOMES = ("handled", "automatic", "bounce", "duplicate", "quarantined")


@bp.route("/<int:mailbox_id>/mails")
@_protected
def mails(mailbox_id: int):
    """Every mail this mailbox processed, newest first: what it became and why."""
    mailbox = _mailbox(mailbox_id)
    outcome = request.args.get("outcome", "")
    query = db.select(SeenMail).where(SeenMail.tenant_id == mailbox.tenant_id, SeenMail.mailbox_id == mailbox.id)
    if outcome in OUTCOMES:
        query = query.where(SeenMail.outcome == outcome)
    else:
        outcome = ""
    rows = db.session.execute(query.order_by(SeenMail.id.desc()).limit(500)).scalars().all()
    kept = dict(
        db.session.execute(
            db.select(QuarantinedMail.seen_id, QuarantinedMail.id).where(
                QuarantinedMail.tenant_id == mailbox.tenant_id,
                QuarantinedMail.seen_id.in_([r.id for r in rows if r.outcome == "quarantined"]),
            )
        ).all()
    )
    return render_template(
        "inbound_mail/mails.html", mailbox=mailbox, rows=rows, outcome=outcome, outcomes=OUTCOMES, kept=kept
    )


@bp.route("/kept/<int:kept_id>.eml")
@_protected
def raw(kept_id: int):
    kept = db.session.get(QuarantinedMail, kept_id)
    if kept is None or kept.tenant_id != current_tenant_id():
        abort(404)
    # Served as a download, never rendered: the bytes are untrusted.
    return Response(
        kept.raw,
        mimetype="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="kept-{kept.id}.eml"',
            "X-Content-Type-Options": "nosniff",
        },
    )
