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

# The audit's actions as words; the code stays in the page as a tooltip (and
# for the filter). An action of the form "<object>.<verb>" that is not listed
# (a plugin's, or a kind deleted and restored through the trash) is said as
# the object's word and the verb's.
ACTION_WORDS = {
    "api_token.created": _l("API token created"),
    "api_token.revoked": _l("API token revoked"),
    "auth.locked": _l("Sign-in locked after failed tries"),
    "auth.password_ok_code_needed": _l("Password right, sign-in code asked for"),
    "auth.password_reset": _l("Password reset"),
    "auth.recovery_code_used": _l("Signed in with a recovery code"),
    "auth.recovery_codes_created": _l("Recovery codes created"),
    "auth.recovery_codes_left": _l("Few recovery codes left"),
    "auth.reset_failed": _l("Password reset mail failed"),
    "auth.reset_requested": _l("Password reset requested"),
    "auth.reset_throttled": _l("Password reset refused: too many requests"),
    "auth.sign_in_code_dead": _l("Sign-in code used up"),
    "auth.sign_in_code_failed": _l("Sign-in code mail failed"),
    "auth.sign_in_code_ok": _l("Signed in with a sign-in code"),
    "auth.sign_in_code_policy": _l("Sign-in code rule of the tenant changed"),
    "auth.sign_in_code_sent": _l("Sign-in code sent"),
    "auth.sign_in_code_wrong": _l("Wrong sign-in code"),
    "auth.sign_in_codes_chosen": _l("Own choice of sign-in codes changed"),
    "automate.paused": _l("AUTOMATE paused"),
    "automate.resumed": _l("AUTOMATE resumed"),
    "automate.retention": _l("Retention changed"),
    "automate.run_requested": _l("Task run requested"),
    "automate.schedule": _l("Task schedule changed"),
    "automate.task_disabled": _l("Task switched off"),
    "automate.task_enabled": _l("Task switched on"),
    "event.retried": _l("Failed events run again"),
    "list.deleted": _l("Distribution list deleted"),
    "list.saved": _l("Distribution list saved"),
    "mail.bounced": _l("Mail bounced"),
    "mail.condition_cancelled": _l("Mail cancelled: its send-time condition no longer held"),
    "mail.failed": _l("Mail failed"),
    "mail.oauth_linked": _l("Microsoft account linked"),
    "mail.recipients_refused": _l("Some recipients refused"),
    "mail.reclaimed": _l("Mail taken back from a stopped worker"),
    "mail.retry": _l("Mail to be tried again"),
    "mail.sending_broken": _l("Sending stopped: settings broken"),
    "mail.sent_reconciled": _l("Mail recorded as sent after a stopped worker"),
    "mail.system_sender_forced": _l("System sender used instead of the user's"),
    "mail.unknown": _l("Mail outcome unknown"),
    "mail_settings.checked": _l("Connection checked"),
    "mail_settings.dkim_key_deleted": _l("DKIM key deleted"),
    "mail_settings.oauth_unlinked": _l("Microsoft account unlinked"),
    "mail_settings.password_deleted": _l("SMTP password deleted"),
    "mail_settings.saved": _l("SMTP settings saved"),
    "mail_settings.tested": _l("Test mail sent"),
    "message.cancelled": _l("Message cancelled"),
    "message.resend": _l("Message resent"),
    "message.send_now": _l("Send now requested"),
    "opt_out.added": _l("Opt-out added"),
    "opt_out.removed": _l("Opt-out removed"),
    "plugin.disabled": _l("Plugin switched off"),
    "plugin.enabled": _l("Plugin switched on"),
    "report.deleted": _l("Report schedule deleted"),
    "report.scheduled": _l("Report scheduled"),
    "rule.created": _l("Rule created"),
    "rule.saved": _l("Rule saved"),
    "suppression.added": _l("Address suppressed"),
    "suppression.removed": _l("Address no longer suppressed"),
    "template.created": _l("Template created"),
    "template.saved": _l("Template saved"),
    "tenant.created": _l("Tenant created"),
    "tenant.saved": _l("Tenant settings saved"),
    "user.saved": _l("User settings saved"),
}
VERB_WORDS = {
    "added": _l("added"),
    "created": _l("created"),
    "deleted": _l("deleted"),
    "disabled": _l("switched off"),
    "enabled": _l("switched on"),
    "moved": _l("moved"),
    "removed": _l("removed"),
    "restored": _l("restored"),
    "saved": _l("saved"),
}


def action_word(action) -> str:
    """ "rule.saved" as words: "Rule saved" / "Regel gespeichert"."""
    code = str(action or "")
    word = ACTION_WORDS.get(code)
    if word is not None:
        return str(word)
    kind, _dot, verb = code.rpartition(".")
    if kind and verb in VERB_WORDS:
        said_kind = object_word(kind)
        return f"{said_kind[:1].upper()}{said_kind[1:]} {VERB_WORDS[verb]}"
    return code


def object_word(kind) -> str:
    """A kind of object as a word; a plugin's kind ("ticket_workspace") is
    looked up in the catalogues as words ("ticket workspace"), which is how a
    plugin gives its own kinds German words (its catalogue has them)."""
    word = OBJECT_WORDS.get(str(kind))
    if word is not None:
        return str(word)
    return tr(str(kind or "").replace("_", " "))


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


_STATEMENTS = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.S)


def outline(source) -> str:
    """A template's subject as a list shows it: its ``{% … %}`` statements and
    ``{# … #}`` comments left out (a ``{% set %}`` of labels is no subject),
    its placeholders kept."""
    return " ".join(_STATEMENTS.sub(" ", str(source or "")).split())


def init_app(app) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["tr"] = tr
    app.jinja_env.filters["said"] = said
    app.jinja_env.filters["test_result"] = test_result
    app.jinja_env.filters["object_word"] = object_word
    app.jinja_env.filters["actor_word"] = actor_word
    app.jinja_env.filters["action_word"] = action_word
    app.jinja_env.filters["outline"] = outline
    app.jinja_env.filters["status_word"] = status_word
