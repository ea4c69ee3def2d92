"""Creating tickets; every change emits its event in the same transaction."""
from __future__ import annotations

from core.api import db, emit

from .models import Ticket


def create_ticket(tenant_id: int, *, title: str, description: str, reporter_name: str, reporter_email: str,
                  reporter_language: str = "de", actor_user_id: int | None = None) -> Ticket:
    """Create a ticket and emit TICKET_CREATED; the caller commits."""
    ticket = Ticket(tenant_id=tenant_id, title=title.strip(), description=description,
                    reporter_name=reporter_name.strip(), reporter_email=reporter_email.strip(),
                    reporter_language=reporter_language)
    db.session.add(ticket)
    db.session.flush()  # the id belongs in the payload
    emit(tenant_id, "TICKET_CREATED", ticket.snapshot(), actor_user_id=actor_user_id)
    return ticket
