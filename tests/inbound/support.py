"""Helpers for the inbound mail tests: a handling plugin, mail builders, mailboxes."""

from __future__ import annotations

import itertools
import threading
from email.message import EmailMessage
from email.utils import make_msgid

from core.api import InboundResult, hookimpl
from core.extensions import db
from plugins.inbound_mail.models import Mailbox
from plugins.ticket.service import create_ticket

USERS = {f"user{n}": f"secret-{n}" for n in range(160)}
_serial = itertools.count(1)


class RecordingPlugin:
    """Handles every inbound mail by creating a real ticket (in the poller's
    transaction) and remembers the mails it saw."""

    def __init__(self) -> None:
        self.mails = []
        self.outcomes = []
        self._lock = threading.Lock()

    @hookimpl
    def postwerk_delivery_outcome(self, tenant, message_id, status, detail):
        self.outcomes.append((message_id, status, detail))

    @hookimpl
    def postwerk_inbound_mail(self, tenant, mail):
        with self._lock:
            self.mails.append(mail)
        ticket = create_ticket(
            tenant.id,
            title=(mail.subject or "(no subject)")[:200],
            description=mail.text,
            reporter_name=mail.from_name or mail.from_address,
            reporter_email=mail.from_address or "unknown@invalid.example",
        )
        return InboundResult("ticket", str(ticket.id))


def mail(
    subject: str | None = None,
    *,
    sender: str = "erika@mieter.example",
    body: str = "Die Heizung ist kalt.",
    headers: dict[str, str] | None = None,
    msgid: bool = True,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Erika Mustermann <{sender}>"
    msg["To"] = "service@acme.example"
    msg["Subject"] = subject or f"Meldung {next(_serial)}"
    if msgid:
        msg["Message-ID"] = make_msgid(domain="mieter.example")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def make_mailbox(tenant_id: int, dovecot, user: str, protocol: str = "imap", **overrides) -> Mailbox:
    values = dict(
        tenant_id=tenant_id,
        name=f"{protocol}-{user}",
        protocol=protocol,
        host=dovecot.host,
        port=dovecot.pop3_port if protocol == "pop3" else dovecot.imap_port,
        security="none",
        username=user,
        folder="INBOX",
        leave_on_server=True,
    )
    password = overrides.pop("password", USERS.get(user, ""))
    values.update(overrides)
    mailbox = Mailbox(**values)
    mailbox.password = password
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def files_on_server(dovecot, user: str) -> list:
    maildir = dovecot.maildir(user)
    return sorted(p for sub in ("new", "cur") for p in (maildir / sub).iterdir())
