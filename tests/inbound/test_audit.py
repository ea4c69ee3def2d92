"""Changes to the inbound trust policy and to workspaces are in the audit log
(core.api.audit), with the changed fields in words: "field: old → new",
only the fields that changed, and who made the change."""

from __future__ import annotations

import html

import pytest

from core.extensions import db
from core.models import User
from plugins.ticket.models import Workspace
from plugins.ticket.service import create_ticket
from tests.helpers import csrf_token, login, make_tenant

AUDIT = "/settings/admin/mail/audit"
TRUST = "/settings/admin/inbound/trust"
WORKSPACES = "/tickets/workspaces"


@pytest.fixture
def acme(ctx):
    return make_tenant("acme", plugins=("ticket", "inbound_mail"))


def _post(client, url, page_url, **data):
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, **data})
    assert response.status_code == 302, response.get_data(as_text=True)


def _audit_rows(client) -> list[str]:
    """The audit page's rows, newest first, as plain text."""
    page = client.get(AUDIT).get_data(as_text=True)
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in body.split("<tr>")[1:]:
        text = " ".join(part.split(">", 1)[-1] for part in row.split("<"))
        rows.append(" ".join(html.unescape(text).split()))
    return rows


def _admin(acme) -> str:
    return db.session.execute(db.select(User.email).where(User.tenant_id == acme.id)).scalars().first()


def test_changing_the_trust_policy_is_in_the_audit_log(acme, client):
    login(client)
    _post(client, TRUST, TRUST, trusted_authserv_id="mx.acme.example", accept_unauthenticated="no")
    _post(client, TRUST, TRUST, trusted_authserv_id="mx.acme.example", accept_unauthenticated="yes")
    _post(client, TRUST, TRUST, trusted_authserv_id="mx.acme.example", accept_unauthenticated="yes")  # no change

    rows = [row for row in _audit_rows(client) if "Inbound trust policy saved" in row]
    assert len(rows) == 2, rows
    newest, first = rows
    assert "accept_unauthenticated: off → on" in newest and "trusted_authserv_id" not in newest
    assert "trusted_authserv_id: — → mx.acme.example" in first
    assert "accept_unauthenticated: installation → off" in first
    assert _admin(acme) in newest

    # In German, the plugin's kind comes from its own catalogue.
    page = client.get("/").get_data(as_text=True)
    client.post("/language", data={"csrf_token": csrf_token(page), "language": "de", "next": "/"})
    assert any("Vertrauensregeln des Posteingangs gespeichert" in row for row in _audit_rows(client))


def test_every_change_to_a_workspace_is_in_the_audit_log(acme, client):
    tenant_id = acme.id
    login(client)
    _post(client, WORKSPACES, WORKSPACES, name="Technik", mailbox="Service")
    ids = {w.name: w.id for w in db.session.execute(db.select(Workspace)).scalars()}
    technik = ids["Technik"]
    prefix = f"w{technik}-"
    _post(
        client,
        f"{WORKSPACES}/{technik}/edit",
        WORKSPACES,
        **{f"{prefix}name": "Haustechnik", f"{prefix}mailbox": "Service"},
    )
    _post(
        client,
        f"{WORKSPACES}/{technik}/edit",
        WORKSPACES,
        **{f"{prefix}name": "Haustechnik", f"{prefix}mailbox": "Stoerungen"},
    )
    ticket = create_ticket(
        tenant_id, title="Heizung", description="", reporter_name="E", reporter_email="e@mieter.example"
    )
    db.session.commit()
    ticket_id = ticket.id
    _post(client, f"/tickets/{ticket_id}/workspace", f"/tickets/{ticket_id}", workspace=str(technik))
    _post(client, f"{WORKSPACES}/{technik}/default", WORKSPACES)
    _post(client, f"{WORKSPACES}/{ids['Allgemein']}/delete", WORKSPACES)

    rows = _audit_rows(client)
    deleted, made_default, moved, mailbox, renamed, created = rows[:6]
    assert "Workspace created" in created and "name: — → Technik" in created and "mailbox: — → Service" in created
    assert "Workspace saved" in renamed and "name: Technik → Haustechnik" in renamed and "mailbox" not in renamed
    assert "mailbox: Service → Stoerungen" in mailbox and "name:" not in mailbox
    assert "Ticket moved" in moved and f"ticket {ticket_id}" in moved and "workspace: Allgemein → Haustechnik" in moved
    assert "default workspace: Allgemein → Haustechnik" in made_default
    assert "Workspace deleted" in deleted and "name: Allgemein → —" in deleted
    assert all(_admin(acme) in row for row in rows[:6])
