"""Inbound mail for tickets: a reply becomes a comment, anything else a new ticket.

A subject carrying ``[#123]`` of an existing ticket of the tenant adds a
comment (source ``mail``); otherwise the mail opens a new ticket with the
sender as its reporter. Runs in the caller's transaction (see the hookspec).
"""

from __future__ import annotations

import re

from flask import current_app

from core.api import InboundResult, sent_message_event

from . import service, workspaces

NUMBER = re.compile(r"\[#(\d{1,12})\]")


def ticket_number(subject: str) -> int | None:
    match = NUMBER.search(subject or "")
    return int(match.group(1)) if match else None


def _body(mail) -> str:
    if (mail.text or "").strip():
        return mail.text.strip()
    if mail.html:
        import inscriptis

        return inscriptis.get_text(mail.html).strip()
    return ""


def _attachments(mail) -> tuple[tuple[tuple[str, str, bytes], ...], list[str]]:
    kept, skipped = [], []
    for part in mail.attachments:
        if len(part.content) > service.MAX_ATTACHMENT_BYTES or len(kept) >= service.MAX_ATTACHMENTS_PER_CHANGE:
            skipped.append(part.filename)
        else:
            kept.append((part.filename, part.content_type, part.content))
    return tuple(kept), skipped


def known_sender(tenant_id: int, address: str) -> bool:
    """A reporter or watcher of one of the tenant's tickets."""
    from core.api import db

    from .models import Ticket, TicketWatcher

    reporter = db.session.execute(
        db.select(Ticket.id)
        .where(Ticket.tenant_id == tenant_id, db.func.lower(Ticket.reporter_email) == address)
        .limit(1)
    ).first()
    if reporter is not None:
        return True
    return (
        db.session.execute(
            db.select(TicketWatcher.id)
            .where(TicketWatcher.tenant_id == tenant_id, db.func.lower(TicketWatcher.email) == address)
            .limit(1)
        ).first()
        is not None
    )


def _threaded_ticket(tenant_id: int, mail) -> int | None:
    found = sent_message_event(tenant_id, (mail.in_reply_to, *mail.references))
    if found is None or not found[0].startswith("TICKET_"):
        return None
    ticket_id = ((found[1] or {}).get("ticket") or {}).get("id")
    return ticket_id if isinstance(ticket_id, int) else None


def _link(ticket_id: int) -> str:
    # The poller runs outside a request: build the path from the URL map.
    try:
        return current_app.url_map.bind("localhost").build("ticket.show", {"ticket_id": ticket_id})
    except Exception:  # no such page (yet): the list shows no link
        return ""


def handle(tenant, mail) -> InboundResult:
    files, skipped = _attachments(mail)
    note = f"; attachments left out (too large or too many): {', '.join(skipped)}" if skipped else ""
    body = _body(mail)
    number = ticket_number(mail.subject)
    if number is None:
        # A reply to a mail Postwerk sent about a ticket, without [#N].
        number = _threaded_ticket(tenant.id, mail)
    if number is not None:
        try:
            ticket = service.get_ticket(tenant.id, number)
        except service.TicketNotFound:
            ticket = None
        if ticket is not None:
            # Anyone can write any From: only an authenticated sender (or a
            # tenant that accepts unauthenticated mail) speaks as that person;
            # the inbound side applies the tenant's trust policy.
            verified = bool(mail.authenticated or mail.sender_trusted)
            comment = service.add_comment(
                tenant.id,
                ticket.id,
                author_name=mail.from_name or mail.from_address,
                author_email=mail.from_address,
                body=body or "(empty mail)",
                source="mail",
                attachments=files,
                sender_verified=verified,
            )
            if not verified:
                note += "; sender not verified"
            return InboundResult("comment", str(comment.id), f"ticket {ticket.id}{note}", link=_link(ticket.id))
    subject = NUMBER.sub("", mail.subject or "").strip() or "(no subject)"
    # The workspace that names this mailbox, else the default one.
    workspace = workspaces.for_mailbox(tenant.id, mail.mailbox)
    ticket = service.create_ticket(
        tenant.id,
        title=subject,
        description=body,
        reporter_name=mail.from_name or mail.from_address,
        reporter_email=mail.from_address,
        reporter_language=tenant.language,
        workspace_id=workspace.id,
    )
    for filename, content_type, content in files:
        service.add_attachment(tenant.id, ticket.id, filename, content_type, content)
    return InboundResult("ticket", str(ticket.id), note.lstrip("; "), link=_link(ticket.id))
