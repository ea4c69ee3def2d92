"""Workspaces: which team's list a ticket is on.

Every ticket is in exactly one workspace of its tenant. A workspace may name
one inbound mailbox; new tickets from that mailbox land there. The default
workspace (one per tenant, made on first use) takes the rest: mail from
mailboxes no workspace names, and tickets created on the web, by events or
by other plugins. Every change an admin makes (create, rename, mailbox,
default, delete, moving a ticket) writes its audit entry. Nothing here
commits; the caller does.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.api import audit, db, tenant_ref_by_id

from .models import Ticket, Workspace

#: The audit page's words for the kinds of object written here: it looks an
#: unknown kind up in the catalogues ("workspace" -> "Arbeitsbereich").
AUDIT_KINDS = (_l("workspace"), _l("ticket"))

#: The default workspace's name when a tenant gets its first one.
DEFAULT_NAMES = {"de": "Allgemein", "en": "General"}


class WorkspaceError(ValueError):
    """A change to the workspaces is refused; ``str()`` is meant for the user."""


class WorkspaceNotFound(LookupError):
    """No such workspace for this tenant (another tenant's id included)."""


def all_of(tenant_id: int) -> list[Workspace]:
    default(tenant_id)
    return (
        db.session.execute(
            db.select(Workspace)
            .where(Workspace.tenant_id == tenant_id)
            .order_by(Workspace.is_default.desc(), Workspace.name)
        )
        .scalars()
        .all()
    )


def get(tenant_id: int, workspace_id: int) -> Workspace:
    found = db.session.get(Workspace, workspace_id)
    if found is None or found.tenant_id != tenant_id:
        raise WorkspaceNotFound(workspace_id)
    return found


def default(tenant_id: int) -> Workspace:
    """The tenant's default workspace, made on first use."""
    found = db.session.execute(
        db.select(Workspace)
        .where(Workspace.tenant_id == tenant_id, Workspace.is_default)
        .order_by(Workspace.id)
        .limit(1)
    ).scalar()
    if found is None:
        language = tenant_ref_by_id(tenant_id).language
        found = Workspace(
            tenant_id=tenant_id,
            name=_free_name(tenant_id, DEFAULT_NAMES.get(language, "General")),
            mailbox="",
            is_default=True,
        )
        db.session.add(found)
        db.session.flush()
    return found


#: session.info key: for_mailbox's answers within one transaction.
_ANSWERS = "ticket.workspace_for_mailbox"


def for_mailbox(tenant_id: int, mailbox: str) -> Workspace:
    """Where a new ticket from the inbound mailbox named ``mailbox`` goes."""
    mailbox = (mailbox or "").strip()
    # The inbound poller takes a batch of mails in one transaction: the
    # answer is remembered until that transaction ends (a query per mail was
    # a sixth of the ticket plugin's time per mail).
    transaction = db.session().get_transaction()
    remembered = db.session.info.get(_ANSWERS)
    if remembered is None or remembered[0] is not transaction:
        remembered = db.session.info[_ANSWERS] = (transaction, {})
    known = remembered[1].get((tenant_id, mailbox))
    # Held here, it also stays in the session's identity map (which holds
    # rows weakly), so create_ticket's get() finds it without a query. Made
    # in a savepoint rolled back since, it is no longer in the session.
    if known is not None and known in db.session:
        return known
    found = _for_mailbox(tenant_id, mailbox)
    remembered[1][(tenant_id, mailbox)] = found
    return found


def _for_mailbox(tenant_id: int, mailbox: str) -> Workspace:
    # One query for both: the mailbox's workspace first, else the default one.
    found = db.session.execute(
        db.select(Workspace)
        .where(
            Workspace.tenant_id == tenant_id,
            db.or_(Workspace.mailbox == mailbox, Workspace.is_default) if mailbox else Workspace.is_default,
        )
        .order_by((Workspace.mailbox == mailbox).desc(), Workspace.id)
        .limit(1)
    ).scalar()
    return found if found is not None else default(tenant_id)


def _free_name(tenant_id: int, name: str) -> str:
    taken = set(db.session.execute(db.select(Workspace.name).where(Workspace.tenant_id == tenant_id)).scalars())
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} {n}", n + 1
    return candidate


def _check(tenant_id: int, name: str, mailbox: str, own_id: int | None) -> tuple[str, str]:
    name, mailbox = (name or "").strip(), (mailbox or "").strip()
    if not name:
        raise WorkspaceError("a workspace needs a name")
    if len(name) > 100 or len(mailbox) > 100:
        raise WorkspaceError("names have at most 100 characters")
    others = (
        db.session.execute(db.select(Workspace).where(Workspace.tenant_id == tenant_id, Workspace.id != (own_id or 0)))
        .scalars()
        .all()
    )
    if any(w.name == name for w in others):
        raise WorkspaceError(f"another workspace is called {name!r}")
    if mailbox:
        owner = next((w for w in others if w.mailbox == mailbox), None)
        if owner is not None:
            raise WorkspaceError(f"the mailbox {mailbox!r} already feeds the workspace {owner.name!r}")
    return name, mailbox


def _changed() -> None:
    """Forget for_mailbox's answers: a workspace changed in this transaction."""
    db.session.info.pop(_ANSWERS, None)


def create(tenant_id: int, name: str, mailbox: str = "") -> Workspace:
    _changed()
    default(tenant_id)
    name, mailbox = _check(tenant_id, name, mailbox, None)
    workspace = Workspace(tenant_id=tenant_id, name=name, mailbox=mailbox, is_default=False)
    db.session.add(workspace)
    db.session.flush()
    audit(
        tenant_id,
        "workspace.created",
        "workspace",
        workspace.id,
        changes={"name": ("", name), "mailbox": ("", mailbox)},
    )
    return workspace


def update(tenant_id: int, workspace_id: int, *, name: str, mailbox: str) -> Workspace:
    _changed()
    workspace = get(tenant_id, workspace_id)
    before = (workspace.name, workspace.mailbox)
    workspace.name, workspace.mailbox = _check(tenant_id, name, mailbox, workspace.id)
    if before != (workspace.name, workspace.mailbox):
        audit(
            tenant_id,
            "workspace.saved",
            "workspace",
            workspace.id,
            changes={"name": (before[0], workspace.name), "mailbox": (before[1], workspace.mailbox)},
        )
    return workspace


def make_default(tenant_id: int, workspace_id: int) -> Workspace:
    _changed()
    workspace = get(tenant_id, workspace_id)
    if workspace.is_default:
        return workspace
    previous = default(tenant_id)
    db.session.execute(
        db.update(Workspace)
        .where(Workspace.tenant_id == tenant_id, Workspace.id != workspace.id)
        .values(is_default=False)
    )
    workspace.is_default = True
    audit(
        tenant_id,
        "workspace.saved",
        "workspace",
        workspace.id,
        changes={"default workspace": (previous.name, workspace.name)},
    )
    return workspace


def delete(tenant_id: int, workspace_id: int) -> int:
    """Remove a workspace; its tickets move to the default one (returns how
    many). The default workspace cannot be removed."""
    _changed()
    workspace = get(tenant_id, workspace_id)
    if workspace.is_default:
        raise WorkspaceError("the default workspace cannot be removed; make another one the default first")
    target = default(tenant_id)
    moved = db.session.execute(
        db.update(Ticket)
        .where(Ticket.tenant_id == tenant_id, Ticket.workspace_id == workspace.id)
        .values(workspace_id=target.id)
    ).rowcount
    audit(
        tenant_id,
        "workspace.deleted",
        "workspace",
        workspace.id,
        changes={"name": (workspace.name, ""), "mailbox": (workspace.mailbox, "")},
        tickets_moved_to=f"{target.name} ({moved})",
    )
    db.session.delete(workspace)
    return moved


def move(tenant_id: int, ticket: Ticket, workspace_id: int) -> Workspace:
    """Put a ticket of the tenant into another of the tenant's workspaces."""
    workspace = get(tenant_id, workspace_id)
    if ticket.tenant_id != tenant_id:
        raise WorkspaceNotFound(workspace_id)
    if ticket.workspace_id != workspace.id:
        old = db.session.get(Workspace, ticket.workspace_id) if ticket.workspace_id else None
        audit(
            tenant_id,
            "ticket.moved",
            "ticket",
            ticket.id,
            changes={"workspace": (old.name if old is not None else "", workspace.name)},
        )
    ticket.workspace_id = workspace.id
    return workspace


def counts(tenant_id: int) -> dict[int, int]:
    rows = db.session.execute(
        db.select(Ticket.workspace_id, db.func.count())
        .where(Ticket.tenant_id == tenant_id)
        .group_by(Ticket.workspace_id)
    ).all()
    return {workspace_id: n for workspace_id, n in rows}
