""" "Same login as the incoming mailbox": whose password goes to which server.

The incoming mailbox's password belongs to the mailbox's server. Sending it
to the SMTP server is fine when that is the same machine, and a choice only
the admin can make when it is not: otherwise changing the SMTP host (a
hostile admin, a typo, a copied preset) would hand the mailbox password to
whatever answers there. The plugin that keeps mailboxes says which host its
password was saved for (``MailboxLogin.host``); the core, which never
imports that plugin, sends it only to that host, or to the one SMTP
server (host and port) the admin confirmed by typing the mailbox password
for it (``MailSettings.inbound_login_confirmed_for``).
"""

from __future__ import annotations

import hmac

from ..specs import MailboxLogin


def from_hook(answer) -> MailboxLogin | None:
    """The hook's answer as a MailboxLogin; a bare ``(username, password)``
    (plugins written before the host was asked for) has no known host."""
    if not answer:
        return None
    if not isinstance(answer, MailboxLogin):
        username, password = answer
        answer = MailboxLogin(username, password)
    return answer if answer.username else None


def _host(host: str) -> str:
    return (host or "").strip().strip("[]").rstrip(".").lower()


def target(host: str, port: int) -> str:
    """How a confirmed SMTP server is written down: ``host:port``."""
    return f"{_host(host)}:{int(port)}"


def same_server(login: MailboxLogin, host: str) -> bool:
    """The SMTP server is the mailbox's own server (any port of that host)."""
    return bool(login.host) and _host(login.host) == _host(host)


def may_send(login: MailboxLogin, host: str, port: int, confirmed_for: str | None) -> bool:
    return same_server(login, host) or (bool(confirmed_for) and confirmed_for == target(host, port))


def confirms(login: MailboxLogin, typed: str) -> bool:
    """The admin typed the mailbox's password (compared in constant time)."""
    return hmac.compare_digest(typed.encode(), login.password.encode())


def refusal(login: MailboxLogin, host: str, port: int) -> str:
    saved_for = f"its own server {login.host}" if login.host else "its own server"
    return (
        f"the incoming mailbox's password was saved for {saved_for}, not for {host}:{port}; it is not sent "
        f"there until an admin confirms it by entering the mailbox password in the SMTP settings"
    )
