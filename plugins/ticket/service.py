"""Working on tickets; every change emits its event in the caller's transaction.

The caller commits: a rolled-back change sends nothing.
"""

from __future__ import annotations

from core.api import AddressError, check_address, db, emit, user_of

from . import workspaces
from .models import STATUSES, Ticket, TicketAttachment, TicketComment, TicketWatcher

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_PER_CHANGE = 20


class TicketError(ValueError):
    """A change to a ticket is refused; ``str()`` is meant for the user."""


class TicketNotFound(LookupError):
    """No such ticket for this tenant (another tenant's id included)."""


def get_ticket(tenant_id: int, ticket_id: int) -> Ticket:
    ticket = db.session.execute(
        db.select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id)
    ).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFound(f"no ticket #{ticket_id}")
    return ticket


def is_open(tenant_id: int, ticket_id) -> bool:
    """Whether the tenant's ticket exists and is not closed (the send-time
    condition "ticket_open"); a deleted or unknown ticket is not open."""
    if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
        return False
    status = db.session.execute(
        db.select(Ticket.status).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id)
    ).scalar()
    return status is not None and status != "closed"


def payload(ticket: Ticket) -> dict:
    return ticket.snapshot(user_of(ticket.tenant_id, ticket.assignee_id))


def _assignee(tenant_id: int, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    if user_of(tenant_id, user_id) is None:
        raise TicketError("the assignee must be a user of this tenant")
    return user_id


def _address(value: str, field: str) -> str:
    try:
        return check_address((value or "").strip(), field=field)
    except AddressError as exc:
        raise TicketError(str(exc)) from exc


def create_ticket(
    tenant_id: int,
    *,
    title: str,
    description: str,
    reporter_name: str,
    reporter_email: str,
    reporter_language: str = "de",
    assignee_id: int | None = None,
    watchers: tuple[str, ...] = (),
    actor_user_id: int | None = None,
    workspace_id: int | None = None,
) -> Ticket:
    """Create a ticket and emit TICKET_CREATED; the caller commits. Without
    ``workspace_id`` it goes to the tenant's default workspace."""
    title = (title or "").strip()
    if not title:
        raise TicketError("a ticket needs a title")
    try:
        workspace = workspaces.get(tenant_id, workspace_id) if workspace_id else workspaces.default(tenant_id)
    except workspaces.WorkspaceNotFound:
        raise TicketError("no such workspace") from None
    ticket = Ticket(
        tenant_id=tenant_id,
        title=title[:200],
        description=description or "",
        reporter_name=(reporter_name or "").strip()[:200],
        reporter_email=(reporter_email or "").strip(),
        reporter_language=reporter_language if reporter_language in ("de", "en") else "de",
        assignee_id=_assignee(tenant_id, assignee_id),
        workspace_id=workspace.id,
        # Given even when empty: the payload reads the list, and a new
        # ticket's list left unset is loaded with a query after the insert.
        watchers=[TicketWatcher(tenant_id=tenant_id, email=_address(address, "watcher")) for address in watchers],
    )
    db.session.add(ticket)
    db.session.flush()  # the id belongs in the payload
    emit(tenant_id, "TICKET_CREATED", payload(ticket), actor_user_id=actor_user_id)
    return ticket


def change_status(tenant_id: int, ticket_id: int, new_status: str, actor_user_id: int | None = None) -> Ticket:
    """Set the status and emit TICKET_STATUS_CHANGED with the old and new
    status; setting the status it already has changes nothing and sends nothing."""
    if new_status not in STATUSES:
        raise TicketError(f"unknown status {new_status!r}; one of {', '.join(STATUSES)}")
    ticket = get_ticket(tenant_id, ticket_id)
    old = ticket.status
    if old == new_status:
        return ticket
    ticket.status = new_status
    data = payload(ticket)
    data["ticket"]["old_status"] = old
    emit(tenant_id, "TICKET_STATUS_CHANGED", data, actor_user_id=actor_user_id)
    return ticket


def add_comment(
    tenant_id: int,
    ticket_id: int,
    *,
    author_name: str,
    author_email: str,
    body: str,
    source: str = "web",
    actor_user_id: int | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    sender_verified: bool | None = None,
) -> TicketComment:
    """Add a comment (with optional attachments as (filename, content type,
    bytes)) and emit TICKET_COMMENTED; the caller commits."""
    if source not in ("web", "mail"):
        raise TicketError(f"unknown comment source {source!r}")
    body = (body or "").strip()
    if not body and not attachments:
        raise TicketError("a comment needs a text or an attachment")
    ticket = get_ticket(tenant_id, ticket_id)
    comment = TicketComment(
        tenant_id=tenant_id,
        ticket_id=ticket.id,
        author_name=(author_name or "").strip()[:200],
        author_email=(author_email or "").strip()[:254],
        body=body,
        source=source,
        sender_verified=sender_verified,
    )
    db.session.add(comment)
    db.session.flush()
    for filename, content_type, content in attachments[:MAX_ATTACHMENTS_PER_CHANGE]:
        add_attachment(tenant_id, ticket.id, filename, content_type, content, comment_id=comment.id)
    data = payload(ticket)
    data["comment"] = {
        "id": comment.id,
        "author_name": comment.author_name,
        "author_email": comment.author_email,
        "body": comment.body,
        "source": comment.source,
        "sender_verified": comment.sender_verified,
    }
    emit(tenant_id, "TICKET_COMMENTED", data, actor_user_id=actor_user_id)
    return comment


def clean_filename(filename: str | None) -> str:
    """The last path part, without control characters (CR/LF from an RFC 2231
    ``filename*`` would break the download's header), at most 255 characters."""
    name = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in filename or "")
    return " ".join(name.replace("\\", "/").rsplit("/", 1)[-1].split())[:255] or "attachment"


def add_attachment(
    tenant_id: int, ticket_id: int, filename: str, content_type: str, content: bytes, *, comment_id: int | None = None
) -> TicketAttachment:
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise TicketError(f"{filename!r} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
    ticket = get_ticket(tenant_id, ticket_id)
    # Only the last path part of a name; never a path the download could abuse.
    name = clean_filename(filename)
    row = TicketAttachment(
        tenant_id=tenant_id,
        ticket_id=ticket.id,
        comment_id=comment_id,
        filename=name,
        content_type=(content_type or "application/octet-stream")[:255],
        size=len(content),
        content=content,
    )
    db.session.add(row)
    return row


def assign(tenant_id: int, ticket_id: int, user_id: int | None) -> Ticket:
    ticket = get_ticket(tenant_id, ticket_id)
    ticket.assignee_id = _assignee(tenant_id, user_id)
    return ticket


def add_watcher(tenant_id: int, ticket_id: int, email: str, name: str = "") -> TicketWatcher | None:
    ticket = get_ticket(tenant_id, ticket_id)
    address = _address(email, "watcher")
    if any(w.email.lower() == address.lower() for w in ticket.watchers):
        return None
    watcher = TicketWatcher(tenant_id=tenant_id, email=address, name=(name or "").strip()[:200])
    ticket.watchers.append(watcher)
    return watcher


def remove_watcher(tenant_id: int, ticket_id: int, watcher_id: int) -> None:
    ticket = get_ticket(tenant_id, ticket_id)
    ticket.watchers[:] = [w for w in ticket.watchers if w.id != watcher_id]
