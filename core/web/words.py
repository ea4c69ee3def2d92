"""Words that come from data, shown in the reader's language.

Plugins declare their labels and descriptions in English (``EventSpec``,
``Role``, ``Variable``); ``scripts/translations.py`` puts every registered one
into the catalogue, and ``tr`` looks it up when it is shown. Messages the
machinery stores in English (a delivery error, a rule's reason) are matched
against ``SAID`` and shown translated, with the parts that vary kept as they are.
"""

from __future__ import annotations

import re

from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Tenant


def tr(text):
    """``text`` from the catalogue (English when it has no German)."""
    return gettext(text) if isinstance(text, str) and text else text


# (pattern on the stored English text, the same message with %(name)s for each group).
SAID = [
    (r"cannot connect to (?P<where>\S+): (?P<why>.+)", _l("cannot connect to %(where)s: %(why)s")),
    (
        r"(?P<where>\S+) did not answer in time or closed the connection: (?P<why>.+)",
        _l("%(where)s did not answer in time or closed the connection: %(why)s"),
    ),
    (r"login refused by (?P<host>\S+): (?P<why>.+)", _l("login refused by %(host)s: %(why)s")),
    (
        r"TLS with (?P<where>\S+) failed: (?P<why>.+)\. Check port and security mode\.",
        _l("TLS with %(where)s failed: %(why)s. Check port and security mode."),
    ),
    (r"STARTTLS refused: (?P<why>.+)", _l("STARTTLS refused: %(why)s")),
    (r"connection lost during (?P<phase>\S+): (?P<why>.+)", _l("connection lost during %(phase)s: %(why)s")),
    (r"no SMTP server is configured", _l("no SMTP server is configured")),
    (r"no sender address is configured", _l("no sender address is configured")),
    (r"the rule is switched off", _l("the rule is switched off")),
    (r"no recipient found for (?P<ref>.+)", _l("no recipient found for %(ref)s")),
    (
        r"the plugin '(?P<name>[^']+)' is disabled for this tenant",
        _l("the plugin '%(name)s' is disabled for this tenant"),
    ),
    (
        r"paused: the plugin '(?P<name>[^']+)' is disabled for this tenant",
        _l("paused: the plugin '%(name)s' is disabled for this tenant"),
    ),
    (
        r"unknown placeholder '(?P<name>[^']+)' — did you mean '(?P<suggestion>[^']+)'\?",
        _l("unknown placeholder '%(name)s' — did you mean '%(suggestion)s'?"),
    ),
    (r"unknown placeholder '(?P<name>[^']+)'", _l("unknown placeholder '%(name)s'")),
    (
        r"empty placeholder '(?P<name>[^']+)': it is missing or has no value",
        _l("empty placeholder '%(name)s': it is missing or has no value"),
    ),
    (r"syntax error: (?P<why>.+)", _l("syntax error: %(why)s")),
    (
        r"not sent: the condition '(?P<what>[^']+)' no longer holds",
        _l("not sent: the condition '%(what)s' no longer holds"),
    ),
    (
        r"not sent: (?P<address>\S+) unsubscribed from bulk mail on (?P<date>\S+)",
        _l("not sent: %(address)s unsubscribed from bulk mail on %(date)s"),
    ),
    (
        r"no enabled plugin checks the send-time condition '(?P<name>[^']+)' of (?P<event>\S+)",
        _l("no enabled plugin checks the send-time condition '%(name)s' of %(event)s"),
    ),
    (r"the template '(?P<key>[^']+)' does not exist", _l("the template '%(key)s' does not exist")),
    (
        r"there is no distribution list named (?P<name>.+) \(or it is empty\)",
        _l("there is no distribution list named %(name)s (or it is empty)"),
    ),
]
# The operating system's words inside them.
OS_WORDS = {
    "Connection refused": _l("Connection refused"),
    # What the transports say for refused, silent and foreign ports alike (no port scanner, issue 16).
    "no SMTP server answered": _l("no SMTP server answered"),
    "no SMTP server answered over TLS": _l("no SMTP server answered over TLS"),
    "no POP3 server answered": _l("no POP3 server answered"),
    "no IMAP server answered": _l("no IMAP server answered"),
    "Connection reset by peer": _l("Connection reset by peer"),
    "Name or service not known": _l("Name or service not known"),
    "timed out": _l("timed out"),
    "No route to host": _l("No route to host"),
    "Network is unreachable": _l("Network is unreachable"),
}
_COMPILED = [(re.compile(pattern + r"\Z", re.S), message) for pattern, message in SAID]

# What core.mail.delivery.check_connection stores: "host:port answered (none, no login, with SMTPUTF8)".
# Shown in words in both languages (issue 17: "Show the security and login with labels").
ANSWERED = re.compile(
    r"(?P<where>\S+) answered \((?P<security>[a-z_]+), (?:no login|logged in as (?P<user>.+)), "
    r"(?P<utf8>with|without) SMTPUTF8\)\Z",
    re.S,
)
# The same words as the settings form's choices (core.admin.forms.SECURITY_CHOICES).
SECURITY_WORDS = {
    "starttls": _l("STARTTLS (required)"),
    "ssl": _l("SSL/TLS (implicit, usually port 465)"),
    "starttls_optional": _l("STARTTLS if offered (trusted network only)"),
    "none": _l("None (internal relay only)"),
}


def _answered(match: re.Match) -> str:
    security = str(SECURITY_WORDS.get(match["security"], match["security"]))
    login = gettext("logged in as %(user)s", user=match["user"]) if match["user"] else gettext("no login")
    utf8 = gettext("yes") if match["utf8"] == "with" else gettext("no")
    return gettext(
        "%(where)s answered. Security: %(security)s; %(login)s; international addresses (SMTPUTF8): %(utf8)s.",
        where=match["where"],
        security=security,
        login=login,
        utf8=utf8,
    )


def said(text):
    """A stored English message in the reader's language, when it is one we know."""
    if not isinstance(text, str) or not text:
        return text
    answered = ANSWERED.match(text)
    if answered:
        return _answered(answered)
    if str(get_locale() or "en") == "en":
        return text
    for pattern, message in _COMPILED:
        match = pattern.match(text)
        if match:
            parts = {name: str(OS_WORDS.get(value, value)) for name, value in match.groupdict().items()}
            return str(message) % parts
    return str(OS_WORDS.get(text, text))


def test_result(text):
    """A stored "OK: ..." / "FAILED: ..." of the last test, in the reader's language."""
    if not isinstance(text, str) or not text:
        return text
    outcome, sep, words = text.partition(": ")
    if not sep or outcome not in ("OK", "FAILED"):
        return said(text)
    # Outside the f-string: Babel's extractor does not look into one.
    verdict = gettext("worked") if outcome == "OK" else gettext("failed")
    return f"{verdict}: {said(words)}"


STATUS_WORDS = {
    "PENDING": _l("Waiting"),
    "SENDING": _l("Being sent"),
    "SENT": _l("Sent"),
    "FAILED": _l("Failed"),
    "UNKNOWN": _l("Unknown"),
    "BOUNCED": _l("Bounced"),
    "CANCELLED": _l("Cancelled"),
}


def status_word(status) -> str:
    """PENDING as a word: "Waiting" / "Wartend"."""
    value = getattr(status, "value", status)
    word = STATUS_WORDS.get(str(value))
    return str(word) if word is not None else str(value)


# The audit's object types and machine actors, as words (issue 17: no raw keys on the page).
OBJECT_WORDS = {
    "address": _l("address"),
    "automate": "AUTOMATE",
    "api_token": _l("API token"),
    "distribution_list": _l("distribution list"),
    "event": _l("event"),
    "mail_settings": _l("SMTP settings"),
    "message": _l("message"),
    "plugin": _l("plugin"),
    "rule": _l("rule"),
    "task": _l("task"),
    "template": _l("template"),
    "tenant": _l("tenant"),
    "user": _l("user"),
}
ACTOR_WORDS = {"system": _l("System"), "anonymous": _l("anonymous")}


def object_word(kind) -> str:
    word = OBJECT_WORDS.get(str(kind))
    return str(word) if word is not None else str(kind or "")


def actor_word(actor) -> str:
    word = ACTOR_WORDS.get(str(actor))
    return str(word) if word is not None else str(actor or "")


def tenant_zone():
    """The logged-in user's tenant's time zone (UTC when unknown). Not cached on
    ``g``: an app context can outlive a request (tests, embedding); the row
    comes from the session's identity map and ZoneInfo caches its zones."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from flask_login import current_user

    name = "UTC"
    if current_user and current_user.is_authenticated:
        name = db.session.get(Tenant, current_user.tenant_id).timezone or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored UTC time in the tenant's zone, with the zone named: "2026-12-01 04:58:17 CET"."""
    if value is None:
        return ""
    from datetime import timezone

    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    shown = value.astimezone(tenant_zone())
    return f"{shown.strftime(fmt)} {shown.tzname()}"


def init_app(app) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["tr"] = tr
    app.jinja_env.filters["said"] = said
    app.jinja_env.filters["test_result"] = test_result
    app.jinja_env.filters["object_word"] = object_word
    app.jinja_env.filters["actor_word"] = actor_word
    app.jinja_env.filters["status_word"] = status_word
