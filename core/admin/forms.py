"""The admin's forms (Flask-WTF: CSRF on every POST).

Choice lists that other features extend (authentication methods, recipient
kinds) are module-level lists, so adding OAuth2 or distribution lists is one
more entry, not a new form.
"""

from __future__ import annotations

import ssl

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    SelectChoice,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, ValidationError

from ..mail import return_path
from ..mail.transport import Security, tls_context


def options(pairs, optgroup: str | None = None) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices (tuples are deprecated in 3.3)."""
    return [SelectChoice(value, label, optgroup=optgroup) for value, label in pairs]


def grouped(groups: dict) -> list[SelectChoice]:
    """{group label: [(value, label), ...]} as choices in <optgroup>s."""
    return [choice for group, pairs in groups.items() for choice in options(pairs, str(group))]


SECURITY_CHOICES = [
    (Security.STARTTLS.value, _l("STARTTLS (required)")),
    (Security.SSL.value, _l("SSL/TLS (implicit, usually port 465)")),
    (Security.STARTTLS_OPTIONAL.value, _l("STARTTLS if offered (trusted network only)")),
    (Security.NONE.value, _l("None (internal relay only)")),
]
AUTH_CHOICES = [
    ("none", _l("No login")),
    ("password", _l("User name and password")),
]
SENDER_MODE_CHOICES = [
    ("system", _l("Always the sender address above")),
    ("user", _l("The user who caused the mail, when there is one")),
]
ENCODING_CHOICES = [("utf-8", "UTF-8"), ("iso-8859-1", "ISO-8859-1 (Latin-1)")]
LANGUAGE_CHOICES = [("de", _l("German")), ("en", _l("English"))]


class ActionForm(FlaskForm):
    """A button that acts on one object: just the id and the CSRF token."""

    id = HiddenField(validators=[DataRequired()])


class SmtpSettingsForm(FlaskForm):
    host = StringField(_l("SMTP server"), validators=[Optional(), Length(max=255)])
    port = IntegerField(_l("Port"), validators=[InputRequired(), NumberRange(1, 65535)], default=587)
    security = SelectField(_l("Security"), choices=options(SECURITY_CHOICES), default=Security.STARTTLS.value)
    auth = SelectField(_l("Authentication"), choices=options(AUTH_CHOICES), default="none")
    username = StringField(_l("User name"), validators=[Optional(), Length(max=255)])
    # Never rendered with a value (hide_value): the stored password stays on the server.
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=1000)])
    sender_address = EmailField(_l("Sender address"), validators=[Optional(), Email(), Length(max=254)])
    sender_name = StringField(_l("Sender name"), validators=[Optional(), Length(max=200)])
    reply_to = EmailField(_l("Reply-To"), validators=[Optional(), Email(), Length(max=254)])
    bounce_address = StringField(
        _l("Bounce address (VERP; empty: bounces go to the sender address)"), validators=[Optional(), Length(max=254)]
    )
    sender_mode = SelectField(
        _l("Sender of mail caused by a user"), choices=options(SENDER_MODE_CHOICES), default="system"
    )
    encoding = SelectField(_l("Encoding"), choices=options(ENCODING_CHOICES), default="utf-8")
    max_connections = IntegerField(
        _l("Connections at most"), validators=[InputRequired(), NumberRange(1, 100)], default=10
    )
    trusted_ca = FileField(_l("Trusted CA certificate (PEM), for an internal server"))
    remove_trusted_ca = BooleanField(_l("Remove the trusted CA certificate"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at use time, so entries appended by other modules show up.
        self.auth.choices = options(AUTH_CHOICES)
        self.security.choices = options(SECURITY_CHOICES)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Optional() ends the field's own chain when empty, so this cross-field
        # rule is checked here.
        if self.auth.data == "password" and not (self.username.data or "").strip():
            self.username.errors = [*self.username.errors, _l("A login needs a user name.")]
            valid = False
        return valid

    def validate_bounce_address(self, field):
        try:
            field.data = return_path.check(field.data or "")
        except return_path.BounceAddressError as exc:
            raise ValidationError(str(exc)) from None

    def validate_host(self, field):
        if field.data and any(c.isspace() for c in field.data.strip()):
            raise ValidationError(_l("A host name has no spaces."))

    def trusted_ca_pem(self) -> str | None:
        """The uploaded PEM, checked; None when nothing was uploaded."""
        upload = self.trusted_ca.data
        if not upload or not getattr(upload, "filename", ""):
            return None
        pem = upload.read(200_000).decode("ascii", "replace")
        try:
            tls_context(pem)
        except (ssl.SSLError, ValueError) as exc:
            self.trusted_ca.errors = [*self.trusted_ca.errors, _l("Not a PEM certificate: %(error)s", error=exc)]
            raise ValidationError(str(exc)) from exc
        return pem


class TestMailForm(FlaskForm):
    recipient = EmailField(_l("Send a test mail to"), validators=[DataRequired(), Email()])


class TemplateForm(FlaskForm):
    id = HiddenField()
    key = StringField(_l("Key"), validators=[DataRequired(), Length(max=100)])
    language = SelectField(_l("Language"), choices=options(LANGUAGE_CHOICES))
    subject = StringField(_l("Subject"), validators=[DataRequired()])
    body_html = TextAreaField(_l("HTML body"))
    body_text = TextAreaField(_l("Text body (generated from the HTML when left empty)"))
    # Which event's placeholders the editor lists, checks and previews with.
    event = SelectField(_l("Event for placeholders and preview"), choices=[], validate_choice=False)

    def validate_key(self, field):
        key = field.data.strip()
        if not key.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValidationError(_l("Use letters, digits, '_', '-' and '.' only."))
        field.data = key


# Recipient kinds a rule can address. Each kind has one form field named
# ``recipient_<kind>``.
RECIPIENT_KINDS = [
    ("role", _l("A role of the event")),
    ("address", _l("Fixed addresses")),
    ("list", _l("A distribution list")),
]


class RuleForm(FlaskForm):
    id = HiddenField()
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    event = SelectField(_l("Event"), choices=[], validators=[DataRequired()])
    recipient_kind = RadioField(_l("Recipient"), choices=options(RECIPIENT_KINDS), default="role")
    recipient_role = SelectField(_l("Role"), choices=[], validate_choice=False)
    recipient_address = StringField(_l("Addresses (comma-separated)"))
    # The tenant's lists; a missing list is reported by name (rules.py), not as "not a valid choice".
    recipient_list = SelectField(_l("List"), choices=[], validate_choice=False)
    template_key = SelectField(_l("Template"), choices=[], validators=[DataRequired()])
    # "24 hours after the event": at most a year (core.events.MAX_SEND_AHEAD).
    delay_minutes = IntegerField(
        _l("Send after (minutes, 0 = at once)"),
        default=0,
        validators=[Optional(), NumberRange(min=0, max=366 * 24 * 60)],
    )
    # models.message.Priority: the claim takes higher first.
    priority = SelectField(
        _l("Priority"),
        coerce=int,
        default=1,
        choices=options(
            [
                (2, _l("System (goes first)")),
                (1, _l("Transactional")),
                (0, _l("Bulk (goes last; carries an unsubscribe link)")),
            ]
        ),
    )
    # A condition of the event (EventSpec.conditions), asked when the mail is
    # due; checked against the chosen event in rules.py.
    send_condition = SelectField(_l("Send only if (checked when the mail is due)"), choices=[], validate_choice=False)
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recipient_kind.choices = options(RECIPIENT_KINDS)

    def recipient_ref(self) -> str:
        kind = self.recipient_kind.data
        value = (getattr(self, f"recipient_{kind}").data or "").strip()
        return f"{kind}:{value}"

    def fill_recipient(self, ref: str) -> None:
        kind, _, value = (ref or "").partition(":")
        if hasattr(self, f"recipient_{kind}"):
            self.recipient_kind.data = kind
            getattr(self, f"recipient_{kind}").data = value


class DryRunForm(FlaskForm):
    # "rule:ID" (one rule) or "event:KEY" (the event with all its rules).
    target = SelectField(_l("What to try"), choices=[], validators=[DataRequired()])
    # "sample" or the id of a recent real event of this tenant.
    source = SelectField(_l("With the values of"), choices=[], validators=[DataRequired()])


class QueueFilterForm(FlaskForm):
    """GET filters of the queue page (no CSRF: reading only)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), choices=[], validate_choice=False)
    recipient = StringField(_l("Recipient"))
    event = StringField(_l("Event"))
    date_from = StringField(_l("Created from"))
    date_to = StringField(_l("Created until"))
