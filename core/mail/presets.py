"""Provider presets that fill the outgoing-mail form.

Each preset is only a starting point: the admin still enters credentials,
and can change every field afterwards. ``system_sender_only`` marks servers
that accept only the authenticated account (or its verified aliases) as
sender, so the "user's address" sender mode falls back to the system address.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    host: str
    port: int
    security: str  # core.mail.transport.Security value
    auth: str  # none | password | inbound | pop_before_smtp | oauth2
    username_hint: str = ""
    oauth_provider: str = ""
    system_sender_only: bool = False
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: tuple[Preset, ...] = (
    Preset(
        "google",
        "Gmail / Google Workspace",
        "smtp.gmail.com",
        587,
        "starttls",
        "oauth2",
        username_hint="the full Google account address",
        oauth_provider="google",
        system_sender_only=True,
        note="Sign in with OAuth2 (Link account). App passwords work too with auth 'password', "
        "if the account allows them.",
    ),
    Preset(
        "microsoft365",
        "Microsoft 365 / Exchange Online",
        "smtp.office365.com",
        587,
        "starttls",
        "oauth2",
        username_hint="the mailbox's address (UPN)",
        oauth_provider="microsoft",
        system_sender_only=True,
        note="SMTP AUTH must be enabled for the mailbox (otherwise 5.7.139). Register an app in Entra ID "
        "with the delegated permission SMTP.Send.",
    ),
    Preset(
        "sendgrid",
        "SendGrid",
        "smtp.sendgrid.net",
        587,
        "starttls",
        "password",
        username_hint="the literal word apikey; the password is the API key",
        note="The sender address must be a verified sender or domain.",
    ),
    Preset(
        "mailgun",
        "Mailgun",
        "smtp.mailgun.org",
        587,
        "starttls",
        "password",
        username_hint="the SMTP login of the sending domain (postmaster@your-domain)",
        note="EU region: smtp.eu.mailgun.org.",
    ),
    Preset(
        "postmark",
        "Postmark",
        "smtp.postmarkapp.com",
        587,
        "starttls",
        "password",
        username_hint="the server API token (also as password)",
        note="The sender signature or domain must be confirmed.",
    ),
    Preset(
        "postfix",
        "Own Postfix (internal relay)",
        "localhost",
        25,
        "starttls_optional",
        "none",
        note="A relay on the same host or network that accepts mail from this machine. "
        "Upload its CA certificate if it uses an internal one.",
    ),
)

BY_KEY = {p.key: p for p in PRESETS}


def preset(key: str) -> Preset:
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown preset {key!r}; known: {', '.join(BY_KEY)}") from None
