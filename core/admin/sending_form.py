"""The sending options beyond host and password: other logins (incoming
mailbox, POP-before-SMTP, OAuth2), provider presets, DKIM and the forced
system sender.

A subclass of ``forms.SmtpSettingsForm`` so the basic form stays as it was;
the extra login methods are appended to ``forms.AUTH_CHOICES``, which the
base form reads at use time.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from .. import targets
from ..mail.dkim import DkimError, DkimKey
from ..mail.oauth import DEFAULT_SCOPES
from ..mail.presets import PRESETS
from ..web.words import tr
from ..mail.transport import DEFAULT_PORTS, Security
from .forms import AUTH_CHOICES, SmtpSettingsForm, options

AUTH_CHOICES.extend(
    [
        ("inbound", _l("Same login as the incoming mailbox")),
        ("pop_before_smtp", _l("POP-before-SMTP (log in to the POP3 mailbox first)")),
        ("oauth2", _l("OAuth2 (Microsoft 365, Google)")),
    ]
)
POP3_SECURITY_CHOICES = [
    ("ssl", _l("SSL/TLS (usually port 995)")),
    ("starttls", _l("STARTTLS (usually port 110)")),
    ("none", _l("None (internal server only)")),
]
OAUTH_PROVIDER_CHOICES = [("microsoft", "Microsoft 365 / Exchange Online"), ("google", "Google / Gmail")]
# Logins that need the mailbox address in "User name".
NEEDS_USERNAME = ("password", "oauth2")


class SendingSettingsForm(SmtpSettingsForm):
    # Empty: the usual port of the chosen security (settings.resolve_port).
    port = IntegerField(_l("Port"), validators=[Optional(), NumberRange(1, 65535)])
    preset = SelectField(_l("Provider preset"), choices=[], validate_choice=False)
    system_sender_only = BooleanField(_l("Send as the system address only"))
    # "Same login as the incoming mailbox" with an SMTP server that is not the
    # mailbox's own: typing the mailbox password allows it for that server.
    inbound_password = PasswordField(
        _l("Incoming mailbox password (to allow it for this SMTP server)"), validators=[Optional(), Length(max=1000)]
    )
    pop3_host = StringField(_l("POP3 server"), validators=[Optional(), Length(max=255)])
    pop3_port = IntegerField(_l("POP3 port"), validators=[Optional(), NumberRange(1, 65535)])
    pop3_security = SelectField(_l("POP3 security"), choices=options(POP3_SECURITY_CHOICES), default="ssl")
    pop3_username = StringField(_l("POP3 user name"), validators=[Optional(), Length(max=255)])
    pop3_password = PasswordField(_l("POP3 password"), validators=[Optional(), Length(max=1000)])
    oauth_provider = SelectField(_l("Identity provider"), choices=options(OAUTH_PROVIDER_CHOICES), default="microsoft")
    oauth_authority = StringField(
        _l("Identity provider URL (empty: the provider's public one)"), validators=[Optional(), Length(max=255)]
    )
    oauth_tenant = StringField(_l("Directory (tenant) ID"), validators=[Optional(), Length(max=100)])
    oauth_client_id = StringField(_l("Application (client) ID"), validators=[Optional(), Length(max=255)])
    oauth_client_secret = PasswordField(_l("Client secret"), validators=[Optional(), Length(max=2000)])
    oauth_scopes = TextAreaField(_l("Scopes (space-separated)"), validators=[Optional(), Length(max=2000)])
    dkim_domain = StringField(_l("DKIM domain"), validators=[Optional(), Length(max=253)])
    dkim_selector = StringField(_l("DKIM selector"), validators=[Optional(), Length(max=63)])
    dkim_key = FileField(_l("DKIM private key (PEM)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.preset.choices = [("", _l("— choose a provider —"))] + [(p.key, tr(p.label)) for p in PRESETS]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        auth = self.auth.data
        problems = []
        if auth == "oauth2" and not (self.username.data or "").strip():
            problems.append((self.username, _l("OAuth2 needs the mailbox address as user name.")))
        if auth == "oauth2" and not (self.oauth_client_id.data or "").strip():
            problems.append((self.oauth_client_id, _l("OAuth2 needs the application (client) ID.")))
        if auth == "pop_before_smtp":
            if not (self.pop3_host.data or "").strip():
                problems.append((self.pop3_host, _l("POP-before-SMTP needs the POP3 server.")))
            if not (self.pop3_username.data or "").strip():
                problems.append((self.pop3_username, _l("POP-before-SMTP needs the POP3 user name.")))
        if (
            auth in ("password", "inbound", "oauth2")
            and self.security.data == "none"
            and not targets.is_loopback(self.host.data or "")
        ):
            problems.append(
                (
                    self.security,
                    _l(
                        "Without TLS the password would cross the network in clear: "
                        "security “none” with a login is for this machine only."
                    ),
                )
            )
        if (
            auth == "pop_before_smtp"
            and self.pop3_security.data == "none"
            and not targets.is_loopback(self.pop3_host.data or "")
        ):
            problems.append(
                (
                    self.pop3_security,
                    _l(
                        "Without TLS the POP3 password would cross the network in "
                        "clear: “none” is for this machine only."
                    ),
                )
            )
        if bool((self.dkim_domain.data or "").strip()) != bool((self.dkim_selector.data or "").strip()):
            problems.append((self.dkim_selector, _l("DKIM needs both the domain and the selector.")))
        for field, message in problems:
            field.errors = [*field.errors, message]
        return valid and not problems

    def validate_host(self, field):
        super().validate_host(field)
        _check_target(field.data)

    def validate_pop3_host(self, field):
        if field.data and any(c.isspace() for c in field.data.strip()):
            raise ValidationError(_l("A host name has no spaces."))
        _check_target(field.data)

    def validate_oauth_authority(self, field):
        value = (field.data or "").strip()
        if value:
            try:
                targets.check_url(value)
            except targets.TargetRefused as exc:
                raise ValidationError(_l("Not allowed as identity provider URL: %(reason)s", reason=str(exc))) from None

    def validate_dkim_domain(self, field):
        value = (field.data or "").strip().lower().rstrip(".")
        if value and ("." not in value or any(c.isspace() or c in "@/" for c in value)):
            raise ValidationError(_l("A domain like example.org."))
        field.data = value

    def validate_dkim_selector(self, field):
        value = (field.data or "").strip()
        if value and not value.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValidationError(_l("Use letters, digits, '-', '_' and '.' only."))
        field.data = value

    def dkim_pem(self) -> str | None:
        """The uploaded private key, checked by signing once; None when none was uploaded."""
        upload = self.dkim_key.data
        if not upload or not getattr(upload, "filename", ""):
            return None
        pem = upload.read(100_000).decode("ascii", "replace")
        domain, selector = (self.dkim_domain.data or "").strip(), (self.dkim_selector.data or "").strip()
        if not (domain and selector):
            self.dkim_key.errors = [*self.dkim_key.errors, _l("Enter the DKIM domain and selector with the key.")]
            raise ValidationError("no domain")
        try:
            DkimKey(domain, selector, pem).check()
        except DkimError as exc:
            self.dkim_key.errors = [
                *self.dkim_key.errors,
                _l("This key cannot sign: %(error)s", error=str(exc).rpartition(": ")[2]),
            ]
            raise ValidationError(str(exc)) from exc
        return pem


def _check_target(host: str | None) -> None:
    try:
        targets.check_host((host or "").strip())
    except targets.TargetRefused as exc:
        raise ValidationError(_l("Not allowed as server: %(reason)s", reason=str(exc))) from None


def default_scopes(provider: str) -> str:
    return DEFAULT_SCOPES.get(provider, DEFAULT_SCOPES["microsoft"])


def resolve_port(port: int | None, security: str, *, previous_port: int | None, previous_security: str) -> int:
    """The port to store: the usual one of the chosen security when the admin
    left the field empty, or left it at the usual port of the security that
    was chosen before (switching STARTTLS to SSL/TLS then moves 587 to 465)."""
    usual = DEFAULT_PORTS[Security(security)]
    if not port:
        return usual
    if (
        security != previous_security
        and port == previous_port
        and port == DEFAULT_PORTS.get(Security(previous_security))
    ):
        return usual
    return port
