"""Workspaces: a workspace's own mailbox feeds it (real mails through
Dovecot), the default one catches the rest and tickets made elsewhere; the
admin manages them and tickets move between them."""

from __future__ import annotations

import pytest

from core.extensions import db
from plugins.inbound_mail.poller import poll_mailbox
from plugins.ticket import workspaces
from plugins.ticket.models import Ticket, Workspace
from plugins.ticket.service import create_ticket
from tests.helpers import csrf_token, login, make_tenant

from .support import mail, make_mailbox

WORKSPACES = "/tickets/workspaces"


@pytest.fixture
def acme(ctx):
    return make_tenant("acme", plugins=("ticket", "inbound_mail"))


def _post(client, url, page_url=WORKSPACES, **data):
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def _where(tenant_id: int) -> dict[str, str]:
    """Ticket title -> workspace name."""
    names = {w.id: w.name for w in db.session.execute(db.select(Workspace)).scalars()}
    return {
        t.title: names.get(t.workspace_id)
        for t in db.session.execute(db.select(Ticket).where(Ticket.tenant_id == tenant_id)).scalars()
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_workspaces_mailbox_feeds_it_and_the_default_catches_the_rest(acme, client, dovecot, mail_user, other_user):
    haus = make_mailbox(acme.id, dovecot, mail_user, "imap", name="Hausverwaltung")
    service = make_mailbox(acme.id, dovecot, other_user, "pop3", name="Service")
    haus_id, service_id, tenant_id = haus.id, service.id, acme.id
    login(client)
    assert _post(client, WORKSPACES, name="Technik", mailbox="Hausverwaltung").status_code == 302

    dovecot.deliver(mail_user, mail("Heizung kalt"))
    dovecot.deliver(other_user, mail("Rechnung falsch"))
    assert "1 handled" in poll_mailbox(haus_id)
    assert "1 handled" in poll_mailbox(service_id)
    create_ticket(
        tenant_id, title="Am Telefon", description="", reporter_name="Erika", reporter_email="erika@mieter.example"
    )
    db.session.commit()

    assert _where(tenant_id) == {"Heizung kalt": "Technik", "Rechnung falsch": "Allgemein", "Am Telefon": "Allgemein"}
    # The list filters by workspace.
    technik = db.session.execute(db.select(Workspace.id).where(Workspace.name == "Technik")).scalar_one()
    page = client.get(f"/tickets/?workspace={technik}").get_data(as_text=True)
    assert "Heizung kalt" in page and "Rechnung falsch" not in page and "Am Telefon" not in page


def test_the_admin_renames_sets_the_default_and_removes_workspaces(acme, client):
    tenant_id = acme.id
    login(client)
    _post(client, WORKSPACES, name="Technik", mailbox="")
    _post(client, WORKSPACES, name="Vermietung", mailbox="")
    ids = {w.name: w.id for w in db.session.execute(db.select(Workspace)).scalars()}
    assert set(ids) == {"Allgemein", "Technik", "Vermietung"}

    prefix = f"w{ids['Technik']}-"
    assert (
        _post(
            client,
            f"{WORKSPACES}/{ids['Technik']}/edit",
            **{f"{prefix}name": "Haustechnik", f"{prefix}mailbox": "Stoerungen"},
        ).status_code
        == 302
    )
    assert _post(client, f"{WORKSPACES}/{ids['Vermietung']}/default").status_code == 302
    create_ticket(tenant_id, title="Neu", description="", reporter_name="E", reporter_email="e@mieter.example")
    old = create_ticket(
        tenant_id,
        title="Alt",
        description="",
        reporter_name="E",
        reporter_email="e@mieter.example",
        workspace_id=ids["Technik"],
    )
    db.session.commit()
    assert _where(tenant_id) == {"Neu": "Vermietung", "Alt": "Haustechnik"}
    assert workspaces.for_mailbox(tenant_id, "Stoerungen").id == ids["Technik"]

    # Removing a workspace moves its tickets to the default; the default stays.
    assert _post(client, f"{WORKSPACES}/{ids['Technik']}/delete").status_code == 302
    assert _post(client, f"{WORKSPACES}/{ids['Vermietung']}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Ticket, old.id).workspace_id == ids["Vermietung"]
    assert {w.name for w in db.session.execute(db.select(Workspace)).scalars()} == {"Allgemein", "Vermietung"}
    assert "cannot be removed" in client.get(WORKSPACES).get_data(as_text=True)


def test_names_and_mailboxes_are_checked_where_they_are_entered(acme, client):
    login(client)
    _post(client, WORKSPACES, name="Technik", mailbox="Service")
    for data, words in (
        ({"name": "Technik", "mailbox": ""}, "another workspace is called"),
        ({"name": "Zweite", "mailbox": "Service"}, "already feeds the workspace"),
        ({"name": "", "mailbox": ""}, "This field is required"),
    ):
        response = _post(client, WORKSPACES, **data)
        assert response.status_code == 422 and words in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(Workspace)).scalar() == 2


def test_a_ticket_moves_between_workspaces_of_its_tenant_only(acme, client):
    tenant_id = acme.id
    other = make_tenant("other", plugins=("ticket",))
    foreign = workspaces.create(other.id, "Fremd")
    technik = workspaces.create(tenant_id, "Technik")
    ticket = create_ticket(
        tenant_id, title="Heizung", description="", reporter_name="E", reporter_email="e@mieter.example"
    )
    db.session.commit()
    ticket_id, technik_id, foreign_id = ticket.id, technik.id, foreign.id
    login(client)
    page_url = f"/tickets/{ticket_id}"
    assert _post(client, f"/tickets/{ticket_id}/workspace", page_url, workspace=str(technik_id)).status_code == 302
    assert _post(client, f"/tickets/{ticket_id}/workspace", page_url, workspace=str(foreign_id)).status_code == 404
    db.session.expire_all()
    assert db.session.get(Ticket, ticket_id).workspace_id == technik_id
    assert 'selected value="%d"' % technik_id in client.get(page_url).get_data(
        as_text=True
    ) or f'value="{technik_id}" selected' in client.get(page_url).get_data(as_text=True)


def test_only_admins_manage_workspaces(acme, client):
    from core.models import User

    user = User(tenant_id=acme.id, email="kollegin@acme.example", name="Kollegin", is_admin=False)
    user.set_password("kollegin-pass-1")
    db.session.add(user)
    db.session.commit()
    login(client, email="kollegin@acme.example", password="kollegin-pass-1")
    assert client.get(WORKSPACES).status_code in (302, 403)
    assert client.get("/tickets/").status_code == 200
