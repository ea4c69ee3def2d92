"""Inbound mail for tickets: a reply becomes a comment, anything else a new ticket.

A subject carrying ``[#123]`` of an existing ticket of the tenant adds a
comment (source ``mail``); otherwise the mail opens a new ticket with the
sender as its reporter. Runs in the caller's transaction (see the hookspec).
"""
from __future__ import annotations

import re

from flask import current_app

from core.api import InboundResult

from . import service

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
    if number is not None:
        try:
            ticket = service.get_ticket(tenant.id, number)
        except service.TicketNotFound:
            ticket = None
        if ticket is not None:
            comment = service.add_comment(tenant.id, ticket.id, author_name=mail.from_name or mail.from_address,
                                          author_email=mail.from_address, body=body or "(empty mail)",
                                          source="mail", attachments=files)
            return InboundResult("comment", str(comment.id), f"ticket {ticket.id}{note}", link=_link(ticket.id))
    subject = NUMBER.sub("", mail.subject or "").strip() or "(no subject)"
    ticket = service.create_ticket(tenant.id, title=subject, description=body,
                                   reporter_name=mail.from_name or mail.from_address,
                                   reporter_email=mail.from_address, reporter_language=tenant.language)
    for filename, content_type, content in files:
        service.add_attachment(tenant.id, ticket.id, filename, content_type, content)
    return InboundResult("ticket", str(ticket.id), note.lstrip("; "), link=_link(ticket.id))
